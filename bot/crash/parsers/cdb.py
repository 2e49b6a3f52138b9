"""WinDbg/cdb ``!analyze -v`` output (old and new style) and pasted ``k``/``STACK_TEXT`` stacks.

The analysis prints ``KEY:  value`` fields at column 0 (``FAULTING_THREAD``, ``EXCEPTION_CODE_STR``,
bucket ids, ``FILE_IN_CAB``), a few multi-line blocks (``STACK_TEXT``, ``FAULTING_IP``/``FOLLOWUP_IP``,
``KEY_VALUES_STRING``, ``EXCEPTION_RECORD``) and, after ``lmvm``, module details. The faulting thread's
stack comes from ``STACK_TEXT`` (``Child-SP RetAddr : Args to Child : Call Site``); when only an IP field
survived an excerpt, that IP becomes a single frame.

A stack may also be the call-site column alone, as ``kc`` and tools built on dbgeng print it, one frame
a line (``mangosd!Spell::CheckCast+0xf2d [d:\\src\\spell.cpp @ 4860]``): a run of two or more such lines
is a stack (one alone is a mention, not a stack). An ``Exception #:  0XC0000005`` line above it (the
``DetailID``/``Stack:`` summary of cmangos/issues#2124) gives the exception code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice

from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.model import Build, CrashReport, ExceptionInfo, Format, Frame, Thread
from bot.crash.msvc import readable_name
from bot.crash.parsers.reader import Cursor, ReportBuilder, blank_from

__all__ = ["build_from_dump_name", "parse", "sniff"]

SNIFF_LINES = 400
_FIELD_CHARS = 1000
# Stack lines carry long template names; anything longer than this is not a real line.
_LINE_CHARS = 16384

_FIELD = re.compile(r"(?P<key>[A-Z][A-Z0-9_]{2,}):(?:[ \t]+(?P<value>.*))?$")
# A 64-bit cdb value ``000000f6`adbff760`` or a 32-bit one; ``--------`--------`` for inline frames.
_VALUE = re.compile(r"(?:[0-9a-fA-F]{8}`[0-9a-fA-F]{8}|[0-9a-fA-F]{8}|[0-9a-fA-F]{16}|-{8}`-{8}|-{8})")
_BACKTICK_VALUE = re.compile(r"[ \t]*(?:[0-9a-fA-F]{2}[ \t]+)?[0-9a-fA-F]{8}`[0-9a-fA-F]{8}[ \t]")
_FRAME_NUMBER = re.compile(r"[0-9a-fA-F]{2}")
_MODULE = re.compile(r"[A-Za-z0-9_.$\-]{1,128}")
_MODULE_OFFSET = re.compile(r"(?P<module>[A-Za-z0-9_.$\-]{1,128})\+(?:0x)?(?P<offset>[0-9a-fA-F]{1,16})")
_ADDRESS = re.compile(r"(?:0x)?(?P<hex>[0-9a-fA-F]{1,8}(?:`?[0-9a-fA-F]{8})?)")
_CODE = re.compile(r"(?:0x)?(?P<code>[0-9a-fA-F]{8})\b")
# The debugger's event line: ``(1a2c.6b0): Access violation - code c0000005 (first chance)``.
_EVENT = re.compile(
    r"\([0-9a-fA-F]+\.[0-9a-fA-F]+\):[ \t]*(?P<name>[^()\-]{1,80}?)"
    r"[ \t]+-[ \t]+code[ \t]+(?P<code>[0-9a-fA-F]{8})"
)
_DUMP_NAME = re.compile(
    r"(?:^|[\\/ \[])(?P<hash>[0-9a-fA-F]{12}|unknown)(?P<dirty>[+.])?_(?P<exe>[^\\/\[\]]{1,100}?\.exe)_[\[.]"
)
_LM_ROW = re.compile(r"[0-9a-fA-F`]{8,17}[ \t]+[0-9a-fA-F`]{8,17}[ \t]+(?P<module>[A-Za-z0-9_.$\-]+)")
_KEY = re.compile(r"[ \t]+Key[ \t]*:[ \t]*(?P<key>.+)")
# A call site alone on its line, its ``[path @ line]`` cut off (``_cut_source``) or removed first:
# ``module!Function+0xOFF``. One greedy run then a bounded tail: linear on any line.
_CALL_SITE = re.compile(r"[A-Za-z0-9_.$\-]{1,128}![^\s\[\]](?:[^\[\]]|\[\])*\+0x[0-9a-fA-F]{1,16}")
_SOURCE_COLUMN = re.compile(r" \[[^\[\]]+ @ \d{1,7}\]")
# How many call-site lines in a row make a stack (one is a function named in prose).
MIN_RUN = 2
_CUT_SOURCE_NOTE = "truncated: the text ends inside the last stack line: its source path is cut off"
_VALUE_LINE = re.compile(r"[ \t]+Value[ \t]*:[ \t]*(?P<value>.*)")

# Analysis fields worth keeping on the report (bucket ids identify a crash class across dumps).
_KEPT_FIELDS = frozenset(
    {
        "DEFAULT_BUCKET_ID",
        "FAILURE_BUCKET_ID",
        "BUCKET_ID",
        "PRIMARY_PROBLEM_CLASS",
        "BUGCHECK_STR",
        "PROCESS_NAME",
        "IMAGE_NAME",
        "MODULE_NAME",
        "SYMBOL_NAME",
        "FAULTING_THREAD",
        "FAILURE_ID_HASH",
        "FAILURE_ID_HASH_STRING",
        "FAULTING_SOURCE_FILE",
        "FAULTING_SOURCE_LINE_NUMBER",
        "FAULTING_SOURCE_LINE",
        "FILE_IN_CAB",
        "STACK_COMMAND",
        "FOLLOWUP_NAME",
        "EXCEPTION_CODE_STR",
        "EXCEPTION_CODE",
        "ERROR_CODE",
        "OSPLATFORM_TYPE",
        "OSNAME",
        "IMAGE_VERSION",
        "READ_ADDRESS",
        "WRITE_ADDRESS",
        "FAULTING_IP",
        "FOLLOWUP_IP",
    }
)
# Blocks whose first following line is the value (the label line itself is empty).
_IP_FIELDS = ("FAULTING_IP", "FOLLOWUP_IP")


def sniff(lines: Sequence[str]) -> int:
    """Confidence 0..100 that ``lines`` are cdb/WinDbg output (``!analyze -v`` or a stack listing)."""
    score = 0
    stack_lines = 0
    run = 0
    for raw in islice(lines, SNIFF_LINES):
        line = raw[:_FIELD_CHARS]
        stripped = line.strip()
        if not stripped:
            continue
        marker = _marker_score(stripped)
        if marker:
            score += marker
        elif (
            stack_lines < 6
            and "`" in line
            and _BACKTICK_VALUE.match(line)
            and ("!" in stripped or "+0x" in stripped)
        ):
            stack_lines += 1
            score += 20
        # ``kc``'s call-site column: a run of them is a stack (the line may be cut at _FIELD_CHARS)
        run = run + 1 if "+0x" in stripped and bare_call_site(stripped, cut=True) else 0
        if run == MIN_RUN:
            score += 60
        if score >= 100:
            return 100
    return min(score, 100)


def _marker_score(stripped: str) -> int:
    """What one line of ``!analyze -v`` or a ``k`` header says for cdb (0: not one of its markers)."""
    if stripped.startswith(("STACK_TEXT:", "FAULTING_THREAD:", "FAILURE_BUCKET_ID:", "KEY_VALUES_STRING:")):
        return 40
    if stripped.startswith(
        ("DEFAULT_BUCKET_ID:", "PRIMARY_PROBLEM_CLASS:", "FOLLOWUP_IP:", "FAULTING_IP:", "BUCKET_ID:")
    ):
        return 30
    if stripped.startswith(("EXCEPTION_CODE", "FILE_IN_CAB:", "STACK_COMMAND:", "SYMBOL_NAME:")):
        return 20
    if "Exception Analysis" in stripped or "!analyze -v" in stripped:
        return 30
    if stripped.startswith(("Child-SP", "ChildEBP", "# Child-SP", "# ChildEBP")):
        return 40
    return 0


def parse(lines: Sequence[str]) -> CrashReport:
    """Read cdb output; raise CrashParseError when it holds no analysis field and no stack."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()


