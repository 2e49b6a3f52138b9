"""What earlier runs left behind decides what a run may do: branch names, the PR record, newer builds,
closed and merged PRs, people's commits and the sweep's order."""

from __future__ import annotations

import dataclasses

import pytest

from bot.fix.state import FixRecord, current_builds, newer_builds, prior, unhandled
from bot.github import IssueRef, PullRef
from bot.vocabulary import HANDLED_LABEL

# a tiny history: base -> mid -> tip, and a fork commit elsewhere
HISTORY = {"mid": {"base"}, "tip": {"base", "mid"}, "base": set()}


def descends(build: str, recorded: str) -> bool | None:
    if build not in HISTORY or recorded not in HISTORY:
        return None
    return recorded in HISTORY[build]


def pull(
    number: int, *, state: str = "closed", merged: bool = False, body: str = "", merge_sha: str = ""
) -> PullRef:
    return PullRef(
        number=number,
        state=state,
        merged=merged,
        head_ref="crashfix/abc",
        head_sha="0" * 40,
        base_ref="main",
        html_url=f"https://example.invalid/pull/{number}",
        author="crashbot[bot]",
        body=body,
        labels=("crash-fix",),
        merge_commit_sha=merge_sha or None,
    )


def issue(
    number: int,
    *,
    labels: tuple[str, ...] = ("crash", "sig:abc"),
    author: str = "up[bot]",
    state: str = "open",
    is_pull: bool = False,
) -> IssueRef:
    return IssueRef(number, "t", "b", state, None, labels, author, "", "", "", 0, is_pull)


# -- the PR record --------------------------------------------------------------------------------------


def test_fix_record_round_trips_and_cannot_close_its_html_comment() -> None:
    record = FixRecord("abc", ("rev-->1", "8b1aa4b0d4ee"))

    text = record.render()

    assert text.count("-->") == 1
    assert FixRecord.read(f"Fixes #1\n\n{text}\nmore") == record


@pytest.mark.parametrize(
    "body",
    [
        "",
        "no record",
        "<!-- crashbot:fix !!! -->",
        "<!-- crashbot:fix bm90IGpzb24= -->",
        "<!-- crashbot:fix e30= -->",
    ],
)
def test_fix_record_missing_or_damaged_reads_as_none(body: str) -> None:
    assert FixRecord.read(body) is None


def test_current_builds_joins_occurrences_and_the_report_revision_without_duplicates() -> None:
    assert current_builds(("a", "b", ""), "b") == ("a", "b")
    assert current_builds((), "c") == ("c",)
    assert current_builds(("a",), None) == ("a",)


# -- newer builds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "current", "newer"),
    [
        (("base",), ("base",), ()),
        (("base",), ("base", "tip"), ("tip",)),
        (("mid",), ("base",), ()),  # an older build crashing again is not a regression
        (("base",), ("fork-build",), ()),  # unknown to the repository: cannot be placed
        ((), ("tip",), ()),  # nothing recorded: nothing to be newer than
        (("mid", "fork"), ("tip",), ("tip",)),
    ],
)
def test_newer_builds_only_counts_builds_proven_to_contain_a_recorded_one(
    recorded: tuple[str, ...], current: tuple[str, ...], newer: tuple[str, ...]
) -> None:
    assert newer_builds(recorded, current, descends) == newer


# -- prior PRs ------------------------------------------------------------------------------------------


def test_prior_without_pulls_goes_ahead() -> None:
    decided = prior([], ("base",), descends)
    assert decided.open_pull is None and decided.blocked is None and decided.previous == ()


def test_prior_open_pull_is_the_one_to_update() -> None:
    decided = prior(
        [pull(3, body=FixRecord("abc", ("base",)).render()), pull(9, state="open")], ("base",), descends
    )
    assert decided.open_pull is not None and decided.open_pull.number == 9
    assert decided.blocked is None
    assert [p.outcome for p in decided.previous] == ["PR closed unmerged"]


def test_prior_closed_unmerged_blocks_until_a_newer_build() -> None:
    closed = pull(4, body=FixRecord("abc", ("base",)).render())

    blocked = prior([closed], ("base",), descends)
    allowed = prior([closed], ("base", "tip"), descends)

    assert (
        blocked.blocked is not None
        and "closed unmerged" in blocked.blocked
        and "reopen #4" in blocked.blocked
    )
    assert allowed.blocked is None and "newer build tip" in allowed.note


def test_prior_closed_unmerged_without_record_blocks() -> None:
    assert prior([pull(4, body="edited by a person")], ("tip",), descends).blocked is not None


def test_prior_merged_blocks_until_a_build_containing_the_merge_crashes() -> None:
    merged = pull(5, merged=True, merge_sha="mid")

    assert prior([merged], ("base",), descends).blocked is not None  # the old build is still deployed
    assert prior([merged], ("tip",), descends).blocked is None


def test_prior_newest_closed_pull_rules() -> None:
    older = pull(2, body=FixRecord("abc", ("tip",)).render())
    newer = pull(6, body=FixRecord("abc", ("base",)).render())

    assert prior([newer, older], ("tip",), descends).blocked is None


# -- the sweep ------------------------------------------------------------------------------------------


def test_unhandled_picks_open_uploader_crash_issues_without_the_handled_label_oldest_first() -> None:
    issues = [
        issue(9),
        issue(3),
        issue(4, labels=("crash", HANDLED_LABEL)),
        issue(5, author="mallory"),
        issue(6, state="closed"),
        issue(7, labels=("bug",)),
        issue(8, is_pull=True),
        issue(2, author="UP[BOT]"),
    ]

    assert [i.number for i in unhandled(issues, uploader="up[bot]")] == [2, 3, 9]


def test_unhandled_empty_uploader_matches_nobody() -> None:
    assert unhandled([dataclasses.replace(issue(1), author="")], uploader="up[bot]") == []
