"""A small, strict reader of Windows minidumps (``MDMP``): header, stream directory, and the streams
crashbot uses — exception, thread list, module list (with each module's CodeView record), system info
and misc info. Streams it does not know are skipped: Wine writes a private stream 0xFFF0, on which the
``minidump`` package on PyPI raises. Every read is bounds-checked; a damaged dump is one SymbolError line.

Layouts: Microsoft's minidumpapiset.h (MINIDUMP_HEADER, MINIDUMP_DIRECTORY, MINIDUMP_EXCEPTION_STREAM,
MINIDUMP_THREAD, MINIDUMP_MODULE, MINIDUMP_SYSTEM_INFO, MINIDUMP_MISC_INFO).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.symbols.errors import SymbolError
from bot.symbols.identity import CodeView, _Reader, parse_codeview

MAX_DUMP_BYTES = 1 << 31  # a full-memory dump can be GBs; a minidump that large is read up to here
_MAGIC = b"MDMP"
_THREAD_LIST, _MODULE_LIST, _EXCEPTION, _SYSTEM_INFO, _MISC_INFO = 3, 4, 6, 7, 15
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

    @property
    def code_text(self) -> str:
        return f"{self.code:08X}"


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

    def module_at(self, address: int) -> DumpModule | None:
        return next((m for m in self.modules if m.contains(address)), None)


def read_minidump_file(path: Path) -> Minidump:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_DUMP_BYTES)
    except OSError as e:
        raise SymbolError(f"{path}: cannot be read: {e.strerror or e}") from None
    return read_minidump(data, str(path))


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
    return Minidump(
        timestamp=timestamp,
        streams=tuple(sorted(streams)),
        exception=exception,
        thread_ids=_thread_ids(r, *streams[_THREAD_LIST]) if _THREAD_LIST in streams else (),
        modules=_modules(r, *streams[_MODULE_LIST]) if _MODULE_LIST in streams else (),
        architecture=arch,
        os_version=os_version,
        process_id=_process_id(r, *streams[_MISC_INFO]) if _MISC_INFO in streams else None,
    )


def _count(r: _Reader, rva: int, size: int, item: int) -> int:
    n = r.u32(rva)
    if n > _MAX_ITEMS or 4 + n * item > max(size, 4) + 8:  # some writers pad the count to 8 bytes
        raise SymbolError(f"{r.what}: damaged stream at {rva:#x} ({n} entries in {size} bytes)")
    return n


def _exception(r: _Reader, rva: int, size: int) -> DumpException:
    thread_id, _align, code, _flags, _record, address = r.unpack("<IIIIQQ", rva)
    return DumpException(thread_id, code, address)


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
