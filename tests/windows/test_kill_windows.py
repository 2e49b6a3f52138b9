"""Killing Windows CPython's ``crashbot upload`` (under wine64) mid-upload, then a restart: the SQLite
spool on Windows keeps what the killed run took in, and exactly one issue carries every report."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.reports import write_report
from bot.issue import read_payload
from tests.uploader.rig import KEY, REPO, TOKEN
from tests.uploader.test_kill9 import StallingStandIn, crash_issues, kill_when_stalled, stalling_standin
from tests.windows.conftest import WindowsPython, winpath


def upload(
    winpy: WindowsPython, server: StallingStandIn, config: Path, spool: Path, files: list[Path]
) -> subprocess.Popen[str]:
    args = ["-m", "bot", "upload", "--repo", REPO, "--api-url", server.api_url, "--spool", winpath(spool)]
    env = {"CRASHBOT_TOKEN": TOKEN, "CRASHBOT_SIGNING_KEY": KEY.decode(), "CRASHBOT_CONFIG": winpath(config)}
    return subprocess.Popen(
        winpy.argv([*args, *map(winpath, files)]),
        cwd=spool.parent,
        env=winpy.env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # a pipe, never a file: CPython under Wine cannot start on a file handle
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )


def test_windows_upload_killed_after_github_committed_the_issue_then_restarted_files_one_issue(
    winpy: WindowsPython, tmp_path: Path
) -> None:
    """Windows behaviour: the process is killed with no cleanup (as TerminateProcess does) while its
    SQLite spool (Windows SQLite, a Z:\\ path) holds three reports; the restart looks the issue up
    instead of filing a second one."""
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nedit_interval_s = 0.0\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\n")
    crashes = [write_report(tmp_path / "Crashes", 0, n) for n in range(4)]
    server = stalling_standin(tmp_path, method="POST", suffix=f"/repos/{REPO}/issues", committed=True)
    spool = tmp_path / "spool.sqlite3"
    try:
        kill_when_stalled(server, upload(winpy, server, config, spool, crashes[:3]))
        assert len(crash_issues(server)) == 1
        out, err = upload(winpy, server, config, spool, crashes).communicate(timeout=240)
        assert "4 uploaded" in out, out + err
        [issue] = crash_issues(server)
        assert read_payload(issue["body"], KEY).occurrences.count == 4
        creates = [w for w in server.writes() if w.method == "POST" and w.path == f"/repos/{REPO}/issues"]
        assert len(creates) == 1
    finally:
        server.close()
