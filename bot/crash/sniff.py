"""Format sniffing: ask every parser how sure it is that the text is its format, and pick the surest."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from bot.crash.errors import CrashParseError
from bot.crash.model import TEXT_FORMATS, CrashReport, Format

logger = logging.getLogger(__name__)

# Below this a parser's score is a hunch, not recognition (parsers score 0..100).
THRESHOLD = 25
CERTAIN = 100

# Module per format, in tie-break order: when two parsers are equally sure, the richer format wins (a Wheaty
# report quotes an assertion block and a cdb log quotes stack lines, not the other way round).
PARSER_MODULES: tuple[tuple[Format, str], ...] = (
    (Format.WHEATY, "bot.crash.parsers.wheaty"),
    (Format.CDB, "bot.crash.parsers.cdb"),
    # DebugDiag's stacks are cdb-style call sites; its verdict sentence and thread headers are its own
    (Format.DEBUGDIAG, "bot.crash.parsers.debugdiag"),
    # Windows' own fault records: one frame each, so any richer format quoting one wins a tie
    (Format.WINDOWS_EVENT, "bot.crash.parsers.windowsevent"),
    (Format.WER, "bot.crash.parsers.wer"),
    # before gdb: a sanitizer's ``#N 0x… in F file:line`` frames look like gdb's, its header cannot
    (Format.SANITIZER, "bot.crash.parsers.sanitizer"),
    (Format.GDB, "bot.crash.parsers.gdb"),
    (Format.VS_CALLSTACK, "bot.crash.parsers.vscallstack"),
    (Format.VMANGOS_LOG, "bot.crash.parsers.vmangos"),
    (Format.ASSERT_LOG, "bot.crash.parsers.assertlog"),
    # the poorest: an exception's type and message, no frames (a gdb log quoting them keeps its frames)
    (Format.UNCAUGHT, "bot.crash.parsers.uncaught"),
)

# How many leading non-blank lines an "unrecognised" message quotes from.
_PREVIEW_CHARS = 60


@dataclass(frozen=True)
class Parser:
    """One format's entry points."""

    format: Format
    sniff: Callable[[Sequence[str]], int]
    parse: Callable[[Sequence[str]], CrashReport]


def _load(fmt: Format, module_name: str) -> Parser | None:
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        # Only a missing parser module is tolerated (a partial install); a broken import inside it is a bug.
        if e.name != module_name:
            raise
        logger.debug("no parser module %s", module_name)
        return None
    return Parser(format=fmt, sniff=module.sniff, parse=module.parse)


_PARSERS: tuple[Parser, ...] | None = None


def parsers() -> tuple[Parser, ...]:
    """Every available parser in tie-break order (imported once)."""
    global _PARSERS  # noqa: PLW0603 - a load-once cache of immutable values
    if _PARSERS is None:
        loaded = (_load(fmt, name) for fmt, name in PARSER_MODULES)
        _PARSERS = tuple(p for p in loaded if p is not None)
    return _PARSERS


def parser_for(fmt: Format) -> Parser:
    """The parser of ``fmt``; CrashParseError when it is not available."""
    for parser in parsers():
        if parser.format is fmt:
            return parser
    raise CrashParseError(f"no parser for format {fmt.value!r} is installed (reinstall crashbot)")


def _describe(lines: Sequence[str]) -> str:
    """A short description of unrecognised input, for the one-line error."""
    non_blank = [line.strip() for line in lines[:200] if line.strip()]
    if not non_blank:
        return "it is empty or blank"
    first = non_blank[0]
    if len(first) > _PREVIEW_CHARS:
        first = first[:_PREVIEW_CHARS] + "…"
    printable = sum(ch.isprintable() for line in non_blank[:50] for ch in line)
    total = sum(len(line) for line in non_blank[:50]) or 1
    if printable / total < 0.9 or "\ufffd" in first:
        return f"{len(lines)} lines of mostly binary or undecodable data"
    return f"{len(lines)} lines, starting {first!r}"


def scores(lines: Sequence[str], candidates: Sequence[Parser] | None = None) -> list[tuple[int, Parser]]:
    """Parsers' confidence in ``lines``, best first (ties in candidate order, default
    :data:`PARSER_MODULES` order). Parsers after one that is :data:`CERTAIN` are not asked."""
    ranked: list[tuple[int, int, Parser]] = []
    for order, parser in enumerate(parsers() if candidates is None else candidates):
        score = max(0, min(100, int(parser.sniff(lines))))
        ranked.append((score, order, parser))
        if score == CERTAIN:
            # No later parser can beat it (ties go to the earlier one), and each sniff scans the input:
            # stopping here is what makes a typical Wheaty report cheap to read.
            break
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [(score, parser) for score, _, parser in ranked]


def sniff(lines: Sequence[str], candidates: Sequence[Parser] | None = None) -> Parser:
    """The parser surest of ``lines``; CrashParseError when none reaches :data:`THRESHOLD`."""
    ranked = scores(lines, candidates)
    if ranked and ranked[0][0] >= THRESHOLD:
        score, best = ranked[0]
        logger.debug("sniffed %s (score %d)", best.format.value, score)
        return best
    formats = ", ".join(f.value for f in TEXT_FORMATS)
    raise CrashParseError(
        f"not a crash report crashbot recognises ({_describe(lines)}); "
        f"expected one of: {formats} (force one with --format)"
    )
