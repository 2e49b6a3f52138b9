"""The whole deploy loop with the compiled C++ demo worldserver: ``crashbot deploy`` run as a program.

v1 is built (cmake + g++) and started; a crash issue is fixed by a merged PR on the GitHub stand-in;
deploying the merge stops v1 over SOAP (it exits by itself, it is not killed), v2 goes live and healthy,
the Deployment and the issue comment and label appear; a commit whose server refuses to start is rolled
back to v2 with a failure status and exit code 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import GitHubSettings
from bot.demo import worldserver as demo
from bot.deploy.process import LOG_FILE, ProcessControl
from bot.deploy.releases import Releases, read_record
from bot.github import GitHubClient, connect
from bot.standin import StandIn
from tests.deploy.conftest import must
from tests.gitutil import git

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="builds with make/g++ and stops with POSIX signals"),
    pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake and a C++ compiler"),
]

REPO = "acme/worldserver"
TOKEN = "ghp_deployer"
USER, PASSWORD = "Deployer", "s3cret"
BROKEN_SWITCH = "bool const BrokenRelease = WORLDSERVER_BROKEN_BUILD != 0;"


@dataclass
class Realm:
    root: Path
    source: Path
    install: Path
    config: Path
    env: dict[str, str]
    standin: StandIn
    gh: GitHubClient

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "bot", "--config", str(self.config), "-v", "deploy"]
        argv += ["--source", str(self.source), "--repo", REPO, "--api-url", self.standin.api_url, *args]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=300, check=False)

    def control(self) -> ProcessControl:
        return ProcessControl(releases=Releases(self.install), executable="worldserver", env=os.environ)

    def console(self) -> str:
        return (self.install / LOG_FILE).read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def realm(tmp_path: Path) -> Iterator[Realm]:
    source = demo.copy_source(tmp_path / "server")
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "Import worldserver")
    install = tmp_path / "realm"
    soap_port = demo.free_port()
    demo.write_config(
        install,
        world_port=demo.free_port(),
        soap_port=soap_port,
        ra_port=demo.free_port(),
        user=USER,
        password=PASSWORD,
    )
    config = tmp_path / "crashbot.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [fix]
            build_dir = {json.dumps(str(tmp_path / "build"))}

            [deploy]
            realm = "e2e"
            build_dir = {json.dumps(str(tmp_path / "deploy-build"))}
            install_dir = {json.dumps(str(install))}
            shutdown_delay_s = 1
            stop_timeout_s = 20.0
            start_timeout_s = 30.0
            watch_window_s = 1.0
            control_timeout_s = 5.0

            [deploy.soap]
            port = {soap_port}
            """
        )
    )
    env = {
        **os.environ,
        "CRASHBOT_SOAP_USER": USER,
        "CRASHBOT_SOAP_PASSWORD": PASSWORD,
        "CRASHBOT_TOKEN": TOKEN,
    }
    env.pop("CRASHBOT_CONFIG", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    with StandIn(tmp_path / "standin") as standin:
        bare = standin.add_repo(REPO)
        standin.add_token(TOKEN, "deployer")
        git(source, "remote", "add", "origin", str(bare))
        git(source, "push", "-q", "origin", "HEAD:main")
        gh = connect(GitHubSettings(), env=env, repo=REPO, api_url=standin.api_url, write_interval_s=0)
        realm = Realm(tmp_path, source, install, config, env, standin, gh)
        try:
            yield realm
        finally:
            control = realm.control()
            if control.pid() is not None:  # a failed test must not leave a worldserver running
                control.kill()
                control.stop(10.0)


def test_deploy_real_worldserver_graceful_swap_github_report_and_rollback(realm: Realm) -> None:
    v1 = git(realm.source, "rev-parse", "HEAD")
    first = realm.deploy()
    assert first.returncode == 0, first.stdout + first.stderr
    assert must(read_record(realm.install)).sha == v1
    v1_pid = must(realm.control().pid())

    # a crash issue, fixed by a PR that says so, merged on "GitHub"
    crash = realm.gh.create_issue("Crash in ChatHandler::HandleWhisperCommand", "sig abc", ["crash"])
    git(realm.source, "checkout", "-qb", "crashfix/abc")
    git(realm.source, "apply", str(demo.FIX_PATCH))
    git(realm.source, "commit", "-qam", "Check the whisper target is online")
    git(realm.source, "push", "-q", "origin", "crashfix/abc")
    pull = realm.gh.create_pull("crashfix/abc", "main", "Fix the whisper crash", f"Fixes #{crash.number}")
    v2 = realm.gh.merge_pull(pull.number).sha
    git(realm.source, "checkout", "-q", "-B", "main", "origin/main")
    git(realm.source, "pull", "-q", "--ff-only", "origin", "main")

    second = realm.deploy("--ref", v2)

    out = second.stdout
    assert second.returncode == 0, out + second.stderr
    assert "stop:       soap, not forced" in out
    console = realm.console()
    assert "server shutdown 1 Restarting to deploy a crash fix" in console  # the command reached v1 ...
    assert "Worldserver stopped with exit code 0." in console  # ... and v1 exited by itself
    v2_pid = must(realm.control().pid())
    assert v2_pid != v1_pid
    assert must(Releases(realm.install).live()).sha == v2 == must(read_record(realm.install)).sha
    assert "health:     ok: ready after" in out
    newest = realm.standin.deployments(REPO)[0]
    assert (newest["sha"], newest["environment"]) == (v2, "e2e")
    assert [s["state"] for s in newest["statuses"]] == ["success", "in_progress"]
    [comment] = realm.standin.comments(REPO, crash.number)
    assert f"Deployed in {v2} to e2e" in comment["body"]
    assert "fix-deployed" in realm.gh.get_issue(crash.number).labels

    # a commit whose server refuses to start: rolled back, v2 runs again
    startup = realm.source / "src" / "server" / "worldserver" / "StartupCheck.cpp"
    startup.write_text(startup.read_text().replace(BROKEN_SWITCH, "bool const BrokenRelease = true;"))
    git(realm.source, "commit", "-qam", "Require the new world DB structure")
    git(realm.source, "push", "-q", "origin", "main")
    broken = git(realm.source, "rev-parse", "HEAD")

    third = realm.deploy("--ref", broken)

    assert third.returncode == 1, third.stdout + third.stderr
    assert "ROLLED-BACK" in third.stdout and "rollback:   ok" in third.stdout
    assert "World database version mismatch" in third.stdout  # the failed release's last words
    assert must(Releases(realm.install).live()).sha == v2
    assert realm.control().pid() not in (None, v2_pid)
    assert must(read_record(realm.install)).action == "rollback"
    failed = realm.standin.deployments(REPO)[0]
    assert failed["sha"] == broken and failed["statuses"][0]["state"] == "failure"
    assert (
        len(realm.standin.comments(REPO, crash.number)) == 1
    )  # a failed deploy tells the fixed issue nothing
