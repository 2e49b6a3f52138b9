"""``crashbot upload`` and ``crashbot watch`` as a user runs them: real subprocesses, real stand-in."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.reports import write_report
from bot import progress
from bot.cli import main
from bot.config import RedactionSettings, from_mapping
from bot.doctor import Probe, Status, check_uploader_status
from bot.issue import read_payload
from bot.standin import StandIn
from bot.uploader.backfill import backfill
from bot.uploader.health import read_status, status_path
from bot.uploader.intake import Intake
from bot.uploader.lock import publisher_lock
from bot.uploader.spool import ReportState, Spool
from tests.uploader.rig import CUT_REPORT, KEY, REPO, TOKEN, break_pygithub_import

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crashbot.toml"
    path.write_text("[uploader]\nedit_interval_s = 0.0\nstability_s = 0.1\nbackoff_base_s = 0.05\n")
    return path


@pytest.fixture
def env(config: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "CRASHBOT_TOKEN": TOKEN,
        "CRASHBOT_SIGNING_KEY": KEY.decode(),
        "CRASHBOT_CONFIG": str(config),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **values, "PYTHONPATH": str(ROOT)}


def crash_issues(server: StandIn) -> list[dict[str, Any]]:
    return [i for i in server.issues(REPO) if "pull_request" not in i]


def upload(server_url: str, spool: Path, *files: Path) -> list[str]:
    return ["upload", "--repo", REPO, "--api-url", server_url, "--spool", str(spool), *map(str, files)]


def closed_port_api_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v3"


def test_upload_one_report_files_one_issue(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = write_report(tmp_path / "Crashes", 0, 0)
    assert main(upload(standin.api_url, tmp_path / "s.db", report)) == 0
    out = capsys.readouterr().out
    assert f"filed #1  {report}" in out
    assert "1 uploaded, 0 spooled for later" in out
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 1


def test_upload_same_file_again_sends_nothing(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = write_report(tmp_path / "Crashes", 0, 0)
    main(upload(standin.api_url, tmp_path / "s.db", report))
    writes = len(standin.writes())
    assert main(upload(standin.api_url, tmp_path / "s.db", report)) == 0
    assert f"already spooled  {report}" in capsys.readouterr().out
    assert len(standin.writes()) == writes


def test_upload_github_unreachable_spools_and_a_later_run_sends(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = [write_report(tmp_path / "Crashes", 0, n) for n in range(2)]
    spool = tmp_path / "s.db"
    assert main(upload(closed_port_api_url(), spool, *reports)) == 0
    out = capsys.readouterr().out
    assert "0 uploaded, 2 spooled for later" in out and "(GitHub unreachable" in out
    assert main(upload(standin.api_url, spool, *reports)) == 0
    out = capsys.readouterr().out
    assert out.count("filed #1") == 2 and "2 uploaded" in out
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 2


def test_upload_with_pygithub_unloadable_says_so_and_names_the_fix_not_github_unreachable(
    standin: StandIn,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: a library that failed to import (jwt under PyGithub) ended with "(GitHub unreachable;
    ...)" although GitHub was never asked; the summary now says what happened and what to do."""
    break_pygithub_import(monkeypatch)
    report = write_report(tmp_path / "Crashes", 0, 0)

    assert main(upload(standin.api_url, tmp_path / "s.db", report)) == 0

    captured = capsys.readouterr()
    [summary] = [line for line in captured.out.splitlines() if "spooled for later," in line]
    assert summary.startswith("0 uploaded, 1 spooled for later")
    assert "PyGithub did not load: reinstall crashbot's dependencies" in summary
    assert "unreachable" not in summary
    assert crash_issues(standin) == []


