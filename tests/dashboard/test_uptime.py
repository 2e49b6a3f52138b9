"""The hours each build ran on each realm: recorded by the uploaders (ledgers), else live spans from
Deployments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.dashboard.uptime import Deployed, Recorded, covered_since, crash_free_hours, hours_live, live_spans
from bot.ledger import Ledger

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


# ---------------------------------------------------------------------------------------------------
# recorded uptime: the uploaders' ledgers


def _ledger(realm: str, since: str, updated: str, *up: tuple[str, str, int]) -> Ledger:
    return Ledger(realm, "game1", since, updated, tuple(up))


MAIN = _ledger(
    "main",
    "2024-06-01",
    "2024-06-04T00:00:00Z",
    ("aaaaaaaaaaaa", "2024-06-01", 720),
    ("aaaaaaaaaaaa", "2024-06-02", 600),
    ("bbbbbbbbbbbb", "2024-06-02", 120),
    ("bbbbbbbbbbbb", "2024-06-03", 1440),
)
PTR = _ledger("ptr", "2024-06-02", "2024-06-04T00:00:00Z", ("bbbbbbbbbbbb", "2024-06-03", 60))


def test_recorded_hours_sum_realms_and_filter_builds_over_whole_utc_days() -> None:
    recorded = Recorded.of([MAIN, PTR])
    june = date(2024, 6, 1)
    assert recorded.hours(june, june + timedelta(days=3)) == (720 + 600 + 120 + 1440 + 60) / 60
    assert (
        recorded.hours(june + timedelta(days=2), june + timedelta(days=3), build="bbbbbbbbbbbb".__eq__) == 25
    )
    assert recorded.build_hours(june, june + timedelta(days=3)) == (
        ("bbbbbbbbbbbb", (120 + 1440 + 60) / 60),
        ("aaaaaaaaaaaa", (720 + 600) / 60),
    )


def test_recorded_uptime_covers_a_day_only_when_every_realm_named_was_recorded_then() -> None:
    recorded = Recorded.of([MAIN, PTR])
    assert recorded.covers(["main"], date(2024, 6, 1))
    assert not recorded.covers(["main", "ptr"], date(2024, 6, 1))  # ptr's uploader began on the 2nd
    assert recorded.covers([], date(2024, 6, 2))  # a crash with no realm label: every ledger
    assert not recorded.covers(["main", "classic"], date(2024, 6, 2))  # classic has no ledger at all
    assert not Recorded().covers([], date(2024, 6, 2))


def test_of_several_ledgers_of_a_realm_the_newest_counts_and_an_empty_one_none() -> None:
    older = _ledger("main", "2024-05-01", "2024-06-01T00:00:00Z", ("aaaaaaaaaaaa", "2024-05-01", 1440))
    empty = _ledger("ptr", "2024-06-01", "2024-06-05T00:00:00Z")
    assert Recorded.of([older, MAIN, empty]).ledgers == (MAIN,)
