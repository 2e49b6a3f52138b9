"""bot.fix.engines: a loopback HTTP server fakes the Anthropic and OpenAI wire formats; a small Python
script plays the coding agent for the command engine."""

from __future__ import annotations

import http.server
import json
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.config import FixEngine, FixSettings
from bot.errors import ConfigError
from bot.fix.engines import (
    Abstain,
    Engine,
    EngineContext,
    EngineError,
    Patch,
    Usage,
    extract_diff,
    make_engine,
    parse_answer,
)
from bot.fix.engines.http import retry_after
from bot.fix.prompt import Prompt
from bot.git import Git
from tests.fix.conftest import CommitFn

DIFF = (
    "diff --git a/src/Unit.cpp b/src/Unit.cpp\n--- a/src/Unit.cpp\n+++ b/src/Unit.cpp\n"
    "@@ -1,3 +1,5 @@\n void Kill(Unit* victim)\n {\n+    if (!victim)\n+        return;\n     victim->Die();\n"
)
needs_bwrap = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bwrap") is None,
    reason="bubblewrap is Linux-only; runner-setup/dev-setup.sh installs it",
)
PROMPT = Prompt(system="You fix crashes.", user="# Crash analysis\n...")
KEY = "sk-test-secret-key"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeAPI:
    """Answers each POST with the next scripted Reply and records what it received."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.seen: list[Seen] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                api.seen.append(
                    Seen(
                        "POST",
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw or b"null"),
                    )
                )
                reply = (
                    api.replies.pop(0)
                    if api.replies
                    else Reply(500, {"error": {"message": "no reply scripted"}})
                )
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _anthropic_ok(text: str, *, stop: str = "end_turn") -> Reply:
    return Reply(
        200,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test-1",
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "usage": {"input_tokens": 1200, "output_tokens": 300},
        },
    )


def _openai_ok(text: str, *, finish: str = "stop", usage: bool = True) -> Reply:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000}
    return Reply(200, body)


def _ctx(tmp_path: Path, **kw: Any) -> EngineContext:
    return EngineContext(prompt=PROMPT, workdir=tmp_path, **kw)


def _anthropic(api: FakeAPI, sleeps: list[float], **kw: Any) -> Engine:
    settings = FixSettings(
        engine=FixEngine.ANTHROPIC, model="claude-test-1", api_key_env="ANTHROPIC_KEY", base_url=api.url, **kw
    )
    return make_engine(settings, env={"ANTHROPIC_KEY": KEY}, sleep=sleeps.append)


# -- anthropic -----------------------------------------------------------------------------------------


def test_anthropic_request_shape_and_diff_answer(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_anthropic_ok(f"The victim can be null.\n\n```diff\n{DIFF}```\n")]) as api:
        proposal = _anthropic(api, sleeps, max_output_tokens=2000).propose(_ctx(tmp_path))
    (req,) = api.seen
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.body["model"] == "claude-test-1"
    assert req.body["max_tokens"] == 2000
    assert req.body["system"] == PROMPT.system
    assert req.body["messages"] == [{"role": "user", "content": PROMPT.user}]
    assert isinstance(proposal, Patch)
    assert proposal.diff == DIFF
    assert proposal.reasoning == "The victim can be null."
    assert proposal.model == "claude-test-1"
    assert proposal.usage == Usage(1200, 300)


def test_anthropic_abstention(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_anthropic_ok("I looked at the code.\nABSTAIN: the faulting code is not shown")]) as api:
        proposal = _anthropic(api, sleeps).propose(_ctx(tmp_path))
    assert isinstance(proposal, Abstain)
    assert proposal.reason == "the faulting code is not shown"
    assert proposal.usage.total == 1500


def test_anthropic_429_then_ok_honours_retry_after(tmp_path: Path, sleeps: list[float]) -> None:
    replies = [
        Reply(
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            {"retry-after": "7"},
        ),
        Reply(529, {"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}}),
        _anthropic_ok(f"```diff\n{DIFF}```"),
    ]
    with FakeAPI(replies) as api:
        proposal = _anthropic(api, sleeps).propose(_ctx(tmp_path))
    assert isinstance(proposal, Patch)
    assert sleeps == [7.0, 4.0]  # Retry-After, then exponential backoff (2 * 2**1)
    assert len(api.seen) == 3


def test_anthropic_500s_exhaust_retries_raise_engine_error(tmp_path: Path, sleeps: list[float]) -> None:
    replies = [Reply(500, {"error": {"message": "internal"}})] * 3
    with FakeAPI(replies) as api, pytest.raises(EngineError, match="HTTP 500"):
        _anthropic(api, sleeps, engine_max_retries=2).propose(_ctx(tmp_path))
    assert len(sleeps) == 2


def test_anthropic_bad_key_not_retried_and_key_not_in_message(tmp_path: Path, sleeps: list[float]) -> None:
    reply = Reply(
        401,
        {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {KEY}"}},
    )
    with FakeAPI([reply]) as api, pytest.raises(EngineError) as err:
        _anthropic(api, sleeps).propose(_ctx(tmp_path))
    assert "HTTP 401" in str(err.value) and "api_key_env" in str(err.value)
    assert KEY not in str(err.value)
    assert sleeps == []


def test_anthropic_cut_off_answer_abstains(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_anthropic_ok(f"```diff\n{DIFF[:60]}", stop="max_tokens")]) as api:
        proposal = _anthropic(api, sleeps).propose(_ctx(tmp_path))
    assert isinstance(proposal, Abstain) and "cut off" in proposal.reason


def test_anthropic_token_ceiling_abstains_without_request(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([]) as api:
        engine = _anthropic(api, sleeps, max_tokens_per_issue=10_000)
        proposal = engine.propose(_ctx(tmp_path, attempt=3, tokens_used=9_500))
    assert isinstance(proposal, Abstain)
    assert "token ceiling" in proposal.reason and "9500" in proposal.reason
    assert api.seen == []


def test_anthropic_output_limit_shrinks_to_remaining_budget(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_anthropic_ok("ABSTAIN: no")]) as api:
        _anthropic(api, sleeps, max_tokens_per_issue=10_000, max_output_tokens=8192).propose(
            _ctx(tmp_path, tokens_used=6_000)
        )
    assert 1024 <= api.seen[0].body["max_tokens"] < 4000


def test_engine_connection_refused_retries_then_raises(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([]) as api:
        dead_url = api.url
    settings = FixSettings(
        engine=FixEngine.ANTHROPIC,
        model="m",
        api_key_env="K",
        base_url=dead_url,
        engine_max_retries=1,
        engine_timeout_s=5,
    )
    engine = make_engine(settings, env={"K": KEY}, sleep=sleeps.append)
    with pytest.raises(EngineError, match="unreachable after 2 tries"):
        engine.propose(_ctx(tmp_path))
    assert sleeps == [2.0]


# -- openai-compatible ---------------------------------------------------------------------------------


def test_openai_request_shape_bearer_and_local_max_tokens(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_openai_ok(f"Here:\n```diff\n{DIFF}```")]) as api:
        settings = FixSettings(
            engine=FixEngine.OPENAI,
            model="qwen2.5-coder",
            api_key_env="OAI",
            base_url=api.url + "/v1",
            max_output_tokens=3000,
        )
        proposal = make_engine(settings, env={"OAI": KEY}, sleep=sleeps.append).propose(_ctx(tmp_path))
    (req,) = api.seen
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "qwen2.5-coder"
    assert req.body["messages"] == [
        {"role": "system", "content": PROMPT.system},
        {"role": "user", "content": PROMPT.user},
    ]
    assert req.body["max_tokens"] == 3000
    assert isinstance(proposal, Patch) and proposal.usage == Usage(900, 100)


def test_openai_local_server_without_key_or_usage(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_openai_ok("ABSTAIN: not enough evidence", usage=False)]) as api:
        settings = FixSettings(engine=FixEngine.OPENAI, model="llama", base_url=api.url)
        proposal = make_engine(settings, env={}, sleep=sleeps.append).propose(_ctx(tmp_path))
    assert "authorization" not in api.seen[0].headers
    assert isinstance(proposal, Abstain) and proposal.usage.total > 0  # estimated


def test_openai_azure_style_uses_api_key_header_and_version(tmp_path: Path, sleeps: list[float]) -> None:
    """Azure is recognised by host name; the loopback server stands in via a requests adapter redirect."""
    with FakeAPI([_openai_ok(f"```diff\n{DIFF}```")]) as api:
        session = requests.Session()
        session.mount("https://myres.openai.azure.com", _Redirect(api.url))
        settings = FixSettings(
            engine=FixEngine.OPENAI,
            model="gpt-4o",
            api_key_env="AZ",
            base_url="https://myres.openai.azure.com/openai/deployments/fixer",
        )
        engine = make_engine(settings, env={"AZ": KEY}, sleep=sleeps.append, session=session)
        proposal = engine.propose(_ctx(tmp_path))
    (req,) = api.seen
    assert req.path == "/openai/deployments/fixer/chat/completions"
    assert req.query == {"api-version": ["2024-10-21"]}
    assert req.headers["api-key"] == KEY and "authorization" not in req.headers
    assert "max_completion_tokens" in req.body
    assert isinstance(proposal, Patch)


def test_openai_length_finish_abstains(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeAPI([_openai_ok("```diff\n--- a/x", finish="length")]) as api:
        settings = FixSettings(engine=FixEngine.OPENAI, model="m", base_url=api.url)
        proposal = make_engine(settings, env={}, sleep=sleeps.append).propose(_ctx(tmp_path))
    assert isinstance(proposal, Abstain) and "cut off" in proposal.reason


class _Redirect(requests.adapters.HTTPAdapter):
    """Sends https://<azure host>/path to the loopback server, keeping path, query and headers."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request, *args, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


