"""The uptime observer on real processes: a compiled stand-in for worldserver that prints a TrinityCore
revision line on ``--version`` and otherwise waits until it is stopped or crashed (SIGSEGV), read from
the real ``/proc``, recorded in a real SQLite spool. Only the observer's clock is set by hand, so "the
watcher was down for an hour" takes no hour."""

from __future__ import annotations

import hashlib
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ledger import UNKNOWN_BUILD
from bot.uploader.processes import ProcessTable, ProcTable, PsutilTable, ServerProcess, read_build
from bot.uploader.sessions import Exit, Observer, Session, SessionStore, ledger_of
from bot.uploader.spool import Spool
from tests.uploader.standin_server import REVISION, Servers, build_server

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture
def servers(server_source: Path, tmp_path: Path) -> Iterator[Servers]:
    s = Servers(build_server(server_source, tmp_path))
    yield s
    s.close()


class Rig:
    """A spool and session stores on one file, all on the same hand-set clock, and the stand-in servers."""

    def __init__(self, path: Path, servers: Servers, table: Callable[[], ProcessTable]) -> None:
        self.path = path
        self.servers = servers
        self.table = table
        self.clock = Clock()
        self.spool = Spool(path, clock=self.clock)
        self.stores: list[SessionStore] = []

    def store(self) -> SessionStore:
        self.stores.append(SessionStore(self.path))
        return self.stores[-1]

    def observer(self) -> Observer:
        """A watcher's observer as ``crashbot watch`` makes one: its own store connection (which also
        counts the spool's crash reports) and process table."""
        store = self.store()
        return Observer(
            store,
            self.table(),
            realm="main",
            process_name=self.servers.exe.name,
            read_build=lambda p: read_build(p.exe),
            crashes_between=store.crash_reports_between,
            clock=self.clock,
        )

    def crash_report(self, name: str) -> None:
        digest = hashlib.sha256(name.encode()).hexdigest()
        assert self.spool.add(sha256=digest, path=f"Crashes/{name}", size=1, text="crash", signature_id="s1")

    def sessions(self) -> list[Session]:
        return self.store().sessions("main")

    def close(self) -> None:
        for store in self.stores:
            store.close()
        self.spool.close()


@pytest.fixture(params=[ProcTable, PsutilTable], ids=["proc", "psutil"])
def rig(request: pytest.FixtureRequest, tmp_path: Path, servers: Servers) -> Iterator[Rig]:
    """Each observer test runs on both process tables: /proc (Linux) and psutil (what Windows uses)."""
    r = Rig(tmp_path / "spool.sqlite3", servers, request.param)
    yield r
    r.close()


def test_a_running_server_opens_one_session_with_its_build_and_start_time(rig: Rig) -> None:
    before = datetime.now(UTC).timestamp()
    proc = rig.servers.start()
    watcher = rig.observer()
    watcher.poll()
    rig.clock.now += 60
    watcher.poll()
    [session] = rig.sessions()
    assert (session.pid, session.build, session.ended_at) == (proc.pid, REVISION[:12], None)
    assert before - 3 <= session.started_at <= rig.clock.now  # the OS's (whole seconds, boot-time based)
    assert session.last_alive == rig.clock.now


def test_a_server_stopped_without_a_crash_report_ends_as_stopped_at_its_last_sighting(rig: Rig) -> None:
    proc = rig.servers.start()
    watcher = rig.observer()
    watcher.poll()
    seen = rig.clock.now
    assert rig.servers.stop(proc) == -signal.SIGTERM
    rig.clock.now += 60
    watcher.poll()
    [session] = rig.sessions()
    assert (session.ended_at, session.exit) == (seen, Exit.STOPPED)


def test_a_server_that_crashed_with_a_report_ends_as_crashed_even_when_the_report_comes_late(
    rig: Rig,
) -> None:
    first, second = rig.servers.start(), rig.servers.start()
    watcher = rig.observer()
    t0 = rig.clock.now
    watcher.poll()
    assert rig.servers.stop(first, signal.SIGSEGV) == -signal.SIGSEGV
    rig.clock.now = t0 + 30
    rig.crash_report("one.txt")
    rig.clock.now = t0 + 60
    watcher.poll()
    rig.clock.now = t0 + 600
    watcher.poll()
    assert rig.servers.stop(second, signal.SIGSEGV) == -signal.SIGSEGV
    rig.clock.now = t0 + 660
    watcher.poll()  # gone, and no report since it was last seen alive (the first one's is older)
    assert {s.pid: s.exit for s in rig.sessions()} == {first.pid: Exit.CRASHED, second.pid: Exit.STOPPED}
    rig.clock.now = t0 + 700  # its report comes late, as a core read through gdb does
    rig.crash_report("two.txt")
    rig.clock.now = t0 + 720
    watcher.poll()
    assert {s.pid: s.exit for s in rig.sessions()} == {first.pid: Exit.CRASHED, second.pid: Exit.CRASHED}


