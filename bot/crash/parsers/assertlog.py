"""Parser for console assertion output: what TC/AC print to stderr before crashing, plus what follows it.

After the assertion block (read by :mod:`bot.crash.assertion`) a console copy may show the shell's
``Segmentation fault`` (on Linux TC/AC write to address 0 after an assert), ``Aborted``, a Windows
``0xC0000420`` line, or the backtrace old ACE-era TC printed (``[0x22afa]``,
``ACE_Thread_Adapter::invoke()+0x83 [0x0]``, glibc's ``./worldserver(_ZN…+0x1a) [0x8a1b2c]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.crash.assertion import MAX_LINE, find_assertion
from bot.crash.errors import CrashParseError
from bot.crash.itanium import demangle
from bot.crash.location import basename
from bot.crash.model import Build, CrashReport, ExceptionInfo, Format, Frame, Thread
from bot.crash.parsers.gdb import find_build
from bot.crash.parsers.reader import Cursor, ReportBuilder, blank_from

SNIFF_LINES = 400
# How far after the assertion block the process' end (signal text, backtrace) is looked for.
TRAILER_LINES = 400

_SIGNAL_TEXT: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"\bSegmentation\s+fault\b|\bSpeicherzugriffsfehler\b"), "SIGSEGV", "Segmentation fault"),
    (
        re.compile(r"^\s*(?:\S+:\s+line\s+\d+:\s+\d+\s+)?Aborted\b|\bCaught\s+signal\s+6\b"),
        "SIGABRT",
        "Aborted",
    ),
    (re.compile(r"\bBus\s+error\b"), "SIGBUS", "Bus error"),
    (re.compile(r"\bFloating\s+point\s+exception\b"), "SIGFPE", "Floating point exception"),
    (re.compile(r"\bIllegal\s+instruction\b"), "SIGILL", "Illegal instruction"),
)
_WINDOWS_ASSERT = re.compile(r"0xC0000420\b|\bC0000420\b", re.IGNORECASE)
_WINDOWS_ASSERT_TEXT = re.compile(r"0xC0000420:\s*(?P<text>[^(]*?)\s*(?:\(|$)", re.IGNORECASE)

# ``symbol+0xOFF [0xADDR]`` (ACE_Stack_Trace on Windows, damaged copies add spaces and stray parens),
# ``module(symbol+0xOFF) [0xADDR]`` (glibc backtrace_symbols) and a bare ``[0xADDR]``.
_ACE_BARE = re.compile(r"^\s*\[(?P<address>0x[0-9a-fA-F]+)\]\s*$")
# The end of an ACE line, from its last ``+``; what is before it is the symbol and its stray parens, read by
# _ace_symbol from the end (a lazy symbol followed by ``[\s(]*\)?\s*`` rescanned the parens and spaces
# after every character of the symbol: 0.5 s a 4 KB line, cubic once more when they were stripped).
_ACE_TAIL = re.compile(r"\+\s*(?P<offset>0x[0-9a-fA-F]+)\s*\[(?P<address>0x[0-9a-fA-F]+)\]\s*$")
_GLIBC = re.compile(
    r"^\s*(?P<module>[^\s(]+)\((?P<symbol>[^)+]*)(?:\+(?P<offset>0x[0-9a-fA-F]+))?\)\s*\[(?P<address>0x[0-9a-fA-F]+)\]\s*$"
)
CUT_LINE_NOTE = "truncated: the text ends inside the last backtrace line; its function is kept"
# The same line cut short: ``./worldserver(_ZN6Player11RemoveSpellEjbb+0x5`` (no ``)``, no whole ``[0x…]``).
_GLIBC_CUT = re.compile(r"^\s*(?P<module>[^\s(]+)\((?P<symbol>[^)+\s]+)(?P<after>[+)][^\]]*)?$")
_GDB_MARK = re.compile(
    r"^\s*#\d+\s+0x[0-9a-fA-F]+\s+in\s|received\s+signal\s+SIG|^\s*Program\s+terminated\s+with"
)
_WHEATY_MARK = re.compile(r"^\s*(?:Exception\s+code:|Fault\s+address:|Call\s+stack:|Revision:\s)")
_VS_MARK = re.compile(r"^\s*>?\s*[\w.+-]+\.(?:exe|dll)!\S")


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are console assertion output.

    Reads the first and the last :data:`SNIFF_LINES` lines: a console log ends with the assert.
    """
    head = list(lines[:SNIFF_LINES])
    tail = list(lines[max(SNIFF_LINES, len(lines) - SNIFF_LINES) :])
    window = head + tail
    block = find_assertion(window)
    if block is None:
        return 0
    if any(_WHEATY_MARK.match(line[:MAX_LINE]) for line in window):
        return 15  # a Wheaty report quotes the assertion; its own parser reads it whole
    if any(_GDB_MARK.search(line[:MAX_LINE]) for line in window):
        return 40  # a gdb log with the assert printed in it: the gdb parser reads both
    if any(_VS_MARK.match(line[:MAX_LINE]) for line in window):
        return 40
    if block.assertion.line is None and block.assertion.file is None:
        return 35  # only ``Caught signal N``
    trailer = window[block.end : block.end + 20]
    if any(pattern.search(line) for line in trailer for pattern, _, _ in _SIGNAL_TEXT):
        return 80
    return 70


