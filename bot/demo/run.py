"""``crashbot demo``: the whole crash-to-fix loop on this machine, every step real and checked.

A local GitHub stand-in, a server repository made from the demo worldserver, a realm that ``crashbot
deploy`` builds and runs, a real crash (a twin of the live release under gdb; on Windows, where no
debugger run is possible, the live build's crash is real but its report is a recorded
WheatyExceptionReport), ``crashbot upload``, ``crashbot fix`` with the ``replay`` engine (everything
else real: trust gate, analysis, patch validation, CMake build, PR), a maintainer's merge, ``crashbot
deploy`` of the merge (graceful SOAP stop, release swap, health check), and the same command that
crashed v1 answered by v2.

Each step checks its own result against the stand-in, the filesystem or the running process and
raises :class:`StepFailed` with the reason when the check fails; nothing is skipped or assumed. The
crashbot commands run as separate processes (``python -m bot``), each with only the secrets its
identity would have on a real host or runner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import bot
from bot import config as config_mod
from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Crash
from bot.demo import wheaty, windows
from bot.demo import worldserver as demo_server
from bot.demo.report import (
    CommentView,
    DemoReport,
    DeploymentView,
    GitHubView,
    IssueView,
    PullView,
    StepRecord,
    write_outputs,
)
from bot.deploy.backends import make_commander
from bot.deploy.control import ServerState, StopMethod, graceful_stop
from bot.deploy.errors import ControlError, ControlUnavailable, SoapFault
from bot.deploy.process import ProcessControl
from bot.deploy.releases import Release, Releases
from bot.deploy.soap import SoapClient
from bot.errors import BotError, UsageError
from bot.git import Git
from bot.github import Comment, GitHubClient, IssueRef, PullRef, connect
from bot.issue import read_payload, render_body
from bot.payload import parse_iso_utc
from bot.standin import StandIn
from bot.vocabulary import (
    ANALYSIS,
    CRASH_LABEL,
    FIX_DEPLOYED_LABEL,
    FIX_VERIFIED_LABEL,
    HANDLED_LABEL,
    REALM_PREFIX,
    fix_branch,
    sig_label,
)

logger = logging.getLogger(__name__)

DEMO_REPO = "demo/worldserver"
UPLOADER_LOGIN = "crashbot-uploader"  # the game host's identity; the fix trusts issues only from it
APP_SLUG = "crashbot"  # a GitHub App's token acts as "<slug>[bot]"
APP_LOGIN = f"{APP_SLUG}[bot]"
MAINTAINER_LOGIN = "demo-maintainer"  # the human who reviews and merges
REALM = "demo"
SOAP_USER = "crashbot-demo"
DEV_AUTHOR = "Demo Developer <dev@example.invalid>"
EXECUTABLE = "worldserver"
CRASH_FUNCTION = "ChatHandler::SendWhisper"  # where the demo server's known bug dereferences null
FIXED_ANSWER_RE = re.compile(r"\bnot online\b", re.IGNORECASE)  # what the fixed whisper answers
DEPLOY_TIMEOUT_S = 900.0  # the first deploy compiles the whole server
FIX_TIMEOUT_S = 900.0
UPLOAD_TIMEOUT_S = 180.0
SERVER_TIMEOUT_S = 60.0
WINE_START_TIMEOUT_S = 300.0  # Wine boots a new prefix on its first run
# The demo's commands get only the secrets the demo hands them, never the caller's own.
DROPPED_ENV_PREFIXES = ("CRASHBOT_", "GITHUB_", "GH_", "ACTIONS_", "RUNNER_TRACKING_ID")
_REVISION_RE = re.compile(r"rev\. ([0-9a-f]{7,40})")


class CrashCapture(enum.StrEnum):
    """How the crash report is produced."""

    GDB = "gdb"  # a twin of the live release runs under gdb + crashreport.gdb and really crashes
    RECORDED = "recorded"  # the twin really crashes; the report is a recorded WheatyExceptionReport
    WINE = "wine"  # a Windows build of the live commit crashes under Wine and writes its own .txt + .dmp


def default_capture(platform: str = sys.platform) -> CrashCapture:
    """gdb everywhere but Windows, where the demo server has no debugger run to capture a crash."""
    return CrashCapture.RECORDED if platform == "win32" else CrashCapture.GDB


class StepFailed(BotError):
    """A demo step did not happen, or its result did not check out; the message says which and why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"demo step {step!r} failed: {reason}")
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class DemoOptions:
    output_dir: Path
    workdir: Path | None = None  # None: a temporary directory, removed after a successful run
    keep: bool = False  # leave the v2 server and the stand-in running until Ctrl-C
    jobs: int = 0  # parallel compile jobs; 0 = the number of CPUs
    capture: CrashCapture | None = None  # None: default_capture()
    python: str = sys.executable  # the interpreter that runs ``python -m bot``
    stop_after: str | None = None  # the last step to run (a step's name); None: the whole loop


class Progress(Protocol):
    """Told about each step as it starts and ends (the CLI prints; tests may record)."""

    def started(self, name: str, title: str) -> None: ...

    def finished(self, step: StepRecord) -> None: ...

    def holding(self, report: DemoReport) -> None:
        """``--keep``: everything is written and still running until the wait returns."""
        ...


@dataclass(frozen=True)
class Done:
    """A step's verified result."""

    detail: str
    github: str = ""


@dataclass(frozen=True)
class Identity:
    """A GitHub identity on the stand-in and the token that acts as it."""

    login: str
    token: str


@dataclass(frozen=True)
class CommandRun:
    command: str  # the crashbot subcommand
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    log: Path


def patched_files(diff: str) -> list[str]:
    """The paths a unified diff changes (its ``+++ b/<path>`` lines)."""
    found = []
    for line in diff.splitlines():
        if line.startswith("+++ ") and not line.startswith("+++ /dev/null"):
            path = line[4:].split("\t", 1)[0].strip()
            found.append(path[2:] if path.startswith("b/") else path)
    return found


