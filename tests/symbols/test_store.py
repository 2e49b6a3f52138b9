"""The symbol store: symbol-server layout, revision index, retention; identities read from real files."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bench.artefacts import WindowsBuild
from bot.symbols.errors import SymbolError
from bot.symbols.identity import file_build_id, guid_text, read_build_id, read_pdb, read_pe, read_pe_file
from bot.symbols.locate import FolderLocator, StoreLocator
from bot.symbols.store import SymbolStore


def _release(tmp_path: Path, name: str, build: WindowsBuild) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(build.exe, folder)
    shutil.copy(build.pdb, folder)
    (folder / "worldserver.conf.dist").write_text("# not a debug file\n")
    return folder


def test_pe_and_pdb_identities_agree_with_llvm_tools(windows_build: WindowsBuild) -> None:
    pe = read_pe(windows_build.exe.read_bytes())
    assert pe.image_base == windows_build.image_base
    assert pe.sections[0].name == ".text" and pe.sections[0].rva == windows_build.text_rva
    assert pe.codeview is not None and pe.codeview.guid == windows_build.guid
    assert pe.codeview.pdb_name == r"D:\build\bin\worldserver.pdb"
    assert read_pdb(windows_build.pdb).guid == windows_build.guid


def test_pe_debug_directory_past_the_first_bytes_is_read_from_the_file(windows_build: WindowsBuild) -> None:
    """A large image keeps its debug directory deep in the file (MSVC's .rdata after a 20 MB .text,
    lld's .buildid at the end of a MinGW image): identifying it must not stop at the bytes read first."""
    whole = read_pe(windows_build.exe.read_bytes())
    head = windows_build.exe.read_bytes()[:1024]  # the headers and section table, not the debug directory

    deep = read_pe_file(windows_build.exe, head)

    assert whole.codeview is not None and deep.codeview == whole.codeview and deep.key == whole.key
    with pytest.raises(SymbolError, match="truncated"):
        read_pe(head, "worldserver.exe")  # the bytes alone cannot say


def test_add_lays_files_out_as_a_symbol_server(tmp_path: Path, windows_build: WindowsBuild) -> None:
    store = SymbolStore(tmp_path / "store")
    pe = read_pe(windows_build.exe.read_bytes())
    assert pe.codeview is not None

    release, notes = store.add(_release(tmp_path, "r1", windows_build), revision="aaaa111")

    assert notes == ()
    assert set(release.files) == {
        f"worldserver.exe/{pe.key}/worldserver.exe",
        f"worldserver.pdb/{pe.codeview.guid}{pe.codeview.age:X}/worldserver.pdb",
    }
    for rel in release.files:
        assert (store.root / rel).is_file()
    index = json.loads((store.root / "index.json").read_text())
    assert [r["revision"] for r in index["releases"]] == ["aaaa111"]


def test_prune_keeps_the_newest_releases_and_files_they_share(
    tmp_path: Path, windows_build: WindowsBuild, other_build: WindowsBuild
) -> None:
    store = SymbolStore(tmp_path / "store")
    store.add(_release(tmp_path, "a", windows_build), revision="aaaa111", clock=1.0)
    old, _ = store.add(_release(tmp_path, "b", other_build), revision="bbbb222", clock=2.0)
    store.add(_release(tmp_path, "c", windows_build), revision="cccc333", clock=3.0)  # rebuilt: same files

    dropped = store.prune(keep_releases=1)

    assert [r.revision for r in dropped] == ["aaaa111", "bbbb222"]
    assert [r.revision for r in store.releases()] == ["cccc333"]
    assert all(not (store.root / f).exists() for f in old.files)
    assert store.for_revision("cccc333") and all(p.is_file() for p in store.for_revision("cccc333"))


def test_prune_by_size_keeps_at_least_the_newest(
    tmp_path: Path, windows_build: WindowsBuild, other_build: WindowsBuild
) -> None:
    store = SymbolStore(tmp_path / "store")
    store.add(_release(tmp_path, "a", windows_build), revision="aaaa111", clock=1.0)
    store.add(_release(tmp_path, "b", other_build), revision="bbbb222", clock=2.0)

    store.prune(keep_releases=10, max_bytes=1)

    assert [r.revision for r in store.releases()] == ["bbbb222"]


def test_a_damaged_index_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(SymbolError, match=r"index\.json.*crashbot symbols add"):
        SymbolStore(tmp_path).releases()


@pytest.mark.parametrize("cut", [0, 2, 60, 64, 200, 300, 400, 1000])
def test_truncated_pe_is_a_symbol_error(windows_build: WindowsBuild, cut: int) -> None:
    with pytest.raises(SymbolError):
        read_pe(windows_build.exe.read_bytes()[:cut], "worldserver.exe")


def test_file_build_id_of_a_binary_cut_anywhere_is_its_id_or_none_never_an_error(tmp_path: Path) -> None:
    """The one ELF build-id reader serves the symbol store and the core reader (bot.coredump): cut short
    inside its headers or notes, a binary has no build-id to the core reader, and raises nothing."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed (runner-setup/dev-setup.sh installs it)")
    source = tmp_path / "w.cpp"
    source.write_text("int main() { return 0; }\n")
    exe = tmp_path / "worldserver"
    subprocess.run(["g++", "-Wl,--build-id", str(source), "-o", str(exe)], check=True)
    whole = file_build_id(exe)
    assert whole is not None and len(whole) == 40
    cut = tmp_path / "cut"
    for size in (0, 4, 63):  # not even a whole ELF header
        cut.write_bytes(exe.read_bytes()[:size])
        assert file_build_id(cut) is None
    for size in (64, 200, 700, 800, 900):  # inside the program headers or the notes
        cut.write_bytes(exe.read_bytes()[:size])
        assert file_build_id(cut) in (None, whole)
    assert file_build_id(tmp_path / "missing") is None


def test_elf_build_id_matches_readelf(tmp_path: Path) -> None:
    if shutil.which("g++") is None or shutil.which("readelf") is None:
        pytest.skip("g++/readelf not installed (runner-setup/dev-setup.sh installs g++)")
    source = tmp_path / "w.cpp"
    source.write_text("int main() { return 0; }\n")
    subprocess.run(
        ["g++", "-g", "-Wl,--build-id", str(source), "-o", str(tmp_path / "worldserver")], check=True
    )
    notes = subprocess.run(
        ["readelf", "-n", str(tmp_path / "worldserver")], capture_output=True, text=True, check=True
    ).stdout
    want = re.search(r"Build ID: ([0-9a-f]+)", notes)
    assert want
    assert read_build_id((tmp_path / "worldserver").read_bytes()) == want.group(1)
    assert file_build_id(tmp_path / "worldserver") == want.group(1)

    store = SymbolStore(tmp_path / "store")
    release, _ = store.add(tmp_path, revision="dddd444")
    assert release.files == (f".build-id/{want.group(1)[:2]}/{want.group(1)[2:]}.debug",)
    assert store.build_id_path(want.group(1)) is not None


def _bump_info_stream_age(pdb: Path, guid: str, age: int) -> None:
    """Rewrite the PDB info stream's age as a tool that edits a PDB after the link does (its header is
    Version 20000404, Signature, Age, GUID); the DBI stream's age, which the image carries, stays."""
    data = bytearray(pdb.read_bytes())
    version = struct.pack("<I", 20000404)
    at = data.find(version)
    while at >= 0 and guid_text(bytes(data[at + 12 : at + 28])) != guid:
        at = data.find(version, at + 1)
    assert at >= 0, "no PDB info stream header with the image's GUID"
    data[at + 8 : at + 12] = struct.pack("<I", age)
    pdb.write_bytes(bytes(data))


