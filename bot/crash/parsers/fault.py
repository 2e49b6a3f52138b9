"""What Windows itself records of a crash, shared by the ``windowsevent`` and ``wer`` parsers.

When the server's own crash handler wrote nothing (a release build without it, a crash inside the
handler, a stack overflow, a crash at start-up), Windows Error Reporting still keeps a *fault record*:
the faulting application and module with their versions and PE time stamps, the exception code and the
offset of the faulting instruction in the module. The Event Viewer's Application Error event (ID 1000),
the crash dialog's "Problem signature", Event 1001's ``P1``…``P10`` and WER's ``Report.wer`` are four
spellings of it. There is no stack: the record becomes a report with one frame, ``module+offset``, which
the symbols room resolves like any other unsymbolised frame when the store holds the build whose module
has that time stamp (:data:`bot.crash.resolved.IMAGE_STAMPS_KEY`).

What a record's signature groups (see :mod:`bot.crash.signature`): the exception kind and the faulting
``module+offset``. The same fault in the same build is one issue however often it recurs; the same bug
in another build is another issue until both are symbolicated (the offset moves with every link), and
then both sign by function. A fault inside a system DLL signs by that DLL's offset, so different server
bugs that corrupt the heap and fault at the same place in ``ntdll.dll`` share one issue: the record
cannot tell them apart. A fault in no module (``unknown``, ``StackHash_…``) has only an absolute address,
which ASLR moves, so such faults group by exception kind alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.crash.model import Build, ExceptionInfo, Frame, Thread
from bot.crash.parsers.reader import ReportBuilder
from bot.crash.resolved import IMAGE_STAMPS_KEY
from bot.crash.signature import EXCEPTION_KINDS

# WER's events for a crash: APPCRASH (an unhandled exception), BEX/BEX64 (a /GS cookie or fail-fast,
# a buffer overrun, DEP: their signature puts the offset before the code and adds the exception data).
CRASH_EVENTS = ("APPCRASH", "BEX", "BEX64", "MOAPPCRASH")
OFFSET_FIRST = ("BEX", "BEX64")
# What WER names the faulting module when the instruction lies in none (a jump to garbage): the offset
# is then an absolute address. ``StackHash_xxxx`` is WER's bucket for that case, not a module.
_NO_MODULE = re.compile(r"^(?:unknown|stackhash_[0-9a-f]{1,8})$", re.IGNORECASE)
_HEX = re.compile(r"(?:0[xX])*([0-9a-fA-F]{1,16})")
# The Event Viewer's XML of an event: its id and its <Data> values, in order (an empty one is <Data />).
_XML_EVENT_ID = re.compile(r"<EventID(?:\s[^>]{0,100})?>\s*(?P<id>\d{1,6})\s*</EventID>")
_XML_DATA = re.compile(r"<Data(?:\s[^>]{0,200})?>(?P<value>[^<]{0,1000})</Data>|<Data\s*/>")


@dataclass(frozen=True)
class FaultRecord:
    """One fault record as read, every field optional (pasted records are often cut or mistranslated).

    Hex fields are kept as written (``0x…`` or bare); :func:`fill` normalises them."""

    event: str | None = None  # APPCRASH, BEX64, ...; None for the Event 1000 text, which names none
    application: str | None = None
    application_version: str | None = None
    application_stamp: str | None = None  # the exe's PE time stamp
    module: str | None = None
    module_version: str | None = None
    module_stamp: str | None = None  # the faulting module's PE time stamp: which build it was
    code: str | None = None
    offset: str | None = None  # of the faulting instruction in the module (an RVA)
    data: str | None = None  # BEX: the exception data (a fail-fast code)
    application_path: str | None = None
    module_path: str | None = None
    report_id: str | None = None
    raw: str = ""  # the text the frame came from


def xml_event_id(text: str) -> int | None:
    """The event id of an ``<EventID>`` line of the event's XML, or None."""
    m = _XML_EVENT_ID.search(text) if "<EventID" in text else None
    return int(m["id"]) if m is not None else None


