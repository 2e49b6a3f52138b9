"""A copy of Visual Studio's Call Stack window (often pasted with the assert text and the exception line).

Each row is ``[>]\\t<module>!<function>(<args>) Line <n>\\t<language>``; ``>`` marks the current frame,
``[Inline Frame]`` prefixes inlined ones, ``[External Code]`` stands for hidden frames, and frames without
symbols show ``<module>!<address>()``. Copies through chat or markdown turn the tabs into spaces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import islice

from bot.crash.assertion import parse_assertion
from bot.crash.errors import CrashParseError
from bot.crash.model import Build, CrashReport, ExceptionInfo, Format, Frame, Thread
from bot.crash.msvc import readable_name, strip_arguments
from bot.crash.parsers.reader import Cursor, ReportBuilder

__all__ = ["parse", "sniff"]

SNIFF_LINES = 400
_LINE_CHARS = 16384

# Languages VS shows in the second column for native debugging.
_LANGUAGE = re.compile(r"(?:\t|[ \t]{1,8})(?P<lang>C\+\+|C|Unknown|Native|Assembly|Mixed|C#|Managed)[ \t]*$")
_LINE_NUMBER = re.compile(
    r"[ \t]Line[ \t]+(?P<line>\d+)(?:[ \t]*\+[ \t]*0x(?P<disp>[0-9a-fA-F]+)[ \t]+bytes)?[ \t]*$"
)
_BYTES = re.compile(r"[ \t]*\+[ \t]*0x(?P<disp>[0-9a-fA-F]+)[ \t]+bytes[ \t]*$")
_MODULE = re.compile(
    r"(?P<module>[^!:()<>\t\[\]`'\"]{1,128}?\.(?:exe|dll|sys|drv|ocx|so(?:\.[0-9.]+)?))!", re.IGNORECASE
)
_ADDRESS_ONLY = re.compile(r"(?:0x)?(?P<hex>[0-9a-fA-F]{8,16})(?:\(\))?")
_EXCEPTION = re.compile(
    r"(?P<kind>Exception thrown|Unhandled exception) at 0x(?P<address>[0-9a-fA-F]{1,16})"
    r"(?:[ \t]+\((?P<module>[^()]{1,128})\))?[ \t]+in[ \t]+(?P<exe>[^:]{1,128}?):[ \t]*(?P<rest>.*)"
)
_CODE = re.compile(r"0x(?P<code>[0-9a-fA-F]{8}):[ \t]*(?P<name>.*)")
_TRAILING_ADDRESS = re.compile(r"[ \t]0x[0-9a-fA-F]{1,16}\.?$")


def sniff(lines: Sequence[str]) -> int:
    """Confidence 0..100 that ``lines`` contain a Visual Studio call stack copy."""
    score = 0
    rows = 0
    for raw in islice(lines, SNIFF_LINES):
        line = raw[:_LINE_CHARS]
        stripped = line.strip()
        if not stripped:
            continue
        if stripped in ("[External Code]", "> [External Code]") or stripped.startswith(
            ("[Inline Frame]", "Exception thrown at 0x", "Unhandled exception at 0x")
        ):
            score += 30
        elif rows < 6 and _row_parts(line) is not None:
            rows += 1
            score += 25
        if score >= 100:
            return 100
    return min(score, 100)


def parse(lines: Sequence[str]) -> CrashReport:
    """Read a VS call stack copy; raise CrashParseError when no call stack row is present."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()


