"""Parser for vMaNGOS's own crash log: a timestamped assertion line, then the backtrace it prints itself.

vMaNGOS (and the MaNGOS family's ``MANGOS_ASSERT``) logs ``<file>:<line>: Error: Assertion in <function>
failed: <condition>`` and then a stack, one frame per line, only the first line stamped::

    2023-12-19 20:28:09 /wow/core/src/game/Objects/Object.cpp:2242: Error: Assertion in GetMap failed: …
    2023-12-19 20:28:09 ./server/bin/mangosd(_ZN11ChatHandler14ExecuteCommandEPKc+0x3dc) [0x5650ff22637c]
    ./server/bin/mangosd(+0x40e800) [0x5650ff226800]

On Linux the frames are glibc's ``backtrace_symbols`` (``module(symbol+0xOFF) [0xADDR]``, mangled); on
Windows vMaNGOS prints ``Item::WakeUp()+0x5a8 [0x2b74b8]``, or bare ``[0xbbf0d8]`` without a ``.pdb``.

The same backtrace is a report without the assertion line too (:func:`find_backtrace`): vMaNGOS prints
it under an error line (``[Crash/Auras] Deleting aura 6219 in use (…)``, kept as the server's last words),
and a signal handler prints the glibc form under ``Received SIGSEGV`` (the exception), with the shell's
``Segmentation fault`` after it. A glibc block needs that signal line or nothing above it: under any other
line it is the tail of something another parser reads (a console assertion). Either needs two named frames
in a row: one line naming a function is a mention.
Real samples: tests/fixtures/samples/SOURCES.md (vmangos/core issues 98, 143, 145, 153, 226, 2272, 2359).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.crash import signals
from bot.crash.errors import CrashParseError
from bot.crash.frames import new_frame
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.location import bare_function, basename
from bot.crash.model import Assertion, Build, CrashReport, Environment, ExceptionInfo, Format, Frame, Thread
from bot.crash.parsers.assertlog import CUT_LINE_NOTE, cut_glibc_frame
from bot.crash.parsers.gdb import find_build
from bot.crash.parsers.reader import Cursor, ReportBuilder, blank_from
from bot.crash.parsers.uncaught import LAST_OUTPUT_KEY

SNIFF_LINES = 2000
MAX_LINE = 4096

_STAMP = re.compile(r"^\s*(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2})\s+")
# ``:<line>: Error: Assertion in `` between the file and the function; the rest is read by _assertion_in
# around it (one pattern for the whole line, its file and function lazy, rescanned the line from every
# start and every such anchor: 3 s for a 4 KB line of them, and sniffing reads 2,000 lines).
_ASSERT_ANCHOR = re.compile(r":(?P<line>\d+):\s*Error:\s*Assertion in (?=\S)")
_FAILED = " failed:"
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
# The Windows line cut short where the text ends: ``Unit::Update()+0xdd [0xa90`` (the function is whole).
_WINDOWS_SITE = re.compile(r"(?P<function>[^\s\[\]][^\[\]]*?)\+(?P<offset>0x[0-9a-fA-F]{1,16})")
_CUT_ADDRESS = re.compile(r"(?:0x?)?[0-9a-fA-F]{0,16}")
# A signal handler's or the shell's line: ``Received SIGSEGV``, ``Error: signal 11:``, ``Segmentation fault``.
_SIGNAL_LINE = re.compile(
    r"(?:(?:Error|Fatal|FATAL|ERROR):\s*)?(?:(?:Received|received|Caught|caught|Got|got)\s+)?"
    r"(?:(?P<name>SIG[A-Z]{3,6})|[Ss]ignal\s+(?P<number>\d{1,2}))\b"
)
_SEGFAULT = re.compile(r"(?:\S+:\s+line\s+\d+:\s+\d+\s+)?Segmentation\s+fault\b")
# Two named frames in a row make a backtrace (one is a function named in a sentence).
MIN_NAMED = 2
_LAST_OUTPUT_CHARS = 300


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
    """How sure (0..100) that ``lines`` are a vMaNGOS assertion log; sure only with frames after the line.
    A backtrace without the assertion line (:func:`find_backtrace`) is less sure: 60 under a signal line,
    50 otherwise (below a console assertion's 70, which reads the same frames under its own block)."""
    asserted = False
    frames = 0
    for raw in lines[:SNIFF_LINES]:
        _, text = _text(raw)
        if not asserted:
            asserted = "Assertion in" in text and _assertion_in(text) is not None
        elif text and _frame(text) is not None:
            frames += 1
            if frames >= 2:
                return 95
    if asserted:
        return 60 if frames else 40
    block = find_backtrace(lines[:SNIFF_LINES])
    if block is None:
        return 0
    return 60 if block.signal is not None else 50


def _assertion_in(text: str) -> Assertion | None:
    """The assertion of a ``<file>:<line>: Error: Assertion in <function> failed: <condition>`` line, read
    as the pattern it replaces did: the file from the first non-space to the first anchor it can end before
    (a one-character file last: that pattern preferred a longer one), the function up to the first
    `` failed:`` after it; None when the line holds none. Linear: each anchor is looked at once."""
    start = len(text) - len(text.lstrip())
    one_character: re.Match[str] | None = None
    for anchor in _ASSERT_ANCHOR.finditer(text, start + 1):
        if anchor.start() == start + 1:
            one_character = anchor
        elif not text[anchor.start() - 1].isspace():  # the file ends with a non-space
            found = _assertion_after(text, start, anchor)
            if found is not None:
                return found
            break  # no `` failed:`` after this anchor, nor after any later one
    return _assertion_after(text, start, one_character) if one_character else None


def _assertion_after(text: str, start: int, anchor: re.Match[str]) -> Assertion | None:
    failed = text.find(_FAILED, anchor.end() + 1)
    if failed < 0:
        return None
    return Assertion(
        condition=text[failed + len(_FAILED) :].strip() or None,
        file=text[start : anchor.start()],
        line=int(anchor["line"]),
        function=text[anchor.end() : failed],
    )


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
        found = _assertion_in(text) if "Assertion in" in text else None
        if found:
            self.assertion = found
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
            return self._backtrace_only()
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

    def _backtrace_only(self) -> CrashReport:
        """No assertion line: the first backtrace block :func:`find_backtrace` accepts is the report."""
        lines = self.cursor.lines
        block = find_backtrace(lines)
        if block is None:
            raise CrashParseError(
                "no vMaNGOS assertion line ('<file>:<line>: Error: Assertion in <function> failed: "
                "<condition>') and no backtrace of two or more named frames ('Function()+0x… [0x…]', "
                "or './mangosd(symbol+0x…) [0x…]' under a signal line) found"
            )
        out = self.out
        budget = out.budget
        budget.dropped += block.dropped
        frames: list[Frame] = []
        for frame in block.frames:
            if budget.admits(len(frames)):
                frames.append(frame)
        out.threads.append(Thread(frames=tuple(frames), current=True, section="backtrace"))
        out.crashing_thread = 0
        if block.signal is not None:
            out.exception = ExceptionInfo(code=block.signal, name=signals.DESCRIPTIONS.get(block.signal))
        if block.before is not None and block.signal is None:
            out.extra[LAST_OUTPUT_KEY] = block.before[:_LAST_OUTPUT_CHARS]
            out.note(f"logged before the backtrace: {block.before[:_LAST_OUTPUT_CHARS]}")
        if block.cut:
            out.note(CUT_LINE_NOTE)
        out.note_budget()
        out.build = find_build(lines[: block.start]) or Build()
        out.environment = Environment(crashed_at=block.stamp)
        return out.report()


@dataclass(frozen=True)
class Backtrace:
    """A backtrace block without an assertion line: its frames (innermost first), where it starts, the
    line logged above it (``before``), the signal it names (above it, else the first line under it),
    the first frame's time stamp, and whether its last line was cut where the text ends."""

    frames: tuple[Frame, ...]
    start: int
    before: str | None
    signal: str | None
    stamp: str | None
    cut: bool
    dropped: int = 0  # frames past MAX_THREAD_FRAMES, counted only


def find_backtrace(lines: Sequence[str]) -> Backtrace | None:
    """The first run of frame lines (blank lines inside it allowed) holding :data:`MIN_NAMED` named
    frames and standing where a report would: a Windows-form run under any line or none, a glibc run
    under a signal line or none. One pass; bounded per line (:data:`MAX_LINE`)."""
    run = _Run(0, None, None)
    before: str | None = None
    for index, raw in enumerate(lines):
        stamp, text = _text(raw)
        if not text:
            continue
        frame = _frame(text) or (_cut_frame(text) if blank_from(lines, index + 1) else None)
        if frame is not None:
            if not run.frames:
                run = _Run(index, before, stamp)
            run.add(frame, cut=frame.address is None)  # only a cut line has no address
            continue
        if run.accepted():
            return run.backtrace(_signal(text))
        run = _Run(index, None, None)
        before = text
    return run.backtrace(None) if run.accepted() else None


class _Run:
    """Frame lines in a row while :func:`find_backtrace` reads them."""

    def __init__(self, start: int, before: str | None, stamp: str | None) -> None:
        self.start = start
        self.before = before
        self.stamp = stamp
        self.frames: list[Frame] = []
        self.named = 0
        self.glibc = False
        self.cut = False
        self.dropped = 0

    def add(self, frame: Frame, *, cut: bool) -> None:
        self.named += frame.function is not None or frame.module is not None
        self.glibc = self.glibc or frame.module is not None
        self.cut = cut
        if len(self.frames) < MAX_THREAD_FRAMES:
            self.frames.append(frame)
        else:
            self.dropped += 1

    def accepted(self) -> bool:
        if self.named < MIN_NAMED:
            return False
        return not self.glibc or self.before is None or _signal(self.before) is not None

    def backtrace(self, after: str | None) -> Backtrace:
        above = _signal(self.before) if self.before is not None else None
        return Backtrace(
            frames=tuple(self.frames),
            start=self.start,
            before=self.before,
            signal=above or after,
            stamp=self.stamp,
            cut=self.cut,
            dropped=self.dropped,
        )


def _signal(text: str) -> str | None:
    """The signal a handler's or the shell's line names (``Received SIGSEGV``, ``Signal 11``,
    ``Segmentation fault``), or None."""
    named = _SIGNAL_LINE.match(text)
    if named is not None:
        return named["name"] or (signals.name_of(named["number"]) if named["number"] else None)
    return "SIGSEGV" if _SEGFAULT.match(text) else None


def _cut_frame(text: str) -> Frame | None:
    """A frame line cut short where the text ends, its function whole; its cut address is dropped."""
    if "(" in text:
        glibc = cut_glibc_frame(text)
        if glibc is not None:
            return glibc
    site, bracket, address = text.rpartition(" [")
    if not bracket:
        site, address = text, ""
    windows = _WINDOWS_SITE.fullmatch(site.strip())
    if windows is None or _CUT_ADDRESS.fullmatch(address) is None:
        return None
    return new_frame(
        function=bare_function(windows["function"]),
        module=None,
        file=None,
        line=None,
        offset=windows["offset"].lower(),
        address=None,
        inline=False,
        raw=text,
    )


def parse(lines: Sequence[str]) -> CrashReport:
    """Read the first assertion and the backtrace after it, else a backtrace alone
    (:func:`find_backtrace`); CrashParseError when there is neither."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()
