"""gdb's ``#N 0x… in ?? ()`` frames of a stripped server, placed by the log's module map and resolved
from the unstripped binary (real g++, strip, gdb)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.artefacts import FIXTURES
from bot.crash import parse_report
from bot.symbols.service import analyse_with_symbols

SOURCE = FIXTURES / "linux_worldserver.cpp"
NORETURN = FIXTURES / "noreturn.cpp"


@pytest.fixture(scope="module")
def stripped_crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(folder with the unstripped build, gdb log with mappings, the same log without them)."""
    return _crash_stripped(SOURCE, tmp_path_factory.mktemp("gdb-symbols"))


def _crash_stripped(source: Path, work: Path) -> tuple[Path, str, str]:
    absent = [t for t in ("g++", "strip", "gdb", "llvm-symbolizer") if shutil.which(t) is None]
    if absent:
        pytest.skip(f"{', '.join(absent)} not installed (runner-setup/dev-setup.sh installs them)")
    build = work / "build"
    build.mkdir()
    subprocess.run(["g++", "-O1", "-g", str(source), "-o", str(build / "worldserver")], check=True)
    run = work / "run"
    run.mkdir()
    subprocess.run(["strip", "-o", str(run / "worldserver"), str(build / "worldserver")], check=True)
    done = subprocess.run(
        [
            "gdb",
            "-batch",
            "-nx",
            "-ex",
            "run",
            "-ex",
            "bt",
            "-ex",
            "info proc mappings",
            str(run / "worldserver"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = done.stdout + done.stderr
    assert "in ?? ()" in log, log
    without = "\n".join(
        line for line in log.splitlines() if "worldserver" not in line or line.startswith("#")
    )
    return build, log, without


def test_stripped_frames_resolve_through_the_module_map(stripped_crash: tuple[Path, str, str]) -> None:
    build, log, _ = stripped_crash
    report = parse_report(log)
    assert report.threads[0].frames[0].function is None

    outcome = analyse_with_symbols(report, symbols=build, text=log)

    names = [f.function for f in outcome.crash.frames[:3]]
    assert names[0] is not None and names[0].startswith("GetMapId")
    assert names[1] is not None and names[1].startswith("Update")
    assert names[2] == "main"
    assert outcome.crash.frames[0].line == 3  # GetMapId's line in the fixture
    assert outcome.crash.signature.aliases  # the unresolved id still matches


def test_a_log_without_mappings_says_how_to_get_them(stripped_crash: tuple[Path, str, str]) -> None:
    build, _, without = stripped_crash

    outcome = analyse_with_symbols(parse_report(without), symbols=build, text=without)

    assert outcome.crash.frames[0].function is None
    assert any("info proc mappings" in n for n in outcome.notes), outcome.notes


def test_a_return_address_just_past_a_noreturn_call_resolves_to_the_caller(tmp_path: Path) -> None:
    # HandleWhisper's last instruction calls Crash: the address gdb prints for its frame is the first byte
    # of NextInText. A caller's frame is looked up one byte back, at the call, as Breakpad and Sentry do.
    build, log, _ = _crash_stripped(NORETURN, tmp_path)

    outcome = analyse_with_symbols(parse_report(log), symbols=build, text=log)

    names = [f.function for f in outcome.crash.frames[:3]]
    assert names[0] is not None and names[0].startswith("Crash")
    assert names[1] is not None and names[1].startswith("HandleWhisper"), names
    assert names[2] == "main"
    assert outcome.crash.frames[1].line == _line_of(NORETURN, "void HandleWhisper(")


def _line_of(source: Path, text: str) -> int:
    return next(i for i, line in enumerate(source.read_text().splitlines(), 1) if text in line)
