"""Health checks against real processes (short windows), plus the log cursor's rotation handling."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.deploy.control import ServerState
from bot.deploy.health import HealthReport, LogCursor, wait_healthy
from tests.deploy.conftest import free_port

READY = r"\(worldserver-daemon\) ready\.\.\."


class PopenControl:
    """Just enough of ServerControl over a real child process for the health check."""

    def __init__(self, code: str, log: Path) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)

    def status(self) -> ServerState:
        return ServerState.RUNNING if self.proc.poll() is None else ServerState.STOPPED

    def pid(self) -> int | None:
        return self.proc.pid if self.proc.poll() is None else None

    def exit_code(self) -> int | None:
        return self.proc.poll()

    def log_path(self) -> Path | None:
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


Spawn = Callable[[str], tuple[PopenControl, LogCursor]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    started: list[PopenControl] = []
    log = tmp_path / "server.log"

    def _spawn(code: str) -> tuple[PopenControl, LogCursor]:
        cursor = LogCursor.at_end(log)
        control = PopenControl(code, log)
        started.append(control)
        return control, cursor

    yield _spawn
    for control in started:
        control.close()


def check(control: PopenControl, cursor: LogCursor, **kw: Any) -> HealthReport:
    kw.setdefault("start_timeout_s", 10.0)
    kw.setdefault("watch_window_s", 0.3)
    return wait_healthy(control, log=cursor, ready_regex=kw.pop("ready_regex", READY), poll_s=0.05, **kw)


SLOW_READY = (
    "import time; print('starting', flush=True); time.sleep(0.2);"
    "print('TC rev. x (worldserver-daemon) ready...', flush=True); time.sleep(30)"
)


def test_health_ready_line_then_quiet_watch_window_is_ok(spawn: Spawn) -> None:
    report = check(*spawn(SLOW_READY))
    assert report.ok, report.reason
    assert report.ready_after_s is not None and report.ready_after_s > 0


def test_health_ready_line_from_an_earlier_run_does_not_count(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "server.log").write_text("old (worldserver-daemon) ready...\n")
    report = check(*spawn("import time; time.sleep(30)"), start_timeout_s=0.5)
    assert not report.ok
    assert "not ready within 0.5s (no the ready line)" in report.reason


def test_health_exit_before_ready_quotes_exit_code_and_last_log_lines(spawn: Spawn) -> None:
    code = "import sys; print('Cannot connect to world database', flush=True); sys.exit(1)"
    report = check(*spawn(code))
    assert not report.ok and report.ready_after_s is None
    assert "exited" in report.reason and "exit code 1" in report.reason
    assert "Cannot connect to world database" in report.reason


def test_health_exit_during_watch_window_fails(spawn: Spawn) -> None:
    code = "import os, time; print('x (worldserver-daemon) ready...', flush=True); time.sleep(0.2); os._exit(134)"
    report = check(*spawn(code), watch_window_s=5.0)
    assert not report.ok and report.ready_after_s is not None
    assert "after it was ready" in report.reason and "exit code 134" in report.reason


def test_health_port_only_waits_for_a_listener(spawn: Spawn) -> None:
    port = free_port()
    code = (
        "import socket, time; time.sleep(0.2); s = socket.socket();"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)"
    )
    control, _cursor = spawn(code)
    report = wait_healthy(
        control, log=None, ready_regex=READY, port=port, start_timeout_s=10, watch_window_s=0.2, poll_s=0.05
    )
    assert report.ok, report.reason
    assert report.ready_after_s is not None and report.ready_after_s > 0


class RestartingService:
    """A service manager that restarts the server right after it became ready (pid changes)."""

    def __init__(self) -> None:
        self.pids = iter([100, 100, 200])

    def status(self) -> ServerState:
        return ServerState.RUNNING

    def pid(self) -> int | None:
        return next(self.pids, 200)

    def log_path(self) -> Path | None:
        return None


def test_health_pid_change_in_watch_window_is_a_crash() -> None:
    clock = [0.0]

    def sleep(s: float) -> None:
        clock[0] += s

    report = wait_healthy(
        RestartingService(),
        log=None,
        ready_regex="",
        start_timeout_s=5,
        watch_window_s=10,
        clock=lambda: clock[0],
        sleep=sleep,
    )
    assert not report.ok and "pid 100 -> 200" in report.reason


class TestLogCursor:
    def test_at_end_skips_existing_content_and_joins_partial_lines(self, tmp_path: Path) -> None:
        log = tmp_path / "w.log"
        log.write_text("old line\n")
        cursor = LogCursor.at_end(log)
        with log.open("a") as f:
            f.write("new li")
        assert cursor.read_lines() == ["new li"]
        with log.open("a") as f:
            f.write("ne\r\nnext\n")
        assert cursor.read_lines() == ["new line", "next"]

    def test_truncated_log_is_read_from_the_start(self, tmp_path: Path) -> None:
        log = tmp_path / "w.log"
        log.write_text("a fairly long first run of the server\n")
        cursor = LogCursor.at_end(log)
        log.write_text("short\n")  # truncated and rewritten by the new process
        assert cursor.read_lines() == ["short"]

    def test_rotated_log_is_read_from_the_start_of_the_new_file(self, tmp_path: Path) -> None:
        log = tmp_path / "w.log"
        log.write_text("x" * 10 + "\n")
        cursor = LogCursor.at_end(log)
        log.rename(tmp_path / "w.log.1")
        log.write_text("y" * 30 + "\nready\n")  # bigger than the old offset: only the identity tells
        assert cursor.read_lines() == ["y" * 30, "ready"]

    def test_missing_log_reads_nothing_until_it_appears(self, tmp_path: Path) -> None:
        log = tmp_path / "later.log"
        cursor = LogCursor.at_end(log)
        assert cursor.read_lines() == []
        log.write_text("hello\n")
        assert cursor.read_lines() == ["hello"]
