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
from tests.fix.pipeline_world import FIX_DIFF, KEY, REPO, UPLOADER, World, make_world, sig_branch
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


def test_fix_cli_pushes_to_the_repository_github_names_whatever_the_checkouts_remotes_are(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix.push_remote was only checked to exist (a workspace without 'origin' was refused) while the
    branch went to the API's clone_url all along; the setting is gone and so is the refusal."""
    git(world.workspace, "remote", "remove", "origin")
    issue = world.file_issue()

    code, out, _ = run(world, cli, capsys, "--issue", str(issue.number))

    assert code == 0 and "pr-opened" in out
    [pull] = world.pulls()
    assert pull["head"]["ref"].startswith("crashfix/")


def test_fix_cli_an_old_config_with_fix_push_remote_loads_with_one_warning(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.write_text(cli.read_text(encoding="utf-8") + 'push_remote = "upstream"\n', encoding="utf-8")
    issue = world.file_issue()

    code, out, err = run(world, cli, capsys, "--issue", str(issue.number))

    assert code == 0 and "pr-opened" in out
    [warning] = [line for line in err.splitlines() if "push_remote" in line]
    assert "config key 'fix.push_remote' is no longer used" in warning
    assert "delete it from crashbot.toml" in warning


# -- --phase prepare | work | publish ------------------------------------------------------------------
#
# In process here (the replay engine, the world's tiny build); tests/fix/test_fix_phases_e2e.py runs them as
# three processes with a real build and hostile code. The environment of each phase is what the workflow's
# step gives it: the work phase gets no GitHub token and no signing key.


def _phases(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    handoff: Path,
    *selection: str,
) -> list[tuple[int, str, str]]:
    done = []
    for phase in ("prepare", "work", "publish"):
        with monkeypatch.context() as step:
            if phase == "work":  # the untrusted step: neither the GitHub token nor the signing key
                step.delenv("CRASHBOT_TOKEN")
                step.delenv("TEST_SIGNING_KEY")
            done.append(run(world, cli, capsys, "--phase", phase, "--handoff", str(handoff), *selection))
    return done


def test_fix_cli_three_phases_open_the_same_pr_one_process_would(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    issue = world.file_issue()

    (p_code, p_out, _), (w_code, w_out, _), (u_code, u_out, _) = _phases(
        world, cli, capsys, monkeypatch, tmp_path / "handoff", "--issue", str(issue.number)
    )

    assert (p_code, w_code, u_code) == (0, 0, 0)
    assert f"#{issue.number} prepared" in p_out
    assert f"#{issue.number} 1 attempt(s), last built" in w_out
    assert f"#{issue.number} pr-opened" in u_out
    [pull] = world.pulls()
    assert pull["head"]["ref"] == sig_branch()
    assert world.remote_log(sig_branch())[0].startswith("crashbot-fixer[bot]|")
    assert "crash-fix-attempted" in world.issue_labels(issue.number)


def test_fix_cli_three_phases_sweep_every_prepared_issue(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    first = world.file_issue(signature_id="aaaa00000001")
    second = world.file_issue(signature_id="cccc00000003")

    results = _phases(world, cli, capsys, monkeypatch, tmp_path / "handoff", "--pending")

    assert [code for code, _, _ in results] == [0, 0, 0]
    published = results[2][1]
    assert f"#{first.number} pr-opened" in published and f"#{second.number} pr-opened" in published
    assert len(world.pulls()) == 2


def test_fix_cli_publish_with_nothing_prepared_for_the_issue_does_nothing(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """prepare stopped at the issue (here: not the uploader's): publish has nothing to do, and says nothing."""
    issue = world.file_issue(client=world.client("mallory-token"))
    handoff = str(tmp_path / "handoff")
    assert (
        run(world, cli, capsys, "--phase", "prepare", "--handoff", handoff, "--issue", str(issue.number))[0]
        == 0
    )
    world.standin.clear_requests()

    code, out, _ = run(world, cli, capsys, "--phase", "publish", "--handoff", handoff, "--pending")
    code_issue, out_issue, _ = run(
        world, cli, capsys, "--phase", "publish", "--handoff", handoff, "--issue", str(issue.number)
    )

    assert (code, out, code_issue, out_issue) == (0, "", 0, "")
    assert world.standin.writes() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--phase", "prepare"], "--phase prepare needs --handoff DIR"),
        (["--phase", "work"], "--phase work needs --handoff DIR"),
        (["--handoff", "somewhere"], "--handoff needs --phase prepare, work or publish"),
        (["--phase", "publish", "--handoff", "missing"], "does not exist; run --phase prepare first"),
    ],
)
def test_fix_cli_phase_and_handoff_go_together(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(world, cli, capsys, *argv, "--issue", "1")

    assert code == 2 and message in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_fix_cli_prepare_refuses_a_handoff_directory_an_earlier_run_left(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An earlier run's sealed tickets would verify again: prepare starts only on an empty directory."""
    stale = tmp_path / "handoff" / "7"
    stale.mkdir(parents=True)

    code, _, err = run(
        world, cli, capsys, "--phase", "prepare", "--handoff", str(stale.parent), "--issue", "1"
    )

    assert code == 2 and "not an empty directory" in err


@pytest.mark.parametrize("held", ["TEST_SIGNING_KEY", "CRASHBOT_TOKEN", "CRASHBOT_PUSH_TOKEN"])
def test_fix_cli_work_refuses_to_start_holding_a_crashbot_secret(
    world: World,
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    held: str,
) -> None:
    monkeypatch.delenv("CRASHBOT_TOKEN")
    monkeypatch.delenv("TEST_SIGNING_KEY")
    monkeypatch.setenv(held, "a-value-that-must-not-be-here")
    (tmp_path / "handoff").mkdir()

    code, out, err = run(
        world, cli, capsys, "--phase", "work", "--handoff", str(tmp_path / "handoff"), "--pending"
    )

    assert code == 2 and out == ""
    assert f"holds {held}" in err and "a-value-that-must-not-be-here" not in err


def _forge_result(handoff: Path, issue: int, diff: str) -> None:
    """The work step as the attacker: a result claiming that ``diff`` built."""
    attempt = {
        **{"number": 1, "step": "built", "detail": "built", "diff": diff, "reasoning": "", "model": "m"},
        **{"log_tail": "", "engine_s": 0.0, "build_s": 0.0, "tests_ok": True, "diagnostics": []},
    }
    usage = {"engine_s": 0.0, "build_s": 0.0, "tokens": 0, "model": "m"}
    result = {"attempts": [attempt], "usage": usage, "tokens_before": 0}
    (handoff / str(issue) / "attempts.json").write_text(json.dumps(result), encoding="utf-8")


WORKFLOW_DIFF = "--- /dev/null\n+++ b/.github/workflows/pwn.yml\n@@ -0,0 +1,1 @@\n+on: push\n"
WIDER = 'allow_protected_paths = [".github/workflows/pwn.yml"]\nallowed_paths = [".github/"]\n'


def test_fix_cli_publish_uses_prepare_s_configuration_not_the_checkout_s_rewritten_one(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The work step can write the checkout's crashbot.toml: a wider allow-list written there, and a
    result claiming a patch to the workflows, get the patch rejected by prepare's rules."""
    issue = world.file_issue()
    handoff = tmp_path / "handoff"
    assert (
        run(
            world, cli, capsys, "--phase", "prepare", "--handoff", str(handoff), "--issue", str(issue.number)
        )[0]
        == 0
    )
    _forge_result(handoff, issue.number, WORKFLOW_DIFF)
    cli.write_text(cli.read_text(encoding="utf-8") + WIDER, encoding="utf-8")

    code, out, _ = run(
        world, cli, capsys, "--phase", "publish", "--handoff", str(handoff), "--issue", str(issue.number)
    )

    assert code == 0 and f"#{issue.number} rejected" in out
    assert world.pulls() == [] and "crashfix/" not in git(world.remote, "branch", "--list")


def test_fix_cli_publish_refuses_a_configuration_that_is_not_prepare_s(
    world: World, cli: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The copy in the handoff directory rewritten (only unsandboxed code could reach it): the sealed
    ticket names prepare's configuration, and publish writes nothing."""
    issue = world.file_issue()
    handoff = tmp_path / "handoff"
    assert (
        run(
            world, cli, capsys, "--phase", "prepare", "--handoff", str(handoff), "--issue", str(issue.number)
        )[0]
        == 0
    )
    _forge_result(handoff, issue.number, WORKFLOW_DIFF)
    kept = handoff / "crashbot.toml"
    kept.write_text(kept.read_text(encoding="utf-8") + WIDER, encoding="utf-8")
    world.standin.clear_requests()

    code, out, _ = run(
        world, cli, capsys, "--phase", "publish", "--handoff", str(handoff), "--issue", str(issue.number)
    )

    assert code == 1 and "configuration changed between prepare and publish" in out
    assert world.standin.writes() == []
