"""Parser for the console lines a server prints when a C++ exception escapes: the runtime's terminate
message (:mod:`bot.crash.terminate`), with the shell's ``Aborted (core dumped)`` and whatever the server
logged before it. A crash with the exception's type and message but no stack frames.

A gdb log or a Wheaty report that quotes these lines is read by its own parser (which keeps the frames and
carries the exception too): this parser's confidence stays below theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.crash.errors import CrashParseError
from bot.crash.model import Build, CrashReport, Format
from bot.crash.parsers.gdb import find_build
from bot.crash.parsers.reader import Cursor, ReportBuilder
from bot.crash.terminate import MAX_LINE, find_terminate

# Recognised, but less sure than any parser that reads frames (gdb's one-frame score is 55) and surer than
# a lone ``Caught signal 6`` the console-assert parser would read (35): TrinityCore's SIGABRT handler
# prints that line right after the terminate message.
SCORE = 50
# The server's last words before the terminate message, kept for the reader (and the message lead).
LAST_OUTPUT_KEY = "last_output"
_LAST_OUTPUT_CHARS = 300
_LOOKBACK = 20


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are a terminate message; reads every line (cheaply: a console log
    ends with it, after any number of lines)."""
    return SCORE if find_terminate(lines) is not None else 0


def parse(lines: Sequence[str]) -> CrashReport:
    """Read the terminate message; CrashParseError when the text holds none."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()


class _Reader:
    """One section: the terminate message, wherever it is, and the console lines before it."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.UNCAUGHT)

    def read(self) -> None:
        lines = self.cursor.lines
        found = find_terminate(lines)
        if found is None:
            raise CrashParseError(
                "no C++ terminate message ('terminate called after throwing an instance of …' or "
                "'libc++abi: terminating …') found; pass the server's console output around the crash"
            )
        self.out.exception = found.exception()
        self.out.build = find_build(lines[: found.start]) or Build()
        last = _last_output(lines, found.start)
        if last:
            self.out.extra[LAST_OUTPUT_KEY] = last

    def finish(self) -> CrashReport:
        self.out.note("no stack frames: the runtime's terminate message only")
        return self.out.report()


def _last_output(lines: Sequence[str], start: int) -> str | None:
    for raw in reversed(lines[max(0, start - _LOOKBACK) : start]):
        text = " ".join(raw[:MAX_LINE].split())
        if text:
            return text[:_LAST_OUTPUT_CHARS]
    return None
