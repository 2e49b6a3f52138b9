"""WheatyExceptionReport ``.txt`` files (TrinityCore old/new, AzerothCore, cmangos; x86 and x64).

Layout (see shared/reference/crash-formats.md §1): a header (``Revision:``, ``Date``, hardware, OS), the
exception (``Exception code:``, an optional multi-line ``Assertion message:``, ``Fault address:``),
registers, then one ``Call stack:`` block per thread (the first walked from the exception context), then
``Local Variables And Parameters`` repeating every stack with variables, which is skipped unread.
Excerpts pasted into issues lose any part of this, so every part is optional; only "nothing recognisable"
is an error.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import compress, islice, repeat

from bot.crash.assertion import parse_assertion
from bot.crash.errors import CrashParseError
from bot.crash.frames import frame_of, thread_of
from bot.crash.limits import MAX_REPORT_FRAMES, MAX_THREAD_FRAMES
from bot.crash.model import (
    Build,
    CrashReport,
    Environment,
    ExceptionInfo,
    Format,
    Frame,
)
from bot.crash.msvc import readable_name
from bot.crash.parsers.reader import Cursor, ReportBuilder

__all__ = ["build_from_revision", "parse", "sniff"]

SNIFF_LINES = 400
# Header-ish lines are cut to this length before any regex sees them (bounded work on hostile input).
_FIELD_CHARS = 1000

# ``PC  FramePointer  rest`` with x64 (16) or x86 (8) hex columns; whitespace may be collapsed.
_FRAME = re.compile(
    r"[ \t]*(?P<pc>[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})[ \t]+(?P<fp>[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})(?:[ \t]+|$)"
)
# An unsymbolised frame: ``section:offset module-path`` (module empty for garbage frames).
_LOGICAL = re.compile(r"(?P<section>[0-9A-Fa-f]{4}):(?P<offset>[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})(?:[ \t]+|$)")
_DISPLACEMENT_THEN_SOURCE = re.compile(r"\+(?P<disp>[0-9A-Fa-f]{1,16})  ")
_WHOLE_FRAME_SOURCE = re.compile(r"\+[0-9A-Fa-f]{1,16}  \S.* line [0-9]+$")
_DISPLACEMENT_AT_END = re.compile(r"\+(?P<disp>[0-9A-Fa-f]{1,16})$")
# Whitespace collapsed: ``+HEX`` then one space then a path (drive, UNC or absolute).
_DISPLACEMENT_THEN_PATH = re.compile(r"\+(?P<disp>[0-9A-Fa-f]{1,16}) (?=[A-Za-z]:[\\/]|\\\\|/)")
_LONE_HEX = re.compile(r"[ \t]*[0-9A-Fa-f]{1,16}")
# A frame line cut right after its program counter, or inside the frame-pointer column that follows it.
_ADDRESS_ONLY = re.compile(r"(?P<pc>[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})(?:[ \t]+[0-9A-Fa-f]{1,15})?")
# The frame line as Wheaty writes it, undamaged, in its two shapes: ``PC  FP  [[inline] ]symbol+HEX[  path
# line N]`` and ``PC  FP  [[inline] ]ssss:offset[ module-path]``, with exactly two spaces between columns and
# no ``+`` in the symbol or either path. Nearly every frame of a real report has one of these shapes and is
# read by two matches: _FAST_COLUMNS for the program counter and frame pointer, _FAST_SITE for the rest (the
# site: what the frame runs, the same text in every thread parked at the same place, so it is read once
# per report). Any other line takes the general path (:func:`_frame`), which gives the same Frame for the
# lines these patterns accept (tests/crash/test_wheaty.py checks that on generated lines).
# The symbol may not start like a ``section:offset`` frame or like cdb's argument columns (_LOGICAL and
# _CDB_ARGS, which the general path tests on the same text).
_FAST_COLUMNS = re.compile(
    r"(?P<pc>[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})  (?:[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})  (?P<rest>.*)", re.DOTALL
)
_FAST_SITE = re.compile(
    r"(?P<inline>\[inline\] )?"
    r"(?:(?P<section>[0-9A-Fa-f]{4}):(?P<logical>[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})"
    r"(?: (?P<module>[^\s+](?:[^+]*[^\s+])?))?"
    r"|(?P<symbol>(?![0-9A-Fa-f]{4}:|[0-9A-Fa-f]{8}[ \t`])[^\s+\[][^+]*)\+(?P<disp>[0-9A-Fa-f]{1,16})"
    r"(?:  (?P<path>[^\s+](?:[^+]*[^\s+])?) line (?P<line>[0-9]+))?)"
)
# A frame site's fields in Frame order: function, module, file, line, offset, inline.
_Site = tuple[str | None, str | None, str | None, int | None, str, bool]
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# The start of each header line the reader acts on (one match per line instead of a dozen prefix tests).
_HEADER_KEY = re.compile(
    r"Call stack:|Revision:|Build:|Date|Crash date|Processor:|Number Of Processors:|Physical Memory:"
    r"|\*\*\* Operation System|Exception code:|Assertion message:|Fault address:"
    r"|Uncaught C\+\+ exception info:|Local Variables And Parameters"
)
_ADDRESS_HEADER = "Address   Frame     Function      SourceFile"
_CALL_STACK_HEADER = re.compile(r"Address\s+Frame(?:\s+Function(?:\s+SourceFile)?)?")
_CDB_ARGS = re.compile(r"[0-9A-Fa-f]{8}[ \t`]")

_REVISION = re.compile(r"[ \t]*Revision:[ \t]*(?P<text>.*)")
_DATE = re.compile(
    r"[ \t]*(?:Crash date|Date)[ \t]+(?P<d>\d{1,2}):(?P<m>\d{1,2}):(?P<y>\d{2,4})\.?[ \t]*"
    r"Time[ \t]+(?P<H>\d{1,2}):(?P<M>\d{1,2})"
)
_EXCEPTION = re.compile(r"[ \t]*Exception code:[ \t]*(?P<code>[0-9A-Fa-f]{8})\b[ \t]*(?P<name>.*)")
_FAULT = re.compile(
    r"[ \t]*Fault address:[ \t]+(?P<address>[0-9A-Fa-f]{8,16})[ \t]+"
    r"(?P<section>[0-9A-Fa-f]{1,8}):(?P<offset>[0-9A-Fa-f]{8,16})[ \t]*(?P<module>.*)"
)
_MEMORY = re.compile(r"[ \t]*Physical Memory:[ \t]*(?P<n>\d+)[ \t]*(?P<unit>[KMG]B)", re.IGNORECASE)

_HASH = re.compile(
    r"(?<![0-9A-Za-z])(?P<hash>[0-9a-fA-F]{40}|[0-9a-fA-F]{12})(?![0-9A-Za-z])(?P<dirty>[ \t]?\+(?![0-9]))?"
)
_HASH_LABEL = re.compile(r"\bHash:[ \t]*(?P<hash>[0-9a-fA-F]{7,40})\b(?P<dirty>\+)?")
_PRODUCT = re.compile(r"(?P<product>[^()]{1,80}?)[ \t]+rev(?:\.|:|[ \t])", re.IGNORECASE)
_REV_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:[ \t]*[+-]\d{4})?")
_PARENS = re.compile(r"\(([^()]*)\)")
_CONFIGURATIONS = ("RelWithDebInfo", "MinSizeRel", "Release", "Debug")
_MAX_ASSERTION_LINES = 2000


def sniff(lines: Sequence[str]) -> int:
    """Confidence 0..100 that ``lines`` are a Wheaty report (or an excerpt of one's call stacks)."""
    score = 0
    frames = 0
    for raw in islice(lines, SNIFF_LINES):
        line = raw[:_FIELD_CHARS].strip()
        if not line:
            continue
        if line.startswith("Call stack:"):
            score += 30
        elif (line.startswith("Address") and _CALL_STACK_HEADER.match(line)) or (
            line.startswith("Exception code:") and _EXCEPTION.match(line)
        ):
            score += 40
        elif line.startswith("Fault address:"):
            score += 30
        elif line.startswith(("*** Hardware ***", "*** Operation System")):
            score += 20
        elif line.startswith("Revision:"):
            score += 10
        elif frames < 6 and line[0] in _HEX_DIGITS:
            match = _FRAME.match(line)
            if match is not None:
                rest = line[match.end() :]
                if "+0x" not in rest and "!" not in rest and not _CDB_ARGS.match(rest):
                    frames += 1
                    # a whole frame with its source (`Func+1AD  X.cpp line 58`) is Wheaty's alone: one line
                    # pasted on its own is enough to recognise
                    score += 25 if _WHOLE_FRAME_SOURCE.search(rest) else 12
        if score >= 100:
            return 100
    return min(score, 100)


def parse(lines: Sequence[str]) -> CrashReport:
    """Read a Wheaty report; raise CrashParseError when the text holds no part of one."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()


_SYMBOL_HANDLER_NOTE = "symbol handler error reported by the crashing process"
_SECOND_REPORT_NOTE = "a second report is appended after the first; only the first was read"


class _Reader:
    """One pass over a report: the header, line by line, each keyed line going to its reader in
    :data:`_HEADER_READERS`; then the call stacks (:meth:`_read_stacks`, the hot loop)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.WHEATY)
        self.blocks: list[list[Frame]] = []
        self.leading: list[Frame] = []  # frames before any ``Call stack:`` (an excerpt starting mid-block)
        self.current = self.leading  # the block frames go to
        self.revision_seen = False
        self.header_seen = False
        self.build_line: str | None = None
        self.os: str | None = None
        self.cpu: str | None = None
        self.cpu_count: int | None = None
        self.memory_kb: int | None = None
        self.crashed_at: str | None = None
        self.assertion_lines: list[str] | None = None
        self.last_frame_incomplete = False
        # One copy of each function name, path and offset text: the idle threads of a report repeat the
        # same few frames, and without sharing these strings were most of a parsed report's memory.
        self.strings: dict[str, str] = {}
        self.modules: dict[str, str | None] = {}
        # The site of each distinct frame text after the two address columns (bounded by the kept frames).
        self.sites: dict[str, _Site] = {}

    def read(self) -> None:
        self._read_header()
        self._read_stacks()

    # -- the header

    def _read_header(self) -> None:
        """Read everything before the first ``Call stack:``/frame line, leaving the cursor on it."""
        cursor = self.cursor
        lines = cursor.lines
        n = len(lines)
        header_key = _HEADER_KEY.match
        while cursor.index < n:
            line = lines[cursor.index][:_FIELD_CHARS]
            stripped = line.strip()
            if not stripped:
                cursor.index += 1
                continue
            key = header_key(stripped)
            if key is None:  # registers, hardware details, the assertion's other lines, a frame
                if _is_frame_start(line):
                    return
                cursor.index += 1
                if _symbol_handler_error(stripped):
                    self.out.note(_SYMBOL_HANDLER_NOTE)
                continue
            word = key.group()
            if word == "Call stack:":
                return
            cursor.index += 1
            _HEADER_READERS[word](self, line, stripped)

    def _revision(self, line: str, stripped: str) -> None:
        if self.revision_seen:
            return
        self.revision_seen = self.header_seen = True
        match = _REVISION.match(line)
        self.out.build = build_from_revision(match.group("text") if match else "")

    def _build_line(self, line: str, stripped: str) -> None:
        self.build_line = stripped[len("Build:") :].strip() or None

    def _date(self, line: str, stripped: str) -> None:
        self.header_seen = True
        self.crashed_at = _crash_date(line)

    def _processor(self, line: str, stripped: str) -> None:
        self.header_seen = True
        value = stripped[len("Processor:") :].strip()
        self.cpu = None if value in ("", "<unknown>") else value

    def _processor_count(self, line: str, stripped: str) -> None:
        digits = stripped[len("Number Of Processors:") :].strip()
        self.cpu_count = int(digits) if digits.isdecimal() else None

    def _memory(self, line: str, stripped: str) -> None:
        memory = _MEMORY.match(line)
        if memory:
            unit = memory.group("unit").upper()
            kilobytes = int(memory.group("n")) * {"KB": 1, "MB": 1024, "GB": 1024 * 1024}[unit]
            self.memory_kb = kilobytes

    def _operating_system(self, line: str, stripped: str) -> None:
        """The OS caption is the first non-empty line after the ``*** Operation System ***`` header."""
        self.header_seen = True
        cursor = self.cursor
        while not cursor.done and not cursor.peek().strip():
            cursor.index += 1
        if cursor.done:
            self.os = None
            return
        value = cursor.peek()[:_FIELD_CHARS].strip()
        if value.startswith(("//====", "Exception code:", "Call stack:")):
            self.os = None
            return
        cursor.index += 1
        self.os = None if value == "<unknown>" else value

    def _exception_code(self, line: str, stripped: str) -> None:
        self.header_seen = True
        self.out.exception = _exception(line)

    def _assertion_message(self, line: str, stripped: str) -> None:
        """Collect the (multi-line, LF-inside-CRLF) assertion text up to ``Fault address:``."""
        collected = [stripped]
        cursor = self.cursor
        while not cursor.done:
            following = cursor.peek()
            if following.strip().startswith(("Fault address:", "Registers:", "Call stack:")):
                break
            collected.append(following[:_FIELD_CHARS])
            cursor.index += 1
            if len(collected) > _MAX_ASSERTION_LINES:
                self.out.note(f"assertion message cut at {_MAX_ASSERTION_LINES} lines")
                break
        self.assertion_lines = collected

    def _fault_address(self, line: str, stripped: str) -> None:
        self.header_seen = True
        self.out.exception = _with_fault_address(self.out.exception, line)

    def _uncaught_exception(self, line: str, stripped: str) -> None:
        self.out.extra["uncaught_exception"] = stripped.partition(":")[2].strip()

    def _locals(self, line: str, stripped: str) -> None:
        """The locals section repeats every stack with variables: skipped unread, and the stacks with it."""
        if _symbol_handler_error(stripped):  # tested before the locals header, as it always was
            self.out.note(_SYMBOL_HANDLER_NOTE)
            return
        self.out.note("locals section skipped")
        self.cursor.index = len(self.cursor.lines)

    # -- the call stacks

    def _read_stacks(self) -> None:
        """One Thread per ``Call stack:`` block; stop at the locals section or an appended second report.

        Frames before any ``Call stack:`` (an excerpt starting mid-block) go to ``self.leading``. This loop
        runs once per line of the report, so its common case (an undamaged frame line whose site was seen
        before) is kept to one match, one lookup and one Frame; every other line goes to
        :meth:`_other_line`.
        """
        lines = self.cursor.lines
        start = i = self.cursor.index
        n = len(lines)
        current = self.current
        blocks = self.blocks
        fast_columns = _FAST_COLUMNS.match
        fast_site = _FAST_SITE.fullmatch
        budget = self.out.budget
        sites = self.sites
        while i < n:
            line = lines[i]
            i += 1
            if not line or line == _ADDRESS_HEADER:  # the header under each block, as Wheaty prints it
                continue
            if line == "Call stack:":
                current = []
                blocks.append(current)
                continue
            columns = fast_columns(line)
            if columns is not None:
                pc, rest = columns.groups()
                if len(current) < MAX_THREAD_FRAMES and budget.kept < MAX_REPORT_FRAMES:  # not budget.full
                    site = sites.get(rest)
                    if site is None:
                        match = fast_site(rest)
                        if match is not None:
                            site = sites[rest] = _site(match, self.strings, self.modules)
                    if site is not None:
                        budget.kept += 1
                        function, module, file, number, offset, inline = site
                        current.append(
                            frame_of(function, module, file, number, offset, "0x" + pc.lower(), inline, line)
                        )
                        continue
                elif rest in sites or fast_site(rest) is not None:
                    # Counted without being built: a 100 MB stack costs its scan, not its frames.
                    budget.dropped += 1
                    continue
            self.current = current
            self.cursor.index = i
            if self._other_line(line):
                return
            current = self.current
        self.cursor.index = i
        self.last_frame_incomplete = _looks_cut(_last_nonblank(lines, start))

    def _other_line(self, line: str) -> bool:
        """A line of the stacks the fast path did not take (damaged, collapsed, cut, or no frame at all);
        True when the stacks end here."""
        stripped = line.strip()
        if not stripped:
            return False
        head = stripped[:40]
        if head.startswith("Call stack:"):
            self.current = []
            self.blocks.append(self.current)
            return False
        if head.startswith("Address"):
            return False  # the column header under every ``Call stack:`` (never a frame: 'r' is not hex)
        budget = self.out.budget
        if budget.full(len(self.current)) and (_FRAME.match(line) or _ADDRESS_ONLY.fullmatch(stripped)):
            budget.dropped += 1
            return False
        frame = _frame(line)
        if frame is None:
            frame = _address_only_frame(stripped)
        if frame is not None:
            budget.kept += 1
            self.current.append(frame)
            return False
        if head.startswith("Local Variables And Parameters"):
            self.out.note("locals section skipped")
            self._skip_to_second_report()
            return True
        if head.startswith(("Revision:", "*** Hardware ***", "Exception code:")):
            self.out.note(_SECOND_REPORT_NOTE)
            return True
        return False

    def _skip_to_second_report(self) -> None:
        """Scan the (possibly multi-MB) locals section only for an appended report's ``Revision:`` line.

        The substring test runs in C over every line (map/compress, no Python code per line); only the rare
        lines holding ``Revision:`` are looked at here.
        """
        lines, i = self.cursor.lines, self.cursor.index
        holding = map(operator.contains, islice(lines, i, None), repeat("Revision:"))
        for line in compress(islice(lines, i, None), holding):
            if line[:1] in ("R", " ") and line.lstrip().startswith("Revision:"):
                self.out.note(_SECOND_REPORT_NOTE)
                return

    # -- the report

    def finish(self) -> CrashReport:
        out = self.out
        if not self.blocks and not self.leading and out.exception is None and not self.revision_seen:
            raise CrashParseError(
                "not a WheatyExceptionReport: no 'Exception code:', 'Revision:' or 'Call stack:' found; "
                "pass the whole Crashes/*.txt file"
            )
        if self.leading:
            out.threads.append(thread_of(tuple(self.leading)))
        out.threads.extend(thread_of(tuple(block)) for block in self.blocks)
        # The first ``Call stack:`` block is walked from the exception context; a run of frames before any
        # ``Call stack:`` is the middle of some unknown block, so no claim is made about it.
        if not self.leading and self.blocks and self.blocks[0]:
            out.crashing_thread = 0
        out.note_budget()
        if self.last_frame_incomplete:
            out.note("truncated: the last frame line is incomplete")
        if not self.header_seen:
            out.note("no report header: stack-only excerpt")
        if self.build_line and out.build.date is None:
            out.build = replace(out.build, date=self.build_line)
        if self.assertion_lines:
            out.assertion = parse_assertion(self.assertion_lines)
        uncaught = out.extra.get("uncaught_exception")
        if uncaught and out.exception is not None:  # what() of the E06D7363 exception: a message to find
            out.exception = replace(out.exception, what=uncaught)
        out.environment = Environment(
            os=self.os,
            cpu=self.cpu,
            cpu_count=self.cpu_count,
            memory_kb=self.memory_kb,
            crashed_at=self.crashed_at,
        )
        return out.report()


