"""``crashbot init`` into a real empty git repository: every file it writes is checked by the tools that
matter (the config loader, check-jsonschema, zizmor, bash + crashbot's own argument parser)."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import subprocess
import sys
import tomllib
import typing
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; responses depends on it

from bot import init
from bot.cli import build_parser, main
from bot.config import Config, FixSettings, from_mapping, load
from bot.errors import UsageError
from tests.gitutil import git

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHA = "0123456789abcdef0123456789abcdef01234567"
WORKFLOW_FILES = (init.LOCAL_FIX, init.LOCAL_DEPLOY, init.CALLER_FIX, init.CALLER_DEPLOY, init.GUARD)
ALL_FILES = (init.CONFIG_FILE, *WORKFLOW_FILES)
# Values a `run:` step's env may take, to drive every branch of its bash; other env vars get SAMPLE_ENV.
VARIANTS = {
    "ISSUE_NUMBER": ("17", ""),
    "ENGINE": ("", "anthropic"),
    "ROLLBACK": ("false", "true"),
}
SAMPLE_ENV = {
    "GITHUB_REPOSITORY": "acme/worldserver",
    "GITHUB_API_URL": "https://api.github.com",
    "GITHUB_WORKSPACE": "/runner/_work/worldserver/worldserver",
    "RUNNER_TEMP": "/runner/_work/_temp",
    "REALM": "main",
    "DEPLOY_REF": SHA,
    "CRASHBOT_CONFIG": "crashbot.toml",
}


@pytest.fixture
def server_repo(tmp_path: Path) -> Path:
    """An empty server checkout whose origin is a GitHub repository."""
    repo = tmp_path / "TrinityCore"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", "https://github.com/acme/worldserver.git")
    return repo


def run_init(repo: Path, *extra: str) -> int:
    return main(["init", "--repo-dir", str(repo), *extra])


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN))
    if found is None:
        pytest.skip(f"{name} is not installed next to {sys.executable} (pip install -e '.[dev]')")
    return found


# ---------------------------------------------------------------------------------------------------
# what gets written


def test_init_empty_repo_writes_config_and_four_workflows(server_repo: Path, capsys: Any) -> None:
    assert run_init(server_repo) == 0

    for path in ALL_FILES:
        assert (server_repo / path).is_file(), path
    out = capsys.readouterr().out
    assert "acme/worldserver" in out
    assert "Next steps" in out


def test_init_config_parses_into_config_with_detected_repo(server_repo: Path) -> None:
    run_init(server_repo)

    config = load(server_repo / "crashbot.toml", env={})

    assert isinstance(config, Config)
    assert config.github.repo == "acme/worldserver"
    assert config.uploader.crash_dirs == ()
    assert config.fix.api_key_env == "CRASHBOT_ENGINE_API_KEY"


def test_init_crash_folder_in_tree_is_filled_in(server_repo: Path) -> None:
    crashes = server_repo / "bin" / "RelWithDebInfo" / "Crashes"
    crashes.mkdir(parents=True)
    run_init(server_repo)

    config = load(server_repo / "crashbot.toml", env={})

    assert config.uploader.crash_dirs == (str(crashes.resolve()),)


def test_init_workflows_pass_check_jsonschema(server_repo: Path) -> None:
    run_init(server_repo)
    files = [str(server_repo / p) for p in WORKFLOW_FILES]

    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        check=False,
        capture_output=True,
        text=True,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_init_workflows_have_no_zizmor_findings(server_repo: Path, persona: str) -> None:
    run_init(server_repo)

    proc = zizmor(server_repo, persona)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def zizmor(repo: Path, persona: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--no-config",
            "--persona",
            persona,
            str(repo / ".github" / "workflows"),
        ],
        cwd=repo,
        check=False,
        capture_output=True,
        text=True,
    )


def test_init_callers_use_self_repository_form(server_repo: Path) -> None:
    run_init(server_repo)

    fix = yaml.safe_load((server_repo / init.CALLER_FIX).read_text(encoding="utf-8"))
    deploy = yaml.safe_load((server_repo / init.CALLER_DEPLOY).read_text(encoding="utf-8"))

    assert fix["jobs"]["fix"]["uses"] == "$/.github/workflows/crashbot-fix.yml"
    assert deploy["jobs"]["deploy"]["uses"] == "$/.github/workflows/crashbot-deploy.yml"


def test_init_deploy_caller_watches_sources_on_default_branch(server_repo: Path) -> None:
    run_init(server_repo, "--default-branch", "3.3.5")

    deploy = yaml.safe_load((server_repo / init.CALLER_DEPLOY).read_text(encoding="utf-8"))
    push = deploy[True]["push"]  # YAML 1.1 reads the key `on` as True

    assert push["branches"] == ["3.3.5"]
    assert push["paths"] == ["src/**", "dep/**", "cmake/**", "CMakeLists.txt"]


def test_init_repo_with_modules_deploys_on_module_changes(server_repo: Path) -> None:
    (server_repo / "modules").mkdir()
    run_init(server_repo)

    deploy = yaml.safe_load((server_repo / init.CALLER_DEPLOY).read_text(encoding="utf-8"))

    assert "modules/**" in deploy[True]["push"]["paths"]


def test_init_default_branch_comes_from_origin_head(server_repo: Path) -> None:
    git(server_repo, "update-ref", "refs/remotes/origin/master", git_empty_commit(server_repo))
    git(server_repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/master")

    facts = init.detect(server_repo, env=os.environ)

    assert facts.default_branch == "master"


def git_empty_commit(repo: Path) -> str:
    tree = git(repo, "mktree", "--missing", stdin="")  # the empty tree, from empty input
    return git(repo, "commit-tree", tree, "-m", "root", author="t <t@example.invalid>")


# ---------------------------------------------------------------------------------------------------
# every `crashbot …` command line inside the workflows


def run_steps(repo: Path) -> list[tuple[str, dict[str, str], str]]:
    """(workflow file, step env, run script) of every bash step that invokes $CRASHBOT."""
    found = []
    for path in WORKFLOW_FILES:
        doc = yaml.safe_load((repo / path).read_text(encoding="utf-8"))
        for job in doc.get("jobs", {}).values():
            for step in job.get("steps", []):
                if "$CRASHBOT" in step.get("run", ""):
                    assert step.get("shell") == "bash", f"{path}: crashbot steps are bash (args arrays)"
                    found.append((str(path), dict(step.get("env", {})), step["run"]))
    return found


def expand(script: str, env: dict[str, str], tmp: Path) -> list[str]:
    """Run the step's bash with $CRASHBOT as a recording function; return the argv crashbot would get."""
    out = tmp / "argv"
    recorder = 'record() { printf "%s\\0" "$@" > "$CRASHBOT_ARGV_OUT"; }\n'
    proc = subprocess.run(
        ["bash", "-c", recorder + script],
        env={**os.environ, **env, "CRASHBOT": "record", "CRASHBOT_ARGV_OUT": str(out)},
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out.read_text(encoding="utf-8").split("\0")[:-1]


def scenarios(step_env: dict[str, str]) -> list[dict[str, str]]:
    names = [n for n in VARIANTS if n in step_env]
    combos = itertools.product(*(VARIANTS[n] for n in names))
    base = {name: SAMPLE_ENV.get(name, "sample") for name in step_env}
    return [{**base, **SAMPLE_ENV, **dict(zip(names, combo, strict=True))} for combo in combos]


def test_init_every_crashbot_command_line_is_accepted_by_the_cli_parser(
    server_repo: Path, tmp_path: Path
) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed (the workflow steps are bash)")
    run_init(server_repo)
    steps = run_steps(server_repo)
    parser = build_parser()
    subcommands = set()

    for path, step_env, script in steps:
        for env in scenarios(step_env):
            argv = expand(script, env, tmp_path)
            try:
                args = parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"{path}: crashbot rejects {argv} (env {env})")
            subcommands.add(args.command)

    assert subcommands == {"fix", "deploy"}


