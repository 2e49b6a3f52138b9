"""The crash report model: frozen dataclasses that every parser produces and everything else reads.

A parser turns text into a :class:`CrashReport` (what the report *says*). :func:`bot.crash.analyse` then
adds what crashbot *concludes* (:class:`Crash`: the crashing thread, the meaningful frames, the top frame,
the signature and the reasons for each choice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Format(StrEnum):
    """The report shapes crashbot reads (the values are the ``--format`` and JSON ``format`` spellings)."""

    WHEATY = "wheaty"
    GDB = "gdb"
    CDB = "cdb"
    ASSERT_LOG = "assert-log"
    VS_CALLSTACK = "vs-callstack"
    SANITIZER = "sanitizer"  # AddressSanitizer, UndefinedBehaviorSanitizer, ThreadSanitizer, LeakSanitizer
    VMANGOS_LOG = "vmangos-log"  # vMaNGOS's own log: a timestamped assertion line, then a backtrace
    DEBUGDIAG = "debugdiag"  # the text of a Microsoft DebugDiag crash analysis (verdict, thread stacks)
    WINDOWS_EVENT = "windows-event"  # the Event Viewer's Application Error event (ID 1000), any language
    WER = "wer"  # Windows Error Reporting's problem signature: Report.wer, the crash dialog, Event 1001
    # the C++ runtime's terminate message alone (``terminate called after throwing an instance of 'T'``)
    UNCAUGHT = "uncaught-exception"
    MINIDUMP = "minidump"  # a Windows .dmp alone: read by bot.symbols (binary), never by a text parser


TEXT_FORMATS = tuple(f for f in Format if f is not Format.MINIDUMP)  # what the sniffer and parsers read


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame as the report printed it, split into fields.

    ``function`` is the readable name without displacement (MSVC-decorated names undecorated,
    ``?GetMap@WorldObject@@...`` -> ``WorldObject::GetMap``), or None when unsymbolised.
    ``module`` is the module's file name without directory (``worldserver.exe``, ``libstdc++.so.6``).
    ``file`` is the source path exactly as printed (another machine's absolute path, usually).
    ``offset``: for a symbolised frame the displacement into the function (``0x2e``); for an unsymbolised
    frame the module-relative offset (``0001:000000000015b4a8`` for Wheaty section:offset, ``0x1a06d`` for
    ``module+0x1a06d``). Lower-case hex. ``address`` is the absolute program counter (``0x00007ff774dae0de``),
    which ASLR changes from run to run and so never enters a signature. ``column`` is the source column when
    the report prints one (``File.cpp:123:5``: sanitizers, clang), else None.
    """

    function: str | None = None
    module: str | None = None
    file: str | None = None
    line: int | None = None
    offset: str | None = None
    address: str | None = None
    inline: bool = False
    raw: str = ""
    column: int | None = None

    @property
    def symbolised(self) -> bool:
        return bool(self.function)

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "module": self.module,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "offset": self.offset,
            "address": self.address,
            "inline": self.inline,
        }


@dataclass(frozen=True, slots=True)
class Thread:
    """One thread's stack, innermost frame first.

    ``id`` is whatever identifies the thread in the report (gdb's thread number, cdb's id), None for
    Wheaty blocks (Wheaty prints none). ``current`` is the report's own mark (gdb ``*`` in ``info threads``,
    ``Thread N received signal``, VS's ``>``), not crashbot's conclusion. ``handler_frames`` counts frames
    of the crash handler on top (AC prints the crashing thread again with them).
    """

    frames: tuple[Frame, ...] = ()
    id: str | None = None
    name: str | None = None
    current: bool = False
    section: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "current": self.current,
            "frames": [f.to_json() for f in self.frames],
        }


class StackRole(StrEnum):
    """What a stack other than a thread's own is the stack *of* (the JSON ``role`` spellings)."""

    FREED = "freed"  # ASan: "freed by thread T0 here"
    ALLOCATED = "allocated"  # ASan: "(previously) allocated by thread T0 here"; LSan's other leaks
    PREVIOUS_ACCESS = "previous-access"  # TSan: the other side of a data race
    THREAD_CREATED = "thread-created"  # ASan/TSan: where the thread in question was started
    OTHER = "other"  # any other stack a sanitizer prints (a mutex's creation, ...)


@dataclass(frozen=True)
class RelatedStack:
    """A stack the report prints beside the crashing thread's, named by the report's own heading.

    A use-after-free is read at one place, freed at another and allocated at a third: the free and the
    allocation are usually where the bug is, so they travel with the crash (issue, payload, fix prompt).
    """

    role: StackRole
    title: str
    frames: tuple[Frame, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role.value, "title": self.title, "frames": [f.to_json() for f in self.frames]}


