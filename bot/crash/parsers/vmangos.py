"""Parser for vMaNGOS's own crash log: a timestamped assertion line, then the backtrace it prints itself.

vMaNGOS (and the MaNGOS family's ``MANGOS_ASSERT``) logs ``<file>:<line>: Error: Assertion in <function>
failed: <condition>`` and then a stack, one frame per line, only the first line stamped::

    2023-12-19 20:28:09 /wow/core/src/game/Objects/Object.cpp:2242: Error: Assertion in GetMap failed: …
    2023-12-19 20:28:09 ./server/bin/mangosd(_ZN11ChatHandler14ExecuteCommandEPKc+0x3dc) [0x5650ff22637c]
    ./server/bin/mangosd(+0x40e800) [0x5650ff226800]

On Linux the frames are glibc's ``backtrace_symbols`` (``module(symbol+0xOFF) [0xADDR]``, mangled); on
Windows vMaNGOS prints ``Item::WakeUp()+0x5a8 [0x2b74b8]``, or bare ``[0xbbf0d8]`` without a ``.pdb``.
Real samples: tests/fixtures/samples/SOURCES.md (vmangos/core issues 143, 145, 226, 2272, 2359).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.crash.errors import CrashParseError
from bot.crash.frames import new_frame
from bot.crash.location import bare_function, basename
from bot.crash.model import Assertion, Build, CrashReport, Environment, Format, Frame, Thread
from bot.crash.parsers.gdb import find_build
from bot.crash.parsers.reader import Cursor, ReportBuilder

SNIFF_LINES = 2000
MAX_LINE = 4096

_STAMP = re.compile(r"^\s*(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2})\s+")
_ASSERT = re.compile(
    r"(?P<file>\S(?:.*?\S)?):(?P<line>\d+):\s*Error:\s*"
    r"Assertion in (?P<function>\S.*?) failed:\s*(?P<cond>.*?)\s*$"
)
# glibc backtrace_symbols: ``module(symbol+0xOFF) [0xADDR]`` or ``module(+0xOFF) [0xADDR]``
_GLIBC_FRAME = re.compile(
    r"^(?P<module>[^\s()\[\]][^()\[\]]*?)\((?P<symbol>[^()+]*)(?:\+(?P<offset>0x[0-9a-fA-F]+))?\)\s*"
    r"\[(?P<address>0x[0-9a-fA-F]+)\]\s*$"
)
# vMaNGOS on Windows: ``Function()+0xOFF [0xADDR]``, or only ``[0xADDR]``
_WINDOWS_FRAME = re.compile(
    r"^(?:(?P<function>\S.*?)\+(?P<offset>0x[0-9a-fA-F]+)\s+)?\[(?P<address>0x[0-9a-fA-F]+)\]\s*$"
)
_CATCH = re.compile(r"^CATCH Exception '(?P<what>[^']*)'")


def _text(raw: str) -> tuple[str | None, str]:
    line = raw[:MAX_LINE]
    stamp = _STAMP.match(line)
    if stamp:
        return stamp["stamp"], line[stamp.end() :].strip()
    return None, line.strip()


def _frame(text: str) -> Frame | None:
    glibc = _GLIBC_FRAME.match(text)
    if glibc:
        symbol = glibc["symbol"].strip()
        return new_frame(
            function=bare_function(symbol) if symbol else None,
            module=basename(glibc["module"]),
            file=None,
            line=None,
            offset=glibc["offset"].lower() if glibc["offset"] else None,
            address=glibc["address"].lower(),
            inline=False,
            raw=text,
        )
    windows = _WINDOWS_FRAME.match(text)
    if windows:
        function = windows["function"]
        return new_frame(
            function=bare_function(function) if function else None,
            module=None,
            file=None,
            line=None,
            offset=windows["offset"].lower() if windows["offset"] else None,
            address=windows["address"].lower(),
            inline=False,
            raw=text,
        )
    return None


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are a vMaNGOS assertion log; sure only with frames after the line."""
    asserted = False
    frames = 0
    for raw in lines[:SNIFF_LINES]:
        _, text = _text(raw)
        if not asserted:
            asserted = "Assertion in" in text and _ASSERT.search(text) is not None
        elif text and _frame(text) is not None:
            frames += 1
            if frames >= 2:
                return 95
    return 60 if asserted and frames else (40 if asserted else 0)


class _Reader:
    """One pass: the first assertion line, then the backtrace printed after it."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.VMANGOS_LOG)
        self.assertion: Assertion | None = None
        self.crashed_at: str | None = None
        self.frames: list[Frame] = []

    def read(self) -> None:
        for raw in self.cursor:
            stamp, text = _text(raw)
            if self.assertion is None:
                self._assertion(text, stamp)
            elif not self._backtrace(text):
                return

    def _assertion(self, text: str, stamp: str | None) -> None:
        found = _ASSERT.search(text) if "Assertion in" in text else None
        if found:
            self.assertion = Assertion(
                condition=found["cond"] or None,
                file=found["file"],
                line=int(found["line"]),
                function=found["function"],
            )
            self.crashed_at = stamp

    def _backtrace(self, text: str) -> bool:
        """Take one line after the assertion; False once the backtrace has ended."""
        if not text:
            return not self.frames
        frame = _frame(text)
        if frame is None:
            return not (self.frames or _CATCH.match(text))
        if self.out.budget.admits(len(self.frames)):
            self.frames.append(frame)
        return True

    def finish(self) -> CrashReport:
        if self.assertion is None:
            raise CrashParseError(
                "no vMaNGOS assertion line found: expected '<file>:<line>: Error: Assertion in <function> "
                "failed: <condition>'"
            )
        out = self.out
        if not self.frames:
            out.note("no backtrace after the assertion line (vMaNGOS prints one only when it can)")
        out.note_budget()
        if self.frames:
            out.threads.append(Thread(frames=tuple(self.frames), current=True))
            out.crashing_thread = 0
        out.assertion = self.assertion
        out.build = find_build(self.cursor.lines) or Build()
        out.environment = Environment(crashed_at=self.crashed_at)
        return out.report()


def parse(lines: Sequence[str]) -> CrashReport:
    """Read the first assertion and the backtrace after it; CrashParseError when there is no assertion."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()
