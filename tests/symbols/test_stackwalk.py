"""The stack walk of a real Wine minidump, checked against Wine's own debugger (which read the PDB) and
llvm-symbolizer; then the same dump and image made hostile: unwind data that loops or points outside
the image, stack ranges that lie, a 2 GB dump. Each gives frames or a note, never a hang or a traceback."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.artefacts import WindowsBuild, WineCrash
from bot.crash.model import CrashReport, Format
from bot.symbols.errors import SymbolError
from bot.symbols.minidump import MAX_STACK_BYTES, DumpModule, Minidump, read_minidump, read_minidump_file
from bot.symbols.service import analyse_with_symbols
from bot.symbols.stackwalk import MAX_FRAMES, Trust, walk_stack
from bot.symbols.unwind import UnwindError, UnwindTable, load_unwind_table, parse_unwind_table, unwind_frame


def _tables(build: WindowsBuild):  # type: ignore[no-untyped-def]
    table = load_unwind_table(build.exe)
    return lambda module: table if module.file_name == "worldserver.exe" else None


def _wine_callers(wine_dump: WineCrash) -> list[int]:
    """Wine's backtrace addresses, one per physical frame (an inlined frame repeats its caller's)."""
    return list(dict.fromkeys(f.address for f in wine_dump.frames))


def test_cfi_walk_finds_the_frames_wine_printed(wine_dump: WineCrash, windows_build: WindowsBuild) -> None:
    dump = read_minidump_file(wine_dump.dump)

    walk = walk_stack(dump, _tables(windows_build))

    truth = _wine_callers(wine_dump)  # worldserver's four frames, then kernel32's thread start
    assert [f.address for f in walk.frames[: len(truth)]] == truth
    assert [f.trust for f in walk.frames[:5]] == [Trust.CONTEXT, *[Trust.CFI] * 4]
    assert walk.frames[4].module is not None and walk.frames[4].module.file_name.lower() == "kernel32.dll"


def test_walked_return_addresses_symbolize_like_llvm_symbolizer_and_wine(
    tmp_path: Path, wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(windows_build.exe, release)
    shutil.copy(windows_build.pdb, release)
    walk = walk_stack(read_minidump_file(wine_dump.dump), _tables(windows_build))
    ours = [f.lookup for f in walk.frames[1:4]]  # the three callers in worldserver.exe
    answer = (
        subprocess.run(
            ["llvm-symbolizer", "--no-inlines", f"--obj={windows_build.exe}", *(hex(a) for a in ours)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        .stdout.strip()
        .split("\n\n")
    )

    outcome = analyse_with_symbols(
        CrashReport(format=Format.MINIDUMP), symbols=release, dump_path=wine_dump.dump
    )

    frames = [f for f in outcome.crash.report.threads[0].frames if not f.inline]
    for frame, told, wine in zip(frames[1:4], answer, wine_dump.frames[1:4], strict=True):
        name, where = told.strip().splitlines()[:2]
        assert frame.function == name
        assert frame.line == int(where.rsplit(":", 2)[1]) == wine.line
        assert frame.function is not None and frame.function.startswith(wine.function)


def test_without_images_the_stack_is_scanned_and_says_so(wine_dump: WineCrash) -> None:
    walk = walk_stack(read_minidump_file(wine_dump.dump), lambda module: None)

    assert walk.frames[0].trust is Trust.CONTEXT
    assert all(f.trust is Trust.SCAN for f in walk.frames[1:])
    scanned = [f.address for f in walk.frames]
    assert all(a in scanned for a in _wine_callers(wine_dump)[1:4])  # the true callers are among them
    assert len(walk.frames) <= MAX_FRAMES


def _only_worldserver(table: UnwindTable) -> Callable[[DumpModule], UnwindTable | None]:
    return lambda module: table if module.file_name == "worldserver.exe" else None


def _image_with(build: WindowsBuild, patch) -> UnwindTable:  # type: ignore[no-untyped-def]
    data = bytearray(build.exe.read_bytes())
    table = parse_unwind_table(bytes(data), "worldserver.exe")
    patch(data, table)
    return parse_unwind_table(bytes(data), "worldserver.exe")


def _file_offset(table: UnwindTable, rva: int) -> int:
    s = next(s for s in table.sections if s.rva <= rva < s.rva + s.size)
    return s.pointer + rva - s.rva


def test_chained_unwind_info_that_loops_is_an_error_and_the_walk_scans_instead(
    wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    dump = read_minidump_file(wine_dump.dump)
    caller_rva = wine_dump.frames[2].address - windows_build.image_base  # in Player::Update

    def chain_to_itself(data: bytearray, table: UnwindTable) -> None:
        begin, end, info = table.function_at(caller_rva)  # type: ignore[misc]
        at = _file_offset(table, info)
        data[at] |= 0x4 << 3  # UNW_FLAG_CHAININFO
        count = data[at + 2]
        struct.pack_into("<III", data, at + 4 + 2 * ((count + 1) & ~1), begin, end, info)

    looped = _image_with(windows_build, chain_to_itself)
    with pytest.raises(UnwindError, match="loops"):
        unwind_frame(looped, caller_rva, (0,) * 4 + (dump.stack.base,) + (0,) * 11, dump.stack.qword)  # type: ignore[union-attr]

    walk = walk_stack(dump, lambda m: looped if m.file_name == "worldserver.exe" else None)
    assert any("loops" in note for note in walk.notes)
    assert Trust.SCAN in {f.trust for f in walk.frames}
    assert [f.address for f in walk.frames[:2]] == _wine_callers(wine_dump)[:2]


def test_unwind_info_outside_the_image_is_an_error_not_a_read_elsewhere(
    wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    dump = read_minidump_file(wine_dump.dump)
    caller_rva = wine_dump.frames[2].address - windows_build.image_base

    def point_away(data: bytearray, table: UnwindTable) -> None:
        exc_rva = struct.unpack_from("<I", data, _pe_dirs(data) + 8 * 3)[0]
        at = _file_offset(table, exc_rva)
        for i in range(len(table.functions)):
            struct.pack_into("<I", data, at + 12 * i + 8, 0x7FFF_FFF0)

    broken = _image_with(windows_build, point_away)
    with pytest.raises(UnwindError, match="outside the image"):
        unwind_frame(broken, caller_rva, (0,) * 16, dump.stack.qword)  # type: ignore[union-attr]
    walk = walk_stack(dump, lambda m: broken if m.file_name == "worldserver.exe" else None)
    assert len(walk.frames) > 1 and any("outside the image" in note for note in walk.notes)


def _pe_dirs(data: bytes | bytearray) -> int:
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    return pe + 24 + 112


def _thread_entry(data: bytes | bytearray, thread_id: int) -> int:
    _sig, _ver, count, directory = struct.unpack_from("<IIII", data, 0)
    for i in range(count):
        kind, _size, rva = struct.unpack_from("<III", data, directory + 12 * i)
        if kind == 3:
            n = struct.unpack_from("<I", data, rva)[0]
            return next(
                rva + 4 + 48 * k
                for k in range(n)
                if struct.unpack_from("<I", data, rva + 4 + 48 * k)[0] == thread_id
            )
    raise AssertionError("no thread list")


def test_a_stack_range_that_lies_is_a_note_and_the_rest_of_the_dump_is_read(wine_dump: WineCrash) -> None:
    data = bytearray(wine_dump.dump.read_bytes())
    entry = _thread_entry(data, wine_dump.thread_id)
    struct.pack_into("<II", data, entry + 32, 0x100000, len(data) - 16)  # 1 MB of stack past the end of file

    dump = read_minidump(bytes(data), "crash.dmp")

    assert dump.exception is not None and dump.modules  # what could be read still is
    assert dump.stack is None
    assert len(dump.notes) == 1 and "stack cannot be read" in dump.notes[0] and "truncated" in dump.notes[0]
    walk = walk_stack(dump, lambda m: None)
    assert walk.frames == () and walk.notes == dump.notes


def test_a_2_gb_sparse_dump_is_mapped_not_read(tmp_path: Path, wine_dump: WineCrash) -> None:
    data = bytearray(wine_dump.dump.read_bytes())
    entry = _thread_entry(data, wine_dump.thread_id)
    start = struct.unpack_from("<Q", data, entry + 24)[0]
    struct.pack_into("<II", data, entry + 32, 0xFFFF_0000, 0x1000_0000)  # a 4 GB "stack" in the hole
    big = tmp_path / "huge.dmp"
    with big.open("wb") as f:
        f.write(data)
        f.truncate(2 << 30)  # sparse: no disk, but 2 GB for every reader that reads it whole

    tracemalloc.start()
    try:
        dump = read_minidump_file(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert dump.exception is not None
    assert dump.stack is not None and dump.stack.base >= start and len(dump.stack.data) <= MAX_STACK_BYTES
    assert peak < 3 * MAX_STACK_BYTES  # the stack copy, never the file


def test_a_walk_on_zeroed_stack_memory_ends_quietly(wine_dump: WineCrash) -> None:
    dump = read_minidump_file(wine_dump.dump)
    assert dump.stack is not None
    zeroed = Minidump(
        **{**dump.__dict__, "stack": type(dump.stack)(dump.stack.base, bytes(len(dump.stack.data)))}
    )

    walk = walk_stack(zeroed, lambda module: None)

    assert [f.trust for f in walk.frames] == [Trust.CONTEXT]


def test_an_image_that_is_not_a_pe_gives_no_tables(tmp_path: Path, wine_dump: WineCrash) -> None:
    junk = tmp_path / "worldserver.exe"
    junk.write_bytes(b"MZ" + b"\xff" * 100)
    with pytest.raises(SymbolError):
        load_unwind_table(junk)

    def tables(module: DumpModule) -> UnwindTable | None:
        return load_unwind_table(junk)

    walk = walk_stack(read_minidump_file(wine_dump.dump), tables)
    assert len(walk.frames) > 1 and any("no unwind data" in n for n in walk.notes)


def test_every_damaged_byte_of_the_unwind_data_gives_a_walk_not_an_exception(
    wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    """Each byte of the .pdata and .xdata sections set to 0xFF or 0x00 in turn: the walk always ends, with
    the faulting frame first, whatever the tables say."""
    dump = read_minidump_file(wine_dump.dump)
    data = windows_build.exe.read_bytes()
    table = parse_unwind_table(data, "worldserver.exe")
    exc_rva = struct.unpack_from("<I", data, _pe_dirs(data) + 8 * 3)[0]
    start = _file_offset(table, exc_rva)
    infos = [_file_offset(table, info) for _b, _e, info in table.functions]
    region = range(min(start, *infos), max(start + 12 * len(table.functions), *infos) + 16)
    for at in region:
        for value in (0x00, 0xFF):
            damaged = bytearray(data)
            damaged[at] = value
            try:
                broken = parse_unwind_table(bytes(damaged), "worldserver.exe")
            except SymbolError:
                continue
            walk = walk_stack(dump, _only_worldserver(broken))
            assert walk.frames[0].address == wine_dump.frames[0].address
            assert len(walk.frames) <= MAX_FRAMES
