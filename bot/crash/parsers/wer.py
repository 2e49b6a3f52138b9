"""Parser for Windows Error Reporting's problem signature, in the three spellings operators have:

* ``Report.wer`` (``C:\\ProgramData\\Microsoft\\Windows\\WER\\ReportArchive\\AppCrash_<exe>_…\\``), an
  ini-style UTF-16 file: ``EventType=APPCRASH``, ``Sig[0].Name=Application Name``,
  ``Sig[0].Value=worldserver.exe`` … ``AppPath=…``;
* the crash dialog's and Reliability Monitor's block: ``Problem Event Name: APPCRASH``, then
  ``Application Name:``, ``Application Version:`` … one ``label: value`` a line;
* Event 1001 (``Fault bucket …``): ``Event Name: APPCRASH``, ``Problem signature:``, ``P1: …`` … ``P10:``,
  or its XML, whose ``<Data>`` values are the same in the same order.

Every label is in the OS language (``Nombre de la aplicación``, ``故障模块名称``, ``Faulty Module Name``),
so values are read by position, which the event type fixes: APPCRASH's are application, version, time
stamp, module, version, time stamp, exception code, offset; BEX and BEX64 (``/GS`` cookie checks,
fail-fast, buffer overruns) put the offset before the code and add the exception data. What they become
is :mod:`bot.crash.parsers.fault`'s. Real samples: tests/fixtures/samples/SOURCES.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.crash.errors import CrashParseError
from bot.crash.model import CrashReport, Format
from bot.crash.parsers.fault import CRASH_EVENTS, OFFSET_FIRST, FaultRecord, fill, xml_data, xml_event_id
from bot.crash.parsers.reader import Cursor, ReportBuilder

SNIFF_LINES = 400
MAX_LINE = 2048
MAX_SIGNATURE = 10  # WER's P1..P10
WER_EVENT_ID = 1001  # Windows Error Reporting's event: bucket, type, event name, response, cab id, P1..P10

_EVENT_TYPE = re.compile(r"^EventType=(?P<event>\S{1,40})$")
_SIG = re.compile(r"^Sig\[(?P<index>\d{1,2})\]\.(?P<part>Name|Value)=(?P<value>.{0,1000})$")
_INI = re.compile(r"^(?P<key>[A-Za-z][\w.\[\]]{0,60})=(?P<value>.{0,1000})$")
# "<label>: APPCRASH" (the dialog's Problem Event Name, Event 1001's Event Name), in any language
_EVENT_LINE = re.compile(r"^[^:：=]{1,80}[:：]\s*(?P<event>APPCRASH|BEX64|BEX|MoAppCrash)$", re.IGNORECASE)
_P_LINE = re.compile(r"^P(?P<index>\d{1,2})[:：](?P<value>.{0,1000})$")
_LABEL_VALUE = re.compile(r"^[^:：]{1,120}[:：]\s*(?P<value>.{0,300})$")
_TAB_VALUE = re.compile(r"^[^\t]{1,120}?(?:\t|\s{2,})(?P<value>\S{1,300})$")
# Report.wer keys besides the signature that say where the application and the report are
_INI_KEYS = {"AppPath": "application_path", "ReportIdentifier": "report_id", "UI[2]": "application_path"}


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are a WER problem signature in one of its three spellings."""
    event = False
    for raw in lines[:SNIFF_LINES]:
        text = raw[:MAX_LINE].strip()
        if text.startswith("EventType=") and _EVENT_TYPE.match(text):
            return 100
        if text.startswith("Sig[0].Value="):
            return 90
        if _EVENT_LINE.match(text):
            event = True
        elif xml_event_id(text) == WER_EVENT_ID:
            return 60
        elif event and (text.startswith("P1:") or (".exe" in text.lower() and _LABEL_VALUE.match(text))):
            return 90
    return 40 if event else 0