# -- registry, none, replay ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "env", "match"),
    [
        (lambda: FixSettings(engine="gpt"), {}, "unknown"),  # type: ignore[arg-type]  # a raw string, checked when the settings are made
        (lambda: FixSettings(engine=FixEngine.ANTHROPIC, model=""), {}, "fix.model is empty"),
        (lambda: FixSettings(engine=FixEngine.ANTHROPIC, model="m", api_key_env=""), {}, "fix.api_key_env"),
        (
            lambda: FixSettings(engine=FixEngine.ANTHROPIC, model="m", api_key_env="NOPE"),
            {},
            "'NOPE' is not set",
        ),
        (lambda: FixSettings(engine=FixEngine.OPENAI, model="m", api_key_env="NOPE"), {}, "local server"),
        (lambda: FixSettings(engine=FixEngine.COMMAND), {}, "fix.command is empty"),
        (lambda: FixSettings(engine=FixEngine.REPLAY), {}, "fix.replay_patch is empty"),
        (
            lambda: FixSettings(engine=FixEngine.REPLAY, replay_patch="/nonexistent/x.diff"),
            {},
            "does not exist",
        ),
    ],
)
def test_make_engine_misconfiguration_raises_config_error(
    settings: Callable[[], FixSettings], env: dict[str, str], match: str
) -> None:
    """The settings are made inside the check: an unknown engine is refused as FixSettings is made."""
    with pytest.raises(ConfigError, match=match):
        make_engine(settings(), env=env)