def parse(lines: Sequence[str]) -> CrashReport:
    """Read console assertion output; CrashParseError when the text holds no assertion block."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()


class _Reader:
    """Two sections: the assertion block (wherever it is, :func:`find_assertion`), then the trailer
    after it (the backtrace and the process' end), with the server's banner before it for the build."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.ASSERT_LOG)
        self.frames: list[Frame] = []

    def read(self) -> None:
        lines = self.cursor.lines
        block = find_assertion(lines)
        if block is None:
            raise CrashParseError(
                "no assertion block ('<file>:<line> in <function> ASSERTION FAILED:' or AC's '# Location' "
                "box) found in the console text; pass the worldserver console output around the crash"
            )
        self.cursor.index = block.end
        trailer = lines[block.end : block.end + TRAILER_LINES]
        self.frames = _frames(trailer)
        if self.frames and self.frames[-1].address is None:  # only a cut line has no address
            self.out.note(CUT_LINE_NOTE)
        out = self.out
        out.exception = _exception(lines, block.start, trailer)
        out.assertion = block.assertion
        out.build = find_build(lines[: block.start]) or Build()

    def finish(self) -> CrashReport:
        out = self.out
        if self.frames:
            out.threads = [Thread(frames=tuple(self.frames), current=True, section="backtrace")]
            out.crashing_thread = 0
        else:
            out.note("no backtrace after the assertion")
        return out.report()


def _exception(lines: Sequence[str], start: int, trailer: Sequence[str]) -> ExceptionInfo | None:
    for line in lines[start : start + 1]:
        if re.search(r"\bCaught\s+signal\s+6\b", line):
            return ExceptionInfo(code="SIGABRT", name="Aborted")
    context = [*lines[max(0, start - 20) : start], *trailer]
    for raw in context:
        line = raw[:MAX_LINE]
        if _WINDOWS_ASSERT.search(line):
            text = _WINDOWS_ASSERT_TEXT.search(line)
            return ExceptionInfo(code="C0000420", name=(text["text"] if text and text["text"] else None))
    for raw in trailer:
        line = raw[:MAX_LINE]
        for pattern, code, name in _SIGNAL_TEXT:
            if pattern.search(line):
                return ExceptionInfo(code=code, name=name)
    return None


def _frames(trailer: Sequence[str]) -> list[Frame]:
    """The backtrace lines that follow the assert, innermost first, up to the first line that is not one."""
    frames: list[Frame] = []
    for index, raw in enumerate(trailer):
        line = raw[:MAX_LINE]
        if not line.strip():
            if frames:
                break
            continue
        frame = _frame(line)
        if frame is None and frames and blank_from(trailer, index + 1):
            frame = cut_glibc_frame(line)  # the text ends inside this line
        if frame is None:
            if frames:
                break
            continue
        frames.append(frame)
    return frames


def cut_glibc_frame(line: str) -> Frame | None:
    """The frame of a ``backtrace_symbols`` line cut short, when its symbol is whole (followed by ``+`` or
    ``)``, or a mangled name that demangles); its cut address is dropped."""
    cut = _GLIBC_CUT.match(line)
    if cut is None:
        return None
    symbol = cut["symbol"].strip()
    whole = bool(cut["after"])
    if symbol.startswith("_Z"):
        demangled = demangle(symbol)
        whole, symbol = whole or demangled is not None, demangled or symbol
    if not symbol or not whole:
        return None
    return Frame(function=symbol, module=basename(cut["module"]) or None, raw=line.strip())


def _frame(line: str) -> Frame | None:
    bare = _ACE_BARE.match(line)
    if bare:
        return Frame(address=bare["address"].lower(), raw=line.strip())
    glibc = _GLIBC.match(line)
    if glibc:
        module = basename(glibc["module"]) or None
        symbol = glibc["symbol"].strip()
        if symbol.startswith("_Z"):  # backtrace_symbols prints mangled names
            symbol = demangle(symbol) or symbol
        return Frame(
            function=symbol or None,
            module=module,
            offset=glibc["offset"].lower() if glibc["offset"] else None,
            address=glibc["address"].lower(),
            raw=line.strip(),
        )
    if "0x" not in line or not line.rstrip().endswith("]"):
        return None
    plus = line.rfind("+")
    tail = _ACE_TAIL.match(line, plus) if plus >= 0 else None
    symbol = _ace_symbol(line[:plus]) if tail else None
    if tail is None or symbol is None:
        return None
    name = symbol[: _stray_parens_start(symbol)].strip()
    name = re.sub(r"\(\s*\)$", "", name).strip()
    if name.startswith("_Z"):
        name = demangle(name) or name
    return Frame(
        function=name or None,
        offset=tail["offset"].lower(),
        address=tail["address"].lower(),
        raw=line.strip(),
    )


def _ace_symbol(head: str) -> str | None:
    """The symbol of an ACE line whose text before its ``+0xOFF`` is ``head``: without the spaces before
    it and the stray parens and spaces after it (``BaseThreadInitThunk(() `` -> ``BaseThreadInitThunk``);
    None when ``head`` holds none (it starts with ``(`` or holds a ``[``)."""
    start = len(head) - len(head.lstrip())
    symbol = head[start : max(_stray_parens_start(head), start + 1)]
    if not symbol or symbol[0] == "(" or "[" in symbol:
        return None
    return symbol


def _stray_parens_start(text: str) -> int:
    """Where ``text``'s trailing ``[\\s(]*\\)?\\s*`` (spaces and ``(``, one ``)``, spaces) starts."""
    end = len(text.rstrip())
    if text.endswith(")", 0, end):
        end -= 1
    while end and (text[end - 1].isspace() or text[end - 1] == "("):
        end -= 1
    return end