class _Reader:
    """One pass: ``Report.wer`` keys, or the event-name line and the signature values under it."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.WER)
        self.event: str | None = None
        self.values: dict[int, str] = {}  # by position: the labels (Sig[N].Name) are localized
        self.ini: dict[str, str] = {}
        self.block = False  # in the dialog's block: the lines after its event-name line
        self.numbered = False  # Event 1001's P1..P10 list seen
        self.xml_event = False  # in Event 1001's XML: its <Data> values follow
        self.data: list[str] = []

    def read(self) -> None:
        for raw in self.cursor:
            text = raw[:MAX_LINE].strip()
            if not text:
                continue
            if "<" in text and self._xml(text):
                continue
            if "=" in text and self._ini(text):
                continue
            if self.event is None:
                m = _EVENT_LINE.match(text)
                if m is not None:
                    self.event, self.block = m["event"].upper(), True
                continue
            if self.block:
                self._signature_line(text)

    def _ini(self, text: str) -> bool:
        m = _SIG.match(text)
        if m is not None:
            if m["part"] == "Value":
                self.values[int(m["index"])] = m["value"].strip()
            return True
        m = _EVENT_TYPE.match(text)
        if m is not None:
            self.event = m["event"].upper()
            return True
        m = _INI.match(text)
        if m is not None and m["key"] in _INI_KEYS:
            self.ini.setdefault(_INI_KEYS[m["key"]], m["value"].strip())
        return m is not None

    def _xml(self, text: str) -> bool:
        """A line of Event 1001's XML (its id, then its <Data> values); False for any other line."""
        if not self.xml_event:
            self.xml_event = xml_event_id(text) == WER_EVENT_ID
            return self.xml_event
        values = xml_data(text)
        self.data.extend(values)
        return bool(values) or text.startswith("<")

    def _from_xml(self) -> None:
        """Event 1001's values when nothing else named the signature: event name third, P1.. sixth on."""
        if self.event is None and not self.values and len(self.data) > 5:
            self.event = self.data[2].strip().upper() or None
            self.values = dict(enumerate(v.strip() for v in self.data[5 : 5 + MAX_SIGNATURE]))

    def _signature_line(self, text: str) -> None:
        """A line of the dialog's block, or of Event 1001's ``P1:``…``P10:`` list (whose numbers replace
        whatever lines came between the event name and the list)."""
        p = _P_LINE.match(text)
        if p is not None:
            if not self.numbered:
                self.values.clear()
                self.numbered = True
            index = int(p["index"])
            if 1 <= index <= MAX_SIGNATURE:
                self.values[index - 1] = p["value"].strip()
            return
        if self.numbered or len(self.values) >= MAX_SIGNATURE:
            return
        labelled = _LABEL_VALUE.match(text)
        if labelled is not None:
            if labelled["value"].strip() or self.values:  # a bare "Problem signature:" heads the list
                self.values[len(self.values)] = labelled["value"].strip()
            return
        tabbed = _TAB_VALUE.match(text)  # a label that lost its colon ("Locale ID 1045" keeps none)
        if tabbed is not None:
            self.values[len(self.values)] = tabbed["value"]

    def finish(self) -> CrashReport:
        self._from_xml()
        event = self.event
        if event is None or not self.values:
            raise CrashParseError(
                "no WER problem signature found: expected Report.wer's 'EventType=APPCRASH' and "
                "'Sig[N].Value=' lines, or 'Problem Event Name: APPCRASH' followed by the signature's values"
            )
        if event not in CRASH_EVENTS:
            raise CrashParseError(
                f"a WER report of event type {event}, which is not a crash: crashbot reads "
                f"{', '.join(CRASH_EVENTS[:3])}"
            )
        v = self.values
        code, offset = (7, 6) if event in OFFSET_FIRST else (6, 7)
        record = FaultRecord(
            event=event,
            application=v.get(0),
            application_version=v.get(1),
            application_stamp=v.get(2),
            module=v.get(3),
            module_version=v.get(4),
            module_stamp=v.get(5),
            code=v.get(code),
            offset=v.get(offset),
            data=v.get(8) if event in OFFSET_FIRST else None,
            application_path=self.ini.get("application_path"),
            report_id=self.ini.get("report_id"),
            raw=f"{v.get(3, '?')}+{v.get(offset, '?')}",
        )
        if offset not in v:
            self.out.note("the signature is cut before its exception offset: no frame to show")
        fill(self.out, record)
        return self.out.report()


def application_of(report: CrashReport) -> str | None:
    """The application a WER report is of (its first signature value), for the uploader's filter."""
    return report.build.product


def parse(lines: Sequence[str]) -> CrashReport:
    """Read a WER problem signature; CrashParseError when the text holds none, or not a crash's."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()
