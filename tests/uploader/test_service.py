"""The upload service: faults end with one issue per signature and no lost report; pacing, budget,
quarantine reporting, notifications, event-driven serving and a clean stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reports import signature_id, write_report
from bot.standin import Fault, StandIn
from bot.uploader.budget import Windows
from bot.uploader.notify import NoticeKind
from bot.uploader.publish import Outcome
from bot.uploader.service import ServiceSettings, UploadService, interruptible_sleep
from bot.uploader.spool import ReportState
from tests.fakes import FakeClock
from tests.uploader.rig import CUT_REPORT, REPO, Rig, WebhookSink, break_pygithub_import, make_rig

ISSUES = f"/repos/{REPO}/issues"


@pytest.fixture
def rig(tmp_path: Path, standin: StandIn) -> Iterator[Rig]:
    made = make_rig(tmp_path, standin)
    yield made
    made.close()


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    server = WebhookSink()
    yield server
    server.close()


def crash_loop(rig: Rig, signatures: int, each: int) -> None:
    for n in range(each):
        for sig in range(signatures):
            rig.intake.take(write_report(rig.crash_dir, sig, n))


def drain_until_empty(rig: Rig, rounds: int = 30) -> None:
    """Run the service's drain until nothing is left NEW (an outage needs several rounds)."""
    for _ in range(rounds):
        rig.service.drain(max_wait_s=3.0)
        if rig.pending() == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{rig.pending()} report(s) still spooled after {rounds} rounds")


