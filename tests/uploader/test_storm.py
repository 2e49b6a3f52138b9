"""Storm control against the stand-in's model of GitHub's secondary limits (80 writes/min, 500/hour)
with ambiguous 502s after committed creates: exactly one issue per signature, exact counts, few writes.

Every clock (stand-in, spool, service, client) is one fake clock, so a minute-long crash loop replays in
well under a second and the write timestamps the stand-in records are the ones the limits judge.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reports import signature_id, write_report
from bot.standin import Fault, Limits, StandIn
from bot.uploader.service import PassResult
from bot.uploader.spool import ReportState
from tests.conftest import StandInSetup
from tests.fakes import FakeClock
from tests.uploader.rig import REPO, Rig, make_rig

SIGNATURES = 10
GITHUB = Limits(content_per_minute=80, content_per_hour=500)
ISSUES = f"/repos/{REPO}/issues"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def standin_setup(clock: FakeClock) -> StandInSetup:
    # GitHub's secondary limits, and the first three creates look failed (502 after the commit)
    return StandInSetup(
        clock=clock, limits=GITHUB, faults=(Fault.error_after_commit("POST", ISSUES, times=3),)
    )


@pytest.fixture
def rig(tmp_path: Path, standin: StandIn, clock: FakeClock) -> Iterator[Rig]:
    made = make_rig(tmp_path, standin, clock=clock, edit_interval_s=30.0)
    yield made
    made.close()


def settle(rig: Rig, clock: FakeClock, result: PassResult, *, limit: int = 200) -> None:
    """What ``serve`` does once the crashes stop: sleep until the next due time, pass, repeat."""
    for _ in range(limit):
        if rig.pending() == 0:
            return
        assert result.next_at is not None
        clock.now = max(clock.now, result.next_at)
        result = rig.service.run_pass()
    raise AssertionError(f"{rig.pending()} reports still pending")


def assert_within_github_limits(standin: StandIn) -> tuple[int, int]:
    """Every write's trailing minute holds at most 80 writes, every hour at most 500; no write refused."""
    writes = [w for w in standin.writes() if w.status != 0]
    assert not [w for w in writes if w.status in (403, 429)], "a write hit a rate limit"
    times = sorted(w.time for w in writes)
    busiest_minute = max(sum(1 for t in times if end - 60 < t <= end) for end in times)
    busiest_hour = max(sum(1 for t in times if end - 3600 < t <= end) for end in times)
    assert busiest_minute <= GITHUB.content_per_minute
    assert busiest_hour <= GITHUB.content_per_hour
    return busiest_minute, len(writes)


def assert_exact_counts(rig: Rig, each: int) -> None:
    assert len(rig.issues()) == SIGNATURES
    for sig in range(SIGNATURES):
        issue = rig.issue_for(signature_id(sig))
        assert rig.payload(issue["number"]).occurrences.count == each, f"signature {sig}"
    assert len(rig.spool.reports(ReportState.UPLOADED)) == SIGNATURES * each
    assert rig.pending() == 0


def test_storm_500_reports_of_10_crashes_in_one_minute_gives_10_issues_exact_counts_few_writes(
    rig: Rig, standin: StandIn, clock: FakeClock
) -> None:
    """A crash-looping server: one report every 0.12 s for a minute, a pass after each (worse than the
    real loop, which does not even wake for a signature that is being held back)."""
    order = [(sig, n) for n in range(50) for sig in range(SIGNATURES)]
    random.Random(5).shuffle(order)
    seen = [0] * SIGNATURES
    result = PassResult()
    for sig, _ in order:
        clock.advance(0.12)
        rig.intake.take(write_report(rig.crash_dir, sig, seen[sig]))
        seen[sig] += 1
        result = rig.service.run_pass()
    settle(rig, clock, result)
    assert_exact_counts(rig, each=50)
    busiest, total = assert_within_github_limits(standin)
    creates = [w for w in standin.writes() if w.method == "POST" and w.path == ISSUES]
    assert len(creates) == SIGNATURES  # the 502s were looked up, never re-sent
    # 10 creates + 2 labels, then one edit per signature per 30 s while the loop lasts (and once after)
    assert total <= 12 + SIGNATURES * 3, f"{total} writes"
    print(f"storm: 500 reports -> {len(rig.issues())} issues, {total} writes, busiest minute {busiest}")


def test_storm_300_reports_of_10_crashes_at_once_gives_10_issues_and_12_writes(
    rig: Rig, standin: StandIn, clock: FakeClock
) -> None:
    for n in range(30):
        for sig in range(SIGNATURES):
            rig.intake.take(write_report(rig.crash_dir, sig, n))
    result = rig.service.drain(max_wait_s=0.0)
    settle(rig, clock, result)
    assert_exact_counts(rig, each=30)
    _, total = assert_within_github_limits(standin)
    assert total == SIGNATURES + 2  # one create per signature and the two labels they use
    print(f"storm: 300 reports at once -> 10 issues, {total} writes")
