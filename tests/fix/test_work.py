"""bot.fix.work: the engine loop in its own process, holding no crashbot secret, and the strict parse of
what it hands back."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from bot.build import fence
from bot.build.diagnostics import Diagnostic, Severity
from bot.config import FixEngine, FixSettings, SandboxMode
from bot.fix.analysis import Analysis
from bot.fix.attempts import Attempts, Bench, Task, Usage
from bot.fix.engines import EngineError, engine_elsewhere, make_engine
from bot.fix.report import Attempt, Step
from bot.fix.work import WorkError, attempts_from_json, attempts_to_json, held_secrets, isolated, masked
from bot.git import Git
from tests.fix.conftest import commit_files, make_repo

LOOP = Attempts(
    (
        Attempt(
            1,
            Step.BUILD_FAILED,
            "the build step failed",
            diff="--- a/x\n+++ b/x\n",
            reasoning="why",
            model="m",
            diagnostics=(Diagnostic("src/a.cpp", 3, None, Severity.ERROR, None, "boom"),),
            log_tail="tail",
            engine_s=1.5,
            build_s=2.0,
            tests_ok=None,
        ),
        Attempt(2, Step.BUILT, "built", diff="d", tests_ok=True),
    ),
    Usage(1.5, 2.0, 1234, "m"),
    tokens_before=7,
)


def test_attempts_json_round_trip() -> None:
    assert attempts_from_json(attempts_to_json(LOOP)) == LOOP


@pytest.mark.parametrize(
    "broken",
    [
        "not json",
        "[]",
        '{"attempts": [], "usage": {}}',
        json.dumps({**json.loads(attempts_to_json(LOOP)), "tokens_before": "7"}),
        attempts_to_json(LOOP).replace('"build failed"', '"pwned"'),
        attempts_to_json(LOOP).replace('"number": 1', '"number": true'),
        attempts_to_json(LOOP).replace('"message": "boom"', '"message": {"x": 1}'),
    ],
)
def test_attempts_from_json_refuses_anything_but_a_result(broken: str) -> None:
    with pytest.raises(WorkError, match="malformed"):
        attempts_from_json(broken)


AGENT = """
import os, sys
sys.stdin.read()
parent = open("/proc/%d/environ" % os.getppid(), "rb").read().replace(b"\\0", b"\\n").decode()
print("ABSTAIN: " + " ".join(sorted(line.split("=", 1)[0] for line in parent.splitlines() if line)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_isolated_work_process_holds_the_engine_key_and_no_crashbot_secret(tmp_path: Path) -> None:
    """Unsandboxed on purpose (fix.sandbox = "none"), so the agent can read its parent's environment:
    its parent is the work process, and that holds the engine's key and nothing of crashbot's."""
    git = make_repo(tmp_path / "repo")
    commit_files(git.repo, {"src/a.cpp": "int a;\n"}, "init")
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT, encoding="utf-8")
    settings = FixSettings(
        engine=FixEngine.COMMAND,
        command=(sys.executable, str(agent)),
        api_key_env="AGENT_API_KEY",
        sandbox=SandboxMode.NONE,
        max_attempts=1,
    )
    env = {
        **os.environ,
        "CRASHBOT_SIGNING_KEY": "k" * 40,
        "CRASHBOT_APP_PRIVATE_KEY": "pem",
        "CRASHBOT_PUSH_TOKEN": "ghs_push",
        "REALM_HMAC": "custom-named-secret",
        "AGENT_API_KEY": "agent-key-value",
    }
    secret_names = {"CRASHBOT_SIGNING_KEY", "CRASHBOT_APP_PRIVATE_KEY", "CRASHBOT_PUSH_TOKEN", "REALM_HMAC"}
    build_env = {k: v for k, v in env.items() if k not in secret_names | {"AGENT_API_KEY"}}
    engine = make_engine(settings, env=env)
    bench = Bench(engine, settings, Git(git.repo, env=build_env), git.repo, build_env, lambda: 0.0)
    analysis = Analysis("s1", "SIGSEGV | f", None, None, None, None, git.head(), (), (), (), (), ())
    task = Task(1, analysis, "crash", (), git.head())

    loop = isolated(engine_key_env="AGENT_API_KEY", env=env, timeout_s=120)(bench, task)

    [attempt] = loop.attempts
    assert attempt.step is Step.ABSTAINED
    names = set(attempt.detail.split())
    assert "AGENT_API_KEY" in names
    assert not names & secret_names
    assert not {n for n in names if n.startswith("CRASHBOT_")}


# -- --phase work -----------------------------------------------------------------------------------------


def test_held_secrets_names_every_configured_secret_but_the_engine_s_key() -> None:
    env = {"AGENT_API_KEY": "k", "CRASHBOT_SIGNING_KEY": "s", "CRASHBOT_TOKEN": "", "PATH": "/bin"}
    names = {"AGENT_API_KEY", "CRASHBOT_SIGNING_KEY", "CRASHBOT_TOKEN", "CRASHBOT_APP_PRIVATE_KEY"}

    assert held_secrets(env, names, engine_key_env="AGENT_API_KEY") == ["CRASHBOT_SIGNING_KEY"]
    assert held_secrets({"AGENT_API_KEY": "k"}, names, engine_key_env="AGENT_API_KEY") == []


def test_masked_hides_the_work_step_s_own_key_in_every_text_it_hands_back() -> None:
    """publish does not hold the engine's key, so it could not mask it: the work step does."""
    key = "agent-key-value-0123456789"
    leaky = Attempt(
        1,
        Step.REJECTED,
        f"the patch holds {key}",
        diff=f"+// {key}\n",
        reasoning=f"found {key}",
        log_tail=f"env: {key}",
        diagnostics=(Diagnostic(f"src/{key}.cpp", 1, None, Severity.ERROR, None, key),),
    )
    fence.remember([key])
    try:
        text = attempts_to_json(masked(Attempts((leaky,), Usage())))
    finally:
        fence.forget()

    assert key not in text and text.count(fence.MASK) == 6


def test_an_engine_elsewhere_is_named_and_never_called() -> None:
    engine = engine_elsewhere(FixSettings(engine=FixEngine.OPENAI))

    assert engine.name == "openai"
    with pytest.raises(EngineError, match="--phase work"):
        engine.propose(None)  # type: ignore[arg-type]
