"""``crashbot fix`` end to end on the demo worldserver: a real crash under gdb, a signed issue filed by the
uploader on the stand-in, an OpenAI-compatible engine on loopback answering with ``bot/demo/fix.patch``,
a real CMake + g++ build, and the PR and branch checked on the stand-in and in the bare repository.

The checkout and its build directory are made once per test session (per xdist worker) and reset between
tests, so only the first build compiles everything; later ones recompile the file a patch touched.
"""

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

from bot.cli import main
from bot.config import FixSettings
from bot.crash import analyse, parse_report
from bot.crash.model import Crash
from bot.demo import worldserver as demo
from bot.fix.build import build
from bot.issue import Occurrences, labels_for, labels_specs_for, render_body, render_title
from bot.standin import StandIn
from bot.vocabulary import LABEL_SPECS, sig_label
from tests.fix.pipeline_world import REPO, UPLOADER, client_for
from tests.gitutil import git

pytestmark = [
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


def _answer(diff: str) -> str:
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


def _configure(stage: Stage, engine: FakeEngine, *, max_attempts: int = 3) -> None:
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


def _fix(stage: Stage, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        [
            "--config",
            str(stage.config),
            "fix",
            "--repo",
            REPO,
            "--api-url",
            stage.standin.api_url,
            "--workspace",
            str(stage.checkout.workspace),
            "--issue",
            str(stage.issue),
        ]
    )
    out, _ = capsys.readouterr()
    return code, out


def test_e2e_real_crash_becomes_a_built_pr_and_a_rerun_updates_it(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    branch = "crashfix/" + sig_label(stage.checkout.crash.signature.id).removeprefix("sig:")
    exe = stage.checkout.build_dir / "bin" / "worldserver"
    assert b" is not online." not in exe.read_bytes()  # the crashing build

    with FakeEngine([_answer(demo.FIX_PATCH.read_text(encoding="utf-8"))]) as engine:
        _configure(stage, engine)
        code, out = _fix(stage, capsys)

        assert code == 0, out
        assert "pr-opened" in out
        # the engine saw the crash and the faulting code, quoted as data
        prompt = engine.requests[0]["body"]["messages"][1]["content"]
        assert "SendWhisper" in prompt and "FindPlayerByName" in prompt
        assert "UNTRUSTED DATA" in prompt
        [pull] = stage.standin.pulls(REPO)
        assert pull["head"]["ref"] == branch and pull["state"] == "open"
        assert f"Fixes #{stage.issue}" in pull["body"] and "fake-fixer-1" in pull["body"]
        assert [label["name"] for label in pull["labels"]] == ["crash-fix"]
        # the branch in the bare repository: the bot's commit on top of main, with exactly the patch
        log = git(stage.remote, "log", "--format=%an|%s", f"refs/heads/{branch}").splitlines()
        assert len(log) == 2 and log[0].startswith("crashbot-fixer[bot]|Fix crash:")
        diff = git(stage.remote, "diff", "main", f"refs/heads/{branch}")
        assert (
            f"+++ b/{HANDLER}" in diff
            and '+        SendSysMessage("Player " + name + " is not online.");' in diff
        )
        # the build really ran: the fixed message is in the binary, and only the patched file recompiled
        assert b" is not online." in exe.read_bytes()
        build_log = (stage.checkout.build_dir / "crashbot-build.log").read_text(encoding="utf-8")
        assert "ChatHandler.cpp" in build_log and "Player.cpp" not in build_log
        comments = stage.standin.comments(REPO, stage.issue)
        assert comments[0]["body"].startswith("<!-- crashbot:analysis -->") and HANDLER in comments[0]["body"]
        assert f"opened #{pull['number']}" in comments[1]["body"]

        rerun_code, rerun_out = _fix(stage, capsys)

    assert rerun_code == 0 and "pr-updated" in rerun_out
    assert [p["number"] for p in stage.standin.pulls(REPO)] == [pull["number"]]
    assert len(stage.standin.comments(REPO, stage.issue)) == 2


def test_e2e_patch_that_does_not_compile_gets_gcc_errors_back_then_an_honest_comment(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = demo.FIX_PATCH.read_text(encoding="utf-8").replace(
        "return false;", "return notDeclaredAnywhere;"
    )

    with FakeEngine([_answer(broken)]) as engine:
        _configure(stage, engine, max_attempts=2)
        code, out = _fix(stage, capsys)

    assert code == 0 and "build-failed" in out
    assert len(engine.requests) == 2
    retry_prompt = engine.requests[1]["body"]["messages"][1]["content"]
    assert "notDeclaredAnywhere" in retry_prompt and "was not declared in this scope" in retry_prompt
    assert stage.standin.pulls(REPO) == []
    assert "crashfix/" not in git(stage.remote, "branch", "--list")
    [_, note] = stage.standin.comments(REPO, stage.issue)
    assert "no patch built" in note["body"] and "notDeclaredAnywhere" in note["body"]
