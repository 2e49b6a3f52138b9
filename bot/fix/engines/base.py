"""The fix-engine protocol (prompt in, a proposed diff or an abstention out) and what every engine shares:
the answer's parsing, the token budget, usage. The engines import this; ``registry`` imports the engines."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.config import FixEngine, FixSettings
from bot.errors import BotError
from bot.fix.prompt import Prompt

ENGINES = tuple(e.value for e in FixEngine)  # the --engine choices
MAX_REASONING_CHARS = 4_000
CHARS_PER_TOKEN = 3.5  # a conservative estimate for C++ and English, used before a request is sent
MIN_OUTPUT_TOKENS = 1_024  # below this a diff cannot fit; abstain instead of paying for a cut-off answer


class EngineError(BotError):
    """An engine could not answer at all (bad key, endpoint down after retries, agent missing)."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class Patch:
    """A proposed fix: the diff text as the engine gave it (parse it with ``bot.fix.patch.Patch``)."""

    diff: str
    reasoning: str
    model: str
    usage: Usage


@dataclass(frozen=True)
class Abstain:
    """No fix proposed, and why."""

    reason: str
    model: str
    usage: Usage


Proposal = Patch | Abstain


@dataclass(frozen=True)
class EngineContext:
    """One request: the prompt, the checkout (for agents that edit files), which attempt this is, and
    the tokens earlier attempts for this issue already used (the ceiling is per issue)."""

    prompt: Prompt
    workdir: Path
    attempt: int = 1
    tokens_used: int = 0


class Engine(Protocol):
    name: str

    def propose(self, ctx: EngineContext) -> Proposal: ...


Sleep = Callable[[float], None]


# -- budget -------------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def output_allowance(settings: FixSettings, ctx: EngineContext) -> int | str:
    """How many output tokens this request may ask for, or the reason it must not be sent at all."""
    remaining = settings.max_tokens_per_issue - ctx.tokens_used
    needed_input = estimate_tokens(ctx.prompt.system) + estimate_tokens(ctx.prompt.user)
    allowance = min(settings.max_output_tokens, remaining - needed_input)
    if allowance < MIN_OUTPUT_TOKENS:
        return (
            f"token ceiling reached: {ctx.tokens_used} of fix.max_tokens_per_issue = "
            f"{settings.max_tokens_per_issue} used, and this request needs about {needed_input} more "
            f"input tokens plus room for an answer"
        )
    return allowance


# -- answers ------------------------------------------------------------------------------------------

_FENCE_RE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_ABSTAIN_RE = re.compile(r"^[\s>*_`#-]*ABSTAIN\s*:\s*(?P<reason>.*?)[*_`\s]*$", re.MULTILINE)
_DIFF_LINE_PREFIXES = (
    "diff ",
    "index ",
    "--- ",
    "+++ ",
    "@@",
    " ",
    "+",
    "-",
    "\\",
    "old mode",
    "new mode",
    "new file mode",
    "deleted file mode",
    "similarity index",
    "rename ",
    "copy ",
)


def looks_like_diff(text: str) -> bool:
    lines = text.splitlines()
    return any(line.startswith("diff --git ") for line in lines) or any(
        a.startswith("--- ") and b.startswith("+++ ") for a, b in itertools.pairwise(lines)
    )


def extract_diff(text: str) -> tuple[str | None, str]:
    """(the diff in ``text`` or None, the rest of the text): fenced diff blocks first, else raw diff lines
    starting at the first file header."""
    blocks = [m for m in _FENCE_RE.finditer(text) if looks_like_diff(m["body"])]
    if blocks:
        diff = "".join(m["body"] if m["body"].endswith("\n") else m["body"] + "\n" for m in blocks)
        rest = _FENCE_RE.sub(lambda m: "" if looks_like_diff(m["body"]) else m[0], text)
        return diff, rest.strip()
    lines = text.splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if line.startswith("diff --git ")
            or (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "))
        ),
        None,
    )
    if start is None:
        return None, text.strip()
    end = start
    while end < len(lines) and (not lines[end] or lines[end].startswith(_DIFF_LINE_PREFIXES)):
        end += 1
    diff = "\n".join(lines[start:end]).rstrip("\n") + "\n"
    rest = "\n".join(lines[:start] + lines[end:])
    return diff, rest.strip()


def parse_answer(text: str, *, model: str, usage: Usage, cut_off: bool = False) -> Proposal:
    """Turn an engine's text answer into a Patch or an Abstain (both present: abstain, to be safe). An
    answer the API ``cut_off`` at the output limit is an Abstain: its diff would be cut short too."""
    if cut_off:
        return Abstain(
            "the answer was cut off at the output token limit (raise fix.max_output_tokens)", model, usage
        )
    diff, rest = extract_diff(text)
    abstain = _ABSTAIN_RE.search(rest if diff else text)
    if abstain and diff:
        return Abstain(
            f"the answer contained both a diff and ABSTAIN ({abstain['reason'].strip() or 'no reason'}); "
            "treating it as an abstention",
            model,
            usage,
        )
    if abstain:
        return Abstain(abstain["reason"].strip() or "the engine abstained without a reason", model, usage)
    if diff:
        return Patch(diff=diff, reasoning=_tail(rest), model=model, usage=usage)
    return Abstain(
        "the engine answered with neither a unified diff nor ABSTAIN: " + _tail(text, 300).replace("\n", " "),
        model,
        usage,
    )


def _tail(text: str, limit: int = MAX_REASONING_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
