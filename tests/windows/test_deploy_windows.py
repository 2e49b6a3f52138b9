"""The ``process`` deploy backend on Windows CPython (under wine64) against the demo worldserver built
for Windows with g++-mingw-w64: start detached, SOAP shutdown with the players' warning, the backend's
CTRL_BREAK and the kill as a last resort, release switching and rollback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.windows.conftest import ROOT, WindowsPython, winpath

SCRIPT = Path(__file__).parent / "scripts" / "deploy_process.py"


def test_windows_process_backend_stops_gently_over_soap_and_kills_only_as_the_last_resort(
    winpy: WindowsPython, mingw_worldserver: Path, tmp_path: Path
) -> None:
    """Windows behaviour: a DETACHED_PROCESS server in its own process group; SOAP over Winsock on the
    host's loopback; CTRL_BREAK to a process without our console; TerminateProcess; the live release
    switched by junction or, where mklink /J fails (as under Wine), by the current.txt pointer."""
    run = f"import runpy, sys; sys.path.insert(0, {winpath(ROOT)!r}); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    done = winpy.run(
        ["-c", run, winpath(SCRIPT), winpath(tmp_path / "Realm"), winpath(mingw_worldserver)], cwd=tmp_path
    )
    assert done.returncode == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["platform"] == "win32"
    assert result["live_after_switch"] == "20260102T000000Z-bbbbbbbbbbbb"
    assert result["ready"] and result["running"], result["log"]

    soap = result["soap_stop"]
    assert soap["method"] == "soap" and soap["forced"] is False, soap
    assert soap["output"] == "Server shutdown in 1 second(s)."
    assert "announced to 3 player(s)" in result["log"]
    assert result["exit_after_soap"] == 0

    assert result["ready_again"], result["log"]
    signal = result["signal_stop"]
    # Under Wine, CTRL_BREAK to the detached server is refused, so the kill is used, and said to be forced.
    assert signal["method"] in ("signal", "kill"), signal
    assert signal["forced"] is (signal["method"] == "kill")
    assert any("CTRL_BREAK_EVENT" in note for note in signal["notes"]) or signal["method"] == "signal"
    assert result["stopped_at_last"]

    assert result["live_after_rollback"] == "20260101T000000Z-aaaaaaaaaaaa"
