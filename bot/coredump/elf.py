"""What an ELF core file says about itself, read from its headers and notes (no debugger needed).

A core is an ELF file of type ``ET_CORE``. Its ``PT_NOTE`` segment names the process (``NT_PRPSINFO``: the
executable's 16-character name and its command line), the fatal signal (``NT_SIGINFO``/``NT_PRSTATUS``) and
every mapped file (``NT_FILE``: the executable's full path among them). The executable's GNU build-id is read
from the core's own copy of the executable's first page (the kernel dumps ELF headers by default:
``coredump_filter`` bit 4), so a core can be matched to the binary that wrote it without running gdb.

Only the headers and notes are read (a few KB), whatever the core's size: a 10 GB core costs as little as
a 1 MB one. 64-bit little-endian cores (x86-64, aarch64) are read; anything else is :class:`NotACore`.
"""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.crash import signals
from bot.symbols.identity import build_id_in_notes, elf_notes

ELF_MAGIC = b"\x7fELF"
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
NT_PRSTATUS = 1
NT_PRPSINFO = 3
NT_SIGINFO = 0x53494749
NT_FILE = 0x46494C45

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
MAX_NOTES_BYTES = 16 * 1024 * 1024  # a core's notes: a few KB per thread; more is not a core we read
MAX_PHDRS = 65_535


class NotACore(ValueError):
    """The file is not an ELF core crashbot can read; the message says what it is instead."""


@dataclass(frozen=True)
class Mapping:
    """One file mapped into the crashed process (``NT_FILE``)."""

    start: int
    end: int
    file_offset: int
    path: str


@dataclass(frozen=True)
class Segment:
    vaddr: int
    offset: int
    filesz: int


@dataclass(frozen=True)
class CoreInfo:
    """What the core's notes say. ``executable`` is the full path from ``NT_FILE`` when there is one, else
    None; ``name`` is ``NT_PRPSINFO``'s (at most 16 characters); ``build_id`` is the executable's GNU
    build-id as the core holds it (lower-case hex), None when the core did not keep that page."""

    name: str | None
    command_line: str | None
    pid: int | None
    signal: str | None
    executable: str | None
    build_id: str | None
    mappings: tuple[Mapping, ...]
    threads: int