_HeaderReader = Callable[[_Reader, str, str], None]
# The header's keyed lines (what :data:`_HEADER_KEY` matches) and their readers; ``Call stack:`` ends the
# header and is read by :meth:`_Reader._read_stacks`.
_HEADER_READERS: dict[str, _HeaderReader] = {
    "Revision:": _Reader._revision,
    "Build:": _Reader._build_line,
    "Date": _Reader._date,
    "Crash date": _Reader._date,
    "Processor:": _Reader._processor,
    "Number Of Processors:": _Reader._processor_count,
    "Physical Memory:": _Reader._memory,
    "*** Operation System": _Reader._operating_system,
    "Exception code:": _Reader._exception_code,
    "Assertion message:": _Reader._assertion_message,
    "Fault address:": _Reader._fault_address,
    "Uncaught C++ exception info:": _Reader._uncaught_exception,
    "Local Variables And Parameters": _Reader._locals,
}


def _symbol_handler_error(stripped: str) -> bool:
    return "SYMBOL HANDLER ERROR" in stripped or "Couldn't initialize the symbol handler" in stripped


def _is_frame_start(line: str) -> bool:
    match = _FRAME.match(line)
    if match is None:
        return False
    rest = line[match.end() :]
    return "+0x" not in rest and not _CDB_ARGS.match(rest)


