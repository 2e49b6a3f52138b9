"""Symbolication of real Windows artefacts: Wheaty ``0001:offset`` and cdb ``module+0x…`` frames resolve
to the function, file and line that llvm-pdbutil's own dump of the PDB names; misses say what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.artefacts import SOURCE, WindowsBuild, build_windows, wheaty_report
from bot.config import RedactionSettings
from bot.crash import analyse, parse_report
from bot.crash.model import Format
from bot.issue import Occurrences, render_body
from bot.symbols.locate import FolderLocator, StoreLocator
from bot.symbols.resolve import NO_SYMBOLS_ADVICE, site_of, symbolicate
from bot.symbols.service import analyse_with_symbols, scrubber
from bot.symbols.store import SymbolStore
from bot.symbols.symbolizer import find_symbolizer

# The line each function's body is written on in the fixture source.
SOURCE_LINE = {
    name: next(i for i, text in enumerate(SOURCE.read_text().splitlines(), 1) if f" {name}(" in text)
    for name in ("ReadMapId",)
}


def _offsets(build: WindowsBuild) -> list[int]:
    """One address inside each function, innermost (the faulting accessor) first."""
    order = ["WorldObject::GetMapId", "Player::Update", "WorldUpdate", "mainCRTStartup"]
    by_name = {f.name: f for f in build.functions}
    return [by_name[name].offset + min(3, by_name[name].size - 1) for name in order]


@pytest.fixture
def release(tmp_path: Path, windows_build: WindowsBuild) -> Path:
    folder = tmp_path / "release"
    folder.mkdir()
    shutil.copy(windows_build.exe, folder)
    shutil.copy(windows_build.pdb, folder)
    return folder


def _symbolizer() -> str:
    found = find_symbolizer()
    assert found, "llvm-symbolizer is part of the windows_build fixture's tools"
    return found


def test_wheaty_section_offsets_resolve_to_the_pdbs_functions_files_and_lines(
    windows_build: WindowsBuild, release: Path
) -> None:
    offsets = _offsets(windows_build)
    report = parse_report(wheaty_report(windows_build, offsets))
    assert all(f.function is None for f in report.threads[0].frames[:4])

    result = symbolicate(report, FolderLocator(release), symbolizer=_symbolizer())

    frames = result.report.threads[0].frames
    assert result.resolved == 4 and result.unresolved == 0
    # Each unresolved frame became its inlined calls (innermost first, marked inline) and then its function.
    groups = [[f for f in frames if f.raw == old.raw] for old in report.threads[0].frames[:4]]
    for group, offset in zip(groups, offsets, strict=True):
        *inlined, outer = group
        want = windows_build.function_at(offset)
        assert outer.function is not None and outer.function.startswith(want.name), (outer, want)
        assert not outer.inline and all(f.inline for f in inlined)
        assert outer.line == windows_build.line_at(offset)
        for frame in group:
            assert frame.file is not None and frame.file.endswith("worldserver.cpp")
            assert frame.module == "worldserver.exe"
    # The fault is a read inside ReadMapId, which the compiler inlined into GetMapId (pdbutil's S_INLINESITE).
    assert [f.function for f in groups[0][:-1]] == list(windows_build.inlinees["WorldObject::GetMapId"])
    assert groups[0][0].line == SOURCE_LINE["ReadMapId"]
    assert frames[-1].function == "BaseThreadInitThunk"  # a symbolised frame is left alone


def test_symbolicated_crash_signs_by_function_and_keeps_its_unresolved_id_as_alias(
    windows_build: WindowsBuild, release: Path
) -> None:
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))
    unresolved = analyse(report)

    outcome = analyse_with_symbols(report, symbols=release)

    sig = outcome.crash.signature
    assert sig.id != unresolved.signature.id
    assert "ReadMapId | WorldObject::GetMapId | Player::Update" in sig.text
    assert sig.aliases == (unresolved.signature.id,)
    top = outcome.crash.top_frame  # the inlined accessor that read through the null pointer
    assert top is not None and (top.function, top.line) == ("ReadMapId", SOURCE_LINE["ReadMapId"])


def test_same_crash_resolved_twice_signs_the_same(windows_build: WindowsBuild, release: Path) -> None:
    text = wheaty_report(windows_build, _offsets(windows_build))
    first = analyse_with_symbols(parse_report(text), symbols=release).crash.signature
    second = analyse_with_symbols(parse_report(text), symbols=release).crash.signature
    assert (first.id, first.aliases) == (second.id, second.aliases)


def test_cdb_module_plus_offset_frames_resolve(windows_build: WindowsBuild, release: Path) -> None:
    offset = _offsets(windows_build)[0]
    rva = windows_build.text_rva + offset
    text = (
        "FAULTING_THREAD:  0000174c\n\nSTACK_TEXT:  \n"
        f"000000e2`a6cff1f0 00007ff7`c3a3e4a2     : 00000000`00000000 : worldserver+0x{rva:x}\n"
        "000000e2`a6cff2f0 00007ffe`4c6ee8d7     : 00000000`00000000 : kernel32!BaseThreadInitThunk+0x17\n"
    )
    report = parse_report(text, fmt=Format.CDB)
    frame = report.threads[0].frames[0]
    assert site_of(frame) is not None, frame

    result = symbolicate(report, FolderLocator(release), symbolizer=_symbolizer())

    inlined, outer = result.report.threads[0].frames[:2]
    assert (inlined.function, inlined.inline) == ("ReadMapId", True)
    assert outer.function is not None and outer.function.startswith("WorldObject::GetMapId")
    assert outer.line == windows_build.line_at(offset)


def test_debugdiag_module_plus_offset_frames_resolve(windows_build: WindowsBuild, release: Path) -> None:
    """DebugDiag prints an unsymbolised frame as ``module+hexoff`` (no ``0x``), with its Arg columns."""
    offset = _offsets(windows_build)[0]
    rva = windows_build.text_rva + offset
    text = (
        f"In worldserver.dmp the assembly instruction at worldserver+{rva:x} in C:\\wow\\worldserver.exe has "
        "caused an access violation exception (0xC0000005) when trying to read from memory location "
        "0x00000010 on thread 7\n\nThread 7 - System ID 4242\nEntry point   kernel32!BaseThreadInitThunk\n\n"
        "Full Call Stack\nFunction     Arg 1     Arg 2     Arg 3   Source\n"
        f"worldserver+{rva:x}     00000000`00000000 00000000`00000001 00000000`00000000\n"
        "kernel32!BaseThreadInitThunk+14     00000000`00000000 00000000`00000000 00000000`00000000\n"
    )
    report = parse_report(text)
    assert report.format is Format.DEBUGDIAG

    result = symbolicate(report, FolderLocator(release), symbolizer=_symbolizer())

    inlined, outer = result.report.threads[0].frames[:2]
    assert (inlined.function, inlined.inline) == ("ReadMapId", True)
    assert outer.function is not None and outer.function.startswith("WorldObject::GetMapId")
    assert outer.line == windows_build.line_at(offset)


def test_store_finds_the_build_by_the_reports_revision(
    tmp_path: Path, windows_build: WindowsBuild, release: Path
) -> None:
    store = SymbolStore(tmp_path / "store")
    store.add(release, revision="3c5e0d7a91b2f00d")
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build), revision="3c5e0d7a91b2"))

    result = symbolicate(report, StoreLocator(store), symbolizer=_symbolizer())

    assert result.resolved == 4, result.notes


def test_store_without_the_reports_revision_says_how_to_add_it(
    tmp_path: Path, windows_build: WindowsBuild, release: Path
) -> None:
    store = SymbolStore(tmp_path / "store")
    store.add(release, revision="0000000aaaaaaa")
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build), revision="3c5e0d7a91b2"))

    result = symbolicate(report, StoreLocator(store), symbolizer=_symbolizer())

    assert result.resolved == 0 and result.unresolved == 4
    assert any("no release 3c5e0d7a91b2" in n and "crashbot symbols add" in n for n in result.notes)
    assert result.report.extra["symbols"].endswith(NO_SYMBOLS_ADVICE)


def test_a_pdb_of_another_build_is_refused_with_one_note(
    tmp_path: Path, windows_build: WindowsBuild, other_build: WindowsBuild
) -> None:
    assert other_build.guid != windows_build.guid
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(windows_build.exe, folder)
    shutil.copy(other_build.pdb, folder)  # same name, other GUID
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))

    result = symbolicate(report, FolderLocator(folder), symbolizer=_symbolizer())

    assert result.resolved == 0
    mismatch = [n for n in result.notes if "does not match" in n]
    assert len(mismatch) == 1, result.notes
    assert windows_build.guid in mismatch[0] and other_build.guid in mismatch[0]
    assert analyse(result.report).signature.id == analyse(report).signature.id  # still filed, same issue


def test_an_unreadable_debug_file_is_one_note_and_the_rest_still_resolves(
    windows_build: WindowsBuild, release: Path
) -> None:
    (release / "broken.pdb").write_bytes(windows_build.pdb.read_bytes()[:100])  # a PDB cut off in its header
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))

    outcome = analyse_with_symbols(report, symbols=release)

    assert outcome.symbolication is not None and outcome.symbolication.resolved == 4
    broken = [n for n in outcome.notes if "broken.pdb" in n]
    assert len(broken) == 1 and "truncated" in broken[0]


def test_without_llvm_symbolizer_the_report_is_kept_with_the_install_hint(
    windows_build: WindowsBuild, release: Path
) -> None:
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))

    result = symbolicate(report, FolderLocator(release), symbolizer=None)

    assert result.report.threads == report.threads
    assert any("llvm-symbolizer is not installed" in n for n in result.notes)


def test_a_symbolizer_that_hangs_is_stopped_at_the_time_limit(
    tmp_path: Path, windows_build: WindowsBuild, release: Path
) -> None:
    hanging = tmp_path / "llvm-symbolizer"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))

    result = symbolicate(report, FolderLocator(release), symbolizer=str(hanging), timeout_s=0.5)

    assert result.resolved == 0
    assert any("did not answer" in n and "0.5 s" in n for n in result.notes)


def test_an_offset_beyond_the_image_is_a_note_not_a_wrong_name(
    windows_build: WindowsBuild, release: Path
) -> None:
    report = parse_report(wheaty_report(windows_build, [0x7FFFFF]))

    result = symbolicate(report, FolderLocator(release), symbolizer=_symbolizer())

    assert result.resolved == 0
    assert any("outside the image" in n for n in result.notes)


def test_a_store_with_a_damaged_file_is_one_note_and_the_report_is_still_signed(
    tmp_path: Path, windows_build: WindowsBuild, release: Path
) -> None:
    store = SymbolStore(tmp_path / "store")
    added, _ = store.add(release, revision="3c5e0d7a91b2")
    pdb = next(store.root / f for f in added.files if f.endswith(".pdb"))
    pdb.write_bytes(pdb.read_bytes()[:60])  # the disk lost the end of the stored PDB
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))

    outcome = analyse_with_symbols(report, locator=StoreLocator(store))

    assert outcome.symbolication is not None and outcome.symbolication.resolved == 0
    damaged = [n for n in outcome.notes if "unreadable" in n]
    assert len(damaged) == 1 and "truncated" in damaged[0]
    assert outcome.crash.signature.id == analyse(report).signature.id


def test_a_store_with_a_damaged_index_is_one_note(tmp_path: Path, windows_build: WindowsBuild) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "index.json").write_text("[", encoding="utf-8")
    report = parse_report(wheaty_report(windows_build, _offsets(windows_build)))

    outcome = analyse_with_symbols(report, symbols=tmp_path / "store")

    assert [n for n in outcome.notes if "index.json" in n and "cannot be read" in n]
    assert outcome.crash.signature.id == analyse(report).signature.id


def test_paths_from_the_pdb_pass_the_hosts_redaction(tmp_path: Path, artefact_cache: Path) -> None:
    """A PDB remembers its build machine's paths; a user profile in them must not reach the issue."""
    build = build_windows(artefact_cache, variant=2, source_dir=r"C:\Users\alice\source\worldserver")
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(build.exe, release)
    shutil.copy(build.pdb, release)
    report = parse_report(wheaty_report(build, [0x63]))

    outcome = analyse_with_symbols(report, symbols=release, scrub=scrubber(RedactionSettings()))

    files = [f.file or "" for f in outcome.crash.frames[:2]]
    assert all(f.endswith("worldserver.cpp") for f in files)
    assert not any("alice" in f for f in files), files


def test_a_module_without_debug_files_beside_one_with_them_is_still_called_missing(
    windows_build: WindowsBuild, release: Path
) -> None:
    report = parse_report(
        wheaty_report(windows_build, _offsets(windows_build)[:3])
        + "00007FFB1A06D000  000000000011FE40  0001:0000000000001234 C:\\Realm\\game.dll\n"
    )

    result = symbolicate(report, FolderLocator(release), symbolizer=_symbolizer())
    body = render_body(analyse(result.report), Occurrences(), repo=None, payload_key=b"k" * 32)

    assert result.resolved == 3
    assert "### Symbols missing\n\n1 meaningful frame(s) are bare addresses (such as `game.dll+" in body
