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
from bot.config import RedactionSettings
from bot.issue import read_payload
from bot.standin import StandIn
from bot.uploader.backfill import backfill
from bot.uploader.intake import Intake
from bot.uploader.spool import ReportState, Spool
from tests.uploader.rig import CUT_REPORT, KEY, REPO, TOKEN

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
