"""bot.coredump.report: real cores through real gdb into the report crashbot files, and every way it goes
wrong (another program's binary, a huge core, gdb missing or hanging, debug info found by build-id)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.coredump.report import CoreSettings, core_log
from bot.crash import analyse, parse_report
from bot.crash.model import Crash, Format
from bot.symbols.identity import file_build_id
from tests.coredump.conftest import GXX, SOURCE, Dumped, generate_core, needs_tools


def crash_of(text: str) -> Crash:
    return analyse(parse_report(text, fmt=Format.GDB))


@needs_tools
def test_core_log_reads_the_stack_through_gdb(dumped: Dumped) -> None:
    log = core_log(dumped.core)
    assert log.gdb_ran and log.notes == ()
    assert "From                To                  Syms Read   Shared Object Library" in log.text
    crash = crash_of(log.text)
    assert crash.report.exception is not None and crash.report.exception.code == "SIGSEGV"
    assert crash.top_frame is not None
    assert (crash.top_frame.function, crash.top_frame.line) == ("PlayerLevel", 9)
    assert crash.signature.frames == ("PlayerLevel", "main")
    assert crash.report.build.executable == "worldserver"


@needs_tools
def test_core_log_with_another_programs_binary_says_so_and_uses_the_one_the_core_names(
    dumped: Dumped,
) -> None:
    log = core_log(dumped.core, executable=dumped.other_exe)
    (note,) = log.notes
    assert "it is the core of another program or another build" in note
    other_id = file_build_id(dumped.other_exe)
    assert other_id is not None and other_id in note
    crash = crash_of(log.text)
    assert crash.report.notes[0] == note
    assert crash.top_frame is not None and crash.top_frame.function == "PlayerLevel"


@needs_tools
def test_core_without_its_binary_is_still_filed_with_notes(tmp_path: Path, dumped: Dumped) -> None:
    exe = tmp_path / "worldserver"
    shutil.copy2(dumped.exe, exe)
    core = generate_core(exe, tmp_path / "core.1")
    exe.unlink()
    log = core_log(core, executable=dumped.other_exe)
    assert any("is not on this host" in n for n in log.notes)
    assert any("another program or another build" in n for n in log.notes)
    report = parse_report(log.text, fmt=Format.GDB)
    assert report.exception is not None and report.exception.code == "SIGSEGV"
    assert len(report.notes) == 3


@needs_tools
def test_ten_gigabyte_sparse_core_is_not_given_to_gdb_and_is_filed_from_its_notes(
    tmp_path: Path, dumped: Dumped
) -> None:
    core = tmp_path / "core.big"
    shutil.copy2(dumped.core, core)
    os.truncate(core, 10 * 1024**3)  # sparse: no disk is used for the hole
    log = core_log(core)
    assert not log.gdb_ran
    (note,) = log.notes
    assert note.startswith("the core is 10.0 GB, over the 8.0 GB limit: gdb was not run on it")
    report = parse_report(log.text, fmt=Format.GDB)
    assert report.exception is not None and report.exception.code == "SIGSEGV"
    assert report.build.executable == "worldserver"


@needs_tools
def test_gdb_missing_is_one_note_and_the_core_is_still_filed(dumped: Dumped, tmp_path: Path) -> None:
    log = core_log(dumped.core, settings=CoreSettings(gdb=str(tmp_path / "no-gdb-here")))
    (note,) = log.notes
    assert "could not be started" in note
    assert parse_report(log.text, fmt=Format.GDB).exception is not None


@needs_tools
def test_gdb_that_hangs_is_stopped_at_the_time_limit(dumped: Dumped, tmp_path: Path) -> None:
    hanging = tmp_path / "gdb"
    hanging.write_text("#!/bin/sh\necho 'GNU gdb (hangs)'\nexec sleep 600\n", encoding="utf-8")
    hanging.chmod(0o755)
    log = core_log(dumped.core, settings=CoreSettings(gdb=str(hanging), timeout_s=1.0))
    (note,) = log.notes
    assert note.startswith("gdb did not finish within 1s and was stopped")
    report = parse_report(log.text, fmt=Format.GDB)
    assert report.exception is not None and report.exception.code == "SIGSEGV"


@needs_tools
def test_stripped_binary_finds_its_debug_file_by_build_id_in_a_symbols_folder(tmp_path: Path) -> None:
    """The seam the symbol store feeds: ``<dir>/.build-id/ab/cdef….debug``."""
    assert GXX is not None
    objcopy, strip = shutil.which("objcopy"), shutil.which("strip")
    if objcopy is None or strip is None:
        pytest.skip("binutils (objcopy, strip) are not installed")
    exe = tmp_path / "worldserver"
    subprocess.run([GXX, "-g", "-O0", str(SOURCE), "-o", str(exe)], check=True, timeout=120)
    build_id = file_build_id(exe)
    assert build_id is not None
    store = tmp_path / "symbols"
    debug = store / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug"
    debug.parent.mkdir(parents=True)
    subprocess.run([objcopy, "--only-keep-debug", str(exe), str(debug)], check=True)
    subprocess.run([strip, "--strip-all", str(exe)], check=True)
    core = generate_core(exe, tmp_path / "core.2")

    bare = core_log(core)
    assert any("has no debug info and no debug file for its build-id" in n for n in bare.notes)
    found = core_log(core, settings=CoreSettings(debug_dirs=(store,)))
    assert found.notes == ()
    crash = crash_of(found.text)
    assert crash.top_frame is not None and crash.top_frame.function == "PlayerLevel"
    assert crash.top_frame.file is not None and crash.top_frame.file.endswith("segv.cpp")
