"""The uploader asks the crash-dashboard workflow to run, at most once per interval."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import GitHubSettings
from bot.github import connect
from bot.standin import StandIn
from bot.uploader.spool import Spool
from bot.uploader.trigger import DashboardTrigger
from tests.conftest import start_standin
from tests.fakes import FakeClock
from tests.uploader.rig import REPO, TOKEN

CALLER = "name: crash-dashboard\non:\n  schedule:\n    - cron: '17 * * * *'\n  workflow_dispatch:\n"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    server = start_standin(tmp_path / "gh")
    yield server
    server.close()


def push_workflow(standin: StandIn, tmp_path: Path, text: str) -> None:
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(standin.repo_path(REPO)), str(work)], check=True)
    (work / ".github/workflows").mkdir(parents=True)
    (work / ".github/workflows/crash-dashboard.yml").write_text(text)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "dashboard workflow"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "HEAD"], check=True)


def trigger(standin: StandIn, clock: FakeClock, store: Spool | None = None) -> DashboardTrigger:
    client = connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, timeout_s=5),
        env={"CRASHBOT_TOKEN": TOKEN},
        sleep=lambda _s: None,
        rng=random.Random(7),
        write_interval_s=0,
    )
    return DashboardTrigger(client, interval_s=600, clock=clock, store=store)


def test_pokes_within_the_interval_dispatch_once(standin: StandIn, tmp_path: Path) -> None:
    push_workflow(standin, tmp_path, CALLER)
    clock = FakeClock()
    t = trigger(standin, clock)
    assert [t.poke(), t.poke()] == [True, False]
    clock.advance(601)
    assert t.poke() is True
    dispatches = standin.dispatches(REPO)
    assert [(d.workflow, d.ref) for d in dispatches] == [("crash-dashboard.yml", "main")] * 2


def test_a_missing_workflow_is_logged_not_raised(standin: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    assert trigger(standin, FakeClock()).poke() is False
    assert "could not start the crash-dashboard.yml workflow" in caplog.text
    assert standin.dispatches(REPO) == []


def test_a_workflow_without_workflow_dispatch_is_refused(standin: StandIn, tmp_path: Path) -> None:
    push_workflow(standin, tmp_path, "name: x\non:\n  schedule:\n    - cron: '0 * * * *'\n")
    assert trigger(standin, FakeClock()).poke() is False
    assert standin.dispatches(REPO) == []


def test_publisher_processes_sharing_a_spool_share_one_interval(standin: StandIn, tmp_path: Path) -> None:
    """``crashbot watch`` publishes from short-lived processes: each has its own trigger, and the
    interval is kept in the spool, so a burst of them dispatches the workflow once."""
    push_workflow(standin, tmp_path, CALLER)
    clock = FakeClock()
    with Spool(tmp_path / "spool.sqlite3") as first:
        assert trigger(standin, clock, store=first).poke() is True
    clock.advance(60)
    with Spool(tmp_path / "spool.sqlite3") as second:  # the next publisher process
        assert trigger(standin, clock, store=second).poke() is False
        clock.advance(600)
        assert trigger(standin, clock, store=second).poke() is True
    assert len(standin.dispatches(REPO)) == 2