@dataclass(frozen=True)
class ExceptionInfo:
    """What stopped the process: ``code`` is ``C0000005``-style hex (upper case, 8 digits) or a signal
    name (``SIGSEGV``); ``name`` is the report's own text (possibly localised) or None when absent.

    For a C++ exception nobody caught, ``thrown_type`` is its type as the runtime printed it
    (``std::domain_error``) and ``what`` its ``what()`` text, when the report carries them
    (:mod:`bot.crash.terminate`, Wheaty's ``Uncaught C++ exception info:``)."""

    code: str
    name: str | None = None
    address: str | None = None
    module: str | None = None
    module_offset: str | None = None
    thrown_type: str | None = None
    what: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "name": self.name}
        # only when known: the keys every report had before stay exactly as they were
        if self.thrown_type is not None:
            out["type"] = self.thrown_type
        if self.what is not None:
            out["what"] = self.what
        return out


@dataclass(frozen=True)
class Assertion:
    """A failed ASSERT: the condition text, its location and the free-form message/debug info."""

    condition: str | None = None
    file: str | None = None
    line: int | None = None
    function: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "message": self.message,
        }


@dataclass(frozen=True)
class Build:
    """What was running: the revision line split into its parts (all optional; forks vary)."""

    revision: str | None = None
    dirty: bool = False
    product: str | None = None
    branch: str | None = None
    platform: str | None = None
    configuration: str | None = None
    date: str | None = None
    raw: str | None = None
    executable: str | None = None


@dataclass(frozen=True)
class Environment:
    """Where it ran: OS caption, CPU, memory, host; ``crashed_at`` is the report's own date text."""

    os: str | None = None
    cpu: str | None = None
    cpu_count: int | None = None
    memory_kb: int | None = None
    crashed_at: str | None = None
    host: str | None = None


def _frozen_mapping(value: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class CrashReport:
    """Everything a parser read from one report; no conclusions.

    ``crashing_thread`` is set only when the report itself says which thread faulted (gdb's current
    thread, cdb's FAULTING_THREAD, the first Wheaty block which is walked from the exception context);
    :func:`bot.crash.threads.choose_crashing_thread` weighs that with other evidence.
    ``extra`` holds format-specific key/values worth keeping (cdb bucket ids, ``KEY_VALUES_STRING``).
    ``notes`` are parser remarks such as ``truncated`` or ``locals section skipped``.
    ``related`` are stacks printed beside the crashing one (a sanitizer's free and allocation stacks).
    """

    format: Format
    threads: tuple[Thread, ...] = ()
    exception: ExceptionInfo | None = None
    assertion: Assertion | None = None
    build: Build = field(default_factory=Build)
    environment: Environment = field(default_factory=Environment)
    crashing_thread: int | None = None
    extra: Mapping[str, str] = field(default_factory=_frozen_mapping)
    notes: tuple[str, ...] = ()
    related: tuple[RelatedStack, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", _frozen_mapping(self.extra))


@dataclass(frozen=True)
class Decision:
    """One rule's verdict on one frame, kept for ``crashbot parse --explain``."""

    rule: str
    frame: int | None
    action: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "frame": self.frame, "action": self.action, "reason": self.reason}


@dataclass(frozen=True)
class TopFrame:
    """The first meaningful frame (for assert-only logs, the assertion's location)."""

    function: str | None
    file: str | None
    line: int | None

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Signature:
    """A crash's identity.

    ``text`` is human-readable (``ACCESS_VIOLATION | Field::GetUInt32 | ResultSet::...``); ``id`` is the
    stable primary id (hex) over the top meaningful frames, exception kind and normalised assertion;
    ``full_id`` covers all in-app frames (kept so rule changes don't split issues, as Sentry does);
    ``version`` is the algorithm version, stored beside every id. ``aliases`` are the ids the same crash
    had before its frames were symbolicated: an issue filed under one still matches the other.
    """

    text: str
    id: str
    full_id: str
    version: int
    frames: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Crash:
    """A report plus crashbot's conclusions about it."""

    report: CrashReport
    thread_index: int | None
    frames: tuple[Frame, ...]
    meaningful: tuple[int, ...]
    top_frame: TopFrame | None
    signature: Signature
    decisions: tuple[Decision, ...] = ()

    @property
    def thread(self) -> Thread | None:
        if self.thread_index is None:
            return None
        return self.report.threads[self.thread_index]
