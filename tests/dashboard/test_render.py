"""The dashboard page: ranking, states, charts, and GitHub's body limit with a thousand signatures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.dashboard.model import FixPull, LoopFigures, Row, State, loop_figures, state_of
from bot.dashboard.render import Inputs, render
from bot.payload import Occurrences
from bot.vocabulary import (
    FIX_DEPLOYED_LABEL,
    FIX_VERIFIED_LABEL,
    HANDLED_LABEL,
    OPEN_PR_LABEL,
    REGRESSION_LABEL,
)

TODAY = date(2024, 6, 10)
NOON = datetime(2024, 6, 10, 12, tzinfo=UTC)
NO_FIGURES = LoopFigures(None, None, 0, 0, 0)


def row(
    number: int, *per_day: tuple[int, int], title: str = "crash: Map::Update (SIGSEGV)", **kw: object
) -> Row:
    occ = Occurrences()
    for days_ago, n in per_day:
        occ = occ.record(NOON - timedelta(days=days_ago), realm="main", build=f"b{number % 7}", count=n)
    return Row(number, title, f"https://github.com/o/r/issues/{number}", True, (), occ, **kw)  # type: ignore[arg-type]


def test_a_thousand_signatures_fit_under_githubs_body_limit() -> None:
    rows = [row(n, (n % 9, 1 + n % 5), (40, n)) for n in range(1, 1001)]
    body = render(rows, [], Inputs(TODAY, NO_FIGURES, {}))
    assert len(body) < 65_536
    assert "<summary>975 more open signature(s)</summary>" in body
    assert "more not shown: GitHub's body limit." in body
    assert body.count("```mermaid") == 2


def test_a_few_signatures_are_all_shown_without_a_fold_note() -> None:
    body = render([row(n, (0, 1)) for n in range(1, 30)], [], Inputs(TODAY, NO_FIGURES, {}))
    assert "<summary>4 more open signature(s)</summary>" in body
    assert "not shown" not in body


def test_the_daily_chart_has_one_line_per_top_signature_over_fourteen_days() -> None:
    body = render([row(1, (0, 3), (13, 1)), row(2, (1, 2))], [], Inputs(TODAY, NO_FIGURES, {}))
    assert '    x-axis ["05-28", "05-29",' in body
    assert "    line [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]" in body
    assert "    line [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]" in body
    assert "Lines, in order: #1, #2." in body
    assert '    x-axis ["b1", "b2"]' in body and "    bar [4, 2]" in body


def test_untrusted_titles_cannot_mention_link_or_open_a_comment() -> None:
    body = render(
        [row(1, (0, 1), title="crash: @admin #12 <!-- x --> | [a](b)")], [], Inputs(TODAY, NO_FIGURES, {})
    )
    line = next(x for x in body.splitlines() if x.startswith("| [#1]"))
    assert "@admin" not in line and "#12" not in line and "<!--" not in line
    assert line.count(" | ") == 8  # nine cells: the pipe in the title did not add a column


@pytest.mark.parametrize(
    ("labels", "pull", "is_open", "expected"),
    [
        ((), None, True, State.NEW),
        ((HANDLED_LABEL,), None, True, State.NO_FIX),
        ((HANDLED_LABEL, OPEN_PR_LABEL), FixPull(3, "u", True, False), True, State.FIX_PR_OPEN),
        ((HANDLED_LABEL,), FixPull(3, "u", False, True), False, State.MERGED),
        ((HANDLED_LABEL, FIX_DEPLOYED_LABEL), FixPull(3, "u", False, True), False, State.DEPLOYED),
        ((FIX_DEPLOYED_LABEL, FIX_VERIFIED_LABEL), None, False, State.VERIFIED),
        ((FIX_DEPLOYED_LABEL, REGRESSION_LABEL), FixPull(3, "u", False, True), True, State.REGRESSED),
    ],
)
def test_state_follows_labels_and_the_fix_pr(
    labels: tuple[str, ...], pull: FixPull | None, is_open: bool, expected: State
) -> None:
    assert state_of(labels, pull, is_open=is_open, analysed=False) is expected


def test_state_is_analysed_once_the_analysis_comment_is_there() -> None:
    assert state_of((), None, is_open=True, analysed=True) is State.ANALYSED


def test_loop_figures_are_medians_and_counts() -> None:
    # crash -> PR: 2 h, 4 h, 9 h -> median 4 h; merge -> deploy: 1 h and 3 h -> median 2 h
    pulls = [
        FixPull(10, "u", False, True, "2024-06-01T02:00:00Z", "2024-06-01T05:00:00Z"),
        FixPull(11, "u", False, True, "2024-06-01T04:00:00Z", "2024-06-01T06:00:00Z"),
        FixPull(12, "u", True, False, "2024-06-01T09:00:00Z"),
    ]
    rows = [
        Row(1, "t", "u", False, (HANDLED_LABEL,), None, pulls[0]),
        Row(2, "t", "u", False, (HANDLED_LABEL,), None, pulls[1]),
        Row(3, "t", "u", True, (HANDLED_LABEL,), None, pulls[2]),
        Row(4, "t", "u", True, (HANDLED_LABEL,), None, None),  # concluded without a PR: abstained
    ]
    figures = loop_figures(
        rows,
        issue_created={n: "2024-06-01T00:00:00Z" for n in (1, 2, 3, 4)},
        deployed_at={1: datetime(2024, 6, 1, 6, tzinfo=UTC), 2: datetime(2024, 6, 1, 9, tzinfo=UTC)},
        closed_unmerged=1,
    )
    assert figures == LoopFigures(crash_to_pr_h=4.0, merge_to_deploy_h=2.0, merged=2, closed=1, abstained=1)
    body = render([], [], Inputs(TODAY, figures, {}))
    assert "| 4.0 h | 2.0 h | 2 | 1 | 1 |" in body


def test_no_open_signature_says_so_and_still_charts_the_fixed_ones() -> None:
    fixed = Row(1, "crash: X", "u", False, (FIX_DEPLOYED_LABEL,), row(1, (1, 4)).occurrences)
    body = render([], [fixed], Inputs(TODAY, NO_FIGURES, {1: "waiting"}))
    assert "*No open crash signature.*" in body
    assert "**0** open crash signature(s); **4** crash(es) in the 7 days" in body
    assert "    line [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0]" in body
    assert "| waiting |" in body


def test_each_top_crash_without_a_fix_gets_an_unticked_rerun_box() -> None:
    from dataclasses import replace

    from bot.dashboard.render import checkbox
    from bot.dashboard.rerun import ticked

    rows = [replace(row(1, (0, 2)), labels=(HANDLED_LABEL,)), row(2, (0, 1))]
    body = render(rows, [], Inputs(TODAY, NO_FIGURES, {}))
    assert "## Rerun a fix" in body and checkbox(1) in body and checkbox(2) not in body
    assert ticked(body) == ()  # a rendered page never carries a tick


def test_ignored_uptime_ledgers_are_named_a_handful_at_a_time() -> None:
    notes = [f"uptime ledger #{n} ignored: uptime ledger signature does not verify" for n in range(100, 400)]
    body = render([], [], Inputs(TODAY, NO_FIGURES, {}, uptime_notes=notes))
    assert body.count("ignored: uptime ledger signature does not verify") == 5
    assert "… and 295 more uptime ledger(s) ignored" in body
