"""Server control: the backend protocol, the command channel, the backend registry and graceful stop."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.config import DeploySettings, secret
from bot.deploy.errors import ControlError, ServerControlError
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.deploy.releases import Releases
    from bot.deploy.shell import CommandRunner

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]
MAX_REASON_CHARS = 200  # TrinityCore copies the reason into a 256-byte buffer


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


class Backend(enum.StrEnum):
    PROCESS = "process"
    SYSTEMD = "systemd"
    WINDOWS_SERVICE = "windows-service"


class ControlKind(enum.StrEnum):
    SOAP = "soap"
    RA = "ra"
    NONE = "none"


def shutdown_command(delay_s: int, reason: str) -> str:
    """``server shutdown <delay> <reason>``, checked so the server cannot misread it.

    TrinityCore takes the first numeric word after the delay as the exit code, so a reason starting
    with a number would silently change the exit code and lose that word.
    """
    if delay_s < 0:
        raise ConfigError(f"deploy.shutdown_delay_s must be >= 0, got {delay_s}")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_CHARS:
        raise ConfigError(f"deploy.shutdown_reason is {len(reason)} chars; keep it under {MAX_REASON_CHARS}")
    if reason and reason.split()[0].lstrip("-").isdigit():
        raise ConfigError(
            f"deploy.shutdown_reason {reason!r} starts with a number, which the server reads as an exit "
            "code; start it with a word"
        )
    return f"server shutdown {delay_s} {reason}".rstrip()


def make_commander(settings: DeploySettings, env: Mapping[str, str] | None = None) -> CommandChannel | None:
    """The SOAP or RA client ``settings.control`` asks for (None for ``none``); secrets come from ``env``."""
    try:
        kind = ControlKind(settings.control)
    except ValueError as e:
        raise ConfigError(f"deploy.control {settings.control!r} is not one of soap, ra, none") from e
    if kind is ControlKind.NONE:
        return None
    if kind is ControlKind.SOAP:
        from bot.deploy.soap import SoapClient

        soap = settings.soap
        user, password = _credentials(soap.user_env, soap.password_env, "SOAP", env)
        return SoapClient(
            soap.host,
            soap.port,
            user,
            password,
            urn=soap.urn,
            timeout=settings.control_timeout_s,
            credentials_hint=f"env vars {soap.user_env}/{soap.password_env}",
        )
    from bot.deploy.ra import RaClient

    ra = settings.ra
    user, password = _credentials(ra.user_env, ra.password_env, "RA", env)
    return RaClient(
        ra.host,
        ra.port,
        user,
        password,
        timeout=settings.control_timeout_s,
        prompt_regex=ra.prompt_regex,
        credentials_hint=f"env vars {ra.user_env}/{ra.password_env}",
    )


def _credentials(
    user_env: str, password_env: str, what: str, env: Mapping[str, str] | None
) -> tuple[str, str]:
    user, password = secret(user_env, env), secret(password_env, env)
    if user is None or password is None:
        missing = [name for name, value in ((user_env, user), (password_env, password)) if value is None]
        raise ConfigError(
            f"{what} credentials missing: set {' and '.join(missing)} (a GM level 3+ account), "
            "or set deploy.control = 'none' to stop the server without warning players"
        )
    return user, password


def make_control(
    settings: DeploySettings, *, releases: Releases, runner: CommandRunner | None = None
) -> ServerControl:
    """The backend ``settings.backend`` names."""
    try:
        backend = Backend(settings.backend)
    except ValueError as e:
        raise ConfigError(
            f"deploy.backend {settings.backend!r} is not one of {', '.join(b.value for b in Backend)}"
        ) from e
    from bot.deploy.shell import run_command

    if backend is Backend.PROCESS:
        from bot.deploy.process import ProcessControl

        return ProcessControl(releases=releases, executable=settings.executable, arguments=settings.arguments)
    if backend is Backend.SYSTEMD:
        from bot.deploy.systemd import SystemdControl

        return SystemdControl(settings.service_name, user=settings.systemd_user, runner=runner or run_command)
    from bot.deploy.winservice import WindowsServiceControl

    return WindowsServiceControl(settings.service_name, runner=runner or run_command)


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