def test_init_fix_steps_sweep_without_an_issue_and_fix_one_with_it(server_repo: Path, tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed (the workflow steps are bash)")
    run_init(server_repo)
    steps = [s for s in run_steps(server_repo) if s[0] == str(init.LOCAL_FIX)]
    parser = build_parser()

    phases = []
    for _, step_env, script in steps:
        with_issue = parser.parse_args(
            expand(script, {**step_env, **SAMPLE_ENV, "ISSUE_NUMBER": "17", "ENGINE": ""}, tmp_path)
        )
        sweep = parser.parse_args(
            expand(script, {**step_env, **SAMPLE_ENV, "ISSUE_NUMBER": "", "ENGINE": ""}, tmp_path)
        )
        assert (with_issue.issue, with_issue.pending) == (17, False)
        assert (sweep.issue, sweep.pending) == (None, True)
        assert with_issue.handoff == "/runner/_work/_temp/crashbot-fix"
        phases.append(with_issue.phase)
        if with_issue.phase != "work":
            assert with_issue.repo == "acme/worldserver"

    assert phases == ["prepare", "work", "publish"]


def test_init_fix_steps_hold_only_the_secrets_their_phase_needs(server_repo: Path) -> None:
    """The work step runs untrusted code: the engine's key is the one secret in its environment; the
    trusted steps around it hold the App key and the signing key."""
    run_init(server_repo)
    secrets = {
        script.split("--phase ", 1)[1].split()[0]: {
            name for name, value in step_env.items() if "secrets." in str(value)
        }
        for path, step_env, script in run_steps(server_repo)
        if path == str(init.LOCAL_FIX)
    }

    assert secrets == {
        "prepare": {"CRASHBOT_APP_PRIVATE_KEY", "CRASHBOT_SIGNING_KEY"},
        "work": {"CRASHBOT_ENGINE_API_KEY"},
        "publish": {"CRASHBOT_APP_PRIVATE_KEY", "CRASHBOT_SIGNING_KEY"},
    }


# ---------------------------------------------------------------------------------------------------
# never clobber; --force; --uses-remote


def test_init_rerun_without_force_skips_existing_files(server_repo: Path, capsys: Any) -> None:
    run_init(server_repo)
    edited = server_repo / "crashbot.toml"
    edited.write_text('[github]\nrepo = "mine/edited"\n', encoding="utf-8")
    capsys.readouterr()

    assert run_init(server_repo) == 0

    assert edited.read_text(encoding="utf-8") == '[github]\nrepo = "mine/edited"\n'
    out = capsys.readouterr().out
    for path in ALL_FILES:
        assert f"skipped     {path}" in out


def test_init_rerun_with_force_overwrites(server_repo: Path, capsys: Any) -> None:
    run_init(server_repo)
    (server_repo / "crashbot.toml").write_text("# mine\n", encoding="utf-8")
    capsys.readouterr()

    assert run_init(server_repo, "--force") == 0

    assert load(server_repo / "crashbot.toml", env={}).github.repo == "acme/worldserver"
    assert "overwrote   crashbot.toml" in capsys.readouterr().out


def test_init_uses_remote_points_callers_at_pinned_sha_and_copies_nothing(server_repo: Path) -> None:
    assert run_init(server_repo, "--uses-remote", f"acme/crashbot@{SHA}") == 0

    fix = yaml.safe_load((server_repo / init.CALLER_FIX).read_text(encoding="utf-8"))
    assert fix["jobs"]["fix"]["uses"] == f"acme/crashbot/.github/workflows/crash-fix.yml@{SHA}"
    assert not (server_repo / init.LOCAL_FIX).exists()
    assert not (server_repo / init.LOCAL_DEPLOY).exists()
    proc = zizmor(server_repo, "auditor")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "value", ["acme/crashbot@v1", "acme/crashbot", f"crashbot@{SHA}", f"acme/crashbot@{SHA[:12]}"]
)
def test_init_uses_remote_without_full_sha_is_refused(server_repo: Path, value: str, capsys: Any) -> None:
    assert run_init(server_repo, "--uses-remote", value) == 2

    assert "--uses-remote" in capsys.readouterr().err
    assert not (server_repo / "crashbot.toml").exists()


