"""``crashbot parse CORE [--exe PATH] [--symbols DIR] [--json]``: the command-line contract for cores, on real
cores of a small program and of the demo worldserver."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo import worldserver as demo
from tests.coredump.conftest import Dumped, generate_core, needs_tools


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRASHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@needs_tools
def test_parse_core_json_is_the_design_contract(capsys: pytest.CaptureFixture[str], dumped: Dumped) -> None:
    code, out, err = run(capsys, "parse", str(dumped.core), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["format"] == "gdb"
    assert obj["exception"]["code"] == "SIGSEGV"
    assert obj["top_frame"]["function"] == "PlayerLevel"
    assert obj["signature"] == "SIGSEGV | PlayerLevel | main"
    assert err == ""


@needs_tools
def test_parse_core_with_another_programs_exe_warns_in_one_line(
    capsys: pytest.CaptureFixture[str], dumped: Dumped
) -> None:
    code, out, err = run(capsys, "parse", str(dumped.core), "--exe", str(dumped.other_exe))
    assert code == 0
    assert len(err.strip().splitlines()) == 1
    assert "another program or another build" in err
    assert "note:       the core is of 'worldserver'" in out


@needs_tools
def test_parse_ten_gigabyte_sparse_core_is_one_line_and_still_signs(
    capsys: pytest.CaptureFixture[str], dumped: Dumped, tmp_path: Path
) -> None:
    core = tmp_path / "core.huge"
    shutil.copy2(dumped.core, core)
    os.truncate(core, 10 * 1024**3)
    code, out, err = run(capsys, "parse", str(core), "--json")
    assert code == 0
    assert len(err.strip().splitlines()) == 1 and "10.0 GB" in err
    assert json.loads(out)["signature"] == "SIGSEGV | (no frames)"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--exe", "missing-binary", "--exe missing-binary: no such file"),
        ("--symbols", "no-dir", "--symbols no-dir"),
    ],
)
def test_parse_bad_core_options_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, value: str, message: str
) -> None:
    report = tmp_path / "r.log"
    report.write_text("Program received signal SIGSEGV, Segmentation fault.\n#0 0x1 in F () at f.cpp:1\n")
    code, _, err = run(capsys, "parse", str(report), flag, value)
    assert code == 2
    assert err.startswith("crashbot: error: " + message)
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
@needs_tools
def test_parse_real_core_of_the_demo_worldserver(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The demo server's real null-pointer bug, as a core file gdb wrote while it crashed."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    exe = demo.build(demo.SERVER_SOURCE, tmp_path / "build")
    workdir = tmp_path / "run"
    ports = (demo.free_port(), demo.free_port(), demo.free_port())
    demo.write_config(
        workdir, world_port=ports[0], soap_port=ports[1], ra_port=ports[2], user="u", password="p"
    )
    core = generate_core(
        exe, tmp_path / "core.worldserver", "-c", str(workdir / demo.CONFIG_NAME), demo.CRASH_AFTER_FLAG, "0"
    )
    code, out, err = run(capsys, "parse", str(core), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["exception"]["code"] == "SIGSEGV"
    assert obj["top_frame"]["function"] == "ChatHandler::SendWhisper"
    assert obj["top_frame"]["file"].endswith("src/server/game/Handlers/ChatHandler.cpp")
    assert obj["signature"] == (
        "SIGSEGV | ChatHandler::SendWhisper | ChatHandler::HandleWhisperCommand | ChatHandler::ParseCommands"
    )


@needs_tools
def test_parse_core_of_a_stripped_binary_finds_debug_info_in_the_symbol_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The release symbol store (``[symbols] store``) keeps the unstripped binary under its build-id; gdb
    reads it from there when the deployed binary was stripped."""
    from bot.symbols.store import SymbolStore
    from tests.coredump.conftest import GXX, SOURCE

    assert GXX is not None
    strip = shutil.which("strip")
    if strip is None:
        pytest.skip("binutils' strip is not installed")
    release = tmp_path / "release"
    release.mkdir()
    exe = release / "worldserver"
    subprocess.run([GXX, "-g", "-O0", str(SOURCE), "-o", str(exe)], check=True, timeout=120)
    store = tmp_path / "store"
    SymbolStore(store).add(release, revision="3c5e0d7a91b2")
    subprocess.run([strip, "--strip-all", str(exe)], check=True)
    core = generate_core(exe, tmp_path / "core.worldserver")
    (tmp_path / "crashbot.toml").write_text(
        f"[symbols]\nstore = {json.dumps(str(store))}\n", encoding="utf-8"
    )

    code, out, err = run(capsys, "parse", str(core), "--json")
    assert code == 0, err
    top = json.loads(out)["top_frame"]
    assert top["function"] == "PlayerLevel"
    assert top["file"].endswith("segv.cpp") and top["line"] == 9
    assert err == ""
