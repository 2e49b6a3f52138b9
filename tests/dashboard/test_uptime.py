"""Live spans from Deployments: the hours each build ran on each realm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.dashboard.uptime import Deployed, covered_since, crash_free_hours, hours_live, live_spans

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


DEPLOYS = [
    Deployed("main", "aaa", _at(0), ("in_progress", "success", "inactive")),
    Deployed("main", "bbb", _at(10), ("in_progress", "failure")),  # rolled back: never live
    Deployed("main", "ccc", _at(30), ("in_progress", "success")),
    Deployed("ptr", "ccc", _at(20), ("success",)),
]


def test_a_build_is_live_from_its_successful_deploy_until_the_next_one() -> None:
    spans = live_spans(DEPLOYS, now=_at(40))
    assert [(s.realm, s.sha, s.start, s.end) for s in spans] == [
        ("main", "aaa", _at(0), _at(30)),  # the failed bbb deploy left aaa running
        ("main", "ccc", _at(30), _at(40)),
        ("ptr", "ccc", _at(20), _at(40)),
    ]


def test_hours_live_sums_realms_and_filters_builds_within_a_window() -> None:
    spans = live_spans(DEPLOYS, now=_at(40))
    assert hours_live(spans, _at(0), _at(40)) == 30 + 10 + 20
    assert hours_live(spans, _at(25), _at(35), realms=["main"]) == 10
    assert hours_live(spans, _at(0), _at(40), build=lambda sha: sha == "ccc") == 30
    assert covered_since(spans) == _at(0)


def test_crash_free_hours_is_hours_live_per_crash() -> None:
    spans = live_spans(DEPLOYS, now=_at(40))
    assert crash_free_hours(spans, _at(0), _at(40), crashes=4) == pytest.approx(15.0)
    assert crash_free_hours(spans, _at(0), _at(40), crashes=0) == 60


def test_no_deployments_means_no_known_uptime() -> None:
    assert live_spans([], now=T0) == ()
    assert covered_since(()) is None
