"""The ``systemd`` backend: ``systemctl [--user] start|stop|is-active|show|kill <unit>``.

The unit should run ``<install_dir>/current/worldserver`` with ``WorkingDirectory=<install_dir>``,
``KillSignal=SIGTERM`` (worldserver's clean shutdown), a ``TimeoutStopSec`` long enough to save, and
``LimitCORE=infinity`` so a crash leaves a core for ``crashbot watch`` (:func:`suggested_unit` writes one).
A system unit needs root or a polkit/sudoers rule for the runner's user; a ``--user`` unit does not.
With ``sudo=True`` (``deploy.systemd_sudo``) the verbs that change the unit run as ``sudo -n systemctl …``,
matching the sudoers drop-in ``runner-setup/install-runner.sh --role deploy`` writes; queries never need it.
"""

from __future__ import annotations

import logging

from bot.deploy.control import ServerState, StopMethod, StopOutcome
from bot.deploy.errors import ServerControlError, ServiceAccessDenied
from bot.deploy.shell import CommandResult, CommandRunner, run_command

logger = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
STATES = {
    "active": ServerState.RUNNING,
    "reloading": ServerState.RUNNING,
    "activating": ServerState.STARTING,
    "deactivating": ServerState.STOPPING,
    "inactive": ServerState.STOPPED,
    "failed": ServerState.STOPPED,
}
DENIED_MARKERS = (
    "access denied",
    "interactive authentication required",
    "not authorized",
    "a password is required",  # sudo -n without a matching sudoers line
    "is not allowed to",
    "not in the sudoers file",
)
# the commands that change the unit, as start/stop/kill below run them (through ``sudo -n`` with
# deploy.systemd_sudo): what crashbot doctor asks sudo about (tests keep the two equal)
PRIVILEGED_COMMANDS = (("start",), ("stop",), ("kill", "--signal=SIGKILL"))
PRIVILEGED_VERBS = frozenset(c[0] for c in PRIVILEGED_COMMANDS)


class SystemdControl:
    """Controls the worldserver as a systemd unit."""

    def __init__(
        self, unit: str, *, user: bool = False, sudo: bool = False, runner: CommandRunner = run_command
    ) -> None:
        if not unit or unit.startswith("-"):
            raise ServerControlError(f"deploy.service_name {unit!r} is not a systemd unit name")
        if user and sudo:
            raise ServerControlError(
                "deploy.systemd_user and deploy.systemd_sudo exclude each other: a --user unit needs no sudo"
            )
        self.unit = unit
        self.user = user
        self.sudo = sudo
        self._run = runner

    def argv(self, *args: str) -> list[str]:
        """The command line of ``systemctl ARGS UNIT`` as this control runs it (with ``sudo -n`` for the
        verbs that change the unit, when deploy.systemd_sudo is set)."""
        prefix = ["sudo", "-n"] if self.sudo and args[0] in PRIVILEGED_VERBS else []
        return [*prefix, "systemctl", *(["--user"] if self.user else []), *args, self.unit]

    def _systemctl(self, *args: str, timeout_s: float = QUERY_TIMEOUT_S) -> CommandResult:
        argv = self.argv(*args)
        result = self._run(argv, timeout_s)
        if not result.ok and any(m in result.output.lower() for m in DENIED_MARKERS):
            how = (
                f"the sudoers line runner-setup/install-runner.sh --role deploy --unit {self.unit} writes"
                if self.sudo
                else f"a polkit rule or a sudoers line for 'systemctl {args[0]} {self.unit}' "
                "(with deploy.systemd_sudo = true)"
            )
            refused = result.output.splitlines()[-1]
            raise ServiceAccessDenied(
                f"{' '.join(argv)} was refused ({refused}): give this user the right with {how}, "
                "or run the server as a --user unit (deploy.systemd_user = true)"
            )
        return result

    def status(self) -> ServerState:
        result = self._systemctl("is-active")  # exit 0 only when active; the word is what matters
        word = result.stdout.strip().splitlines()[-1].strip() if result.stdout.strip() else ""
        return STATES.get(word, ServerState.UNKNOWN)

    def pid(self) -> int | None:
        result = self._systemctl("show", "--property=MainPID", "--value")
        text = result.stdout.strip()
        if not result.ok or not text.isdigit() or int(text) == 0:
            return None
        return int(text)

    def start(self) -> None:
        result = self._systemctl("start", timeout_s=START_TIMEOUT_S)
        if not result.ok:
            raise ServerControlError(
                f"systemctl start {self.unit} failed ({_last_line(result)}); see journalctl -u {self.unit}"
            )

    def stop(self, timeout_s: float) -> StopOutcome:
        # systemctl stop blocks until the unit is down (or its own TimeoutStopSec kills it)
        result = self._systemctl("stop", timeout_s=timeout_s)
        if result.returncode is None:
            return StopOutcome(
                False, StopMethod.SERVICE_STOP, f"(systemctl stop timed out after {timeout_s:g}s)"
            )
        if not result.ok:
            return StopOutcome(
                False, StopMethod.SERVICE_STOP, f"(systemctl stop failed: {_last_line(result)})"
            )
        return StopOutcome(self.status() is ServerState.STOPPED, StopMethod.SERVICE_STOP)

    def kill(self) -> None:
        result = self._systemctl("kill", "--signal=SIGKILL")
        if not result.ok:
            raise ServerControlError(
                f"systemctl kill {self.unit} failed ({_last_line(result)}); kill it by hand"
            )

    def log_path(self) -> None:
        return None  # the journal; set deploy.log_file or deploy.ready_port for the health check


def _last_line(result: CommandResult) -> str:
    lines = result.output.splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


def suggested_unit(install_dir: str, executable: str = "worldserver", *, user: str = "wow") -> str:
    """A worldserver unit for this backend: clean SIGTERM shutdown, time to save, and core dumps on."""
    return (
        "[Unit]\n"
        "Description=worldserver (deployed by crashbot)\n"
        "After=network-online.target mysql.service\n"
        "\n"
        "[Service]\n"
        f"User={user}\n"
        f"WorkingDirectory={install_dir}\n"
        f"ExecStart={install_dir}/current/{executable}\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=300\n"
        "Restart=on-failure\n"
        "# a crash leaves a core where kernel.core_pattern says; crashbot watch reads it (crashbot doctor)\n"
        "LimitCORE=infinity\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
