"""The promise every format parser keeps on any input, for the parsers' hostile-input tests."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Protocol

from bot.crash.errors import CrashParseError
from bot.crash.model import CrashReport


class FormatParser(Protocol):
    """A parser module's two entry points (``bot.crash.parsers.<format>``)."""

    def sniff(self, lines: Sequence[str]) -> int: ...

    def parse(self, lines: Sequence[str]) -> CrashReport: ...


def assert_reads_or_refuses(parser: FormatParser, lines: Sequence[str]) -> None:
    """``lines`` get a sniff score in 0..100, and parsing them gives a report or CrashParseError, nothing
    else (no other exception, no hang: the suite's timeout turns catastrophic backtracking into a failure)."""
    assert 0 <= parser.sniff(lines) <= 100
    with contextlib.suppress(CrashParseError):
        parser.parse(lines)
