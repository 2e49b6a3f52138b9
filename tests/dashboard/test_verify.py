"""Fix verification on constructed histories whose answers are worked out by hand in each test."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.dashboard.verify import (
    Basis,
    Exposure,
    Verdict,
    assess,
    hours_needed,
    too_rare_comment,
    verified_comment,
)
from bot.payload import Occurrences

DEPLOY = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)  # a Monday, 06:00 UTC


def _history(per_day: dict[str, int]) -> Occurrences:
    occ = Occurrences()
    for day, n in per_day.items():
        occ = occ.record(datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC), count=n)
    return occ


# 24 crashes a day on June 1 and 2: 48 crashes in the 48 wall-clock hours before June 3 00:00, λ = 1/h.
HOURLY = _history({"2024-06-01": 24, "2024-06-02": 24})


def test_one_crash_an_hour_is_verified_after_five_silent_hours() -> None:
    # P(0 | 1/h × 5 h) = e^-5 = 0.6738 % < 1 %
    e = assess(HOURLY, deployed_at=DEPLOY, now=DEPLOY + timedelta(hours=5), crashes_after=0)
    assert e.verdict is Verdict.VERIFIED
    assert e.basis is Basis.WALL_CLOCK
    assert (e.crashes_before, e.hours_before, e.hours_after) == (48, 48.0, 5.0)
    assert e.rate_per_hour == pytest.approx(1.0)
    assert e.p_zero == pytest.approx(math.exp(-5)) == pytest.approx(0.006738, abs=1e-6)


def test_one_crash_an_hour_is_still_waiting_after_four_silent_hours() -> None:
    # e^-4 = 1.83 % ≥ 1 %; significance needs ln(100) = 4.605 h
    e = assess(HOURLY, deployed_at=DEPLOY, now=DEPLOY + timedelta(hours=4), crashes_after=0)
    assert e.verdict is Verdict.WAITING
    assert e.p_zero == pytest.approx(0.018316, abs=1e-6)
    assert e.hours_needed == pytest.approx(4.60517, abs=1e-5)
    assert e.days_needed == pytest.approx(4.60517 / 24, abs=1e-6)


def test_crashes_on_the_deploy_day_are_left_out_of_the_rate() -> None:
    occ = HOURLY.record(DEPLOY - timedelta(hours=1), count=100)
    e = assess(occ, deployed_at=DEPLOY, now=DEPLOY + timedelta(hours=5), crashes_after=0)
    assert (e.crashes_before, e.hours_before) == (48, 48.0)


def test_uptime_exposure_replaces_the_wall_clock() -> None:
    # The realm ran 12 of the 48 h before: λ = 48 / 12 = 4/h. Since the fix: 1.5 h of uptime on fixed
    # builds -> λt = 6, P(0) = e^-6 = 0.2479 %.
    e = assess(
        HOURLY,
        deployed_at=DEPLOY,
        now=DEPLOY + timedelta(days=3),
        crashes_after=0,
        exposure=Exposure(hours_before=12.0, hours_after=1.5),
    )
    assert e.basis is Basis.UPTIME
    assert e.rate_per_hour == pytest.approx(4.0)
    assert e.p_zero == pytest.approx(math.exp(-6))
    assert e.verdict is Verdict.VERIFIED
    # 4.605 / 4 = 1.151 h of uptime needed, at 6 h of uptime a day (12 h in 2 days) = 0.1919 days
    assert e.days_needed == pytest.approx(math.log(100) / 4 / 6)


def test_a_crash_seen_once_a_month_is_too_rare_to_verify_soon() -> None:
    # 1 crash in the 30 days (720 h) from May 4 to June 3: λ = 1/720 h; significance needs
    # 720 × ln(100) = 3,315.7 h = 138.2 days > 60
    occ = _history({"2024-05-04": 1})
    e = assess(occ, deployed_at=DEPLOY, now=DEPLOY + timedelta(days=10), crashes_after=0)
    assert e.hours_before == 720.0
    assert e.verdict is Verdict.TOO_RARE
    assert e.hours_needed == pytest.approx(3315.72, abs=0.01)
    assert e.days_needed == pytest.approx(138.155, abs=0.001)
    text = too_rare_comment(e)
    assert "3,316 hours of wall clock" in text and "about 138 days" in text


def test_a_crash_on_a_build_with_the_fix_is_a_regression_however_silent_otherwise() -> None:
    e = assess(HOURLY, deployed_at=DEPLOY, now=DEPLOY + timedelta(days=30), crashes_after=1)
    assert e.verdict is Verdict.REGRESSED


def test_a_crash_first_seen_on_the_deploy_day_has_no_rate_to_compare() -> None:
    occ = _history({"2024-06-03": 3})
    e = assess(occ, deployed_at=DEPLOY, now=DEPLOY + timedelta(days=30), crashes_after=0)
    assert e.verdict is Verdict.NO_HISTORY


def test_a_payload_without_history_has_no_rate_to_compare() -> None:
    e = assess(Occurrences(count=40), deployed_at=DEPLOY, now=DEPLOY + timedelta(days=30), crashes_after=0)
    assert e.verdict is Verdict.NO_HISTORY
    assert math.isinf(e.hours_needed)


def test_hours_needed_is_ln_100_over_the_rate() -> None:
    assert hours_needed(0.5) == pytest.approx(2 * math.log(100))
    assert math.isinf(hours_needed(0.0))


def test_verified_comment_states_the_numbers() -> None:
    e = assess(HOURLY, deployed_at=DEPLOY, now=DEPLOY + timedelta(hours=5), crashes_after=0)
    text = verified_comment(e, fix="#7", realms="main")
    assert "**48** crash(es) in 48.0 hours of wall clock" in text
    assert "predicts 5.00" in text
    assert "= **0.67%** < 1%" in text