def test_none_engine_always_abstains(tmp_path: Path) -> None:
    proposal = make_engine(FixSettings(engine=FixEngine.NONE), env={}).propose(_ctx(tmp_path))
    assert isinstance(proposal, Abstain) and "analysis only" in proposal.reason


def test_replay_engine_answers_recorded_diff_and_abstention(tmp_path: Path) -> None:
    recorded = tmp_path / "fix.diff"
    recorded.write_text(DIFF)
    engine = make_engine(FixSettings(engine=FixEngine.REPLAY, replay_patch=str(recorded)), env={})
    proposal = engine.propose(_ctx(tmp_path))
    assert isinstance(proposal, Patch) and proposal.diff == DIFF and proposal.model == "replay:fix.diff"
    recorded.write_text("ABSTAIN: recorded abstention\n")
    again = engine.propose(_ctx(tmp_path))
    assert isinstance(again, Abstain) and again.reason == "recorded abstention"


# -- command -------------------------------------------------------------------------------------------

AGENT = """\
import pathlib, sys
prompt = sys.stdin.read()
assert "Crash analysis" in prompt
mode = sys.argv[1]
if mode == "edit":
    p = pathlib.Path("src/Unit.cpp")
    p.write_text(p.read_text().replace("    victim->Die();", "    if (!victim)\\n        return;\\n    victim->Die();"))
    pathlib.Path("src/New.h").write_text("#pragma once\\n")
    print("Added a null check before Die().")
elif mode == "commit":
    import subprocess
    pathlib.Path("src/Unit.cpp").write_text("changed\\n")
    subprocess.run(["git", "commit", "-qam", "agent commit"], check=True)
    subprocess.run(["git", "checkout", "-qb", "agent-branch"], check=True)
elif mode == "abstain":
    print("ABSTAIN: cannot reproduce from the evidence")
elif mode == "env":
    import os
    print("ABSTAIN: token=" + os.environ.get("CRASHBOT_TOKEN", "absent") + " key=" + os.environ.get("AGENT_KEY", "absent"))
elif mode == "fail":
    print("agent blew up")
    sys.exit(4)
elif mode == "hang":
    import time
    time.sleep(60)
elif mode == "tamper":
    import os
    marker = os.environ["TAMPER_MARKER"]
    hook = pathlib.Path(".git/hooks/post-checkout")
    hook.write_text("#!/bin/sh\\necho hook >> '" + marker + "'\\n")
    hook.chmod(0o755)
    with open(".git/config", "a") as f:
        f.write("[core]\\n\\tfsmonitor = \\"echo fsmonitor >> '" + marker + "'; false\\"\\n")
    pathlib.Path("src/Unit.cpp").write_text("changed\\n")
"""


