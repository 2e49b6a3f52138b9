"""The ``command`` engine: a coding-agent CLI (``claude -p``, ``codex exec``, ...) run in the checkout
with the prompt on stdin; its proposal is the diff of what it changed, and the checkout is reset after."""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.build import fence
from bot.build.runner import BuildError, run_logged, sandbox_for
from bot.config import FixSettings
from bot.errors import ConfigError, GitError
from bot.fix.engines.base import Abstain, EngineContext, EngineError, Patch, Proposal, Usage, parse_answer
from bot.git import Git

logger = logging.getLogger(__name__)

OUTPUT_TAIL_CHARS = 4_000
# crashbot's own credentials: the agent has its own key and must not be able to push, label or sign
_BOT_SECRET_RE = re.compile(
    r"^(?:CRASHBOT_.*|GITHUB_TOKEN|GH_TOKEN|GH_ENTERPRISE_TOKEN|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_.*)$",
    re.IGNORECASE,
)


def agent_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without crashbot's and GitHub's tokens (the agent's own API keys stay)."""
    return {k: v for k, v in env.items() if not _BOT_SECRET_RE.match(k)}


class CommandEngine:
    name = "command"

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        env: Mapping[str, str],
        settings: FixSettings | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self._timeout_s = timeout_s
        self._env = agent_env(env)
        # The agent runs in the sandbox (fix.sandbox) with the network shared, since it must reach its
        # own API endpoint: it holds its own key (fix.api_key_env) and nothing of crashbot's.
        self._settings = settings or FixSettings()

    @classmethod
    def from_settings(cls, settings: FixSettings, *, env: Mapping[str, str]) -> CommandEngine:
        if not settings.command:
            raise ConfigError(
                "fix.command is empty: engine 'command' needs an argv list, e.g. "
                '["claude", "-p", "--permission-mode", "acceptEdits"]'
            )
        agent_key = (settings.api_key_env,) if settings.api_key_env else ()
        settings = dataclasses.replace(settings, sandbox_env=(*settings.sandbox_env, *agent_key))
        return cls(settings.command, timeout_s=settings.engine_timeout_s, env=env, settings=settings)

    def propose(self, ctx: EngineContext) -> Proposal:
        git = Git(ctx.workdir, env=self._env)
        start = git.head()
        branch = git.current_branch()
        guard = GitGuard.take(git)
        box = sandbox_for(self._settings, writable=(ctx.workdir,), network=True)
        tampered: list[str] = []
        model = Path(self.argv[0]).name
        logger.info("running %s in %s, attempt %d", " ".join(self.argv), ctx.workdir, ctx.attempt)
        try:
            with tempfile.TemporaryFile() as log:
                try:
                    result = run_logged(
                        self.argv,
                        cwd=ctx.workdir,
                        log=log,
                        timeout_s=self._timeout_s,
                        env=self._env,
                        stdin_text=ctx.prompt.as_text(),
                        sandbox=box,
                    )
                except BuildError as e:
                    raise EngineError(f"fix.command cannot start: {e}") from e
                log.seek(0)
                output = _agent_output(log.read().decode("utf-8", errors="replace"))
            # before ANY further git call: a planted hook or config command would run as crashbot
            tampered = guard.restore()
            diff = "" if tampered else git.diff_worktree(start)
        finally:
            guard.restore()
            _restore(git, start, branch)
        if tampered:
            logger.warning("the agent changed git's own files %s; they were put back", tampered)
            return Abstain(
                f"the agent changed git's own files ({', '.join(tampered[:5])}), which could run commands "
                "as crashbot; they were restored and its work discarded",
                model,
                Usage(),
            )
        # the agent's output goes into the issue and the PR: fenced like a build log
        tail = fence.post(output[-OUTPUT_TAIL_CHARS * 2 :], limit=OUTPUT_TAIL_CHARS)
        if result.timed_out:
            return Abstain(
                f"the agent did not finish within {self._timeout_s:.0f}s (fix.engine_timeout_s)",
                model,
                Usage(),
            )
        if result.returncode != 0:
            last = tail.strip().splitlines()[-1:] or [""]
            return Abstain(
                f"the agent exited with status {result.returncode}: {last[0][:200]}", model, Usage()
            )
        if diff.strip():
            return Patch(diff=diff, reasoning=tail.strip(), model=model, usage=Usage())
        # no edits: the agent may have printed a diff or ABSTAIN instead
        # not fenced here: a printed diff must reach validation as written (report.py fences the rest)
        return parse_answer(output, model=model, usage=Usage())


@dataclass(frozen=True)
class GitGuard:
    """The files in ``.git`` that make git run commands (config, hooks, info/attributes) as they were
    before an agent ran, so edits to them can be detected and undone before crashbot runs git again."""

    roots: tuple[Path, ...]
    files: Mapping[Path, _Entry]

    @classmethod
    def take(cls, git: Git) -> GitGuard:
        roots = tuple(
            dict.fromkeys(
                (git.repo / git.run("rev-parse", arg).strip()).resolve()
                for arg in ("--git-dir", "--git-common-dir")
            )
        )
        return cls(roots, _guarded_files(roots))

    def restore(self) -> list[str]:
        """Put every guarded file back; return the ones that had changed (empty: untouched)."""
        now = _guarded_files(self.roots)
        changed = sorted(
            {p for p in now if p not in self.files or now[p] != self.files[p]}
            | {p for p in self.files if p not in now}
        )
        for path in changed:
            path.unlink(missing_ok=True)  # a symlink planted in its place is replaced, not followed
            entry = self.files.get(path)
            if entry is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if entry.link is not None:
                path.symlink_to(entry.link)
            else:
                path.write_bytes(entry.data)
                path.chmod(entry.mode)
        return [_shown(path, self.roots) for path in changed]


@dataclass(frozen=True)
class _Entry:
    data: bytes
    mode: int
    link: str | None = None  # the target, when the file is a symlink


_GUARDED_FILES = ("config", "config.worktree", "info/attributes")


def _guarded_files(roots: Sequence[Path]) -> dict[Path, _Entry]:
    found: dict[Path, _Entry] = {}
    for root in roots:
        candidates = [root / name for name in _GUARDED_FILES]
        hooks = root / "hooks"
        if hooks.is_dir() or hooks.is_symlink():
            candidates += [hooks] if hooks.is_symlink() else [p for p in hooks.rglob("*")]
        for path in candidates:
            if path.is_symlink():
                found[path] = _Entry(b"", 0, str(path.readlink()))
            elif path.is_file():
                found[path] = _Entry(path.read_bytes(), path.stat().st_mode & 0o777)
    return found


def _shown(path: Path, roots: Sequence[Path]) -> str:
    for root in roots:
        if path.is_relative_to(root):
            return ".git/" + path.relative_to(root).as_posix()
    return str(path)


def _restore(git: Git, start: str, branch: str | None) -> None:
    """Put the checkout back exactly as it was, whatever the agent did (edits, commits, branch switch)."""
    try:
        if branch:
            git.run("checkout", "--quiet", "--force", branch, "--")
        else:
            git.run("checkout", "--quiet", "--force", "--detach", start, "--")
        git.reset_hard(start)
    except GitError as e:
        raise EngineError(f"cannot reset the checkout after the agent ran: {e}") from e


def _agent_output(log_text: str) -> str:
    """The agent's own output: drop run_logged's ``$ argv`` and ``[exit status ...]`` framing lines."""
    lines = log_text.splitlines()
    kept = [
        line
        for i, line in enumerate(lines)
        if not (line.startswith("$ ") and i <= 1) and not re.match(r"^\[(?:exit status |crashbot: )", line)
    ]
    return "\n".join(kept).strip()