# A stack listing: ``STACK_TEXT:`` of ``!analyze -v`` or the column header of a ``k`` command.
_STACK_SECTIONS = ("STACK_TEXT", "STACK")
_K_HEADERS = ("Child-SP", "ChildEBP", "# Child-SP", "# ChildEBP")


@dataclass
class _Record:
    """The exception as the debugger's own lines tell it (event line, ``.exr``, dump file name)."""

    code: str | None = None
    name: str | None = None
    address: str | None = None
    site: Frame | None = None
    dump_name: str | None = None


@dataclass
class _Stack:
    """One listed stack: where it came from (``STACK_TEXT``, ``k`` or a pasted ``excerpt``) and its
    frames; ``return_address`` is the last line's RetAddr, the program counter of the next frame."""

    origin: str
    frames: list[Frame] = field(default_factory=list)
    return_address: str | None = None


class _Reader:
    """One pass over cdb output: each line goes to the reader of the section it is in (the last
    ``KEY:`` field seen, see :data:`_SECTION_READERS`), else to the stack or exception-record readers."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.CDB)
        self.fields = self.out.extra  # analysis fields worth keeping: the report's ``extra``
        self.key_values: dict[str, str] = {}
        self.stacks: list[_Stack] = []
        self.images: dict[str, str] = {}
        self.ip_symbols: dict[str, str] = {}
        self.record = _Record()
        self.section: str | None = None
        self.current: _Stack | None = None
        self.pending_key: str | None = None
        self.lm_module: str | None = None
        self.run: list[Frame] = []  # call-site lines in a row, a stack once there are MIN_RUN of them
        self.run_cut = False

    # -- the pass

    def read(self) -> None:
        for raw in self.cursor:
            line = raw[:_LINE_CHARS]
            stripped = line.strip()
            if not stripped:
                if self.section == "STACK_TEXT" and self.current is not None and self.current.frames:
                    self.section = None
                    self.current = None
                continue
            if self.section in _STACK_SECTIONS and stripped.startswith("WARNING:"):
                continue
            if self._taken(line, stripped):
                self._end_run()
            elif not self._run_line(stripped):
                self._end_run()
                self._record_line(line, stripped)
        self._end_run()

    def _taken(self, line: str, stripped: str) -> bool:
        """A field, a line of a section with its own reader, a ``k`` header or a columned stack line."""
        field_match = _FIELD.match(line)
        if field_match is not None:
            self._field(field_match.group("key"), (field_match.group("value") or "").strip())
            return True
        section_reader = _SECTION_READERS.get(self.section or "")
        if section_reader is not None and section_reader(self, line, stripped):
            return True
        if stripped.startswith(_K_HEADERS):
            self.section = "STACK"
            self.current = self._open_stack("k")
            return True
        return self._stack_line(line, stripped)

    def _run_line(self, stripped: str) -> bool:
        """A call site alone on its line (``kc``'s form): one more frame of the current run."""
        if "!" not in stripped or "+0x" not in stripped:  # not a call site: no pattern needs to say so
            return False
        cut = _cut_source(stripped) and blank_from(self.cursor.lines, self.cursor.index)
        frame = bare_call_site(stripped, cut=cut)
        if frame is None:
            return False
        if len(self.run) < MAX_THREAD_FRAMES:
            self.run.append(frame)
        else:
            self.out.budget.dropped += 1
        self.run_cut = cut
        return True

    def _end_run(self) -> None:
        """A run of :data:`MIN_RUN` or more call-site lines is a stack; a shorter one is a mention."""
        run, self.run = self.run, []
        if len(run) < MIN_RUN:
            return
        stack = self._open_stack("call-sites")
        budget = self.out.budget
        for frame in run:
            if budget.admits(len(stack.frames)):
                stack.frames.append(frame)
        if self.run_cut:
            self.out.note(_CUT_SOURCE_NOTE)

    def _field(self, key: str, value: str) -> None:
        """A ``KEY:  value`` line: kept when worth it, and it opens the section named KEY."""
        self.section = key
        self.current = self._open_stack("STACK_TEXT") if key == "STACK_TEXT" else None
        if key in _KEPT_FIELDS and value:
            self.fields.setdefault(key, value)

    def _open_stack(self, origin: str) -> _Stack:
        stack = _Stack(origin)
        self.stacks.append(stack)
        return stack

    def _ip(self, line: str, stripped: str) -> bool:
        """The line under ``FAULTING_IP:``/``FOLLOWUP_IP:`` (its symbol), which ends the section."""
        section = self.section or ""
        self.ip_symbols.setdefault(section, stripped)
        self.fields.setdefault(section, stripped)
        self.section = None
        return True

    def _key_value(self, line: str, stripped: str) -> bool:
        """``Key  : X`` then ``Value: Y`` pairs of ``KEY_VALUES_STRING``; False for any other line."""
        key_match = _KEY.match(line)
        if key_match is not None:
            self.pending_key = key_match.group("key").strip()
            return True
        value_match = _VALUE_LINE.match(line)
        if value_match is not None and self.pending_key is not None:
            self.key_values[self.pending_key] = value_match.group("value").strip()
            self.pending_key = None
            return True
        return False

    def _stack_line(self, line: str, stripped: str) -> bool:
        """A frame line of a stack section, or a stray one of a pasted excerpt; False when not a frame."""
        in_stack = self.section in _STACK_SECTIONS
        budget = self.out.budget
        if in_stack and self.current is not None and budget.full(len(self.current.frames)):
            budget.dropped += 1  # past the frame limits: counted, not parsed
            return True
        if not (in_stack or _BACKTICK_VALUE.match(line)):
            return False
        parsed = _stack_frame(stripped)
        if parsed is None:
            return False
        stack = self.current
        if stack is None:
            stack = self.current = self._open_stack("excerpt")
        frame, ret = parsed
        if not stack.frames:
            stack.return_address = None
        if stack.return_address is not None:
            frame = replace(frame, address=stack.return_address)
        if ret is not None:
            stack.return_address = ret
        if budget.admits(len(stack.frames)):
            stack.frames.append(frame)
        if _cut_source(stripped) and blank_from(self.cursor.lines, self.cursor.index):
            self.out.note(_CUT_SOURCE_NOTE)
        return True

    def _record_line(self, line: str, stripped: str) -> None:
        """Lines outside the analysis sections: the exception record, the event, the dump, ``lmvm``."""
        record = self.record
        if stripped.startswith("Exception #:"):  # ``Exception #:  0XC0000005`` above a ``Stack:`` listing
            record.code = record.code or _code(stripped[len("Exception #:") :])
        elif stripped.startswith("ExceptionCode:"):
            record.code = record.code or _code(stripped)
            name = stripped.partition("(")[2].rpartition(")")[0].strip()
            record.name = record.name or name or None
        elif stripped.startswith("ExceptionAddress:"):
            value = stripped[len("ExceptionAddress:") :].strip()
            address = _ADDRESS.match(value)
            if address is not None:
                record.address = _normalise_address(address.group("hex"))
            symbol = value.partition("(")[2].rpartition(")")[0].strip()
            record.site = call_site_frame(symbol, raw=symbol) if symbol else None
        elif stripped.startswith("(") and "code" in stripped:
            event = _EVENT.match(stripped)
            if event is not None:
                record.code = record.code or event.group("code").upper()
                record.name = record.name or event.group("name").strip()
        elif "Dump File" in stripped and record.dump_name is None:
            record.dump_name = stripped
        else:
            self._module_line(line, stripped)

    def _module_line(self, line: str, stripped: str) -> None:
        """``lmvm``: a module row, then its ``Image name:`` (the file name cdb's frames leave out)."""
        lm_row = _LM_ROW.match(line)
        if lm_row is not None:
            self.lm_module = lm_row.group("module")
        elif self.lm_module and stripped.startswith("Image name:"):
            self.images[self.lm_module.lower()] = stripped.partition(":")[2].strip()
            self.lm_module = None

    # -- the report

    def finish(self) -> CrashReport:
        fields, out = self.fields, self.out
        for key, value in self.key_values.items():
            fields.setdefault(key, value)
        inferred = self._infer_code()
        module_name, image_name = fields.get("MODULE_NAME"), fields.get("IMAGE_NAME")
        if module_name and image_name and " " not in image_name:
            self.images.setdefault(module_name.lower(), image_name)
        stacks = [(stack.origin, stack.frames) for stack in self.stacks]
        threads, notes = _threads(stacks, self.ip_symbols, self.images, fields)
        out.notes += notes
        if inferred:
            out.note("exception code inferred from the AV.* analysis keys")
        out.note_budget()
        record = self.record
        out.exception = _exception(
            fields,
            code=record.code,
            name=record.name,
            address=record.address,
            images=self.images,
            site=record.site,
        )
        out.build = self._build()
        if not threads and out.exception is None and not fields:
            raise CrashParseError(
                "not cdb output: no STACK_TEXT, analysis fields or exception record found; "
                "paste the whole '!analyze -v' output"
            )
        out.threads = _faulting_first(threads, fields.get("FAULTING_THREAD"), out.exception)
        out.crashing_thread = 0 if threads and threads[0].frames else None
        return out.report()

    def _infer_code(self) -> bool:
        """The exception code from the analysis keys when no record gave one; True when it was inferred
        (the AV.* analysis keys are only emitted for access violations)."""
        record, key_values = self.record, self.key_values
        if record.code is None and "Failure.Exception.Code" in key_values:
            record.code = _code(key_values["Failure.Exception.Code"])
        if (
            record.code is None
            and not any(k in self.fields for k in ("EXCEPTION_CODE_STR", "EXCEPTION_CODE", "ERROR_CODE"))
            and any(k.startswith("AV.") for k in key_values)
        ):
            record.code = "C0000005"
            return True
        return False

    def _build(self) -> Build:
        build = build_from_dump_name(self.fields.get("FILE_IN_CAB") or self.record.dump_name or "")
        process = self.fields.get("PROCESS_NAME")
        if process and build.executable is None:
            build = replace(build, executable=process)
        return build


_SectionReader = Callable[[_Reader, str, str], bool]
# The sections whose lines have a reader of their own: it returns False for a line it does not take,
# which then goes on to the stack and exception-record readers.
_SECTION_READERS: dict[str, _SectionReader] = {
    "FAULTING_IP": _Reader._ip,
    "FOLLOWUP_IP": _Reader._ip,
    "KEY_VALUES_STRING": _Reader._key_value,
}


def _faulting_first(
    threads: list[Thread], faulting: str | None, exception: ExceptionInfo | None
) -> list[Thread]:
    """The faulting thread (listed first) gets FAULTING_THREAD's id, and the exception's address on its
    first frame when its stack line had none."""
    if threads and faulting:
        threads[0] = replace(threads[0], id=_thread_id(faulting))
    if threads and threads[0].frames and exception is not None and exception.address:
        first = threads[0].frames[0]
        if first.address is None:
            frames = (replace(first, address=exception.address), *threads[0].frames[1:])
            threads[0] = replace(threads[0], frames=frames)
    return threads


def _threads(
    stacks: list[tuple[str, list[Frame]]],
    ip_symbols: dict[str, str],
    images: dict[str, str],
    fields: dict[str, str],
) -> tuple[list[Thread], list[str]]:
    """STACK_TEXT first (the faulting thread), other pasted stacks after; else one frame from an IP."""
    notes: list[str] = []
    ordered = [frames for origin, frames in stacks if frames and origin == "STACK_TEXT"]
    ordered += [frames for origin, frames in stacks if frames and origin != "STACK_TEXT"]
    if not ordered:
        for key in _IP_FIELDS:
            symbol = ip_symbols.get(key)
            frame = call_site_frame(symbol, raw=symbol) if symbol else None
            if frame is not None:
                notes.append(f"no stack in the output: one frame from {key}")
                ordered = [[frame]]
                break
    threads = [Thread(frames=tuple(_with_image(f, images) for f in frames)) for frames in ordered]
    if threads:
        threads[0] = Thread(frames=_with_faulting_source(threads[0].frames, ip_symbols, fields))
    return threads, notes


def _with_image(frame: Frame, images: dict[str, str]) -> Frame:
    """cdb names modules without extension; use the image name when the output gave one."""
    if frame.module and frame.module.lower() in images:
        return replace(frame, module=images[frame.module.lower()])
    return frame


def _with_faulting_source(
    frames: tuple[Frame, ...], ip_symbols: dict[str, str], fields: dict[str, str]
) -> tuple[Frame, ...]:
    """Give the faulting frame the FAULTING_SOURCE_* location when the stack line had none."""
    source = fields.get("FAULTING_SOURCE_FILE")
    number = fields.get("FAULTING_SOURCE_LINE_NUMBER", "").strip()
    faulting_ip = ip_symbols.get("FAULTING_IP")
    if not source or not number.isdecimal() or not faulting_ip or not frames:
        return frames
    target = call_site_frame(faulting_ip, raw=faulting_ip)
    if target is None or target.function is None:
        return frames
    patched = list(frames)
    for index, frame in enumerate(patched):
        if frame.function == target.function and frame.file is None:
            patched[index] = replace(frame, file=source, line=int(number))
            break
    return tuple(patched)


def _stack_frame(line: str) -> tuple[Frame, str | None] | None:
    """One ``Child-SP RetAddr [: Args :] Call Site`` (or ``ChildEBP RetAddr Args… Call Site``) line,
    optionally numbered (``k``), with the line's return address (the next frame's program counter;
    None on inline frames, which share their caller's)."""
    if " : " in line:
        columns, _, call_site = line.rpartition(" : ")
        tokens = columns.split()
        call_site = call_site.strip()
        start = _first_column(tokens)
    else:
        tokens = line.split()
        start = _first_column(tokens)
        k = start
        while k < len(tokens) and (_VALUE.fullmatch(tokens[k]) or tokens[k] in ("(Inline", "Function)")):
            k += 1
        call_site = " ".join(tokens[k:])
        tokens = tokens[:k]
        if not call_site and len(tokens) - start >= 2:
            # Only values: the last one is the call site's bare address.
            call_site = tokens.pop()
    if len(tokens) <= start:
        return None
    first = tokens[start]
    inline = first == "(Inline"
    if not (inline or _VALUE.fullmatch(first)):
        return None
    frame = call_site_frame(call_site, raw=line)
    if frame is None:
        return None
    if inline:
        return replace(frame, inline=True), None
    ret = tokens[start + 1] if len(tokens) > start + 1 else ""
    return frame, _normalise_address(ret) if _ADDRESS.fullmatch(ret) else None


def _first_column(tokens: list[str]) -> int:
    """1 when the line starts with ``k``'s two-digit frame number, else 0."""
    numbered = len(tokens) > 1 and _FRAME_NUMBER.fullmatch(tokens[0]) is not None
    return 1 if numbered and (tokens[1] == "(Inline" or _VALUE.fullmatch(tokens[1])) else 0


def _cut_source(text: str) -> bool:
    """Whether a call site's ``[path @ line]`` was cut off (the symbol before it is whole)."""
    cut = text.rfind(" [")
    return cut > 0 and "]" not in text[cut:] and "!" in text[:cut]


def bare_call_site(text: str, *, cut: bool = False) -> Frame | None:
    """A line that is only a call site, ``module!Function+0xOFF`` with an optional ``[path @ line]``
    (cut off only when ``cut``: the text ends there) -> Frame; None for any other line."""
    site = text
    source = text.rfind(" [")
    if source > 0:
        if not (_SOURCE_COLUMN.fullmatch(text, source) or cut):
            return None
        site = text[:source]
    if _CALL_SITE.fullmatch(site) is None:
        return None
    return call_site_frame(text, raw=text)


def call_site_frame(text: str | None, *, raw: str) -> Frame | None:
    """``module!Function+0xOFF [path @ line]``, ``module+0x1a06d`` or a bare address -> Frame."""
    if not text:
        return None
    file: str | None = None
    line_no: int | None = None
    if text.endswith("]") and " [" in text:
        cut = text.rfind(" [")
        path, sep, number = text[cut + 2 : -1].rpartition(" @ ")
        if sep and number.strip().isdecimal():
            file, line_no = path.strip() or None, int(number.strip())
            text = text[:cut].rstrip()
    elif _cut_source(text):  # ``Creature::Update+0x3b1 [E:\acore\src\ga``: an excerpt ends here
        cut = text.rfind(" [")
        file = text[cut + 2 :].rpartition(" @ ")[0].strip() or text[cut + 2 :].strip() or None
        text = text[:cut].rstrip()
    # The disassembly line under FAULTING_IP/FOLLOWUP_IP is not a symbol.
    if " " in text and "!" not in text.split(" ", 1)[0]:
        head = text.split(" ", 1)[0]
        if not _MODULE_OFFSET.fullmatch(head):
            return None
        text = head
    bang = text.find("!")
    if bang > 0 and _MODULE.fullmatch(text[:bang]):
        module = text[:bang]
        symbol = text[bang + 1 :]
        # ``+0x7`` in stacks; the IP fields print ``+7`` without the prefix.
        function, plus, displacement = symbol.rpartition("+0x")
        if not (plus and _is_hex(displacement)):
            function, plus, displacement = symbol.rpartition("+")
        offset: str | None = None
        if plus and _is_hex(displacement):
            offset = "0x" + displacement.lower()
        else:
            function = symbol
        return Frame(
            function=readable_name(function.strip()) or None,
            module=module,
            file=file,
            line=line_no,
            offset=offset,
            raw=raw,
        )
    module_offset = _MODULE_OFFSET.fullmatch(text)
    if module_offset is not None and not _is_hex(module_offset.group("module")):
        return Frame(
            module=module_offset.group("module"),
            offset="0x" + module_offset.group("offset").lower().lstrip("0").rjust(1, "0"),
            raw=raw,
        )
    address = _ADDRESS.fullmatch(text)
    if address is not None:
        return Frame(address=_normalise_address(address.group("hex")), raw=raw)
    return None


def _exception(
    fields: dict[str, str],
    *,
    code: str | None,
    name: str | None,
    address: str | None,
    images: dict[str, str],
    site: Frame | None,
) -> ExceptionInfo | None:
    for key in ("EXCEPTION_CODE_STR", "EXCEPTION_CODE", "ERROR_CODE"):
        if key in fields and code is None:
            code = _code(fields[key])
    # The exception's location: the record's address symbol, else the faulting IP, else the IP the
    # analysis blames (FOLLOWUP_IP is all an excerpt such as ac-issue-818 keeps).
    ip = fields.get("FAULTING_IP") or fields.get("FOLLOWUP_IP")
    if site is None and ip:
        site = call_site_frame(ip, raw=ip)
    module = images.get(site.module.lower(), site.module) if site and site.module else None
    # ``module+0x1f1c7`` (no symbol): the module-relative offset, spelled like the frames' offsets.
    module_offset = site.offset if site is not None and site.function is None else None
    if code is None:
        if module_offset is None:
            return None
        # No exception record survived, but where it stopped did: with an empty code (signed UNKNOWN) the
        # location still identifies the crash when no frame of it is meaningful.
        return ExceptionInfo(code="", address=address, module=module, module_offset=module_offset)
    if name is None:
        described = fields.get("EXCEPTION_CODE") or fields.get("ERROR_CODE") or ""
        text = described.partition(" - ")[2].strip()
        if text and "%" not in text:
            name = text
    return ExceptionInfo(code=code, name=name, address=address, module=module, module_offset=module_offset)


def _code(text: str) -> str | None:
    match = _CODE.search(text[:200])
    return match.group("code").upper() if match else None


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _normalise_address(text: str) -> str:
    digits = text.replace("`", "").lower()
    width = 16 if len(digits) > 8 else 8
    return "0x" + digits.rjust(width, "0")


def _thread_id(text: str) -> str:
    token = text.split(maxsplit=1)[0] if text.strip() else text
    return hex(int(token, 16)) if _is_hex(token) else token


def build_from_dump_name(name: str) -> Build:
    """Revision, dirty flag and executable from a crash dump's name.

    ``d467f5de833e+_worldserver.exe_[23-12_12-17-33].dmp`` -> revision ``d467f5de833e``, dirty,
    ``worldserver.exe``; GitHub's renamed upload form (``084da48ba15a._Piratecraft_worldserver.exe_.2-6…``)
    and ``unknown_…`` (revision None) too. An unrecognised name gives an empty Build.
    """
    match = _DUMP_NAME.search(name[:_FIELD_CHARS])
    if match is None:
        return Build()
    revision = match.group("hash").lower()
    return Build(
        revision=None if revision == "unknown" else revision,
        dirty=bool(match.group("dirty")) and revision != "unknown",
        executable=match.group("exe"),
        raw=name.strip() or None,
    )
