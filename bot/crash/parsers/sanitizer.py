"""Parser for sanitizer reports: AddressSanitizer, UndefinedBehaviorSanitizer, ThreadSanitizer, LeakSanitizer.

TrinityCore and AzerothCore developers run ASan builds to find exactly the crashes crashbot files. A report
is read as its own format (never as a gdb log): the error kind is the exception (``heap-use-after-free``,
``SEGV``, ``data race``), the access stack is the crashing thread, and the other stacks the sanitizer prints
(``freed by thread T0 here:``, ``previously allocated by thread T0 here:``, TSan's previous access, thread
creation) are kept as :class:`~bot.crash.model.RelatedStack`, because they are usually where the bug is.

Shapes (gcc 12 / clang, read from real output in tests/crash/test_sanitizer.py)::

    ==17496==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc … T0
    READ of size 4 at 0x602000000010 thread T0
        #0 0x56524f413283 in ReadHealth /tmp/uaf.cpp:5:12
        #4 0x56524f4130f0 in _start (/tmp/uaf+0x10f0)
    freed by thread T0 here:
    SUMMARY: AddressSanitizer: heap-use-after-free /tmp/uaf.cpp:5 in ReadHealth
    ub.cpp:3:36: runtime error: signed integer overflow: 2147483647 + 1 cannot be represented in type 'int'
    WARNING: ThreadSanitizer: data race (pid=18324)
        #0 Bump() /tmp/race.cpp:3 (race+0x123c)

A log holding several reports (UBSan prints one per error, TSan one per race) is filed by its first; a note
counts the rest. Lines may carry a log prefix (timestamps, journald): markers are searched, not anchored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.crash.errors import CrashParseError
from bot.crash.frames import new_frame
from bot.crash.location import bare_function, split_trailing
from bot.crash.model import (
    Build,
    CrashReport,
    ExceptionInfo,
    Format,
    Frame,
    RelatedStack,
    StackRole,
    Thread,
)
from bot.crash.parsers.gdb import find_build
from bot.crash.parsers.reader import Cursor, ReportBuilder

SNIFF_LINES = 2000
MAX_LINE = 8192

_TOOLS = "Address|Leak|Thread|Memory|UndefinedBehavior|Hardware"
_HEADER = re.compile(
    rf"==\d+==\s*ERROR: (?P<tool>(?:{_TOOLS})Sanitizer):\s*(?P<text>.*?)\s*$"
    rf"|WARNING: (?P<wtool>(?:{_TOOLS})Sanitizer):\s*(?P<wtext>.*?)\s*$"
)
_UBSAN = re.compile(
    r"(?P<file>[^\s:]+):(?P<line>\d+):(?:(?P<column>\d+):)?\s*runtime error:\s*(?P<text>.*?)\s*$"
)
_SUMMARY = re.compile(rf"SUMMARY:\s*(?P<tool>(?:{_TOOLS})Sanitizer):\s*(?P<kind>\S.*)$")
_REGISTERS = re.compile(
    r"\s*(?:\(pc 0x[0-9a-fA-F]+ [^)]*\)|at pc 0x[0-9a-fA-F]+ bp 0x[0-9a-fA-F]+ sp 0x[0-9a-fA-F]+)"
)
_PLACE = re.compile(r":\d+(?::\d+)?$")
_FRAME = re.compile(r"(?:^|\s)#(?P<num>\d+)\s+(?P<body>\S.*?)\s*$")
_ADDRESS = re.compile(r"^(?P<address>0x[0-9a-fA-F]+)(?:\s+in\b)?\s*")
_ON_ADDRESS = re.compile(r"\bon (?:unknown )?address (?P<address>0x[0-9a-fA-F]+)")
_ACCESS = re.compile(
    r"(?:^|\s)(?:[A-Z]+ of size \d+ at \S+ thread (?P<thread>T\d+)"  # ASan: READ of size 4 at 0x… thread T0
    r"|(?:Read|Write|Atomic \w+) of size \d+ at \S+ by (?:thread (?P<tthread>T\d+)|main thread))"  # TSan
)
# Headings of the stacks printed beside the access stack, with the role each plays.
_RELATED: tuple[tuple[re.Pattern[str], StackRole], ...] = (
    (re.compile(r"(?:^|\s)freed by thread \S+ here:"), StackRole.FREED),
    (re.compile(r"(?:^|\s)(?:previously )?allocated by thread \S+ here:"), StackRole.ALLOCATED),
    (
        re.compile(r"(?:^|\s)Previous (?:read|write|atomic \w+) of size \d+ at \S+ by"),
        StackRole.PREVIOUS_ACCESS,
    ),
    (re.compile(r"(?:^|\s)Thread T\d+ .*created by .*(?:here|at):"), StackRole.THREAD_CREATED),
    (re.compile(r"(?:^|\s)(?:Direct|Indirect) leak of \d+ byte"), StackRole.ALLOCATED),
    (re.compile(r"(?:^|\s)Mutex \S+ .*created at:"), StackRole.OTHER),
)
_LEAK_KIND = "detected memory leaks"


@dataclass
class _Stack:
    title: str
    role: StackRole | None  # None: the access (crashing) stack
    thread: str | None = None
    frames: list[Frame] = field(default_factory=list)


def _search(pattern: re.Pattern[str], line: str) -> re.Match[str] | None:
    return pattern.search(line[:MAX_LINE])


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are a sanitizer report."""
    score = 0
    for raw in lines[:SNIFF_LINES]:
        line = raw[:MAX_LINE]
        if "Sanitizer" in line:
            if ("ERROR:" in line or "WARNING:" in line) and _HEADER.search(line):
                return 100
            if "SUMMARY:" in line and _SUMMARY.search(line):
                score = max(score, 90)
        elif "runtime error:" in line and _UBSAN.search(line):
            score = max(score, 85)
    return score


