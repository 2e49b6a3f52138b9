"""``crashbot watch`` as a service runs it, seen from outside: it files crashes through its publisher
process without ever loading GitHub's client library, and a stop signal stops that process cleanly."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.reports import write_report
from bot.standin import StandIn
from bot.uploader.spool import ReportState, Spool
from tests.conftest import StandInSetup, start_standin
from tests.uploader.rig import REPO, uploader_env
from tests.uploader.test_kill9 import StallingStandIn

# shared objects only PyGithub's stack maps (jwt -> cryptography; requests -> charset_normalizer)
CLIENT_LIBRARIES = ("cryptography", "_cffi_backend", "charset_normalizer")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def start_watch(server: StandIn, tmp_path: Path) -> subprocess.Popen[str]:
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nedit_interval_s = 0.0\n")
    env = uploader_env(config)
    argv = [sys.executable, "-m", "bot", "watch", str(tmp_path / "Crashes"), "--repo", REPO]
    argv += ["--api-url", server.api_url, "--spool", str(tmp_path / "s.db")]
    (tmp_path / "Crashes").mkdir()
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return err


def mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_watch_files_a_crash_and_its_process_never_maps_the_github_client_libraries(
    standin: StandIn, tmp_path: Path
) -> None:
    proc = start_watch(standin, tmp_path)
    try:
        write_report(tmp_path / "Crashes", 0, 0)
        assert wait_for(lambda: len(standin.issues(REPO)) == 1), "the crash was not filed"
        maps = mapped(proc.pid)
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert "_sqlite3" in maps  # the map is the watcher's, with its own extension modules in it
    assert [lib for lib in CLIENT_LIBRARIES if lib in maps] == []
    assert "crash-dashboard.yml" in err  # the publisher's dashboard trigger, its warning relayed here


def test_sigterm_stops_the_publisher_after_its_current_request_and_keeps_the_report(
    tmp_path: Path,
) -> None:
    server = start_standin(
        tmp_path / "standin",
        StandInSetup(
            server=functools.partial(
                StallingStandIn, method="POST", suffix=f"/repos/{REPO}/issues", committed=False
            )
        ),
    )
    assert isinstance(server, StallingStandIn)
    proc = start_watch(server, tmp_path)
    try:
        write_report(tmp_path / "Crashes", 0, 0)
        assert server.arrived.wait(60), "the publisher never sent its create"
        [publisher] = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # not a timing assert: the stop must wait for the request still in flight
        assert Path(f"/proc/{publisher}").exists()
        server.release.set()
        _, err = proc.communicate(timeout=60)
    finally:
        server.release.set()
        server.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not Path(f"/proc/{publisher}").exists()
    assert "did not stop" not in err and "Traceback" not in err
    with Spool(tmp_path / "s.db") as spool:
        assert [r.state for r in spool.reports()] == [ReportState.NEW]  # dropped by GitHub: still spooled
