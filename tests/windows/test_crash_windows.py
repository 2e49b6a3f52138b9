"""A Windows crash of the demo server under wine64: the worldserver built with g++-mingw-w64 takes the
whisper that crashes it (sent over SOAP), Wine's debugger (AeDebug -> ``winedbg --minidump``) writes a
real minidump, crashbot's minidump reader reads it, and the faulting address resolves to the demo's bug.

What this is not: ``crashbot demo --windows``. The demo server has no WheatyExceptionReport handler, and
crashbot has no writer that makes a Wheaty ``.txt`` from a dump, so no ``.txt``/``.dmp`` pair exists
here; and a MinGW build carries DWARF, not a PDB, so the symbol store's PDB lookup does not apply
(``llvm-symbolizer`` reads the DWARF directly).
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

AEDEBUG = (
    "REGEDIT4\n\n[HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows NT\\CurrentVersion\\AeDebug]\n"
    '"Debugger"="winedbg --minidump C:\\\\crash.dmp %ld %ld"\n"Auto"="1"\n'
)


def test_windows_demo_server_crash_under_wine_leaves_a_minidump_crashbot_reads(
    winpy: WindowsPython, mingw_worldserver: Path, tmp_path: Path
) -> None:
    """Windows behaviour: an unhandled access violation in a Windows process, the AeDebug debugger's
    minidump, SOAP over Winsock on the host's loopback."""
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
    prefix = tmp_path / "prefix"  # its own: the AeDebug key must not reach the suite's shared prefix
    env = {**winpy.env(), "WINEPREFIX": str(prefix)}
    (tmp_path / "aedebug.reg").write_text(AEDEBUG)
    subprocess.run(
        [winpy.wine, "regedit", "aedebug.reg"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=300,
        check=True,
    )
    server = subprocess.Popen(
        [winpy.wine, "worldserver.exe"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    dump = prefix / "drive_c" / "crash.dmp"
    try:
        soap = SoapClient("127.0.0.1", soap_port, "GM", "gm-pass", timeout=20)
        deadline = time.monotonic() + 120
        while not dump.is_file() and time.monotonic() < deadline:
            # until SOAP is up the call fails; the server then dies answering it, so no reply comes
            with contextlib.suppress(BotError):
                soap.execute(CRASH_COMMAND)
            time.sleep(1)
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    assert dump.is_file(), output
    assert "Unhandled page fault" in output

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
