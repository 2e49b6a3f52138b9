"""``crashbot fix`` from the command line, in process, against the stand-in and a real checkout: the
options the workflow passes, ``--issue`` and ``--pending``, exit codes, stdout and the job summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from bot.commands.fix import push_token
from bot.config import Config, FixSettings, GitHubSettings
from bot.errors import ConfigError
from tests.fix.pipeline_world import FIX_DIFF, KEY, REPO, UPLOADER, World, make_world
from tests.gitutil import git


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


@pytest.fixture
def cli(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A crashbot.toml for the world (replay engine answering FIX_DIFF) and the env the workflow sets."""
    patch = tmp_path / "fix.diff"
    patch.write_text(FIX_DIFF, encoding="utf-8")
    config = tmp_path / "crashbot.toml"
    build = [sys.executable, str(world.build_script), "{source}", "{build_dir}"]
    config.write_text(
        "[github]\n"
        f"uploader_login = {json.dumps(UPLOADER)}\n"
        "[signing]\n"
        'key_env = "TEST_SIGNING_KEY"\n'
        "[fix]\n"
        'engine = "replay"\n'
        f"replay_patch = {json.dumps(str(patch))}\n"
        f"build_dir = {json.dumps(str(world.build_dir))}\n"
        f"build_command = {json.dumps(build)}\n"
        f"sandbox_read_only = {json.dumps([str(world.build_script)])}\n"
        'commit_author = "crashbot-fixer[bot] <fixer@bots.invalid>"\n'
        "pending_cap = 2\n",
        encoding="utf-8",
    )
    for name in ("GITHUB_TOKEN", "CRASHBOT_PUSH_TOKEN", "GITHUB_STEP_SUMMARY", "CRASHBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRASHBOT_TOKEN", "fixer-token")
    monkeypatch.setenv("TEST_SIGNING_KEY", KEY.decode())
    return config


