"""Which frames of a crash get the analysis's code slots, best first.

The slots are few (``fix.analysis_frames``), so they go to frames that can hold the bug:
- the crash handler, assert machinery, C runtime, OS and standard-library frames never take one (the
  bot/crash/siglists lists the signature already uses);
- trivial accessors (bot/crash/siglists/trivial_frames.txt, and one-line getters in headers) are folded into
  the frame that called them: the caller's code is shown, the accessor is named in its note; when the crash
  happened inside one, that accessor (the faulting line) is shown too, after the slots;
- a function that appears twice (inlined copies, recursion) takes one slot;
- a frame with neither a name nor a file takes no slot (nothing maps it): bot.fix.gapframe reads it from
  the crash's own frames and identifies it by its named neighbours;
- in a stack without source lines whose displacements betray nearest-symbol names (a Windows build without
  its .pdb names each address after the closest exported symbol: ``HandleRunTestCommand()+0xdd81``), the
  names are marked as guesses: they take slots only after every other frame, and do not count as showing
  who called an assert."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bot.crash.model import Crash, Frame
from bot.crash.normalize import normalize_function
from bot.crash.rules import siglists

HEADER_GETTER_RE = re.compile(r"(?:^|::)(?:[Gg]et|[Ii]s|[Hh]as|[Cc]an|To)[A-Z]\w*$")
_ABI_TAG_RE = re.compile(r"\[abi:\w+\]")  # gdb: Object::GetGuidStr[abi:cxx11]
_HEADER_RE = re.compile(r"\.(?:h|hpp|hh|hxx|inl)$", re.IGNORECASE)
# No function of a game server is 16 KB of machine code; a larger displacement is a nearest-symbol guess.
LARGEST_FUNCTION = 0x4000


@dataclass(frozen=True)
class Candidate:
    """A frame worth a slot. ``index`` is its position in ``crash.frames`` (None for the assertion's own
    location); ``folded`` names the accessor frames directly above it that were folded into it."""

    index: int | None
    frame: Frame
    meaningful: bool
    folded: tuple[str, ...] = ()
    stack: str | None = None  # a related stack's role (sanitizer ``freed``/``allocated``); None: the crash


@dataclass(frozen=True)
class Plan:
    candidates: tuple[Candidate, ...]
    accessor: str | None  # the outermost accessor the crash happened in, if it did (callers are searched)
    skipped: tuple[str, ...]  # "Function (why)" for frames that took no slot
    guessed: frozenset[int] = frozenset()  # indexes of frames whose names are nearest-symbol guesses
    crashed_in: Candidate | None = None  # the accessor frame the crash happened in (shown after the slots)


@cache
def _trivial() -> re.Pattern[str]:
    text = resources.files("bot.crash").joinpath("siglists", "trivial_frames.txt").read_text(encoding="utf-8")
    entries = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return re.compile("|".join(f"(?:{e})" for e in entries) or r"(?!)")


def is_trivial(frame: Frame) -> bool:
    """An accessor whose code cannot hold the bug: listed, or a ``Get…``/``Is…`` defined in a header."""
    if not frame.function:
        return False
    name = _ABI_TAG_RE.sub("", normalize_function(frame.function))
    if _trivial().fullmatch(name):
        return True
    return bool(frame.file and _HEADER_RE.search(frame.file) and HEADER_GETTER_RE.search(name))


def is_machinery(frame: Frame) -> bool:
    """Crash handler, assert, CRT or OS frames: never the bug's place, never a slot."""
    lists = siglists()
    name = normalize_function(frame.function) if frame.function else ""
    if name and any(p.fullmatch(name) for p in (lists.handler, lists.assertion, lists.crt, lists.os_frames)):
        return True
    return bool(frame.module and lists.os_modules.fullmatch(frame.module.lower()))


def is_library(frame: Frame) -> bool:
    """A frame in a compiler's or a dependency's headers (STL, boost): tried after every other frame."""
    return bool(frame.file and siglists().include_dirs.search(frame.file.replace("\\", "/")))


