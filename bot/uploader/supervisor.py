"""``crashbot watch``'s side of publishing: start the publisher process when the spool has work, watch
it, start it again with backoff when it fails, stop it cleanly.

The watcher itself never loads PyGithub, jwt or cryptography (about 25 MB that an idle uploader would
hold for good after its first crash); the publisher process (:mod:`bot.uploader.drainer`) does, and
exits when the spool is drained. Its log records come back on its stderr and are logged here, so one
log tells the whole story; a new report pokes it through its stdin; closing its stdin stops it after
the current request. Nothing here polls: the supervisor sleeps until a report arrives, the process
exits, or the spool's next due time (a paced edit, a backoff, a rate limit's reset).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot import credentials
from bot.uploader import relay
from bot.uploader.health import Health
from bot.uploader.spool import PacingKey, Spool, SpooledReport

logger = logging.getLogger(__name__)

PUBLISHER_MODULE = "bot.uploader.drainer"
BUSY = 75  # EX_TEMPFAIL: the publisher found the spool locked by another publisher
LINGER_S = 5.0  # a drained publisher waits this long for more work: a burst costs one process, not many
# The service managers that run `crashbot watch` kill it this long after asking it to stop: systemd's
# TimeoutStopSec= in runner-setup/crashbot-watch.service and WinSW's <stoptimeout> in
# Install-CrashbotUploader.ps1 (tests/test_systemd_unit.py and test_windows_uploader.py hold them to it).
# Neither tells the process (systemd exports no stop timeout to a service), so the watcher keeps inside
# this figure whatever crashbot.toml says.
SERVICE_STOP_TIMEOUT_S = 30.0
# After the publisher is gone or killed, the watcher still reads the end of its log, stops its folder
# watchers and exits (well under a second); this much of the service manager's timeout is kept for that.
STOP_RESERVE_S = 5.0
MAX_STOP_WAIT_S = SERVICE_STOP_TIMEOUT_S - STOP_RESERVE_S
STOP_ANSWER_S = 10.0  # beyond a request's own timeout: its answer recorded in the spool
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window for the child


@dataclass(frozen=True)
class SupervisorSettings:
    backoff_base_s: float = 2.0  # after a failed publisher process; doubled each time, up to the cap
    backoff_cap_s: float = 300.0
    stop_timeout_s: float = MAX_STOP_WAIT_S  # a stopping publisher finishes its current request, or is killed
    min_interval_s: float = 1.0  # between two starts even when both succeed: never a hot loop
    busy_retry_s: float = 2.0  # another publisher holds the spool


def stop_wait_s(request_timeout_s: float) -> float:
    """How long a stopping watcher waits for its publisher: the request in flight (``github.timeout_s``)
    and its answer, but never so long that the service manager kills the watcher first (it would log
    nothing, and the publisher would be left to the manager's own kill). A publisher killed at the cap
    loses nothing: its report stays spooled and the next start sends it again."""
    return min(request_timeout_s + STOP_ANSWER_S, MAX_STOP_WAIT_S)


def publisher_command(
    *,
    spool: Path,
    owner_pid: int,
    log_level: int,
    config: str | None = None,
    repo: str | None = None,
    api_url: str | None = None,
    realm: str | None = None,
    linger_s: float = LINGER_S,
) -> list[str]:
    """The argv that starts a publisher for ``spool`` (``sys.executable -m``: no fork, so Windows too)."""
    argv = [sys.executable, "-m", PUBLISHER_MODULE, "--spool", str(spool), "--owner-pid", str(owner_pid)]
    argv += ["--log-level", str(log_level), "--linger", repr(linger_s)]
    for flag, value in (("--config", config), ("--repo", repo), ("--api-url", api_url), ("--realm", realm)):
        if value is not None:
            argv += [flag, value]
    return argv


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The publisher's environment: the watcher's, less the secrets it read from files (the child reads
    them itself), with crashbot's own package importable even when it runs from a source tree."""
    child = credentials.without_credentials(env)
    root = str(Path(__file__).resolve().parents[2])
    path = child.get("PYTHONPATH", "")
    if root not in path.split(os.pathsep):
        child["PYTHONPATH"] = os.pathsep.join(p for p in (root, path) if p)
    return child


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


class PublisherSupervisor:
    """Runs at most one publisher process at a time for ``spool``; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        settings: SupervisorSettings = SupervisorSettings(),
        health: Health | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spool = spool
        self._command = list(command)
        self._env = dict(env)
        self._settings = settings
        self._health = health
        self._clock = clock
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # the child handle: intake's thread pokes it
        self._proc: subprocess.Popen[bytes] | None = None
        self._relay: threading.Thread | None = None
        self._started_at = 0.0
        self._failures = 0
        self._not_before = 0.0
        self._expecting = False  # a report is on its way (expect_work): start without due work
        self.delays: list[float] = []  # each backoff chosen after a failed process (tests read it)

    # -- control --------------------------------------------------------------------------------------

    def wakeup(self, report: SpooledReport | None = None) -> None:
        """New work (intake calls this): tell a running publisher, or start one."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.stdin is not None:
                try:
                    proc.stdin.write(b"\n")
                    proc.stdin.flush()
                except OSError:
                    pass  # it is exiting: the supervisor sees the exit and looks at the spool again
        self._wake.set()

    def expect_work(self) -> None:
        """A report is being written: start a publisher now, so that its start (Python, PyGithub) overlaps
        the report's quiet period instead of following it. It waits for the report like any new work."""
        if not self._expecting:
            self._expecting = True
            self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`serve` to stop the publisher (after its current request) and return."""
        self.stop_event.set()
        self._wake.set()

    @property
    def settings(self) -> SupervisorSettings:
        return self._settings

    @property
    def running(self) -> bool:
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    # -- the loop -------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Start publishers while there is work, until :meth:`stop`."""
        try:
            while not self.stop_event.is_set():
                self._wake.clear()
                self._reap()
                timeout = self._start_if_due()
                self._wake.wait(timeout)
        finally:
            self._stop_child()
        logger.info("upload service stopped")

    def _work_at(self, now: float) -> float | None:
        """When the spool next has something for a publisher (None: only when a report arrives)."""
        if self._spool.has_unnotified_quarantine():
            return now
        stats = self._spool.stats()
        if not stats.new:
            return None
        due = stats.next_attempt_at if stats.next_attempt_at is not None else now
        return max(due, self._spool.pacing(PacingKey.BLOCKED_UNTIL) or 0.0)

    def _start_if_due(self) -> float | None:
        """Start a publisher if work is due; the seconds until it will be (None: wait to be woken)."""
        if self._proc is not None:
            self._expecting = False  # the running publisher is poked when the report is spooled
            return None  # its exit wakes the loop
        expecting, self._expecting = self._expecting, False  # taken before looking: a new one wakes us
        now = self._clock()
        when = now if expecting else self._work_at(now)
        if when is None:
            return None
        when = max(when, self._not_before)
        if when > now:
            return when - now
        self._start(now)
        return None

    def _start(self, now: float) -> None:
        try:
            proc = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self._env,
                creationflags=_NO_WINDOW,
            )
        except OSError as e:
            self._failed(f"cannot start the publisher process: {e.strerror or e}")
            return
        assert proc.stderr is not None
        self._started_at = now
        thread = threading.Thread(
            target=self._relay_output, args=(proc,), name="crashbot-publisher-log", daemon=True
        )
        with self._lock:
            self._proc, self._relay = proc, thread
        thread.start()
        logger.debug("publisher process %d started", proc.pid)

    def _relay_output(self, proc: subprocess.Popen[bytes]) -> None:
        """The publisher's log lines, logged here; once it has exited, wake the loop to reap it."""
        assert proc.stderr is not None
        try:
            for raw in proc.stderr:
                relay.log(relay.decode(raw.decode("utf-8", errors="replace")))
        except (OSError, ValueError):
            pass
        finally:
            proc.wait()  # the end of its output may come a moment before its exit
            self._wake.set()

    def _reap(self) -> None:
        """Account for a publisher that has exited."""
        with self._lock:
            proc, thread = self._proc, self._relay
            if proc is None or proc.poll() is None:
                return
            self._proc, self._relay = None, None
        if thread is not None:
            thread.join(5.0)
        _close(proc)
        code = proc.returncode
        now = self._clock()
        if code == 0:
            self._failures = 0
            self._not_before = self._started_at + self._settings.min_interval_s
        elif code == BUSY:
            logger.info("another publisher holds the spool; next try in %.0fs", self._settings.busy_retry_s)
            self._not_before = now + self._settings.busy_retry_s
        else:
            self._failed(f"the publisher process {describe_exit(code)}")

    def _failed(self, reason: str) -> None:
        """One line, a backoff before the next start, and the heartbeat's failure count."""
        self._failures += 1
        delay = min(self._settings.backoff_cap_s, self._settings.backoff_base_s * 2 ** (self._failures - 1))
        self.delays.append(delay)
        self._not_before = self._clock() + delay
        pending = self._spool.stats().new
        logger.error("%s; %d report(s) stay spooled, next try in %.0fs", reason, pending, delay)
        if self._health is not None:
            self._health.after_pass(uploaded=0, failed=1, error=reason, pending=pending)

    def _stop_child(self) -> None:
        """Close the publisher's stdin (it stops after its current request), wait, kill if it hangs."""
        with self._lock:
            proc, thread = self._proc, self._relay
            self._proc, self._relay = None, None
        if proc is None:
            return
        _close(proc, stdin_only=True)
        try:
            proc.wait(self._settings.stop_timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning(
                "the publisher did not stop within %.0fs; killing it (the spool keeps every report)",
                self._settings.stop_timeout_s,
            )
            proc.kill()
            proc.wait()
        if thread is not None:
            thread.join(5.0)
        _close(proc)


def _close(proc: subprocess.Popen[bytes], *, stdin_only: bool = False) -> None:
    streams = [proc.stdin] if stdin_only else [proc.stdin, proc.stderr]
    for stream in streams:
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
