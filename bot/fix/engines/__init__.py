"""Fix engines: one protocol (prompt in, a proposed diff or an abstention out) and the registry that
builds the configured one (``anthropic``, ``openai``, ``command``, ``replay``, ``none``)."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, assert_never

import requests

from bot.config import FixEngine, FixSettings, secret
from bot.errors import BotError, ConfigError
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


def make_engine(
    settings: FixSettings,
    *,
    env: Mapping[str, str],
    sleep: Sleep = time.sleep,
    session: requests.Session | None = None,
) -> Engine:
    """The engine ``settings.engine`` names, configured from ``settings`` and keys read from ``env``."""
    name = settings.engine
    if name is FixEngine.NONE:
        from bot.fix.engines.none import NoneEngine

        return NoneEngine()
    if name is FixEngine.REPLAY:
        from bot.fix.engines.replay import ReplayEngine

        return ReplayEngine.from_settings(settings)
    if name is FixEngine.COMMAND:
        from bot.fix.engines.command import CommandEngine

        return CommandEngine.from_settings(settings, env=env)
    if not settings.model:
        example = (
            "claude-sonnet-4-5"
            if name is FixEngine.ANTHROPIC
            else "gpt-4.1 (or your Azure deployment / Ollama model)"
        )
        raise ConfigError(f"fix.model is empty: engine {name.value!r} needs a model name, e.g. {example}")
    key = secret(settings.api_key_env, env)
    http = session or requests.Session()
    if name is FixEngine.ANTHROPIC:
        from bot.fix.engines.anthropic import AnthropicEngine

        if key is None:
            raise ConfigError(_missing_key(settings, "anthropic"))
        return AnthropicEngine(settings, api_key=key, session=http, sleep=sleep)
    if name is FixEngine.OPENAI:
        from bot.fix.engines.openai import OpenAIEngine

        if key is None and not settings.base_url:
            raise ConfigError(
                _missing_key(settings, "openai") + " (only a local server via fix.base_url may go without)"
            )
        return OpenAIEngine(settings, api_key=key, session=http, sleep=sleep)
    assert_never(name)


def _missing_key(settings: FixSettings, name: str) -> str:
    if not settings.api_key_env:
        return f"engine {name!r} needs an API key: set fix.api_key_env to the name of the variable holding it"
    return f"engine {name!r} needs an API key: environment variable {settings.api_key_env!r} is not set"


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


def parse_answer(text: str, *, model: str, usage: Usage) -> Proposal:
    """Turn an engine's text answer into a Patch or an Abstain (both present: abstain, to be safe)."""
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