def test_init_missing_repo_dir_is_a_usage_error(tmp_path: Path, capsys: Any) -> None:
    assert run_init(tmp_path / "nope") == 2

    assert "is not a directory" in capsys.readouterr().err


def test_init_branch_name_that_is_not_plain_is_refused(server_repo: Path) -> None:
    with pytest.raises(UsageError, match="default branch"):
        init.detect(server_repo, env=os.environ, default_branch="main branch")


def test_init_plain_folder_gets_defaults_and_a_note(tmp_path: Path) -> None:
    facts = init.detect(tmp_path, env=os.environ)

    assert (facts.repo, facts.default_branch) == ("", "main")
    assert any("not a git checkout" in note for note in facts.notes)


# ---------------------------------------------------------------------------------------------------
# the next steps


def test_init_next_steps_name_every_permission_secret_variable_and_label(server_repo: Path) -> None:
    text = init.next_steps(init.detect(server_repo, env=os.environ))

    for needed in (
        "Issues: Read and write",
        "Contents: Read and write",
        "Pull requests: Read and write",
        "Deployments: Read and write",
        "Metadata: Read-only",
        "GITHUB_TOKEN",
        "CRASHBOT_APP_PRIVATE_KEY",
        "CRASHBOT_SIGNING_KEY",
        "CRASHBOT_ENGINE_API_KEY",
        "CRASHBOT_SOAP_PASSWORD",
        "CRASHBOT_UPLOADER_LOGIN",
        "CRASHBOT_FIX_RUNNER_LABEL",
        "CRASHBOT_REALMS",
        "crashbot-fix",
        "crashfix-review",
        "realm-<name>",
        "private",
        "secrets.token_hex(32)",
    ):
        assert needed in text, needed


def test_init_next_steps_signing_key_command_prints_a_long_enough_key() -> None:
    command = init.SIGNING_KEY_COMMAND.removeprefix("python -c ").strip('"')

    key = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, check=True).stdout

    assert len(key.strip().encode()) >= 32


# ---------------------------------------------------------------------------------------------------
# the templates themselves