def is_core(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts like an ELF core (a cheap check on 18 bytes; a FIFO or
    device is never opened, since opening one can block)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as f:
            head = f.read(18)
    except OSError:
        return False
    return len(head) == 18 and head[:4] == ELF_MAGIC and struct.unpack_from("<H", head, 16)[0] == ET_CORE


def read_core(path: Path) -> CoreInfo:
    """Read ``path``'s notes; NotACore (one readable line) when it is no ELF core or is damaged."""
    try:
        with path.open("rb") as f:
            return _read(f)
    except NotACore:
        raise
    except (struct.error, ValueError, OverflowError) as e:  # offsets past the end, or past any file size
        raise NotACore(f"{path}: the core's headers are cut short or damaged ({e})") from None
    except OSError as e:
        raise NotACore(f"{path}: cannot be read: {e.strerror or e}") from None


def _read(f: BinaryIO) -> CoreInfo:
    header = f.read(_EHDR.size)
    if len(header) < 16 or header[:4] != ELF_MAGIC:
        raise NotACore("not an ELF file (no \\x7fELF magic): not a core file")
    if header[4] != 2 or header[5] != 1:
        raise NotACore("a 32-bit or big-endian ELF file: only 64-bit little-endian cores are read")
    fields = _EHDR.unpack(header)
    e_type, phoff, phentsize, phnum = fields[1], fields[5], fields[9], fields[10]
    if e_type != ET_CORE:
        raise NotACore(f"an ELF file of type {e_type}, not a core (ET_CORE = 4): pass the core, not a binary")
    if phnum > MAX_PHDRS or phentsize < _PHDR.size:
        raise NotACore(f"damaged program header table ({phnum} entries of {phentsize} bytes)")
    segments: list[Segment] = []
    notes: list[tuple[int, int]] = []
    f.seek(phoff)
    table = f.read(phnum * phentsize)
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align = _PHDR.unpack_from(
            table, i * phentsize
        )
        if p_type == PT_LOAD:
            segments.append(Segment(vaddr, offset, filesz))
        elif p_type == PT_NOTE:
            notes.append((offset, filesz))
    info = _Notes()
    for offset, size in notes:
        if size > MAX_NOTES_BYTES:
            raise NotACore(f"a note segment of {size} bytes: damaged or not a core crashbot reads")
        f.seek(offset)
        info.read(f.read(size))
    executable = info.executable()
    try:
        build_id = _core_build_id(f, segments, info.mappings, executable) if executable else None
    except (struct.error, ValueError, OverflowError):  # a damaged copy of the header page: no build-id
        build_id = None
    return CoreInfo(
        name=info.name,
        command_line=info.command_line,
        pid=info.pid,
        signal=info.signal,
        executable=executable,
        build_id=build_id,
        mappings=tuple(info.mappings),
        threads=info.threads,
    )


class _Notes:
    def __init__(self) -> None:
        self.name: str | None = None
        self.command_line: str | None = None
        self.pid: int | None = None
        self.signal: str | None = None
        self.mappings: list[Mapping] = []
        self.threads = 0

    def read(self, data: bytes) -> None:
        for name, kind, desc in elf_notes(data):
            if name != "CORE":
                continue
            if kind == NT_PRPSINFO and len(desc) >= 136:
                self.pid = struct.unpack_from("<i", desc, 24)[0]
                self.name = _c_string(desc[40:56]) or None
                self.command_line = _c_string(desc[56:136]).strip() or None
            elif kind == NT_PRSTATUS and len(desc) >= 14:
                self.threads += 1
                if self.signal is None:
                    self.signal = _signal(struct.unpack_from("<h", desc, 12)[0])
            elif kind == NT_SIGINFO and len(desc) >= 4:
                self.signal = _signal(struct.unpack_from("<i", desc, 0)[0]) or self.signal
            elif kind == NT_FILE:
                self.mappings = _file_note(desc)

    def executable(self) -> str | None:
        """The mapped file whose name is the process name (PRPSINFO's 16 characters), else the first."""
        files = [m for m in self.mappings if m.file_offset == 0]
        if self.name:
            for m in files:
                if Path(m.path).name[:15] == self.name[:15]:
                    return m.path
        return files[0].path if files else None


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _signal(number: int) -> str | None:
    if number <= 0:
        return None
    return signals.name_of(number)


def _file_note(desc: bytes) -> list[Mapping]:
    if len(desc) < 16:
        return []
    count, page = struct.unpack_from("<QQ", desc, 0)
    if count > 1_000_000:
        return []
    table_end = 16 + 24 * count
    names = desc[table_end:].split(b"\0")
    out: list[Mapping] = []
    for i in range(min(count, len(names))):
        start, end, pages = struct.unpack_from("<QQQ", desc, 16 + 24 * i)
        out.append(Mapping(start, end, pages * page, names[i].decode("utf-8", "surrogateescape")))
    return out


def _read_at(f: BinaryIO, segments: list[Segment], address: int, size: int) -> bytes | None:
    """``size`` bytes of the crashed process's memory at ``address``, when the core holds them."""
    for seg in segments:
        if seg.vaddr <= address and address + size <= seg.vaddr + seg.filesz:
            f.seek(seg.offset + address - seg.vaddr)
            data = f.read(size)
            return data if len(data) == size else None
    return None


def _core_build_id(f: BinaryIO, segments: list[Segment], mappings: list[Mapping], exe: str) -> str | None:
    """The executable's build-id from its ELF header page in the core (None when the core lacks it)."""
    base = min((m.start for m in mappings if m.path == exe and m.file_offset == 0), default=None)
    if base is None:
        return None
    header = _read_at(f, segments, base, _EHDR.size)
    if header is None or header[:4] != ELF_MAGIC or header[4] != 2:
        return None
    fields = _EHDR.unpack(header)
    phoff, phentsize, phnum = fields[5], fields[9], fields[10]
    table = _read_at(f, segments, base + phoff, phnum * phentsize) if phnum < 256 else None
    if table is None:
        return None
    phdrs = [_PHDR.unpack_from(table, i * phentsize) for i in range(phnum)]
    first_load = min((p[3] for p in phdrs if p[0] == PT_LOAD), default=0)
    for p_type, _flags, _offset, vaddr, _paddr, filesz, _memsz, _align in phdrs:
        if p_type == PT_NOTE and filesz < 65536:
            data = _read_at(f, segments, base - first_load + vaddr, filesz)
            found = build_id_in_notes(data or b"")
            if found:
                return found
    return None


_SHDR = struct.Struct("<IIQQQQIIQQ")


def has_debug_info(path: Path) -> bool:
    """Whether the ELF file at ``path`` carries DWARF (a ``.debug_info`` section); False when unreadable."""
    try:
        with path.open("rb") as f:
            header = f.read(_EHDR.size)
            if len(header) < _EHDR.size or header[:4] != ELF_MAGIC or header[4] != 2 or header[5] != 1:
                return False
            fields = _EHDR.unpack(header)
            shoff, shentsize, shnum, shstrndx = fields[6], fields[11], fields[12], fields[13]
            if not shoff or shentsize < _SHDR.size or shnum > MAX_PHDRS or shstrndx >= shnum:
                return False
            f.seek(shoff)
            table = f.read(shnum * shentsize)
            sections = [_SHDR.unpack_from(table, i * shentsize) for i in range(shnum)]
            names = sections[shstrndx]
            if names[5] > MAX_NOTES_BYTES:
                return False
            f.seek(names[4])
            strings = f.read(names[5])
            return any(strings[s[0] : strings.find(b"\0", s[0])] == b".debug_info" for s in sections)
    except (OSError, struct.error, ValueError, OverflowError):
        return False
