"""Which server processes run now, and since when: the process table, read the cheapest way there is.

Linux: ``/proc`` directly (no dependency; one directory listing and one small read per process, about a
millisecond for a few hundred processes, once a minute). A process is known by its pid *and* its start
time, so a pid the kernel reuses is never mistaken for the server that had it. Elsewhere (Windows): the
``psutil`` package when it is installed (``pip install "crashbot[uptime]"``; a game host installs only
what it runs, so crashbot does not require it), else the table is unavailable and uptime is not
recorded. The tests run the psutil table on Linux too; on Windows it has never run.

The running build is read once per process start by running its executable with ``--version``
(TrinityCore, AzerothCore and cMaNGOS all print the revision line and exit: their ``main`` declares a
boost ``version,v`` option, "print version build info", read before any config or database is
touched); on Linux through
``/proc/<pid>/exe``, which is the very image running even after a deploy swapped the file on disk.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bot.crash.parsers.gdb import parse_build_line
from bot.ledger import UNKNOWN_BUILD

logger = logging.getLogger(__name__)

VERSION_TIMEOUT_S = 15.0
_BUILD_CHARS = 12  # as the uploader records a crash's build (bot.uploader.publish)
_COMM_CHARS = 15  # the kernel truncates /proc/<pid>/stat's name to this


@dataclass(frozen=True)
class ServerProcess:
    """One running server: ``started`` is when the OS started it (UTC), ``exe`` what to ask its version."""

    pid: int
    started: datetime
    exe: str


class ProcessTable(Protocol):
    def find(self, name: str) -> list[ServerProcess]: ...


class ProcTable:
    """``/proc`` on Linux."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self._root = root
        self._boot = _boot_time(root)
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def find(self, name: str) -> list[ServerProcess]:
        """The processes whose name is ``name`` (``worldserver``; ``.exe`` ignored)."""
        wanted = Path(name).stem[:_COMM_CHARS]
        found: list[ServerProcess] = []
        with os.scandir(self._root) as entries:
            for entry in entries:
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text(encoding="utf-8", errors="replace")
                except OSError:  # gone meanwhile
                    continue
                comm, fields = _split_stat(stat)
                if comm != wanted or len(fields) < 20 or fields[0] == "Z":  # a zombie has exited
                    continue
                started = datetime.fromtimestamp(self._boot + int(fields[19]) / self._ticks, tz=UTC)
                found.append(ServerProcess(int(entry.name), started.replace(microsecond=0), _exe(entry.path)))
        return found


def _exe(proc_dir: str) -> str:
    """What to run for the version: ``/proc/<pid>/exe`` (the running image), or, when the server runs as
    another user and that link is closed to us, the absolute path it was started as (empty: unknown)."""
    link = f"{proc_dir}/exe"
    if os.access(link, os.X_OK):
        return link
    try:
        argv0 = Path(proc_dir, "cmdline").read_bytes().split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError:
        return ""
    return argv0 if os.path.isabs(argv0) and os.access(argv0, os.X_OK) else ""


def _split_stat(stat: str) -> tuple[str, list[str]]:
    """``/proc/<pid>/stat`` as (name, the fields after it): the name is in parentheses and may hold any
    character, so the fields start after the *last* ``)``."""
    left, right = stat.find("("), stat.rfind(")")
    if left < 0 or right < left:
        return "", []
    return stat[left + 1 : right], stat[right + 2 :].split()


def _boot_time(root: Path) -> float:
    for line in Path(root, "stat").read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError(f"{root}/stat has no btime line")


class PsutilTable:
    """The process table through psutil (Windows, macOS; the tests run it on Linux as well)."""

    def __init__(self) -> None:
        import psutil  # type: ignore[import-not-found,import-untyped,unused-ignore]

        self._psutil = psutil

    def find(self, name: str) -> list[ServerProcess]:
        wanted = Path(name).stem.lower()
        found: list[ServerProcess] = []
        for p in self._psutil.process_iter(["pid", "name", "create_time", "exe", "status"]):
            info = p.info  # a field psutil may not read (another user's process) is None
            if Path(info.get("name") or "").stem.lower() != wanted or info.get("create_time") is None:
                continue
            if info.get("status") == self._psutil.STATUS_ZOMBIE:  # it has exited
                continue
            started = datetime.fromtimestamp(float(info["create_time"]), tz=UTC).replace(microsecond=0)
            found.append(ServerProcess(int(info["pid"]), started, info.get("exe") or ""))
        return found


def process_table() -> ProcessTable | None:
    """The process table of this platform, or None (logged once by the caller) when none is readable."""
    if sys.platform.startswith("linux"):
        try:
            return ProcTable()
        except OSError as e:
            logger.warning("the process table is unreadable (%s); uptime is not recorded", e)
            return None
    try:  # pragma: no cover - not Linux
        return PsutilTable()
    except ImportError:  # pragma: no cover
        logger.warning(
            'uptime is not recorded on %s without psutil (pip install "crashbot[uptime]")', sys.platform
        )
        return None


def read_build(exe: str, *, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> str:
    """The 12-hex revision ``exe --version`` prints, or :data:`UNKNOWN_BUILD` (logged) when it cannot."""
    if not exe:
        return UNKNOWN_BUILD
    try:
        result = run(
            [exe, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as e:
        logger.info("cannot ask %s for its version (%s); its uptime counts for no build", exe, e)
        return UNKNOWN_BUILD
    for line in (result.stdout or "").splitlines()[:50]:
        build = parse_build_line(line) if "rev." in line.lower() else None
        if build is not None and build.revision:
            return build.revision[:_BUILD_CHARS]
    logger.info("%s --version printed no revision; its uptime counts for no build", exe)
    return UNKNOWN_BUILD
