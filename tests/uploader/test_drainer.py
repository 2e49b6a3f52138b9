"""The publisher process ``crashbot watch`` starts (``python -m bot.uploader.drainer``), run for real: a
subprocess on a real SQLite spool against the loopback stand-in, killed with ``-9`` mid-drain, run twice
on one budget, and locked out by another publisher."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from bench.reports import signature_id, write_report
from bot.config import RedactionSettings
from bot.issue import read_payload
from bot.standin import StandIn
from bot.uploader.budget import Windows
from bot.uploader.intake import Intake
from bot.uploader.lock import publisher_lock
from bot.uploader.spool import ReportState, Spool
from bot.uploader.supervisor import BUSY, publisher_command
from bot.vocabulary import sig_label
from tests.conftest import StandInSetup, start_standin
from tests.fakes import FakeClock
from tests.uploader.rig import KEY, REPO, ROOT, make_rig, uploader_env


class SecondCreateStalls(StandIn):
    """The stand-in, committing the SECOND issue create and then holding its answer until released: the
    publisher has filed one signature and is in the middle of the next when it is killed."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._creates = 0
        self._lock = threading.Lock()

    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Any:
        answer = super().handle(method, target, authorization, raw)
        if method == "POST" and urllib.parse.urlsplit(target).path.endswith(f"/repos/{REPO}/issues"):
            with self._lock:
                self._creates += 1
                stall = self._creates == 2
            if stall:
                self.arrived.set()
                self.release.wait(60)
        return answer


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nedit_interval_s = 0.0\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\n")
    return uploader_env(config)


def spool_reports(spool_path: Path, crashes: Path, counts: dict[int, int]) -> None:
    """Spool ``counts[sig]`` reports of each crash ``sig``, as the watcher's intake does."""
    with Spool(spool_path) as spool:
        intake = Intake(spool, redaction=RedactionSettings(), max_bytes=10**6)
        for sig, n in counts.items():
            for i in range(n):
                intake.take(write_report(crashes, sig, i))


def publisher(server: StandIn, spool: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    argv = publisher_command(
        spool=spool, owner_pid=os.getpid(), log_level=20, repo=REPO, api_url=server.api_url, linger_s=0.0
    )
    return subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def counts(server: StandIn) -> dict[str, int]:
    found = {}
    for issue in server.issues(REPO):
        sigs = [x["name"] for x in issue["labels"] if x["name"].startswith("sig:")]
        if sigs:
            found[sigs[0]] = read_payload(issue["body"], KEY).occurrences.count
    return found


@pytest.mark.slow
def test_publisher_killed_mid_drain_then_restarted_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    server = start_standin(tmp_path / "standin", StandInSetup(server=SecondCreateStalls))
    assert isinstance(server, SecondCreateStalls)
    spool = tmp_path / "spool.sqlite3"
    spool_reports(spool, tmp_path / "Crashes", {0: 2, 1: 3})
    try:
        first = publisher(server, spool, child_env)
        assert server.arrived.wait(60), "the second create never arrived"
        first.kill()  # SIGKILL: GitHub committed the second issue, the spool never heard
        first.wait(30)
        server.release.set()
        first.communicate()
        with Spool(spool) as view:
            assert len(view.reports(ReportState.NEW)) == 3  # the second signature's reports: all kept
        second = publisher(server, spool, child_env)
        second.wait(60)  # linger 0: it exits as soon as the spool is drained
        _, err = second.communicate()
        assert second.returncode == 0, err
    finally:
        server.release.set()
        server.close()
    assert counts(server) == {sig_label(signature_id(0)): 2, sig_label(signature_id(1)): 3}
    creates = [w for w in server.writes() if w.method == "POST" and w.path == f"/repos/{REPO}/issues"]
    assert len(creates) == 2  # the killed create was found on GitHub, never sent again
    with Spool(spool) as view:
        assert view.reports(ReportState.NEW) == []


def test_a_second_publisher_spends_only_what_the_first_left_of_the_minute(
    tmp_path: Path, standin: StandIn
) -> None:
    """Each publisher process has its own client and service; the budget they share is the spool's."""
    clock = FakeClock()
    windows = Windows(per_minute=8, per_hour=100)
    first = make_rig(tmp_path, standin, clock=clock, windows=windows)
    for sig in range(2):
        first.intake.take(write_report(first.crash_dir, sig, 0))
    first.service.run_pass()
    spent = len(first.writes())
    assert 0 < spent < windows.per_minute
    first.close()  # the first publisher exits

    clock.advance(5.0)
    second = make_rig(tmp_path, standin, clock=clock, windows=windows)
    assert second.service.budget.available() == windows.per_minute - spent
    for sig in range(2, 10):
        second.intake.take(write_report(second.crash_dir, sig, 0))
    result = second.service.run_pass()
    second.close()
    assert result.postponed > 0  # the new signatures wait for the next minute...
    in_minute = [w for w in standin.writes() if w.status != 0]
    assert len(in_minute) <= windows.per_minute  # ...rather than exceed it together


def test_publisher_finds_the_spool_locked_and_leaves_the_work_to_the_holder(
    tmp_path: Path, standin: StandIn, child_env: dict[str, str]
) -> None:
    spool = tmp_path / "spool.sqlite3"
    spool_reports(spool, tmp_path / "Crashes", {0: 1})
    with publisher_lock(spool) as held:
        assert held
        proc = publisher(standin, spool, child_env)
        _, err = proc.communicate(input="", timeout=60)
    assert proc.returncode == BUSY
    assert "another publisher" in err
    assert standin.writes() == []
    with Spool(spool) as view:
        assert len(view.reports(ReportState.NEW)) == 1


def test_publisher_lock_is_free_again_after_its_holder_is_killed(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom bot.uploader.lock import publisher_lock\n"
            "with publisher_lock(Path(sys.argv[1])) as held:\n    print(held, flush=True)\n    time.sleep(60)",
            str(spool),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with publisher_lock(spool) as held:
            assert not held
    finally:
        holder.kill()
        holder.communicate()
    with publisher_lock(spool) as held:
        assert held  # the operating system released it with the process: no stale lock
