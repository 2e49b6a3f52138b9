"""The untrusted phase as its own process: the engine loop (engine call, apply, build, test) runs in
``python -m bot.fix.work <handoff dir>``, whose environment holds no crashbot secret (not the App key,
not the signing key, not a GitHub or push token); only the engine's own API key, which the engine call
needs. The trusted ``crashbot fix`` process verifies the issue before and publishes after.

The handoff is a private temporary directory. Trusted to untrusted: ``task.pickle`` (written by the
trusted side, so unpickling it there is safe). Untrusted to trusted: ``attempts.json``, plain data that
the trusted side parses strictly; the patch in it is validated again before anything is published and
every text in it goes through the fence before it is posted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.build import fence
from bot.build.diagnostics import Diagnostic, Severity
from bot.build.runner import scrub_env
from bot.errors import BotError
from bot.fix import handoff
from bot.fix.attempts import Attempts, Bench, Task, Usage, run_attempts
from bot.fix.report import Attempt, Step
from bot.git import Git

logger = logging.getLogger(__name__)

TASK_FILE = handoff.TASK_FILE
RESULT_FILE = handoff.RESULT_FILE
MAX_RESULT_BYTES = handoff.MAX_RESULT_BYTES


class WorkError(BotError):
    """The work process failed or handed back something that is not a result."""


Work = Callable[[Bench, Task], Attempts]


def isolated(*, engine_key_env: str, env: Mapping[str, str], timeout_s: float) -> Work:
    """A :data:`Work` that runs the engine loop in a child process holding only ``engine_key_env`` of
    ``env``'s secrets (``Bench.build_env`` is already without the configured ones)."""

    def work(bench: Bench, task: Task) -> Attempts:
        child_env = scrub_env(bench.build_env)
        if engine_key_env and env.get(engine_key_env):
            child_env[engine_key_env] = env[engine_key_env]  # the engine call needs it; nothing else does
        with tempfile.TemporaryDirectory(prefix="crashbot-work-") as tmp:
            handoff = Path(tmp)
            state = {"settings": bench.settings, "workspace": str(bench.workspace), "task": task}
            state["build_env"] = dict(bench.build_env)
            (handoff / TASK_FILE).write_bytes(pickle.dumps(state))
            # -P: not the current directory (the checkout, maybe) first on sys.path, to shadow a module
            argv = [sys.executable, "-P", "-m", "bot.fix.work", str(handoff)]
            try:
                proc = subprocess.run(argv, env=child_env, timeout=timeout_s, check=False)
            except subprocess.TimeoutExpired as e:
                raise WorkError(f"the work phase did not finish within {timeout_s:.0f}s") from e
            result = handoff / RESULT_FILE
            if proc.returncode != 0 or not result.is_file():
                raise WorkError(f"the work phase (engine, build, test) failed with status {proc.returncode}")
            if result.stat().st_size > MAX_RESULT_BYTES:
                raise WorkError("the work phase handed back more than a result can be")
            return attempts_from_json(result.read_text(encoding="utf-8"))

    return work


@dataclass(frozen=True)
class Worked:
    """What ``--phase work`` did for one issue: its loop, or why there is none (publish then records
    an error for it and writes nothing)."""

    issue: int
    loop: Attempts | None
    error: str = ""


def held_secrets(env: Mapping[str, str], secret_names: Iterable[str], *, engine_key_env: str) -> list[str]:
    """The secrets ``env`` holds that ``--phase work`` must not: every configured one but the engine's
    key. The workflow gives that step the engine's key only; anything more is a mistake in it."""
    return sorted({n for n in secret_names if n and n != engine_key_env and env.get(n)})


def run_handoff(root: Path, bench: Bench) -> list[Worked]:
    """``--phase work``: the engine loop for every task ``--phase prepare`` left in ``root``, each
    result written beside its task as ``attempts.json``; the checkout is put back on the task's base
    commit after each, so the next issue starts clean."""
    return [_work_one(root, bench, number) for number in handoff.prepared_issues(root)]


def _work_one(root: Path, bench: Bench, number: int) -> Worked:
    task: Task | None = None
    try:
        task = handoff.read_task(root, number)
        loop = run_attempts(bench, task)
        # a checkout whose config now runs commands or redirects git shows the loop misbehaved: hand
        # nothing back (publish records an error); every later git call here refuses it too
        bench.git.check_config()
        handoff.write_result(root, number, attempts_to_json(masked(loop)))
        return Worked(number, loop)
    except BotError as e:  # per-issue isolation, as in a sweep
        logger.error("issue #%d: %s", number, fence.post(e.diagnostic(), limit=2_000))
        return Worked(number, None, fence.post(e.diagnostic(), limit=500))
    finally:
        if task is not None:
            _reset(bench.git, task.base_sha)


