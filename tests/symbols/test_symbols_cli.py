"""``crashbot symbols add|list|prune`` and ``crashbot parse --symbols DIR --json`` through the real entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.artefacts import WindowsBuild, WineCrash, wheaty_report
from bot.cli import main
from bot.symbols.identity import read_pe


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRASHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def build_dir(tmp_path: Path, windows_build: WindowsBuild) -> Path:
    folder = tmp_path / "build" / "bin" / "RelWithDebInfo"
    folder.mkdir(parents=True)
    shutil.copy(windows_build.exe, folder)
    shutil.copy(windows_build.pdb, folder)
    return folder


def test_parse_with_symbols_json_resolves_and_reports_the_alias(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, windows_build: WindowsBuild, build_dir: Path
) -> None:
    report = tmp_path / "crash.txt"
    report.write_text(wheaty_report(windows_build, [0x63, 0x4C, 0x9]))
    code, out, _ = run(capsys, "parse", str(report), "--json")
    assert code == 0
    plain = json.loads(out)

    code, out, err = run(capsys, "parse", str(report), "--symbols", str(build_dir), "--json")

    assert code == 0, err
    obj = json.loads(out)
    assert obj["top_frame"]["function"] == "ReadMapId"
    assert obj["top_frame"]["file"].endswith("worldserver.cpp")
    assert obj["signature_id"] != plain["signature_id"]
    assert obj["signature_aliases"] == [plain["signature_id"]]
    assert obj["symbols"]["resolved"] == 3 and obj["symbols"]["unresolved"] == 0
    assert obj["frames"][0]["inline"] is True and obj["frames"][1]["inline"] is False


def test_parse_with_a_missing_symbols_folder_is_one_usage_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, windows_build: WindowsBuild
) -> None:
    report = tmp_path / "crash.txt"
    report.write_text(wheaty_report(windows_build, [0x63]))
    code, out, err = run(capsys, "parse", str(report), "--symbols", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--symbols" in err and "not a folder" in err


def test_add_list_prune_round_trip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, build_dir: Path
) -> None:
    store = str(tmp_path / "store")
    code, out, err = run(
        capsys, "symbols", "add", str(build_dir), "--revision", "3c5e0d7a91b2", "--store", store
    )
    assert code == 0, err
    assert "3c5e0d7a91b2: 2 debug file(s)" in out and "worldserver.pdb/" in out

    code, out, _ = run(
        capsys, "symbols", "add", str(build_dir), "--revision", "4d6f1e8b02c3", "--store", store
    )
    code, out, _ = run(capsys, "symbols", "list", "--store", store)
    assert code == 0
    assert "3c5e0d7a91b2" in out and "4d6f1e8b02c3" in out and "2 release(s)" in out

    code, out, _ = run(capsys, "symbols", "prune", "--keep", "1", "--store", store)
    assert code == 0 and "pruned 3c5e0d7a91b2" in out
    # the newest release brought the same files: nothing it needs is gone
    assert len(list((tmp_path / "store").rglob("worldserver.*"))) >= 2


def test_symbols_without_a_store_is_one_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "symbols", "list")
    assert code == 2 and "[symbols] store" in err


def test_adding_a_folder_without_debug_files_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    code, _, err = run(capsys, "symbols", "add", str(tmp_path / "empty"), "--store", str(tmp_path / "s"))
    assert code == 1 and "nothing stored" in err


def test_parse_reads_the_dump_beside_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, windows_build: WindowsBuild, wine_dump: WineCrash
) -> None:
    """Wheaty writes ``X.txt`` and ``X.dmp``: the dump is found by name and its facts are printed."""
    report = tmp_path / "3c5e0d7a91b2_worldserver.exe_[2026_3_14_21_47_1].txt"
    report.write_text(wheaty_report(windows_build, [0x63]))
    shutil.copy(wine_dump.dump, report.with_suffix(".dmp"))

    code, out, err = run(capsys, "parse", str(report), "--symbols", str(tmp_path / "empty"), "--json")

    assert code == 2 and "not a folder" in err  # --symbols must exist
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "parse", str(report), "--symbols", str(tmp_path / "empty"), "--json")
    assert code == 0, err
    dump = json.loads(out)["dump"]
    assert dump["exception"] == {
        "code": "C0000005",
        "address": f"0x{wine_dump.frames[0].address:016x}",
        "thread_id": wine_dump.thread_id,
    }
    exe = next(m for m in dump["modules"] if m["name"] == "worldserver.exe")
    assert exe["timestamp"] == read_pe(windows_build.exe.read_bytes()).timestamp


def test_parse_reads_the_dump_beside_the_report_only_with_symbols_or_dump_as_its_help_says(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, windows_build: WindowsBuild, wine_dump: WineCrash
) -> None:
    """Regression: ``parse --help`` said the .dmp beside FILE was read by default; plain ``parse`` reads
    none. The help now says when a dump is read, and this holds it to that."""
    report = tmp_path / "crash.txt"
    report.write_text(wheaty_report(windows_build, [0x63]))
    shutil.copy(wine_dump.dump, report.with_suffix(".dmp"))

    code, out, err = run(capsys, "parse", str(report), "--json")
    assert code == 0, err
    assert "dump" not in json.loads(out)

    code, out, err = run(capsys, "parse", str(report), "--dump", str(report.with_suffix(".dmp")), "--json")
    assert code == 0, err
    assert json.loads(out)["dump"]["exception"]["code"] == "C0000005"

    with pytest.raises(SystemExit):
        main(["parse", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "without either option no .dmp is read" in help_text
    assert "a minidump alone" in help_text


def test_parse_of_a_minidump_alone_walks_and_symbolicates_its_stack(
    capsys: pytest.CaptureFixture[str], wine_dump: WineCrash, build_dir: Path
) -> None:
    """No report at all: the dump is the report, and the walked stack matches Wine's own debugger."""
    code, out, err = run(capsys, "parse", str(wine_dump.dump), "--symbols", str(build_dir), "--json")

    assert code == 0, err
    parsed = json.loads(out)
    assert parsed["format"] == "minidump"
    names = [f["function"] for f in parsed["frames"]]
    truth = [f.function for f in wine_dump.frames if f.module == "worldserver"]  # GetMapId and callers
    assert names[0] == "ReadMapId"  # inlined into GetMapId: Wine prints it too, at the same address
    assert [n.split("(")[0] if n else n for n in names[1 : 1 + len(truth)]] == truth
    assert parsed["dump"]["stack_trust"][:5] == ["context", "cfi", "cfi", "cfi", "cfi"]


def test_parse_of_a_damaged_minidump_alone_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wine_dump: WineCrash
) -> None:
    damaged = tmp_path / "crash.dmp"
    damaged.write_bytes(wine_dump.dump.read_bytes()[:20])
    code, out, err = run(capsys, "parse", str(damaged))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "not a readable minidump" in err