def _last_nonblank(lines: Sequence[str], start: int) -> str:
    """The last line from ``start`` on that is not blank, stripped ("" when there is none)."""
    for k in range(len(lines) - 1, start - 1, -1):
        stripped = lines[k].strip()
        if stripped:
            return stripped
    return ""


def _looks_cut(line: str) -> bool:
    """Whether the report's last line is a frame (or column header) that the copy cut short."""
    if not line:
        return False
    match = _FRAME.match(line)
    if match is None:
        return bool(_LONE_HEX.fullmatch(line) or _ADDRESS_ONLY.fullmatch(line)) or line in _ADDRESS_HEADER
    rest = line[match.end() :].strip()
    if rest.startswith("[inline]"):
        rest = rest[len("[inline]") :].strip()
    if not rest:
        return True
    if _LOGICAL.match(rest):
        return False
    _, displacement, source = _split_symbol(rest)
    # Wheaty always ends a source with `` line N``; anything else was cut off.
    return displacement is None or (source is not None and _split_source(source)[1] is None)


def _frame(line: str) -> Frame | None:
    """One ``PC  FP  symbol+disp  path line N`` or ``PC  FP  ssss:offset module`` line, else None."""
    match = _FRAME.match(line)
    if match is None:
        return None
    rest = line[match.end() :].strip()
    if "+0x" in rest or _CDB_ARGS.match(rest):
        return None
    address = "0x" + match.group("pc").lower()
    raw = line.strip()
    if not rest:
        return Frame(address=address, raw=raw)
    inline = rest.startswith("[inline]")
    if inline:
        rest = rest[len("[inline]") :].lstrip()
    logical = _LOGICAL.match(rest)
    if logical is not None:
        path = rest[logical.end() :].strip()
        return Frame(
            module=_basename(path),
            offset=f"{logical.group('section')}:{logical.group('offset')}".lower(),
            address=address,
            inline=inline,
            raw=raw,
        )
    symbol, displacement, source = _split_symbol(rest)
    file, line_no = _split_source(source) if source else (None, None)
    return Frame(
        function=readable_name(symbol) if symbol else None,
        file=file,
        line=line_no,
        offset=f"0x{displacement.lower()}" if displacement else None,
        address=address,
        inline=inline,
        raw=raw,
    )