def test_a_pdb_alone_is_keyed_by_the_age_its_image_carries_not_the_info_streams(
    tmp_path: Path, windows_build: WindowsBuild
) -> None:
    pe = read_pe(windows_build.exe.read_bytes())
    assert pe.codeview is not None
    folder = tmp_path / "pdb-only"
    folder.mkdir()
    pdb = folder / "worldserver.pdb"
    shutil.copy(windows_build.pdb, pdb)
    _bump_info_stream_age(pdb, pe.codeview.guid, pe.codeview.age + 2)
    summary = subprocess.run(
        ["llvm-pdbutil", "dump", "--summary", str(pdb)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert f"Age: {pe.codeview.age + 2}" in summary  # LLVM reads the rewritten info stream's age

    info = read_pdb(pdb)
    store = SymbolStore(tmp_path / "store")
    release, notes = store.add(folder, revision="cccc333")

    assert (info.age, info.info_age) == (pe.codeview.age, pe.codeview.age + 2)
    assert notes == ()
    assert set(release.files) == {f"worldserver.pdb/{pe.codeview.key}/worldserver.pdb"}
    # what a minidump's module record (its RSDS GUID and age) looks up, in the store and in a folder
    assert StoreLocator(store).pdb(pe.codeview).file is not None
    assert FolderLocator(folder).pdb(pe.codeview).file is not None
