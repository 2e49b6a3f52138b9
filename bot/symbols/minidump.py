"""A small, strict reader of Windows minidumps (``MDMP``): header, stream directory, and the streams
crashbot uses — exception, thread list, module list (with each module's CodeView record), system info
and misc info. Streams it does not know are skipped: Wine writes a private stream 0xFFF0, on which the
``minidump`` package on PyPI raises. Every read is bounds-checked; a damaged dump is one SymbolError line.

Layouts: Microsoft's minidumpapiset.h (MINIDUMP_HEADER, MINIDUMP_DIRECTORY, MINIDUMP_EXCEPTION_STREAM,
MINIDUMP_THREAD, MINIDUMP_MODULE, MINIDUMP_SYSTEM_INFO, MINIDUMP_MISC_INFO).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

from bot.symbols.errors import SymbolError
from bot.symbols.identity import CodeView, _Reader, parse_codeview

MAX_DUMP_BYTES = 1 << 40  # the file is mapped, never read whole: a full-memory dump can be GBs
MAX_STACK_BYTES = 8 << 20  # of the crashing thread's stack, copied for the walk (1 MB is Windows' default)
_MAGIC = b"MDMP"
_THREAD_LIST, _MODULE_LIST, _MEMORY_LIST, _EXCEPTION, _SYSTEM_INFO, _MEMORY64_LIST, _MISC_INFO = (
    3,
    4,
    5,
    6,
    7,
    9,
    15,
)
_AMD64_CONTEXT_BYTES = 1232  # CONTEXT in winnt.h for x64; Rax..R15 at 120, Rip at 248
_CONTEXT_AMD64 = 0x00100000  # ContextFlags (at 0x30 in x64's CONTEXT) name the architecture
_CONTEXT_ARM64 = 0x00400000  # ContextFlags (at 0 in ARM64's CONTEXT)
_MAX_STREAMS = 4096
_MAX_ITEMS = 100_000
_ARCH = {0: "x86", 5: "arm", 6: "ia64", 9: "amd64", 12: "arm64"}


@dataclass(frozen=True)
class DumpModule:
    name: str  # the full path as loaded
    base: int
    size: int
    timestamp: int
    version: str | None  # the file version from VS_FIXEDFILEINFO (``10.0.19041.1``)
    codeview: CodeView | None

    @property
    def file_name(self) -> str:
        return self.name.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def key(self) -> str:
        """The image's symbol-server key (``<TIMESTAMP><SizeOfImage>``)."""
        return f"{self.timestamp:08X}{self.size:X}"

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + self.size


@dataclass(frozen=True)
class DumpException:
    thread_id: int
    code: int
    address: int
    context: tuple[int, int] = (0, 0)  # (size, rva) of the faulting thread's CONTEXT

    @property
    def code_text(self) -> str:
        return f"{self.code:08X}"


@dataclass(frozen=True)
class Registers:
    """The x64 integer registers of a thread (index = the unwind codes' register number: 0 RAX, 1 RCX,
    2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI, 8..15 R8..R15) and its instruction pointer."""

    gpr: tuple[int, ...]
    rip: int

    @property
    def rsp(self) -> int:
        return self.gpr[4]


@dataclass(frozen=True)
class Memory:
    """A copy of one range of the process's memory (the crashing thread's stack)."""

    base: int
    data: bytes

    def qword(self, address: int) -> int | None:
        at = address - self.base
        if at < 0 or at + 8 > len(self.data):
            return None
        return int.from_bytes(self.data[at : at + 8], "little")

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + len(self.data)


@dataclass(frozen=True)
class Minidump:
    timestamp: int
    streams: tuple[int, ...]
    exception: DumpException | None
    thread_ids: tuple[int, ...]
    modules: tuple[DumpModule, ...]
    architecture: str | None
    os_version: str | None
    process_id: int | None
    context: Registers | None = None  # the crashing thread's registers at the fault (x64 only)
    stack: Memory | None = None  # the crashing thread's stack memory
    notes: tuple[str, ...] = ()  # what could not be read (the rest of the dump still is)

    def module_at(self, address: int) -> DumpModule | None:
        return next((m for m in self.modules if m.contains(address)), None)


def read_minidump_file(path: Path) -> Minidump:
    """Map the file rather than read it: only the directory, the streams used and one stack are touched,
    so a multi-GB dump costs neither the time nor the memory of reading it."""
    try:
        with path.open("rb") as f:
            if path.stat().st_size < 32:
                return read_minidump(f.read(32), str(path))
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return read_minidump(view, str(path))  # type: ignore[arg-type]
    except (OSError, ValueError) as e:
        raise SymbolError(f"{path}: cannot be read: {getattr(e, 'strerror', None) or e}") from None


