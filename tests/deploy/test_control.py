"""graceful_stop's escalation order and the shutdown command (the registry: test_backends.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.config import ControlKind, DeploySettings
from bot.deploy.control import (
    CommandChannel,
    ServerState,
    StopMethod,
    StopOutcome,
    StopReport,
    graceful_stop,
    shutdown_command,
)
from bot.deploy.errors import ControlUnavailable, ServerControlError
from tests.fakes import FakeClock

SETTINGS = DeploySettings(shutdown_delay_s=30, stop_timeout_s=60.0)


@dataclass
class FakeServer:
    """A server that exits ``exits_after`` seconds after the shutdown command or the backend stop."""

    clock: FakeClock
    obeys_command: bool = True
    obeys_stop: bool = True
    dies_on_kill: bool = True
    stop_at: float | None = None
    calls: list[str] = field(default_factory=list)

    # CommandChannel
    def execute(self, command: str) -> str:
        self.calls.append(command)
        if self.obeys_command:
            delay = int(command.split()[2])
            self.stop_at = self.clock() + delay + 5
        return "Server shutdown in 30s"

    # ServerControl
    def status(self) -> ServerState:
        if self.stop_at is not None and self.clock() >= self.stop_at:
            return ServerState.STOPPED
        return ServerState.RUNNING

    def stop(self, timeout_s: float) -> StopOutcome:
        self.calls.append(f"stop {timeout_s:g}")
        if self.obeys_stop:
            self.stop_at = self.clock()
            return StopOutcome(True, StopMethod.SIGNAL)
        self.clock.sleep(timeout_s)
        return StopOutcome(False, StopMethod.SIGNAL, "(SIGTERM to pid 42)")

    def kill(self) -> None:
        self.calls.append("kill")
        if self.dies_on_kill:
            self.stop_at = self.clock()

    def start(self) -> None:
        raise AssertionError("graceful_stop never starts")

    def pid(self) -> int | None:
        return None if self.status() is ServerState.STOPPED else 42

    def log_path(self) -> Path | None:
        return None


class RefusingChannel:
    def execute(self, command: str) -> str:
        raise ControlUnavailable("SOAP endpoint http://127.0.0.1:7878/ is not reachable (connection refused)")


def stop(
    server: FakeServer, commander: CommandChannel | None = None, settings: DeploySettings = SETTINGS
) -> StopReport:
    return graceful_stop(
        server, commander, settings, clock=server.clock, sleep=server.clock.sleep, poll_s=1.0
    )


def test_graceful_stop_server_obeying_shutdown_command_is_not_signalled() -> None:
    server = FakeServer(FakeClock(1000.0))
    report = stop(server, commander=server)
    assert report.method is StopMethod.SOAP and not report.forced
    assert server.calls == ["server shutdown 30 Restarting to deploy a crash fix"]
    assert report.duration_s == pytest.approx(35.0)


def test_graceful_stop_ra_channel_reports_ra() -> None:
    server = FakeServer(FakeClock(1000.0))
    report = stop(server, commander=server, settings=dataclasses.replace(SETTINGS, control=ControlKind.RA))
    assert report.method is StopMethod.RA


def test_graceful_stop_unreachable_channel_falls_back_to_backend_stop_and_notes_it() -> None:
    server = FakeServer(FakeClock(1000.0))
    report = stop(server, commander=RefusingChannel())
    assert report.method is StopMethod.SIGNAL and not report.forced
    assert report.command is None
    assert any("connection refused" in n for n in report.notes)
    assert server.calls == ["stop 60"]


def test_graceful_stop_ignored_command_waits_delay_plus_timeout_before_backend_stop() -> None:
    server = FakeServer(FakeClock(1000.0), obeys_command=False)
    report = stop(server, commander=server)
    assert report.method is StopMethod.SIGNAL
    assert server.calls[1] == "stop 60"
    assert report.duration_s == pytest.approx(90.0)  # 30 s countdown + 60 s stop_timeout_s


def test_graceful_stop_kills_only_as_last_resort_and_reports_forced() -> None:
    server = FakeServer(FakeClock(1000.0), obeys_command=False, obeys_stop=False)
    report = stop(server, commander=server)
    assert report.method is StopMethod.KILL and report.forced
    assert server.calls[-2:] == ["stop 60", "kill"]
    assert any("did not stop the server within 60s" in n for n in report.notes)


def test_graceful_stop_server_surviving_kill_raises() -> None:
    server = FakeServer(FakeClock(1000.0), obeys_command=False, obeys_stop=False, dies_on_kill=False)
    with pytest.raises(ServerControlError, match="still running after a kill"):
        stop(server, commander=server)


def test_graceful_stop_already_stopped_sends_nothing() -> None:
    clock = FakeClock(1000.0)
    server = FakeServer(clock, stop_at=clock())
    report = stop(server, commander=server)
    assert report.method is StopMethod.NOT_RUNNING and server.calls == []


def test_graceful_stop_without_channel_notes_that_players_got_no_warning() -> None:
    server = FakeServer(FakeClock(1000.0))
    report = stop(server, commander=None, settings=dataclasses.replace(SETTINGS, control=ControlKind.NONE))
    assert report.method is StopMethod.SIGNAL
    assert any("no shutdown warning" in n for n in report.notes)


@pytest.mark.parametrize(
    ("delay", "reason", "expected"),
    [
        (60, "Restarting to deploy a crash fix", "server shutdown 60 Restarting to deploy a crash fix"),
        (0, "", "server shutdown 0"),
        (5, "  two\nlines  ", "server shutdown 5 two lines"),
    ],
)
def test_shutdown_command_formats(delay: int, reason: str, expected: str) -> None:
    assert shutdown_command(delay, reason) == expected
