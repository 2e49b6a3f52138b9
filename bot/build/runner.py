"""Build the patched checkout: configured commands in a persistent build directory outside the workspace
(so rebuilds are incremental), a timeout that kills the whole process tree, a full log on disk."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from bot import progress
from bot.build import diagnostics as diag_mod
from bot.build import fence
from bot.build import sandbox as sandbox_mod
from bot.build.diagnostics import Diagnostic, Severity
from bot.build.progress import LogFollower, ProgressCallback, Tracker
from bot.build.sandbox import Sandbox
from bot.config import FixSettings
from bot.errors import BotError, ConfigError
from bot.safefile import UnsafeFile, create_fresh, read_regular

logger = logging.getLogger(__name__)

DEFAULT_TARGET = "worldserver"
DEFAULT_CONFIGURE = ("cmake", "-S", "{source}", "-B", "{build_dir}", "-DCMAKE_BUILD_TYPE=RelWithDebInfo")


def default_build(target: str = DEFAULT_TARGET) -> tuple[str, ...]:
    """The build argv of ``target`` (``{build_dir}`` still to fill in). ``--config`` picks the
    configuration under multi-config generators (Visual Studio); others ignore it."""
    return ("cmake", "--build", "{build_dir}", "--config", "RelWithDebInfo", "--target", target, "--parallel")


DEFAULT_BUILD = default_build()
CONFIGURE_MARKER = ".crashbot-configure.json"
MAX_MARKER_BYTES = 1 << 16
TAIL_CHARS = 4000
MAX_ERRORS = 100
MAX_WARNINGS = 20

# Secrets a build or a test run never needs; patched code runs in the test step, so hand it none.
_SECRET_NAME_RE = re.compile(
    r"^(?:CRASHBOT_.*|GITHUB_TOKEN|GH_TOKEN|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_.*"
    r"|.*_(?:API_KEY|TOKEN|SECRET|PASSWORD|PRIVATE_KEY))$",
    re.IGNORECASE,
)


class BuildError(BotError):
    """A build command could not be started at all (missing tool, bad directory)."""


class Step(StrEnum):
    CONFIGURE = "configure"
    BUILD = "build"
    TEST = "test"


@dataclass(frozen=True)
class CommandResult:
    """One finished (or killed) command."""

    argv: tuple[str, ...]
    returncode: int | None  # None when it was killed for taking too long
    timed_out: bool
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclass(frozen=True)
class BuildResult:
    """The outcome of configure + build (+ test). ``diagnostics`` holds errors first (bounded), then a
    few warnings; ``tail`` is the end of the log; ``failed_step`` is None when everything passed."""

    ok: bool
    duration_s: float
    log_path: Path
    diagnostics: tuple[Diagnostic, ...]
    tail: str
    build_dir: Path
    failed_step: Step | None = None
    timed_out: bool = False
    tests_ok: bool | None = None  # None: no test_command, or the build failed before it

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)


def user_cache_dir(env: Mapping[str, str]) -> Path:
    """The per-user cache directory: %LOCALAPPDATA% on Windows, ~/Library/Caches on macOS, else
    $XDG_CACHE_HOME or ~/.cache."""
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA")
        return Path(base) if base else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = env.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


def default_build_dir(source: Path, *, env: Mapping[str, str]) -> Path:
    """``<cache>/crashbot/build/<checkout name>-<hash of its path>``: one per checkout, because a CMake
    build tree remembers its source directory."""
    resolved = str(Path(source).resolve())
    digest = hashlib.sha256(resolved.casefold().encode("utf-8")).hexdigest()[:10]
    name = re.sub(r"[^\w.-]", "_", Path(resolved).name)[:40] or "source"
    return user_cache_dir(env) / "crashbot" / "build" / f"{name}-{digest}"


def resolve_build_dir(settings: FixSettings, source: Path, *, env: Mapping[str, str]) -> Path:
    """The configured build directory (or the default), refusing one inside the checkout: the runner's
    ``actions/checkout`` runs ``git clean -ffdx`` and would wipe it before every job."""
    build_dir = (
        Path(settings.build_dir).expanduser() if settings.build_dir else default_build_dir(source, env=env)
    )
    src = Path(source).resolve()
    resolved = build_dir.resolve()
    if resolved == src or src in resolved.parents:
        raise ConfigError(
            f"fix.build_dir {str(build_dir)!r} is inside the checkout {str(src)!r}; "
            "choose a directory outside the workspace (or leave it empty for the user cache)"
        )
    return resolved


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without tokens, keys and passwords (by variable name)."""
    return {k: v for k, v in env.items() if not _SECRET_NAME_RE.match(k)}


