"""The engine loop of one issue: propose -> check -> apply -> build, each failure fed back to the engine,
until a patch builds, the engine abstains or the attempts run out.

It writes nothing to GitHub. It returns every attempt and what they cost (:class:`Usage`); the checkout
is left holding the patch that built, or reset to the base commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.build.runner import BuildResult, build
from bot.build.runner import Step as BuildStep
from bot.config import FixSettings
from bot.fix.analysis import Analysis
from bot.fix.engines import Abstain, Engine, EngineContext, Proposal
from bot.fix.patch import PatchRejected, check
from bot.fix.prompt import Feedback, HumanText, build_prompt
from bot.fix.report import Attempt, Step
from bot.git import Git

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """What attempts cost: engine and build time, engine tokens, and the model the engine last named."""

    engine_s: float = 0.0
    build_s: float = 0.0
    tokens: int = 0
    model: str = ""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            engine_s=self.engine_s + other.engine_s,
            build_s=self.build_s + other.build_s,
            tokens=self.tokens + other.tokens,
            model=other.model or self.model,
        )


@dataclass(frozen=True)
class Attempts:
    """The loop's record: every attempt in order and their summed cost."""

    attempts: tuple[Attempt, ...]
    usage: Usage  # what this loop spent
    tokens_before: int = 0  # what earlier runs on the issue spent

    @property
    def tokens(self) -> int:
        """Engine tokens the issue has cost so far, this loop included."""
        return self.tokens_before + self.usage.tokens

    @property
    def built(self) -> Attempt | None:
        """The attempt whose patch built (always the last one), None when none did."""
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.step is Step.BUILT else None


@dataclass(frozen=True)
class Bench:
    """Where attempts are made: the engine, the checkout and how it is built."""

    engine: Engine
    settings: FixSettings
    git: Git
    workspace: Path
    build_env: Mapping[str, str] = field(repr=False)  # already stripped of the secrets
    clock: Callable[[], float]


@dataclass(frozen=True)
class Task:
    """What the engine is asked to fix."""

    issue: int
    analysis: Analysis
    crash_text: str
    human_text: tuple[HumanText, ...]
    base_sha: str  # the checkout is reset here after every attempt that did not build
    tokens_before: int = 0  # engine tokens earlier runs spent on the issue (the ceiling is per issue)


@dataclass(frozen=True)
class _Verdict:
    """How far one proposal got, and what the engine hears about it next time."""

    step: Step
    detail: str
    diff: str = ""
    built: BuildResult | None = None
    feedback: Feedback | None = None


def run_attempts(bench: Bench, task: Task) -> Attempts:
    """Up to ``fix.max_attempts`` rounds (at least one); stops at the first patch that builds or when the
    engine abstains."""
    feedback: list[Feedback] = []
    attempts: list[Attempt] = []
    usage = Usage()
    for number in range(1, max(1, bench.settings.max_attempts) + 1):
        attempt, said = _attempt(bench, task, number, feedback, tokens_used=task.tokens_before + usage.tokens)
        attempts.append(attempt)
        usage += Usage(attempt.engine_s, attempt.build_s, said, attempt.model)
        if attempt.step in (Step.BUILT, Step.ABSTAINED):
            break  # a built patch stays in the checkout for the commit
    return Attempts(tuple(attempts), usage, task.tokens_before)


def _attempt(
    bench: Bench, task: Task, number: int, feedback: list[Feedback], *, tokens_used: int
) -> tuple[Attempt, int]:
    """One round: the attempt and the engine tokens it spent. Appends to ``feedback`` when it failed."""
    s = bench.settings
    prompt = build_prompt(
        task.analysis,
        crash_text=task.crash_text,
        allowed_paths=s.allowed_paths,
        max_changed_lines=s.max_changed_lines,
        human_text=task.human_text,
        feedback=feedback,
    )
    asked = bench.clock()
    context = EngineContext(prompt=prompt, workdir=bench.workspace, attempt=number, tokens_used=tokens_used)
    proposal = bench.engine.propose(context)
    engine_s = bench.clock() - asked
    bench.git.reset_hard(task.base_sha)  # whatever an agent engine left behind
    verdict = _judge(bench, task, number, proposal)
    if verdict.feedback is not None:
        feedback.append(verdict.feedback)
    built = verdict.built
    failed = built is not None and not built.ok
    if failed:
        bench.git.reset_hard(task.base_sha)
    attempt = Attempt(
        number,
        verdict.step,
        verdict.detail,
        diff=verdict.diff,
        reasoning="" if isinstance(proposal, Abstain) else proposal.reasoning,
        model=proposal.model,
        diagnostics=(built.errors or built.diagnostics) if built is not None and failed else (),
        log_tail=built.tail if built is not None and failed else "",
        engine_s=engine_s,
        build_s=built.duration_s if built is not None else 0.0,
        tests_ok=built.tests_ok if built is not None else None,
    )
    return attempt, proposal.usage.total


def _judge(bench: Bench, task: Task, number: int, proposal: Proposal) -> _Verdict:
    """Check, apply and build ``proposal`` (the checkout is at the base commit)."""
    s = bench.settings
    if isinstance(proposal, Abstain):
        logger.info("issue #%d attempt %d: the engine abstained: %s", task.issue, number, proposal.reason)
        return _Verdict(Step.ABSTAINED, proposal.reason)
    try:
        patch = check(
            proposal.diff,
            allowed_paths=s.allowed_paths,
            max_changed_lines=s.max_changed_lines,
            repo=bench.git,
            allow_protected=s.allow_protected_paths,
        )
    except PatchRejected as e:
        detail = "\n".join(str(v) for v in e.violations)
        logger.info("issue #%d attempt %d: patch rejected: %s", task.issue, number, detail)
        said = "the patch was rejected: " + "; ".join(str(v) for v in e.violations)
        return _Verdict(Step.REJECTED, detail, proposal.diff, feedback=Feedback(number, proposal.diff, said))
    bench.git.apply(patch.text)
    built = build(bench.workspace, s, env=bench.build_env)
    if built.ok:
        return _Verdict(Step.BUILT, "built", patch.text, built)
    failed = built.failed_step or BuildStep.BUILD
    step = Step.TEST_FAILED if failed is BuildStep.TEST else Step.BUILD_FAILED
    problem = f"the {failed.value} step failed" + (" (timed out)" if built.timed_out else "")
    logger.info("issue #%d attempt %d: %s (log: %s)", task.issue, number, problem, built.log_path)
    told = Feedback(number, patch.text, problem, diagnostics=built.errors, log_tail=built.tail)
    return _Verdict(step, problem, patch.text, built, told)