def _site(match: re.Match[str], strings: dict[str, str], modules: dict[str, str | None]) -> _Site:
    """The fields of a :data:`_FAST_SITE` match; texts seen before come from ``strings`` and ``modules``
    (module path -> its file name)."""
    inline, section, logical, module_path, symbol, disp, path, number = match.groups()
    if symbol is None:
        offset = f"{section}:{logical}".lower()
        module: str | None = None
        if module_path is not None:
            if module_path not in modules:
                modules[module_path] = _basename(module_path)
            module = modules[module_path]
        return (None, module, None, None, strings.setdefault(offset, offset), inline is not None)
    function = readable_name(symbol) if symbol[0] == "?" else symbol
    offset = "0x" + disp.lower()
    return (
        strings.setdefault(function, function),
        None,
        strings.setdefault(path, path) if path is not None else None,
        int(number) if number is not None else None,
        strings.setdefault(offset, offset),
        inline is not None,
    )


def _address_only_frame(stripped: str) -> Frame | None:
    """A frame line cut down to its program counter (a copy that stopped mid-line): kept as an
    address-only frame, because that address can still be the fault address that names the crashing
    thread."""
    match = _ADDRESS_ONLY.fullmatch(stripped)
    if match is None:
        return None
    return Frame(address="0x" + match.group("pc").lower(), raw=stripped)


