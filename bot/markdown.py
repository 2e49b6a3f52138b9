"""Untrusted text into GitHub Markdown it cannot escape from: code spans, fenced blocks, table cells.

Crash reports, compiler output, commit subjects and engine answers all end up in issue and PR bodies.
None of it may close the construct it sits in, open an HTML comment (crashbot's own machine payloads
live in HTML comments), ping a user or link an issue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ZWSP = "\u200b"

_BACKTICKS_RE = re.compile(r"`+")
_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>|~&!])")
_MENTION_RE = re.compile(r"@(?=[\w-])")
_REF_RE = re.compile(r"#(?=\d)")


def defuse_comments(text: str) -> str:
    """Text that can never open or close an HTML comment."""
    return text.replace("<!--", "<!" + ZWSP + "--").replace("-->", "--" + ZWSP + ">")


def defuse(text: str) -> str:
    """No ``@user`` mention, ``#123`` reference or HTML comment survives GitHub's renderer."""
    return defuse_comments(_REF_RE.sub("#" + ZWSP, _MENTION_RE.sub("@" + ZWSP, text)))


def one_line(text: str) -> str:
    return " ".join(text.split())


def inline_code(text: str, *, table: bool = False) -> str:
    """``text`` as one inline code span that nothing inside can close.

    GitHub renders code spans literally (no mentions, no links, no HTML), so only the fence matters; in a
    table cell a pipe must be escaped even inside code, and only there: elsewhere ``\\|`` shows as is.
    """
    body = one_line(text)
    if table:
        body = body.replace("|", "\\|")
    if not body:
        return "` `"
    longest = max((len(m) for m in _BACKTICKS_RE.findall(body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if longest or body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def fenced(text: str, lang: str = "text", *, defuse_mentions: bool = False) -> str:
    """``text`` as a fenced code block no line of it can close and with no HTML comment marker inside.

    GitHub links no mention inside a code block, so the text stays as it was; ``defuse_mentions`` breaks
    them anyway for text that may be re-quoted out of its block (a reply quoting a bot comment).
    """
    text = text.replace("\r\n", "\n")
    body = (defuse(text) if defuse_mentions else defuse_comments(text)).strip("\n")
    longest = max((len(m) for m in _BACKTICKS_RE.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def cell(text: str) -> str:
    """Plain text safe in one table cell or list item: one line, no pipes, no HTML, no mentions."""
    return defuse(one_line(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;"))


def escaped(text: str) -> str:
    """Untrusted text as inline Markdown with every special character escaped (safe in a table cell)."""
    return defuse(_MD_SPECIAL_RE.sub(r"\\\1", one_line(text)))


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int]) -> str:
    """One block character per value, scaled to the largest (zero is the lowest block, so a quiet day
    still shows as a day); empty for no values."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK_BLOCKS[0] * len(values)
    steps = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[0 if v <= 0 else max(1, round(v * steps / top))] for v in values)
