"""The write budget keeps content-creating requests under GitHub's secondary limits."""

from __future__ import annotations

import pytest

from bot.uploader.budget import Windows, WriteBudget
from tests.fakes import FakeClock


def test_budget_minute_window_refuses_the_write_over_the_limit() -> None:
    clock = FakeClock(0.0)
    budget = WriteBudget(Windows(per_minute=3, per_hour=100), clock=clock)
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    assert budget.next_room_at() == 60.0
    clock.now = 60.0
    assert budget.take()


def test_budget_hour_window_refuses_even_when_minutes_are_spread() -> None:
    clock = FakeClock(0.0)
    budget = WriteBudget(Windows(per_minute=10, per_hour=5), clock=clock)
    for i in range(5):
        clock.now = i * 61.0
        assert budget.take()
    clock.now = 400.0
    assert not budget.take()
    assert budget.next_room_at() == 3600.0


def test_budget_take_n_is_all_or_nothing() -> None:
    budget = WriteBudget(Windows(per_minute=3, per_hour=100), clock=FakeClock(0.0))
    assert budget.take(2)
    assert not budget.take(2)
    assert budget.available() == 1


def test_budget_never_exceeds_github_limits_over_a_simulated_hour() -> None:
    clock = FakeClock(0.0)
    budget = WriteBudget(Windows(per_minute=60, per_hour=450), clock=clock)
    writes: list[float] = []
    while clock.now < 7200:
        if budget.take():
            writes.append(clock.now)
        clock.now += 0.25
    for t in writes:
        assert sum(1 for w in writes if t - 60 < w <= t) <= 80
        assert sum(1 for w in writes if t - 3600 < w <= t) <= 500


def test_budget_rejects_empty_windows() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WriteBudget(Windows(per_minute=0))
