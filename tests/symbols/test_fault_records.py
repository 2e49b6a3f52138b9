"""Windows' fault records (Event 1000, Report.wer) resolve through the same symbolication as every other
unsymbolised frame: the store finds the server's image by the PE time stamp the record names, and
llvm-symbolizer names the function, file and line of the fault offset. A miss says which build to add."""

from __future__ import annotations

import codecs
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.artefacts import SOURCE, WindowsBuild
from bot.cli import main
from bot.crash import analyse, parse_report
from bot.issue import render_body
from bot.payload import Occurrences
from bot.symbols.service import analyse_with_symbols
from bot.symbols.store import SymbolStore, identify

REVISION = "3c5e0d7a91b2f00d"
READ_MAP_ID_LINE = next(
    i for i, text in enumerate(SOURCE.read_text().splitlines(), 1) if " ReadMapId(" in text
)


def _stamp(build: WindowsBuild) -> str:
    debug = identify(build.exe)
    assert debug is not None and debug.pe is not None
    return f"{debug.pe.timestamp:08x}"


def _fault_rva(build: WindowsBuild) -> int:
    """An instruction inside WorldObject::GetMapId (where the fixture reads through a null pointer)."""
    function = next(f for f in build.functions if f.name == "WorldObject::GetMapId")
    return build.text_rva + function.offset + min(3, function.size - 1)


def event_1000(build: WindowsBuild) -> str:
    stamp = _stamp(build)
    return (
        f"Faulting application name: worldserver.exe, version: 0.0.0.0, time stamp: 0x{stamp}\r\n"
        f"Faulting module name: worldserver.exe, version: 0.0.0.0, time stamp: 0x{stamp}\r\n"
        "Exception code: 0xc0000005\r\n"
        f"Fault offset: 0x{_fault_rva(build):016x}\r\n"
        "Faulting process id: 0x1f40\r\n"
        "Faulting application start time: 0x01d4dd2a8e7e1c2d\r\n"
        "Faulting application path: C:\\WoW\\worldserver.exe\r\n"
        "Faulting module path: C:\\WoW\\worldserver.exe\r\n"
        "Report Id: 5f1c0000-1111-2222-3333-444455556666\r\n"
    )


def report_wer(build: WindowsBuild) -> bytes:
    """A Report.wer on disk: UTF-16 LE with its BOM."""
    stamp = _stamp(build)
    values = ("worldserver.exe", "0.0.0.0", stamp, "worldserver.exe", "0.0.0.0", stamp, "c0000005")
    lines = ["Version=1", "EventType=APPCRASH"]
    for i, value in enumerate((*values, f"{_fault_rva(build):016x}")):
        lines += [f"Sig[{i}].Name=Signature {i}", f"Sig[{i}].Value={value}"]
    return codecs.BOM_UTF16_LE + ("\r\n".join(lines) + "\r\n").encode("utf-16-le")


@pytest.fixture
def store(tmp_path: Path, windows_build: WindowsBuild) -> SymbolStore:
    return _store_of(tmp_path, windows_build)


def _store_of(tmp_path: Path, build: WindowsBuild) -> SymbolStore:
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(build.exe, release)
    shutil.copy(build.pdb, release)
    store = SymbolStore(tmp_path / "store")
    store.add(release, revision=REVISION)
    return store


def test_event_1000_fault_in_the_servers_exe_resolves_by_its_time_stamp(
    windows_build: WindowsBuild, store: SymbolStore
) -> None:
    report = parse_report(event_1000(windows_build))
    unresolved = analyse(report)
    assert report.build.revision is None  # only the time stamp says which build it was

    outcome = analyse_with_symbols(report, symbols=store.root)

    crash = outcome.crash
    top = crash.top_frame
    assert top is not None and (top.function, top.line) == ("ReadMapId", READ_MAP_ID_LINE)
    assert top.file is not None and top.file.endswith("worldserver.cpp")
    outer = crash.frames[-1]
    assert outer.function is not None and outer.function.startswith("WorldObject::GetMapId")
    assert outer.line == windows_build.line_at(_fault_rva(windows_build) - windows_build.text_rva)
    assert crash.signature.text == "ACCESS_VIOLATION | ReadMapId | WorldObject::GetMapId"
    assert crash.signature.aliases == (unresolved.signature.id,)  # the unresolved record lands on it too


def test_report_wer_resolves_through_crashbot_parse_symbols(
    tmp_path: Path, windows_build: WindowsBuild, store: SymbolStore, capsys: pytest.CaptureFixture[str]
) -> None:
    wer = tmp_path / "Report.wer"
    wer.write_bytes(report_wer(windows_build))

    code = main(["parse", str(wer), "--symbols", str(store.root), "--json"])

    out, err = capsys.readouterr()
    assert code == 0, err
    obj = json.loads(out)
    assert obj["format"] == "wer"
    assert obj["top_frame"]["function"] == "ReadMapId"
    assert obj["signature"] == "ACCESS_VIOLATION | ReadMapId | WorldObject::GetMapId"


def test_a_store_without_that_build_says_which_time_stamp_to_add_and_the_issue_says_symbols_missing(
    tmp_path: Path, windows_build: WindowsBuild, other_build: WindowsBuild
) -> None:
    store = _store_of(tmp_path, other_build)  # the same program, linked at another time stamp
    report = parse_report(event_1000(windows_build))

    outcome = analyse_with_symbols(report, symbols=store.root)

    stamp = _stamp(windows_build).upper()
    assert outcome.crash.top_frame is None
    assert (
        outcome.crash.signature.text
        == "ACCESS_VIOLATION | worldserver.exe+0x" + f"{_fault_rva(windows_build):x}"
    )
    assert any(f"no worldserver.exe with PE time stamp {stamp}" in note for note in outcome.notes), (
        outcome.notes
    )
    occurrences = Occurrences().record(
        datetime(2026, 12, 7, tzinfo=UTC), host="game1", realm="Main", build=""
    )
    body = render_body(outcome.crash, occurrences, repo="owner/server", payload_key=b"k" * 32)
    assert "### Symbols missing" in body
    assert "ship the `.pdb`" not in body  # no crash handler ran: a .pdb beside the exe would name nothing
    assert f"no worldserver.exe with PE time stamp {stamp}" in body
    # the report's own note names the build and the offset, whatever the store holds
    assert (
        f"worldserver.exe+0x{_fault_rva(windows_build):x}, in the build whose worldserver.exe has PE time stamp 0x{stamp}"
        in body
    )


def test_a_folder_of_another_build_is_refused_by_time_stamp(
    tmp_path: Path, windows_build: WindowsBuild, other_build: WindowsBuild
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(other_build.exe, folder)
    shutil.copy(other_build.pdb, folder)

    outcome = analyse_with_symbols(parse_report(event_1000(windows_build)), symbols=folder)

    assert outcome.crash.top_frame is None
    assert any("is another build (time stamp" in note for note in outcome.notes), outcome.notes
