"""The engine loop on its own: real git and a build that really runs, a scripted engine and a clock that
ticks by hand. It returns every attempt and what they cost, and writes nothing anywhere but the checkout."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fix.analysis import analyse
from bot.fix.attempts import Attempts, Bench, Task, Usage, run_attempts
from bot.fix.report import Step
from bot.git import Git
from tests.fix.pipeline_world import BROKEN_DIFF, CHAT_CPP, FIX_DIFF, ScriptedEngine, World, make_world

TICK_S = 2.5


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


def _loop(world: World, engine: ScriptedEngine, *, tokens_before: int = 0, **settings: object) -> Attempts:
    fix = world.settings(**settings)
    git = Git(world.workspace, env=os.environ)
    ticks = itertools.count(0.0, TICK_S)
    bench = Bench(engine, fix, git, world.workspace, dict(os.environ), clock=lambda: next(ticks))
    crash, _ = world.crash()
    task = Task(
        issue=7,
        analysis=analyse(crash, git, fix),
        crash_text="signature: SIGSEGV | ChatHandler::HandleWhisper",
        human_text=(),
        base_sha=world.base_sha,
        tokens_before=tokens_before,
    )
    return run_attempts(bench, task)


def test_run_attempts_returns_each_attempt_and_what_they_spent_together(world: World) -> None:
    engine = ScriptedEngine([BROKEN_DIFF, FIX_DIFF])

    loop = _loop(world, engine, tokens_before=1_000)

    assert [a.step for a in loop.attempts] == [Step.BUILD_FAILED, Step.BUILT]
    assert loop.built is loop.attempts[-1]
    # the clock is read before and after each proposal: one tick of engine time per attempt
    assert [a.engine_s for a in loop.attempts] == [TICK_S, TICK_S]
    assert loop.usage.engine_s == 2 * TICK_S
    assert loop.usage.build_s == sum(a.build_s for a in loop.attempts)
    assert loop.usage.tokens == 2 * 150 and loop.tokens == 1_300
    assert loop.usage.model == "scripted-model-1"
    # the engine heard what earlier runs and earlier attempts spent (the ceiling is per issue)
    assert [ctx.tokens_used for ctx in engine.asked] == [1_000, 1_150]
    assert "the build step failed" in engine.asked[1].prompt.user
    # the patch that built is left in the checkout for the commit
    assert "if (!target)" in (world.workspace / CHAT_CPP).read_text()


def test_run_attempts_stops_when_the_engine_abstains_and_counts_its_tokens(world: World) -> None:
    engine = ScriptedEngine(["ABSTAIN: the crash is in a third-party library"])

    loop = _loop(world, engine, tokens_before=5)

    [attempt] = loop.attempts
    assert attempt.step is Step.ABSTAINED and attempt.detail == "the crash is in a third-party library"
    assert loop.built is None
    assert loop.usage == Usage(engine_s=TICK_S, build_s=0.0, tokens=110, model="scripted-model-1")
    assert loop.tokens == 115
    assert not (world.build_dir / "runs.txt").exists()  # nothing was built


def test_run_attempts_that_never_build_leave_the_checkout_at_the_base(world: World) -> None:
    loop = _loop(world, ScriptedEngine([BROKEN_DIFF]), max_attempts=2)

    assert [a.step for a in loop.attempts] == [Step.BUILD_FAILED, Step.BUILD_FAILED]
    assert loop.built is None
    assert loop.attempts[0].diagnostics and loop.attempts[0].log_tail
    assert Git(world.workspace, env=os.environ).run("status", "--porcelain").strip() == ""
    assert Git(world.workspace, env=os.environ).head() == world.base_sha


def test_usage_adds_up_and_keeps_the_last_model_named() -> None:
    total = Usage(1.0, 2.0, 3, "model-a") + Usage(0.5, 0.0, 4, "") + Usage(0.5, 1.0, 0, "model-b")

    assert total == Usage(engine_s=2.0, build_s=3.0, tokens=7, model="model-b")
    assert (Usage(tokens=1, model="model-a") + Usage(tokens=1)).model == "model-a"