@pytest.fixture
def checkout(git_repo: Git, commit: CommitFn, tmp_path: Path) -> tuple[Git, Path]:
    commit({"src/Unit.cpp": "void Kill(Unit* victim)\n{\n    victim->Die();\n}\n"}, "init")
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    return git_repo, agent


def _command(
    agent: Path,
    mode: str,
    *,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    sandbox: str = "auto",
    api_key_env: str = "",
) -> Engine:
    settings = FixSettings(
        engine=FixEngine.COMMAND,
        command=(sys.executable, str(agent), mode),
        engine_timeout_s=timeout,
        sandbox=sandbox,  # type: ignore[arg-type]
        sandbox_read_only=(str(agent),),  # the agent script lives beside the checkout, not in it
        api_key_env=api_key_env,
    )
    import os

    return make_engine(settings, env=env if env is not None else dict(os.environ))


def test_command_engine_diff_of_agent_edits_and_checkout_reset(checkout: tuple[Git, Path]) -> None:
    git, agent = checkout
    head = git.head()
    proposal = _command(agent, "edit").propose(EngineContext(prompt=PROMPT, workdir=git.repo))
    assert isinstance(proposal, Patch)
    assert "+    if (!victim)" in proposal.diff
    assert "+++ b/src/New.h" in proposal.diff
    assert proposal.reasoning == "Added a null check before Die()."
    assert git.head() == head
    assert git.run("status", "--porcelain") == ""
    assert "if (!victim)" not in (git.repo / "src/Unit.cpp").read_text()


def test_command_engine_agent_commits_and_switches_branch_still_restored(checkout: tuple[Git, Path]) -> None:
    git, agent = checkout
    head = git.head()
    # unsandboxed, the agent can commit and switch branches; the checkout still comes back
    proposal = _command(agent, "commit", sandbox="none").propose(
        EngineContext(prompt=PROMPT, workdir=git.repo)
    )
    assert isinstance(proposal, Patch) and "+changed" in proposal.diff
    assert git.current_branch() == "main" and git.head() == head


@needs_bwrap
def test_command_engine_in_the_sandbox_cannot_write_git_s_own_files(checkout: tuple[Git, Path]) -> None:
    """In the sandbox the checkout is writable but its .git is not: no commit, no hook, no config."""
    git, agent = checkout
    head = git.head()
    config = (git.repo / ".git/config").read_bytes()
    proposal = _command(agent, "commit", sandbox="bwrap").propose(
        EngineContext(prompt=PROMPT, workdir=git.repo)
    )
    assert isinstance(proposal, Abstain) and "exited with status" in proposal.reason
    assert git.current_branch() == "main" and git.head() == head
    assert (git.repo / ".git/config").read_bytes() == config
    assert git.run("status", "--porcelain") == ""


def test_command_engine_printed_abstention(checkout: tuple[Git, Path]) -> None:
    git, agent = checkout
    proposal = _command(agent, "abstain").propose(EngineContext(prompt=PROMPT, workdir=git.repo))
    assert isinstance(proposal, Abstain) and proposal.reason == "cannot reproduce from the evidence"