def _reset(git: Git, base_sha: str) -> None:
    """The checkout back at the base commit for the next issue, whatever the loop left (a refused
    checkout stays as it is: its git is not run again)."""
    try:
        git.reset_hard(base_sha)
    except BotError as e:
        logger.error(
            "cannot reset the checkout to %s: %s", base_sha[:12], fence.post(e.diagnostic(), limit=500)
        )


def masked(loop: Attempts) -> Attempts:
    """``loop`` with the secrets this process holds (the engine's key) masked in every text: the trusted
    side that posts it does not hold that key, so it could not mask it there."""
    return dataclasses.replace(
        loop,
        attempts=tuple(
            dataclasses.replace(
                a,
                detail=fence.mask(a.detail),
                diff=fence.mask(a.diff),
                reasoning=fence.mask(a.reasoning),
                log_tail=fence.mask(a.log_tail),
                diagnostics=tuple(
                    dataclasses.replace(d, message=fence.mask(d.message), file=d.file and fence.mask(d.file))
                    for d in a.diagnostics
                ),
            )
            for a in loop.attempts
        ),
    )


def attempts_to_json(loop: Attempts) -> str:
    return json.dumps(
        {
            "attempts": [
                {
                    **{k: getattr(a, k) for k in ("number", "detail", "diff", "reasoning", "model")},
                    **{k: getattr(a, k) for k in ("log_tail", "engine_s", "build_s", "tests_ok")},
                    "step": a.step.value,
                    "diagnostics": [
                        {
                            "file": d.file,
                            "line": d.line,
                            "column": d.column,
                            "severity": d.severity.value,
                            "code": d.code,
                            "message": d.message,
                        }
                        for d in a.diagnostics
                    ],
                }
                for a in loop.attempts
            ],
            "usage": {k: getattr(loop.usage, k) for k in ("engine_s", "build_s", "tokens", "model")},
            "tokens_before": loop.tokens_before,
        }
    )


def attempts_from_json(text: str) -> Attempts:
    """The work process's result, parsed strictly: WorkError for anything but the expected shape."""
    try:
        data = json.loads(text)
        attempts = tuple(_attempt(a) for a in _list(data["attempts"]))
        u = data["usage"]
        usage = Usage(_num(u["engine_s"]), _num(u["build_s"]), _int(u["tokens"]), _str(u["model"]))
        return Attempts(attempts, usage, _int(data["tokens_before"]))
    except (ValueError, KeyError, TypeError) as e:
        raise WorkError(f"the work phase handed back a malformed result ({type(e).__name__}: {e})") from e


def _attempt(a: Any) -> Attempt:
    return Attempt(
        number=_int(a["number"]),
        step=Step(a["step"]),
        detail=_str(a["detail"]),
        diff=_str(a["diff"]),
        reasoning=_str(a["reasoning"]),
        model=_str(a["model"]),
        diagnostics=tuple(_diagnostic(d) for d in _list(a["diagnostics"])),
        log_tail=_str(a["log_tail"]),
        engine_s=_num(a["engine_s"]),
        build_s=_num(a["build_s"]),
        tests_ok=None if a["tests_ok"] is None else bool(a["tests_ok"]),
    )


def _diagnostic(d: Any) -> Diagnostic:
    return Diagnostic(
        None if d["file"] is None else _str(d["file"]),
        None if d["line"] is None else _int(d["line"]),
        None if d["column"] is None else _int(d["column"]),
        Severity(d["severity"]),
        None if d["code"] is None else _str(d["code"]),
        _str(d["message"]),
    )


def _list(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise TypeError(f"expected a list, got {type(v).__name__}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected a whole number, got {type(v).__name__}")
    return v


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {type(v).__name__}")
    return float(v)


def main(argv: list[str]) -> int:
    """The child: read the task, make the engine from the settings, run the loop, write the result."""
    logging.basicConfig(level=logging.INFO, format="crashbot fix (work): %(message)s", stream=sys.stderr)
    from bot.fix.engines import make_engine

    directory = Path(argv[0])
    state = pickle.loads((directory / TASK_FILE).read_bytes())  # noqa: S301 (written by the trusted parent)
    settings, task = state["settings"], state["task"]
    workspace = Path(state["workspace"])
    fence.remember([os.environ.get(settings.api_key_env)] if settings.api_key_env else [])  # its one secret
    engine = make_engine(settings, env=dict(os.environ))
    bench = Bench(
        engine, settings, Git(workspace, env=dict(os.environ)), workspace, state["build_env"], _clock
    )
    loop = run_attempts(bench, task)
    (directory / RESULT_FILE).write_text(attempts_to_json(masked(loop)), encoding="utf-8")
    return 0


def _clock() -> float:
    import time

    return time.monotonic()


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except BotError as e:
        print(f"crashbot fix (work): {fence.post(e.diagnostic(), limit=2_000)}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as e:  # the child's one error boundary: one line, never a traceback
        print(
            f"crashbot fix (work): internal error: {type(e).__name__}: {fence.post(str(e), limit=500)}",
            file=sys.stderr,
        )
        raise SystemExit(3) from None
