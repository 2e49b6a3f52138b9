"""Health check after a start: the ready line and/or the port, then a watch window with no exit or restart."""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.deploy.control import Clock, ServerState, Sleep
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

MAX_READ_BYTES = 1024 * 1024  # per poll; a server printing faster than this is still caught up later
KEPT_LINES = 5  # the last log lines quoted when the server dies, so the reason is readable


class Watched(Protocol):
    """What the health check needs of a server backend (every ``ServerControl`` is one)."""

    def status(self) -> ServerState: ...

    def pid(self) -> int | None: ...


@dataclass(frozen=True)
class HealthReport:
    """Whether the started server became ready and stayed up through the watch window."""

    ok: bool
    reason: str
    ready_after_s: float | None = None  # start -> ready
    ready_at: float | None = None  # clock value when ready


class LogCursor:
    """Follows a log file from a mark, reading only what was appended; survives truncation and rotation."""

    def __init__(self, path: Path, offset: int = 0, identity: tuple[int, int] | None = None) -> None:
        self.path = path
        self.offset = offset
        self.identity = identity
        self.last_lines: deque[str] = deque(maxlen=KEPT_LINES)
        self._partial = ""

    @classmethod
    def at_end(cls, path: Path) -> LogCursor:
        """A cursor past everything already in ``path`` (which may not exist yet)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return cls(path)
        return cls(path, st.st_size, (st.st_dev, st.st_ino))

    def read_lines(self) -> list[str]:
        """Complete lines appended since the last call, plus the current unfinished line (last)."""
        try:
            with self.path.open("rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if identity != self.identity or st.st_size < self.offset:
                    # a new file (rotated) or the same file cut short (truncated): start from its top
                    if self.identity is not None:
                        logger.debug("log %s was rotated or truncated; reading it from the start", self.path)
                    self.identity, self.offset, self._partial = identity, 0, ""
                f.seek(self.offset)
                data = f.read(MAX_READ_BYTES)
        except FileNotFoundError:
            return []
        self.offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        complete = [line.rstrip("\r") for line in lines]
        self.last_lines.extend(line for line in complete if line.strip())
        return [*complete, self._partial] if self._partial else complete

    def tail(self) -> str:
        lines = [*self.last_lines, *([self._partial] if self._partial.strip() else [])]
        return " | ".join(line.strip() for line in lines[-KEPT_LINES:])


def port_open(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=max(timeout_s, 0.05)):
            return True
    except OSError:
        return False


def compile_ready(regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex)
    except re.error as e:
        raise ConfigError(f"deploy.ready_regex {regex!r} is not a valid regular expression: {e}") from e


def wait_healthy(
    control: Watched,
    *,
    log: LogCursor | None,
    ready_regex: str,
    port: int = 0,
    host: str = "127.0.0.1",
    start_timeout_s: float,
    watch_window_s: float,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    poll_s: float = 0.2,
) -> HealthReport:
    """Wait for readiness (every configured signal) within ``start_timeout_s``, then watch for exits.

    ``log`` must have been placed (``LogCursor.at_end``) before the server was started, so a ready line
    from an earlier run is never mistaken for this one.
    """
    pattern = compile_ready(ready_regex) if ready_regex and log is not None else None
    started = clock()
    seen_line = pattern is None
    seen_port = port == 0
    if pattern is None and port == 0:
        logger.warning("no ready line (no log) and no ready_port: only checking that the server stays up")

    def why_dead() -> str:
        tail = log.tail() if log is not None else ""
        # only the process backend knows its child's exit code; services report it in their own logs
        code = getattr(control, "exit_code", lambda: None)()
        exit_text = f" with exit code {code}" if code is not None else ""
        return f"{exit_text}; last log lines: {tail}" if tail else exit_text

    while not (seen_line and seen_port):
        if pattern is not None and log is not None and not seen_line:
            seen_line = any(pattern.search(line) for line in log.read_lines())
        if not seen_port:
            seen_port = port_open(host, port, min(1.0, poll_s * 5))
        if seen_line and seen_port:
            break
        state = control.status()
        if state in (ServerState.STOPPED, ServerState.STOPPING):
            if log is not None:
                log.read_lines()
            return HealthReport(
                False,
                f"the server exited {clock() - started:.1f}s after start, before it was ready{why_dead()}",
            )
        if clock() - started >= start_timeout_s:
            waiting = [
                w for w, seen in (("the ready line", seen_line), (f"port {port}", seen_port)) if not seen
            ]
            return HealthReport(
                False, f"the server was not ready within {start_timeout_s:g}s (no {' or '.join(waiting)})"
            )
        sleep(poll_s)
    ready_at = clock()
    ready_after = ready_at - started
    logger.info("server ready after %.1fs; watching it for %gs", ready_after, watch_window_s)
    pid = control.pid()
    while clock() - ready_at < watch_window_s:
        state = control.status()
        if state is not ServerState.RUNNING and state is not ServerState.UNKNOWN:
            if log is not None:
                log.read_lines()
            return HealthReport(
                False,
                f"the server stopped {clock() - ready_at:.1f}s after it was ready (state {state.value})"
                f"{why_dead()}",
                ready_after,
                ready_at,
            )
        now_pid = control.pid()
        if pid is not None and now_pid is not None and now_pid != pid:
            return HealthReport(
                False,
                f"the server restarted during the watch window (pid {pid} -> {now_pid}): it crashed",
                ready_after,
                ready_at,
            )
        sleep(min(poll_s, max(watch_window_s - (clock() - ready_at), 0.0)))
    return HealthReport(
        True, f"ready after {ready_after:.1f}s, up for {watch_window_s:g}s", ready_after, ready_at
    )