def read_minidump(data: bytes, what: str = "minidump") -> Minidump:
    r = _Reader(data, what)
    if len(data) < 32 or r.bytes(0, 4) != _MAGIC:
        raise SymbolError(f"{what}: not a minidump (no MDMP header)")
    _sig, _version, count, directory, _checksum, timestamp = r.unpack("<IIIIII", 0)
    if count > _MAX_STREAMS:
        raise SymbolError(f"{what}: damaged header ({count} streams)")
    streams: dict[int, tuple[int, int]] = {}
    for i in range(count):
        kind, size, rva = r.unpack("<III", directory + 12 * i)
        streams.setdefault(kind, (rva, size))  # unknown kinds (Wine's 0xFFF0) are kept but never read
    exception = _exception(r, *streams[_EXCEPTION]) if _EXCEPTION in streams else None
    arch, os_version = _system_info(r, *streams[_SYSTEM_INFO]) if _SYSTEM_INFO in streams else (None, None)
    state = _crashing_thread(r, streams, exception, arch)
    return Minidump(
        timestamp=timestamp,
        streams=tuple(sorted(streams)),
        exception=exception,
        thread_ids=_thread_ids(r, *streams[_THREAD_LIST]) if _THREAD_LIST in streams else (),
        modules=_modules(r, *streams[_MODULE_LIST]) if _MODULE_LIST in streams else (),
        architecture=arch,
        os_version=os_version,
        process_id=_process_id(r, *streams[_MISC_INFO]) if _MISC_INFO in streams else None,
        context=state.context,
        stack=state.stack,
        notes=state.notes,
    )


def _count(r: _Reader, rva: int, size: int, item: int) -> int:
    n = r.u32(rva)
    if n > _MAX_ITEMS or 4 + n * item > max(size, 4) + 8:  # some writers pad the count to 8 bytes
        raise SymbolError(f"{r.what}: damaged stream at {rva:#x} ({n} entries in {size} bytes)")
    return n


def _exception(r: _Reader, rva: int, size: int) -> DumpException:
    thread_id, _align, code, _flags, _record, address = r.unpack("<IIIIQQ", rva)
    ctx_size, ctx_rva = r.unpack("<II", rva + 160) if size >= 168 else (0, 0)
    return DumpException(thread_id, code, address, (ctx_size, ctx_rva))


def _thread_ids(r: _Reader, rva: int, size: int) -> tuple[int, ...]:
    n = _count(r, rva, size, 48)
    return tuple(r.u32(rva + 4 + 48 * i) for i in range(n))


def _string(r: _Reader, rva: int) -> str:
    length = r.u32(rva)
    if length > 65_536:
        raise SymbolError(f"{r.what}: damaged string at {rva:#x} ({length} bytes)")
    return r.bytes(rva + 4, length).decode("utf-16-le", "replace")


def _version(ms: int, ls: int) -> str:
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def _modules(r: _Reader, rva: int, size: int) -> tuple[DumpModule, ...]:
    n = _count(r, rva, size, 108)
    modules = []
    for i in range(n):
        at = rva + 4 + 108 * i
        base, image_size, _checksum, timestamp, name_rva = r.unpack("<QIIII", at)
        signature, _struct_version, file_ms, file_ls = r.unpack("<IIII", at + 24)
        cv_size, cv_rva = r.unpack("<II", at + 76)
        codeview = parse_codeview(r, cv_rva, cv_size) if cv_size else None
        modules.append(
            DumpModule(
                name=_string(r, name_rva),
                base=base,
                size=image_size,
                timestamp=timestamp,
                version=_version(file_ms, file_ls) if signature == 0xFEEF04BD else None,
                codeview=codeview,
            )
        )
    return tuple(modules)


def _system_info(r: _Reader, rva: int, size: int) -> tuple[str | None, str | None]:
    arch, _level, _revision, _cpus, _product, major, minor, build = r.unpack("<HHHBBIII", rva)
    return _ARCH.get(arch, f"arch {arch}"), f"{major}.{minor}.{build}"


def _process_id(r: _Reader, rva: int, size: int) -> int | None:
    _size, flags, pid = r.unpack("<III", rva)
    return pid if flags & 1 else None


