"""Frame limits: a report keeps at most so many frames per thread and in all, and says what it dropped."""

from __future__ import annotations

from bot.crash.limits import MAX_REPORT_FRAMES, MAX_THREAD_FRAMES, FrameBudget


def test_frame_budget_admits_up_to_the_thread_limit_then_counts_drops() -> None:
    budget = FrameBudget()
    assert all(budget.admits(n) for n in range(MAX_THREAD_FRAMES))
    assert not budget.admits(MAX_THREAD_FRAMES)
    assert (budget.kept, budget.dropped) == (MAX_THREAD_FRAMES, 1)
    note = budget.note()
    assert note is not None and note.startswith("truncated: 1 frame(s)")


def test_frame_budget_report_limit_closes_every_thread() -> None:
    budget = FrameBudget(kept=MAX_REPORT_FRAMES)
    assert budget.full(0)
    assert not budget.admits(0)
    assert budget.dropped == 1


def test_frame_budget_without_drops_has_no_note() -> None:
    budget = FrameBudget()
    assert budget.admits(0)
    assert budget.note() is None
