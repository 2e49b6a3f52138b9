"""The stage for ``crashbot fix`` end-to-end tests: the demo worldserver as a git checkout (built once per
session, crashed once under gdb), a signed issue on the stand-in, an OpenAI-compatible engine on loopback,
and the helpers the attack tests share (crashbot as its own process, everything that left it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.build.runner import build
from bot.config import FixSettings
from bot.crash import analyse, parse_report
from bot.crash.model import Crash
from bot.demo import worldserver as demo
from bot.issue import Occurrences, labels_for, labels_specs_for, render_body, render_title
from bot.standin import StandIn
from bot.vocabulary import LABEL_SPECS, sig_label
from tests.fix.pipeline_world import REPO, UPLOADER, client_for
from tests.gitutil import git

E2E_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="the demo crash is captured with gdb (POSIX)"),
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in ("cmake", "gdb", "git")),
        reason="needs cmake, a C++ compiler, gdb and git",
    ),
]

KEY = "e2e-signing-key-of-at-least-32-bytes"
HANDLER = "src/server/game/Handlers/ChatHandler.cpp"


@dataclass(frozen=True)
class Checkout:
    workspace: Path
    base_sha: str
    build_dir: Path
    crash: Crash


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    """The demo server as a git checkout, built once, crashed once under gdb."""
    root = tmp_path_factory.mktemp("fix-e2e")
    workspace = demo.copy_source(root / "workspace")
    git(workspace, "init", "-q")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "Import worldserver", author="Demo Dev <dev@example.invalid>")
    base_sha = git(workspace, "rev-parse", "HEAD")
    build_dir = root / "build"
    result = build(workspace, FixSettings(build_dir=str(build_dir)), env=os.environ)
    assert result.ok, result.tail
    exe = shutil.copy2(build_dir / "bin" / "worldserver", root / "worldserver-base")
    run_dir = root / "run"
    ports = (demo.free_port(), demo.free_port(), demo.free_port())
    demo.write_config(
        run_dir, world_port=ports[0], soap_port=ports[1], ra_port=ports[2], user="a", password="b"
    )
    run = demo.run_under_gdb(
        Path(exe),
        run_dir,
        root / "Crashes",
        ["-c", str(run_dir / demo.CONFIG_NAME), demo.CRASH_AFTER_FLAG, "0.2"],
        timeout_s=90,
    )
    assert run.crash_log is not None, run.console[-2000:]
    crash = analyse(parse_report(run.crash_log.read_bytes()))
    return Checkout(workspace, base_sha, build_dir, crash)


@dataclass
class FakeEngine:
    """An OpenAI-compatible chat completions endpoint on loopback answering with queued texts."""

    answers: list[str]
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeEngine:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                engine.requests.append({"path": self.path, "body": body})
                text = engine.answers[min(len(engine.requests), len(engine.answers)) - 1]
                answer = json.dumps(
                    {
                        "model": "fake-fixer-1",
                        "choices": [
                            {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 1000, "completion_tokens": 200},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stage:
    checkout: Checkout
    standin: StandIn
    remote: Path
    config: Path
    issue: int


def answer(diff: str) -> str:
    return (
        f"The target player can be offline; report it instead of whispering to null.\n\n```diff\n{diff}```\n"
    )


@pytest.fixture
def stage(checkout: Checkout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    ws = checkout.workspace
    git(ws, "checkout", "-q", "-f", "main")
    git(ws, "reset", "-q", "--hard", checkout.base_sha)
    git(ws, "clean", "-fdq")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(ws), str(remote))
    subprocess.run(["git", "remote", "remove", "origin"], cwd=ws, capture_output=True, check=False)
    git(ws, "remote", "add", "origin", str(remote))
    with StandIn(tmp_path / "gh") as standin:
        standin.add_repo(REPO, bare_path=remote)
        standin.add_token("uploader-token", "crashbot-uploader", kind="Bot")
        standin.add_token("fixer-token", "crashbot-fixer", kind="Bot")
        uploader = client_for(standin, "uploader-token")
        crash = checkout.crash
        occ = Occurrences().record(
            datetime.now(UTC), host="game1", realm="main", build=crash.report.build.revision
        )
        labels = labels_for(crash, realm="main")
        uploader.ensure_labels([*LABEL_SPECS, *labels_specs_for(labels)])
        body = render_body(crash, occ, repo=REPO, payload_key=KEY.encode())
        issue, created = uploader.ensure_issue(
            sig_label(crash.signature.id), render_title(crash), body, labels
        )
        assert created
        for name in ("GITHUB_TOKEN", "CRASHBOT_PUSH_TOKEN", "GITHUB_STEP_SUMMARY", "CRASHBOT_CONFIG"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CRASHBOT_TOKEN", "fixer-token")
        monkeypatch.setenv("E2E_SIGNING_KEY", KEY)
        yield Stage(checkout, standin, remote, tmp_path / "crashbot.toml", issue.number)


def configure(stage: Stage, engine: FakeEngine, *, max_attempts: int = 3) -> None:
    stage.config.write_text(
        "[github]\n"
        f"uploader_login = {json.dumps(UPLOADER)}\n"
        "[signing]\n"
        'key_env = "E2E_SIGNING_KEY"\n'
        "[fix]\n"
        'engine = "openai"\n'
        'model = "fake-fixer-1"\n'
        f"base_url = {json.dumps(engine.base_url)}\n"
        f"build_dir = {json.dumps(str(stage.checkout.build_dir))}\n"
        f"max_attempts = {max_attempts}\n"
        'commit_author = "crashbot-fixer[bot] <fixer@bots.invalid>"\n',
        encoding="utf-8",
    )


# -- issue 11: untrusted code stays untrusted ----------------------------------------------------------------
#
# crashbot runs as its own process here, with its secrets in its initial environment, so that
# /proc/<crashbot's pid>/environ holds them the way it does on a runner. The attacks come from what the
# engine's code controls: the patch, a test step, a coding agent. Each test then reads everything that
# reached GitHub (comments, PRs), the engine (every request) and the branches in the bare repository.

RUNNER_SECRET = "runner-ssh-key-material-0123456789"
ENGINE_KEY = "e2e-engine-api-key-abcdefghijklmnop"
APP_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEe2eAppKeyLineThatIsSecret0123456789\n-----END RSA PRIVATE KEY-----"
)
SECRET_VALUES = (KEY, "fixer-token", ENGINE_KEY, "MIIEe2eAppKeyLineThatIsSecret0123456789", RUNNER_SECRET)


def runner_file(stage: Stage) -> Path:
    """A file of the runner's own, outside the checkout (its home, say): /tmp is hidden in the sandbox."""
    path = stage.checkout.workspace.parent.parent / "runner-home" / ".ssh" / "id_rsa"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RUNNER_SECRET + "\n", encoding="utf-8")
    return path