@dataclass(frozen=True)
class _ThreadState:
    context: Registers | None = None
    stack: Memory | None = None
    notes: tuple[str, ...] = ()


def _crashing_thread(
    r: _Reader, streams: dict[int, tuple[int, int]], exception: DumpException | None, arch: str | None
) -> _ThreadState:
    """The faulting thread's registers and stack, for the walk; what cannot be read becomes a note (the
    exception and module list are still used)."""
    if exception is None or _THREAD_LIST not in streams:
        return _ThreadState()
    if arch not in (None, "amd64"):
        return _ThreadState(notes=(f"the stack is not walked for {arch} dumps (x64 only)",))
    try:
        return _thread_state(r, streams, exception)
    except SymbolError as e:
        return _ThreadState(notes=(f"the crashing thread's stack cannot be read: {e}",))


def _thread_state(r: _Reader, streams: dict[int, tuple[int, int]], exc: DumpException) -> _ThreadState:
    rva, size = streams[_THREAD_LIST]
    for i in range(_count(r, rva, size, 48)):
        at = rva + 4 + 48 * i
        if r.u32(at) != exc.thread_id:
            continue
        stack_start, stack_size, stack_rva, ctx_size, ctx_rva = r.unpack("<QIIII", at + 24)
        context = _registers(r, *exc.context) if exc.context[0] else None
        context = context or _registers(r, ctx_size, ctx_rva)
        if context is None:
            arm64 = any(_is_arm64_context(r, *c) for c in (exc.context, (ctx_size, ctx_rva)) if c[0])
            if arm64:
                return _ThreadState(notes=("the stack is not walked for arm64 dumps (x64 only)",))
            return _ThreadState(notes=("the crashing thread has no x64 register context in the dump",))
        stack = _stack(r, streams, context.rsp, (stack_start, stack_size, stack_rva))
        if stack is None:
            return _ThreadState(context, notes=(f"no stack memory around rsp {context.rsp:#x} in the dump",))
        return _ThreadState(context, stack)
    return _ThreadState(notes=(f"the crashing thread {exc.thread_id:#x} is not in the thread list",))


def _registers(r: _Reader, size: int, rva: int) -> Registers | None:
    """The x64 CONTEXT's registers; None when it is too short or its ContextFlags do not say CONTEXT_AMD64
    (another architecture's CONTEXT must never be read as x64's: that would walk a wrong stack)."""
    if size < _AMD64_CONTEXT_BYTES or not r.u32(rva + 0x30) & _CONTEXT_AMD64:
        return None
    values = r.unpack("<17Q", rva + 120)
    return Registers(gpr=values[:16], rip=values[16])


def _is_arm64_context(r: _Reader, size: int, rva: int) -> bool:
    """An ARM64 CONTEXT (its ContextFlags, the first field, say CONTEXT_ARM64)."""
    return size >= 4 and r.u32(rva) & 0xFFFF0000 == _CONTEXT_ARM64


def _stack(
    r: _Reader, streams: dict[int, tuple[int, int]], rsp: int, own: tuple[int, int, int]
) -> Memory | None:
    """The range holding ``rsp``: the thread's own descriptor, else the memory lists (full dumps)."""
    ranges = [own] if own[1] else []
    if _MEMORY_LIST in streams:
        ranges += _memory_list(r, *streams[_MEMORY_LIST])
    if _MEMORY64_LIST in streams:
        ranges += _memory64_list(r, *streams[_MEMORY64_LIST])
    for base, length, at in ranges:
        if base <= rsp < base + length:
            begin = max(base, rsp - 4096) if length > MAX_STACK_BYTES else base  # a little above the frame
            take = min(length - (begin - base), MAX_STACK_BYTES)
            return Memory(begin, bytes(r.bytes(at + (begin - base), take)))
    return None


def _memory_list(r: _Reader, rva: int, size: int) -> list[tuple[int, int, int]]:
    n = _count(r, rva, size, 16)
    return [r.unpack("<QII", rva + 4 + 16 * i) for i in range(n)]  # type: ignore[misc]


def _memory64_list(r: _Reader, rva: int, size: int) -> list[tuple[int, int, int]]:
    n, at = r.unpack("<QQ", rva)
    if n > _MAX_ITEMS or 16 + 16 * n > size:
        raise SymbolError(f"{r.what}: damaged memory list at {rva:#x} ({n} ranges in {size} bytes)")
    out = []
    for i in range(n):
        base, length = r.unpack("<QQ", rva + 16 + 16 * i)
        out.append((base, length, at))
        at += length
    return out
