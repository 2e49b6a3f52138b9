"""The ``windows-service`` deploy backend on Windows CPython (under wine64) against Wine's own service
manager, which hosts the demo worldserver (built with g++-mingw-w64) as ``worldserver.exe --service run``.

What Wine's ``sc.exe`` (Wine 8) cannot do: ``queryex`` (it exits 1 without a word), so the backend
reads the state from ``sc.exe query`` and knows no process id, and its kill refuses rather than guess.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from tests.windows.conftest import ROOT, WindowsPython, winpath

SCRIPT = Path(__file__).parent / "scripts" / "deploy_service.py"


def test_windows_service_backend_starts_and_stops_the_server_through_wines_service_manager(
    winpy: WindowsPython, mingw_worldserver: Path, tmp_path: Path
) -> None:
    """Windows behaviour: CreateService/StartService/ControlService(STOP) through sc.exe, a service
    process under services.exe reporting START_PENDING -> RUNNING -> STOP_PENDING -> STOPPED with
    SetServiceStatus, the SCM's stop request ending the world loop cleanly."""
    prefix = tmp_path / "prefix"  # its own: registering a service changes the prefix's registry
    env = {"WINEPREFIX": str(prefix), "WINEDLLOVERRIDES": "mscoree,mshtml="}
    run = f"import runpy, sys; sys.path.insert(0, {winpath(ROOT)!r}); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    name = f"crashbot-test-{secrets.token_hex(4)}"
    try:
        done = winpy.run(
            ["-c", run, winpath(SCRIPT), winpath(mingw_worldserver), winpath(tmp_path / "work"), name],
            cwd=tmp_path,
            env=env,
            timeout=400,
        )
    finally:
        subprocess.run(
            [str(Path(winpy.wine).with_name("wineserver")), "-k"],
            env=winpy.env(env),
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["platform"] == "win32"
    assert result["create"][0] == 0, result["create"]
    assert result["before"] == "stopped"
    assert result["running"], result["log"]
    assert "Server uptime" in result["soap"]  # the service answers SOAP: it is the server, up
    assert result["pid"] is None  # only queryex gives it, and Wine's sc.exe has none
    assert result["stop"] == {"stopped": True, "method": "service-stop", "detail": ""}, result["stop"]
    assert result["after_stop"] == "stopped"
    assert "Halting process..." in result["log"] and "stopped with exit code 0" in result["log"]
    assert result["running_again"]
    assert result["kill"].startswith("refused:") and "no process id" in result["kill"]
    assert result["stopped_at_last"]
    assert result["delete"][0] == 0, result["delete"]
