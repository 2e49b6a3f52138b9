"""Module identities read from file headers with ``struct``: a PE's timestamp, size, sections and
CodeView record (the PDB it was linked with), a PDB's own GUID and age, an ELF's GNU build-id.

These are the keys a symbol server, a minidump's module list and debuginfod use. Every read is bounds
checked: a truncated or hostile file raises :class:`SymbolError` with one line, never ``struct.error``.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from bot.symbols.errors import SymbolError

# A PE header and section table sit in the first few KB; a PDB's superblock and stream directory too.
# Never read more than this much of a file at once to identify it (a PDB can be 1 GB). A PE's debug
# directory lives in a section, which in a large image (MSVC's .rdata after a 20 MB .text, lld's
# .buildid at the end of a MinGW image) lies past this: :func:`read_pe_file` reads those bytes apart.
HEADER_BYTES = 1 << 20
_IMAGE_DEBUG_TYPE_CODEVIEW = 2
_MSF_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"
_ELF_MAGIC = b"\x7fELF"
_NT_GNU_BUILD_ID = 3
_NHDR = struct.Struct("<III")


class Kind(StrEnum):
    """What a debug file is, by its first bytes."""

    PE = "pe"
    PDB = "pdb"
    ELF = "elf"


@dataclass(frozen=True)
class Section:
    name: str
    rva: int
    size: int


@dataclass(frozen=True)
class CodeView:
    """The RSDS record of a PE: which PDB it was linked with. ``key`` is the symbol-server folder name."""

    guid: str  # upper-case hex, 32 digits, in the symbol-server byte order
    age: int
    pdb_name: str  # as linked (often another machine's absolute path)

    @property
    def key(self) -> str:
        return f"{self.guid}{self.age:X}"


@dataclass(frozen=True)
class PeImage:
    timestamp: int
    size_of_image: int
    image_base: int
    sections: tuple[Section, ...]
    codeview: CodeView | None

    @property
    def key(self) -> str:
        """The symbol-server folder of the image: ``<TIMESTAMP><SizeOfImage>`` in hex."""
        return f"{self.timestamp:08X}{self.size_of_image:X}"

    def rva(self, section: int, offset: int) -> int | None:
        """Wheaty's ``section:offset`` (sections counted from 1) as an RVA; None when out of range."""
        if not 1 <= section <= len(self.sections):
            return None
        return self.sections[section - 1].rva + offset


@dataclass(frozen=True)
class PdbInfo:
    """A PDB's identity. ``age`` is the one its image's RSDS record carries (the DBI stream's), which keys
    the symbol-server folder; ``info_age`` is the PDB info stream's, which tools bump on each rewrite."""

    guid: str
    age: int
    info_age: int | None = None

    @property
    def key(self) -> str:
        return f"{self.guid}{self.age:X}"