def configure_attack(stage: Stage, engine: str, lines: str, *, max_attempts: int = 1) -> None:
    stage.config.write_text(
        "[github]\n"
        f"uploader_login = {json.dumps(UPLOADER)}\n"
        'app_private_key_env = "E2E_APP_KEY"\n'
        "[signing]\n"
        'key_env = "E2E_SIGNING_KEY"\n'
        "[fix]\n"
        f"engine = {json.dumps(engine)}\n"
        'model = "fake-fixer-1"\n'
        'api_key_env = "E2E_ENGINE_KEY"\n'
        f"build_dir = {json.dumps(str(stage.checkout.build_dir))}\n"
        f"max_attempts = {max_attempts}\n"
        'commit_author = "crashbot-fixer[bot] <fixer@bots.invalid>"\n' + lines,
        encoding="utf-8",
    )


def fix_process(stage: Stage, *, key: str = KEY) -> subprocess.CompletedProcess[str]:
    """``crashbot fix`` as its own process: its secrets are in its initial environment (and so in
    /proc/<pid>/environ), where a child could read them if nothing stopped it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "GITHUB_", "E2E_"))}
    env |= {
        "CRASHBOT_TOKEN": "fixer-token",
        "E2E_SIGNING_KEY": key,
        "E2E_ENGINE_KEY": ENGINE_KEY,
        "E2E_APP_KEY": APP_KEY,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    argv = [sys.executable, "-m", "bot", "--config", str(stage.config), "fix", "--repo", REPO]
    argv += ["--api-url", stage.standin.api_url, "--workspace", str(stage.checkout.workspace)]
    argv += ["--issue", str(stage.issue)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)


def what_left(stage: Stage, engine: FakeEngine | None = None) -> str:
    """Everything that left crashbot: issue comments, PRs, engine requests, and every crashfix branch."""
    texts = [c["body"] for c in stage.standin.comments(REPO, stage.issue)]
    texts += [p["title"] + "\n" + p["body"] for p in stage.standin.pulls(REPO)]
    texts += [json.dumps(r["body"]) for r in (engine.requests if engine else [])]
    refs = git(stage.remote, "for-each-ref", "--format=%(refname)", "refs/heads/crashfix/").split()
    texts += [git(stage.remote, "log", "-p", "--format=%B", f"main..{ref}") for ref in refs]
    return "\n".join(texts)


def assert_no_secret(text: str) -> None:
    for secret in SECRET_VALUES:
        assert secret not in text, secret


PROBE = (
    "for f in /proc/$PPID/environ /proc/1/environ {runner}; do echo \"== $f\"; tr '\\0' '\\n' < $f; done; "
    "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -i key; "
    "ls -a $HOME /home /root /tmp; cat ~/.ssh/id_rsa"
)