def _split_symbol(rest: str) -> tuple[str, str | None, str | None]:
    """``symbol+HEX[  source]`` -> (symbol, HEX, source); the displacement is the LAST ``+HEX``.

    Names carry spaces, commas, ``<>``, ``()``, backticks and ``+`` (``operator+``) but never two spaces
    in a row, so the symbol ends at the first ``+HEX`` followed by the two spaces that introduce the
    source. When a copy collapsed whitespace, the source starts at the last ``+HEX `` followed by a path.
    Every search here is a single linear scan (the text is untrusted and may be megabytes long).
    """
    with_source = _DISPLACEMENT_THEN_SOURCE.search(rest)
    if with_source is not None:
        return (
            rest[: with_source.start()],
            with_source.group("disp"),
            rest[with_source.end() :].strip() or None,
        )
    at_end = _DISPLACEMENT_AT_END.search(rest)
    if at_end is not None:
        return rest[: at_end.start()], at_end.group("disp"), None
    last = None
    for last in _DISPLACEMENT_THEN_PATH.finditer(rest):  # noqa: B007 - only the last match is wanted
        pass
    if last is not None:
        return rest[: last.start()], last.group("disp"), rest[last.end() :].strip() or None
    return rest, None, None


def _split_source(source: str) -> tuple[str | None, int | None]:
    """``path line N`` -> (path, N); a cut-off ``path line`` or ``path`` keeps the path."""
    path, sep, number = source.rpartition(" line ")
    if sep and number.strip().isdecimal():
        return path.strip() or None, int(number.strip())
    if source.endswith(" line"):
        return source[: -len(" line")].strip() or None, None
    return source.strip() or None, None


