"""The uploader's heartbeat: a status file beside the spool, and one alert per episode of failing uploads.

``crashbot watch`` rewrites ``<spool>.status.json`` after every pass (last upload, pending count, last
error) so ``crashbot doctor`` can say whether the running uploader is healthy without talking to it.
When passes keep failing (``alert_after`` in a row, or for ``alert_after_s``), one webhook message says
so; the first pass that uploads again sends one recovery message and ends the episode.

The episode (failures in a row, whether the alert went) is kept in the status file, not in memory:
``crashbot watch`` publishes from short-lived processes, each with its own :class:`Health`, and an
episode must span them (and a ``kill -9``). Each pass reads the file, updates it and writes it back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bot.uploader.notify import Notice, NoticeKind, Notifier

logger = logging.getLogger(__name__)

STATUS_SUFFIX = ".status.json"
ALERT_AFTER_FAILURES = 5
ALERT_AFTER_S = 30 * 60.0
_MAX_ERROR_CHARS = 500


def status_path(spool_path: Path) -> Path:
    """Where the heartbeat of the uploader using ``spool_path`` lives (beside it)."""
    return spool_path.with_name(spool_path.name + STATUS_SUFFIX)


@dataclass(frozen=True)
class Status:
    """What the heartbeat file holds; times are Unix seconds, 0 for never."""

    updated_at: float = 0.0
    last_upload_at: float = 0.0
    pending: int = 0
    last_error: str = ""
    failing_since: float = 0.0  # 0: the last pass did not fail
    pid: int = 0  # the uploader that owns the spool (the watcher, not its publisher process)
    failures: int = 0  # failed passes in a row
    alerted: bool = False  # the "uploads are failing" alert of this episode went out


def read_status(path: Path) -> Status | None:
    """The heartbeat at ``path``; None when there is none or it is not one (never raises)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Status(
            updated_at=float(data["updated_at"]),
            last_upload_at=float(data["last_upload_at"]),
            pending=int(data["pending"]),
            last_error=str(data["last_error"])[:_MAX_ERROR_CHARS],
            failing_since=float(data["failing_since"]),
            pid=int(data.get("pid", 0)),
            failures=int(data.get("failures", 0)),
            alerted=bool(data.get("alerted", False)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass(frozen=True)
class AlertPolicy:
    after_failures: int = ALERT_AFTER_FAILURES
    after_s: float = ALERT_AFTER_S


class Health:
    """Keeps the heartbeat file and the failing-uploads alert; never raises (a full disk only logs)."""

    def __init__(
        self,
        path: Path,
        *,
        notifier: Notifier | None = None,
        policy: AlertPolicy = AlertPolicy(),
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
    ) -> None:
        """``pid``: the process ``doctor`` should see as the uploader (default: this one)."""
        self._path = path
        self._notifier = notifier
        self._policy = policy
        self._clock = clock
        previous = read_status(path)
        owner = os.getpid() if pid is None else pid
        self.status = replace(previous, pid=owner) if previous else Status(pid=owner)

    def after_pass(self, *, uploaded: int, failed: int, error: str, pending: int) -> None:
        """Record one pass: ``uploaded`` groups went, ``failed`` were deferred after ``error``."""
        now = self._clock()
        stored = read_status(self._path)  # another process's pass since ours (None: ours is the latest)
        status = replace(stored or self.status, updated_at=now, pending=pending, pid=self.status.pid)
        if uploaded:
            status = replace(status, last_upload_at=now)
        if failed and not uploaded:
            status = replace(
                status,
                last_error=error[:_MAX_ERROR_CHARS],
                failing_since=status.failing_since or now,
                failures=status.failures + 1,
            )
        elif uploaded or not pending:
            status = replace(self._recovered(status), failures=0, failing_since=0.0)
        self.status = self._maybe_alert(status, now)
        self._write()

    def _maybe_alert(self, status: Status, now: float) -> Status:
        since = status.failing_since
        if status.alerted or not since:
            return status
        if status.failures < self._policy.after_failures and now - since < self._policy.after_s:
            return status
        minutes = (now - since) / 60.0
        title = f"{status.failures} upload attempts in a row failed, over {minutes:.0f} min"
        detail = f"{status.pending} reports waiting in the spool; last error: {status.last_error}"
        logger.error("%s; %s", title, detail)
        if self._notifier is not None:
            self._notifier.send(Notice(NoticeKind.UPLOADS_FAILING, title, detail=detail))
        return replace(status, alerted=True)

    def _recovered(self, status: Status) -> Status:
        if not status.alerted:
            return status
        logger.info("uploads work again")
        if self._notifier is not None:
            title = f"uploads work again, {status.pending} reports still waiting"
            self._notifier.send(Notice(NoticeKind.UPLOADS_RECOVERED, title))
        return replace(status, alerted=False)

    def _write(self) -> None:
        # per process: `crashbot upload` run by hand beside the service writes the same heartbeat
        temporary = self._path.with_name(f"{self._path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(asdict(self.status)), encoding="utf-8")
            os.replace(temporary, self._path)
        except OSError as e:
            logger.warning("cannot write the status file %s (%s)", self._path, e)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
