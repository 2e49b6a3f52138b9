"""What a minidump adds to a report and to its issue: the crashing thread by the exception stream's
thread id, the exception when the text lacks one, and a folded table of the modules that matter."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from bench.artefacts import WindowsBuild, WineCrash
from bot.crash import parse_report
from bot.crash.model import CrashReport, Format, Frame, Thread
from bot.crash.resolved import DUMP_MODULES_KEY
from bot.issue import render_body
from bot.payload import Occurrences
from bot.symbols.identity import read_pe
from bot.symbols.minidump import read_minidump_file
from bot.symbols.resolve import merge_dump
from bot.symbols.service import analyse_with_symbols

KEY = b"k" * 32


def test_the_dump_names_the_crashing_thread_among_the_reports_threads(wine_dump: WineCrash) -> None:
    dump = read_minidump_file(wine_dump.dump)
    idle = Thread(frames=(Frame(function="WaitForSingleObject", module="kernelbase.dll"),), id="0x10")
    faulting = Thread(
        frames=(Frame(function="Player::Update", module="worldserver.exe"),), id=f"{wine_dump.thread_id:#x}"
    )
    report = CrashReport(format=Format.CDB, threads=(idle, faulting))

    merged = merge_dump(report, dump)

    assert merged.crashing_thread == 1
    assert merged.threads == report.threads  # the report's own stacks are kept, never replaced by the walk


def test_a_report_without_an_exception_takes_the_dumps(wine_dump: WineCrash) -> None:
    report = parse_report(
        "> worldserver.exe!WorldObject::GetMapId() Line 8\tC++\n"
        "  worldserver.exe!Player::Update(unsigned int diff) Line 12\tC++\n",
        fmt=Format.VS_CALLSTACK,
    )
    assert report.exception is None

    outcome = analyse_with_symbols(report, dump_path=wine_dump.dump)

    exc = outcome.crash.report.exception
    assert exc is not None and exc.code == "C0000005"
    assert exc.address == f"0x{wine_dump.frames[0].address:016x}" and exc.module == "worldserver.exe"


def test_the_issue_folds_the_modules_of_the_fault_and_the_stack(
    tmp_path: Path, wine_dump: WineCrash, windows_build: WindowsBuild
) -> None:
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(windows_build.exe, release)
    shutil.copy(windows_build.pdb, release)
    outcome = analyse_with_symbols(
        CrashReport(format=Format.MINIDUMP), symbols=release, dump_path=wine_dump.dump
    )

    body = render_body(
        outcome.crash,
        Occurrences().record(datetime(2026, 3, 14, tzinfo=UTC), host="game1", realm="Main", build="b"),
        repo="owner/server",
        payload_key=KEY,
    )

    folded = body[body.index("<summary>Modules") : body.index("</details>", body.index("<summary>Modules"))]
    rows = [line for line in folded.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `worldserver.exe` |")  # the faulting module first
    image = read_pe(windows_build.exe.read_bytes())
    assert image.codeview is not None
    assert f"`{image.timestamp:08X}`" in rows[0]
    # Wine's dump has no CodeView record: the PDB comes from the image the store matched by its key
    assert f"`worldserver.pdb` | `{image.codeview.key}` |" in rows[0]
    assert windows_build.guid in image.codeview.key  # as llvm-pdbutil read the PDB
    kernel32 = next(r for r in rows if "kernel32.dll" in r.lower())
    dump = read_minidump_file(wine_dump.dump)
    version = next(m.version for m in dump.modules if m.file_name.lower() == "kernel32.dll")
    assert version and f"`{version}`" in kernel32  # VS_FIXEDFILEINFO from the module list
    assert "kernelbase.dll" not in folded.lower()  # loaded, but not on the crashing stack
    assert outcome.crash.report.extra[DUMP_MODULES_KEY].count("\n") == len(rows) - 1