def _basename(path: str) -> str | None:
    name = path.replace("/", "\\").rsplit("\\", 1)[-1].strip()
    return name or None


def _exception(line: str) -> ExceptionInfo | None:
    match = _EXCEPTION.match(line)
    if match is None:
        return None
    name = match.group("name").strip()
    return ExceptionInfo(code=match.group("code").upper(), name=name or None)


def _with_fault_address(exception: ExceptionInfo | None, line: str) -> ExceptionInfo | None:
    match = _FAULT.match(line)
    if match is None:
        return exception
    module = _basename(match.group("module"))
    fault = ExceptionInfo(
        code=exception.code if exception else "",
        name=exception.name if exception else None,
        address="0x" + match.group("address").lower(),
        module=module,
        # Without a module the section:offset pair is uninitialised memory (``CCCCCCCC:CCCC…``).
        module_offset=f"{match.group('section')}:{match.group('offset')}".lower() if module else None,
    )
    return fault if exception is not None else None


def _crash_date(line: str) -> str | None:
    """``Date 3:10:2022. Time 19:56`` (day first, unpadded) -> ``2022-10-03T19:56``."""
    match = _DATE.match(line)
    if match is None:
        return None
    day, month, year = int(match.group("d")), int(match.group("m")), int(match.group("y"))
    hour, minute = int(match.group("H")), int(match.group("M"))
    if year < 100:
        year += 2000
    if not (1 <= day <= 31 and 1 <= month <= 12 and hour < 24 and minute < 60):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"


