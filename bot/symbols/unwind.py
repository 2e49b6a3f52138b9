"""x64 unwinding from a PE image's exception directory: ``.pdata`` RUNTIME_FUNCTION entries and the
``.xdata`` UNWIND_INFO they point to (Microsoft's "x64 exception handling" documentation: unwind codes
PUSH_NONVOL, ALLOC_LARGE/SMALL, SET_FPREG, SAVE_NONVOL(_FAR), SAVE_XMM128(_FAR), PUSH_MACHFRAME and
chained info). A function with no RUNTIME_FUNCTION is a leaf: its return address is at [rsp].

When the instruction pointer lies in an epilogue, part of the prologue has already been undone and the
unwind codes would undo it twice. As Windows' RtlVirtualUnwind does, the code from the instruction pointer
on is matched against the only shapes an x64 epilogue may have (the documented rules: an optional
``add rsp, N`` or ``lea rsp, [frame register + N]``, then ``pop`` of nonvolatile registers, then ``ret``,
``ret N``, ``rep ret`` or a ``jmp`` out of the function), and when it matches, the rest of the epilogue is
emulated instead of applying the codes.

The image comes from the symbol store or a folder of debug files, never from the dump (a minidump holds
no code). Every read is bounds-checked; unwind data that loops or points outside the image is an
:class:`UnwindError`, and the walker falls back to stack scanning.
"""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from bot.symbols.errors import SymbolError
from bot.symbols.identity import _Reader

MAX_CHAIN = 32  # chained UNWIND_INFO records followed for one function
MAX_IMAGE_BYTES = 2 << 30
_EXCEPTION_DIRECTORY = 3
_UNW_FLAG_CHAININFO = 0x4
_SLOTS = {0: 1, 2: 1, 3: 1, 4: 2, 5: 3, 6: 2, 7: 3, 8: 2, 9: 3, 10: 1}  # ALLOC_LARGE (1) depends on info


class UnwindError(SymbolError):
    """This frame's unwind data cannot be used (damaged, looping, outside the image or the stack)."""


@dataclass(frozen=True)
class Section:
    rva: int
    size: int
    pointer: int
    raw_size: int
    executable: bool


@dataclass(frozen=True)
class UnwindTable:
    """One image's sections and sorted RUNTIME_FUNCTIONs (begin, end, unwind-info RVA)."""

    data: bytes
    sections: tuple[Section, ...]
    functions: tuple[tuple[int, int, int], ...]
    what: str

    def function_at(self, rva: int) -> tuple[int, int, int] | None:
        i = bisect.bisect_right(self.functions, (rva, 1 << 32, 0)) - 1
        if i >= 0 and self.functions[i][0] <= rva < self.functions[i][1]:
            return self.functions[i]
        return None

    def is_code(self, rva: int) -> bool:
        return any(s.executable and s.rva <= rva < s.rva + s.size for s in self.sections)

    def follows_call(self, rva: int) -> bool:
        """Whether the instruction before ``rva`` is a call (``E8 rel32``, or ``FF /2`` of 2 to 7
        bytes), as a return address's must be: how stack scanning tells one from a stray pointer."""
        if not self.is_code(rva):
            return False
        try:
            before = self.read(rva - 7, 7)
        except UnwindError:
            return False
        if before[2] == 0xE8:
            return True
        return any(before[7 - n] == 0xFF and before[8 - n] >> 3 & 7 == 2 for n in range(2, 8))

    def read(self, rva: int, size: int) -> bytes:
        for s in self.sections:
            if s.rva <= rva and rva + size <= s.rva + min(s.size, s.raw_size):
                return _Reader(self.data, self.what).bytes(s.pointer + rva - s.rva, size)
        raise UnwindError(f"{self.what}: unwind data at RVA {rva:#x} lies outside the image's sections")


def load_unwind_table(path: Path) -> UnwindTable:
    """Read the image's section table and exception directory (the file is read whole, up to 2 GB)."""
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
            if len(view) > MAX_IMAGE_BYTES:
                raise SymbolError(f"{path}: larger than {MAX_IMAGE_BYTES >> 20} MB, not unwound")
            data = bytes(view)
    except (OSError, ValueError) as e:
        raise SymbolError(f"{path}: cannot be read: {getattr(e, 'strerror', None) or e}") from None
    return parse_unwind_table(data, str(path))