def _frame(body: str, raw: str) -> Frame:
    address = None
    found = _ADDRESS.match(body)
    if found:
        address = found["address"].lower()
        body = body[found.end() :]
    rest, where = split_trailing(body)
    return new_frame(
        function=bare_function(rest),
        module=where.module,
        file=where.file,
        line=where.line,
        offset=where.offset,
        address=address,
        inline=False,
        raw=raw.strip(),
        column=where.column,
    )


def _related_role(line: str) -> StackRole | None:
    for pattern, role in _RELATED:
        if pattern.search(line[:MAX_LINE]):
            return role
    return None


class _Reader:
    """One pass: the first report's header, access stack, related stacks, summary; later reports counted."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.SANITIZER)
        self.tool: str | None = None
        self.header: str | None = None
        self.kind: str | None = None
        self.address: str | None = None
        self.ub_location: Frame | None = None
        self.stacks: list[_Stack] = []
        self.stack: _Stack | None = None
        self.summary: str | None = None
        self.later_reports = 0
        self.done = False

    def read(self) -> None:
        for raw in self.cursor:
            line = raw[:MAX_LINE]
            if self._report_start(line):
                continue
            if self.done or self.tool is None:
                continue
            self._line(line, raw)

    def _report_start(self, line: str) -> bool:
        header = _search(_HEADER, line) if "Sanitizer" in line else None
        ub = None if header else (_search(_UBSAN, line) if "runtime error:" in line else None)
        if header is None and ub is None:
            return False
        if self.tool is not None:
            self.later_reports += 1
            self.done = True
            return True
        if header is not None:
            self.tool = header["tool"] or header["wtool"]
            # the registers ASan adds (``at pc 0x… bp 0x… sp 0x…``) change every run and say nothing
            self.header = _REGISTERS.sub("", (header["text"] or header["wtext"] or "")).strip()
            on = _ON_ADDRESS.search(self.header)
            self.address = on["address"].lower() if on else None
            self.stack = _Stack(title=self.header, role=None)
            self.stacks.append(self.stack)
        else:
            assert ub is not None
            self.tool = "UndefinedBehaviorSanitizer"
            self.header = f"runtime error: {ub['text']}"
            self.ub_location = new_frame(
                function=None,
                module=None,
                file=ub["file"],
                line=int(ub["line"]),
                offset=None,
                address=None,
                inline=False,
                raw=line.strip(),
                column=int(ub["column"]) if ub["column"] else None,
            )
            self.stack = _Stack(title=self.header, role=None)
            self.stacks.append(self.stack)
        return True

    def _line(self, line: str, raw: str) -> None:
        if "SUMMARY:" in line:
            summary = _search(_SUMMARY, line)
            if summary:
                self.summary = line[line.index("SUMMARY:") + len("SUMMARY:") :].strip()
                # a leak report's SUMMARY names ASan when LSan runs inside it: the header's tool decides
                tool = self.tool if self.tool == "LeakSanitizer" else summary["tool"]
                self.kind = _kind_of(tool, summary["kind"])
                self.done = True
                return
        frame = _search(_FRAME, line) if "#" in line else None
        if frame and self.stack is not None:
            if self.out.budget.admits(len(self.stack.frames)):
                self.stack.frames.append(_frame(frame["body"], raw))
            return
        access = _ACCESS.search(line)
        if access and self.stacks and self.stacks[0].role is None and not self.stacks[0].frames:
            self.stacks[0].thread = access["thread"] or access["tthread"] or "T0"
            self.stacks[0].title = " ".join(line.split()).rstrip(":")
            self.stack = self.stacks[0]
            return
        role = _related_role(line)
        if role is not None:
            self.stack = _Stack(title=" ".join(line.split()).rstrip(":"), role=role)
            self.stacks.append(self.stack)
            return
        if not line.strip():
            self.stack = None if self.stack is None or self.stack.frames else self.stack

    def finish(self) -> CrashReport:
        if self.tool is None:
            raise CrashParseError(
                "no sanitizer report found: expected '==PID==ERROR: AddressSanitizer: …', "
                "'WARNING: ThreadSanitizer: …' or 'file:line:col: runtime error: …'"
            )
        if self.kind is not None:
            kind = self.kind
        elif self.tool == "UndefinedBehaviorSanitizer":
            kind = "undefined-behavior"  # what clang's SUMMARY line says; gcc prints none
        else:
            kind = _kind_of(self.tool, self.header or "")
        access = self.stacks[0]
        frames = list(access.frames)
        if not frames and self.ub_location is not None:
            frames = [self.ub_location]
        leaks = self.tool == "LeakSanitizer" or (self.header or "").startswith(_LEAK_KIND)
        related = [s for s in self.stacks[1:] if s.frames]
        if leaks and not frames and related:
            # LSan has no access: the first leak's allocation is the crash, the other leaks ride along
            first, related = related[0], related[1:]
            frames, access = list(first.frames), first
        out = self.out
        out.threads.append(Thread(frames=tuple(frames), id=access.thread, current=True, section=access.title))
        out.crashing_thread = 0
        out.exception = ExceptionInfo(code=kind, name=f"{self.tool}: {self.header}", address=self.address)
        out.build = find_build(self.cursor.lines) or Build()
        out.extra = {"sanitizer": self.tool, **({"summary": self.summary} if self.summary else {})}
        out.related = [RelatedStack(s.role or StackRole.OTHER, s.title, tuple(s.frames)) for s in related]
        self._notes(frames)
        return out.report()

    def _notes(self, frames: Sequence[Frame]) -> None:
        out = self.out
        if self.summary is None and self.tool != "UndefinedBehaviorSanitizer":
            out.note("truncated: the sanitizer report has no SUMMARY line (the output was cut short)")
        if not frames:
            out.note("no stack frames in the sanitizer report")
        if self.later_reports:
            out.note(f"{self.later_reports} more sanitizer report(s) follow in the log; the first is filed")
        out.note_budget()


def _kind_of(tool: str, text: str) -> str:
    """The error kind, from the SUMMARY text after the tool (else the header): the words before the first
    location, ``on``, ``(`` or ``in``, joined by ``-`` (``data race /x.cpp:3 in F`` -> ``data-race``)."""
    if tool == "LeakSanitizer":
        return "memory-leak"
    words: list[str] = []
    for word in text.split():
        if word in ("on", "in", "at") or word.startswith(("(", "/", ".", "<")) or _PLACE.search(word):
            break
        words.append(word)
    kind = "-".join(words[:6]).rstrip(".:,")
    if not kind:
        return "undefined-behavior" if tool == "UndefinedBehaviorSanitizer" else "unknown"
    return kind


def parse(lines: Sequence[str]) -> CrashReport:
    """Read the first sanitizer report in ``lines``; CrashParseError when there is none."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()