def expand(argv: Sequence[str], **values: str) -> list[str]:
    """Replace ``{name}`` placeholders (only the given names; other braces are left alone)."""
    out = []
    for arg in argv:
        expanded = arg
        for name, value in values.items():
            expanded = expanded.replace("{" + name + "}", value)
        out.append(expanded)
    return out


def run_logged(
    argv: Sequence[str],
    *,
    cwd: Path,
    log: IO[bytes],
    timeout_s: float,
    env: Mapping[str, str],
    stdin_text: str | None = None,
    sandbox: Sandbox | None = None,
) -> CommandResult:
    """Run ``argv`` with stdout and stderr appended to ``log``; on timeout kill its whole process tree.
    With ``sandbox`` it runs confined, with the sandbox's environment (an allow-list of ``env``)."""
    if not argv:
        raise BuildError("empty command: configure an argv list such as ['cmake', '--build', '{build_dir}']")
    log.write(f"\n$ {' '.join(argv)}\n".encode())
    environ = dict(env)
    if sandbox is not None and sandbox.confined:
        # bwrap would only say "execvp: No such file" with status 1: say what a missing tool is here
        if shutil.which(argv[0], path=environ.get("PATH")) is None and not (cwd / argv[0]).is_file():
            raise BuildError(f"cannot run {argv[0]!r}: not found on PATH; install it or fix the command")
        environ = sandbox.environment(environ)
        argv = sandbox.wrap(argv, cwd=cwd)
    log.flush()
    kwargs: dict[str, object] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True  # own process group, so the tree can be killed at once
    started = time.monotonic()
    try:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            list(argv),
            cwd=cwd,
            env=environ,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **kwargs,
        )
    except FileNotFoundError as e:
        raise BuildError(f"cannot run {argv[0]!r}: not found on PATH; install it or fix the command") from e
    except NotADirectoryError as e:
        raise BuildError(f"cannot run {argv[0]!r}: working directory {str(cwd)!r} does not exist") from e
    except PermissionError as e:
        raise BuildError(f"cannot run {argv[0]!r}: permission denied ({e})") from e
    timed_out = False
    try:
        proc.communicate(
            input=stdin_text.encode("utf-8") if stdin_text is not None else None, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_tree(proc)
        proc.wait()
        log.write(f"\n[crashbot: killed after {timeout_s:.0f}s timeout]\n".encode())
    duration = time.monotonic() - started
    log.write(f"[exit status {proc.returncode}, {duration:.1f}s]\n".encode())
    log.flush()
    return CommandResult(
        argv=tuple(argv),
        returncode=None if timed_out else proc.returncode,
        timed_out=timed_out,
        duration_s=duration,
    )


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` and everything it started (compilers, linkers, ninja's workers)."""
    if sys.platform == "win32":
        if proc.poll() is None:
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False)
    else:
        # the group outlives its leader: kill it even when the shell itself already exited
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()


def build(
    source: Path,
    settings: FixSettings,
    *,
    build_dir: Path | None = None,
    env: Mapping[str, str],
    log_path: Path | None = None,
    run_tests: bool = True,
    on_progress: ProgressCallback | None = None,
) -> BuildResult:
    """Configure (when the configure command or source changed since the last success), build, and
    run ``test_command`` after a successful build, every command in the sandbox ``fix.sandbox`` names
    (only the checkout and the build directory writable). Tool-level failures are a failed BuildResult;
    a command that cannot start at all raises BuildError, a sandbox that cannot be had SandboxError.

    The build step's progress (its tool's own ``[ 42%]`` / ``[12/345]`` lines) goes to ``on_progress``;
    without one, a bar is drawn on stderr when it is a terminal outside GitHub Actions
    (:func:`bot.progress.steps`), and nothing at all otherwise."""
    source = Path(source).resolve()
    build_dir = Path(build_dir).resolve() if build_dir else resolve_build_dir(settings, source, env=env)
    build_dir.mkdir(parents=True, exist_ok=True)
    box = sandbox_for(settings, writable=(source, build_dir))
    log_path = Path(log_path) if log_path else build_dir / "crashbot-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = scrub_env(env)
    values = {"source": str(source), "build_dir": str(build_dir)}
    custom = bool(settings.build_command)
    configure = expand(settings.configure_command or (() if custom else DEFAULT_CONFIGURE), **values)
    build_cmd = expand(settings.build_command or DEFAULT_BUILD, **values)
    test_cmd = expand(settings.test_command, **values)
    deadline = time.monotonic() + settings.build_timeout_s
    started = time.monotonic()
    failed: Step | None = None
    timed_out = False
    tests_ok: bool | None = None
    with _bar(on_progress, env) as report, create_private(log_path) as log:
        log.write(f"crashbot build of {source} in {build_dir}\n".encode())
        steps: list[tuple[Step, list[str]]] = []
        marker = build_dir / CONFIGURE_MARKER
        stamp = json.dumps({"argv": configure, "source": str(source)})
        if configure and _read(marker) != stamp:
            steps.append((Step.CONFIGURE, configure))
        steps.append((Step.BUILD, build_cmd))
        if run_tests and test_cmd:
            steps.append((Step.TEST, test_cmd))
        for step, argv in steps:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                failed, timed_out = step, True
                log.write(f"\n[crashbot: no time left for the {step.value} step]\n".encode())
                break
            logger.info("%s: %s", step.value, " ".join(argv))
            if step is Step.CONFIGURE:
                marker.unlink(missing_ok=True)
            cwd = source if step is Step.CONFIGURE else build_dir
            with _following(log, log_path, report if step is Step.BUILD else None):
                result = run_logged(argv, cwd=cwd, log=log, timeout_s=remaining, env=child_env, sandbox=box)
            if step is Step.TEST:
                tests_ok = result.ok
            if not result.ok:
                failed, timed_out = step, result.timed_out
                break
            if step is Step.CONFIGURE:
                with create_private(marker) as out:
                    out.write(stamp.encode("utf-8"))
        # read back through our own descriptor, never the path: the build may have swapped it for a link
        log.flush()
        log.seek(0)
        text = log.read().decode("utf-8", errors="replace")
    # our own "$ argv" echo lines can contain diagnostic-looking text (e.g. a -D value); skip them
    output = "\n".join(line for line in text.splitlines() if not line.startswith("$ "))
    # the log is the untrusted code's output: fenced (redacted, known secrets masked, diagnostics about
    # files outside the checkout dropped) before anything reads it
    parsed = fence.diagnostics(diag_mod.relative_to(diag_mod.parse(output), str(source)))
    found_errors = [d for d in parsed if d.severity is Severity.ERROR][:MAX_ERRORS]
    warnings = [d for d in parsed if d.severity is Severity.WARNING][:MAX_WARNINGS]
    return BuildResult(
        ok=failed is None,
        duration_s=time.monotonic() - started,
        log_path=log_path,
        diagnostics=(*found_errors, *warnings),
        tail=fence.post(text[-TAIL_CHARS * 2 :], limit=TAIL_CHARS),
        build_dir=build_dir,
        failed_step=failed,
        timed_out=timed_out,
        tests_ok=tests_ok,
    )


def _bar(
    on_progress: ProgressCallback | None, env: Mapping[str, str]
) -> contextlib.AbstractContextManager[ProgressCallback | None]:
    if on_progress is not None:
        return contextlib.nullcontext(on_progress)
    return progress.steps("build", stream=sys.stderr, env=env)


def _following(
    log: IO[bytes], path: Path, on_progress: ProgressCallback | None
) -> contextlib.AbstractContextManager[object]:
    """Feed the build tool's progress lines that the command appends to the log to ``on_progress``."""
    if on_progress is None:
        return contextlib.nullcontext()
    log.flush()
    return LogFollower(path, log.tell(), Tracker(on_progress).line, fd=log.fileno())


def sandbox_for(settings: FixSettings, *, writable: Sequence[Path], network: bool = False) -> Sandbox:
    """The sandbox ``fix.sandbox`` asks for, with ``writable`` (and ``fix.sandbox_writable``) writable."""
    return sandbox_mod.make(
        settings.sandbox,
        writable=(*writable, *(Path(p).expanduser() for p in settings.sandbox_writable)),
        readable=tuple(Path(p) for p in settings.sandbox_read_only),
        network=network,
        allowed_env=settings.sandbox_env,
    )


def _read(path: Path) -> str | None:
    """A small file crashbot wrote into the build directory, or None (never through a symlink, and
    never blocking on a FIFO the build left in its place)."""
    try:
        return read_regular(path, MAX_MARKER_BYTES).decode("utf-8", errors="replace")
    except (OSError, UnsafeFile):
        return None


def create_private(path: Path) -> IO[bytes]:
    """``path`` in the build directory, which the untrusted build can write, as a new file of crashbot's
    own (:func:`bot.safefile.create_fresh`); BuildError when it cannot be had."""
    try:
        return create_fresh(path)
    except OSError as e:
        raise BuildError(f"cannot create {path} for the build's log: {e.strerror or e}") from e
