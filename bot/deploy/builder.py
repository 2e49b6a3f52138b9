"""The deploy ``Builder``: one commit of a checkout, built by the fix pipeline's build in deploy's own
persistent build directory: incremental between deploys, and never a directory a fix build (untrusted,
engine-written code) wrote into."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from bot.build import runner as fix_build
from bot.config import DeploySettings, FixSettings
from bot.deploy.errors import DeployError
from bot.errors import ConfigError
from bot.git import Git

logger = logging.getLogger(__name__)

MAX_SHOWN_ERRORS = 3
TAIL_LINES = 3
# Where CMake puts TrinityCore's binaries: bin/ (single-config: make, ninja) or bin/<Config>/ (MSVC)
OUTPUT_SUBDIRS = ("bin",)


class BuildFailed(DeployError):
    """The commit to deploy did not build; nothing on the server was touched."""


class DirtyCheckout(DeployError):
    """The checkout has uncommitted changes, so a build of it would not be the commit being deployed."""


def build_summary(result: fix_build.BuildResult, sha: str) -> str:
    """One line for a failed build: the step, the first errors (else the log's last lines), the log."""
    step = result.failed_step.value if result.failed_step else "build"
    if result.timed_out:
        why = "timed out (fix.build_timeout_s)"
    elif result.errors:
        shown = [str(d) for d in result.errors[:MAX_SHOWN_ERRORS]]
        more = len(result.errors) - len(shown)
        why = "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")
    else:
        lines = [line.strip() for line in result.tail.splitlines() if line.strip()]
        why = " | ".join(lines[-TAIL_LINES:]) or "no output"
    return f"build of {sha[:12]} failed at {step}: {why}; full log: {result.log_path}"


def find_output_dir(build_dir: Path, executable: str) -> Path:
    """The directory under ``build_dir`` holding the freshly built ``executable`` (newest one wins,
    so a multi-config tree with several configurations built picks the one just built)."""
    names = [executable] if executable.lower().endswith(".exe") else [executable, f"{executable}.exe"]
    candidates = [build_dir]
    for sub in OUTPUT_SUBDIRS:
        top = build_dir / sub
        candidates.append(top)
        if top.is_dir():
            candidates.extend(sorted(p for p in top.iterdir() if p.is_dir()))
    found = [d / n for d in candidates for n in names if (d / n).is_file()]
    if not found:
        where = ", ".join(str(c) for c in candidates)
        raise BuildFailed(
            f"the build succeeded but no {executable!r} is in {where}; check deploy.executable and the "
            "build's output directory (CMAKE_RUNTIME_OUTPUT_DIRECTORY)"
        )
    return max(found, key=lambda p: p.stat().st_mtime).parent


def deploy_build_dir(
    settings: DeploySettings, fix: FixSettings, source: Path, *, env: Mapping[str, str]
) -> Path:
    """``deploy.build_dir``, else ``<user cache>/crashbot/deploy-build/<checkout>``; ConfigError when it
    is the fix build directory (a fix build could have planted anything there) or inside the checkout."""
    source = Path(source).resolve()
    if settings.build_dir:
        chosen = Path(settings.build_dir).expanduser().resolve()
    else:
        fix_default = fix_build.default_build_dir(source, env=env)
        chosen = fix_default.parent.parent / "deploy-build" / fix_default.name
    if chosen == source or source in chosen.parents:
        raise ConfigError(f"deploy.build_dir {str(chosen)!r} is inside the checkout {str(source)!r}")
    fix_dir = fix_build.resolve_build_dir(fix, source, env=env)
    if chosen == fix_dir or fix_dir in chosen.parents or chosen in fix_dir.parents:
        raise ConfigError(
            f"deploy.build_dir {str(chosen)!r} overlaps fix.build_dir {str(fix_dir)!r}: a fix build runs "
            "untrusted code, so deploy builds in a directory no fix build wrote; choose another"
        )
    return chosen


class CheckoutBuilder:
    """Builds ``sha`` in the checkout at ``source``: checks it out (refusing a dirty tree), builds it
    with ``fix.configure_command``/``fix.build_command`` in ``fix.build_dir``, then puts the checkout
    back where it was."""

    def __init__(
        self,
        source: Path,
        settings: FixSettings,
        *,
        executable: str,
        env: Mapping[str, str],
        build_dir: Path | None = None,
    ) -> None:
        self.source = Path(source)
        self.build_dir = build_dir
        self.settings = settings
        self.executable = executable
        self._env = dict(env)
        self.git = Git(self.source, env=self._env)
        self.last: fix_build.BuildResult | None = None

    def build(self, sha: str) -> Path:
        dirty = self.git.run("status", "--porcelain", "--untracked-files=no").strip()
        if dirty:
            first = dirty.splitlines()[0].strip()
            raise DirtyCheckout(
                f"{self.source} has uncommitted changes ({first} ...), so its build would not be {sha[:12]}; "
                "commit or discard them, or deploy from a clean checkout"
            )
        head = self.git.head()
        branch = self.git.current_branch()
        if head != sha:
            logger.info("checking out %s in %s to build it", sha[:12], self.source)
            self.git.run("checkout", "--quiet", "--detach", sha, "--")
        try:
            result = fix_build.build(
                self.source, self.settings, build_dir=self.build_dir, env=self._env, run_tests=False
            )
        finally:
            if head != sha:
                self.git.run("checkout", "--quiet", branch or head, "--")
        self.last = result
        if not result.ok:
            raise BuildFailed(build_summary(result, sha))
        logger.info("built %s in %.1fs in %s", sha[:12], result.duration_s, result.build_dir)
        return find_output_dir(result.build_dir, self.executable)
