"""``kill -9`` at the worst moments of an upload, then a restart: exactly one issue, the right count.

The uploader is a real ``crashbot upload`` subprocess with a real SQLite spool; the stand-in stalls one
chosen request (before it reaches GitHub's state, or after GitHub committed it but before the answer
left) and tells the test, which kills the process right there.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from bench.reports import signature_id, write_report
from bot.issue import read_payload
from bot.standin import StandIn
from tests.conftest import StandInSetup, start_standin
from tests.uploader.rig import KEY, REPO, uploader_env

SIG = signature_id(0)


class StallingStandIn(StandIn):
    """The stand-in, holding the first ``method`` request to a path ending in ``suffix`` until released.

    ``committed=True`` lets GitHub's state change first (the client never hears back); otherwise the
    request is held before anything happens and then dropped.
    """

    def __init__(self, root: Path, *, method: str, suffix: str, committed: bool) -> None:
        super().__init__(root)
        self.method, self.suffix, self.committed = method, suffix, committed
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._armed = True
        self._lock = threading.Lock()

    def _take(self, method: str, target: str) -> bool:
        path = urllib.parse.urlsplit(target).path
        with self._lock:
            hit = self._armed and method == self.method and path.endswith(self.suffix)
            if hit:
                self._armed = False
        return hit

    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Any:
        if not self._take(method, target):
            return super().handle(method, target, authorization, raw)
        answer = super().handle(method, target, authorization, raw) if self.committed else None
        self.arrived.set()
        self.release.wait(60)
        return answer


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nedit_interval_s = 0.0\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\n")
    return uploader_env(config)


def stalling_standin(tmp_path: Path, **stall: Any) -> StallingStandIn:
    """The uploader's stand-in (as the ``standin`` fixture serves it), stalling the request ``stall`` names."""
    server = start_standin(
        tmp_path / "standin", StandInSetup(server=functools.partial(StallingStandIn, **stall))
    )
    assert isinstance(server, StallingStandIn)
    return server


def upload(server: StandIn, env: dict[str, str], spool: Path, files: list[Path]) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bot", "upload", "--repo", REPO, "--api-url", server.api_url]
    return subprocess.Popen(
        [*argv, "--spool", str(spool), *map(str, files)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def kill_when_stalled(server: StallingStandIn, proc: subprocess.Popen[str]) -> None:
    try:
        assert server.arrived.wait(60), "the stalled request never arrived"
        proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no cleanup runs
        proc.wait(30)
    finally:
        server.release.set()
        proc.communicate()


def crash_issues(server: StandIn) -> list[dict[str, Any]]:
    return [i for i in server.issues(REPO) if "pull_request" not in i]


@pytest.fixture
def crashes(tmp_path: Path) -> list[Path]:
    return [write_report(tmp_path / "Crashes", 0, n) for n in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize("committed", [True, False], ids=["after-commit", "before-commit"])
def test_kill9_during_the_create_then_restart_files_exactly_one_issue_with_the_right_count(
    tmp_path: Path, env: dict[str, str], crashes: list[Path], committed: bool
) -> None:
    server = stalling_standin(tmp_path, method="POST", suffix=f"/repos/{REPO}/issues", committed=committed)
    spool = tmp_path / "spool.sqlite3"
    try:
        kill_when_stalled(server, upload(server, env, spool, crashes[:3]))
        assert len(crash_issues(server)) == (1 if committed else 0)
        out = finish(upload(server, env, spool, crashes))  # the same files again, plus one more
        [issue] = crash_issues(server)
        assert read_payload(issue["body"], KEY).occurrences.count == 4
        assert "4 uploaded" in out  # three the killed run had spooled, and the fourth
        creates = [w for w in server.writes() if w.method == "POST" and w.path == f"/repos/{REPO}/issues"]
        assert len(creates) == 1  # committed: looked up, never re-sent; dropped: never reached GitHub
    finally:
        server.close()


@pytest.mark.slow
def test_kill9_after_the_edit_was_committed_then_restart_counts_each_report_once(
    tmp_path: Path, env: dict[str, str], crashes: list[Path]
) -> None:
    server = stalling_standin(tmp_path, method="PATCH", suffix="/issues/1", committed=True)
    spool = tmp_path / "spool.sqlite3"
    try:
        finish(upload(server, env, spool, crashes[:1]))  # issue #1, count 1
        kill_when_stalled(server, upload(server, env, spool, crashes[1:3]))  # edit to 3 committed, then -9
        assert read_payload(crash_issues(server)[0]["body"], KEY).occurrences.count == 3
        out = finish(upload(server, env, spool, crashes[1:3]))  # restart: the same batch is recognised
        assert out.count("already on #1") == 2
        [issue] = crash_issues(server)
        assert read_payload(issue["body"], KEY).occurrences.count == 3
        patches = [w for w in server.writes() if w.method == "PATCH"]
        assert len(patches) == 1  # the retry saw its batch on the issue and wrote nothing
    finally:
        server.close()
