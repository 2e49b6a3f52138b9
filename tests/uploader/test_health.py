"""The uploader's heartbeat file and its failing-uploads alert: once per episode, then one recovery notice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.uploader.health import AlertPolicy, Health, read_status, status_path
from tests.fakes import FakeClock
from tests.uploader.rig import WebhookSink


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink()
    yield server
    server.close()


def failing_pass(health: Health, clock: FakeClock) -> None:
    clock.now += 60.0
    health.after_pass(uploaded=0, failed=1, error="cannot reach GitHub (ConnectionError)", pending=3)


def test_status_path_sits_beside_the_spool(tmp_path: Path) -> None:
    assert status_path(tmp_path / "spool.sqlite3") == tmp_path / "spool.sqlite3.status.json"


def test_alert_is_sent_once_per_episode_and_recovery_once(tmp_path: Path, sink: WebhookSink) -> None:
    clock = FakeClock(1_000_000.0)
    health = Health(
        tmp_path / "s.status.json",
        notifier=sink.notifier(),
        policy=AlertPolicy(after_failures=3),
        clock=clock,
    )
    for _ in range(2):
        failing_pass(health, clock)
    assert sink.bodies == []  # two failures: not yet an episode
    for _ in range(5):
        failing_pass(health, clock)
    assert len(sink.bodies) == 1
    assert "Crash uploads are failing" in sink.bodies[0]["content"]
    assert "3 reports waiting" in sink.bodies[0]["content"]
    clock.now += 60.0
    health.after_pass(uploaded=1, failed=0, error="", pending=0)
    health.after_pass(uploaded=1, failed=0, error="", pending=0)
    assert len(sink.bodies) == 2 and "Crash uploads recovered" in sink.bodies[1]["content"]
    for _ in range(3):  # a new episode alerts again
        failing_pass(health, clock)
    assert len(sink.bodies) == 3


def test_alert_after_a_long_outage_even_with_few_passes(tmp_path: Path, sink: WebhookSink) -> None:
    clock = FakeClock(1_000_000.0)
    policy = AlertPolicy(after_failures=100, after_s=600.0)
    health = Health(tmp_path / "s.status.json", notifier=sink.notifier(), policy=policy, clock=clock)
    failing_pass(health, clock)
    clock.now += 3600.0  # backoff: the next attempt comes an hour later
    failing_pass(health, clock)
    assert len(sink.bodies) == 1


def test_heartbeat_records_last_upload_pending_and_last_error(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)
    path = tmp_path / "s.status.json"
    health = Health(path, clock=clock)
    health.after_pass(uploaded=1, failed=0, error="", pending=0)
    uploaded_at = clock.now
    failing_pass(health, clock)
    status = read_status(path)
    assert status is not None
    assert status.last_upload_at == uploaded_at and status.pending == 3
    assert status.last_error.startswith("cannot reach GitHub") and status.failing_since == clock.now
    # a restarted watcher keeps the last upload time it finds
    assert Health(path, clock=clock).status.last_upload_at == uploaded_at


@pytest.mark.parametrize("text", ["", "{", "[]", '{"pending": "x"}', "\x00\xff" * 10])
def test_read_status_junk_is_no_status(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.status.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    assert read_status(path) is None


def test_heartbeat_unwritable_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    health = Health(tmp_path / "missing" / "s.status.json")
    health.after_pass(uploaded=1, failed=0, error="", pending=0)
    assert "cannot write the status file" in caplog.text


def test_a_failure_episode_spans_publisher_processes(tmp_path: Path, sink: WebhookSink) -> None:
    """Each publisher process of ``crashbot watch`` has its own Health; the episode (failures in a row,
    whether the alert went) is in the status file, so three processes failing once each alert once, and
    the one that uploads again sends the recovery."""
    clock = FakeClock(1_000_000.0)
    path = tmp_path / "s.status.json"

    def process() -> Health:
        return Health(path, notifier=sink.notifier(), policy=AlertPolicy(after_failures=3), clock=clock)

    for _ in range(5):
        failing_pass(process(), clock)
    assert len(sink.bodies) == 1 and "Crash uploads are failing" in sink.bodies[0]["content"]
    status = read_status(path)
    assert status is not None and status.failures == 5 and status.alerted
    process().after_pass(uploaded=1, failed=0, error="", pending=0)
    assert len(sink.bodies) == 2 and "Crash uploads recovered" in sink.bodies[1]["content"]
    status = read_status(path)
    assert status is not None and status.failures == 0 and not status.alerted


def test_the_heartbeat_names_the_watcher_not_its_publisher_process(tmp_path: Path) -> None:
    path = tmp_path / "s.status.json"
    Health(path, pid=4242).after_pass(uploaded=1, failed=0, error="", pending=0)
    status = read_status(path)
    assert status is not None and status.pid == 4242
