"""Server control: the protocol every backend implements, the command channel, and graceful stop.

The registry that picks a backend from the settings is ``bot.deploy.backends``.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.config import DeploySettings
from bot.deploy.errors import ControlError, ServerControlError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class ServerState(enum.Enum):
    """What a backend says about the server."""

    RUNNING = "running"
    STARTING = "starting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


class StopMethod(enum.StrEnum):
    """How the server was finally stopped (``StopReport.method``)."""

    SOAP = "soap"
    RA = "ra"
    SERVICE_STOP = "service-stop"
    SIGNAL = "signal"
    KILL = "kill"
    NOT_RUNNING = "not-running"


@dataclass(frozen=True)
class StopOutcome:
    """A backend's own stop attempt: did the server exit within the timeout, and how it was asked."""

    stopped: bool
    method: StopMethod
    detail: str = ""


@dataclass(frozen=True)
class StopReport:
    """The whole graceful-stop story, for the deploy outcome and ``bench/deploy.py``."""

    method: StopMethod
    forced: bool
    requested_at: float  # clock value when the stop was requested (the shutdown command sent)
    stopped_at: float  # clock value when the server was seen stopped
    command: str | None = None  # the console command sent, if any
    command_output: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.stopped_at - self.requested_at


class ServerControl(Protocol):
    """One way of running the worldserver: a plain process, a systemd unit, a Windows service."""

    def status(self) -> ServerState: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float) -> StopOutcome:
        """Ask the OS/service manager to stop the server and wait up to ``timeout_s`` for it to exit."""
        ...

    def kill(self) -> None:
        """Terminate the server without letting it save: the last resort."""
        ...

    def pid(self) -> int | None: ...

    def log_path(self) -> Path | None:
        """The file the server's console output goes to, when this backend owns one."""
        ...


class CommandChannel(Protocol):
    """A remote console (SOAP or RA) that runs one GM command and returns its output."""

    def execute(self, command: str) -> str: ...


def shutdown_command(delay_s: int, reason: str) -> str:
    """``server shutdown <delay> <reason>`` on one line. ``DeploySettings`` refuses, when it is made, a
    delay or a reason the server would misread (see ``bot.config``)."""
    reason = " ".join(reason.split())
    return f"server shutdown {delay_s} {reason}".rstrip()


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, *, clock: Clock, sleep: Sleep, poll_s: float
) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; return whether it held."""
    deadline = clock() + timeout_s
    while True:
        if predicate():
            return True
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        sleep(min(poll_s, remaining))


def graceful_stop(
    control: ServerControl,
    commander: CommandChannel | None,
    settings: DeploySettings,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    poll_s: float = 0.2,
) -> StopReport:
    """Stop the server, gentlest way first; a kill only as the last resort, and reported as forced.

    1. ``server shutdown <delay> <reason>`` over SOAP/RA, so players see the countdown and are saved;
       wait ``delay + stop_timeout_s`` (the server may raise a short delay to GM.ForceShutdownThreshold).
    2. The backend's own stop (service stop / SIGTERM / CTRL_BREAK), again up to ``stop_timeout_s``.
    3. Kill.
    """
    requested = clock()
    if control.status() is ServerState.STOPPED:
        return StopReport(StopMethod.NOT_RUNNING, False, requested, clock())
    notes: list[str] = []
    stopped = lambda: control.status() is ServerState.STOPPED  # noqa: E731
    command: str | None = None
    output: str | None = None
    if commander is not None:
        command = shutdown_command(settings.shutdown_delay_s, settings.shutdown_reason)
        try:
            output = commander.execute(command)
        except ControlError as e:
            notes.append(f"{settings.control} shutdown command failed: {e.__class__.__name__}: {e}")
            logger.warning("graceful shutdown over %s failed: %s", settings.control, e)
            command = None
        else:
            logger.info("sent %r over %s: %s", command, settings.control, output.strip())
            wait = settings.shutdown_delay_s + settings.stop_timeout_s
            if wait_until(stopped, wait, clock=clock, sleep=sleep, poll_s=poll_s):
                return StopReport(
                    StopMethod(settings.control), False, requested, clock(), command, output, tuple(notes)
                )
            notes.append(f"server still running {wait:g}s after {command!r}")
    else:
        notes.append("deploy.control = none: players got no shutdown warning")
    outcome = control.stop(settings.stop_timeout_s)
    if outcome.stopped:
        return StopReport(outcome.method, False, requested, clock(), command, output, tuple(notes))
    notes.append(
        f"{outcome.method} did not stop the server within {settings.stop_timeout_s:g}s {outcome.detail}"
    )
    logger.warning("killing the server: %s", "; ".join(notes))
    control.kill()
    if not wait_until(stopped, max(settings.stop_timeout_s, 5.0), clock=clock, sleep=sleep, poll_s=poll_s):
        raise ServerControlError(
            f"the server is still running after a kill (pid {control.pid()}); stop it by hand: "
            + "; ".join(notes)
        )
    return StopReport(StopMethod.KILL, True, requested, clock(), command, output, tuple(notes))