def build_from_revision(text: str) -> Build:
    """Split a ``GitRevision::GetFullVersion()`` line into a Build.

    Handles ``TrinityCore rev. e9bcae1fada6 2018-12-09 16:07:38 +0100 (master branch) (Win64, Release,
    Static)``, the dirty forms ``hash+`` and ``hash +``, the 2012 form with the hash in parentheses,
    ``unknown`` (revision None), fork product names, ``Hash: …`` labels and cmangos' bare 40-hex hash.
    """
    text = text[:_FIELD_CHARS].strip()
    if not text:
        return Build()
    revision: str | None = None
    dirty = False
    label = _HASH_LABEL.search(text)
    found = label or _HASH.search(text)
    if found is not None:
        revision = found.group("hash").lower()
        dirty = bool(found.group("dirty"))
    product_match = _PRODUCT.match(text)
    product = product_match.group("product").strip() if product_match else None
    date_match = _REV_DATE.search(text)
    branch: str | None = None
    platform: str | None = None
    configuration: str | None = None
    for found_group in _PARENS.findall(text):
        group = found_group.strip()
        if group.endswith(" branch"):
            branch = group[: -len(" branch")].strip() or None
            continue
        parts = [p.strip() for p in group.split(",") if p.strip()]
        if len(parts) < 2:
            continue
        config_index = next((k for k, p in enumerate(parts) if p in _CONFIGURATIONS), None)
        if config_index is None:
            continue
        configuration = parts[config_index]
        platform = ", ".join(parts[:config_index]) or None
    return Build(
        revision=revision,
        dirty=dirty,
        product=product,
        branch=branch,
        platform=platform,
        configuration=configuration,
        date=date_match.group(0) if date_match else None,
        raw=text,
    )
