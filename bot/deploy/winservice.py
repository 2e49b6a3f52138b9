"""The ``windows-service`` backend: ``sc.exe queryex|start|stop <service>`` and ``taskkill`` as last resort.

Wine's ``sc.exe`` (Wine 8) knows ``query`` but not ``queryex``: it exits 1 without a word. Where
``queryex`` prints no state at all, the state is read from ``sc.exe query`` instead (on Windows, queryex
always prints a state or a ``FAILED`` line, so this never runs there); the process id, which only queryex
gives, is then unknown, and a kill says so rather than doing nothing.

Register the service as ``<install_dir>\\current\\worldserver.exe --service run`` (worldserver's own
``--service install`` writes the exe's current path, so run it from ``current``). sc.exe's messages
are localised, so only the numbers are parsed: ``STATE : 4 RUNNING`` and ``FAILED 5:``.

The runner service runs as NETWORK SERVICE by default, and a service's DACL normally lets only
SYSTEM and administrators start/stop it, so a deploy job gets error 5. The error raised then says
exactly which ``sc.exe sdset`` grants the right, built from the service's current DACL.
"""

from __future__ import annotations

import csv
import logging
import re
import time

from bot.deploy.control import ServerState, StopMethod, StopOutcome, wait_until
from bot.deploy.errors import ServerControlError, ServiceAccessDenied
from bot.deploy.shell import CommandResult, CommandRunner, run_command

logger = logging.getLogger(__name__)

SC = "sc.exe"  # never bare `sc`: in PowerShell that is Set-Content
QUERY_TIMEOUT_S = 30.0
STATE_RE = re.compile(r"^\s*STATE\s*:\s*(\d+)", re.MULTILINE)
PID_RE = re.compile(r"^\s*PID\s*:\s*(\d+)", re.MULTILINE)
FAILED_RE = re.compile(r"FAILED\s+(\d+)\s*:")
SDDL_RE = re.compile(r"^\s*(D:\S*)\s*$", re.MULTILINE)
STATES = {
    1: ServerState.STOPPED,
    2: ServerState.STARTING,  # START_PENDING
    3: ServerState.STOPPING,  # STOP_PENDING
    4: ServerState.RUNNING,
    5: ServerState.STARTING,  # CONTINUE_PENDING
    6: ServerState.STOPPING,  # PAUSE_PENDING
    7: ServerState.RUNNING,  # PAUSED: the process is up
}
ERROR_ACCESS_DENIED = 5
ERROR_SERVICE_ALREADY_RUNNING = 1056
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_NOT_ACTIVE = 1062
# start, stop, query status, read control: just enough for a deploy job
GRANTED_RIGHTS = "RPWPLCRC"


def parse_state(output: str) -> ServerState:
    match = STATE_RE.search(output)
    return STATES.get(int(match.group(1)), ServerState.UNKNOWN) if match else ServerState.UNKNOWN


def parse_pid(output: str) -> int | None:
    match = PID_RE.search(output)
    return int(match.group(1)) or None if match else None


def parse_error(output: str) -> int | None:
    """The Windows error number of an ``[SC] ... FAILED <n>:`` line."""
    match = FAILED_RE.search(output)
    return int(match.group(1)) if match else None


def parse_sid(whoami_csv: str) -> tuple[str, str] | None:
    """``(account, SID)`` from ``whoami /user /fo csv /nh``."""
    for row in csv.reader(whoami_csv.strip().splitlines()):
        if len(row) >= 2 and row[1].startswith("S-1-"):
            return row[0], row[1]
    return None


def grant_sddl(sddl: str, sid: str) -> str:
    """``sddl`` plus an ACE letting ``sid`` start/stop/query the service, at the end of the DACL."""
    ace = f"(A;;{GRANTED_RIGHTS};;;{sid})"
    if ace in sddl:
        return sddl
    sacl = sddl.find("S:")
    return sddl + ace if sacl < 0 else sddl[:sacl] + ace + sddl[sacl:]


