"""One row per crash signature, its place in the loop, and the loop's own figures (pure)."""

from __future__ import annotations

import enum
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.payload import Occurrences, parse_iso_utc
from bot.vocabulary import (
    FIX_DEPLOYED_LABEL,
    FIX_VERIFIED_LABEL,
    HANDLED_LABEL,
    OPEN_PR_LABEL,
    REGRESSION_LABEL,
)

WEEK_DAYS = 7


class State(enum.StrEnum):
    """Where a crash is in the loop: new → analysed → fix PR open → merged → deployed → verified, or it
    ended with no fix, or it came back (regressed)."""

    NEW = "new"
    ANALYSED = "analysed"
    FIX_PR_OPEN = "fix PR open"
    MERGED = "merged"
    DEPLOYED = "deployed"
    VERIFIED = "verified"
    NO_FIX = "no fix"
    REGRESSED = "regressed"


@dataclass(frozen=True)
class FixPull:
    """The crashbot fix PR of a signature (the newest one from its branch)."""

    number: int
    url: str
    open: bool
    merged: bool
    created_at: str = ""
    merged_at: str = ""
    merge_sha: str = ""


@dataclass(frozen=True)
class Row:
    """One crash issue as the dashboard shows it. ``occurrences`` is None when its payload does not
    verify (edited by hand, another key): the row is still listed, without numbers."""

    number: int
    title: str
    url: str
    is_open: bool
    labels: tuple[str, ...]
    occurrences: Occurrences | None
    pull: FixPull | None = None
    analysed: bool = False

    @property
    def state(self) -> State:
        return state_of(self.labels, self.pull, is_open=self.is_open, analysed=self.analysed)

    def last_days(self, today: date, n_days: int) -> tuple[int, ...]:
        return self.occurrences.daily(today, n_days) if self.occurrences else (0,) * n_days

    def week(self, today: date) -> int:
        return sum(self.last_days(today, WEEK_DAYS))

    @property
    def total(self) -> int:
        return self.occurrences.count if self.occurrences else 0


def state_of(labels: Iterable[str], pull: FixPull | None, *, is_open: bool, analysed: bool) -> State:
    """The furthest state the labels and the fix PR prove; a reopened regression trumps them all."""
    names = set(labels)
    if is_open and REGRESSION_LABEL in names:
        return State.REGRESSED
    if FIX_VERIFIED_LABEL in names:
        return State.VERIFIED
    if FIX_DEPLOYED_LABEL in names:
        return State.DEPLOYED
    if pull is not None and pull.merged:
        return State.MERGED
    if (pull is not None and pull.open) or OPEN_PR_LABEL in names:
        return State.FIX_PR_OPEN
    if HANDLED_LABEL in names:
        return State.NO_FIX
    return State.ANALYSED if analysed else State.NEW


def ranked(rows: Iterable[Row], today: date) -> list[Row]:
    """Most occurrences in the last 7 days first, then most in total, then the newest issue."""
    return sorted(rows, key=lambda r: (-r.week(today), -r.total, -r.number))


@dataclass(frozen=True)
class LoopFigures:
    """How the loop itself performs: medians in hours (None without data) and PR outcomes."""

    crash_to_pr_h: float | None
    merge_to_deploy_h: float | None
    merged: int
    closed: int
    abstained: int


def _hours(start: str, end: str) -> float | None:
    try:
        return (parse_iso_utc(end) - parse_iso_utc(start)) / timedelta(hours=1)
    except ValueError:
        return None


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None and v >= 0]
    return statistics.median(known) if known else None


def loop_figures(
    rows: Sequence[Row],
    *,
    issue_created: Mapping[int, str],
    deployed_at: Mapping[int, datetime],
    closed_unmerged: int,
) -> LoopFigures:
    """Median crash issue → PR, median merge → first deploy, PRs merged and closed, and the crashes the
    fix run abstained on (a conclusion without a PR)."""
    with_pull = [r for r in rows if r.pull is not None]
    to_pr = (_hours(issue_created.get(r.number, ""), r.pull.created_at) for r in with_pull if r.pull)
    to_deploy = (
        _hours(r.pull.merged_at, deployed_at[r.number].isoformat())
        for r in with_pull
        if r.pull and r.pull.merged_at and r.number in deployed_at
    )
    return LoopFigures(
        crash_to_pr_h=_median(to_pr),
        merge_to_deploy_h=_median(to_deploy),
        merged=sum(1 for r in with_pull if r.pull and r.pull.merged),
        closed=closed_unmerged,
        abstained=sum(1 for r in rows if r.state is State.NO_FIX and r.pull is None),
    )