def _displacement(frame: Frame) -> int | None:
    if not frame.function or not frame.offset or not frame.offset.startswith("0x"):
        return None
    try:
        return int(frame.offset, 16)
    except ValueError:
        return None


def guessed_names(frames: Sequence[Frame]) -> frozenset[int]:
    """Indexes of the frames whose function names are nearest-symbol guesses: in a stack without source
    lines where some displacement is larger than any function, every named frame without a line (a name
    seen at several displacements is the same symbol standing in for several functions)."""
    if any(f.line is not None for f in frames):
        return frozenset()
    displacements = [_displacement(f) for f in frames]
    if not any(d is not None and d > LARGEST_FUNCTION for d in displacements):
        return frozenset()
    return frozenset(i for i, d in enumerate(displacements) if d is not None)


def plan(crash: Crash) -> Plan:
    """The frames to map, best first (see the module docstring)."""
    ordered: list[tuple[int | None, Frame, bool]] = []
    assertion = crash.report.assertion
    if assertion and assertion.file and assertion.line:
        ordered.append(
            (None, Frame(function=assertion.function, file=assertion.file, line=assertion.line), True)
        )
    meaningful = [i for i in crash.meaningful if 0 <= i < len(crash.frames)]
    ordered.extend((i, crash.frames[i], True) for i in meaningful)
    related = [
        Candidate(None, f, True, stack=stack.role.value)
        for stack in crash.report.related
        for f in [
            f for f in stack.frames if f.file and f.function and not is_machinery(f) and not is_library(f)
        ][:2]
    ]
    rest = set(meaningful)
    ordered.extend((i, f, False) for i, f in enumerate(crash.frames) if i not in rest)
    top = crash.top_frame
    if (
        top
        and top.file
        and top.line
        and not any(f.file == top.file and f.line == top.line for _, f, _ in ordered)
    ):
        ordered.insert(0, (None, Frame(function=top.function, file=top.file, line=top.line), True))

    out: list[Candidate] = []
    skipped: list[str] = []
    pending: list[str] = []  # accessors waiting for their caller
    seen_functions: set[str] = set()
    accessor: str | None = None
    crashed_in: Candidate | None = None
    library: list[Candidate] = []
    for index, frame, is_meaningful in ordered:
        label = frame.function or frame.file or "?"
        if not frame.function and not frame.file:
            continue
        if is_machinery(frame):
            skipped.append(f"{label} (crash handler, assert, runtime or OS frame)")
            continue
        if is_trivial(frame):
            if not out:  # the crash happened in accessors: remember the outermost of them
                accessor = frame.function
                if crashed_in is None:  # the innermost: the faulting line, or found by name without a path
                    crashed_in = Candidate(index, frame, is_meaningful)
            if frame.function not in pending:
                pending.append(frame.function or label)
            skipped.append(f"{label} (trivial accessor, folded into its caller)")
            continue
        key = normalize_function(frame.function) if frame.function else f"{frame.file}:{frame.line}"
        if key in seen_functions:
            skipped.append(f"{label} (same function as a frame above)")
            continue
        seen_functions.add(key)
        if is_library(frame):
            library.append(Candidate(index, frame, is_meaningful))
            continue
        out.append(Candidate(index, frame, is_meaningful, tuple(pending)))
        pending = []
    if not out and accessor is not None:  # nothing but accessors: show the accessor after all
        first = next(f for _, f, _ in ordered if f.function == accessor)
        out.append(Candidate(None, first, True))
    guessed = guessed_names(crash.frames)
    trusted = [c for c in out if c.index not in guessed]
    out = [*trusted, *(c for c in out if c.index in guessed)]  # guesses only after every trusted frame
    if crashed_in is not None and out and out[0].frame == crashed_in.frame:
        crashed_in = None  # nothing but accessors: the accessor already takes the first slot
    return Plan((*out[:1], *related, *out[1:], *library), accessor, tuple(skipped), guessed, crashed_in)