class WindowsServiceControl:
    """Controls the worldserver as a Windows service through sc.exe."""

    def __init__(self, service: str, *, runner: CommandRunner = run_command, poll_s: float = 1.0) -> None:
        if not service or any(c in service for c in '"/\\'):
            raise ServerControlError(f"deploy.service_name {service!r} is not a Windows service name")
        self.service = service
        self._run = runner
        self._poll_s = poll_s

    def _sc(self, verb: str, timeout_s: float = QUERY_TIMEOUT_S) -> CommandResult:
        result = self._run([SC, verb, self.service], timeout_s)
        code = parse_error(result.output)
        if code == ERROR_ACCESS_DENIED:
            raise self._access_denied(verb)
        if code == ERROR_SERVICE_DOES_NOT_EXIST:
            raise ServerControlError(
                f"Windows service {self.service!r} does not exist (error 1060); install it with "
                f"worldserver.exe --service install from <install_dir>\\current, or fix deploy.service_name"
            )
        return result

    def status(self) -> ServerState:
        result = self._sc("queryex")
        if not STATE_RE.search(result.output) and parse_error(result.output) is None:
            result = self._sc("query")  # an sc.exe without queryex (Wine's)
        return parse_state(result.output)

    def pid(self) -> int | None:
        result = self._sc("queryex")
        return parse_pid(result.output) if parse_state(result.output) is not ServerState.STOPPED else None

    def start(self) -> None:
        result = self._sc("start")
        code = parse_error(result.output)
        if code == ERROR_SERVICE_ALREADY_RUNNING:
            raise ServerControlError(f"service {self.service!r} is already running; stop it first")
        if code is not None or result.returncode not in (0, None):
            raise ServerControlError(
                f"sc.exe start {self.service} failed (error {code or result.returncode}): "
                f"{_message(result)}; see the Windows event log (System, Service Control Manager)"
            )

    def stop(self, timeout_s: float) -> StopOutcome:
        result = self._sc("stop")
        code = parse_error(result.output)
        if code is not None and code != ERROR_SERVICE_NOT_ACTIVE:
            return StopOutcome(
                False, StopMethod.SERVICE_STOP, f"(sc.exe stop: error {code}: {_message(result)})"
            )
        if code is None and result.returncode not in (0, None) and self.status() is not ServerState.STOPPED:
            # failed without a FAILED line (Wine's sc.exe says nothing): no point waiting for a stop
            return StopOutcome(
                False, StopMethod.SERVICE_STOP, f"(sc.exe stop: exit {result.returncode}: {_message(result)})"
            )
        stopped = wait_until(
            lambda: self.status() is ServerState.STOPPED,
            timeout_s,
            clock=time.monotonic,
            sleep=time.sleep,
            poll_s=self._poll_s,
        )
        return StopOutcome(stopped, StopMethod.SERVICE_STOP)

    def kill(self) -> None:
        pid = self.pid()
        if pid is None:
            if self.status() in (ServerState.STOPPED, ServerState.UNKNOWN):
                return
            raise ServerControlError(
                f"cannot kill service {self.service!r}: sc.exe queryex gives no process id (this sc.exe "
                "has no queryex: Wine's), so the process to end is unknown; end worldserver.exe yourself"
            )
        result = self._run(["taskkill.exe", "/F", "/T", "/PID", str(pid)], QUERY_TIMEOUT_S)
        if not result.ok:
            if "access is denied" in result.output.lower():
                raise self._access_denied("kill")
            raise ServerControlError(
                f"taskkill of the service process (pid {pid}) failed: {_message(result)}"
            )

    def log_path(self) -> None:
        return None  # the console is disabled in service mode; set deploy.log_file or deploy.ready_port

    def _access_denied(self, verb: str) -> ServiceAccessDenied:
        """The error for error 5, with the exact grant command when sc.exe and whoami can tell us."""
        account, sid = "this account", "<runner account SID, e.g. S-1-5-20 for NETWORK SERVICE>"
        who = parse_sid(self._run(["whoami.exe", "/user", "/fo", "csv", "/nh"], QUERY_TIMEOUT_S).stdout)
        if who is not None:
            account, sid = who
        match = SDDL_RE.search(self._run([SC, "sdshow", self.service], QUERY_TIMEOUT_S).stdout)
        if match:
            grant = f'{SC} sdset {self.service} "{grant_sddl(match.group(1), sid)}"'
        else:
            grant = (
                f'{SC} sdset {self.service} "<the D:... of `{SC} sdshow {self.service}`, '
                f'with (A;;{GRANTED_RIGHTS};;;{sid}) added before S:>"'
            )
        return ServiceAccessDenied(
            f"Access is denied ({verb} service {self.service!r}, Windows error 5): {account} may not "
            "start or stop it (the runner's default NETWORK SERVICE account cannot). "
            f"From an elevated prompt run: "
            f"{grant} -- or run the runner under a dedicated account that may (runner-setup/ does this)"
        )


def _message(result: CommandResult) -> str:
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"