class _Reader:
    """One pass over the copy: the preamble (the assert text and the exception line pasted above the
    rows) until the first row, then the rows (:meth:`_line`)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.VS_CALLSTACK)
        self.frames: list[Frame] = []
        self.current_seen = False
        self.preamble: list[str] = []
        self.executable: str | None = None
        self.external = 0  # ``[External Code]`` rows
        self.cut_row = False  # whether the last line read looks like a row cut short
        self.cut_body = ""  # that row's text

    def read(self) -> None:
        for raw in self.cursor:
            line = raw[:_LINE_CHARS]
            stripped = line.strip()
            if not stripped:
                if not self.frames:
                    self.preamble.append("")
                continue
            if self._line(line, stripped):
                return

    def _line(self, line: str, stripped: str) -> bool:
        """One non-blank line: a row, an annotation, or preamble text; True when reading stops here."""
        marker = stripped.startswith(">")
        body = stripped[1:].strip() if marker else stripped
        if body.startswith("[External Code]"):
            self.external += 1
            return False
        if body.startswith("[") and not body.startswith("[Inline Frame]"):
            # ``[Frames below may be incorrect and/or missing…]`` and similar annotations.
            return False
        frame = _frame(line)
        if frame is not None:
            return self._row(frame, marker=marker)
        self.cut_row = bool(self.frames) and _MODULE.match(body) is not None
        self.cut_body = body if self.cut_row else ""
        if not self.frames:
            self._preamble(line, stripped)
        return False

    def _row(self, frame: Frame, *, marker: bool) -> bool:
        budget = self.out.budget
        self.cut_row = False
        if budget.full(len(self.frames)):
            # One thread only, and nothing after the rows is read (the preamble and the exception
            # come before them): stop instead of parsing rows that would all be dropped.
            self.out.note(
                f"truncated: the call stack goes on past {len(self.frames)} rows; the rest was not read"
            )
            return True
        budget.kept += 1
        self.frames.append(frame)
        self.current_seen = self.current_seen or marker
        return False

    def _preamble(self, line: str, stripped: str) -> None:
        # Markdown/HTML wrappers of an issue paste (``<details>``, ``<summary>…</summary>``).
        if not (stripped.startswith("<") and stripped.endswith(">")):
            self.preamble.append(line)
        if self.out.exception is None and stripped.startswith(
            ("Exception thrown at", "Unhandled exception at")
        ):
            self.out.exception, self.executable = _exception(stripped)

    def finish(self) -> CrashReport:
        out = self.out
        if not self.frames:
            raise CrashParseError(
                "no Visual Studio call stack rows found (expected 'module!Function(args) Line N<TAB>C++'); "
                "copy the whole Call Stack window"
            )
        if self.external:
            out.notes.insert(0, f"{self.external} [External Code] block(s) hidden by the debugger")
        if self.cut_row:
            cut = _cut_frame(self.cut_body)
            if cut is not None and out.budget.admits(len(self.frames)):
                self.frames.append(cut)
                out.note("truncated: the last call stack row is incomplete; its function is kept")
            else:
                out.note("truncated: the last call stack row is incomplete")
        out.threads = [Thread(frames=tuple(self.frames), current=self.current_seen)]
        out.assertion = parse_assertion(self.preamble)
        out.build = Build(executable=self.executable)
        out.crashing_thread = 0
        return out.report()


def _row_parts(line: str) -> tuple[str, str | None, int | None, str | None, bool] | None:
    """Split a row into (function text, module, line, displacement, inline); None if not a row."""
    if "!" not in line and "Line" not in line:
        return None  # a row needs two of module!, ``Line N`` and the language column: one of the first two
    text = line.strip()
    if text.startswith(">"):
        text = text[1:].strip()
    inline = text.startswith("[Inline Frame]")
    if inline:
        text = text[len("[Inline Frame]") :].strip()
    language = _LANGUAGE.search(text)
    has_language = language is not None
    if language is not None:
        text = text[: language.start()].rstrip()
    line_no: int | None = None
    displacement: str | None = None
    number = _LINE_NUMBER.search(text)
    if number is not None:
        line_no = int(number.group("line"))
        displacement = number.group("disp")
        text = text[: number.start()].rstrip()
    else:
        bytes_match = _BYTES.search(text)
        if bytes_match is not None:
            displacement = bytes_match.group("disp")
            text = text[: bytes_match.start()].rstrip()
    module_match = _MODULE.match(text)
    module = module_match.group("module") if module_match else None
    if module_match is not None:
        text = text[module_match.end() :]
    # A row needs at least two of: module prefix, ``Line N``, the language column.
    if sum((module is not None, line_no is not None, has_language)) < 2 or not text:
        return None
    return text, module, line_no, displacement, inline


def _cut_frame(body: str) -> Frame | None:
    """The frame of a row the copy cut short (``worldserver.exe!Map::Update(const unsigned int t_diff, co``)
    when its function name is whole (its argument list has begun); None when the name itself is cut."""
    module_match = _MODULE.match(body)
    if module_match is None:
        return None
    text = body[module_match.end() :]
    depth = 0
    for index, ch in enumerate(text[:_LINE_CHARS]):
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif ch == "(" and depth == 0 and index > 0:
            name = readable_name(text[:index].strip()) or None
            if name is None or _ADDRESS_ONLY.fullmatch(name):
                return None
            return Frame(function=name, module=module_match.group("module"), raw=body)
    return None


def _frame(line: str) -> Frame | None:
    parts = _row_parts(line)
    if parts is None:
        return None
    text, module, line_no, displacement, inline = parts
    address: str | None = None
    function: str | None
    unsymbolised = _ADDRESS_ONLY.fullmatch(text)
    if unsymbolised is not None:
        function = None
        address = "0x" + unsymbolised.group("hex").lower().rjust(16, "0")
    else:
        function = readable_name(strip_arguments(text)) or None
    return Frame(
        function=function,
        module=module,
        line=line_no,
        offset=f"0x{displacement.lower()}" if displacement else None,
        address=address,
        inline=inline,
        raw=line.strip(),
    )


def _exception(line: str) -> tuple[ExceptionInfo | None, str | None]:
    """``Exception thrown at 0x… (KernelBase.dll) in worldserver.exe: 0xC0000420: Assertion Failure (…).``"""
    match = _EXCEPTION.match(line)
    if match is None:
        return None, None
    executable = match.group("exe").strip() or None
    code_match = _CODE.match(match.group("rest"))
    if code_match is None:
        return None, executable
    name = code_match.group("name").strip()[:300]
    # Drop the run-specific tail: ``(parameters: 0x…)`` and ``location 0x…``.
    name = name.split(" (parameters:", 1)[0]
    name = _TRAILING_ADDRESS.sub("", name).rstrip(".").strip()
    address = match.group("address").lower()
    return (
        ExceptionInfo(
            code=code_match.group("code").upper(),
            name=name or None,
            address="0x" + address.rjust(16 if len(address) > 8 else 8, "0"),
            module=(match.group("module") or "").strip() or None,
        ),
        executable,
    )
