"""Linux core files -> reports: which folders hold cores, reading each through gdb, and the keep policy.

A server without a gdb restarter leaves a core file that no crash log describes. ``crashbot watch`` watches
the folder ``kernel.core_pattern`` writes to (plus ``uploader.core_dirs``) for files matching its name
template, or, when cores are piped to systemd-coredump, that service's store, from which ``coredumpctl dump``
extracts each one. Every core becomes a gdb log (:mod:`bot.coredump.report`) spooled like any report.

Cores are large, so the disk is never left to fill: a core is deleted once read when ``core_keep`` is 0 or
the disk has less than ``core_min_free_mb`` free; otherwise only the newest ``core_keep`` read cores of a
folder stay. Cores systemd-coredump keeps are never deleted here (its own ``MaxUse=`` governs them).
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import CoreWatching, UploaderSettings
from bot.coredump.elf import NotACore, is_core
from bot.coredump.pattern import SYSTEMD_COREDUMP_DIR, CorePattern, PatternKind, read_core_pattern
from bot.coredump.report import CoreSettings, core_log
from bot.uploader.intake import Intake, IntakeResult, Outcome
from bot.uploader.watcher import CrashWatcher, existing_reports

logger = logging.getLogger(__name__)

COREDUMPCTL_TIMEOUT_S = 300.0
# systemd-coredump's names: core.<comm>.<uid>.<boot id>.<pid>.<usec>[.zst|.xz|.lz4]
_SYSTEMD_NAME = re.compile(r"^core\.(?P<comm>.+)\.\d+\.[0-9a-f]{32}\.(?P<pid>\d+)\.\d+(?:\.\w+)?$")


@dataclass(frozen=True)
class CoreFolder:
    """A folder of cores and the glob of their file names; ``systemd`` for systemd-coredump's store."""

    path: Path
    glob: str = "core*"
    systemd: bool = False


def core_folders(
    settings: UploaderSettings,
    pattern: CorePattern | None,
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> list[CoreFolder]:
    """The folders ``crashbot watch`` takes cores from (none when ``uploader.cores`` is ``off``)."""
    if settings.cores is CoreWatching.OFF:
        return []
    glob = pattern.name_glob if pattern is not None else "core*"
    folders = [CoreFolder(Path(d).expanduser(), glob) for d in settings.core_dirs]
    if pattern is None:
        return folders
    if pattern.kind is PatternKind.FOLDER and pattern.directory is not None:
        if all(f.path != pattern.directory for f in folders):
            folders.append(CoreFolder(pattern.directory, glob))
    elif pattern.kind is PatternKind.SYSTEMD:
        if which("coredumpctl") is None:
            logger.warning(
                "cores are piped to systemd-coredump but coredumpctl is missing: cores are not read"
            )
        else:
            folders.append(CoreFolder(SYSTEMD_COREDUMP_DIR, "core.*", systemd=True))
    elif not folders:
        logger.info("kernel.core_pattern %r: no folder to watch for cores (see crashbot doctor)", pattern.raw)
    return folders


def coredumpctl_dump_command(coredumpctl: str, stored: Path, output: Path) -> list[str]:
    """The command that writes systemd-coredump's ``stored`` core, uncompressed, to ``output``."""
    return [coredumpctl, "--no-pager", "dump", f"COREDUMP_FILENAME={stored}", f"--output={output}"]


@dataclass(frozen=True)
class CorePolicy:
    keep: int = 1
    min_free_bytes: int = 2048 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: UploaderSettings) -> CorePolicy:
        return cls(
            keep=max(0, settings.core_keep), min_free_bytes=max(0, settings.core_min_free_mb) * 1024**2
        )


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


