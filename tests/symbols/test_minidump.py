"""The minidump reader on a real dump written by Wine's debugger, checked against what Wine printed;
damaged dumps are one SymbolError line, never another exception."""

from __future__ import annotations

import contextlib
import shutil
import struct
from pathlib import Path

import pytest

from bench.artefacts import WindowsBuild, WineCrash, wheaty_report
from bot.crash import parse_report
from bot.crash.model import CrashReport, Format
from bot.symbols.errors import SymbolError
from bot.symbols.identity import read_pe
from bot.symbols.minidump import read_minidump, read_minidump_file
from bot.symbols.service import analyse_with_symbols
from bot.symbols.store import SymbolStore

WINE_PRIVATE_STREAM = 0xFFF0  # the stream on which PyPI's `minidump` raises


def test_wine_dump_gives_the_exception_thread_and_module_wine_reported(
    wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    dump = read_minidump_file(wine_dump.dump)

    assert WINE_PRIVATE_STREAM in dump.streams
    assert dump.exception is not None
    assert dump.exception.code_text == "C0000005"
    assert dump.exception.address == wine_dump.frames[0].address
    assert dump.exception.thread_id == wine_dump.thread_id
    assert wine_dump.thread_id in dump.thread_ids
    exe = dump.module_at(dump.exception.address)
    assert exe is not None and exe.file_name == "worldserver.exe"
    assert exe.key == read_pe(windows_build.exe.read_bytes()).key  # selects the build's image in a store
    assert dump.architecture == "amd64"


def test_dump_alone_picks_the_build_from_the_store_and_resolves_the_fault(
    tmp_path: Path, wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    """A Wheaty report without a revision line: only the dump's module list can choose the build."""
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(windows_build.exe, release)
    shutil.copy(windows_build.pdb, release)
    store = SymbolStore(tmp_path / "store")
    store.add(release, revision="feedface0001")
    text = wheaty_report(
        windows_build, [wine_dump.frames[0].address - windows_build.image_base - 0x1000], revision=None
    )

    outcome = analyse_with_symbols(parse_report(text), symbols=store.root, dump_path=wine_dump.dump)

    top = outcome.crash.top_frame
    truth = wine_dump.frames[0]  # Wine's debugger read the same PDB: independent truth
    assert top is not None
    names = [f.function for f in outcome.crash.frames[:2]]
    assert names[0] == "ReadMapId" and names[1] is not None and names[1].startswith(truth.function)
    assert outcome.crash.frames[1].line == truth.line


def _valid(wine_dump: WineCrash) -> bytes:
    return wine_dump.dump.read_bytes()


@pytest.mark.parametrize("cut", [0, 3, 4, 31, 32, 40, 100, 200, 400, 1000, 4000, 20000])
def test_truncated_dump_is_one_symbol_error_or_a_partial_read(wine_dump: WineCrash, cut: int) -> None:
    data = _valid(wine_dump)[:cut]
    try:
        read_minidump(data, "crash.dmp")
    except SymbolError as e:
        assert "crash.dmp" in str(e) and "\n" not in str(e)


def test_every_truncation_is_handled(wine_dump: WineCrash) -> None:
    data = _valid(wine_dump)
    for cut in range(0, min(len(data), 6000), 7):
        with contextlib.suppress(SymbolError):
            read_minidump(data[:cut], "crash.dmp")


def test_hostile_counts_are_refused(wine_dump: WineCrash) -> None:
    data = bytearray(_valid(wine_dump))
    _sig, _ver, count, directory = struct.unpack_from("<IIII", data, 0)
    for i in range(count):
        kind, _size, rva = struct.unpack_from("<III", data, directory + 12 * i)
        if kind == 4:  # ModuleListStream: claim four billion modules
            struct.pack_into("<I", data, rva, 0xFFFFFFFF)
    with pytest.raises(SymbolError, match="damaged stream"):
        read_minidump(bytes(data), "crash.dmp")


def test_junk_is_not_a_minidump() -> None:
    with pytest.raises(SymbolError, match="not a minidump"):
        read_minidump(b"Revision: TrinityCore rev. abc\n" * 10, "crash.dmp")


def test_a_corrupt_dump_beside_a_report_is_a_note_and_the_report_is_still_signed(
    tmp_path: Path, windows_build: WindowsBuild
) -> None:
    dump = tmp_path / "crash.dmp"
    dump.write_bytes(b"MDMP\x93\xa7\x00\x00" + b"\xff" * 20)
    report = parse_report(wheaty_report(windows_build, [0x63]))

    outcome = analyse_with_symbols(report, symbols=None, dump_path=dump)

    assert outcome.dump is None
    assert len(outcome.notes) == 1 and outcome.notes[0].startswith("minidump not used:")
    assert outcome.crash.signature.id


def _streams(data: bytes) -> dict[int, tuple[int, int, int]]:
    """Stream kind -> (directory entry offset, size, rva)."""
    _sig, _ver, count, directory = struct.unpack_from("<IIII", data, 0)
    out: dict[int, tuple[int, int, int]] = {}
    for i in range(count):
        kind, size, rva = struct.unpack_from("<III", data, directory + 12 * i)
        out.setdefault(kind, (directory + 12 * i, size, rva))
    return out


def _contexts(data: bytes, thread_id: int) -> list[int]:
    """Where the crashing thread's CONTEXT records are: the exception stream's and the thread list's."""
    streams = _streams(data)
    _entry, _size, exc = streams[6]
    at = [struct.unpack_from("<II", data, exc + 160)[1]]  # MINIDUMP_EXCEPTION_STREAM's ThreadContext
    _entry, _size, threads = streams[3]
    for i in range(struct.unpack_from("<I", data, threads)[0]):
        row = threads + 4 + 48 * i
        if struct.unpack_from("<I", data, row)[0] == thread_id:
            at.append(struct.unpack_from("<II", data, row + 40)[1])
    return at


def test_an_arm64_dump_is_read_but_its_stack_is_not_walked_and_says_so(wine_dump: WineCrash) -> None:
    data = bytearray(wine_dump.dump.read_bytes())
    _entry, _size, info = _streams(bytes(data))[7]
    struct.pack_into("<H", data, info, 12)  # MINIDUMP_SYSTEM_INFO.ProcessorArchitecture: ARM64

    dump = read_minidump(bytes(data))

    assert dump.architecture == "arm64"
    assert dump.exception is not None and dump.exception.code_text == "C0000005"
    assert dump.modules  # the module list still selects symbols
    assert (dump.context, dump.stack) == (None, None)
    assert dump.notes == ("the stack is not walked for arm64 dumps (x64 only)",)


def test_an_arm64_register_context_is_never_read_as_x64_even_without_system_info(
    wine_dump: WineCrash, tmp_path: Path
) -> None:
    data = bytearray(wine_dump.dump.read_bytes())
    entry, _size, _rva = _streams(bytes(data))[7]
    struct.pack_into("<I", data, entry, 0xFFF7)  # the system-info stream becomes one the reader skips
    for at in _contexts(bytes(data), wine_dump.thread_id):
        struct.pack_into("<I", data, at, 0x00400007)  # ARM64's ContextFlags (its first field)
        struct.pack_into("<I", data, at + 0x30, 0)  # where x64's ContextFlags would be
    path = tmp_path / "arm64.dmp"
    path.write_bytes(bytes(data))

    dump = read_minidump_file(path)
    outcome = analyse_with_symbols(CrashReport(format=Format.MINIDUMP), symbols=None, dump_path=path)

    assert dump.architecture is None and dump.context is None
    assert dump.notes == ("the stack is not walked for arm64 dumps (x64 only)",)
    # only the faulting address the exception record gives, never frames walked with misread registers
    (thread,) = outcome.crash.report.threads
    assert [f.address for f in thread.frames] == [f"{wine_dump.frames[0].address:#018x}"]
    assert any("arm64" in note for note in outcome.notes)
