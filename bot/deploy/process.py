"""The ``process`` backend: worldserver as a detached child with a pid file, a log file and signals.

The server runs from the live release with the install dir as working directory (where
``worldserver.conf`` and the data dirs live), stdin closed, stdout+stderr appended to
``<install_dir>/worldserver.console.log``. Set ``Console.Enable = 0`` in worldserver.conf: with no
terminal the console thread only sees end-of-file. ``worldserver.pid`` records the pid and command
line so a later ``crashbot deploy`` run finds the server and can tell a reused pid from it.

Stop: SIGTERM on POSIX (worldserver handles it as a clean shutdown). On Windows CTRL_BREAK_EVENT,
which only reaches a process sharing our console; a server started detached by an earlier run does
not, so on Windows the SOAP/RA shutdown is what stops the server cleanly and this stop usually ends
in the (reported) kill.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.deploy.control import ServerState, StopMethod, StopOutcome, wait_until
from bot.deploy.errors import ServerControlError
from bot.deploy.releases import Releases

logger = logging.getLogger(__name__)

PID_FILE = "worldserver.pid"
LOG_FILE = "worldserver.console.log"
# The Actions runner kills every process carrying the job's RUNNER_TRACKING_ID when the job ends
# ("Cleaning up orphan processes"); clearing it is the documented way to outlive the job
# (actions/runner#598).
DROPPED_ENV = ("RUNNER_TRACKING_ID",)
# The deploy job's own credentials (App key, SOAP/RA password, GitHub tokens): worldserver never needs
# them, and an internet-facing server keeps its environment in memory and in every crash dump.
_BOT_SECRET_ENV_RE = re.compile(
    r"^(?:CRASHBOT_.*|GITHUB_TOKEN|GH_TOKEN|GH_ENTERPRISE_TOKEN|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_.*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PidRecord:
    """What the pid file says about the server this backend started."""

    pid: int
    argv: tuple[str, ...]
    started_at: float

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["pid"]), tuple(str(a) for a in data["argv"]), float(data["started_at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("ignoring unreadable pid file %s: %s", path, e)
            return None

    def write(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        payload = {"pid": self.pid, "argv": list(self.argv), "started_at": self.started_at}
        tmp.write_text(json.dumps(payload) + "\n", encoding="utf-8")
        os.replace(tmp, path)


class ProcessControl:
    """Runs the live release's executable as a detached process."""

    def __init__(
        self,
        *,
        releases: Releases,
        executable: str,
        arguments: Sequence[str] = (),
        env: Mapping[str, str],
        log_file: Path | None = None,
        poll_s: float = 0.1,
        core_dumps: bool = False,
    ) -> None:
        self.releases = releases
        self.install_dir = releases.install_dir
        self.executable = executable
        self.arguments = tuple(arguments)
        self.pid_path = self.install_dir / PID_FILE
        self._log = log_file or self.install_dir / LOG_FILE
        self._env = dict(env)
        self._poll_s = poll_s
        self._core_dumps = core_dumps
        self._child: subprocess.Popen[bytes] | None = None  # set when this run started the server

    def log_path(self) -> Path:
        return self._log

    def pid(self) -> int | None:
        record = PidRecord.read(self.pid_path)
        if record is None or not self._is_ours(record):
            return None
        return record.pid

    def status(self) -> ServerState:
        return ServerState.RUNNING if self.pid() is not None else ServerState.STOPPED

    def exit_code(self) -> int | None:
        """The exit code of the server this run started, once it has exited."""
        return None if self._child is None else self._child.poll()

    def start(self) -> None:
        if self.status() is ServerState.RUNNING:
            raise ServerControlError(f"the server is already running (pid {self.pid()}); stop it first")
        live = self.releases.live()
        if live is None:
            raise ServerControlError(f"no live release under {self.install_dir}; deploy one first")
        argv = (str(live.executable(self.executable)), *self.arguments)
        env = {k: v for k, v in self._env.items() if k not in DROPPED_ENV and not _BOT_SECRET_ENV_RE.match(k)}
        self.install_dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, object] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
        else:
            kwargs["start_new_session"] = True  # its own session: our Ctrl-C or exit does not reach it
        with self._log.open("ab") as log:
            log.write(f"--- crashbot: starting {live.name} ---\n".encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    cwd=self.install_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    **kwargs,  # type: ignore[call-overload]
                )
            except OSError as e:
                raise ServerControlError(
                    f"cannot start {argv[0]}: {e}; check the release and its permissions"
                ) from e
        self._child = child
        if self._core_dumps:
            allow_core_dumps(child.pid)
        _wait_for_exec(child)
        PidRecord(child.pid, argv, time.time()).write(self.pid_path)
        logger.info("started %s (pid %d), console output in %s", argv[0], child.pid, self._log)

    def stop(self, timeout_s: float) -> StopOutcome:
        pid = self.pid()
        if pid is None:
            return StopOutcome(True, StopMethod.SIGNAL, "not running")
        if sys.platform == "win32":
            sig = signal.CTRL_BREAK_EVENT
        else:
            sig = signal.SIGTERM
        try:
            os.kill(pid, sig)
        except OSError as e:
            return StopOutcome(False, StopMethod.SIGNAL, f"({sig!r} to pid {pid} failed: {e})")
        stopped = wait_until(
            lambda: self.pid() is None, timeout_s, clock=time.monotonic, sleep=time.sleep, poll_s=self._poll_s
        )
        return StopOutcome(stopped, StopMethod.SIGNAL, f"({sig.name} to pid {pid})")

    def kill(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            if sys.platform == "win32":
                # os.kill with anything but the CTRL events is TerminateProcess on Windows
                os.kill(pid, signal.SIGTERM)
            else:
                os.killpg(pid, signal.SIGKILL)  # the session leader's group: helpers die with it
        except ProcessLookupError:
            return
        except OSError as e:
            raise ServerControlError(f"cannot kill the server (pid {pid}): {e}; stop it by hand") from e
        logger.warning("killed the server (pid %d)", pid)

    def _is_ours(self, record: PidRecord) -> bool:
        """Is ``record.pid`` alive and still running the command line we started (not a reused pid)?"""
        if self._child is not None and self._child.pid == record.pid:
            return self._child.poll() is None  # reaps our own child, so no zombie counts as alive
        cmdline = _command_line(record.pid)
        if cmdline is None:
            return False
        expected = os.path.normcase(record.argv[0])
        # A script with a shebang shows as `<interpreter> <script> ...`, and while `#!/usr/bin/env X`
        # is still starting its interpreter, as `/usr/bin/env X <script> ...`: look at the whole line.
        return any(os.path.normcase(part) == expected for part in cmdline)


EXEC_SETTLE_S = 2.0  # the most start() waits for the new process's command line to become readable


def _wait_for_exec(child: subprocess.Popen[bytes], settle_s: float = EXEC_SETTLE_S) -> None:
    """Wait until ``child``'s command line is readable (or it exited). Popen returns once the exec has
    closed our error pipe, which Linux does before it lays out the new program's arguments: for that
    moment /proc/PID/cmdline is empty, and a later run would not recognise the server as ours."""
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and child.poll() is None:
        if _command_line(child.pid):
            return
        time.sleep(0.005)


def _command_line(pid: int) -> tuple[str, ...] | None:
    """The live process ``pid``'s command line, or None if there is no such (non-zombie) process."""
    if sys.platform.startswith("linux"):
        proc = Path("/proc") / str(pid)
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            raw = (proc / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return None
        except PermissionError:
            return ()
        if state in ("Z", "X"):
            return None
        return tuple(p.decode(errors="replace") for p in raw.split(b"\0") if p)
    if os.name == "nt":
        image = _windows_image_path(pid)
        return None if image is None else (image,)
    try:
        done = subprocess.run(
            ["ps", "-o", "stat=,command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    fields = done.stdout.split()
    if done.returncode != 0 or not fields or fields[0].startswith("Z"):
        return None
    return tuple(fields[1:])


def _windows_image_path(pid: int) -> str | None:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    process_query_limited_information, still_active = 0x1000, 259
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return None
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value != still_active:
            return None
        size = wintypes.DWORD(32768)
        buffer = ctypes.create_unicode_buffer(size.value)
        if not kernel32.QueryFullProcessImageNameW(handle, 0, buffer, ctypes.byref(size)):
            return None
        return buffer.value
    finally:
        kernel32.CloseHandle(handle)


def allow_core_dumps(pid: int) -> bool:
    """Lift the core size limit of process ``pid`` (as high as this user may: the hard limit), so a crash
    leaves a core where ``kernel.core_pattern`` says; False (with a log line) where that cannot be done.

    Set on the started process with ``prlimit(2)`` rather than in a ``preexec_fn``, which is unsafe in a
    process with threads; the server has not crashed within the microseconds before it takes effect.
    """
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_CORE (Wheaty writes minidumps there)
        return False
    prlimit = getattr(resource, "prlimit", None)
    if prlimit is None:
        logger.warning("cannot enable core dumps for pid %d: this platform has no prlimit", pid)
        return False
    try:
        _, hard = prlimit(pid, resource.RLIMIT_CORE)
        prlimit(pid, resource.RLIMIT_CORE, (hard, hard))
    except (OSError, ValueError) as e:
        logger.warning("cannot enable core dumps for pid %d: %s", pid, e)
        return False
    if hard == 0:
        logger.warning("core dumps stay off for pid %d: the hard limit is 0 (raise it: ulimit -Hc)", pid)
        return False
    return True
