"""The on-disk spool: every crash report the host has seen, and how far it got towards GitHub.

SQLite in WAL mode with ``synchronous=FULL``: a report is durable before the watcher acknowledges it,
and every state change is one transaction, so ``kill -9`` at any instant leaves a consistent spool.

A report moves ``new -> uploaded`` (or ``quarantined`` when it cannot be parsed). Occurrences are sent
in *batches*: a batch id is assigned to a set of new reports of one signature and stored here before
any request is made; the issue's signed payload remembers the last batch ids it absorbed. After a crash
mid-upload the same batch (same id, same reports) is retried, and the publisher skips it if the issue
already counts it. That is how the count stays exact across kills, timeouts and ambiguous 502s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from bot.config import UploaderSettings
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SPOOL_FILE = "spool.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256          TEXT NOT NULL UNIQUE,
    path            TEXT NOT NULL,
    dump_path       TEXT,
    size            INTEGER NOT NULL,
    received_at     REAL NOT NULL,
    state           TEXT NOT NULL,
    signature_id    TEXT,
    text            TEXT NOT NULL,
    redactions      TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    batch_id        TEXT,
    issue_number    INTEGER,
    done_at         REAL,
    notified        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reports_due ON reports (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS reports_batch ON reports (batch_id);
CREATE TABLE IF NOT EXISTS signatures (
    signature_id     TEXT PRIMARY KEY,
    issue_number     INTEGER,
    last_write_at    REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS writes (at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS writes_at ON writes (at);
CREATE TABLE IF NOT EXISTS pacing (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
WRITE_LOG_S = 3600.0  # the write budget's longest window: older writes are forgotten


class PacingKey(StrEnum):
    """Times the upload loop keeps across publisher processes (Unix seconds)."""

    BLOCKED_UNTIL = "blocked_until"  # a rate limit's reset, or the backoff after GitHub was unreachable
    DASHBOARD_POKED_AT = "dashboard_poked_at"  # the last dispatch of the dashboard workflow


class ReportState(StrEnum):
    """Where a spooled report stands."""

    NEW = "new"
    UPLOADED = "uploaded"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class SpooledReport:
    """One row of the spool. ``text`` is the *redacted* report: the original never leaves the host."""

    id: int
    sha256: str
    path: str
    dump_path: str | None
    size: int
    received_at: float
    state: ReportState
    signature_id: str | None
    text: str
    redactions: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    batch_id: str | None
    issue_number: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SpooledReport:
        return cls(
            id=row["id"],
            sha256=row["sha256"],
            path=row["path"],
            dump_path=row["dump_path"],
            size=row["size"],
            received_at=row["received_at"],
            state=ReportState(row["state"]),
            signature_id=row["signature_id"],
            text=row["text"],
            redactions=row["redactions"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            batch_id=row["batch_id"],
            issue_number=row["issue_number"],
        )


@dataclass(frozen=True)
class Batch:
    """Reports of one signature sent to GitHub together, under one id."""

    id: str
    signature_id: str
    reports: tuple[SpooledReport, ...]


@dataclass(frozen=True)
class SpoolStats:
    new: int
    uploaded: int
    quarantined: int
    due: int
    next_attempt_at: float | None


def _private(path: Path) -> None:
    """The spool's directory 0700 when crashbot creates it, and the database (with its WAL and shared-
    memory files, which SQLite creates with the database's mode) 0600: it holds crash text that only
    redaction stands between and a secret, so other accounts on the game host have no business in it."""
    if sys.platform == "win32":  # NTFS ACLs: the installer sets them on the folder (runner-setup)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # mkdir's mode is filtered through the umask
    # O_EXCL: never open (and so close) a database this process may already have a connection to.
    # Closing ANY descriptor of a file drops every POSIX lock the process holds on it, SQLite's too:
    # a second Spool opened beside the first left the first unlocked, and a publisher process exiting
    # as if it were the last connection then checkpointed and reset the WAL under the watcher, whose
    # later commits went to a log no other process ever read.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mode & 0o077:
                part.chmod(0o600)


class Spool:
    """The SQLite spool. One instance per process; safe to open from several processes (WAL)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 900.0,
    ) -> None:
        self.path = path
        self._clock = clock
        self._jitter = jitter
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        _private(path)
        self._tx_lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # one transaction at a time on this connection: the backfill and the watcher's thread share it
        with self._tx_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- intake ---------------------------------------------------------------------------------------

    def knows(self, sha256: str) -> bool:
        """True when a report with this content was spooled before (whatever its state)."""
        row = self._db.execute("SELECT 1 FROM reports WHERE sha256 = ?", (sha256,)).fetchone()
        return row is not None

    def add(
        self,
        *,
        sha256: str,
        path: str,
        size: int,
        text: str,
        signature_id: str | None,
        redactions: str = "",
        dump_path: str | None = None,
        error: str | None = None,
    ) -> SpooledReport | None:
        """Spool a report; None when the same content is already spooled (never uploaded twice).

        With ``error`` set the report is quarantined: kept, but never sent to GitHub as a crash.
        """
        state = ReportState.QUARANTINED if error is not None else ReportState.NEW
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                """INSERT OR IGNORE INTO reports
                   (sha256, path, dump_path, size, received_at, state, signature_id, text, redactions,
                    last_error, next_attempt_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (sha256, path, dump_path, size, now, state.value, signature_id, text, redactions, error, now),
            )
            if cursor.rowcount == 0:
                return None
            row = db.execute("SELECT * FROM reports WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return SpooledReport.from_row(row)

    def set_dump_path(self, sha256: str, dump_path: str) -> None:
        """Record the ``.dmp`` that belongs to a spooled ``.txt`` (it may be closed after the text)."""
        with self._tx() as db:
            db.execute("UPDATE reports SET dump_path = ? WHERE sha256 = ?", (dump_path, sha256))

    # -- the upload queue -----------------------------------------------------------------------------

    def due_batches(self, *, limit_per_signature: int = 10_000) -> list[Batch]:
        """Batches ready to send now, oldest signature first.

        A batch interrupted earlier (reports already carrying a batch id) is returned unchanged, so its
        retry is recognisable. New reports of a signature get a fresh batch id, persisted here before
        any request is made.
        """
        now = self._clock()
        batches: list[Batch] = []
        with self._tx() as db:
            rows = db.execute(
                """SELECT * FROM reports WHERE state = 'new' AND next_attempt_at <= ?
                   ORDER BY received_at, id""",
                (now,),
            ).fetchall()
            pending: dict[tuple[str, str | None], list[SpooledReport]] = {}
            for row in rows:
                report = SpooledReport.from_row(row)
                key = (report.signature_id or "", report.batch_id)
                pending.setdefault(key, []).append(report)
            for (signature_id, existing_id), group in pending.items():
                if existing_id is not None:
                    batches.append(Batch(id=existing_id, signature_id=signature_id, reports=tuple(group)))
                    continue
                fresh_id = uuid.uuid4().hex[:16]
                chosen = group[:limit_per_signature]
                db.executemany(
                    "UPDATE reports SET batch_id = ? WHERE id = ?", [(fresh_id, r.id) for r in chosen]
                )
                batches.append(
                    Batch(
                        id=fresh_id,
                        signature_id=signature_id,
                        reports=tuple(replace(r, batch_id=fresh_id) for r in chosen),
                    )
                )
        # Retried batches first: a signature's older batch must land before its newer one.
        batches.sort(key=lambda b: (min(r.received_at for r in b.reports), b.reports[0].id))
        return batches

    def mark_uploaded(self, batch: Batch, issue_number: int) -> None:
        now = self._clock()
        with self._tx() as db:
            db.executemany(
                """UPDATE reports SET state = 'uploaded', issue_number = ?, done_at = ?, last_error = NULL
                   WHERE id = ?""",
                [(issue_number, now, r.id) for r in batch.reports],
            )
            db.execute(
                """INSERT INTO signatures (signature_id, issue_number, last_write_at) VALUES (?, ?, ?)
                   ON CONFLICT(signature_id) DO UPDATE SET issue_number = excluded.issue_number,
                   last_write_at = excluded.last_write_at""",
                (batch.signature_id, issue_number, now),
            )

    def defer(self, batch: Batch, error: str, *, not_before: float | None = None) -> float:
        """Record a failed attempt; schedule the next with capped exponential backoff and jitter.

        ``not_before`` (a rate limit's reset time) is honoured when later. Returns the next attempt time.
        """
        now = self._clock()
        attempts = max(r.attempts for r in batch.reports) + 1
        delay = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempts - 1))
        delay = delay / 2 + delay / 2 * self._jitter()  # "equal jitter": never less than half the delay
        when = max(now + delay, not_before or 0.0)
        with self._tx() as db:
            db.executemany(
                "UPDATE reports SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                [(attempts, when, error[:2000], r.id) for r in batch.reports],
            )
        return when

    def postpone(self, batch: Batch, until: float) -> None:
        """Hold a batch back without counting a failure (write budget, per-signature pacing)."""
        with self._tx() as db:
            db.executemany(
                "UPDATE reports SET next_attempt_at = ? WHERE id = ?", [(until, r.id) for r in batch.reports]
            )

    # -- per-signature bookkeeping --------------------------------------------------------------------

    def last_write_at(self, signature_id: str) -> float:
        row = self._db.execute(
            "SELECT last_write_at FROM signatures WHERE signature_id = ?", (signature_id,)
        ).fetchone()
        return float(row["last_write_at"]) if row else 0.0

    def known_issue(self, signature_id: str) -> int | None:
        row = self._db.execute(
            "SELECT issue_number FROM signatures WHERE signature_id = ?", (signature_id,)
        ).fetchone()
        return int(row["issue_number"]) if row and row["issue_number"] is not None else None

    # -- pacing state shared by publisher processes ---------------------------------------------------

    def record_writes(self, times: Sequence[float]) -> None:
        """Remember content-creating requests (the write budget's log), forgetting those over an hour old."""
        if not times:
            return
        with self._tx() as db:
            db.executemany("INSERT INTO writes (at) VALUES (?)", [(t,) for t in times])
            db.execute("DELETE FROM writes WHERE at <= ?", (max(times) - WRITE_LOG_S,))

    def writes_since(self, since: float) -> list[float]:
        """The recorded write times after ``since``, oldest first."""
        rows = self._db.execute("SELECT at FROM writes WHERE at > ? ORDER BY at", (since,)).fetchall()
        return [float(r["at"]) for r in rows]

    def pacing(self, key: PacingKey) -> float | None:
        row = self._db.execute("SELECT value FROM pacing WHERE key = ?", (key.value,)).fetchone()
        return float(row["value"]) if row else None

    def set_pacing(self, key: PacingKey, value: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO pacing (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key.value, value, value),
            )

    # -- quarantine -----------------------------------------------------------------------------------

    def unnotified_quarantine(self) -> list[SpooledReport]:
        rows = self._db.execute(
            "SELECT * FROM reports WHERE state = 'quarantined' AND notified = 0 ORDER BY id"
        ).fetchall()
        return [SpooledReport.from_row(r) for r in rows]

    def has_unnotified_quarantine(self) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM reports WHERE state = 'quarantined' AND notified = 0 LIMIT 1"
        ).fetchone()
        return row is not None

    def mark_notified(self, report_ids: Sequence[int]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE reports SET notified = 1 WHERE id = ?", [(i,) for i in report_ids])

    # -- inspection and pruning -----------------------------------------------------------------------

    def get(self, report_id: int) -> SpooledReport:
        row = self._db.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            raise KeyError(report_id)
        return SpooledReport.from_row(row)

    def reports(self, state: ReportState | None = None) -> list[SpooledReport]:
        if state is None:
            rows = self._db.execute("SELECT * FROM reports ORDER BY id").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM reports WHERE state = ? ORDER BY id", (state.value,)
            ).fetchall()
        return [SpooledReport.from_row(r) for r in rows]

    def stats(self) -> SpoolStats:
        now = self._clock()
        counts = dict.fromkeys(ReportState, 0)
        for row in self._db.execute("SELECT state, COUNT(*) AS n FROM reports GROUP BY state"):
            counts[ReportState(row["state"])] = row["n"]
        due = self._db.execute(
            "SELECT COUNT(*) FROM reports WHERE state = 'new' AND next_attempt_at <= ?", (now,)
        ).fetchone()[0]
        nxt = self._db.execute("SELECT MIN(next_attempt_at) FROM reports WHERE state = 'new'").fetchone()[0]
        return SpoolStats(
            new=counts[ReportState.NEW],
            uploaded=counts[ReportState.UPLOADED],
            quarantined=counts[ReportState.QUARANTINED],
            due=due,
            next_attempt_at=nxt,
        )

    def prune(self, *, max_bytes: int, max_age_s: float) -> int:
        """Forget finished reports older than ``max_age_s``, then the oldest finished ones until the
        stored text fits ``max_bytes``. Reports not yet uploaded are never pruned: they are the queue.
        Content hashes of pruned reports are kept (text emptied) so the same file is still not re-sent.
        """
        cutoff = self._clock() - max_age_s
        with self._tx() as db:
            aged = db.execute(
                """UPDATE reports SET text = '', dump_path = NULL
                   WHERE state != 'new' AND text != '' AND received_at < ?""",
                (cutoff,),
            ).rowcount
            total = db.execute("SELECT COALESCE(SUM(LENGTH(text)), 0) FROM reports").fetchone()[0]
            trimmed = 0
            if total > max_bytes:
                finished = db.execute(
                    """SELECT id, LENGTH(text) AS n FROM reports
                       WHERE state != 'new' AND text != '' ORDER BY id"""
                ).fetchall()
                for row in finished:
                    if total <= max_bytes:
                        break
                    db.execute("UPDATE reports SET text = '' WHERE id = ?", (row["id"],))
                    total -= row["n"]
                    trimmed += 1
        if aged or trimmed:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            logger.info("spool pruned: %d aged out, %d trimmed for size", aged, trimmed)
        return aged + trimmed


def default_spool_path(env: Mapping[str, str], *, platform: str = sys.platform) -> Path:
    """The spool: ``%ProgramData%\\crashbot`` on Windows, one per machine, so the service and an
    administrator running ``crashbot upload`` by hand share it (a per-user folder gave each its own
    spool, and reports counted twice); systemd's ``$STATE_DIRECTORY`` (``StateDirectory=crashbot``),
    else ``$XDG_STATE_HOME/crashbot`` (``~/.local/state``) elsewhere."""
    if platform == "win32":
        base = env.get("ProgramData") or env.get("PROGRAMDATA") or "C:\\ProgramData"
        return Path(base) / "crashbot" / SPOOL_FILE
    state_directory = env.get("STATE_DIRECTORY")
    if state_directory:
        return Path(state_directory.split(":", 1)[0]) / SPOOL_FILE
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "crashbot" / SPOOL_FILE


def open_spool(path: Path, settings: UploaderSettings) -> Spool:
    """The spool at ``path``; ConfigError (one line, exit 2) when it cannot be opened or is no spool."""
    where = f"the spool {str(path)!r}"
    fix = "pass --spool (or uploader.spool) a writable file path"
    if path.is_dir():
        raise ConfigError(f"{where} is a directory; {fix} such as {str(path / SPOOL_FILE)!r}")
    try:
        return Spool(path, backoff_base_s=settings.backoff_base_s, backoff_cap_s=settings.backoff_cap_s)
    except sqlite3.DatabaseError as e:  # also "file is not a database": something else lives there
        raise ConfigError(f"{where} cannot be used: {e}; {fix}") from None
    except OSError as e:  # the folder cannot be created
        raise ConfigError(f"{where} cannot be opened: {e.strerror or e}; {fix}") from None
