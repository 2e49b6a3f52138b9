"""Walk the crashing thread's stack from a minidump: its registers at the fault, its stack memory, and
each module's x64 unwind data (:mod:`bot.symbols.unwind`) from the images crashbot has.

Like Breakpad's stackwalker, each frame says how it was found: ``context`` (the registers at the fault),
``cfi`` (the image's unwind tables, or the leaf rule for a function without them), or ``scan`` (a stack
word that points into a module's code: a guess, trusted less). The walk is bounded in frames and in
words scanned, and stops when the stack pointer does not move up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.symbols.errors import SymbolError
from bot.symbols.minidump import DumpModule, Memory, Minidump
from bot.symbols.unwind import UnwindTable, unwind_frame

MAX_FRAMES = 128
SCAN_WORDS_FIRST = 120  # words scanned for the first caller, as Breakpad does
SCAN_WORDS = 40
Tables = Callable[[DumpModule], UnwindTable | None]


class Trust(StrEnum):
    CONTEXT = "context"
    CFI = "cfi"
    SCAN = "scan"


@dataclass(frozen=True)
class WalkedFrame:
    """One frame of the walk: ``address`` is the instruction pointer (a return address for callers)."""

    address: int
    trust: Trust
    module: DumpModule | None

    @property
    def lookup(self) -> int:
        """The address to symbolize: a return address follows its call, so look one byte back."""
        return self.address if self.trust is Trust.CONTEXT else self.address - 1


@dataclass(frozen=True)
class Walk:
    frames: tuple[WalkedFrame, ...]
    notes: tuple[str, ...]


def walk_stack(dump: Minidump, tables: Tables, *, max_frames: int = MAX_FRAMES) -> Walk:
    """The crashing thread's frames, innermost first; notes say where CFI failed and why the walk ended."""
    if dump.context is None or dump.stack is None:
        return Walk((), dump.notes)
    stack = dump.stack
    gpr, rip = dump.context.gpr, dump.context.rip
    frames = [WalkedFrame(rip, Trust.CONTEXT, dump.module_at(rip))]
    notes: list[str] = list(dump.notes)
    cache: dict[int, UnwindTable | None] = {}
    while len(frames) < max_frames:
        module = frames[-1].module
        table = _table(module, tables, cache, notes) if module is not None else None
        caller = None
        if table is not None and module is not None:
            try:
                unwound = unwind_frame(table, rip - module.base, gpr, stack.qword)
                if _plausible(dump, stack, gpr[4], unwound.gpr[4], unwound.rip):
                    caller = (unwound.gpr, unwound.rip, Trust.CFI)
            except SymbolError as e:
                notes.append(f"unwind of {module.file_name}+{rip - module.base:#x} failed: {e}")
        if caller is None:
            caller = _scan(dump, stack, gpr, len(frames) == 1, tables, cache)
        if caller is None:
            break
        gpr, rip, trust = caller
        frames.append(WalkedFrame(rip, trust, dump.module_at(rip)))
    else:
        notes.append(f"the stack walk stopped at {max_frames} frames")
    counts = {t: sum(1 for f in frames if f.trust is t) for t in Trust}
    summary = ", ".join(f"{n} by {t.value}" for t, n in counts.items() if n)
    scanned = " (scanned frames are guesses: a word on the stack that points into code)"
    notes.insert(0, f"stack walked from the minidump: {summary}{scanned if counts[Trust.SCAN] else ''}")
    return Walk(tuple(frames), tuple(dict.fromkeys(notes)))


def _table(
    module: DumpModule, tables: Tables, cache: dict[int, UnwindTable | None], notes: list[str]
) -> UnwindTable | None:
    if module.base not in cache:
        try:
            cache[module.base] = tables(module)
        except SymbolError as e:
            notes.append(f"{module.file_name}: no unwind data: {e}")
            cache[module.base] = None
    return cache[module.base]


def _plausible(dump: Minidump, stack: Memory, rsp: int, new_rsp: int, rip: int) -> bool:
    """A caller must sit higher on the stack, still inside it, and return into a known module."""
    return rsp < new_rsp <= stack.base + len(stack.data) and dump.module_at(rip) is not None


def _scan(  # noqa: PLR0917 — the walk's state, passed down once
    dump: Minidump,
    stack: Memory,
    gpr: tuple[int, ...],
    first: bool,
    tables: Tables,
    cache: dict[int, UnwindTable | None],
) -> tuple[tuple[int, ...], int, Trust] | None:
    """Breakpad's stack scanning: the first word above rsp that points into a module's code."""
    rsp = gpr[4]
    for i in range(SCAN_WORDS_FIRST if first else SCAN_WORDS):
        at = rsp + 8 * i
        word = stack.qword(at)
        if word is None:
            return None
        module = dump.module_at(word)
        if module is None or word == module.base:
            continue
        table = _table(module, tables, cache, [])
        if table is not None and not table.follows_call(word - module.base):
            continue
        regs = list(gpr)
        regs[4] = at + 8
        return tuple(regs), word, Trust.SCAN
    return None