def test_a_restarted_watcher_carries_on_the_session_of_a_server_that_kept_running(rig: Rig) -> None:
    proc = rig.servers.start()
    rig.observer().poll()
    rig.clock.now += 3600  # the watcher was down for an hour; the server ran on (same pid, same start time)
    rig.observer().poll()
    [session] = rig.sessions()
    assert (session.pid, session.ended_at, session.last_alive) == (proc.pid, None, rig.clock.now)


def test_the_hour_a_watcher_was_down_is_unknown_not_up(rig: Rig) -> None:
    old = rig.servers.start()
    rig.observer().poll()
    last_seen = rig.clock.now
    rig.servers.stop(old)  # while no watcher runs: when exactly is unknown
    new = rig.servers.start()
    rig.clock.now += 3600
    rig.observer().poll()
    ended, running = rig.sessions()
    assert (ended.pid, ended.ended_at, ended.exit) == (old.pid, last_seen, Exit.STOPPED)
    assert (running.pid, running.ended_at) == (new.pid, None)
    assert rig.store().watch_spans("main") == [(last_seen, last_seen), (rig.clock.now, rig.clock.now)]


def test_a_binary_that_prints_no_revision_runs_for_an_unknown_build(tmp_path: Path) -> None:
    assert read_build("/bin/true") == UNKNOWN_BUILD
    assert read_build(str(tmp_path / "missing")) == UNKNOWN_BUILD


# ---------------------------------------------------------------------------------------------------
# from sessions to the ledger (constructed sessions with known answers)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_ledger_counts_minutes_per_build_per_utc_day_across_midnight(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "spool.sqlite3")
    start = _at("2026-12-01T22:00:00")
    store.begin_watch("main", start.timestamp())
    # build a: 22:00 -> 01:30 the next day (crashed), build b: 01:32 -> still running at 04:00
    store.open("main", ServerProcess(10, start, ""), "aaaaaaaaaaaa", start.timestamp())
    [a] = store.open_sessions("main")
    store.alive([a.id], _at("2026-12-02T01:30:00").timestamp())
    store.end(a, Exit.CRASHED, _at("2026-12-02T01:31:00").timestamp())
    b_start = _at("2026-12-02T01:32:00")
    store.open("main", ServerProcess(11, b_start, ""), "bbbbbbbbbbbb", b_start.timestamp())
    [b] = store.open_sessions("main")
    now = _at("2026-12-02T04:00:00").timestamp()
    store.alive([b.id], now)
    span = store.begin_watch("main", now)  # a second watcher run, just begun
    store.beat(span, now)
    ledger = ledger_of(store, "main", "game1", now)
    assert ledger.up == (
        ("aaaaaaaaaaaa", "2026-12-01", 120),
        ("aaaaaaaaaaaa", "2026-12-02", 90),
        ("bbbbbbbbbbbb", "2026-12-02", 148),
    )
    assert ledger.since == "2026-12-01"
    assert ledger.hours(_at("2026-12-01").date(), _at("2026-12-03").date()) == pytest.approx(
        (120 + 90 + 148) / 60
    )
    assert ledger.hours(_at("2026-12-02").date(), _at("2026-12-03").date(), "bbbbbbbbbbbb".__eq__) == 148 / 60
    assert ledger.builds == ("aaaaaaaaaaaa", "bbbbbbbbbbbb")
    store.close()


def test_a_realm_s_ledger_leaves_other_realms_out_and_forgets_after_the_history(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "spool.sqlite3")
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    for realm, pid in (("main", 1), ("ptr", 2)):
        store.open(realm, ServerProcess(pid, long_ago, ""), "cccccccccccc", long_ago.timestamp())
    [main] = store.open_sessions("main")
    now = long_ago + timedelta(days=200, hours=6)  # 2026-07-20T06:00
    store.alive([main.id], now.timestamp())
    ledger = ledger_of(store, "main", "game1", now.timestamp())
    days = sorted({d for _, d, _ in ledger.up})
    assert len(days) == 90 and days[-1] == "2026-07-20" and days[0] == "2026-04-22"
    assert sum(m for _, _, m in ledger.up) == 89 * 1440 + 360  # main's alone: ptr's server is not in it
    store.close()
