"""Meaningful-frame rules: an ordered list of small rules that mark each frame of the crashing thread kept or
skipped, and say why.

Each rule sees only the frames no earlier rule decided, and returns one :class:`Decision` per frame it
decides. The first decision for a frame stands, so the order of :data:`DEFAULT_RULES` is the precedence.
The last rule keeps whatever is left: the server's own code. Frame lists live in ``siglists/*.txt``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol

from bot.crash.model import CrashReport, Decision, Frame
from bot.crash.normalize import normalize_function, normalize_module

logger = logging.getLogger(__name__)

SKIP = "skip"
KEEP = "keep"

_GARBAGE_OFFSET = re.compile(r"^(?:0+:)?(?:0x)?0+$", re.IGNORECASE)
_NO_SYMBOL = re.compile(r"^\?+$|^<unknown")


@dataclass(frozen=True)
class SigLists:
    """The compiled frame lists (one alternation per file)."""

    handler: re.Pattern[str]
    assertion: re.Pattern[str]
    crt: re.Pattern[str]
    os_frames: re.Pattern[str]
    os_modules: re.Pattern[str]
    include_dirs: PathPatterns
    idle: re.Pattern[str]


def _read_list(name: str) -> list[str]:
    text = resources.files("bot.crash").joinpath("siglists", f"{name}.txt").read_text(encoding="utf-8")
    entries: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            re.compile(line)
        except re.error as e:
            raise ValueError(
                f"siglists/{name}.txt line {number}: bad regular expression {line!r}: {e}"
            ) from e
        entries.append(line)
    return entries


def _alternation(entries: Sequence[str], *, flags: int = 0) -> re.Pattern[str]:
    if not entries:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{e})" for e in entries), flags)


@dataclass(frozen=True)
class PathPatterns:
    """A list of path patterns, any of which may match anywhere in a path.

    Entries that start with ``^`` (and hold no ``|``) are tried at the start of the path only, in an
    alternation of their own:
    mixed into one alternation with the others, they kept the regex engine from skipping ahead to the
    others' first character, and every entry was tried at every position of the path (5x slower).
    """

    anchored: re.Pattern[str]
    anywhere: re.Pattern[str]

    @classmethod
    def of(cls, entries: Sequence[str], *, flags: int = 0) -> PathPatterns:
        # An entry with a ``|`` may be anchored in one branch only (``^a|b``): it stays with the others.
        anchored = [e for e in entries if e.startswith("^") and "|" not in e]
        return cls(
            _alternation(anchored, flags=flags),
            _alternation([e for e in entries if e not in anchored], flags=flags),
        )

    def search(self, path: str) -> bool:
        return self.anchored.match(path) is not None or self.anywhere.search(path) is not None


@cache
def siglists() -> SigLists:
    """The packaged lists, read and compiled once per process."""
    return SigLists(
        handler=_alternation(_read_list("handler_frames")),
        assertion=_alternation(_read_list("assert_frames")),
        crt=_alternation(_read_list("crt_frames")),
        os_frames=_alternation(_read_list("os_frames")),
        os_modules=_alternation(_read_list("os_modules"), flags=re.IGNORECASE),
        include_dirs=PathPatterns.of(_read_list("include_dirs"), flags=re.IGNORECASE),
        idle=_alternation(_read_list("idle_frames")),
    )


@dataclass(frozen=True)
class FrameView:
    """A frame with what the rules match on computed once: normalised name, lower-case module, ``/`` path."""

    index: int
    frame: Frame
    name: str
    module: str
    path: str

    @classmethod
    def from_frame(cls, index: int, frame: Frame) -> FrameView:
        return cls(
            index=index,
            frame=frame,
            name=normalize_function(frame.function) if frame.function else "",
            module=normalize_module(frame.module) if frame.module else "",
            path=(frame.file or "").replace("\\", "/"),
        )

    def label(self) -> str:
        """How a decision names the frame: ``#3 Foo::Bar`` or ``#3 worldserver.exe+0001:…``."""
        if self.name:
            return f"#{self.index} {self.name}"
        if self.module or self.frame.offset:
            return f"#{self.index} {self.module or '?'}+{self.frame.offset or '?'}"
        return f"#{self.index} {self.frame.raw.strip()[:60] or '(empty)'}"


@dataclass(frozen=True)
class RuleContext:
    """What rules may consult besides the frames."""

    report: CrashReport
    frames: tuple[FrameView, ...]
    fault_index: int | None = None
    lists: SigLists | None = None

    @property
    def siglists(self) -> SigLists:
        return self.lists or siglists()


class Rule(Protocol):
    """A frame rule: ``name``, a docstring saying why it exists, and ``apply``."""

    name: str

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        """Decisions for some of ``frames`` (the frames no earlier rule decided)."""
        ...


def _decide(rule: str, view: FrameView, action: str, reason: str) -> Decision:
    return Decision(rule=rule, frame=view.index, action=action, reason=f"{view.label()}: {reason}")


def is_handler_frame(view: FrameView, lists: SigLists) -> bool:
    """Whether ``view`` is a crash-handler or exception-dispatch frame (``handler_frames.txt``)."""
    raw = (view.frame.function or "").strip()
    return bool(raw and (lists.handler.fullmatch(raw) or (view.name and lists.handler.fullmatch(view.name))))


