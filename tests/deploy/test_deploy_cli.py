"""``crashbot deploy`` as an operator or the crash-deploy workflow runs it.

Real git checkouts, the real fix build (its build command here writes the fake worldserver script the
other deploy tests use, so no compiler is needed), the real process backend and SOAP stop, and the
loopback GitHub stand-in; the compiled C++ server is in ``test_deploy_e2e.py``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import cli
from bot.config import GitHubSettings
from bot.deploy.process import ProcessControl
from bot.deploy.releases import Releases, read_record
from bot.github import GitHubClient, connect
from bot.standin import StandIn
from bot.vocabulary import deploy_marker
from tests.deploy.conftest import FAKE_SERVER, SOAP_ENV, free_port, must, posix_only
from tests.gitutil import git

pytestmark = [posix_only]

REPO = "acme/worldserver"
TOKEN = "ghp_deployer"
# The "compiler": turns the checkout's mode.json into the fake worldserver plus its build-info.json.
BUILD_SCRIPT = textwrap.dedent(
    """
    import json, stat, sys
    from pathlib import Path
    source, build_dir, server = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    info = json.loads((source / "mode.json").read_text())
    if info["mode"] == "syntax-error":
        print(f"{source}/src/World.cpp:12:5: error: expected ';' before 'return'")
        sys.exit(1)
    out = build_dir / "bin"
    out.mkdir(parents=True, exist_ok=True)
    exe = out / "worldserver"
    exe.write_text(f"#!{sys.executable}\\n" + server.read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    (out / "build-info.json").write_text(json.dumps(info))
    if "debug_file" in info:  # an unstripped binary with a GNU build-id, for the symbol store
        (out / "worldserver.debug").write_bytes(Path(info["debug_file"]).read_bytes())
    """
)


@dataclass
class Host:
    """A realm host: the server checkout, the install dir, the config, and the stand-in GitHub."""

    root: Path
    source: Path
    install: Path
    config: Path
    standin: StandIn
    gh: GitHubClient

    def commit_mode(self, version: str, mode: str = "ok", *, push: bool = True) -> str:
        (self.source / "mode.json").write_text(json.dumps({"version": version, "mode": mode}))
        git(self.source, "commit", "-qam", f"{version} ({mode})")
        if push:
            git(self.source, "push", "-q", "origin", "main")
        return git(self.source, "rev-parse", "HEAD")

    def deploy(self, *args: str, github: bool = True) -> int:
        argv = ["--config", str(self.config), "deploy", "--source", str(self.source), *args]
        if github:
            argv += ["--repo", REPO, "--api-url", self.standin.api_url]
        return cli.main(argv)

    def events(self) -> list[str]:
        path = self.install / "events.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def live_sha(self) -> str:
        return must(Releases(self.install).live()).sha

    def merged_fix(self, issue_number: int, version: str) -> str:
        """A crashfix branch changing the server to ``version``, merged through a PR that says Fixes #N."""
        git(self.source, "checkout", "-qb", "crashfix/abc123")
        self.commit_mode(version, push=False)
        git(self.source, "push", "-q", "origin", "crashfix/abc123")
        pull = self.gh.create_pull(
            "crashfix/abc123", "main", "Fix the whisper crash", f"Fixes #{issue_number}"
        )
        merged = self.gh.merge_pull(pull.number)
        assert merged.merged
        git(self.source, "checkout", "-q", "main")
        git(self.source, "pull", "-q", "--ff-only", "origin", "main")
        assert git(self.source, "rev-parse", "HEAD") == merged.sha
        return merged.sha


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``cli.main`` points the root logger at the (captured) stderr of the moment; undo that."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    for name, value in {**SOAP_ENV, "CRASHBOT_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("CRASHBOT_CONFIG", raising=False)
    install = tmp_path / "realm"
    install.mkdir()
    port = free_port()
    (install / "fakeserver.json").write_text(
        json.dumps({"soap_port": port, "user": "deployer", "password": "s3cret", "ready_delay_s": 0.1})
    )
    (install / "worldserver.conf").write_text("WorldServerPort = 8085\n")
    build_script = tmp_path / "build_fake.py"
    build_script.write_text(BUILD_SCRIPT)
    config = tmp_path / "crashbot.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [fix]
            build_dir = {json.dumps(str(tmp_path / "build"))}
            build_command = {json.dumps([sys.executable, str(build_script), "{source}", "{build_dir}", str(FAKE_SERVER)])}
            sandbox_read_only = {json.dumps([str(build_script), str(FAKE_SERVER)])}

            [deploy]
            realm = "test-realm"
            build_dir = {json.dumps(str(tmp_path / "deploy-build"))}
            install_dir = {json.dumps(str(install))}
            artifacts = ["worldserver", "build-info.json"]
            shutdown_delay_s = 0
            stop_timeout_s = 5.0
            start_timeout_s = 15.0
            watch_window_s = 0.5
            control_timeout_s = 5.0
            keep_releases = 3

            [deploy.soap]
            port = {port}
            """
        )
    )
    source = tmp_path / "server"
    source.mkdir()
    git(source, "init", "-q")
    (source / "mode.json").write_text(json.dumps({"version": "v1", "mode": "ok"}))
    git(source, "add", ".")
    git(source, "commit", "-qm", "v1")
    with StandIn(tmp_path / "standin") as standin:
        bare = standin.add_repo(REPO)
        standin.add_token(TOKEN, "deployer")
        git(source, "remote", "add", "origin", str(bare))
        git(source, "push", "-q", "origin", "main")
        gh = connect(
            GitHubSettings(),
            env={"CRASHBOT_TOKEN": TOKEN},
            repo=REPO,
            api_url=standin.api_url,
            write_interval_s=0,
        )
        yield Host(tmp_path, source, install, config, standin, gh)
        control = ProcessControl(releases=Releases(install), executable="worldserver", env=os.environ)
        if control.pid() is not None:  # never leave a server behind, even when the test failed
            control.kill()
            control.stop(5.0)


def test_deploy_without_repo_deploys_locally_and_says_so(
    host: Host, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = host.root / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    head = git(host.source, "rev-parse", "HEAD")

    code = host.deploy(github=False)

    out = capsys.readouterr().out
    assert code == 0, out
    assert "deploying locally" in out
    assert "SUCCEEDED" in out and "live now:" in out and head in out
    for step in ("build", "collect", "stop", "activate", "start", "health"):
        assert f"    {step} " in out
    record = must(read_record(host.install))
    assert (record.sha, record.realm) == (head, "test-realm")
    assert host.events()[0].startswith("v1 start")
    markdown = summary.read_text()
    assert markdown.startswith("### ✅ crashbot deploy to test-realm: succeeded")
    assert "| build |" in markdown and f"`{head}`" in markdown
    assert host.standin.deployments(REPO) == []


def test_deploy_v2_stops_gracefully_records_deployment_and_tells_fixed_crash_issue(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    assert host.deploy() == 0
    crash = host.gh.create_issue("Crash: null Player in whisper", "signature abc123", ["crash", "sig:abc123"])
    other = host.gh.create_issue("Typo in the MOTD", "not a crash", [])
    v2 = host.merged_fix(crash.number, "v2")
    capsys.readouterr()

    code = host.deploy("--ref", v2)

    out = capsys.readouterr().out
    assert code == 0, out
    assert "soap, not forced" in out
    assert "v1 exit 0 via soap" in host.events()  # it shut itself down: a killed server writes no exit line
    assert host.live_sha() == v2 == must(read_record(host.install)).sha
    newest = host.standin.deployments(REPO)[0]
    assert (newest["sha"], newest["environment"]) == (v2, "test-realm")
    assert [s["state"] for s in newest["statuses"]] == ["success", "in_progress"]
    [comment] = host.standin.comments(REPO, crash.number)
    assert f"Deployed in {v2} to test-realm" in comment["body"]
    assert deploy_marker("deployed", "test-realm", v2).tag in comment["body"]
    assert "fix-deployed" in host.gh.get_issue(crash.number).labels
    assert host.standin.comments(REPO, other.number) == []
    assert f"told #{crash.number}" in out

    assert host.deploy("--ref", v2) == 0  # a rerun of the same commit repeats no comment
    assert len(host.standin.comments(REPO, crash.number)) == 1


def test_deploy_broken_commit_rolls_back_and_reports_failure(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = git(host.source, "rev-parse", "HEAD")
    assert host.deploy() == 0
    broken = host.commit_mode("v2", "broken")
    capsys.readouterr()

    code = host.deploy("--ref", broken)

    out = capsys.readouterr().out
    assert code == 1, out
    assert "ROLLED-BACK" in out and "rollback:   ok" in out
    assert host.live_sha() == v1
    assert host.events()[-1].startswith("v1 start")
    newest = host.standin.deployments(REPO)[0]
    assert newest["sha"] == broken
    assert newest["statuses"][0]["state"] == "failure"
    assert "rolled back" in newest["statuses"][0]["description"]


def test_deploy_rollback_flag_switches_back_to_the_previous_release(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = git(host.source, "rev-parse", "HEAD")
    assert host.deploy() == 0
    v2 = host.commit_mode("v2")
    assert host.deploy("--ref", v2) == 0
    capsys.readouterr()

    code = host.deploy("--rollback", "--ref", v2)  # the workflow always passes --ref; rollback ignores it

    out = capsys.readouterr().out
    assert code == 0, out
    assert "(rollback)" in out
    assert host.live_sha() == v1
    record = must(read_record(host.install))
    assert (record.sha, record.action) == (v1, "rollback")
    assert "v2 exit 0 via soap" in host.events()
    newest = host.standin.deployments(REPO)[0]
    assert newest["sha"] == v1 and newest["statuses"][0]["state"] == "success"


def test_deploy_older_ref_builds_it_and_puts_the_checkout_back(host: Host) -> None:
    v1 = git(host.source, "rev-parse", "HEAD")
    host.commit_mode("v2")

    assert host.deploy("--ref", v1, github=False) == 0

    assert host.live_sha() == v1
    assert host.events()[0].startswith("v1 start")
    assert git(host.source, "symbolic-ref", "--short", "HEAD") == "main"
    assert json.loads((host.source / "mode.json").read_text())["version"] == "v2"


def test_deploy_build_failure_aborts_with_the_compiler_error_and_leaves_the_server_running(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    assert host.deploy() == 0
    pid = ProcessControl(releases=Releases(host.install), executable="worldserver", env=os.environ).pid()
    bad = host.commit_mode("v2", "syntax-error")
    capsys.readouterr()

    code = host.deploy("--ref", bad)

    out = capsys.readouterr().out
    assert code == 1, out
    assert "ABORTED" in out and "src/World.cpp:12:5" in out and "expected ';'" in out
    assert (
        ProcessControl(releases=Releases(host.install), executable="worldserver", env=os.environ).pid() == pid
    )
    newest = host.standin.deployments(REPO)[0]
    assert newest["sha"] == bad and [s["state"] for s in newest["statuses"]] == ["failure"]


def test_deploy_dirty_checkout_is_refused_before_the_server_is_touched(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    (host.source / "mode.json").write_text(json.dumps({"version": "local", "mode": "ok"}))

    code = host.deploy(github=False)

    out = capsys.readouterr().out
    assert code == 1
    assert "uncommitted changes" in out and "mode.json" in out
    assert host.events() == [] and read_record(host.install) is None


def test_deploy_unknown_ref_is_a_usage_error(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    assert host.deploy("--ref", "no-such-branch", github=False) == 2
    err = capsys.readouterr().err
    assert "'no-such-branch' is not a commit" in err and "Traceback" not in err


def test_deploy_without_install_dir_is_a_config_error(
    host: Host, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("[deploy]\nrealm = 'x'\n")
    code = cli.main(["--config", str(config), "deploy", "--source", str(host.source)])
    assert code == 2
    assert "deploy.install_dir is empty" in capsys.readouterr().err


def test_deploy_keeps_the_builds_debug_files_in_the_symbol_store(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12: with ``[symbols] store`` set, each deploy keeps its build's debug files by revision."""
    from bot.symbols.identity import read_build_id
    from bot.symbols.store import SymbolStore

    elf = Path(sys.executable).resolve()  # any real ELF with a build-id stands for worldserver's
    build_id = read_build_id(elf.read_bytes())
    if build_id is None:
        pytest.skip(f"{elf} has no GNU build-id to store")
    store = host.root / "symbols"
    host.config.write_text(host.config.read_text() + f"\n[symbols]\nstore = {json.dumps(str(store))}\n")
    (host.source / "mode.json").write_text(
        json.dumps({"version": "v2", "mode": "ok", "debug_file": str(elf)})
    )
    git(host.source, "commit", "-qam", "v2 with debug info")
    head = git(host.source, "rev-parse", "HEAD")

    code = host.deploy(github=False)

    out = capsys.readouterr().out
    assert code == 0, out
    assert "    symbols " in out
    releases = SymbolStore(store).releases()
    assert [r.revision for r in releases] == [head]
    assert SymbolStore(store).build_id_path(build_id) is not None


def test_deploy_json_is_one_object_with_the_outcome_and_its_steps(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git(host.source, "rev-parse", "HEAD")

    code = host.deploy("--json", github=False)

    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout is the object alone; the local-only note went to stderr
    assert code == 0
    assert "deploying locally" in captured.err
    assert (result["version"], result["command"], result["status"], result["mode"]) == (
        1,
        "deploy",
        "succeeded",
        "deploy",
    )
    assert result["sha"] == head and result["live"] == result["release"] and result["forced"] is False
    assert [s["name"] for s in result["steps"]][:2] == ["build", "collect"]
    assert all(isinstance(s["duration_s"], float) and s["ok"] for s in result["steps"])
    assert result["health"]["ok"] is True
    assert set(result) == {
        "version", "command", "status", "mode", "sha", "reason", "release", "previous", "live", "forced",
        "steps", "stop", "health", "notes",
    }  # fmt: skip
