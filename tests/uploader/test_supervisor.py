"""The watcher's side of publishing: the publisher process is started when the spool has work, a failing
one is started again with growing backoff while the reports stay spooled, and its log comes home."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.config import from_mapping
from bot.uploader import relay
from bot.uploader.assembly import assemble_watcher
from bot.uploader.health import Health, read_status, status_path
from bot.uploader.spool import ReportState, Spool
from bot.uploader.supervisor import (
    MAX_STOP_WAIT_S,
    SERVICE_STOP_TIMEOUT_S,
    STOP_RESERVE_S,
    PublisherSupervisor,
    SupervisorSettings,
    describe_exit,
    stop_wait_s,
)
from tests.uploader.rig import KEY, REPO, TOKEN

FAILING = [sys.executable, "-c", "import sys; sys.stderr.write('no module named github\\n'); sys.exit(3)"]


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def spool_one(path: Path) -> Spool:
    spool = Spool(path)
    spool.add(sha256="a" * 64, path="crash.txt", size=10, text="crash", signature_id="0123456789abcdef")
    return spool


def test_failing_publisher_is_started_again_with_doubling_backoff_and_the_reports_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    spool = spool_one(tmp_path / "spool.sqlite3")
    health = Health(status_path(spool.path))
    settings = SupervisorSettings(backoff_base_s=0.01, backoff_cap_s=0.04, min_interval_s=0.0)
    supervisor = PublisherSupervisor(spool, FAILING, env={}, settings=settings, health=health)
    thread = threading.Thread(target=supervisor.serve)
    thread.start()
    try:
        assert wait_for(lambda: len(supervisor.delays) >= 5), "the failing publisher was not restarted"
    finally:
        supervisor.stop()
        thread.join(30)
    assert supervisor.delays[:5] == [0.01, 0.02, 0.04, 0.04, 0.04]
    failures = [r for r in caplog.records if "publisher process exited with code 3" in r.getMessage()]
    assert len(failures) >= 5 and all(r.levelno == logging.ERROR for r in failures)
    assert "1 report(s) stay spooled" in failures[0].getMessage()
    assert "publisher process: no module named github" in caplog.text  # its stderr, relayed
    assert [r.state for r in spool.reports()] == [ReportState.NEW]
    status = read_status(status_path(spool.path))
    assert status is not None and status.failures >= 5 and "exited with code 3" in status.last_error
    spool.close()


def test_no_publisher_is_started_while_the_spool_has_no_work(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.sqlite3") as spool:
        supervisor = PublisherSupervisor(spool, FAILING, env={})
        thread = threading.Thread(target=supervisor.serve)
        thread.start()
        supervisor.wakeup()  # a wakeup with nothing spooled (a duplicate report) starts nothing
        supervisor.stop()
        thread.join(30)
    assert supervisor.delays == [] and not supervisor.running


def test_stop_closes_the_publishers_stdin_and_waits_for_it(tmp_path: Path) -> None:
    """The publisher stops when its stdin ends; the supervisor waits for it rather than killing it."""
    stopped = tmp_path / "stopped"
    waits_for_eof = [
        sys.executable,
        "-c",
        f"import sys; sys.stdin.read(); open({str(stopped)!r}, 'w').close()",
    ]
    spool = spool_one(tmp_path / "spool.sqlite3")
    supervisor = PublisherSupervisor(spool, waits_for_eof, env={})
    thread = threading.Thread(target=supervisor.serve)
    thread.start()
    try:
        assert wait_for(lambda: supervisor.running)
    finally:
        supervisor.stop()
        thread.join(30)
    assert stopped.exists() and not supervisor.running and supervisor.delays == []
    spool.close()


@pytest.mark.parametrize(
    "message",
    ["plain", "two\nlines", "back\\slash\\n literal", "tab\tinside", "", "ünïcode ✓"],
)
def test_relay_line_carries_level_logger_and_message_exactly(message: str) -> None:
    record = relay.Relayed(logging.WARNING, "bot.uploader.service", message)
    line = relay.encode(record)
    assert line.endswith("\n") and line.count("\n") == 1
    assert relay.decode(line) == record


@pytest.mark.parametrize("line", ["Traceback (most recent call last):\n", "x\ty\n", "\n", "99\t\tmsg\n"])
def test_relay_line_that_is_not_a_record_is_a_warning_carrying_it(line: str) -> None:
    record = relay.decode(line)
    assert record.level == logging.WARNING and record.logger == relay.FALLBACK_LOGGER
    assert record.message == "publisher process: " + line.rstrip("\n")


def test_describe_exit_names_a_signal() -> None:
    assert describe_exit(-9) == "was killed by signal 9"
    assert describe_exit(3) == "exited with code 3"


def test_a_report_being_written_starts_the_publisher_before_it_is_spooled(tmp_path: Path) -> None:
    """The watcher's first event on a report starts the publisher, so its start overlaps the report's
    quiet period; with nothing spooled yet it waits (here: until its stdin ends)."""
    started = tmp_path / "started"
    publisher = [sys.executable, "-c", f"import sys; open({str(started)!r}, 'w').close(); sys.stdin.read()"]
    with Spool(tmp_path / "spool.sqlite3") as spool:
        supervisor = PublisherSupervisor(spool, publisher, env={})
        thread = threading.Thread(target=supervisor.serve)
        thread.start()
        try:
            supervisor.expect_work()
            assert wait_for(started.exists), "no publisher was started for the report on its way"
            assert spool.reports() == []
        finally:
            supervisor.stop()
            thread.join(30)
    assert not supervisor.running and supervisor.delays == []


# -- stopping within the service manager's stop timeout ---------------------------------------------------


@pytest.mark.parametrize(
    ("request_timeout_s", "wait_s"),
    [(5.0, 15.0), (15.0, 25.0), (16.0, 25.0), (60.0, 25.0), (3600.0, 25.0)],
)
def test_stop_wait_is_the_request_and_its_answer_but_never_past_the_service_stop_timeout(
    request_timeout_s: float, wait_s: float
) -> None:
    """Regression: the wait was ``github.timeout_s + 10`` uncapped, so github.timeout_s = 25 made a stopping
    watcher wait 35 s and systemd (TimeoutStopSec=30) SIGKILLed it first, mid-wait, logging nothing."""
    assert stop_wait_s(request_timeout_s) == wait_s
    assert stop_wait_s(request_timeout_s) + STOP_RESERVE_S <= SERVICE_STOP_TIMEOUT_S


def test_the_default_settings_stop_within_the_service_stop_timeout() -> None:
    assert SupervisorSettings().stop_timeout_s == MAX_STOP_WAIT_S
    assert MAX_STOP_WAIT_S + STOP_RESERVE_S == SERVICE_STOP_TIMEOUT_S


def test_the_watcher_built_from_a_long_github_timeout_still_stops_within_the_service_timeout(
    tmp_path: Path,
) -> None:
    config = from_mapping({"github": {"repo": REPO, "timeout_s": 60.0}})
    env = {"CRASHBOT_TOKEN": TOKEN, "CRASHBOT_SIGNING_KEY": KEY.decode()}
    watching = assemble_watcher(config, env, spool=str(tmp_path / "spool.sqlite3"))
    try:
        assert watching.supervisor.settings.stop_timeout_s == MAX_STOP_WAIT_S
    finally:
        watching.close()


def test_a_publisher_that_outlives_the_stop_wait_is_killed_and_its_report_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the cap means for a request still hanging: the publisher is killed, with one warning, and the
    report stays spooled for the next start."""
    started = tmp_path / "started"
    deaf = [
        sys.executable,
        "-c",
        f"import time; open({str(started)!r}, 'w').close()\nwhile True: time.sleep(1)",
    ]
    spool = spool_one(tmp_path / "spool.sqlite3")
    supervisor = PublisherSupervisor(spool, deaf, env={}, settings=SupervisorSettings(stop_timeout_s=0.2))
    thread = threading.Thread(target=supervisor.serve)
    thread.start()
    try:
        assert wait_for(started.exists), "the publisher never started"
    finally:
        supervisor.stop()
        thread.join(30)
    assert not thread.is_alive() and not supervisor.running
    assert "did not stop within" in caplog.text and "killing it (the spool keeps every report)" in caplog.text
    assert [r.state for r in spool.reports()] == [ReportState.NEW]
    spool.close()
