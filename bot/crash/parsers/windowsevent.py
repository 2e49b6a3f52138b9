"""Parser for the Event Viewer's Application Error event (ID 1000), as operators paste it::

    Faulting application name: worldserver.exe, version: 0.0.0.0, time stamp: 0x5c0d1a2b
    Faulting module name: worldserver.exe, version: 0.0.0.0, time stamp: 0x5c0d1a2b
    Exception code: 0xc0000005
    Fault offset: 0x0000000000a1b2c3
    Faulting process id: 0x1f40
    Faulting application start time: 0x01d4dd2a8e7e1c2d
    Faulting application path: C:\\WoW\\worldserver.exe
    Faulting module path: C:\\WoW\\worldserver.exe
    Report Id: 5f1c...
    Faulting package full name: ...

The labels are in the OS language (``Name der fehlerhaften Anwendung``, ``错误应用程序名称`` with
full-width commas, machine translations such as ``Wrong application name``), so the text is read by its
shape, which every language keeps: two identity lines (``<label>: name, <label>: version, <label>:
0xSTAMP``), then one value per line in a fixed order. Windows 11 doubles the ``0x`` of the process id
and start time; narrow copies wrap a line after its colon or inside a path. The Event Viewer's "Details"
copy adds a ``Log Name:``/``Source:`` header and the event's XML, whose ``<Data>`` values (in the same
order) are read when the description itself is missing; PowerShell's listing puts its own fields before
the first line. Only the first record of a paste of several is read. Real samples:
tests/fixtures/samples/SOURCES.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.crash.errors import CrashParseError
from bot.crash.model import CrashReport, Format
from bot.crash.parsers.fault import FaultRecord, fill, hex_digits, xml_data, xml_event_id
from bot.crash.parsers.reader import Cursor, ReportBuilder

SNIFF_LINES = 400
MAX_LINE = 2048

# <label>: name, <label>: version, <label>: 0xSTAMP -- each segment free of separators, so where one ends is
# fixed and only the spaces around a value could be split otherwise. Each segment is an atomic group: once
# it matched, a failure further on does not try the other splits of its spaces, which (the segments'
# spaces multiplied) took 45 s on a 173-character line before. The version may hold a colon: the uploader
# redacts a dotted version that looks like an address (1.6.0.0) to [REDACTED:ip] before the parser sees it.
_IDENTITY = re.compile(
    r"^(?>[^:：,，、]{1,120}[:：]\s*+(?P<name>[^:：,，、]{1,260}?)\s*+[,，、])"
    r"(?>\s*[^:：,，、]{1,80}[:：]\s*+(?P<version>[^,，、]{0,80}?)\s*+[,，、])"
    r"\s*[^:：,，、]{1,80}[:：]\s*+(?P<stamp>(?:0[xX])*[0-9a-fA-F]{1,8})$"
)
_LABELLED = re.compile(r"^[^:：]{1,120}[:：]\s*(?P<value>.*)$")
# The description's values after the two identity lines, in the order the message template prints them.
_FIELDS = ("code", "offset", "process_id", "start_time", "application_path", "module_path", "report_id")
_PATHS = ("application_path", "module_path")
# The event's <Data> values: application, version, stamp, module, version, stamp, code, offset, process
# id, start time, application path, module path, report id.
_DATA_FIELDS = (
    "application",
    "application_version",
    "application_stamp",
    "module",
    "module_version",
    "module_stamp",
    "code",
    "offset",
    "process_id",
    "start_time",
    "application_path",
    "module_path",
    "report_id",
)
_RECORD_FIELDS = frozenset(FaultRecord.__dataclass_fields__)


def _identity_at(lines: Sequence[str], i: int) -> tuple[re.Match[str] | None, int]:
    """The identity line starting at ``lines[i]`` (joined with a time stamp wrapped onto the next line),
    and the index after it."""
    text = lines[i][:MAX_LINE].strip()
    if ":" not in text and "：" not in text:
        return None, i + 1
    if text.endswith((":", "：")) and i + 1 < len(lines):
        following = lines[i + 1][:MAX_LINE].strip()
        if hex_digits(following) is not None:
            return _match_identity(f"{text} {following}"), i + 2
    return _match_identity(text), i + 1


def _match_identity(text: str) -> re.Match[str] | None:
    """An identity line, also after a listing's prefix: PowerShell's ``Get-EventLog`` prints the first
    line of each message as ``{ TimeGenerated = …, Source = Application Error, Message = Faulting …``."""
    found = _IDENTITY.match(text)
    if found is None and "= " in text:
        found = _IDENTITY.match(text.rpartition("= ")[2])
    return found


def _next_filled(lines: Sequence[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are Event 1000's text: two identity lines in a row, or its XML."""
    head = lines[:SNIFF_LINES]
    xml = 0
    i = 0
    while i < len(head):
        found, after = _identity_at(head, i)
        if found is not None:
            nxt = _next_filled(head, after)
            if nxt < len(head) and _identity_at(head, nxt)[0] is not None:
                return 95
            return 50
        if xml_event_id(head[i][:MAX_LINE]) == 1000:
            xml = 60
        i = after
    return xml


class _Reader:
    """One pass: the description (identity lines, then its values in order), else the XML's values."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.WINDOWS_EVENT)
        self.fields: dict[str, str] = {}
        self.raw = ""
        self.xml_event = False
        self.data: list[str] = []

    def read(self) -> None:
        lines = self.cursor.lines
        while not self.cursor.done:
            i = self.cursor.index
            if not self.fields:
                found, after = _identity_at(lines, i)
                if found is not None:
                    self.cursor.index = after
                    self._description(found)
                    continue
            self._xml(lines[i][:MAX_LINE])
            self.cursor.index = i + 1

    def _description(self, application: re.Match[str]) -> None:
        """The rest of the description after its first identity line, which the cursor has passed."""
        lines = self.cursor.lines
        self.fields.update(
            application=application["name"],
            application_version=application["version"],
            application_stamp=application["stamp"],
        )
        i = _next_filled(lines, self.cursor.index)
        module, after = _identity_at(lines, i) if i < len(lines) else (None, i)
        if module is None:
            self.out.note("the description has no faulting-module line after the application's")
            return
        self.raw = lines[i][:MAX_LINE].strip()
        self.fields.update(
            module=module["name"], module_version=module["version"], module_stamp=module["stamp"]
        )
        self.cursor.index = self._values(after)

    def _values(self, i: int) -> int:
        """Read the values after the identity lines, in template order; stop at the first line that is
        not one (a cut paste). Returns where reading stopped."""
        lines = self.cursor.lines
        for name in _FIELDS:
            i = _next_filled(lines, i)
            labelled = _LABELLED.match(lines[i][:MAX_LINE].strip()) if i < len(lines) else None
            if labelled is None:
                break
            value = labelled["value"].strip()
            if name in ("code", "offset") and hex_digits(value) is None:
                break
            i += 1
            if name in _PATHS:
                value, i = _path_continued(lines, i, value)
            self.fields[name] = value
            if name == "offset":
                self.raw = f"{self.raw} +{value}"
        return i

    def _xml(self, text: str) -> None:
        if not self.xml_event:
            self.xml_event = xml_event_id(text) == 1000
            return
        self.data.extend(xml_data(text))

    def finish(self) -> CrashReport:
        fields = self.fields
        if not fields and self.data:
            fields = dict(zip(_DATA_FIELDS, self.data, strict=False))
            self.raw = " ".join(self.data[3:8:4])
            self.out.note("read from the event's XML <Data> values: the description text is missing")
        if not fields.get("application"):
            raise CrashParseError(
                "no Application Error event found: expected 'Faulting application name: <exe>, version: "
                "<v>, time stamp: 0x<stamp>' (in any language) and the faulting module's line after it"
            )
        if "offset" not in fields:
            self.out.note("the record is cut before its fault offset: no frame to show")
        record = FaultRecord(raw=self.raw, **{k: v for k, v in fields.items() if k in _RECORD_FIELDS})
        fill(self.out, record)
        return self.out.report()


def _path_continued(lines: Sequence[str], i: int, value: str) -> tuple[str, int]:
    """A path wrapped onto the next line (a narrow copy): a following line with no label continues it."""
    if i < len(lines):
        more = lines[i][:MAX_LINE].strip()
        if more and ":" not in more and "：" not in more:
            glue = "" if value.endswith(("-", "\\", "/")) else " "
            return f"{value}{glue}{more}", i + 1
    return value, i


def parse(lines: Sequence[str]) -> CrashReport:
    """Read an Application Error event's description (or its XML values); CrashParseError without one."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()