class HandlerFrames:
    """Crash-handler and exception-dispatch frames, and everything above the last of them.

    AC (and older Wheaty copies) print the crashing thread a second time, walked from inside the handler:
    ``GetThreadContext``, ``WheatyExceptionReport::…``, ``UnhandledExceptionFilter``,
    ``__C_specific_handler``, ``KiUserExceptionDispatcher``, then the real frames (crash-formats.md 1.2,
    sample cmangos-issue-946). Cutting at the last handler frame makes both shapes sign alike.
    """

    name = "handler-frames"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        lists = ctx.siglists
        last = max((v.index for v in frames if is_handler_frame(v, lists)), default=None)
        if last is None:
            return []
        decisions = []
        for view in frames:
            if view.index > last:
                break
            if is_handler_frame(view, lists):
                decisions.append(_decide(self.name, view, SKIP, "crash handler / exception dispatch"))
            else:
                decisions.append(_decide(self.name, view, SKIP, "above or among the crash handler frames"))
        return decisions


class AboveFault:
    """Frames above the one at the fault address: for an assertion Wheaty sets the fault address to the
    asserting function's return address, so ``RaiseException`` and ``Trinity::Assert`` sit above it."""

    name = "above-fault"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        if not ctx.fault_index:
            return []
        return [
            _decide(self.name, v, SKIP, f"above frame #{ctx.fault_index}, which is at the fault address")
            for v in frames
            if v.index < ctx.fault_index
        ]


class GarbageFrames:
    """Frames with nothing to identify them: no function, module or file (``0000:0000000000000000`` under
    ``NtGetContextThread``), or gdb's ``?? ()`` with no module."""

    name = "garbage-frames"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        decisions = []
        for view in frames:
            frame = view.frame
            function = (frame.function or "").strip()
            unnamed = not function or bool(_NO_SYMBOL.match(function))
            if not unnamed or view.module or view.path:
                continue
            if frame.offset and not _GARBAGE_OFFSET.match(frame.offset):
                continue
            decisions.append(_decide(self.name, view, SKIP, "no function, module or file"))
        return decisions


class AssertionHelpers:
    """The assert/abort plumbing (``Trinity::Assert``, ``acore::Assert``, ``_wassert``, ``abort``,
    ``raise``, ``__pthread_kill_implementation``, ``RaiseException``): the asserting function is below."""

    name = "assertion-helpers"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        pattern = ctx.siglists.assertion
        return [
            _decide(self.name, v, SKIP, "assertion/abort helper")
            for v in frames
            if v.name and pattern.fullmatch(v.name)
        ]


class OsFrames:
    """Frames in OS, C runtime or third-party library modules (``ntdll``, ``KERNELBASE``, ``ucrtbase``,
    ``libc.so``, ``libstdc++``, ``libmysql``), and OS exports Wheaty prints without a module."""

    name = "os-frames"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        lists = ctx.siglists
        decisions = []
        for view in frames:
            if view.module and lists.os_modules.fullmatch(view.module):
                decisions.append(_decide(self.name, view, SKIP, f"in system/runtime module {view.module}"))
            elif view.name and lists.os_frames.fullmatch(view.name):
                decisions.append(_decide(self.name, view, SKIP, "operating-system function"))
        return decisions


class RuntimeFrames:
    """C runtime and standard library code (``std::…``, ``memmove``, ``malloc``, ``operator new``,
    ``__cxa_*``) and anything compiled from a compiler/SDK header: the caller passed it bad input."""

    name = "runtime-frames"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        lists = ctx.siglists
        decisions = []
        for view in frames:
            if view.name and lists.crt.fullmatch(view.name):
                decisions.append(_decide(self.name, view, SKIP, "C/C++ runtime or standard library"))
            elif view.path and lists.include_dirs.search(view.path):
                decisions.append(_decide(self.name, view, SKIP, "source is a compiler/library header"))
        return decisions


class ServerCode:
    """Whatever no rule skipped is the server's own code; the first such frame is the top frame."""

    name = "server-code"

    def apply(self, frames: Sequence[FrameView], ctx: RuleContext) -> list[Decision]:
        decisions: list[Decision] = []
        for view in frames:
            what = "server code" if view.name else "unsymbolised frame in the server (module-relative offset)"
            if not decisions:
                what = f"first frame in the server's own code ({what})"
            decisions.append(_decide(self.name, view, KEEP, what))
        return decisions


DEFAULT_RULES: tuple[Rule, ...] = (
    HandlerFrames(),
    AboveFault(),
    GarbageFrames(),
    AssertionHelpers(),
    OsFrames(),
    RuntimeFrames(),
    ServerCode(),
)


def apply_rules(rules: Sequence[Rule], ctx: RuleContext) -> tuple[Decision, ...]:
    """Run ``rules`` in order over ``ctx.frames``; one decision per frame (the first rule to decide wins).

    A rule that raises is recorded as a decision and skipped: one broken rule must not lose the crash.
    """
    decided: dict[int, Decision] = {}
    errors: list[Decision] = []
    for rule in rules:
        pending = [v for v in ctx.frames if v.index not in decided]
        if not pending:
            break
        try:
            verdicts = rule.apply(pending, ctx)
        except Exception as e:  # per-rule isolation boundary (as siggen's generator does)
            logger.warning("frame rule %s failed: %s", rule.name, e, exc_info=True)
            errors.append(
                Decision(rule=rule.name, frame=None, action="error", reason=f"{type(e).__name__}: {e}")
            )
            continue
        for decision in verdicts:
            if decision.frame is not None and decision.frame not in decided:
                decided[decision.frame] = decision
    ordered = tuple(decided[i] for i in sorted(decided))
    return (*errors, *ordered)
