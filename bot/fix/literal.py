"""C/C++ string literals as text a program prints: where they are in a source file (comments skipped,
adjacent literals joined), what they read as (escapes decoded), and whether a message a report quotes was
made from one (``printf``'s ``%u``, ``fmt``'s ``{}`` and macros such as ``SIZEFMTD`` standing for whatever
was formatted in).

Pure and linear: one pass over a file's text, literals read with ``str.find``, templates matched with
in-order substring search (no regular expression runs over a message or a literal's contents).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from bot.markdown import one_line

# Where a literal, a comment or a character constant may start.
_START = re.compile(r"""//|/\*|["']""")
# Between two literals: nothing, or a macro that expands to a format piece (``" has " SIZEFMTD " items"``).
_BETWEEN = re.compile(r"\s*(?:(?P<macro>[A-Z_][A-Z0-9_]*)\s*)?")
_RAW_DELIMITER = re.compile(r'R"([^()\\\s"]{0,16})\(')
_PRINTF = re.compile(
    r"%[-+ #0']*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|L|z|j|t|I64|I32|q)?[diouxXeEfFgGaAcspn]"
)
_BRACES = re.compile(r"\{[^{}]{0,24}\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
MACRO = "\x00"  # stands for a macro between joined literals: one more placeholder
MAX_LITERAL = 4096  # longer literals (embedded data, SQL) are read up to this much


@dataclass(frozen=True)
class Literal:
    """Adjacent string literals joined, as the program sees them: ``text`` decoded, ``offset`` of the
    first opening quote in the file, ``line`` (1-based) it is on."""

    text: str
    offset: int
    line: int


class Fit(IntEnum):
    """How a message fits a literal's template, best first."""

    WHOLE = 0  # the whole message is the literal with its placeholders filled in
    CONTAINS = 1  # the message holds the filled-in literal (a prefix or suffix was added around it)
    PART = 2  # the message is part of the literal (cut, or only one part of a longer text)


def literals(source: str) -> list[Literal]:
    """Every string literal of ``source`` outside comments, adjacent ones joined, in file order."""
    found: list[tuple[int, int, str]] = []  # (opening quote, after closing quote, decoded text)
    pos = 0
    n = len(source)
    while pos < n:
        m = _START.search(source, pos)
        if m is None:
            break
        opener, start = m.group(), m.start()
        if opener == "//":
            end = source.find("\n", start)
            pos = n if end < 0 else end
        elif opener == "/*":
            end = source.find("*/", start + 2)
            pos = n if end < 0 else end + 2
        elif opener == "'":
            pos = _skip_char(source, start)
        elif start > 0 and source[start - 1] == "R":
            pos, text = _raw(source, start - 1)
            found.append((start, pos, text))
        else:
            pos, text = _quoted(source, start)
            found.append((start, pos, text))
    return _joined(source, found)


def _skip_char(source: str, start: int) -> int:
    """Past a character constant; a digit separator (``1'000``) is one character."""
    if start > 0 and source[start - 1].isalnum():
        return start + 1
    end = start + 1
    while end < len(source) and source[end] not in "'\n":
        end += 2 if source[end] == "\\" else 1
    return end + 1


def _quoted(source: str, start: int) -> tuple[int, str]:
    """A ``"…"`` literal at ``start``: (index after it, decoded text). An unterminated one ends its line."""
    out: list[str] = []
    k = start + 1
    n = len(source)
    while k < n:
        c = source[k]
        if c == '"':
            return k + 1, "".join(out)[:MAX_LITERAL]
        if c == "\n":
            return k, "".join(out)[:MAX_LITERAL]
        if c == "\\" and k + 1 < n:
            nxt = source[k + 1]
            if nxt == "\n":  # a line continuation inside the literal
                k += 2
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            k += 2
            continue
        out.append(c)
        k += 1
    return n, "".join(out)[:MAX_LITERAL]


def _raw(source: str, r_at: int) -> tuple[int, str]:
    m = _RAW_DELIMITER.match(source, r_at)
    if m is None:
        return _quoted(source, r_at + 1)
    close = ")" + m[1] + '"'
    end = source.find(close, m.end())
    if end < 0:
        return len(source), source[m.end() : m.end() + MAX_LITERAL]
    return end + len(close), source[m.end() : end][:MAX_LITERAL]


def _joined(source: str, found: Sequence[tuple[int, int, str]]) -> list[Literal]:
    out: list[Literal] = []
    line = 1
    counted = 0  # newlines are counted once, up to each literal's start
    k = 0
    while k < len(found):
        start, end, text = found[k]
        parts = [text]
        while k + 1 < len(found):
            between = _BETWEEN.fullmatch(source, end, found[k + 1][0])
            if between is None:
                break
            if between["macro"]:
                parts.append(MACRO)
            k += 1
            end = found[k][1]
            parts.append(found[k][2])
        line += source.count("\n", counted, start)
        counted = start
        out.append(Literal("".join(parts)[:MAX_LITERAL], start, line))
        k += 1
    return out


def template(text: str) -> tuple[str, ...]:
    """The fixed pieces of a literal read as a format string, around its placeholders (``%u``, ``%s``,
    ``{}``, ``{:.2f}``, a joined macro): ``"id %u of %s"`` -> ``("id ", " of ", "")``."""
    pieces: list[str] = []
    current: list[str] = []
    k = 0
    n = len(text)
    while k < n:
        c = text[k]
        if c == MACRO:
            pieces.append("".join(current))
            current = []
            k += 1
            continue
        if c == "%":
            if text.startswith("%%", k):
                current.append("%")
                k += 2
                continue
            m = _PRINTF.match(text, k)
            if m:
                pieces.append("".join(current))
                current = []
                k = m.end()
                continue
        if c in "{}":
            if text.startswith(c * 2, k):
                current.append(c)
                k += 2
                continue
            m = _BRACES.match(text, k) if c == "{" else None
            if m:
                pieces.append("".join(current))
                current = []
                k = m.end()
                continue
        current.append(c)
        k += 1
    pieces.append("".join(current))
    return tuple(pieces)


def fit(message: str, pieces: Sequence[str], message_pieces: Sequence[str]) -> Fit | None:
    """How ``message`` fits a literal's template ``pieces``; ``message_pieces`` are the message's own
    fixed fragments (:func:`bot.fix.message.fragments`), for when the message is only part of the
    literal. None when it does not fit."""
    squeezed = [one_line(p) if p.strip() else p.strip() for p in pieces]
    text = one_line(message)
    if _globs(squeezed, text, anchored=True):
        return Fit.WHOLE
    if sum(len(p) for p in squeezed) and _globs(squeezed, text, anchored=False):
        return Fit.CONTAINS
    fixed = one_line(" ".join(pieces))
    if message_pieces and _in_order([one_line(p) for p in message_pieces], fixed):
        return Fit.PART
    return None


def _globs(pieces: Sequence[str], text: str, *, anchored: bool) -> bool:
    """Whether ``text`` is (anchored) or holds (not anchored) ``pieces`` with anything between them:
    leftmost-first search, which cannot miss a match when the only wildcard is "anything"."""
    if not anchored:
        return _in_order([p for p in pieces if p], text)
    first, last = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return text == first
    if not text.startswith(first) or not text.endswith(last) or len(first) + len(last) > len(text):
        return False
    middle = text[len(first) : len(text) - len(last)]
    return _in_order([p for p in pieces[1:-1] if p], middle)


def _in_order(pieces: Sequence[str], text: str) -> bool:
    pos = 0
    for piece in pieces:
        found = text.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