def run(world: World, config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(
        [
            "--config",
            str(config),
            "fix",
            "--repo",
            REPO,
            "--api-url",
            world.standin.api_url,
            "--workspace",
            str(world.workspace),
            *argv,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


# -- the parser -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["fix"],
        ["fix", "--issue", "3", "--pending"],
        ["fix", "--issue", "0"],
        ["fix", "--issue", "three"],
        ["fix", "--pending", "--engine", "gpt"],
    ],
)
def test_fix_parser_refuses_ambiguous_or_bad_selections(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(argv)
    assert raised.value.code == 2


def test_fix_parser_accepts_the_workflow_s_options() -> None:
    args = build_parser().parse_args(
        [
            "fix",
            "--repo",
            "o/r",
            "--api-url",
            "https://api.github.com",
            "--workspace",
            "/w",
            "--engine",
            "none",
            "--pending",
        ]
    )
    assert (args.repo, args.api_url, args.workspace, args.engine, args.pending, args.issue) == (
        "o/r",
        "https://api.github.com",
        "/w",
        "none",
        True,
        None,
    )


# -- --issue -----------------------------------------------------------------------------------------


def test_fix_cli_issue_opens_a_pr_prints_one_line_and_writes_the_job_summary(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    issue = world.file_issue()

    code, out, _ = run(world, cli, capsys, "--issue", str(issue.number))

    assert code == 0
    [line] = out.splitlines()
    assert line.startswith(f"crashbot fix: #{issue.number} pr-opened: opened #")
    [pull] = world.pulls()
    assert f"Fixes #{issue.number}" in pull["body"] and "replay:fix.diff" in pull["body"]
    assert f"| #{issue.number} | ✅ pr-opened |" in summary.read_text(encoding="utf-8")


def test_fix_cli_json_in_a_workflow_keeps_stdout_to_the_object_and_folds_the_log(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    issue = world.file_issue()

    code, out, err = run(world, cli, capsys, "--issue", str(issue.number), "--json")

    assert code == 0
    (row,) = json.loads(out)["results"]  # the group markers went to stderr
    [pull] = world.pulls()
    assert (row["issue"], row["outcome"], row["pull_number"]) == (issue.number, "pr-opened", pull["number"])
    assert row["branch"] == f"crashfix/{row['signature_id']}" and row["attempts"] >= 1
    assert err.startswith(f"::group::crashbot fix #{issue.number}\n") and "::endgroup::\n" in err


def test_fix_cli_untrusted_issue_exits_zero_with_one_log_line_and_no_output(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    genuine = world.file_issue()
    forged = world.file_issue(client=world.client("mallory-token"), body=genuine.body)
    world.standin.clear_requests()

    code, out, err = run(world, cli, capsys, "--issue", str(forged.number))

    assert code == 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "not acting on it" in err
    assert world.standin.writes() == []
    assert not summary.exists()


def test_fix_cli_engine_override_none_posts_the_analysis_and_an_honest_no_fix(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue = world.file_issue()

    code, out, _ = run(world, cli, capsys, "--issue", str(issue.number), "--engine", "none")

    assert code == 0 and "abstained" in out
    assert world.pulls() == []
    assert len(world.comments(issue.number)) == 2


def test_fix_cli_missing_signing_key_is_a_config_error(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_SIGNING_KEY")

    code, _, err = run(world, cli, capsys, "--issue", "1")

    assert code == 2 and "TEST_SIGNING_KEY" in err


def test_fix_cli_dirty_workspace_is_refused_before_anything_happens(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue = world.file_issue()
    (world.workspace / "notes.txt").write_text("mine", encoding="utf-8")
    world.standin.clear_requests()

    code, _, err = run(world, cli, capsys, "--issue", str(issue.number))

    assert code == 2 and "notes.txt" in err
    assert world.standin.requests == []
    assert (world.workspace / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_fix_cli_max_needs_pending(world: World, cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(world, cli, capsys, "--issue", "1", "--max", "2")
    assert code == 2 and "--max applies to --pending only" in err


# -- --pending ---------------------------------------------------------------------------------------


def test_fix_cli_pending_sweeps_unhandled_uploader_issues_oldest_first_up_to_the_cap(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = world.file_issue(signature_id="aaaa00000001")
    foreign = world.file_issue(
        client=world.client("mallory-token"), body=first.body, signature_id="bbbb00000002"
    )
    second = world.file_issue(signature_id="cccc00000003")
    third = world.file_issue(signature_id="dddd00000004")

    code, out, _ = run(world, cli, capsys, "--pending")

    assert code == 0
    worked = [line.split()[2] for line in out.splitlines()]
    assert worked == [f"#{first.number}", f"#{second.number}"]  # fix.pending_cap = 2, oldest first
    assert "crash-fix-attempted" not in world.issue_labels(foreign.number)
    assert "crash-fix-attempted" not in world.issue_labels(third.number)

    code, out, _ = run(world, cli, capsys, "--pending", "--max", "5")

    assert code == 0
    assert [line.split()[2] for line in out.splitlines()] == [f"#{third.number}"]
    assert len(world.pulls()) == 3


def test_fix_cli_pending_with_nothing_to_do_writes_a_short_summary(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    code, out, _ = run(world, cli, capsys, "--pending")

    assert code == 0 and out == ""
    assert "No crash issue needed work." in summary.read_text(encoding="utf-8")


# -- the push token ----------------------------------------------------------------------------------


class _Minter:
    """A stand-in for a client that can mint an installation token (declared attributes only)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def installation_token(self) -> str:
        return self.token


def _config(**github: object) -> Config:
    return Config(github=GitHubSettings(**github), fix=FixSettings())  # type: ignore[arg-type]


def test_push_token_prefers_the_explicit_push_token_variable() -> None:
    env = {"CRASHBOT_PUSH_TOKEN": "p", "CRASHBOT_TOKEN": "t"}
    assert push_token(_config(), object(), env) == "CRASHBOT_PUSH_TOKEN"


def test_push_token_falls_back_to_the_api_token_variable() -> None:
    assert push_token(_config(), object(), {"GITHUB_TOKEN": "t"}) == "GITHUB_TOKEN"
    assert push_token(_config(), object(), {}) is None


def test_push_token_with_app_auth_mints_into_the_given_env_only() -> None:
    env: dict[str, str] = {}

    name = push_token(_config(app_id="1", app_installation_id="2"), _Minter("ghs_minted"), env)

    assert name == "CRASHBOT_PUSH_TOKEN" and env == {"CRASHBOT_PUSH_TOKEN": "ghs_minted"}


def test_push_token_with_app_auth_and_no_way_to_mint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="installation token"):
        push_token(_config(app_id="1", app_installation_id="2"), object(), {})


def test_fix_cli_workspace_without_the_push_remote_is_a_config_error(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(world.workspace, "remote", "remove", "origin")

    code, _, err = run(world, cli, capsys, "--issue", "1")

    assert code == 2 and "no git remote 'origin'" in err