def render_config(
    *,
    api_url: str,
    install_dir: Path,
    crashes_dir: Path,
    spool: Path,
    build_dir: Path,
    replay_patch: Path,
    soap_port: int,
    jobs: int,
    symbols_store: Path | None = None,
) -> str:
    """The ``crashbot.toml`` the demo commits into the server repository (a showcase of the config)."""

    def q(value: str | Path) -> str:
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string

    build_command = ["cmake", "--build", "{build_dir}", "--config", "RelWithDebInfo"]
    build_command += ["--target", EXECUTABLE, "--parallel", str(jobs)]
    configure_command = ["cmake", "-S", "{source}", "-B", "{build_dir}", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
    return f"""\
# crashbot configuration for the demo realm, written by `crashbot demo`.
# Secrets are never in this file: only the names of the environment variables holding them.

[github]
repo = {q(DEMO_REPO)}
api_url = {q(api_url)}  # the local GitHub stand-in; https://api.github.com in production
uploader_login = {q(UPLOADER_LOGIN)}  # crashbot fix acts only on issues this identity opened
token_env = ["CRASHBOT_TOKEN"]

[signing]
key_env = "CRASHBOT_SIGNING_KEY"  # the HMAC key shared by the uploader and the fix workflow

[uploader]
crash_dirs = [{q(crashes_dir)}]
spool = {q(spool)}
realm = {q(REALM)}
host = "demo-game-host"
stability_s = 0.2
edit_interval_s = 5.0

[fix]
engine = "replay"  # answers with a recorded diff; every other step is real
replay_patch = {q(replay_patch)}
max_attempts = 1
allowed_paths = ["src/"]
build_dir = {q(build_dir)}  # persistent, outside the checkout: fix and deploy builds are incremental
configure_command = {json.dumps(configure_command)}
build_command = {json.dumps(build_command)}
build_timeout_s = {DEPLOY_TIMEOUT_S}

[deploy]
backend = "process"
realm = {q(REALM)}
install_dir = {q(install_dir)}
executable = {q(EXECUTABLE)}
control = "soap"
shutdown_delay_s = 1
shutdown_reason = "Restarting to deploy a crash fix"
stop_timeout_s = 30.0
start_timeout_s = {SERVER_TIMEOUT_S}
watch_window_s = 5.0  # the new release must stay up this long to count as healthy
control_timeout_s = 10.0

[deploy.soap]
host = "127.0.0.1"
port = {soap_port}
user_env = "CRASHBOT_SOAP_USER"
password_env = "CRASHBOT_SOAP_PASSWORD"
""" + (
        ""
        if symbols_store is None
        else f"""
[symbols]
store = {q(symbols_store)}  # each release's debug files: the uploader resolves frames from them
"""
    )


class _Demo:
    """One run's state: paths, identities, the stand-in, and what each step learned."""

    def __init__(self, options: DemoOptions, workdir: Path) -> None:
        self.options = options
        self.capture = options.capture or default_capture()
        self.work = workdir
        self.dev = workdir / "dev" / "worldserver"  # the developer's repository the server came from
        self.runner = workdir / "runner" / "worldserver"  # the self-hosted runner's checkout
        self.install = workdir / "realm"  # the game host's install dir: releases/, worldserver.conf
        self.crashes = self.install / "Crashes"
        self.repro = workdir / "repro"  # where the twin of the live release runs
        self.build_dir = workdir / "build"
        self.spool = workdir / "host" / "spool.sqlite3"
        # the symbol store (the Windows crash's frames are resolved from it; deploys add their files)
        self.symbols = workdir / "symbols" if self.capture is CrashCapture.WINE else None
        self.windows_twin = workdir / "windows-twin"  # where the Windows build crashes under Wine
        self.logs = options.output_dir / "logs"
        self.jobs = options.jobs or os.cpu_count() or 2
        self.key = secrets.token_urlsafe(32)
        self.soap_password = secrets.token_urlsafe(16)
        self.uploader = Identity(UPLOADER_LOGIN, "ghp_" + secrets.token_hex(18))
        self.app = Identity(APP_LOGIN, "ghs_" + secrets.token_hex(18))
        self.maintainer = Identity(MAINTAINER_LOGIN, "ghp_" + secrets.token_hex(18))
        self.standin: StandIn | None = None
        self.soap_port = 0
        self.v1 = ""
        self.v1_pid: int | None = None
        self.crash_log: Path | None = None
        self.crash: Crash | None = None
        self.issue_number = 0
        self.pull_number = 0
        self.merge_sha = ""
        self.v2_pid: int | None = None
        self.dashboard_number = 0
        self.twin: demo_server.GdbSession | demo_server.ServerProcess | None = None

    # -- the steps, in order ---------------------------------------------------------------------------

    def steps(self) -> list[tuple[str, str, Callable[[], Done]]]:
        crash_title = {
            CrashCapture.GDB: "Crash a twin of v1 under gdb",
            CrashCapture.RECORDED: "Crash a twin of v1 (recorded Wheaty report)",
            CrashCapture.WINE: "Crash a Windows build of v1 under Wine",
        }[self.capture]
        steps = [
            ("github", "Start the GitHub stand-in", self.start_github),
            ("repo", "Create the server repository", self.create_repo),
            ("deploy-v1", "Deploy v1 (full build, start, health)", self.deploy_v1),
            ("crash", crash_title, self.crash_twin),
            ("upload", "crashbot upload: file the crash issue", self.upload),
            ("fix", "crashbot fix: analyse, patch, build, PR", self.fix),
            ("merge", "Maintainer merges the PR", self.merge),
            ("deploy-v2", "Deploy the merge (graceful swap)", self.deploy_v2),
            ("verify", "The crash no longer happens", self.verify_fixed),
            ("dashboard", "crashbot dashboard; the fix verified", self.dashboard),
        ]
        if not self.options.keep:
            steps.append(("stop", "Stop the server gracefully", self.stop_server))
        names = [name for name, _, _ in steps]
        last = self.options.stop_after
        if last is not None:
            if last not in names:
                raise UsageError(f"the demo has no step {last!r}; its steps are {', '.join(names)}")
            return steps[: names.index(last) + 1]
        return steps

    def start_github(self) -> Done:
        standin = StandIn(self.work / "github").start()
        self.standin = standin
        standin.add_repo(DEMO_REPO, default_branch="main")
        standin.add_token(self.uploader.token, self.uploader.login)
        standin.add_token(self.app.token, APP_SLUG, kind="Bot")
        standin.add_token(self.maintainer.token, self.maintainer.login)
        for identity in (self.uploader, self.maintainer):
            who = self.client(identity).whoami()
            if who != identity.login:
                raise StepFailed("github", f"the token for {identity.login} authenticates as {who!r}")
        # an App's installation token cannot read /user (403, as on GitHub): its writes show who it is
        info = self.client(self.app).repo_info()
        if info.full_name != DEMO_REPO or info.default_branch != "main":
            raise StepFailed("github", f"the stand-in serves {info.full_name}@{info.default_branch}")
        return Done(
            f"{standin.api_url}; {DEMO_REPO}; tokens for {UPLOADER_LOGIN}, {APP_LOGIN}, {MAINTAINER_LOGIN}",
            f"{standin.web_url}/{DEMO_REPO} (empty)",
        )

    def create_repo(self) -> Done:
        standin = self.require_standin()
        self.soap_port = demo_server.free_port()
        demo_server.copy_source(self.dev)
        config_text = render_config(
            api_url=standin.api_url,
            install_dir=self.install,
            crashes_dir=self.crashes,
            spool=self.spool,
            build_dir=self.build_dir,
            replay_patch=demo_server.FIX_PATCH,
            soap_port=self.soap_port,
            jobs=self.jobs,
            symbols_store=self.symbols,
        )
        (self.dev / config_mod.DEFAULT_CONFIG_NAME).write_text(config_text, encoding="utf-8", newline="\n")
        config_mod.load(
            self.dev / config_mod.DEFAULT_CONFIG_NAME, env={}
        )  # the showcase config must be valid
        dev = Git(self.dev, env=self.git_env())
        dev.run("init", "--quiet")
        dev.run("symbolic-ref", "HEAD", "refs/heads/main")
        self.v1 = dev.commit_all("Import the demo worldserver\n", DEV_AUTHOR)
        dev.run("remote", "add", "origin", str(standin.repo_path(DEMO_REPO)))
        dev.push("origin", "HEAD:refs/heads/main")
        self.runner.parent.mkdir(parents=True, exist_ok=True)
        Git(self.runner.parent, env=self.git_env()).run(
            "clone", "--quiet", str(standin.repo_path(DEMO_REPO)), str(self.runner)
        )
        remote = self.client(self.maintainer).get_ref_sha("main")
        runner_head = Git(self.runner, env=self.git_env()).head()
        if remote != self.v1 or runner_head != self.v1:
            raise StepFailed(
                "repo", f"main is {remote} on the stand-in and {runner_head} on the runner, not {self.v1}"
            )
        demo_server.write_config(
            self.install,
            world_port=demo_server.free_port(),
            soap_port=self.soap_port,
            ra_port=demo_server.free_port(),
            user=SOAP_USER,
            password=self.soap_password,
        )
        files = len(dev.ls_files())
        return Done(
            f"{files} files with crashbot.toml committed as {self.v1[:12]}, pushed; runner checkout cloned",
            f"{DEMO_REPO}: main at {self.v1[:12]}",
        )

    def deploy_v1(self) -> Done:
        run = self.crashbot("deploy-v1", self.app, "deploy", "--source", str(self.runner), "--ref", self.v1)
        self.expect_exit("deploy-v1", run, 0)
        live = self.live_release("deploy-v1")
        if live.sha != self.v1:
            raise StepFailed("deploy-v1", f"the live release is {live.name} ({live.sha}), not {self.v1}")
        self.v1_pid = self.require_pid("deploy-v1")
        info = self.soap_live("server info")
        self.expect_revision("deploy-v1", info, self.v1)
        deployment = self.deployment_for("deploy-v1", self.v1)
        return Done(
            f"release {live.name} live (pid {self.v1_pid}); SOAP 'server info': {_first_line(info)}",
            f"deployment {deployment.id} of {self.v1[:12]} to {deployment.environment}: {deployment.state}",
        )

    def crash_twin(self) -> Done:
        live = self.live_release("crash")
        exe = live.executable(EXECUTABLE)
        ports = {name: demo_server.free_port() for name in ("world", "soap", "ra")}
        conf_dir = self.windows_twin if self.capture is CrashCapture.WINE else self.repro
        demo_server.write_config(
            conf_dir,
            world_port=ports["world"],
            soap_port=ports["soap"],
            ra_port=ports["ra"],
            user=SOAP_USER,
            password=self.soap_password,
        )
        args = ["-c", str(conf_dir / demo_server.CONFIG_NAME)]
        crashes = self.crashes
        before = set(crashes.glob("*")) if crashes.is_dir() else set()
        if self.capture is CrashCapture.GDB:
            how = self.crash_under_gdb(exe, args, ports["soap"])
        elif self.capture is CrashCapture.RECORDED:
            how = self.crash_recorded(exe, args, ports["soap"])
        else:
            crashes = self.windows_twin / "Crashes"  # where the server's handler writes, as TrinityCore's
            before = set(crashes.glob("*")) if crashes.is_dir() else set()
            how = self.crash_under_wine(ports["soap"])
        new = set(crashes.glob("*")) - before
        if self.crash_log not in new:
            raise StepFailed(
                "crash", f"no new crash report in {crashes} (found {sorted(p.name for p in new)})"
            )
        self.crash = self.parse_crash("crash", self.crash_log)
        top = self.crash.top_frame
        if top is None or top.function != CRASH_FUNCTION:
            raise StepFailed(
                "crash", f"the report's top frame is {top.function if top else None!r}, not {CRASH_FUNCTION}"
            )
        if self.require_pid("crash") != self.v1_pid:
            raise StepFailed("crash", "the live v1 server changed while its twin crashed")
        file_name = re.split(r"[/\\]", top.file or "?")[-1]  # a Windows path on any OS
        where = f"{file_name}:{top.line}"
        return Done(
            f"'{demo_server.CRASH_COMMAND}' → {how}; {self.crash_log.name}: "
            f"top frame {top.function} at {where}"
        )

    def crash_under_gdb(self, exe: Path, args: list[str], soap_port: int) -> str:
        if shutil.which("gdb") is None:
            raise StepFailed("crash", "gdb is not on PATH: install gdb, or run with --crash-report recorded")
        session = demo_server.start_under_gdb(exe, self.repro, self.crashes, args)
        self.twin = session
        with session:
            session.process.wait_ready(SERVER_TIMEOUT_S)
            self.send_crash_command(soap_port)
            outcome = session.finish(SERVER_TIMEOUT_S)
        self.twin = None
        if not outcome.crashed or outcome.crash_log is None:
            raise StepFailed("crash", f"the twin exited with code {outcome.exit_code} without crashing")
        self.crash_log = outcome.crash_log
        return f"{outcome.signal or 'a signal'} under gdb (exit {outcome.exit_code})"

    def crash_recorded(self, exe: Path, args: list[str], soap_port: int) -> str:
        with _no_crash_dialogs():  # the child inherits the error mode when it starts
            process = demo_server.start(exe, self.repro, args)
        self.twin = process
        with process:
            process.wait_ready(SERVER_TIMEOUT_S)
            self.send_crash_command(soap_port)
            code = process.wait(SERVER_TIMEOUT_S)
        self.twin = None
        if code == 0:
            raise StepFailed("crash", "the twin exited cleanly after the whisper instead of crashing")
        self.crash_log = self.write_recorded_report(exe)
        return f"exit code {code:#x}" if code > 0 else f"exit code {code}"

    def crash_under_wine(self, soap_port: int) -> str:
        """Cross-build v1 for Windows (exe + PDB), add it to the symbol store as a deploy would, run the
        image alone (no PDB beside it, as a release) under Wine and crash it; its handler writes the pair."""
        toolchain = windows.find_toolchain()
        out = windows.build(
            self.runner, self.work / "build-windows", toolchain, jobs=self.jobs, timeout_s=DEPLOY_TIMEOUT_S
        )
        run = self.crashbot("symbols", self.app, "symbols", "add", str(out), "--revision", self.v1)
        self.expect_exit("crash", run, 0)
        exe = self.windows_twin / windows.EXE_NAME
        shutil.copy(out / windows.EXE_NAME, exe)
        prefix = windows.wine_prefix(os.environ)
        prefix.parent.mkdir(parents=True, exist_ok=True)  # Wine creates the prefix, not its parent
        env = windows.wine_env(self.base_env(), prefix)
        args = ["-c", demo_server.CONFIG_NAME]
        process = windows.start(exe, self.windows_twin, toolchain, env=env, args=args)
        self.twin = process
        with process:
            process.wait_ready(WINE_START_TIMEOUT_S)
            self.send_crash_command(soap_port)
            code = process.wait(WINE_START_TIMEOUT_S)
        self.twin = None
        report = windows.new_report(self.windows_twin / "Crashes", set())
        if code == 0 or report is None:
            raise StepFailed("crash", f"the Windows build exited with code {code} and wrote no crash report")
        if not report.with_suffix(".dmp").is_file():
            raise StepFailed("crash", f"{report.name} has no minidump beside it")
        self.crash_log = report
        return f"exit code {code} under Wine; {report.with_suffix('.dmp').name} beside it"

    def upload(self) -> Done:
        assert self.crash_log is not None and self.crash is not None
        run = self.crashbot("upload", self.uploader, "upload", str(self.crash_log))
        self.expect_exit("upload", run, 0)
        issues = [i for i in self.issues() if not i.is_pull]
        if len(issues) != 1:
            raise StepFailed("upload", f"expected one crash issue on the stand-in, found {len(issues)}")
        issue = issues[0]
        signature = self.crash.signature.id
        label = sig_label(signature)
        if issue.author != UPLOADER_LOGIN:
            raise StepFailed(
                "upload", f"issue #{issue.number} was opened by {issue.author}, not {UPLOADER_LOGIN}"
            )
        missing = {CRASH_LABEL, label, REALM_PREFIX + REALM} - set(issue.labels)
        if missing:
            raise StepFailed("upload", f"issue #{issue.number} lacks the labels {sorted(missing)}")
        try:
            payload = read_payload(issue.body, self.key.encode("utf-8"))
        except BotError as e:
            raise StepFailed(
                "upload", f"issue #{issue.number}'s payload does not verify: {e.diagnostic()}"
            ) from e
        if payload.signature.id != signature:
            raise StepFailed("upload", f"the payload signs {payload.signature.id}, the report {signature}")
        self.issue_number = issue.number
        return Done(
            f"issue #{issue.number} by {issue.author}, label {label}, "
            f"payload HMAC verifies ({self.crash.signature.text})",
            f"issue #{issue.number} {issue.title!r} {issue.html_url}",
        )

    def fix(self) -> Done:
        assert self.crash is not None
        run = self.crashbot(
            "fix", self.app, "fix", "--issue", str(self.issue_number), "--workspace", str(self.runner)
        )
        self.expect_exit("fix", run, 0)
        branch = fix_branch(self.crash.signature.id)
        pulls = [p for p in self.pulls() if p.head_ref == branch]
        if len(pulls) != 1:
            raise StepFailed(
                "fix", f"expected one PR from {branch}, found {len(pulls)}: {_last_line(run.stdout)}"
            )
        pull = pulls[0]
        if pull.author != APP_LOGIN or pull.base_ref != "main" or pull.state != "open":
            raise StepFailed(
                "fix", f"PR #{pull.number} is {pull.state} by {pull.author} into {pull.base_ref}"
            )
        if f"Fixes #{self.issue_number}" not in pull.body:
            raise StepFailed("fix", f"PR #{pull.number}'s body does not say 'Fixes #{self.issue_number}'")
        bare = Git(self.require_standin().repo_path(DEMO_REPO), env=self.git_env())
        changed = bare.diff_names(self.v1, pull.head_sha)
        expected = patched_files(demo_server.FIX_PATCH.read_text(encoding="utf-8"))
        if changed != expected:
            raise StepFailed("fix", f"{branch} changes {changed}, the recorded fix changes {expected}")
        analysis = self.analysis_comment()
        if analysis is None or analysis.author != APP_LOGIN:
            raise StepFailed("fix", f"issue #{self.issue_number} has no analysis comment by {APP_LOGIN}")
        issue = self.issue(self.issue_number)
        if HANDLED_LABEL not in issue.labels:
            raise StepFailed("fix", f"issue #{self.issue_number} lacks the label {HANDLED_LABEL}")
        runner = Git(self.runner, env=self.git_env())
        if runner.head() != self.v1 or runner.run("status", "--porcelain").strip():
            raise StepFailed("fix", "the runner checkout was not left clean on main")
        self.pull_number = pull.number
        return Done(
            f"PR #{pull.number} from {branch} by {pull.author}: {', '.join(changed)}; "
            f"{_last_line(run.stdout)}",
            f"analysis comment on #{self.issue_number}; PR #{pull.number} {pull.title!r} {pull.html_url}",
        )

    def merge(self) -> Done:
        client = self.client(self.maintainer)
        result = client.merge_pull(self.pull_number)
        pull = client.get_pull(self.pull_number)
        if not result.merged or not pull.merged:
            raise StepFailed("merge", f"PR #{self.pull_number} is not merged: {result.message}")
        main = client.get_ref_sha("main")
        if main != result.sha:
            raise StepFailed("merge", f"main is {main}, not the merge commit {result.sha}")
        issue = self.issue(self.issue_number)
        if issue.state != "closed":
            raise StepFailed(
                "merge",
                f"issue #{self.issue_number} is still {issue.state} after 'Fixes #{self.issue_number}'",
            )
        runner = Git(self.runner, env=self.git_env())
        runner.run("pull", "--quiet", "--ff-only", "origin", "main")
        if runner.head() != result.sha:
            raise StepFailed("merge", f"the runner checkout is at {runner.head()}, not {result.sha}")
        self.merge_sha = result.sha
        return Done(
            f"merged by {MAINTAINER_LOGIN} as {result.sha[:12]}; runner checkout fast-forwarded",
            f"PR #{self.pull_number} merged; "
            f"issue #{self.issue_number} closed by 'Fixes #{self.issue_number}'",
        )

    def deploy_v2(self) -> Done:
        run = self.crashbot(
            "deploy-v2", self.app, "deploy", "--source", str(self.runner), "--ref", self.merge_sha
        )
        self.expect_exit("deploy-v2", run, 0)
        stop = _summary_field(run.stdout, "stop")
        if not stop.startswith("soap") or "not forced" not in stop:
            raise StepFailed(
                "deploy-v2", f"v1 was not stopped gracefully over SOAP: stop: {stop or '(none)'}"
            )
        live = self.live_release("deploy-v2")
        if live.sha != self.merge_sha:
            raise StepFailed(
                "deploy-v2", f"the live release is {live.name} ({live.sha}), not {self.merge_sha}"
            )
        self.v2_pid = self.require_pid("deploy-v2")
        if self.v2_pid == self.v1_pid:
            raise StepFailed(
                "deploy-v2", f"the server still runs as pid {self.v1_pid}: v1 was never replaced"
            )
        deployment = self.deployment_for("deploy-v2", self.merge_sha)
        if deployment.states != ("success", "in_progress"):
            raise StepFailed(
                "deploy-v2", f"deployment {deployment.id} went {list(reversed(deployment.states))}"
            )
        told = [
            c
            for c in self.comments(self.issue_number)
            if f"Deployed in {self.merge_sha} to {REALM}" in c.body
        ]
        issue = self.issue(self.issue_number)
        if len(told) != 1 or told[0].author != APP_LOGIN or FIX_DEPLOYED_LABEL not in issue.labels:
            raise StepFailed("deploy-v2", f"issue #{self.issue_number} was not told about the deploy")
        return Done(
            f"release {live.name} live (pid {self.v2_pid}); stop: {stop}; "
            f"health: {_summary_field(run.stdout, 'health')}",
            f"deployment {deployment.id}: {deployment.state}; issue #{self.issue_number}: "
            f"'Deployed in {self.merge_sha[:12]} to {REALM}' + fix-deployed",
        )

    def verify_fixed(self) -> Done:
        before = set(self.crashes.glob("*"))
        try:
            answer = self.soap_live(demo_server.CRASH_COMMAND)
        except SoapFault as e:
            answer = e.faultstring  # the fixed command fails politely: the player is not online
        except ControlUnavailable as e:
            raise StepFailed("verify", f"the live server dropped '{demo_server.CRASH_COMMAND}': {e}") from e
        if not FIXED_ANSWER_RE.search(answer):
            raise StepFailed("verify", f"'{demo_server.CRASH_COMMAND}' answered {answer!r}")
        info = self.soap_live("server info")
        self.expect_revision("verify", info, self.merge_sha)
        if self.require_pid("verify") != self.v2_pid:
            raise StepFailed("verify", "the v2 server process changed after the whisper")
        new = set(self.crashes.glob("*")) - before
        if new:
            raise StepFailed("verify", f"a new crash report appeared: {sorted(p.name for p in new)}")
        return Done(
            f"'{demo_server.CRASH_COMMAND}' → {answer!r}; still up (pid {self.v2_pid}): {_first_line(info)}"
        )

    def dashboard(self) -> Done:
        """``crashbot dashboard`` writes the dashboard; then, with time compressed, the fix is verified.

        The demo cannot wait days for a crash rate to mean anything, so it does what two days of crashes
        would have done to the issue: its signed history says the crash came 12 times a day on the two
        days before the deploy (re-sealed with the uploader's key, as the uploader would have), and the
        realm's uptime ledger (:meth:`publish_uptime`) says the server ran 16 h on each of those days
        and 8 of the "ten hours after the deploy" the verification runs at. λ = 24 / 32 h of uptime
        = 0.75/h, so P(0 | 0.75/h × 8 h) = e^-6 = 0.25% < 1%: verified, per hour of uptime.
        """
        run = self.crashbot("dashboard", self.app, "dashboard")
        self.expect_exit("dashboard", run, 0)
        if "created" not in run.stdout:
            raise StepFailed("dashboard", f"crashbot dashboard said {_last_line(run.stdout)!r}")
        deployed = self.backdate_history()
        self.publish_uptime(deployed)
        from bot.dashboard.sync import DashboardSettings, sync

        result = sync(
            self.client(self.app),
            DashboardSettings(key=self.key.encode("utf-8"), environments=(REALM,)),
            now=deployed + timedelta(hours=10),
        )
        issue = self.issue(self.issue_number)
        if result.verified != (self.issue_number,) or FIX_VERIFIED_LABEL not in issue.labels:
            raise StepFailed("dashboard", f"issue #{self.issue_number} was not verified: {result}")
        self.dashboard_number = result.issue
        evidence = result.evidence[self.issue_number]
        return Done(
            f"dashboard #{result.issue} ({result.action.value}); #{self.issue_number} fix-verified",
            f"{evidence.crashes_before} crashes in {evidence.hours_before:.0f} {evidence.basis.value} "
            f"before, 0 in {evidence.hours_after:.0f} h since: P(0) = {evidence.p_zero:.2%} "
            "(time compressed)",
        )

    def backdate_history(self) -> datetime:
        """Re-seal the crash issue's payload with two days of crashes before the deploy; the deploy time."""
        told = [c for c in self.comments(self.issue_number) if f"Deployed in {self.merge_sha}" in c.body]
        if not told:
            raise StepFailed("dashboard", f"issue #{self.issue_number} has no deploy comment")
        deployed = parse_iso_utc(told[0].created_at)
        issue = self.issue(self.issue_number)
        payload = read_payload(issue.body, self.key.encode("utf-8"))
        occ = payload.occurrences
        build = occ.builds[-1] if occ.builds else None
        for days_back in (2, 1):
            occ = occ.record(deployed - timedelta(days=days_back), realm=REALM, build=build, count=12)
        body = render_body(
            payload.to_crash(), occ, repo=DEMO_REPO, server_url=self.require_standin().web_url,
            payload_key=self.key.encode("utf-8"), replacing=issue.body,
        )  # fmt: skip
        self.client(self.uploader).edit_issue(self.issue_number, body=body)
        return deployed

    def publish_uptime(self, deployed: datetime) -> None:
        """The realm's uptime ledger, compressed like the history and published by the uploader's own
        publisher from the host's spool: the crash's build ran 04:00-20:00 on each of the two days
        before the deploy, the fixed build from the deploy on for 8 hours (the observer records the same
        from the process table on a real host; the demo cannot wait for the hours)."""
        from bot.uploader.processes import ServerProcess
        from bot.uploader.sessions import Exit, SessionStore
        from bot.uploader.uptime_ledger import LedgerPublisher

        occ = read_payload(self.issue(self.issue_number).body, self.key.encode("utf-8")).occurrences
        old = occ.builds[0] if occ.builds else "unknown"
        store = SessionStore(self.spool)
        try:
            midnight = datetime.combine(deployed.date(), datetime.min.time(), tzinfo=deployed.tzinfo)
            store.begin_watch(REALM, (midnight - timedelta(days=3)).timestamp())
            runs = [(old, midnight - timedelta(days=d) + timedelta(hours=4), 16.0) for d in (2, 1)]
            for pid, (build, start, hours) in enumerate([*runs, (self.merge_sha[:12], deployed, 8.0)], 1):
                store.open(REALM, ServerProcess(pid, start, ""), build, start.timestamp())
                [session] = store.open_sessions(REALM)
                store.alive([session.id], (start + timedelta(hours=hours)).timestamp())
                if pid <= len(runs):  # the fixed build is still running
                    store.end(session, Exit.STOPPED, (start + timedelta(hours=hours)).timestamp())
            publisher = LedgerPublisher(
                self.client(self.uploader), store, key=self.key.encode("utf-8"), realm=REALM, host="demo-host"
            )
            publisher.publish((deployed + timedelta(hours=10)).timestamp())
        finally:
            store.close()

    def stop_server(self) -> Done:
        settings = self.config().deploy
        control = self.control()
        report = graceful_stop(control, make_commander(settings, env=self.soap_env()), settings)
        if (
            report.forced
            or report.method is not StopMethod.SOAP
            or control.status() is not ServerState.STOPPED
        ):
            raise StepFailed("stop", f"the server stopped by {report.method} (forced: {report.forced})")
        return Done(f"'{report.command}' over SOAP; exited in {report.duration_s:.1f}s")

    # -- helpers ---------------------------------------------------------------------------------------

    def require_standin(self) -> StandIn:
        if self.standin is None:
            raise StepFailed("github", "the stand-in is not running")
        return self.standin

    def client(self, identity: Identity) -> GitHubClient:
        standin = self.require_standin()
        settings = config_mod.GitHubSettings(
            repo=DEMO_REPO, api_url=standin.api_url, token_env=("CRASHBOT_TOKEN",)
        )
        return connect(settings, env={"CRASHBOT_TOKEN": identity.token}, write_interval_s=0.0)

    def config(self) -> config_mod.Config:
        return config_mod.load(self.runner / config_mod.DEFAULT_CONFIG_NAME, env={})

    def control(self) -> ProcessControl:
        return ProcessControl(releases=Releases(self.install), executable=EXECUTABLE, env=self.base_env())

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(DROPPED_ENV_PREFIXES)}
        # `python -m bot` must run this very crashbot, installed or not
        package_root = str(Path(bot.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        env["PYTHONUTF8"] = "1"
        return env

    def git_env(self) -> dict[str, str]:
        return {k: v for k, v in self.base_env().items() if not k.startswith("GIT_")}

    def soap_env(self) -> dict[str, str]:
        return {"CRASHBOT_SOAP_USER": SOAP_USER, "CRASHBOT_SOAP_PASSWORD": self.soap_password}

    def command_env(self, identity: Identity) -> dict[str, str]:
        """What each identity's host would hold: the uploader and the fix the signing key, the deploy
        the SOAP account; each its own GitHub token."""
        env = self.base_env()
        env["CRASHBOT_TOKEN"] = identity.token
        if identity is self.uploader or identity is self.app:
            env["CRASHBOT_SIGNING_KEY"] = self.key
        if identity is self.app:
            env.update(self.soap_env())
        return env

    def crashbot(self, step: str, identity: Identity, *args: str) -> CommandRun:
        """Run ``crashbot <args>`` as ``identity`` in the runner checkout; its output goes to a log file."""
        config = self.runner / config_mod.DEFAULT_CONFIG_NAME
        argv = (self.options.python, "-m", "bot", "--config", str(config), "-v", *args)
        timeout = {"upload": UPLOAD_TIMEOUT_S, "fix": FIX_TIMEOUT_S}.get(args[0], DEPLOY_TIMEOUT_S)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{step}.log"
        logger.info("%s: crashbot %s (as %s)", step, " ".join(args), identity.login)
        try:
            done = subprocess.run(
                argv,
                cwd=self.runner,
                env=self.command_env(identity),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise StepFailed(step, f"crashbot {args[0]} did not finish within {timeout:g}s") from e
        except OSError as e:
            raise StepFailed(step, f"cannot run {argv[0]} -m bot: {e}") from e
        log.write_text(
            f"$ crashbot {' '.join(args)}   (as {identity.login}, exit {done.returncode})\n\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}",
            encoding="utf-8",
        )
        return CommandRun(args[0], argv, done.returncode, done.stdout, done.stderr, log)

    def expect_exit(self, step: str, run: CommandRun, code: int) -> None:
        if run.returncode != code:
            last = _last_line(run.stderr) or _last_line(run.stdout) or "no output"
            raise StepFailed(step, f"crashbot {run.command} exited {run.returncode}: {last} (log: {run.log})")

    def live_release(self, step: str) -> Release:
        live = Releases(self.install).live()
        if live is None:
            raise StepFailed(step, f"no live release under {self.install}")
        return live

    def require_pid(self, step: str) -> int:
        pid = self.control().pid()
        if pid is None:
            raise StepFailed(step, f"the realm's worldserver is not running (see {self.install})")
        return pid

    def soap_live(self, command: str) -> str:
        settings = self.config().deploy
        client = SoapClient(
            settings.soap.host,
            settings.soap.port,
            SOAP_USER,
            self.soap_password,
            urn=settings.soap.urn,
            timeout=settings.control_timeout_s,
        )
        return client.execute(command)

    def expect_revision(self, step: str, info: str, sha: str) -> None:
        match = _REVISION_RE.search(info)
        if match is None or not sha.startswith(match.group(1)):
            shown = match.group(1) if match else "no revision"
            raise StepFailed(step, f"the live server reports {shown}, not {sha[:12]}: {_first_line(info)!r}")

    def send_crash_command(self, soap_port: int) -> None:
        client = SoapClient("127.0.0.1", soap_port, SOAP_USER, self.soap_password, timeout=SERVER_TIMEOUT_S)
        try:
            answer = client.execute(demo_server.CRASH_COMMAND)
        except ControlUnavailable:
            return  # the world thread died mid-command: the connection drops unanswered
        except ControlError as e:
            raise StepFailed(
                "crash", f"v1 refused '{demo_server.CRASH_COMMAND}' instead of crashing: {e}"
            ) from e
        raise StepFailed(
            "crash", f"v1 answered '{demo_server.CRASH_COMMAND}' instead of crashing: {answer!r}"
        )

    def write_recorded_report(self, exe: Path) -> Path:
        """The report the live build's WheatyExceptionReport would have written for this crash."""
        revision = demo_server.read_revision(exe)
        return wheaty.write_report(
            self.crashes,
            exe_name=exe.name,
            revision_line=revision,
            revision_hash=demo_server.revision_hash(revision),
            when=datetime.now().astimezone(),
        )

    def parse_crash(self, step: str, path: Path) -> Crash:
        """The crash as the uploader will sign it: resolved from the symbol store when the demo has one."""
        try:
            report = parse_report(path.read_bytes())
        except CrashParseError as e:
            raise StepFailed(step, f"{path.name} is not a readable crash report: {e}") from e
        if self.symbols is None:
            return analyse(report)
        from bot.symbols.service import analyse_with_symbols, dump_beside

        outcome = analyse_with_symbols(
            report, symbols=self.symbols, dump_path=dump_beside(path), text=path.read_text(encoding="utf-8")
        )
        return outcome.crash

    # -- what the stand-in holds -------------------------------------------------------------------------

    def issues(self) -> list[IssueRef]:
        return [IssueRef.from_json(d) for d in self.require_standin().issues(DEMO_REPO)]

    def issue(self, number: int) -> IssueRef:
        for issue in self.issues():
            if issue.number == number:
                return issue
        raise StepFailed("github", f"{DEMO_REPO} has no issue #{number}")

    def pulls(self) -> list[PullRef]:
        return [PullRef.from_json(d) for d in self.require_standin().pulls(DEMO_REPO)]

    def comments(self, number: int) -> list[Comment]:
        return [Comment.from_json(d) for d in self.require_standin().comments(DEMO_REPO, number)]

    def analysis_comment(self) -> Comment | None:
        if not self.issue_number:
            return None
        return next((c for c in self.comments(self.issue_number) if ANALYSIS.in_text(c.body)), None)

    def deployments(self) -> list[DeploymentView]:
        return [
            DeploymentView(
                id=int(d["id"]),
                sha=str(d.get("sha") or ""),
                environment=str(d.get("environment") or ""),
                states=tuple(str(s.get("state") or "") for s in d.get("statuses") or ()),
            )
            for d in self.require_standin().deployments(DEMO_REPO)
        ]

    def deployment_for(self, step: str, sha: str) -> DeploymentView:
        found = [d for d in self.deployments() if d.sha == sha]
        if not found or found[0].state != "success":
            states = [d.state for d in found]
            raise StepFailed(step, f"no successful deployment of {sha[:12]} on the stand-in (found {states})")
        return found[0]

    def github_view(self) -> GitHubView | None:
        if self.standin is None:
            return None
        view = GitHubView(repo=DEMO_REPO, web_url=self.standin.web_url, deployments=tuple(self.deployments()))
        issues = [i for i in self.issues() if not i.is_pull]
        issue = next((i for i in issues if i.number == self.issue_number), issues[0] if issues else None)
        dash = next((i for i in issues if i.number == self.dashboard_number), None)
        if dash is not None:
            view = _replace_view(
                view,
                dashboard=IssueView(
                    dash.number, dash.title, dash.html_url, dash.state, dash.author, dash.labels, dash.body
                ),
            )
        if issue is not None:
            comments = tuple(CommentView(c.author, c.body, c.html_url) for c in self.comments(issue.number))
            analysis = next((c for c in comments if ANALYSIS.in_text(c.body)), None)
            view = _replace_view(
                view,
                issue=IssueView(
                    issue.number,
                    issue.title,
                    issue.html_url,
                    issue.state,
                    issue.author,
                    issue.labels,
                    issue.body,
                    comments,
                ),
                analysis_comment=analysis,
            )
        pull = next(iter(self.pulls()), None)
        if pull is not None:
            view = _replace_view(
                view,
                pull=PullView(
                    pull.number, pull.title, pull.html_url, pull.state, pull.merged, pull.author,
                    pull.head_ref, pull.base_ref, pull.body, pull.merge_commit_sha,
                ),
            )  # fmt: skip
        return view

    # -- cleanup -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop whatever still runs: the twin, the realm's server (gracefully if it can), the stand-in."""
        if self.twin is not None:
            twin = self.twin.process if isinstance(self.twin, demo_server.GdbSession) else self.twin
            twin.kill()
            self.twin = None
        control = self.control()
        if control.pid() is not None:
            try:
                settings = self.config().deploy
                graceful_stop(control, make_commander(settings, env=self.soap_env()), settings)
            except BotError as e:
                logger.warning("could not stop the demo server gracefully (%s); killing it", e.diagnostic())
                with contextlib.suppress(BotError):
                    control.kill()
        if self.standin is not None:
            self.standin.close()
            self.standin = None


@contextlib.contextmanager
def _no_crash_dialogs() -> Iterator[None]:
    """Windows: a crashing child must exit instead of waiting on an error dialog nobody will click
    (SEM_NOGPFAULTERRORBOX also keeps Windows Error Reporting out); the mode is restored after."""
    if sys.platform != "win32":
        yield
        return
    import ctypes

    sem_failcriticalerrors, sem_nogpfaulterrorbox = 0x0001, 0x0002
    kernel32 = ctypes.windll.kernel32
    previous = kernel32.SetErrorMode(sem_failcriticalerrors | sem_nogpfaulterrorbox)
    kernel32.SetErrorMode(previous | sem_failcriticalerrors | sem_nogpfaulterrorbox)
    try:
        yield
    finally:
        kernel32.SetErrorMode(previous)


def _replace_view(view: GitHubView, **changes: Any) -> GitHubView:
    return dataclasses.replace(view, **changes)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def _summary_field(summary: str, name: str) -> str:
    """``crashbot deploy``'s summary line ``  <name>:  <value>`` (empty when absent)."""
    for line in summary.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key == name:
            return value.strip()
    return ""


# -- the run ------------------------------------------------------------------------------------------


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


def run_demo(
    options: DemoOptions,
    progress: Progress,
    *,
    wait: Callable[[], None] = _wait_for_interrupt,
) -> DemoReport:
    """Run every step in order, stopping at the first that fails; write the output files; clean up.

    With ``options.keep`` the v2 server and the stand-in keep running until ``wait`` returns (Ctrl-C).
    """
    if options.workdir is not None and options.workdir.is_dir() and any(options.workdir.iterdir()):
        raise UsageError(f"--workdir {options.workdir} is not empty; pass a new or empty directory")
    if options.capture is CrashCapture.WINE:
        windows.find_toolchain()  # one line naming what is missing, before a minute of building
    temporary = options.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="crashbot-demo-")) if options.workdir is None else options.workdir
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    options = _resolved(options)
    demo = _Demo(options, workdir)
    records: list[StepRecord] = []
    failed: StepRecord | None = None
    report: DemoReport | None = None
    try:
        for name, title, action in demo.steps():
            progress.started(name, title)
            started = time.monotonic()
            try:
                done = action()
            except StepFailed as e:
                failed = StepRecord(name, title, time.monotonic() - started, False, e.reason)
            except BotError as e:  # a crashbot or demo-server error inside the step: that step failed
                failed = StepRecord(name, title, time.monotonic() - started, False, e.diagnostic())
            except (OSError, subprocess.SubprocessError) as e:
                failed = StepRecord(
                    name, title, time.monotonic() - started, False, f"{type(e).__name__}: {e}"
                )
            if failed is not None:
                records.append(failed)
                progress.finished(failed)
                break
            record = StepRecord(name, title, time.monotonic() - started, True, done.detail, done.github)
            records.append(record)
            progress.finished(record)
        report = DemoReport(
            steps=tuple(records),
            crash_capture=_capture_text(demo.capture),
            workdir=workdir,
            github=demo.github_view(),
            failed=failed,
        )
        write_outputs(report, options.output_dir)
        if options.keep:
            progress.holding(report)
            wait()
    finally:
        demo.close()
        if temporary and not options.keep and report is not None and report.ok:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _resolved(options: DemoOptions) -> DemoOptions:
    return dataclasses.replace(options, output_dir=options.output_dir.resolve())


def _capture_text(capture: CrashCapture) -> str:
    if capture is CrashCapture.GDB:
        return "written by crashreport.gdb when a twin of the live v1 release crashed under gdb"
    if capture is CrashCapture.WINE:
        return (
            "written, with its minidump, by the crash handler of a Windows build of v1 (clang, MinGW-w64, "
            "lld's PDB) that crashed under Wine; its frames resolved from the symbol store"
        )
    return (
        "a twin of the live v1 release really crashed; the report is the recorded "
        f"WheatyExceptionReport {wheaty.RECORDED_REPORT.name}, stamped with the build's revision"
    )
