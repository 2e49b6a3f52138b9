"""Server sessions: when each run of the realm's server started, which build it was, when it ended.

The observer looks at the process table once a poll (60 s by default): a server process it has not
seen (a new pid *or* a new start time) opens a session, dated from the start time the OS gives, with
the build its executable reports; a session whose process is gone ends at the last poll that saw it
alive, as ``crashed`` when a crash report reached the spool since then (the report tells the crash
time), else ``stopped``. Everything is in the spool's SQLite file, so a restarted watcher carries on:
a server that kept running while the watcher was down has the same pid and start time and its session
simply continues (the OS vouches for it); one that ended meanwhile ends at the last time it was seen,
so the time the watcher was down is "unknown", never "up". The observer's own runs are recorded too
(``watch_spans``), which tells the dashboard how much of a day was watched at all.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.ledger import Ledger, add_spans, bounded, minutes_per_day
from bot.payload import iso_utc
from bot.uploader.processes import ProcessTable, ServerProcess

logger = logging.getLogger(__name__)

POLL_S = 60.0
KEEP_DAYS = 92  # sessions and watch spans older than this are forgotten (the ledger keeps 90 days)
START_SLACK_S = 2.0
CRASH_GRACE_S = 900.0  # a crash report arriving this long after the process vanished still marks it crashed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS server_sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    realm       TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    build       TEXT NOT NULL,
    started_at  REAL NOT NULL,
    last_alive  REAL NOT NULL,
    ended_at    REAL,
    noticed_at  REAL,
    exit        TEXT
);
CREATE INDEX IF NOT EXISTS server_sessions_open ON server_sessions (realm, ended_at);
CREATE TABLE IF NOT EXISTS watch_spans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    realm       TEXT NOT NULL,
    started_at  REAL NOT NULL,
    last_beat   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uptime_published (realm TEXT PRIMARY KEY, at REAL NOT NULL);
"""


class Exit(enum.StrEnum):
    STOPPED = "stopped"  # gone without a crash report
    CRASHED = "crashed"  # a crash report came with it


@dataclass(frozen=True)
class Session:
    id: int
    realm: str
    pid: int
    build: str
    started_at: float
    last_alive: float
    ended_at: float | None
    exit: Exit | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Session:
        return cls(
            row["id"],
            row["realm"],
            row["pid"],
            row["build"],
            row["started_at"],
            row["last_alive"],
            row["ended_at"],
            Exit(row["exit"]) if row["exit"] else None,
        )


