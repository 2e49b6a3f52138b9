"""Rerun boxes: only the boxes one edit ticked, only for a sender the API says may write."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import GitHubSettings
from bot.dashboard.render import checkbox
from bot.dashboard.rerun import newly_ticked, request_reruns, ticked
from bot.github import GitHubClient, connect
from bot.standin import StandIn
from bot.vocabulary import CRASH_LABEL
from tests.conftest import start_standin
from tests.uploader.rig import REPO, TOKEN

DISPATCHABLE = "on:\n  workflow_dispatch:\n"


def tick(body: str, number: int) -> str:
    return body.replace(checkbox(number), checkbox(number).replace("- [ ]", "- [x]"))


PAGE = "# Crash dashboard\n\n" + "\n".join(checkbox(n) for n in (4, 7, 9)) + "\n"


def test_ticked_reads_only_crashbots_boxes() -> None:
    body = tick(tick(PAGE, 4), 9) + "\n- [x] a person's own task list item\n"
    assert ticked(body) == (4, 9)
    assert ticked(PAGE) == ()


def test_newly_ticked_is_what_this_edit_ticked() -> None:
    before = tick(PAGE, 4)  # ticked earlier, by whoever
    after = tick(before, 7)
    assert newly_ticked(before, after) == (7,)
    assert newly_ticked(after, after) == ()


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    server = start_standin(tmp_path / "gh")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(server.repo_path(REPO)), str(work)], check=True)
    (work / ".github/workflows").mkdir(parents=True)
    for name in ("crash-fix.yml", "crash-dashboard.yml"):
        (work / ".github/workflows" / name).write_text(DISPATCHABLE)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "workflows"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "HEAD"], check=True)
    yield server
    server.close()


@pytest.fixture
def gh(standin: StandIn) -> GitHubClient:
    return connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, timeout_s=5),
        env={"CRASHBOT_TOKEN": TOKEN},
        sleep=lambda _s: None,
        rng=random.Random(7),
        write_interval_s=0,
    )


def crash_issues(gh: GitHubClient, n: int) -> list[int]:
    return [gh.create_issue(f"crash {i}", "body", [CRASH_LABEL]).number for i in range(n)]


def test_a_writers_tick_dispatches_the_fix_for_that_issue_then_the_dashboard(
    standin: StandIn, gh: GitHubClient
) -> None:
    first, second = crash_issues(gh, 2)
    page = "\n".join(checkbox(n) for n in (first, second))
    standin.add_token("alice-token", "alice")  # a GitHub account...
    standin.set_permission(REPO, "alice", "write")  # ...with write access
    result = request_reruns(gh, sender="alice", before=page, after=tick(page, second))
    assert result.started == (second,)
    assert [(d.workflow, d.inputs) for d in standin.dispatches(REPO)] == [
        ("crash-fix.yml", {"issue": str(second)}),
        ("crash-dashboard.yml", {}),
    ]


@pytest.mark.parametrize("permission", ["triage", "read", "none"])
def test_a_tick_by_someone_without_write_starts_nothing(
    standin: StandIn, gh: GitHubClient, permission: str
) -> None:
    [number] = crash_issues(gh, 1)
    standin.add_token("mallory-token", "mallory")
    standin.set_permission(REPO, "mallory", permission)
    result = request_reruns(
        gh, sender="mallory", before=checkbox(number), after=tick(checkbox(number), number)
    )
    assert result.started == () and "needs write" in result.refused
    assert standin.dispatches(REPO) == []


def test_crashbots_own_edits_and_boxes_of_closed_or_foreign_issues_start_nothing(
    standin: StandIn, gh: GitHubClient
) -> None:
    [crash] = crash_issues(gh, 1)
    other = gh.create_issue("not a crash", "body", []).number
    gh.edit_issue(crash, state="closed")
    standin.add_token("alice-token", "alice")
    standin.set_permission(REPO, "alice", "admin")
    page = "\n".join(checkbox(n) for n in (crash, other))
    everything = tick(tick(page, crash), other)
    assert request_reruns(gh, sender="crashbot[bot]", before=page, after=everything).started == ()
    assert request_reruns(gh, sender="alice", before=page, after=everything).started == ()
    assert [d.workflow for d in standin.dispatches(REPO)] == ["crash-dashboard.yml"]
