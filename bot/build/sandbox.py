"""The sandbox the untrusted phase runs in: a coding agent, the configure, build and test commands.

Everything after the engine answers is untrusted code: an LLM or coding agent wrote it and the crash text
may have steered it. On Linux it runs under bubblewrap (``bwrap``): ``/`` and the toolchain read-only, the
checkout and the build directory writable, the runner's home, its credentials, ``/tmp``, ``/run`` and the
rest of the runner's ``_work`` replaced by empty tmpfs, its own PID namespace (so crashbot's process and
``/proc/<its pid>/environ`` do not exist in it), no network unless an agent needs its endpoint, and an
environment built from an allow-list, never inherited.

``fix.sandbox = "none"`` runs the same commands unsandboxed, and only when the configuration says so.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import SandboxMode, choice
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

BWRAP = "bwrap"


# Paths hidden behind an empty tmpfs: homes (SSH keys, cloud and git credentials, the runner's own
# files when it lives under /home), crashbot's config, sockets of other services (/run: docker, dbus,
# systemd, ssh-agent), shared temporary directories and the usual places for data and deployments.
HIDDEN_DIRS = (
    "/home",
    "/root",
    "/tmp",  # noqa: S108 (hidden, not used)
    "/var/tmp",  # noqa: S108 (hidden, not used)
    "/run",
    "/etc/crashbot",
    "/var/lib/crashbot",
    "/var/lib/docker",
    "/var/log",
    "/var/mail",
    "/var/spool",
    "/var/backups",
    "/srv",
    "/mnt",
    "/media",
)
# Variables a compiler, CMake, make, ninja or a test needs and that name no secret. Everything else
# (tokens, keys, GitHub's ACTIONS_* and RUNNER_* variables) stays outside.
ALLOWED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LANGUAGE",
    "TERM",
    "TZ",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "MAKEFLAGS",
    "CMAKE_GENERATOR",
    "CMAKE_BUILD_PARALLEL_LEVEL",
    "CMAKE_PREFIX_PATH",
    "PKG_CONFIG_PATH",
    "CCACHE_DIR",
    "CCACHE_BASEDIR",
    "BOOST_ROOT",
    "MYSQL_DIR",
    "OPENSSL_ROOT_DIR",
    "CI",
)
SANDBOX_TMP = "/tmp"  # noqa: S108 (the sandbox's own empty tmpfs, not the host's /tmp)
SANDBOX_HOME = f"{SANDBOX_TMP}/home"  # an empty, writable HOME inside it


class SandboxError(ConfigError):
    """The configuration asks for a sandbox this machine cannot provide."""


@dataclass(frozen=True)
class Sandbox:
    """How to run one untrusted command: ``wrap`` its argv and give it ``environment``.

    ``writable`` are bound read-write (the checkout, the build directory); ``readable`` read-only on
    top of what hiding removed (a toolchain under a home, say); ``frozen`` read-only again inside a
    writable one (each checkout's ``.git``: code in the sandbox cannot plant a hook, a filter or a config
    that crashbot's own git would later run); ``network`` shares the host's network (only for an agent
    that must reach its API endpoint); ``allowed_env`` adds variable names to :data:`ALLOWED_ENV`.
    """

    mode: SandboxMode
    writable: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    network: bool = False
    allowed_env: tuple[str, ...] = ()
    program: str = field(default=BWRAP, repr=False)
    frozen: tuple[Path, ...] = ()  # inside ``writable`` but read-only: a checkout's .git

    @property
    def confined(self) -> bool:
        return self.mode is SandboxMode.BWRAP

    def wrap(self, argv: Sequence[str], *, cwd: Path) -> list[str]:
        """``argv`` as the sandbox runs it (unchanged without one), starting in ``cwd``."""
        if not self.confined:
            return list(argv)
        return [self.program, *self.bwrap_args(cwd=cwd), "--", *argv]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The allow-listed part of ``env``, the only environment a sandboxed command sees (and bwrap
        itself, whose ``/proc/1/environ`` is visible inside). Unsandboxed, ``env`` unchanged: the caller
        scrubs it by name, which is all it can do there."""
        if not self.confined:
            return dict(env)
        names = (*ALLOWED_ENV, *self.allowed_env)
        out = {k: env[k] for k in names if env.get(k)}
        out["HOME"] = SANDBOX_HOME
        out["TMPDIR"] = SANDBOX_TMP
        return out

    def bwrap_args(self, *, cwd: Path) -> list[str]:
        args = [
            "--die-with-parent",
            "--new-session",  # no controlling terminal: TIOCSTI cannot type into crashbot's shell
            "--unshare-all",  # user, ipc, pid, net, uts, cgroup namespaces
            *(["--share-net"] if self.network else []),
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        for hidden in _hidden(self.writable):
            args += ["--tmpfs", hidden]
        args += ["--dir", SANDBOX_HOME]
        for path in (*_interpreters(), *_tool_caches(self.writable), *self.readable):
            if path.exists():
                args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            if path.exists():
                args += ["--bind", str(path), str(path)]
        for path in self.frozen:
            if path.exists():
                args += ["--ro-bind", str(path), str(path)]
        args += ["--chdir", str(cwd)]
        return args


def _runner_roots(writable: Iterable[Path]) -> list[Path]:
    """For a checkout in a self-hosted runner's ``_work``: the runner's own directory (``.credentials``,
    ``.runner``, ``_diag``, the other jobs' checkouts)."""
    roots = []
    for path in writable:
        for parent in path.parents:
            if parent.name == "_work":
                roots.append(parent.parent)
                break
    return roots


RUNNER_PROGRAMS = ("Runner.Worker", "Runner.Listener")  # <runner>/bin/…: the self-hosted runner's own
_MAX_ANCESTORS = 64


def runner_install_dirs(proc: Path = Path("/proc"), start: int | None = None) -> list[Path]:
    """The self-hosted runner's own directory, found from the process that started this one (its
    ``bin/Runner.Worker``), wherever its ``_work`` lives: a runner configured with ``--work`` elsewhere
    keeps ``.credentials`` out of the checkout's parents, where :func:`_runner_roots` looks."""
    found: list[Path] = []
    pid = os.getppid() if start is None else start
    for _ in range(_MAX_ANCESTORS):
        if pid <= 1:
            break
        try:
            exe = Path(os.readlink(proc / str(pid) / "exe"))
            stat = (proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
            pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if exe.name in RUNNER_PROGRAMS and len(exe.parent.parent.parts) > 1:
            found.append(exe.parent.parent)
    return found


def _hidden(writable: Iterable[Path]) -> list[str]:
    """Directories to cover: :data:`HIDDEN_DIRS` and the runner's directory. Parents come before their
    children so a later tmpfs is not buried by an earlier one."""
    found = {d for d in HIDDEN_DIRS if os.path.isdir(d) and not os.path.islink(d)}
    found.update(str(root) for root in _runner_roots(writable))
    found.update(str(root) for root in runner_install_dirs() if root.is_dir())
    return sorted(found, key=lambda p: (p.count("/"), p))


def _interpreters() -> list[Path]:
    """The Python crashbot runs on (and its venv): test commands run Python scripts, and a pyenv or
    venv interpreter under a hidden home would otherwise vanish. Never a home directory itself."""
    home = Path.home().resolve()
    found = []
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix)):
        path = Path(prefix).resolve()
        if path != home and path not in home.parents and len(path.parts) > 2:
            found.append(path)
    return found


def _tool_caches(writable: Iterable[Path]) -> list[Path]:
    """``_work/_tool`` (setup-python, setup-cmake...): toolchains the build needs, shown read-only."""
    return [
        root / "_work" / "_tool" for root in _runner_roots(writable) if (root / "_work" / "_tool").is_dir()
    ]


def resolve_mode(configured: SandboxMode | str, *, platform: str = sys.platform) -> SandboxMode:
    """``fix.sandbox`` as the mode it means here: ``auto`` is bwrap on Linux and none elsewhere."""
    mode = choice(SandboxMode, configured, "fix.sandbox")
    if mode is SandboxMode.AUTO:
        return SandboxMode.BWRAP if platform.startswith("linux") else SandboxMode.NONE
    if mode is SandboxMode.BWRAP and not platform.startswith("linux"):
        raise SandboxError(
            f"fix.sandbox = 'bwrap' needs Linux (this is {platform}); on Windows run the build under the "
            "low-privilege build account runner-setup creates and set fix.sandbox = 'none'"
        )
    return mode


def make(
    configured: SandboxMode | str,
    *,
    writable: Sequence[Path],
    readable: Sequence[Path] = (),
    network: bool = False,
    allowed_env: Sequence[str] = (),
    platform: str = sys.platform,
    program: str | None = None,
) -> Sandbox:
    """The sandbox ``fix.sandbox`` asks for; SandboxError (one line, before anything runs) when it asks
    for bwrap and bwrap is missing or cannot create namespaces here: it fails closed."""
    mode = resolve_mode(configured, platform=platform)
    if mode is SandboxMode.NONE:
        if choice(SandboxMode, configured, "fix.sandbox") is SandboxMode.NONE:
            logger.warning("fix.sandbox = 'none': untrusted build, test and agent commands run unsandboxed")
        return Sandbox(mode, tuple(writable), tuple(readable), network, tuple(allowed_env))
    resolved = tuple(Path(p).resolve() for p in writable)
    found = program or shutil.which(BWRAP)
    if not found:
        raise SandboxError(
            "bubblewrap (bwrap) is not installed, and fix.sandbox needs it to confine the untrusted build, "
            "test and agent commands; install it (apt-get install bubblewrap) or set fix.sandbox = 'none' "
            "to run them unsandboxed on purpose"
        )
    _probe(found)
    return Sandbox(
        mode,
        resolved,
        tuple(Path(p).expanduser().resolve() for p in readable),
        network,
        tuple(allowed_env),
        found,
        frozen=tuple(p / ".git" for p in resolved if (p / ".git").exists()),
    )


_PROBED: dict[str, str | None] = {}


def _probe(program: str) -> None:
    """Run ``true`` in a sandbox once per process: unprivileged user namespaces may be switched off
    (``kernel.unprivileged_userns_clone=0``, an AppArmor profile), and then every build would fail
    with a confusing message instead of this one."""
    if program not in _PROBED:
        try:
            proc = subprocess.run(
                [program, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            problem = None if proc.returncode == 0 else proc.stderr.decode("utf-8", "replace").strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            problem = str(e)
        _PROBED[program] = problem
    problem = _PROBED[program]
    if problem is not None:
        last = (problem.splitlines() or ["no output"])[-1][:200]
        raise SandboxError(
            f"bwrap cannot create a sandbox on this machine ({last}); allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1, or Ubuntu's bwrap AppArmor profile) or set "
            "fix.sandbox = 'none' to run the build unsandboxed on purpose"
        )