class SessionStore:
    """The two tables, in the spool's file (its own connection; WAL lets the spool's run beside it)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def sessions(self, realm: str) -> list[Session]:
        rows = self._db.execute(
            "SELECT * FROM server_sessions WHERE realm = ? ORDER BY started_at, id", (realm,)
        ).fetchall()
        return [Session.from_row(r) for r in rows]

    def open_sessions(self, realm: str) -> list[Session]:
        rows = self._db.execute(
            "SELECT * FROM server_sessions WHERE realm = ? AND ended_at IS NULL ORDER BY id", (realm,)
        ).fetchall()
        return [Session.from_row(r) for r in rows]

    def open(self, realm: str, process: ServerProcess, build: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO server_sessions (realm, pid, build, started_at, last_alive)
                   VALUES (?, ?, ?, ?, ?)""",
                (realm, process.pid, build, process.started.timestamp(), now),
            )

    def alive(self, ids: list[int], now: float) -> None:
        with self._tx() as db:
            db.executemany("UPDATE server_sessions SET last_alive = ? WHERE id = ?", [(now, i) for i in ids])

    def end(self, session: Session, exit: Exit, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE server_sessions SET ended_at = last_alive, noticed_at = ?, exit = ? WHERE id = ?",
                (now, exit.value, session.id),
            )

    def recently_stopped(self, realm: str, since: float) -> list[tuple[Session, float]]:
        """Sessions ended as ``stopped`` and noticed after ``since``, with when they were noticed."""
        rows = self._db.execute(
            """SELECT * FROM server_sessions WHERE realm = ? AND exit = 'stopped' AND noticed_at >= ?""",
            (realm, since),
        ).fetchall()
        return [(Session.from_row(r), float(r["noticed_at"])) for r in rows]

    def mark_crashed(self, session: Session) -> None:
        with self._tx() as db:
            db.execute("UPDATE server_sessions SET exit = 'crashed' WHERE id = ?", (session.id,))

    def begin_watch(self, realm: str, now: float) -> int:
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO watch_spans (realm, started_at, last_beat) VALUES (?, ?, ?)", (realm, now, now)
            )
            return int(cursor.lastrowid or 0)

    def beat(self, span_id: int, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE watch_spans SET last_beat = ? WHERE id = ?", (now, span_id))

    def watch_spans(self, realm: str) -> list[tuple[float, float]]:
        rows = self._db.execute(
            "SELECT started_at, last_beat FROM watch_spans WHERE realm = ? ORDER BY started_at", (realm,)
        ).fetchall()
        return [(float(r["started_at"]), float(r["last_beat"])) for r in rows]

    def published_at(self, realm: str) -> float | None:
        """When the ledger was last published (or tried), or None: never."""
        rows = self._db.execute("SELECT at FROM uptime_published WHERE realm = ?", (realm,)).fetchall()
        return float(rows[0]["at"]) if rows else None

    def set_published_at(self, realm: str, at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO uptime_published (realm, at) VALUES (?, ?) "
                "ON CONFLICT(realm) DO UPDATE SET at = excluded.at",
                (realm, at),
            )

    def crash_reports_between(self, start: float, end: float) -> int:
        """Crash reports the spool received in ``[start, end]`` (the spool's own table, in this file;
        read through this connection: a second :class:`~bot.uploader.spool.Spool` opened while the
        watcher runs would re-open the database file by hand, and closing that descriptor drops the
        POSIX locks SQLite holds for every connection of the process)."""
        try:
            rows = self._db.execute(
                "SELECT COUNT(*) FROM reports WHERE received_at BETWEEN ? AND ?", (start, end)
            ).fetchall()
        except sqlite3.OperationalError:  # no spool table (yet): no report either
            return 0
        return int(rows[0][0])

    def prune(self, before: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM server_sessions WHERE ended_at IS NOT NULL AND ended_at < ?", (before,))
            db.execute("DELETE FROM watch_spans WHERE last_beat < ?", (before,))


CrashesBetween = Callable[[float, float], int]  # crash reports spooled in [start, end] (epoch seconds)


class Observer:
    """Polls the process table for ``process_name`` and keeps ``realm``'s sessions current."""

    def __init__(
        self,
        store: SessionStore,
        table: ProcessTable,
        *,
        realm: str,
        process_name: str,
        read_build: Callable[[ServerProcess], str],
        crashes_between: CrashesBetween,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._table = table
        self.realm = realm
        self._name = process_name
        self._read_build = read_build
        self._crashes_between = crashes_between
        self._poll_s = poll_s
        self._clock = clock
        self._span: int | None = None
        self._failing = False

    def poll(self) -> None:
        """One look at the process table (see the module docstring)."""
        now = self._clock()
        if self._span is None:
            self._span = self._store.begin_watch(self.realm, now)
        else:
            self._store.beat(self._span, now)
        try:
            running = {(p.pid, p.started.timestamp()): p for p in self._table.find(self._name)}
        except OSError as e:  # the table unreadable this once: nothing known, nothing concluded
            if not self._failing:
                logger.warning("process table unreadable (%s); uptime not recorded until it is", e)
            self._failing = True
            return
        self._failing = False
        still: list[int] = []
        for session in self._store.open_sessions(self.realm):
            same = next((k for k in running if _same_process(k, session)), None)
            if same is not None:
                del running[same]
                still.append(session.id)
                continue
            crashed = self._crashes_between(session.last_alive - self._poll_s, now) > 0
            exit = Exit.CRASHED if crashed else Exit.STOPPED
            self._store.end(session, exit, now)
            logger.info("%s: pid %d (build %s) %s", self.realm, session.pid, session.build, exit)
        self._store.alive(still, now)
        for process in running.values():
            build = self._read_build(process)
            self._store.open(self.realm, process, build, now)
            logger.info("%s: %s pid %d started (build %s)", self.realm, self._name, process.pid, build)
        self._late_crashes(now)

    def _late_crashes(self, now: float) -> None:
        """A crash report written after the process vanished (a core being read) still makes it a crash."""
        for session, noticed in self._store.recently_stopped(self.realm, now - CRASH_GRACE_S):
            if self._crashes_between(session.last_alive - self._poll_s, noticed + CRASH_GRACE_S) > 0:
                self._store.mark_crashed(session)

    def run(self, stop: threading.Event, *, after_poll: Callable[[], object] | None = None) -> None:
        """Poll until ``stop`` is set; ``after_poll`` (the ledger publisher) runs after each poll."""
        next_prune = 0.0
        while not stop.is_set():
            try:
                self.poll()
                if self._clock() >= next_prune:
                    self._store.prune(self._clock() - KEEP_DAYS * 86400)
                    next_prune = self._clock() + 86400
                if after_poll is not None:
                    after_poll()
            except Exception as e:  # isolation: uptime is a side duty, it never stops the uploader
                logger.error("uptime observer: %s: %s; retrying at the next poll", type(e).__name__, e)
                logger.debug("uptime observer failed", exc_info=True)
            stop.wait(self._poll_s)


def _same_process(key: tuple[int, float], session: Session) -> bool:
    """Same pid and the same start time give or take :data:`START_SLACK_S` (Linux derives start times
    from a boot time that can read a second apart between two runs of the watcher)."""
    return key[0] == session.pid and abs(key[1] - session.started_at) <= START_SLACK_S


def ledger_of(store: SessionStore, realm: str, host: str, now: float) -> Ledger:
    """``realm``'s ledger from the recorded sessions and watch spans, up to ``now``."""
    up: dict[tuple[str, str], int] = {}
    spans = [
        (s.build, _utc(s.started_at), _utc(s.ended_at if s.ended_at is not None else s.last_alive))
        for s in store.sessions(realm)
    ]
    add_spans(up, spans)
    watched: dict[str, int] = {}
    starts: list[float] = []
    for start, beat in store.watch_spans(realm):
        starts.append(start)
        for day, minutes in minutes_per_day(_utc(start), _utc(beat)).items():
            watched[day] = watched.get(day, 0) + minutes
    entries, watch = bounded(up, watched)
    since = _utc(min(starts)).date().isoformat() if starts else ""
    return Ledger(realm=realm, host=host, since=since, updated=iso_utc(_utc(now)), up=entries, watched=watch)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