def field_paths(cls: type, prefix: str = "") -> set[str]:
    paths = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            paths |= field_paths(hint, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        else:
            paths.add(f"{prefix}{f.name}")
    return paths


def table_paths(table: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in table.items():
        if isinstance(value, dict) and key not in ("path_prefix_map",):
            paths |= table_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


EMPTY_FACTS = init.RepoFacts(repo="", default_branch="main", has_modules=False, crash_dirs=())


def test_config_template_lists_every_setting() -> None:
    table = tomllib.loads(init.render_config(EMPTY_FACTS))

    assert table_paths(table) == field_paths(Config)


def test_config_template_values_are_the_defaults_except_the_engine_key_and_the_core_prompt() -> None:
    rendered = from_mapping(tomllib.loads(init.render_config(EMPTY_FACTS)))

    # the fix workflow maps secret CRASHBOT_ENGINE_API_KEY onto this env var; the code default is ""
    expected = dataclasses.replace(Config(), fix=FixSettings(api_key_env="CRASHBOT_ENGINE_API_KEY"))
    # the code default accepts every core's RA prompt; the TrinityCore profile names its own
    ra = dataclasses.replace(expected.deploy.ra, prompt_regex=r"TC>\s*$")
    expected = dataclasses.replace(expected, deploy=dataclasses.replace(expected.deploy, ra=ra))
    assert rendered == expected


def test_config_template_comments_every_setting() -> None:
    lines = init.template_text("crashbot.toml").splitlines()

    for i, line in enumerate(lines):
        if line and not line.startswith(("#", "[")) and "=" in line:
            assert lines[i - 1].startswith("#"), f"line {i + 1} has no comment above it: {line}"


def test_config_template_holds_no_secret_values() -> None:
    table = tomllib.loads(init.render_config(EMPTY_FACTS))

    def secrets(t: dict[str, Any]) -> list[str]:
        found = []
        for key, value in t.items():
            if isinstance(value, dict):
                found += secrets(value)
            elif key.endswith(("password", "secret", "key", "token")):  # a value, not a *_env name
                found.append(key)
        return found

    assert secrets(table) == []


@pytest.mark.parametrize("name", ["crash-fix.yml", "crash-deploy.yml", "crash-dashboard.yml"])
def test_packaged_reusable_workflows_are_exact_copies_of_the_repository_ones(name: str) -> None:
    packaged = init.template_text("workflows", "reusable", name)

    assert packaged == (REPO_ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("url", "repo"),
    [
        ("https://github.com/acme/worldserver.git", "acme/worldserver"),
        ("https://github.com/acme/worldserver", "acme/worldserver"),
        ("git@github.com:acme/worldserver.git", "acme/worldserver"),
        ("ssh://git@github.com/acme/worldserver.git", "acme/worldserver"),
        ("https://ghe.example.com/acme/worldserver.git", "acme/worldserver"),
        ("/srv/git/worldserver.git", ""),
        ("C:/git/worldserver.git", ""),
        ("https://github.com/acme", ""),
        ("", ""),
    ],
)
def test_repo_from_remote_url(url: str, repo: str) -> None:
    assert init.repo_from_remote_url(url) == repo


def test_plan_paths_are_relative_posix_paths() -> None:
    for item in init.plan(EMPTY_FACTS):
        assert isinstance(item.path, PurePosixPath)
        assert not item.path.is_absolute()


def test_init_writes_the_dashboard_workflow_one_writer_at_a_time(server_repo: Path) -> None:
    assert run_init(server_repo) == 0
    caller = yaml.safe_load((server_repo / init.CALLER_DASHBOARD).read_text(encoding="utf-8"))
    reusable = yaml.safe_load((server_repo / init.LOCAL_DASHBOARD).read_text(encoding="utf-8"))
    assert caller["permissions"] == {} and reusable["permissions"] == {}
    assert caller["jobs"]["dashboard"]["uses"] == f"$/{init.LOCAL_DASHBOARD}"
    # YAML reads the bare key `on` as True
    assert {"schedule", "workflow_dispatch", "issues"} <= set(caller[True])
    # a dashboard edit reaches only the rerun job, and only from a person, on the dashboard issue
    rerun = caller["jobs"]["rerun"]
    assert "github.event.sender.type != 'Bot'" in rerun["if"] and "'crash-dashboard'" in rerun["if"]
    assert caller["jobs"]["dashboard"]["if"] == "github.event_name != 'issues'"
    assert "concurrency" not in reusable["jobs"]["rerun"]  # it writes no issue
    job = reusable["jobs"]["dashboard"]
    assert job["concurrency"] == {"group": "crash-dashboard", "cancel-in-progress": False}
    assert job["permissions"] == {"contents": "read"}
    # the uploader dispatches the caller by this file name
    from bot.uploader.trigger import DEFAULT_WORKFLOW

    assert init.CALLER_DASHBOARD.name == DEFAULT_WORKFLOW
