"""A Windows crash of the demo server under wine64: the worldserver built with g++-mingw-w64 takes the
whisper that crashes it (sent over SOAP), its own crash handler (as TrinityCore's WheatyExceptionReport:
SetUnhandledExceptionFilter) writes the report and dbghelp's minidump into Crashes\\ beside it,
crashbot's minidump reader reads the dump, and the faulting address resolves to the demo's bug.

The handler ends the process itself, as TrinityCore's does, so an AeDebug debugger never runs for this
server; Wine's ``winedbg --minidump`` is exercised on the symbols suite's own PE (tests/symbols). A MinGW
build carries DWARF, not a PDB, so ``llvm-symbolizer`` reads the DWARF directly here; the PDB path (clang
for the MinGW target, lld's PDB, the symbol store) is ``crashbot demo --windows``, test_demo_windows.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from bot.demo.worldserver import CRASH_COMMAND, free_port, write_config
from bot.deploy.soap import SoapClient
from bot.errors import BotError
from bot.symbols.minidump import read_minidump_file
from tests.windows.conftest import WindowsPython


def test_windows_demo_server_crash_under_wine_writes_its_report_and_a_minidump_crashbot_reads(
    winpy: WindowsPython, mingw_worldserver: Path, tmp_path: Path
) -> None:
    """Windows behaviour: an unhandled access violation in a Windows process caught by its top-level
    exception filter, dbghelp's MiniDumpWriteDump from inside the crashing process, SOAP over Winsock on
    the host's loopback."""
    for f in mingw_worldserver.iterdir():
        shutil.copy(f, tmp_path)
    soap_port = free_port()
    write_config(
        tmp_path,
        world_port=free_port(),
        soap_port=soap_port,
        ra_port=free_port(),
        user="GM",
        password="gm-pass",
    )
    server = subprocess.Popen(
        [winpy.wine, "worldserver.exe"],
        cwd=tmp_path,
        env=winpy.env(),  # the suite's prefix: nothing here changes a setting in it
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    crashes = tmp_path / "Crashes"
    try:
        soap = SoapClient("127.0.0.1", soap_port, "GM", "gm-pass", timeout=20)
        deadline = time.monotonic() + 120
        while not list(crashes.glob("*.txt")) and time.monotonic() < deadline:
            # until SOAP is up the call fails; the server then dies answering it, so no reply comes
            with contextlib.suppress(BotError):
                soap.execute(CRASH_COMMAND)
            time.sleep(1)
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    reports = list(crashes.glob("*_worldserver.exe_[[]*[]].txt"))
    assert len(reports) == 1, output
    assert b"Exception code: C0000005 ACCESS_VIOLATION\r\n" in reports[0].read_bytes()
    dump = reports[0].with_suffix(".dmp")
    assert dump.is_file(), output

    minidump = read_minidump_file(dump)
    assert minidump.exception is not None
    assert f"{minidump.exception.code:08X}" == "C0000005"
    exe = next(m for m in minidump.modules if m.name.lower().endswith("worldserver.exe"))
    assert exe.name.startswith("Z:\\")
    where = subprocess.run(
        ["llvm-symbolizer", f"--obj={tmp_path / 'worldserver.exe'}", hex(minidump.exception.address)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    ).stdout
    assert "ChatHandler::SendWhisper" in where and "ChatHandler.cpp" in where