def test_command_engine_hides_bot_tokens_keeps_agent_key(checkout: tuple[Git, Path]) -> None:
    git, agent = checkout
    import os

    env = {**os.environ, "CRASHBOT_TOKEN": "ghs_x", "AGENT_KEY": "k"}
    proposal = _command(agent, "env", env=env, api_key_env="AGENT_KEY").propose(
        EngineContext(prompt=PROMPT, workdir=git.repo)
    )
    assert isinstance(proposal, Abstain) and proposal.reason == "token=absent key=k"


def test_command_engine_agent_planting_git_hooks_or_config_runs_nothing_and_abstains(
    checkout: tuple[Git, Path], tmp_path: Path
) -> None:
    """An agent that may only edit files must not turn that into running commands as crashbot (whose
    git calls carry the App key and the push token): hooks and .git/config come back as they were."""
    git, agent = checkout
    import os

    marker = tmp_path / "ran.txt"
    config = (git.repo / ".git/config").read_bytes()
    env = {**os.environ, "TAMPER_MARKER": str(marker)}
    # unsandboxed (fix.sandbox = "none"): GitGuard is what stands between the agent and crashbot's git
    proposal = _command(agent, "tamper", env=env, sandbox="none").propose(
        EngineContext(prompt=PROMPT, workdir=git.repo)
    )
    git.run("status")  # the next git call crashbot makes runs nothing planted either
    assert not marker.exists(), marker.read_text()
    assert isinstance(proposal, Abstain) and ".git" in proposal.reason
    assert (git.repo / ".git/config").read_bytes() == config
    assert not (git.repo / ".git/hooks/post-checkout").exists()
    assert git.run("status", "--porcelain") == ""


def test_command_engine_failure_and_timeout_abstain(checkout: tuple[Git, Path]) -> None:
    git, agent = checkout
    failed = _command(agent, "fail").propose(EngineContext(prompt=PROMPT, workdir=git.repo))
    assert isinstance(failed, Abstain) and "status 4" in failed.reason and "agent blew up" in failed.reason
    hung = _command(agent, "hang", timeout=1.0).propose(EngineContext(prompt=PROMPT, workdir=git.repo))
    assert isinstance(hung, Abstain) and "did not finish" in hung.reason


def test_command_engine_missing_program_raises(checkout: tuple[Git, Path]) -> None:
    git, _ = checkout
    engine = make_engine(
        FixSettings(engine=FixEngine.COMMAND, command=("no-such-agent-cli-xyz",)), env={"PATH": "/usr/bin"}
    )
    with pytest.raises(EngineError, match="cannot start"):
        engine.propose(EngineContext(prompt=PROMPT, workdir=git.repo))


# -- answer parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        (f"```diff\n{DIFF}```", Patch, DIFF),
        (f"Reasoning first.\n~~~patch\n{DIFF}~~~\nThanks.", Patch, DIFF),
        (f"Raw diff follows:\n{DIFF}That is all.\n", Patch, DIFF),
        ("ABSTAIN: no evidence", Abstain, "no evidence"),
        ("**ABSTAIN: the code is not shown**", Abstain, "the code is not shown"),
        (f"ABSTAIN: unsure\n```diff\n{DIFF}```", Abstain, "both a diff and ABSTAIN"),
        ("I think the bug is in Unit.cpp.", Abstain, "neither a unified diff nor ABSTAIN"),
        ("```cpp\nint x;\n```", Abstain, "neither"),
    ],
)
def test_parse_answer_table(text: str, kind: type, detail: str) -> None:
    proposal = parse_answer(text, model="m", usage=Usage())
    assert isinstance(proposal, kind)
    if isinstance(proposal, Patch):
        assert proposal.diff == detail
    else:
        assert detail in proposal.reason


def test_extract_diff_joins_several_fenced_blocks() -> None:
    second = DIFF.replace("src/Unit.cpp", "src/Unit.h")
    diff, rest = extract_diff(f"one\n```diff\n{DIFF}```\ntwo\n```diff\n{second}```\n")
    assert diff == DIFF + second
    assert rest == "one\n\ntwo"


def test_retry_after_seconds_ms_and_http_date() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