class _Reader:
    """Bounds-checked little-endian reads over a byte buffer; every failure is one SymbolError line.

    ``beyond`` reads what lies past the buffer (the rest of the file), when there is a file."""

    def __init__(self, data: bytes, what: str, beyond: Callable[[int, int], bytes] | None = None) -> None:
        self.data = data
        self.what = what
        self.beyond = beyond

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        return struct.unpack(fmt, self.bytes(offset, struct.calcsize(fmt)))

    def u16(self, offset: int) -> int:
        return self.unpack("<H", offset)[0]

    def u32(self, offset: int) -> int:
        return self.unpack("<I", offset)[0]

    def bytes(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0:
            raise SymbolError(f"{self.what}: truncated (needs {size} bytes at offset {offset:#x})")
        if offset + size <= len(self.data):
            return self.data[offset : offset + size]
        data = self.beyond(offset, size) if self.beyond is not None else b""
        if len(data) != size:
            raise SymbolError(f"{self.what}: truncated (needs {size} bytes at offset {offset:#x})")
        return data


def guid_text(raw: bytes) -> str:
    """A 16-byte GUID as symbol servers spell it (Data1..3 little-endian, upper-case hex, no dashes)."""
    return uuid.UUID(bytes_le=raw).hex.upper()


def kind_of(head: bytes) -> Kind | None:
    if head.startswith(_MSF_MAGIC):
        return Kind.PDB
    if head.startswith(_ELF_MAGIC):
        return Kind.ELF
    if head.startswith(b"MZ"):
        return Kind.PE
    return None


def read_head(path: Path, limit: int = HEADER_BYTES) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(limit)
    except OSError as e:
        raise SymbolError(f"{path}: cannot be read: {e.strerror or e}") from None


def parse_codeview(r: _Reader, offset: int, size: int) -> CodeView | None:
    """An RSDS CodeView record at ``offset`` (``size`` bytes); None for other record kinds (NB10)."""
    if size < 24 or r.bytes(offset, 4) != b"RSDS":
        return None
    guid = guid_text(r.bytes(offset + 4, 16))
    age = r.u32(offset + 20)
    name = r.bytes(offset + 24, min(size - 24, 1024)).split(b"\0", 1)[0]
    return CodeView(guid, age, name.decode("utf-8", "replace"))


def _file_offset(rva: int, sections: tuple[Section, ...], raw: dict[int, tuple[int, int]]) -> int | None:
    for i, s in enumerate(sections):
        pointer, raw_size = raw[i]
        if s.rva <= rva < s.rva + max(s.size, raw_size):
            return pointer + (rva - s.rva)
    return None


def _debug_codeview(
    r: _Reader, dd_rva: int, dd_size: int, sections: tuple[Section, ...], raw: dict[int, tuple[int, int]]
) -> CodeView | None:
    start = _file_offset(dd_rva, sections, raw) if dd_rva else None
    if start is None:
        return None
    for i in range(min(dd_size // 28, 16)):
        entry = start + i * 28
        kind, size, _rva, pointer = r.unpack("<IIII", entry + 12)
        if kind == _IMAGE_DEBUG_TYPE_CODEVIEW:
            return parse_codeview(r, pointer, size)
    return None


def read_pe(
    data: bytes, what: str = "PE image", *, beyond: Callable[[int, int], bytes] | None = None
) -> PeImage:
    """The identity and section table of a PE32/PE32+ image (``.exe``/``.dll``) from its first bytes
    (and ``beyond``'s reads of the rest of the file, where the debug directory lies past them)."""
    r = _Reader(data, what, beyond)
    if r.bytes(0, 2) != b"MZ":
        raise SymbolError(f"{what}: not a PE image (no MZ header)")
    pe = r.u32(0x3C)
    if r.bytes(pe, 4) != b"PE\0\0":
        raise SymbolError(f"{what}: not a PE image (no PE signature)")
    _machine, nsections, timestamp = r.unpack("<HHI", pe + 4)
    opt_size = r.u16(pe + 20)
    opt = pe + 24
    magic = r.u16(opt)
    if magic == 0x20B:
        image_base = r.unpack("<Q", opt + 24)[0]
        dirs = opt + 112
    elif magic == 0x10B:
        image_base = r.u32(opt + 28)
        dirs = opt + 96
    else:
        raise SymbolError(f"{what}: unknown optional header magic {magic:#x}")
    size_of_image = r.u32(opt + 56)
    ndirs = r.u32(dirs - 4)
    sections: list[Section] = []
    raw: dict[int, tuple[int, int]] = {}
    table = opt + opt_size
    for i in range(min(nsections, 96)):
        entry = table + i * 40
        name = r.bytes(entry, 8).rstrip(b"\0").decode("ascii", "replace")
        vsize, rva, raw_size, pointer = r.unpack("<IIII", entry + 8)
        sections.append(Section(name, rva, vsize))
        raw[i] = (pointer, raw_size)
    codeview = None
    if ndirs > 6:
        dd_rva, dd_size = r.unpack("<II", dirs + 6 * 8)
        codeview = _debug_codeview(r, dd_rva, dd_size, tuple(sections), raw)
    return PeImage(timestamp, size_of_image, image_base, tuple(sections), codeview)


def read_pe_file(path: Path, head: bytes | None = None) -> PeImage:
    """:func:`read_pe` of the image at ``path``: its first :data:`HEADER_BYTES` (``head`` when already
    read), then single seeks for whatever the headers place past them."""
    try:
        with path.open("rb") as f:

            def beyond(offset: int, size: int) -> bytes:
                f.seek(offset)
                return f.read(size)

            return read_pe(head if head is not None else f.read(HEADER_BYTES), str(path), beyond=beyond)
    except OSError as e:
        raise SymbolError(f"{path}: cannot be read: {e.strerror or e}") from None


def read_pdb(path: Path) -> PdbInfo:
    """A PDB's GUID (PDB info stream, stream 1 of the MSF 7.0 container) and age (DBI stream, stream 3).

    Reads only the superblock, the stream directory and two blocks, wherever they sit in the file."""
    try:
        with path.open("rb") as f:
            return _read_pdb(f, str(path))
    except OSError as e:
        raise SymbolError(f"{path}: cannot be read: {e.strerror or e}") from None


def _read_pdb(f: BinaryIO, what: str) -> PdbInfo:
    def at(offset: int, size: int) -> _Reader:
        f.seek(offset)
        data = f.read(size)
        if len(data) != size:
            raise SymbolError(f"{what}: truncated (needs {size} bytes at offset {offset:#x})")
        return _Reader(data, what)

    head = at(0, 56)
    if head.bytes(0, 32) != _MSF_MAGIC:
        raise SymbolError(f"{what}: not a PDB (no MSF 7.00 superblock)")
    block, _free, nblocks, dir_bytes, _unknown, map_block = head.unpack("<IIIIII", 32)
    if block not in (512, 1024, 2048, 4096) or not 0 < dir_bytes <= 1 << 24 or map_block >= nblocks:
        raise SymbolError(f"{what}: damaged MSF superblock (block size {block}, directory {dir_bytes} B)")
    count = -(-dir_bytes // block)
    block_map = at(map_block * block, 4 * count)
    dir_blocks = [block_map.u32(4 * i) for i in range(count)]
    if any(b >= nblocks for b in dir_blocks):
        raise SymbolError(f"{what}: damaged MSF block map")
    directory = _Reader(b"".join(at(b * block, block).data for b in dir_blocks), what)
    nstreams = directory.u32(0)
    if not 2 <= nstreams <= 1 << 16:
        raise SymbolError(f"{what}: damaged MSF stream directory ({nstreams} streams)")
    info_block = _first_block(directory, nstreams, 1, block)
    if info_block is None or info_block >= nblocks:
        raise SymbolError(f"{what}: damaged MSF stream directory (no PDB info stream)")
    info = at(info_block * block, 28)
    _version, _signature, info_age = info.unpack("<III", 0)
    guid = guid_text(info.bytes(12, 16))
    # The age that matches the image is the DBI stream's (stream 3): the info stream's is bumped each time
    # a tool rewrites the PDB (Microsoft's own ntdll.pdb says 3 there, 1 in DBI and in ntdll.dll's RSDS
    # record, and the symbol server keys it ...1). A PDB without a DBI stream keeps the info stream's.
    dbi_block = _first_block(directory, nstreams, 3, block) if nstreams > 3 else None
    if dbi_block is not None and dbi_block < nblocks:
        signature, _dbi_version, dbi_age = at(dbi_block * block, 12).unpack("<III", 0)
        if signature == 0xFFFFFFFF and dbi_age:
            return PdbInfo(guid, dbi_age, info_age)
    return PdbInfo(guid, info_age, info_age)


def _first_block(directory: _Reader, nstreams: int, stream: int, block: int) -> int | None:
    """The first block of MSF stream ``stream`` (None when it is empty): the directory lists every stream's
    size, then every stream's blocks in order."""

    def blocks(size: int) -> int:
        return 0 if size == 0xFFFFFFFF else -(-size // block)

    size = directory.u32(4 + 4 * stream)
    if blocks(size) == 0:
        return None
    before = sum(blocks(directory.u32(4 + 4 * s)) for s in range(stream))
    return directory.u32(4 + 4 * nstreams + 4 * before)


def read_build_id(data: bytes, what: str = "ELF file") -> str | None:
    """The GNU build-id (lower-case hex) from an ELF's note sections or segments; None when it has none."""
    r = _Reader(data, what)
    if not data.startswith(_ELF_MAGIC):
        raise SymbolError(f"{what}: not an ELF file")
    cls, order = r.unpack("<BB", 4)
    if order != 1 or cls not in (1, 2):
        raise SymbolError(f"{what}: only little-endian ELF is read (class {cls}, byte order {order})")
    wide = cls == 2
    if wide:
        shoff = r.unpack("<Q", 0x28)[0]
        shentsize, shnum = r.unpack("<HH", 0x3A)
    else:
        shoff = r.u32(0x20)
        shentsize, shnum = r.unpack("<HH", 0x2E)
    for i in range(min(shnum, 4096)):
        entry = shoff + i * shentsize
        if entry + shentsize > len(data):
            break  # section headers sit at the end of a large file: beyond what was read
        kind = r.u32(entry + 4)
        if kind != 7:  # SHT_NOTE
            continue
        offset, size = r.unpack("<QQ", entry + 24) if wide else r.unpack("<II", entry + 16)
        found = _build_id_note(r, offset, size)
        if found:
            return found
    return _build_id_from_segments(r, wide)


def _program_header_table(r: _Reader, wide: bool) -> tuple[int, int, int]:
    """Where an ELF's program headers are: ``(e_phoff, e_phentsize, e_phnum)`` of a 64- or 32-bit header."""
    if wide:
        phoff = r.unpack("<Q", 0x20)[0]
        phentsize, phnum = r.unpack("<HH", 0x36)
    else:
        phoff = r.u32(0x1C)
        phentsize, phnum = r.unpack("<HH", 0x2A)
    return phoff, phentsize, phnum


def _build_id_from_segments(r: _Reader, wide: bool) -> str | None:
    phoff, phentsize, phnum = _program_header_table(r, wide)
    for i in range(min(phnum, 256)):
        entry = phoff + i * phentsize
        if r.u32(entry) != 4:  # PT_NOTE
            continue
        offset, size = (
            (r.unpack("<QQ", entry + 8)[0], r.unpack("<Q", entry + 32)[0])
            if wide
            else (r.u32(entry + 4), r.u32(entry + 16))
        )
        found = _build_id_note(r, offset, size)
        if found:
            return found
    return None


def _build_id_note(r: _Reader, offset: int, size: int) -> str | None:
    want = min(size, 1 << 16)
    found = build_id_in_notes(r.data[offset : offset + want])
    if found is None and offset + want > len(r.data):  # the build-id may sit in the part not read
        raise SymbolError(f"{r.what}: truncated (needs {want} bytes at offset {offset:#x})")
    return found


def elf_notes(data: bytes) -> Iterator[tuple[str, int, bytes]]:
    """``(name, type, desc)`` of each ELF note in ``data`` (4-byte aligned, as Linux and the linkers write
    them); stops at the first note cut short."""
    pos = 0
    while pos + _NHDR.size <= len(data):
        namesz, descsz, kind = _NHDR.unpack_from(data, pos)
        pos += _NHDR.size
        name = data[pos : pos + namesz].rstrip(b"\0").decode("ascii", "replace")
        pos += (namesz + 3) & ~3
        desc = data[pos : pos + descsz]
        pos += (descsz + 3) & ~3
        if len(desc) < descsz:
            return
        yield name, kind, desc


def build_id_in_notes(data: bytes) -> str | None:
    """The GNU build-id among ELF notes ``data``, lower-case hex; None when absent."""
    for name, kind, desc in elf_notes(data):
        if name == "GNU" and kind == _NT_GNU_BUILD_ID and desc:
            return desc.hex()
    return None


def file_build_id(path: Path) -> str | None:
    """The GNU build-id of an ELF executable or shared object on disk; None when it has none, is no ELF or
    cannot be read (the header, program headers and notes sit in its first :data:`HEADER_BYTES`)."""
    try:
        return read_build_id(read_head(path), str(path))
    except SymbolError:
        return None


def read_elf_load_vaddr(data: bytes, what: str = "ELF file") -> int:
    """The lowest PT_LOAD virtual address (0 for PIE executables and shared objects): an address in a
    module loaded at base B is ``pc - B + this``."""
    r = _Reader(data, what)
    if not data.startswith(_ELF_MAGIC):
        raise SymbolError(f"{what}: not an ELF file")
    wide = r.unpack("<B", 4)[0] == 2
    phoff, phentsize, phnum = _program_header_table(r, wide)
    lowest: int | None = None
    for i in range(min(phnum, 256)):
        entry = phoff + i * phentsize
        if r.u32(entry) != 1:  # PT_LOAD
            continue
        vaddr = r.unpack("<Q", entry + 16)[0] if wide else r.u32(entry + 8)
        offset = r.unpack("<Q", entry + 8)[0] if wide else r.u32(entry + 4)
        base = vaddr - offset
        lowest = base if lowest is None else min(lowest, base)
    return lowest or 0