FAULTS = {
    "secondary-limit-403": Fault.secondary_limit("POST", ISSUES, retry_after=1),
    "secondary-limit-403-on-edit": Fault.secondary_limit("PATCH", f"{ISSUES}/*", retry_after=1),
    "429": Fault.too_many_requests("POST", ISSUES, retry_after=1),
    "502-after-commit-create": Fault.error_after_commit("POST", ISSUES),
    "502-after-commit-edit": Fault.error_after_commit("PATCH", f"{ISSUES}/*", times=2),
    "500-before-commit": Fault.error_before_commit("POST", ISSUES, times=3),
    "422": Fault.validation("POST", ISSUES, message="Validation Failed"),
    "outage": Fault.outage(requests=9),
    "dropped-connections": Fault.outage(requests=6, drop_connection=True),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_service_fault_ends_with_one_issue_per_signature_and_no_lost_report(
    rig: Rig, standin: StandIn, fault: Fault
) -> None:
    crash_loop(rig, signatures=2, each=2)
    drain_until_empty(rig)  # two issues, counts of 2
    standin.inject(fault)
    crash_loop_more = [(sig, n) for n in range(2, 4) for sig in range(3)]  # sig 2 is new: a create
    for sig, n in crash_loop_more:
        rig.intake.take(write_report(rig.crash_dir, sig, n))
    drain_until_empty(rig)
    assert len(rig.issues()) == 3
    for sig, count in ((0, 4), (1, 4), (2, 2)):
        assert rig.payload(rig.issue_for(signature_id(sig))["number"]).occurrences.count == count
    assert rig.pending() == 0
    assert standin.pending_faults() == [] or fault.seconds is not None


def test_service_rate_limit_defers_to_the_reset_and_ends_the_pass(rig: Rig, standin: StandIn) -> None:
    crash_loop(rig, signatures=3, each=1)
    standin.inject(Fault.secondary_limit("POST", ISSUES, retry_after=30))
    before = time.time()
    result = rig.service.run_pass()
    assert result.blocked_until is not None and result.blocked_until >= before + 29
    assert result.published == () and result.failed == 1
    creates = [w for w in standin.writes() if w.path == ISSUES]
    assert len(creates) == 1  # the other two signatures were not tried into the limit
    assert rig.pending() == 3
    assert rig.service.run_pass().published == ()  # still blocked: nothing is sent early


def test_service_non_transient_error_on_one_signature_does_not_block_the_others(
    rig: Rig, standin: StandIn
) -> None:
    crash_loop(rig, signatures=1, each=1)
    rig.service.run_pass()
    number = rig.issues()[0]["number"]
    rig.intake.take(write_report(rig.crash_dir, 0, 1))
    rig.intake.take(write_report(rig.crash_dir, 1, 0))
    standin.inject(Fault.validation("PATCH", f"{ISSUES}/{number}", message="body is invalid", times=1))
    result = rig.service.run_pass()
    assert result.failed == 1
    assert [p.outcome for p in result.published] == [Outcome.CREATED]
    assert len(rig.issues()) == 2
    drain_until_empty(rig)
    assert rig.payload(number).occurrences.count == 2


def test_service_crash_loop_edits_are_coalesced_by_the_edit_interval(
    tmp_path: Path, standin: StandIn
) -> None:
    clock = FakeClock()
    rig = make_rig(tmp_path, standin, clock=clock, edit_interval_s=30.0)
    try:
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        assert [p.outcome for p in rig.service.run_pass().published] == [Outcome.CREATED]
        for n in range(1, 21):  # 20 more crashes, one a second, a pass after each
            clock.advance(1.0)
            rig.intake.take(write_report(rig.crash_dir, 0, n))
            result = rig.service.run_pass()
            assert result.published == () and result.postponed == 1
            assert result.next_at == pytest.approx(clock.now - n + 30.0)
        clock.advance(10.0)
        result = rig.service.run_pass()
        assert [p.outcome for p in result.published] == [Outcome.UPDATED]
        number = rig.issues()[0]["number"]
        assert rig.payload(number).occurrences.count == 21
        assert len([w for w in rig.writes() if w.path.startswith(ISSUES)]) == 2  # one create, one edit
    finally:
        rig.close()


def test_service_new_signature_is_filed_at_once_while_edits_wait_for_the_budget(
    tmp_path: Path, standin: StandIn
) -> None:
    clock = FakeClock()
    rig = make_rig(tmp_path, standin, clock=clock, windows=Windows(per_minute=8, per_hour=100))
    try:
        crash_loop(rig, signatures=3, each=1)
        assert len(rig.service.run_pass().published) == 3  # 3 creates + 2 label writes
        assert rig.service.budget.available() == 3  # an edit needs 2, plus a reserve of 8 // 4 = 2
        clock.advance(1.0)
        rig.intake.take(write_report(rig.crash_dir, 0, 1))  # an edit: must wait for room
        rig.intake.take(write_report(rig.crash_dir, 3, 0))  # a new crash: never waits
        result = rig.service.run_pass()
        assert [p.outcome for p in result.published] == [Outcome.CREATED]
        assert result.postponed == 1
        assert result.next_at is not None and result.next_at >= clock.now + 50
        clock.advance(60.0)
        assert [p.outcome for p in rig.service.run_pass().published] == [Outcome.UPDATED]
    finally:
        rig.close()


def test_service_creates_wait_only_when_the_whole_budget_is_spent(tmp_path: Path, standin: StandIn) -> None:
    clock = FakeClock()
    rig = make_rig(tmp_path, standin, clock=clock, windows=Windows(per_minute=4, per_hour=100))
    try:
        crash_loop(rig, signatures=4, each=1)
        first = rig.service.run_pass()
        assert len(first.published) == 2  # 2 label writes + 2 creates spend the minute
        assert first.postponed == 2 and first.next_at is not None
        clock.now = first.next_at
        assert len(rig.service.run_pass().published) == 2
        assert len(rig.issues()) == 4
    finally:
        rig.close()


def test_service_quarantined_report_is_reported_once(
    webhook: WebhookSink, tmp_path: Path, standin: StandIn
) -> None:
    notified = make_rig(tmp_path / "n", standin, notifier=webhook.notifier())
    try:
        notified.intake.take(CUT_REPORT)
        notified.service.run_pass()
        notified.service.run_pass()
        assert len(webhook.bodies) == 1
        assert "could not be parsed" in webhook.bodies[0]["content"]
        assert "wheaty-cut-before-stack.txt" in webhook.bodies[0]["content"]
        assert notified.issues() == []  # never filed as a crash
    finally:
        notified.close()


def test_service_notifies_new_signature_and_regression_not_updates(
    tmp_path: Path, standin: StandIn, webhook: WebhookSink
) -> None:
    rig = make_rig(tmp_path, standin, notifier=webhook.notifier())
    try:
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        rig.service.run_pass()
        rig.intake.take(write_report(rig.crash_dir, 0, 1))
        rig.service.run_pass()
        number = rig.issues()[0]["number"]
        rig.client.edit_issue(number, state="closed", state_reason="completed")
        rig.intake.take(write_report(rig.crash_dir, 0, 2))
        rig.service.run_pass()
        texts = [b["content"] for b in webhook.bodies]
        assert len(texts) == 2
        assert texts[0].startswith("**New crash**") and f"#{number}" in texts[0]
        assert texts[1].startswith("**Crash is back")
        assert webhook.bodies[0]["allowed_mentions"] == {"parse": []}
    finally:
        rig.close()


def test_service_serve_wakes_on_intake_and_stops_cleanly(rig: Rig) -> None:
    thread = threading.Thread(target=rig.service.serve, daemon=True)
    thread.start()
    try:
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        deadline = time.monotonic() + 10
        while not rig.issues() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(rig.issues()) == 1
    finally:
        rig.service.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_service_stop_cuts_a_rate_limit_wait_short_and_keeps_the_batch(
    tmp_path: Path, standin: StandIn
) -> None:
    stop = threading.Event()
    rig = make_rig(tmp_path, standin, max_rate_limit_wait_s=600, sleep=interruptible_sleep(stop), stop=stop)
    try:
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        standin.inject(Fault.secondary_limit("POST", ISSUES, retry_after=300))
        thread = threading.Thread(target=rig.service.serve, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not [w for w in standin.writes() if w.path == ISSUES] and time.monotonic() < deadline:
            time.sleep(0.02)
        rig.service.stop()
        thread.join(5)
        assert not thread.is_alive()
        [report] = rig.spool.reports(ReportState.NEW)
        assert report.attempts == 0 and report.batch_id is not None  # retried as the same batch later
    finally:
        rig.close()


def test_service_prunes_finished_reports_past_their_age(tmp_path: Path, standin: StandIn) -> None:
    clock = FakeClock()
    rig = make_rig(tmp_path, standin, clock=clock)
    try:
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        rig.service.run_pass()
        clock.advance(91 * 86400.0)
        rig.service.run_pass()
        [report] = rig.spool.reports()
        assert report.state is ReportState.UPLOADED and report.text == ""
        assert rig.intake.take(write_report(rig.crash_dir, 0, 0)).outcome.value == "known"
    finally:
        rig.close()


def test_service_wakeup_for_a_held_signature_does_not_start_a_pass(tmp_path: Path, standin: StandIn) -> None:
    clock = FakeClock()
    rig = make_rig(tmp_path, standin, clock=clock, edit_interval_s=30.0)
    try:
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        rig.service.run_pass()
        rig.intake.take(write_report(rig.crash_dir, 0, 1))
        rig.service.run_pass()  # held
        rig.service._wake.clear()
        rig.intake.take(write_report(rig.crash_dir, 0, 2))
        assert not rig.service._wake.is_set()
        rig.intake.take(write_report(rig.crash_dir, 1, 0))  # a new signature wakes it
        assert rig.service._wake.is_set()
    finally:
        rig.close()


def test_notice_kinds_cover_new_and_regression() -> None:
    assert {NoticeKind.NEW_SIGNATURE, NoticeKind.REGRESSION} <= set(NoticeKind)


class _BrokenPublisher:
    """A publisher with a bug: every publish raises something no rule expects."""

    def publish(self, batches):
        raise RuntimeError("a bug in the publisher")


def test_service_internal_error_is_one_log_line_and_the_batch_stays_spooled(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """No traceback reaches the operator's log at the default level; the report is not lost."""
    from bot.uploader.service import ServiceSettings, UploadService

    rig.intake.take(write_report(rig.crash_dir, 0, 0))
    service = UploadService(rig.spool, _BrokenPublisher(), settings=ServiceSettings(), writes=lambda: 0)  # type: ignore[arg-type]
    with caplog.at_level("INFO"):
        result = service.run_pass()
    assert result.failed == 1
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "a bug in the publisher" in errors[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= 20)
    assert rig.spool.stats().new == 1


def test_after_publish_runs_once_per_pass_that_counted_crashes(tmp_path: Path, standin: StandIn) -> None:
    """The dashboard trigger's seam: called after a pass that published, never after an idle one."""
    calls: list[int] = []
    rig = make_rig(tmp_path, standin)
    try:
        service = UploadService(
            rig.spool,
            rig.publisher,
            settings=ServiceSettings(edit_interval_s=0),
            after_publish=lambda: calls.append(1),
        )
        rig.intake.take(write_report(rig.crash_dir, 0, 0))
        rig.intake.take(write_report(rig.crash_dir, 1, 0))
        service.run_pass()
        service.run_pass()
        assert calls == [1]
    finally:
        rig.close()


def test_service_pygithub_that_cannot_load_is_one_clear_line_and_the_report_stays_spooled(
    tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A dependency under PyGithub that fails to import (on Windows under Wine 8: cryptography's Rust
    extension, via jwt) is named in one line, never a NameError from an unbound ``GithubException``."""
    break_pygithub_import(monkeypatch)
    made = make_rig(tmp_path, standin, defer=True)
    try:
        made.intake.take(write_report(made.crash_dir, 0, 0))
        with caplog.at_level("INFO"):
            result = made.service.run_pass()
        assert result.failed == 1 and result.published == ()
        assert result.library_missing and not result.unreachable  # GitHub was never asked
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1, errors
        assert "PyGithub could not be loaded: " in errors[0] and "jwt" in errors[0]
        assert "NameError" not in errors[0] and "internal error" not in errors[0]
        assert all(r.exc_info is None for r in caplog.records if r.levelno >= 20)
        assert made.pending() == 1
    finally:
        made.close()


def test_service_rate_limit_reset_holds_for_the_next_publisher_process(
    tmp_path: Path, standin: StandIn
) -> None:
    """GitHub's "retry after" is kept in the spool: a publisher process started after the one that was
    told sends nothing before the reset, not even for another signature."""
    first = make_rig(tmp_path, standin)
    first.intake.take(write_report(first.crash_dir, 0, 0))
    standin.inject(Fault.secondary_limit("POST", ISSUES, retry_after=300))
    blocked = first.service.run_pass().blocked_until
    first.close()
    assert blocked is not None
    second = make_rig(tmp_path, standin)  # a fresh process: its own client, service and connection
    try:
        second.intake.take(write_report(second.crash_dir, 1, 0))
        result = second.service.run_pass()
        assert result.blocked_until == blocked and result.published == ()
        assert len([w for w in standin.writes() if w.path == ISSUES]) == 1  # only the refused one
    finally:
        second.close()


def test_service_pygithub_that_cannot_load_leaves_no_block_for_a_repaired_install(
    tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only GitHub's own "wait" outlives the process: after the install is repaired, the next run sends a
    new crash at once (the report that met the broken install waits out its own backoff)."""
    with monkeypatch.context() as broken:
        break_pygithub_import(broken)
        made = make_rig(tmp_path, standin, defer=True, backoff_base_s=600.0, backoff_cap_s=600.0)
        made.intake.take(write_report(made.crash_dir, 0, 0))
        assert made.service.run_pass().library_missing
        made.close()
    repaired = make_rig(tmp_path, standin)
    try:
        repaired.intake.take(write_report(repaired.crash_dir, 1, 0))
        result = repaired.service.run_pass()
        assert [p.issue.number for p in result.published] == [1]
        assert repaired.pending() == 1  # the first report, deferred by its backoff
    finally:
        repaired.close()
