"""The realm's uptime ledger published through the loopback stand-in: one closed labelled issue, written
at most once an interval and only on change, re-created when deleted, restored when edited or forged."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import ledger as ledgers
from bot.config import GitHubSettings
from bot.github import GitHubClient, connect
from bot.standin import StandIn
from bot.uploader.processes import ServerProcess
from bot.uploader.sessions import SessionStore, ledger_of
from bot.uploader.uptime_ledger import LedgerPublisher
from bot.vocabulary import UPTIME_LABEL
from tests.conftest import REPO, UPLOADER_TOKEN

KEY = b"uploader-test-signing-key-32-bytes-or-more"
T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
BUILD = "3f2a1b4c5d6e"


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gh(standin: StandIn) -> GitHubClient:
    return connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, timeout_s=5),
        env={"CRASHBOT_TOKEN": UPLOADER_TOKEN},
        sleep=lambda _s: None,
        rng=random.Random(3),
        write_interval_s=0,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    s = SessionStore(tmp_path / "spool.sqlite3")
    yield s
    s.close()


def watched_server(store: SessionStore, clock: Clock, hours: float) -> None:
    """The observer's record of a server of build :data:`BUILD` seen running from T0 for ``hours``."""
    if not store.watch_spans("main"):
        store.begin_watch("main", T0.timestamp())
        store.open("main", ServerProcess(4242, T0, ""), BUILD, T0.timestamp())
    clock.now = (T0 + timedelta(hours=hours)).timestamp()
    [session] = store.open_sessions("main")
    store.alive([session.id], clock.now)
    span = store.begin_watch("main", clock.now)
    store.beat(span, clock.now)


def publisher(gh: GitHubClient, store: SessionStore, clock: Clock) -> LedgerPublisher:
    return LedgerPublisher(gh, store, key=KEY, realm="main", host="game1", interval_s=3600, clock=clock)


def ledger_issues(standin: StandIn) -> list[dict]:
    return [i for i in standin.issues(REPO) if UPTIME_LABEL in {label["name"] for label in i["labels"]}]


def test_the_ledger_lands_in_one_closed_labelled_issue_that_reads_back_signed(
    standin: StandIn, gh: GitHubClient, store: SessionStore
) -> None:
    clock = Clock()
    watched_server(store, clock, hours=30)
    assert publisher(gh, store, clock).publish(clock.now)
    [issue] = ledger_issues(standin)
    assert issue["state"] == "closed" and issue["title"] == "Uptime ledger: main"
    read = ledgers.read(issue["body"], KEY)
    assert read == ledger_of(store, "main", "game1", clock.now)
    assert read.up == ((BUILD, "2026-12-01", 18 * 60), (BUILD, "2026-12-02", 12 * 60))
    assert "| `3f2a1b4c5d6e` |" in issue["body"]


def test_it_writes_at_most_once_an_interval_and_only_when_the_ledger_changed(
    standin: StandIn, gh: GitHubClient, store: SessionStore
) -> None:
    clock = Clock()
    watched_server(store, clock, hours=0.5)
    pub = publisher(gh, store, clock)
    assert not pub.maybe_publish()  # the first is due an interval after the observer began watching
    watched_server(store, clock, hours=1)
    assert pub.maybe_publish()
    standin.clear_requests()
    clock.now += 1800
    assert not pub.maybe_publish()  # within the interval: not even a read
    assert standin.requests == []
    clock.now += 1800  # an interval on, but nothing new was recorded meanwhile: a read, no write
    assert not pub.maybe_publish()
    assert standin.writes() == []
    watched_server(store, clock, hours=2.5)
    assert not pub.maybe_publish()  # changed, but the last attempt was half an hour ago
    clock.now = (T0 + timedelta(hours=3)).timestamp()
    assert publisher(gh, store, clock).maybe_publish()  # a restarted watcher keeps the cadence: due now
    assert [w.method for w in standin.writes()] == ["PATCH"]
    assert len(ledger_issues(standin)) == 1


def test_a_deleted_ledger_is_recreated_with_the_whole_history(
    standin: StandIn, gh: GitHubClient, store: SessionStore
) -> None:
    clock = Clock()
    watched_server(store, clock, hours=30)
    pub = publisher(gh, store, clock)
    pub.publish(clock.now)
    [first] = ledger_issues(standin)
    standin.delete_issue(REPO, first["number"])
    assert pub.publish(clock.now)
    [second] = ledger_issues(standin)
    assert second["number"] != first["number"]
    assert ledgers.read(second["body"], KEY).hours(T0.date(), T0.date() + timedelta(days=2)) == 30


def test_an_edited_or_forged_ledger_is_ignored_with_a_note_and_rewritten(
    standin: StandIn, gh: GitHubClient, store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    watched_server(store, clock, hours=30)
    pub = publisher(gh, store, clock)
    pub.publish(clock.now)
    [issue] = ledger_issues(standin)
    forged = ledgers.Ledger(
        "main", "game1", "2026-01-01", "2026-12-02T12:00:00Z", ((BUILD, "2026-11-01", 1440),)
    )
    body = issue["body"].split("<!-- crashbot:uptime v1")[0] + ledgers.block(
        forged, b"not-the-key-not-the-key-not-the-key"
    )
    gh.edit_issue(issue["number"], body=body, state="open")
    with caplog.at_level(logging.WARNING):
        assert pub.publish(clock.now)
    assert "ignored and rewritten" in caplog.text and "does not verify" in caplog.text
    [restored] = ledger_issues(standin)
    assert restored["state"] == "closed"
    assert ledgers.read(restored["body"], KEY) == ledger_of(store, "main", "game1", clock.now)


def test_a_fresh_spool_keeps_the_days_the_old_ledger_knew(
    standin: StandIn, gh: GitHubClient, store: SessionStore, tmp_path: Path
) -> None:
    clock = Clock()
    watched_server(store, clock, hours=30)
    publisher(gh, store, clock).publish(clock.now)
    fresh = SessionStore(tmp_path / "reinstalled.sqlite3")  # the host re-installed, its spool new
    later = T0 + timedelta(days=3)
    fresh.begin_watch("main", later.timestamp())
    fresh.open("main", ServerProcess(99, later, ""), "aaaaaaaaaaaa", later.timestamp())
    [session] = fresh.open_sessions("main")
    clock.now = (later + timedelta(hours=2)).timestamp()
    fresh.alive([session.id], clock.now)
    assert publisher(gh, fresh, clock).publish(clock.now)
    [issue] = ledger_issues(standin)
    read = ledgers.read(issue["body"], KEY)
    assert read.since == "2026-12-01"
    assert read.up == (
        (BUILD, "2026-12-01", 18 * 60),
        (BUILD, "2026-12-02", 12 * 60),
        ("aaaaaaaaaaaa", "2026-12-04", 120),
    )
    fresh.close()


def test_nothing_is_published_before_a_server_was_ever_seen(
    standin: StandIn, gh: GitHubClient, store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    store.begin_watch("main", clock.now)  # watching, but uploader.uptime_process names no running process
    clock.now += 7200
    with caplog.at_level(logging.WARNING):
        assert not publisher(gh, store, clock).maybe_publish()
    assert "no server process seen yet" in caplog.text
    assert standin.requests == [] and ledger_issues(standin) == []
