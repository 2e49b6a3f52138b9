"""``crashbot dashboard`` end to end through the CLI: upload a crash, then keep the dashboard current."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reports import write_report
from bot.cli import main
from bot.standin import StandIn
from bot.vocabulary import DASHBOARD_LABEL
from tests.conftest import start_standin
from tests.uploader.rig import KEY, REPO, TOKEN


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    server = start_standin(tmp_path / "gh")
    yield server
    server.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "crashbot.toml"
    config.write_text('[uploader]\nrealm = "main"\nedit_interval_s = 0.0\n')
    monkeypatch.setenv("CRASHBOT_TOKEN", TOKEN)
    monkeypatch.setenv("CRASHBOT_SIGNING_KEY", KEY.decode())
    monkeypatch.setenv("CRASHBOT_CONFIG", str(config))


@pytest.mark.usefixtures("env")
def test_dashboard_after_an_upload_lists_the_crash_and_then_stays_unchanged(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = write_report(tmp_path / "Crashes", 0, 0)
    assert (
        main(
            [
                "upload",
                "--repo",
                REPO,
                "--api-url",
                standin.api_url,
                "--spool",
                str(tmp_path / "s"),
                str(report),
            ]
        )
        == 0
    )
    assert main(["dashboard", "--repo", REPO, "--api-url", standin.api_url]) == 0
    assert main(["dashboard", "--repo", REPO, "--api-url", standin.api_url]) == 0
    out = capsys.readouterr().out
    assert "dashboard #2: created" in out and "dashboard #2: unchanged" in out
    [dash] = [i for i in standin.issues(REPO) if DASHBOARD_LABEL in {x["name"] for x in i["labels"]}]
    assert "[#1](" in dash["body"] and "**1** open crash signature(s)" in dash["body"]


def test_dashboard_without_signing_key_names_the_variable(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRASHBOT_TOKEN", TOKEN)
    monkeypatch.delenv("CRASHBOT_SIGNING_KEY", raising=False)
    assert main(["dashboard", "--repo", REPO, "--api-url", standin.api_url]) == 2
    assert "CRASHBOT_SIGNING_KEY" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_dashboard_rerun_by_without_bodies_is_a_usage_error(
    standin: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", "--repo", REPO, "--api-url", standin.api_url, "--rerun-by", "alice"]) == 2
    assert "--rerun-by and --rerun-bodies go together" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_dashboard_rerun_with_an_unreadable_body_file_is_one_line(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.md")
    argv = ["dashboard", "--repo", REPO, "--api-url", standin.api_url, "--rerun-by", "alice"]
    assert main([*argv, "--rerun-bodies", missing, missing]) == 2
    err = capsys.readouterr().err
    assert "cannot read the dashboard body" in err and "Traceback" not in err


@pytest.mark.usefixtures("env")
def test_dashboard_rerun_with_nothing_ticked_says_so(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.md"
    body.write_text("# Crash dashboard\n", encoding="utf-8")
    argv = ["dashboard", "--repo", REPO, "--api-url", standin.api_url, "--rerun-by", "alice"]
    assert main([*argv, "--rerun-bodies", str(body), str(body)]) == 0
    assert "no rerun: the edit ticked no rerun box" in capsys.readouterr().out
