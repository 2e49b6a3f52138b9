"""Crashing-thread choice: which of a report's threads faulted, decided by evidence rather than position.

Evidence, strongest first:

1. the fault address: a frame whose program counter (or module-relative offset) is the fault address.
   Where several threads hold it (AC prints the crashing thread twice: clean, and again under the handler
   frames) the thread where it is nearest the top wins, so both report shapes pick the clean walk;
2. the report's own word: ``CrashReport.crashing_thread`` (gdb's current thread, cdb's faulting thread,
   Wheaty's exception-context block) when that thread has frames;
3. a thread the report marks current (``Thread.current``);
4. crash-handler frames (``KiUserExceptionDispatcher``, ``WheatyExceptionReport::…``): the thread that
   ran the handler is the thread that crashed (real TC-master reports print an empty exception-context
   block and the crashing thread fifth);
5. when the report gives a fault location that no printed thread holds: no thread (the signature then
   uses the fault's module+offset; guessing would pin the crash on an innocent thread);
6. otherwise the first thread with frames that is not parked in a wait, said to be a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.crash.model import CrashReport, Decision, Frame, Thread
from bot.crash.normalize import normalize_module, normalize_offset
from bot.crash.rules import FrameView, SigLists, is_handler_frame, siglists

RULE = "crashing-thread"


@dataclass(frozen=True)
class ThreadChoice:
    """The chosen thread (None when no thread has frames), the frame at the fault address, and why."""

    index: int | None
    fault_frame: int | None
    decision: Decision


def _hex(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value, 16)  # accepts 0x and surrounding whitespace
    except ValueError:
        pass
    try:
        return int(value.replace("`", ""), 16)  # cdb splits 64-bit values with a backtick
    except ValueError:
        return None


def _section_offset(value: str | None) -> str | None:
    if not value or ":" not in value:
        return None
    try:
        section, offset = value.strip().split(":", 1)
        int(section, 16)
        int(offset, 16)
    except ValueError:
        return None
    return normalize_offset(value)


class _FaultSite:
    """The exception's location in the forms frames are compared in, and a matcher for it.

    Every frame of every thread is compared, and the unsymbolised frames of threads parked at the same place
    repeat the same offset texts, so each distinct one is normalised once per report (``_offsets``).
    """

    __slots__ = ("_offsets", "address", "module", "section_offset")

    def __init__(self, address: int | None, section_offset: str | None, module: str | None) -> None:
        self.address = address
        self.section_offset = section_offset
        self.module = module
        self._offsets: dict[str, str | None] = {}

    def index_in(self, thread: Thread) -> int | None:
        """The index of the first frame of ``thread`` at the fault location, or None."""
        address = self.address
        section_offset = self.section_offset
        offsets = self._offsets
        for i, frame in enumerate(thread.frames):
            if address and frame.address:
                value: int | None
                try:
                    value = int(frame.address, 16)  # inline: cheaper than a cache of unique addresses
                except ValueError:
                    value = _hex(frame.address)
                if value == address:
                    return i
            if section_offset and not frame.function and frame.offset:
                offset = frame.offset
                if offset in offsets:
                    normalised = offsets[offset]
                else:
                    normalised = offsets[offset] = _section_offset(offset)
                if normalised == section_offset:
                    frame_module = normalize_module(frame.module) if frame.module else None
                    if self.module is None or frame_module is None or frame_module == self.module:
                        return i
        return None


def _fault_site(report: CrashReport) -> _FaultSite | None:
    exc = report.exception
    if exc is None:
        return None
    address = _hex(exc.address)
    section_offset = _section_offset(exc.module_offset)
    if not address and not section_offset:
        return None
    return _FaultSite(address, section_offset, normalize_module(exc.module) if exc.module else None)


def fault_frame_index(report: CrashReport, thread: Thread) -> int | None:
    """The index of the first frame of ``thread`` at the fault address, or None."""
    site = _fault_site(report)
    return site.index_in(thread) if site is not None else None


def _handler_depth(frames: tuple[Frame, ...], lists: SigLists) -> int | None:
    for i, frame in enumerate(frames):
        if frame.function and is_handler_frame(FrameView.from_frame(i, frame), lists):
            return i
    return None


def choose_crashing_thread(report: CrashReport) -> ThreadChoice:
    """Pick the crashing thread of ``report`` and say which evidence decided it."""
    threads = report.threads
    non_empty = [i for i, t in enumerate(threads) if t.frames]
    skipped_empty = len(threads) - len(non_empty)
    empty_note = f" ({skipped_empty} empty thread block(s) skipped)" if skipped_empty else ""
    if not non_empty:
        return ThreadChoice(None, None, Decision(RULE, None, "none", "the report has no stack frames"))

    site = _fault_site(report)
    hits = (
        [(idx, i) for i in non_empty if (idx := site.index_in(threads[i])) is not None]
        if site is not None
        else []
    )
    if hits:
        preferred = report.crashing_thread
        depth, index = min(hits, key=lambda hit: (hit[0], hit[1] != preferred, hit[1]))
        where = "at the top" if depth == 0 else f"at frame #{depth}"
        others = f"; {len(hits) - 1} other thread(s) hold it deeper" if len(hits) > 1 else ""
        return ThreadChoice(
            index,
            depth,
            Decision(
                RULE, None, "choose", f"thread {index} has the fault address {where}{others}{empty_note}"
            ),
        )

    declared = report.crashing_thread
    if declared is not None and 0 <= declared < len(threads) and threads[declared].frames:
        return ThreadChoice(
            declared,
            None,
            Decision(
                RULE, None, "choose", f"thread {declared} is the one the report says faulted{empty_note}"
            ),
        )
    if declared is not None and 0 <= declared < len(threads):
        empty_note = f" (the report's faulting thread {declared} has no frames)" + empty_note

    for i in non_empty:
        if threads[i].current:
            return ThreadChoice(
                i,
                None,
                Decision(RULE, None, "choose", f"thread {i} is marked current by the report{empty_note}"),
            )

    lists = siglists()
    for i in non_empty:
        handler_at = _handler_depth(threads[i].frames, lists)
        if handler_at is not None:
            name = threads[i].frames[handler_at].function
            return ThreadChoice(
                i,
                None,
                Decision(RULE, None, "choose", f"thread {i} ran the crash handler ({name}){empty_note}"),
            )

    if _has_fault_location(report):
        # The report says where it faulted and no printed thread is there (truncated excerpt, or a TC-master
        # report whose crashing thread was cut off): any guess would sign an innocent thread, and a wrong
        # merge is worse than a split, so sign by the fault location instead.
        return ThreadChoice(
            None,
            None,
            Decision(
                RULE,
                None,
                "none",
                f"no printed thread holds the fault address and nothing else names one{empty_note}",
            ),
        )
    busy = [i for i in non_empty if not _idle(threads[i], lists)]
    first = (busy or non_empty)[0]
    idle_note = f", {len(non_empty) - len(busy)} idle (waiting) thread(s) passed over" if busy else ""
    return ThreadChoice(
        first,
        None,
        Decision(
            RULE,
            None,
            "choose",
            f"no evidence names the crashing thread; guessed thread {first}{idle_note}{empty_note}",
        ),
    )


def _has_fault_location(report: CrashReport) -> bool:
    exc = report.exception
    return exc is not None and (
        _hex(exc.address) is not None or _section_offset(exc.module_offset) is not None
    )


def _idle(thread: Thread, lists: SigLists) -> bool:
    """A thread parked in the kernel (its innermost frame is a wait/sleep/poll OS function)."""
    name = FrameView.from_frame(0, thread.frames[0]).name
    return bool(name and lists.idle.fullmatch(name))