def parse_unwind_table(data: bytes, what: str) -> UnwindTable:
    r = _Reader(data, what)
    if r.bytes(0, 2) != b"MZ":
        raise SymbolError(f"{what}: not a PE image (no MZ header)")
    pe = r.u32(0x3C)
    if r.bytes(pe, 4) != b"PE\0\0":
        raise SymbolError(f"{what}: not a PE image (no PE signature)")
    nsections = r.u16(pe + 6)
    opt_size = r.u16(pe + 20)
    opt = pe + 24
    if r.u16(opt) != 0x20B:
        raise SymbolError(f"{what}: not a 64-bit image, no x64 unwind data")
    ndirs = r.u32(opt + 108)
    exc_rva, exc_size = r.unpack("<II", opt + 112 + 8 * _EXCEPTION_DIRECTORY) if ndirs > 3 else (0, 0)
    sections = []
    for i in range(min(nsections, 96)):
        vsize, rva, raw_size, pointer = r.unpack("<IIII", opt + opt_size + 40 * i + 8)
        characteristics = r.u32(opt + opt_size + 40 * i + 36)
        sections.append(Section(rva, vsize, pointer, raw_size, bool(characteristics & 0x20000000)))
    table = UnwindTable(data, tuple(sections), (), what)
    count = min(exc_size // 12, 1_000_000)
    raw = table.read(exc_rva, 12 * count) if count else b""
    functions = sorted(
        (
            int.from_bytes(raw[i : i + 4], "little"),
            int.from_bytes(raw[i + 4 : i + 8], "little"),
            int.from_bytes(raw[i + 8 : i + 12], "little"),
        )
        for i in range(0, len(raw), 12)
    )
    return UnwindTable(data, tuple(sections), tuple(functions), what)


ReadQword = Callable[[int], int | None]


@dataclass(frozen=True)
class Caller:
    """The caller's state after undoing one function's prologue."""

    gpr: tuple[int, ...]
    rip: int


def unwind_frame(table: UnwindTable, rva: int, gpr: tuple[int, ...], read: ReadQword) -> Caller:
    """Undo the function at ``rva``'s prologue from registers ``gpr``; ``read`` gives stack qwords."""
    regs = list(gpr)
    entry = table.function_at(rva)
    if entry is None:  # a leaf function: nothing pushed, the return address is at [rsp]
        return _return(regs, read)
    begin, end, info_rva = entry
    epilogue = _epilogue(table, rva, begin, end)
    if epilogue is not None:
        return _emulate(epilogue, regs, read)
    seen: set[int] = set()
    offset: int | None = rva - begin  # only the primary record's prologue may be half done
    for _ in range(MAX_CHAIN):
        if info_rva in seen:
            raise UnwindError(f"{table.what}: chained unwind info loops at RVA {info_rva:#x}")
        seen.add(info_rva)
        machine = _apply(table, info_rva, offset, regs, read)
        if machine is not None:
            return machine
        chained = _chained(table, info_rva)
        if chained is None:
            return _return(regs, read)
        info_rva, offset = chained, None
    raise UnwindError(f"{table.what}: more than {MAX_CHAIN} chained unwind records at RVA {rva:#x}")


def _qword(read: ReadQword, address: int) -> int:
    value = read(address)
    if value is None:
        raise UnwindError(f"the unwind reads {address:#x}, outside the stack memory in the dump")
    return value


def _return(regs: list[int], read: ReadQword) -> Caller:
    rip = _qword(read, regs[4])
    regs[4] += 8
    return Caller(tuple(regs), rip)


def _chained(table: UnwindTable, info_rva: int) -> int | None:
    head = table.read(info_rva, 4)
    if not head[0] >> 3 & _UNW_FLAG_CHAININFO:
        return None
    at = info_rva + 4 + 2 * ((head[2] + 1) & ~1)
    return int.from_bytes(table.read(at + 8, 4), "little")


def _apply(
    table: UnwindTable, info_rva: int, offset: int | None, regs: list[int], read: ReadQword
) -> Caller | None:
    """Undo one UNWIND_INFO's codes in ``regs``; a Caller when PUSH_MACHFRAME ends the unwind."""
    head = table.read(info_rva, 4)
    if head[0] & 7 not in (1, 2):
        raise UnwindError(f"{table.what}: unknown UNWIND_INFO version {head[0] & 7} at RVA {info_rva:#x}")
    count, frame_reg, frame_offset = head[2], head[3] & 0xF, (head[3] >> 4) * 16
    codes = table.read(info_rva + 4, 2 * count)
    slots = [int.from_bytes(codes[i : i + 2], "little") for i in range(0, len(codes), 2)]
    base = regs[4]
    if frame_reg and _fp_established(slots, offset):
        base = regs[frame_reg] - frame_offset
    i = 0
    while i < len(slots):
        at, op, info = slots[i] & 0xFF, slots[i] >> 8 & 0xF, slots[i] >> 12
        size = _slot_count(op, info)
        if i + size > len(slots):
            raise UnwindError(f"{table.what}: unwind codes at RVA {info_rva:#x} run past their count")
        if offset is None or at <= offset:
            machine = _code(op, info, slots[i + 1 : i + size], regs, base, frame_reg, frame_offset, read)
            if machine is not None:
                return machine
        i += size
    return None


def _fp_established(slots: list[int], offset: int | None) -> bool:
    """Whether SET_FPREG has run at ``offset`` (always, outside the primary record's prologue)."""
    for slot in slots:
        if slot >> 8 & 0xF == 3:
            return offset is None or slot & 0xFF <= offset
    return False


def _slot_count(op: int, info: int) -> int:
    if op == 1:
        return 2 if info == 0 else 3
    if op not in _SLOTS:
        raise UnwindError(f"unknown unwind code {op}")
    return _SLOTS[op]


def _code(  # noqa: PLR0917 — one unwind code's fields and the state it changes
    op: int,
    info: int,
    extra: list[int],
    regs: list[int],
    base: int,
    frame_reg: int,
    frame_offset: int,
    read: ReadQword,
) -> Caller | None:
    if op == 0:  # UWOP_PUSH_NONVOL
        regs[info] = _qword(read, regs[4])
        regs[4] += 8
    elif op == 1:  # UWOP_ALLOC_LARGE
        regs[4] += extra[0] * 8 if info == 0 else extra[0] | extra[1] << 16
    elif op == 2:  # UWOP_ALLOC_SMALL
        regs[4] += info * 8 + 8
    elif op == 3:  # UWOP_SET_FPREG
        regs[4] = regs[frame_reg] - frame_offset
    elif op == 4:  # UWOP_SAVE_NONVOL
        regs[info] = _qword(read, base + extra[0] * 8)
    elif op == 5:  # UWOP_SAVE_NONVOL_FAR
        regs[info] = _qword(read, base + (extra[0] | extra[1] << 16))
    elif op == 10:  # UWOP_PUSH_MACHFRAME: the CPU pushed SS, RSP, EFLAGS, CS, RIP (and an error code)
        at = regs[4] + (8 if info else 0)
        regs[4] = _qword(read, at + 24)
        return Caller(tuple(regs), _qword(read, at))
    # UWOP_SAVE_XMM128(_FAR) and version 2's EPILOG restore nothing the walk uses
    return None


# -- epilogues ---------------------------------------------------------------------------------------------

MAX_EPILOGUE = 64  # bytes of code read from the instruction pointer: an epilogue is shorter
_MASK = (1 << 64) - 1


class _Op(Enum):
    """What one epilogue instruction does to the registers."""

    ADD_RSP = "add rsp, imm"
    LEA_RSP = "lea rsp, [reg + disp]"
    POP = "pop reg"
    RET = "ret (or a tail jmp: the return address is at [rsp] either way)"
    RET_IMM = "ret imm16"


@dataclass(frozen=True)
class _Step:
    op: _Op
    register: int = 0
    value: int = 0


def _epilogue(table: UnwindTable, rva: int, begin: int, end: int) -> list[_Step] | None:
    """The epilogue's remaining steps when the code at ``rva`` is one, else None (RtlVirtualUnwind's test).

    Only a REX.W ``add rsp, imm`` / ``lea rsp, [reg + disp]`` may come first; then pops (a REX.B prefix for
    r8..r15), then a return, or a ``jmp`` whose target lies outside the function (a tail call)."""
    code = _code_at(table, rva)
    steps: list[_Step] = []
    at = _first_adjustment(code, steps)
    if at is None:
        return None
    while at < len(code):
        prefix = code[at] if code[at] & 0xF0 == 0x40 else 0
        op_at = at + 1 if prefix else at
        if op_at >= len(code):
            return None
        op = code[op_at]
        if 0x58 <= op <= 0x5F:  # pop r64
            steps.append(_Step(_Op.POP, (op - 0x58) | (8 if prefix & 1 else 0)))
            at = op_at + 1
            continue
        return steps if _ends(code, op_at, prefix, (rva, begin, end), steps) else None
    return None


def _first_adjustment(code: bytes, steps: list[_Step]) -> int | None:
    """Read an opening ``add rsp, imm8/imm32`` or ``lea rsp, [reg + disp8/disp32]``; where the pops start."""
    if len(code) < 4 or code[0] & 0xF8 != 0x48:
        return 0
    op, modrm = code[1], code[2]
    if op in (0x83, 0x81) and code[0] == 0x48 and modrm == 0xC4:
        wide = op == 0x81
        if len(code) < (7 if wide else 4):
            return None
        imm = int.from_bytes(code[3 : 7 if wide else 4], "little", signed=True)
        steps.append(_Step(_Op.ADD_RSP, 4, imm))
        return 7 if wide else 4
    if op == 0x8D and not code[0] & 0x06 and modrm >> 3 & 7 == 4 and modrm & 7 != 4 and modrm >> 6 in (1, 2):
        wide = modrm >> 6 == 2
        if len(code) < (7 if wide else 4):
            return None
        disp = int.from_bytes(code[3 : 7 if wide else 4], "little", signed=True)
        steps.append(_Step(_Op.LEA_RSP, (modrm & 7) | (8 if code[0] & 1 else 0), disp))
        return 7 if wide else 4
    return 0 if op not in (0x81, 0x83, 0x8D) else None


def _ends(code: bytes, at: int, prefix: int, span: tuple[int, int, int], steps: list[_Step]) -> bool:
    """Whether the instruction at ``code[at]`` ends an epilogue: a return or a jump out of the function
    (``span`` is the code's RVA and the function's bounds)."""
    rva, begin, end = span
    op = code[at]
    if op == 0xC3 or (op == 0xF3 and code[at + 1 : at + 2] == b"\xc3"):
        steps.append(_Step(_Op.RET))
        return True
    if op == 0xC2 and at + 3 <= len(code):
        steps.append(_Step(_Op.RET_IMM, 0, int.from_bytes(code[at + 1 : at + 3], "little")))
        return True
    size = {0xE9: 5, 0xEB: 2}.get(op)
    if size is not None and at + size <= len(code):
        target = rva + at + size + int.from_bytes(code[at + 1 : at + size], "little", signed=True)
        if not begin <= target < end:
            steps.append(_Step(_Op.RET))
            return True
        return False
    modrm = code[at + 1] if at + 1 < len(code) else 0
    # ``jmp [rip + disp32]`` (a tail call through the import table), or REX.W ``jmp r/m64``
    if op == 0xFF and modrm >> 3 & 7 == 4 and (modrm == 0x25 or prefix & 0x48 == 0x48):
        steps.append(_Step(_Op.RET))
        return True
    return False


def _code_at(table: UnwindTable, rva: int) -> bytes:
    """Up to MAX_EPILOGUE bytes of code from ``rva``, fewer at the end of its section."""
    for s in table.sections:
        if s.executable and s.rva <= rva < s.rva + min(s.size, s.raw_size):
            return table.read(rva, min(MAX_EPILOGUE, s.rva + min(s.size, s.raw_size) - rva))
    return b""


def _emulate(steps: list[_Step], regs: list[int], read: ReadQword) -> Caller:
    """Run the rest of the epilogue on ``regs``: the caller's state as the function's return leaves it."""
    for step in steps:
        if step.op is _Op.ADD_RSP:
            regs[4] = (regs[4] + step.value) & _MASK
        elif step.op is _Op.LEA_RSP:
            regs[4] = (regs[step.register] + step.value) & _MASK
        elif step.op is _Op.POP:
            regs[step.register] = _qword(read, regs[4])
            regs[4] += 8
        else:
            rip = _qword(read, regs[4])
            regs[4] += 8 + (step.value if step.op is _Op.RET_IMM else 0)
            return Caller(tuple(regs), rip)
    raise UnwindError("an epilogue without its return")  # _epilogue only returns steps that end in one
