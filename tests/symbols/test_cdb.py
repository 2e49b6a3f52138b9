"""cdb on a minidump (Windows runner): the command line crashbot runs and how its answer is merged.

cdb never ran here: a stand-in executable records the command line it is given and prints an answer
written from cdb's documented output (tests/fixtures/symbols/cdb-analyze.txt)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from bench.artefacts import FIXTURES, WindowsBuild, wheaty_report
from bot.crash import parse_report
from bot.symbols.cdb import COMMANDS, cdb_argv, find_cdb
from bot.symbols.service import analyse_with_symbols

ANSWER = FIXTURES / "cdb-analyze.txt"


def _stand_in(tmp_path: Path, answer: Path | None) -> tuple[Path, Path]:
    """An executable that writes its argv to a file and prints ``answer`` (nothing when None)."""
    argv_file = tmp_path / "argv.json"
    script = tmp_path / "cdb"
    body = f"print(open({str(answer)!r}, encoding='utf-8').read())" if answer else "sys.exit(1)"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import json, sys
            json.dump(sys.argv[1:], open({str(argv_file)!r}, "w"))
            {body}
            """
        )
    )
    script.chmod(0o755)
    return script, argv_file


def test_cdb_command_line_reads_the_store_as_a_symbol_server(tmp_path: Path) -> None:
    dump = tmp_path / "Crashes" / "crash.dmp"
    argv = cdb_argv("cdb.exe", dump, store=Path("C:/crashbot/symbols"))
    assert argv[:3] == ["cdb.exe", "-z", str(dump)]
    assert argv[argv.index("-y") + 1] == f"srv*{Path('C:/crashbot/symbols')};{dump.parent}"
    assert argv[-2:] == ["-c", COMMANDS] and "!analyze -v" in COMMANDS and "~*kP" in COMMANDS


def test_find_cdb_uses_the_debugging_tools_place(tmp_path: Path) -> None:
    kit = tmp_path / "Windows Kits" / "10" / "Debuggers" / "x64"
    kit.mkdir(parents=True)
    (kit / "cdb.exe").write_text("")
    assert find_cdb("", {"ProgramFiles(x86)": str(tmp_path)}) == str(kit / "cdb.exe")
    assert find_cdb(str(tmp_path / "nope.exe"), {}) is None


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "crash.dmp"
    path.write_bytes(b"MDMP\x93\xa7\x00\x00" + bytes(24))  # a header with no streams: read, then cdb
    return path


def test_cdb_stacks_replace_bare_frames_and_keep_the_reports_revision(
    tmp_path: Path, dump: Path, windows_build: WindowsBuild
) -> None:
    cdb, argv_file = _stand_in(tmp_path, ANSWER)
    report = parse_report(wheaty_report(windows_build, [0x63, 0x4C], revision="3c5e0d7a91b2"))

    outcome = analyse_with_symbols(report, symbols=tmp_path / "store", dump_path=dump, cdb=str(cdb))

    assert json.loads(argv_file.read_text())[:2] == ["-z", str(dump)]
    crash = outcome.crash
    assert crash.report.build.revision == "3c5e0d7a91b2"
    assert crash.report.extra["stacks_from"] == "cdb"
    assert [f.function for f in crash.frames[:3]] == ["ReadMapId", "WorldObject::GetMapId", "Player::Update"]
    assert crash.signature.aliases  # still matches the issue filed from the bare report


def test_cdb_that_fails_is_one_note_and_the_report_stands(
    tmp_path: Path, dump: Path, windows_build: WindowsBuild
) -> None:
    cdb, _ = _stand_in(tmp_path, None)
    report = parse_report(wheaty_report(windows_build, [0x63]))

    outcome = analyse_with_symbols(report, dump_path=dump, cdb=str(cdb))

    assert [n for n in outcome.notes if n.startswith("cdb gave no stack")]
    assert outcome.crash.frames[0].function is None