class CoreTaker:
    """Reads one core at a time into the spool, then applies the keep policy (``take`` never raises for
    a bad core: it is logged, and a core that is no core is left alone)."""

    def __init__(
        self,
        intake: Intake,
        *,
        settings: CoreSettings,
        policy: CorePolicy,
        coredumpctl: str | None = None,
        free_bytes: Callable[[Path], int | None] = _free_bytes,
    ) -> None:
        self._intake = intake
        self._settings = settings
        self._policy = policy
        self._coredumpctl = coredumpctl
        self._free_bytes = free_bytes
        self._read: dict[Path, deque[Path]] = {}
        self._lock = threading.Lock()

    def take(self, path: Path, folder: CoreFolder) -> IntakeResult | None:
        if folder.systemd:
            return self._take_systemd(path)
        if not is_core(path):
            logger.debug("%s is not an ELF core; left alone", path)
            return None
        try:
            log = core_log(path, settings=self._settings)
        except NotACore as e:
            logger.warning("%s: %s; left alone", path, e)
            return None
        for note in log.notes:
            logger.warning("%s: %s", path, note)
        result = self._intake.take_text(path, log.text)
        if result.outcome in (Outcome.SPOOLED, Outcome.KNOWN, Outcome.QUARANTINED):
            self._keep(path, folder)
        return result

    def _keep(self, path: Path, folder: CoreFolder) -> None:
        free = self._free_bytes(folder.path)
        low = free is not None and free < self._policy.min_free_bytes
        with self._lock:
            read = self._read.setdefault(folder.path, deque())
            if path not in read:
                read.append(path)
            keep = 0 if low else self._policy.keep
            while len(read) > keep:
                old = read.popleft()
                why = f"only {free // 1024**2} MB free" if low and free is not None else f"core_keep = {keep}"
                self._delete(old, why)

    @staticmethod
    def _delete(path: Path, why: str) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as e:
            logger.warning("cannot delete the read core %s (%s); delete it by hand", path, e.strerror or e)
            return
        logger.info("deleted the read core %s (%s)", path, why)

    def _take_systemd(self, stored: Path) -> IntakeResult | None:
        if self._coredumpctl is None or not _SYSTEMD_NAME.match(stored.name):
            return None
        with tempfile.TemporaryDirectory(prefix="crashbot-core-") as scratch:
            core = Path(scratch) / "core"
            command = coredumpctl_dump_command(self._coredumpctl, stored, core)
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=COREDUMPCTL_TIMEOUT_S, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                logger.warning("coredumpctl could not extract %s: %s", stored, e)
                return None
            if done.returncode != 0 or not core.is_file():
                detail = (done.stderr or done.stdout).strip().splitlines()
                logger.warning("coredumpctl could not extract %s: %s", stored, detail[-1] if detail else "?")
                return None
            try:
                log = core_log(core, settings=self._settings)
            except NotACore as e:
                logger.warning("%s: %s", stored, e)
                return None
        return self._intake.take_text(stored, log.text)


def core_watching(
    settings: UploaderSettings,
    intake: Intake,
    *,
    read_pattern: Callable[[], CorePattern | None] = read_core_pattern,
    debug_dirs: tuple[Path, ...] = (),
) -> tuple[list[CrashWatcher], Callable[[threading.Event], None]]:
    """Watchers for the folders cores land in, and the backfill of the cores already there; none when
    ``uploader.cores`` is ``off`` or core_pattern names no folder (``crashbot doctor`` says why).
    ``debug_dirs`` (the symbol store) are where gdb looks for debug info by build-id."""
    folders = [f for f in core_folders(settings, read_pattern()) if not f.systemd or f.path.is_dir()]
    if not folders:
        return [], lambda stop: None
    taker = CoreTaker(
        intake,
        settings=CoreSettings(
            timeout_s=settings.gdb_timeout_s, max_core_bytes=settings.core_max_mb * 1024**2
        ),
        policy=CorePolicy.from_settings(settings),
        coredumpctl=shutil.which("coredumpctl"),
    )

    def take(path: Path, folder: CoreFolder) -> None:
        try:
            taker.take(path, folder)
        except Exception as e:  # isolation: the watcher thread must survive any one core
            logger.error("reading the core %s failed (%s: %s)", path, type(e).__name__, e)
            logger.debug("reading the core %s failed", path, exc_info=True)

    watchers = [
        CrashWatcher(
            [folder.path],
            on_report=functools.partial(take, folder=folder),
            patterns=(folder.glob,),
            stability_s=max(settings.stability_s, 2.0),  # the kernel writes a big core for seconds
        )
        for folder in folders
    ]
    logger.info("watching for cores in %s", ", ".join(str(f.path) for f in folders))

    def backfill_cores(stop: threading.Event) -> None:
        for folder in folders:
            if folder.systemd:
                continue  # systemd-coredump keeps old cores for days: only new ones are read
            for path in existing_reports([folder.path], (folder.glob,)):
                if stop.is_set():
                    return
                take(path, folder)

    return watchers, backfill_cores