def xml_data(text: str) -> list[str]:
    """The ``<Data>`` values on one line of the event's XML (a value that spans lines is not read)."""
    return [m["value"] or "" for m in _XML_DATA.finditer(text)] if "<Data" in text else []


def hex_digits(text: str | None) -> str | None:
    """The hex number in ``text`` (``0x1fce``, ``1fce``, Windows 11's doubled ``0x0x1fce``), lower case
    without leading zeros; None when ``text`` is not one."""
    m = _HEX.fullmatch((text or "").strip())
    if m is None:
        return None
    return m.group(1).lower().lstrip("0") or "0"


def exception_code(text: str | None) -> str | None:
    """``0xc0000005`` -> ``C0000005``; a sign-extended ``0xffffffffc0000409`` keeps its low 8 digits."""
    digits = hex_digits(text)
    if digits is None:
        return None
    if len(digits) > 8:
        if not digits.startswith("ffffffff"):
            return None
        digits = digits[-8:]
    return digits.upper().rjust(8, "0")


def pe_stamp(text: str | None) -> str | None:
    """A PE time stamp as the symbol store spells it: 8 upper-case hex digits."""
    digits = hex_digits(text)
    return digits.upper().rjust(8, "0") if digits is not None and len(digits) <= 8 else None


def has_module(name: str | None) -> bool:
    """Whether WER named a real module (not ``unknown`` or a ``StackHash_…`` bucket)."""
    return bool(name) and _NO_MODULE.match(name or "") is None


def _clean(text: str | None) -> str | None:
    value = (text or "").strip()
    return value or None


def fill(out: ReportBuilder, record: FaultRecord) -> None:
    """Put ``record`` on the report: the exception, one frame ``module+offset``, the build and extras."""
    module = _clean(record.module)
    digits = hex_digits(record.offset)
    offset = f"0x{digits}" if digits is not None else None
    in_module = has_module(module)
    if offset is not None:
        frame = (
            Frame(module=module, offset=offset, raw=record.raw)
            if in_module
            else Frame(address=offset, raw=record.raw)
        )
        out.threads.append(Thread(frames=(frame,), current=True))
        out.crashing_thread = 0
    code = exception_code(record.code)
    if code is not None:
        out.exception = ExceptionInfo(
            code=code,
            name=EXCEPTION_KINDS.get(code),
            address=None if in_module else offset,
            module=module if in_module else None,
            module_offset=offset if in_module else None,
        )
    elif _clean(record.code):
        out.note(f"the exception code {record.code!r} is not a hex number: kept as unknown")
    application = _clean(record.application)
    version = _clean(record.application_version)
    stamp = pe_stamp(record.application_stamp)
    out.build = Build(
        product=application,
        executable=_clean(record.application_path) or application,
        raw=" ".join(
            bit for bit in (application, version, f"(PE time stamp 0x{stamp})" if stamp else None) if bit
        )
        or None,
    )
    out.extra.update(_extras(record, module if in_module else None))
    out.note(_summary(module if in_module else None, offset, pe_stamp(record.module_stamp)))


def _extras(record: FaultRecord, module: str | None) -> dict[str, str]:
    extra = {
        "wer_event": _clean(record.event),
        "application_version": _clean(record.application_version),
        "module_version": _clean(record.module_version),
        "module_path": _clean(record.module_path),
        "exception_data": _clean(record.data),
        "report_id": _clean(record.report_id),
    }
    stamp = pe_stamp(record.module_stamp)
    if module and stamp:
        extra[IMAGE_STAMPS_KEY] = f"{module}\t{stamp}"
    return {k: v for k, v in extra.items() if v}


def _summary(module: str | None, offset: str | None, stamp: str | None) -> str:
    """The note that says plainly what the issue can and cannot show."""
    if module is None:
        where = f"address {offset}, in no module" if offset else "no module and no offset"
        return f"Windows' fault record names only {where}: there is no call stack to show"
    site = f"{module}+{offset}" if offset else module
    build = f", in the build whose {module} has PE time stamp 0x{stamp}" if stamp else ""
    return f"Windows' fault record names only where the fault happened, {site}{build}: no call stack"