def test_upload_unparseable_file_is_quarantined_and_the_rest_uploaded(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_report(tmp_path / "Crashes", 1, 0)
    code = main(upload(standin.api_url, tmp_path / "s.db", CUT_REPORT, tmp_path / "missing.txt", good))
    captured = capsys.readouterr()
    assert code == 2
    assert "no stack frames" in captured.err and "quarantined" in captured.err
    assert "missing.txt: cannot be read" in captured.err
    assert "Traceback" not in captured.err
    assert f"filed #1  {good}" in captured.out
    assert len(crash_issues(standin)) == 1


def test_upload_without_signing_key_names_the_variable(
    standin: StandIn,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CRASHBOT_SIGNING_KEY")
    code = main(upload(standin.api_url, tmp_path / "s.db", write_report(tmp_path, 0, 0)))
    assert code == 2
    assert "CRASHBOT_SIGNING_KEY" in capsys.readouterr().err
    assert crash_issues(standin) == []


def test_watch_without_folders_is_a_usage_error(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", "--repo", REPO]) == 2
    assert "uploader.crash_dirs" in capsys.readouterr().err


def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_watch_backfills_uploads_new_reports_and_stops_on_sigterm(
    standin: StandIn, env: dict[str, str], tmp_path: Path
) -> None:
    crashes = tmp_path / "Crashes"
    write_report(crashes, 0, 0)  # written while the uploader was down
    argv = [sys.executable, "-m", "bot", "watch", str(crashes), "--repo", REPO, "--api-url", standin.api_url]
    # Windows has no SIGTERM for another process: a console Ctrl+Break (SIGBREAK) is what a service
    # manager sends, and it needs the child in its own process group
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    stop_signal = getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM)
    proc = subprocess.Popen(
        [*argv, "--spool", str(tmp_path / "s.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        creationflags=flags,
    )
    try:
        assert wait_for(lambda: len(crash_issues(standin)) == 1), "the backfilled report was not filed"
        write_report(crashes, 1, 0, dump=True)
        assert wait_for(lambda: len(crash_issues(standin)) == 2), "the new report was not filed"
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with Spool(tmp_path / "s.db") as spool:
        dumps = [r.dump_path for r in spool.reports(ReportState.UPLOADED)]
    assert sorted(d is not None and d.endswith(".dmp") for d in dumps) == [False, True]


def test_backfill_shows_progress_on_stderr_and_spools_each_report_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [write_report(tmp_path / "Crashes", 0, n) for n in range(3)]
    with Spool(tmp_path / "s.db") as spool:
        intake = Intake(spool, redaction=RedactionSettings(), max_bytes=10**6)
        bar = progress.bar("backfill", "report", stream=sys.stderr, force=True)
        assert backfill(intake, [*paths, paths[0]], threading.Event(), on_progress=bar) == 3
    err = capsys.readouterr().err
    assert "backfill:" in err and "4/4" in err and err.endswith("\n")


def test_upload_json_gives_one_row_per_file_and_the_counts(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_report(tmp_path / "Crashes", 0, 0)
    missing = tmp_path / "missing.txt"
    spool = tmp_path / "s.db"

    code = main([*upload(standin.api_url, spool, good, missing), "--json"])

    captured = capsys.readouterr()
    result = json.loads(captured.out)
    (issue,) = crash_issues(standin)
    assert code == 2  # the unreadable file, as without --json
    assert (result["version"], result["command"]) == (1, "upload")
    assert result["results"] == [
        {"file": str(good), "status": "filed", "issue": issue["number"], "error": None},
        {"file": str(missing), "status": "unreadable", "issue": None, "error": result["results"][1]["error"]},
    ]
    assert "missing.txt" in result["results"][1]["error"]
    assert (result["uploaded"], result["spooled"], result["bad"], result["interrupted"]) == (1, 0, 1, False)
    assert "crashbot: error:" in captured.err

    main([*upload(standin.api_url, spool, good), "--json"])
    again = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in again["results"]] == ["already-spooled"]


# ---------------------------------------------------------------------------------------------------
# watch at start: a definitive no from GitHub stops it with one line; an outage does not (issue 14)


def watch(server_url: str, spool: Path, crashes: Path, repo: str = REPO) -> list[str]:
    return ["watch", str(crashes), "--repo", repo, "--api-url", server_url, "--spool", str(spool)]


def test_watch_revoked_token_exits_at_start_with_one_line(
    standin: StandIn,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_report(tmp_path / "Crashes", 0, 0)
    monkeypatch.setenv("CRASHBOT_TOKEN", "ghp_revoked")
    assert main(watch(standin.api_url, tmp_path / "s.db", tmp_path / "Crashes")) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "401" in line and "CRASHBOT_TOKEN" in line
    assert crash_issues(standin) == []


def test_watch_unknown_repository_exits_at_start_naming_the_flag(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crashes = tmp_path / "Crashes"
    crashes.mkdir()
    assert main(watch(standin.api_url, tmp_path / "s.db", crashes, repo="acme/typo")) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "acme/typo not found (404)" in line and "--repo" in line


def test_watch_missing_parent_folder_exits_with_one_line_and_creates_nothing(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crashes = tmp_path / "Wow" / "Crashes"  # a typo in the server's folder: neither exists
    assert main(watch(standin.api_url, tmp_path / "s.db", crashes)) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert str(crashes) in line and "check the path" in line
    assert not (tmp_path / "Wow").exists()


def _start_watch(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
    try:
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return err


@pytest.mark.slow
def test_watch_github_down_at_start_starts_spools_and_doctor_shows_the_heartbeat(
    env: dict[str, str], tmp_path: Path
) -> None:
    crashes = tmp_path / "Crashes"  # missing, but its parent exists: worldserver makes it at its first crash
    spool = tmp_path / "s.db"
    proc = _start_watch(watch(closed_port_api_url(), spool, crashes), env)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert banner.startswith("watching 1 folder for " + REPO) and "GitHub unreachable" in banner
        assert wait_for(crashes.is_dir), "the missing crash folder was not created"
        write_report(crashes, 0, 0)
        heartbeat = status_path(spool)
        assert wait_for(lambda: (s := read_status(heartbeat)) is not None and s.pending == 1)
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    config = from_mapping({"uploader": {"spool": str(spool)}})
    row = check_uploader_status(Probe(config=config, env={}, skip_network=True))
    assert row.status is Status.WARN
    assert (
        "1 pending" in row.detail
        and "last upload never" in row.detail
        and "cannot reach GitHub" in row.detail
    )


@pytest.mark.slow
def test_watch_prints_a_banner_naming_folders_repository_and_login(
    standin: StandIn, env: dict[str, str], tmp_path: Path
) -> None:
    standin.add_token("ghp_person", "alice")  # a person's token: GET /user names it (a bot's gets 403)
    env = {**env, "CRASHBOT_TOKEN": "ghp_person"}
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    argv = [
        "watch",
        *map(str, dirs),
        "--repo",
        REPO,
        "--api-url",
        standin.api_url,
        "--spool",
        str(tmp_path / "s.db"),
    ]
    proc = _start_watch(argv, env)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
    finally:
        _stop(proc)
    assert banner.strip() == f"watching 2 folders for {REPO} as alice"


def test_upload_same_reports_from_a_fresh_spool_are_not_counted_again(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14: re-watching the same files with a fresh spool took an issue from 13 to 25 occurrences.
    The issue's payload remembers the reports' hashes, so another spool (or host) recognises them."""
    reports = [write_report(tmp_path / "Crashes", 0, n) for n in range(3)]
    assert main(upload(standin.api_url, tmp_path / "first.db", *reports[:2])) == 0
    assert main(upload(standin.api_url, tmp_path / "second.db", *reports)) == 0  # a fresh spool
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 3  # 2 + the one new report
    capsys.readouterr()
    assert main(upload(standin.api_url, tmp_path / "third.db", *reports)) == 0  # nothing new at all
    assert capsys.readouterr().out.count("already on #1") == 3
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 3


def test_upload_while_a_watcher_publishes_from_the_spool_leaves_the_sending_to_it(
    standin: StandIn, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One publisher per spool: two would edit one issue at once, and an edit could be lost."""
    report = write_report(tmp_path / "Crashes", 0, 0)
    spool = tmp_path / "s.db"
    with publisher_lock(spool) as held:  # what the watcher's publisher process holds while it runs
        assert held
        assert main(upload(standin.api_url, spool, report)) == 0
    out = capsys.readouterr().out
    assert f"spooled for later  {report}" in out
    assert "`crashbot watch` is publishing from this spool: it sends them" in out
    assert crash_issues(standin) == []
    assert main(upload(standin.api_url, spool, report)) == 0  # the publisher is gone: this run sends it
    assert len(crash_issues(standin)) == 1
