"""Parser for the text of a Microsoft DebugDiag crash-analysis report, as operators paste it.

DebugDiag (Debug Diagnostic Tool 1.x/2.x) writes its analysis as an .mht page; what reaches an issue is
its text: the Analysis Summary's one-sentence verdict, and per-thread blocks::

    In minidump.mdmp the assembly instruction at ntdll!RtlReportCriticalFailure+62 in
    C:\\Windows\\System32\\ntdll.dll from Microsoft Corporation has caused an unknown exception (0xc0000374)
    on thread 235

    Thread 5 - System ID 4600
    Entry point   ntdll!TppWorkerThread
    Create time   2018-08-15 14:12:56
    Time spent in user mode   0 Days 00:00:22.828
    Time spent in kernel mode   0 Days 00:00:02.281

    Full Call Stack: Function Arg 1 Arg 2 Arg 3 Arg 4
    ntdll!RtlReportCriticalFailure+62 00000000`00000002 00000000`00000023 ...
    OraOLEDButl11+1a5f 00000000`00000001 ...
    0x403d6b00 ...

A frame is ``module!Function+hexoff`` (no ``0x``), ``module+hexoff`` without symbols, or a bare
``0x…`` value, then optional argument columns and a ``Source`` column (``path @ line``) when the PDB
has line numbers. The verdict names the exception (code in parentheses when DebugDiag knows it, else only
in the dump's file name: ``…__Second_Chance_Exception_C0000005.dmp``), the faulting instruction and the
thread, whose block is then the crashing thread. Real samples: tests/fixtures/samples/SOURCES.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.crash.errors import CrashParseError
from bot.crash.model import CrashReport, ExceptionInfo, Format, Frame, Thread
from bot.crash.parsers.cdb import call_site_frame
from bot.crash.parsers.reader import Cursor, ReportBuilder

SNIFF_LINES = 2000
MAX_LINE = 2048

_ANCHOR = " the assembly instruction at "
_CAUSED = " has caused "
_ON_THREAD = " on thread "
_CODE = re.compile(r"\((?P<code>0x[0-9a-fA-F]{1,8})\)")
_ACCESS = re.compile(
    r"when trying to (?:read from|write to|execute) memory location (?P<target>0x[0-9a-fA-F]{1,16})"
)
_DUMP_CODE = re.compile(r"(?:exception|Exception)[ _](?:0[xX])?(?P<code>[0-9a-fA-F]{8})\b")
_THREAD = re.compile(r"^Thread (?P<number>\d{1,6}) - System ID (?P<system>\d{1,10})\s*$")
_STACK_HEADING = re.compile(r"^(?:Full |\.NET )?Call Stack\b:?\s*(?P<rest>.*)$")
_COLUMNS = re.compile(r"^Function(?:\s+Arg \d)*(?:\s+Source)?\s*$")
_ARGUMENT = re.compile(r"[0-9a-fA-F]{8}`[0-9a-fA-F]{8}|[0-9a-fA-F]{8}|[0-9a-fA-F]{16}")
_SOURCE = re.compile(r"\s(?P<file>(?:[A-Za-z]:[\\/]|\\\\|/)[^@\n]{0,500}?) @ (?P<line>\d{1,7})\]?\s*$")
_MANAGED = re.compile(r"^(?P<function>[^\s+!][^+]{0,600}?)\+(?P<offset>[0-9a-fA-F]{1,8})$")
_THREAD_FIELDS = ("Entry point", "Create time", "Time spent in user mode", "Time spent in kernel mode")


@dataclass(frozen=True)
class _Verdict:
    """The Analysis Summary's sentence, split: ``In <dump> the assembly instruction at <site> in <path>
    from <company> has caused <what> (<code>) [when trying to … memory location <target>] on thread <n>``."""

    dump: str
    site: str
    what: str
    code: str | None
    target: str | None
    thread: str


def verdict_of(text: str) -> _Verdict | None:
    """The verdict in one line (split on its fixed words, no backtracking), or None."""
    before, anchor, after = text.partition(_ANCHOR)
    start = before.rfind("In ")
    if not anchor or start < 0 or _CAUSED not in after or _ON_THREAD not in after:
        return None
    where, _, caused = after.partition(_CAUSED)
    body, _, thread = caused.rpartition(_ON_THREAD)
    site, dump = where.split(" ", 1)[0], before[start + 3 :].strip()
    if not (site and dump and thread.split()):
        return None
    code, access = _CODE.search(body), _ACCESS.search(body)
    what = body.split(" (", 1)[0].split(" when trying to ", 1)[0].strip()
    for article in ("an ", "a "):
        what = what.removeprefix(article)
    return _Verdict(
        dump=dump,
        site=site,
        what=what,
        code=code["code"] if code else None,
        target=access["target"] if access else None,
        thread=thread.split()[0].rstrip(".,"),
    )


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are DebugDiag's text: its verdict sentence, or a thread block."""
    headed = False
    for raw in lines[:SNIFF_LINES]:
        text = raw[:MAX_LINE].strip()
        if _ANCHOR in text and verdict_of(text) is not None:
            return 95
        if headed and text.startswith(_THREAD_FIELDS):
            return 90
        headed = bool(_THREAD.match(text)) or (headed and not text)
    return 0


def _arguments_end(tokens: list[str]) -> int:
    """How many leading tokens are the call site: the rest are DebugDiag's ``Arg N`` columns."""
    end = len(tokens)
    while end > 1 and _ARGUMENT.fullmatch(tokens[end - 1]):
        end -= 1
    return end


def frame_of(text: str) -> Frame | None:
    """One DebugDiag stack line -> Frame (None when the line is not one)."""
    raw = text
    file: str | None = None
    line: int | None = None
    source = _SOURCE.search(text) if " @ " in text else None
    if source is not None:
        file, line = source["file"].strip().lstrip("["), int(source["line"])
        text = text[: source.start()]
    tokens = text.split()
    if not tokens:
        return None
    site = " ".join(tokens[: _arguments_end(tokens)])
    frame = call_site_frame(_with_hex_prefix(site), raw=raw)
    if frame is None:
        managed = _MANAGED.match(site)
        if managed is None:
            return None
        frame = Frame(function=managed["function"].strip(), offset="0x" + managed["offset"].lower(), raw=raw)
    return replace(frame, file=file or frame.file, line=line or frame.line)


def _with_hex_prefix(site: str) -> str:
    """DebugDiag prints ``module+1a5f`` and ``0x403d6b00``; cdb's reader wants ``0x`` on the offset."""
    if "!" in site or site.startswith("0x"):
        return site
    module, plus, offset = site.rpartition("+")
    if plus and offset and all(c in "0123456789abcdefABCDEF" for c in offset):
        return f"{module}+0x{offset}"
    return site


class _Reader:
    """One pass: the verdict wherever it is, thread headers, and the stack under each ``Call Stack``."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.DEBUGDIAG)
        self.verdict: _Verdict | None = None
        self.thread_id: str | None = None
        self.in_stack = False
        self.frames: list[Frame] = []

    def read(self) -> None:
        for raw in self.cursor:
            text = raw[:MAX_LINE].strip()
            if self.verdict is None and _ANCHOR in text:
                self.verdict = verdict_of(text)
                if self.verdict is not None:
                    continue
            header = _THREAD.match(text)
            if header is not None:
                self._end_thread()
                self.thread_id = header["number"]
            elif _STACK_HEADING.match(text):
                self._end_thread(keep_id=True)
                self.in_stack = True
            elif self.in_stack and text and not _COLUMNS.match(text):
                self._frame(text)

    def _frame(self, text: str) -> None:
        if text.startswith("[["):  # a managed helper frame ([[InlinedCallFrame] …]): no code of its own
            return
        frame = frame_of(text)
        if frame is None:
            if self.frames:  # the stack has ended; prose before its first frame is skipped
                self._end_thread(keep_id=True)
            return
        if self.out.budget.admits(len(self.frames)):
            self.frames.append(frame)

    def _end_thread(self, *, keep_id: bool = False) -> None:
        if self.frames:
            self.out.threads.append(Thread(frames=tuple(self.frames), id=self.thread_id))
            if not keep_id:
                self.thread_id = None
        self.frames = []
        self.in_stack = False

    def finish(self) -> CrashReport:
        self._end_thread()
        out = self.out
        if self.verdict is None and not out.threads:
            raise CrashParseError(
                "no DebugDiag analysis found: expected 'In <dump> the assembly instruction at … has caused "
                "…' or a 'Thread N - System ID M' block with a call stack"
            )
        if self.verdict is not None:
            out.exception = _exception(self.verdict)
            out.extra = {"dump": self.verdict.dump}
            named = self.verdict.thread
            # The last of the thread's stacks: DebugDiag prints a ".NET Call Stack" before the full one.
            matching = [i for i, thread in enumerate(out.threads) if thread.id == named]
            if matching:
                out.threads[matching[-1]] = replace(out.threads[matching[-1]], current=True)
                out.crashing_thread = matching[-1]
            if out.crashing_thread is None and named.isdecimal():
                out.note(f"the analysis names thread {named}, whose stack is not in the text")
        out.note_budget()
        return out.report()


def _exception(verdict: _Verdict) -> ExceptionInfo:
    """The exception the verdict names; its code from the sentence, else from the dump's file name
    (``…Second_Chance_Exception_C0000005.dmp``), else empty (signed as unknown, located by its site)."""
    code = verdict.code
    if code is None:
        from_dump = _DUMP_CODE.search(verdict.dump)
        code = from_dump["code"] if from_dump else None
    digits = code[2:] if code and code.lower().startswith("0x") else code
    site = frame_of(verdict.site)
    return ExceptionInfo(
        code=digits.upper().rjust(8, "0") if digits else "",
        name=verdict.what or None,
        address=verdict.target,
        module=site.module if site is not None else None,
        module_offset=site.offset if site is not None and site.function is None else None,
    )


def parse(lines: Sequence[str]) -> CrashReport:
    """Read DebugDiag's verdict and thread stacks; CrashParseError when the text holds neither."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()
