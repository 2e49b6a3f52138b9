"""Crash folders -> "this report is complete" events, from OS file notifications.

watchdog delivers ReadDirectoryChangesW (Windows) and inotify (Linux) events; no folder is polled.
A report is handed on only when it is *stable*: its size and mtime are unchanged for ``stability_s``
after its last event and, on Windows, it can be opened with no sharing (the crash handler still holding
it open means it is still being written). The only timer is that debounce, and it sleeps while no
file is pending.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

logger = logging.getLogger(__name__)

DUMP_SUFFIX = ".dmp"


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    deadline: float


def is_report(path: Path, patterns: Sequence[str]) -> bool:
    """True for a file name that matches a report pattern (a ``.dmp`` is never a report itself).

    A pattern with a ``/`` names the file in its folder (``AppCrash_worldserver.exe*/Report.wer``: WER
    keeps each report in a folder of its own) and is matched against ``folder/name``."""
    name = path.name.lower()
    if name.endswith(DUMP_SUFFIX) or name.startswith("."):
        return False
    nested = f"{path.parent.name.lower()}/{name}"
    return any(fnmatch.fnmatch(nested if "/" in p else name, p.lower()) for p in patterns)


def _nested(patterns: Sequence[str]) -> bool:
    """Whether a pattern names a file inside a subfolder of the watched folder."""
    return any("/" in p for p in patterns)


def dump_for(report: Path) -> Path | None:
    """The minidump written beside a Wheaty report (same stem, ``.dmp``), if it exists."""
    candidate = report.with_suffix(DUMP_SUFFIX)
    return candidate if candidate.is_file() else None


def existing_reports(dirs: Iterable[Path], patterns: Sequence[str]) -> list[Path]:
    """Reports already in the folders (for the backfill at start), oldest first."""
    found: list[tuple[float, Path]] = []
    for d in dirs:
        if not d.is_dir():
            continue
        with os.scandir(d) as it:
            entries = list(it)
        if _nested(patterns):  # one level down as well: the folders WER keeps its reports in
            entries += [sub for e in entries if e.is_dir(follow_symlinks=False) for sub in _entries(e.path)]
        for entry in entries:
            path = Path(entry.path)
            if entry.is_file() and is_report(path, patterns):
                try:
                    found.append((entry.stat().st_mtime, path))
                except OSError:
                    continue
    return [p for _, p in sorted(found)]


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:  # a report folder that vanished meanwhile, or that this user may not list
        return []


def opened_exclusively(path: Path) -> bool:
    """Whether no other process holds ``path`` open for writing (Windows); always True elsewhere.

    Windows refuses a share-nothing open while the crash handler's handle is open; on POSIX there is
    no such lock, and the size/mtime quiet period alone decides.
    """
    if sys.platform != "win32":
        return True
    import ctypes
    from ctypes import wintypes

    generic_read = 0x80000000
    open_existing = 3
    invalid_handle = wintypes.HANDLE(-1).value
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateFileW.restype = wintypes.HANDLE
    handle = kernel32.CreateFileW(str(path), generic_read, 0, None, open_existing, 0, None)
    if handle == invalid_handle:
        return False
    kernel32.CloseHandle(handle)
    return True


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: CrashWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        target = getattr(event, "dest_path", "") or event.src_path
        path = Path(os.fsdecode(target))
        self._watcher.touch(path)


class CrashWatcher:
    """Watch crash folders; call ``on_report(path)`` once per complete report.

    ``on_report`` runs on the watcher's debounce thread, one report at a time; it must not raise
    (the uploader's intake isolates each file). ``on_dump(path)`` is called for a stable ``.dmp``.
    ``on_activity()`` is called on the event thread for each event on a report, before it settles (the
    uploader starts its publisher process meanwhile); it must be cheap and must not raise.
    """

    def __init__(
        self,
        dirs: Sequence[Path],
        *,
        on_report: Callable[[Path], None],
        on_dump: Callable[[Path], None] | None = None,
        patterns: Sequence[str] = ("*.txt", "*.log"),
        stability_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        on_activity: Callable[[], None] | None = None,
    ) -> None:
        self.dirs = tuple(dirs)
        self._on_report = on_report
        self._on_dump = on_dump
        self._on_activity = on_activity
        self._patterns = tuple(patterns)
        self._stability_s = stability_s
        self._clock = clock
        self._pending: dict[Path, _Seen] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._observer = Observer()
        self._thread = threading.Thread(target=self._run, name="crashbot-debounce", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        handler = _Handler(self)
        for d in self.dirs:
            if not d.is_dir():
                # worldserver creates Crashes/ only at its first crash; a typo would wait here forever
                logger.warning("crash folder %s does not exist yet; created it and watching it", d)
                d.mkdir(exist_ok=True)  # never its parents: a mistyped path must fail, not be made
            self._observer.schedule(handler, str(d), recursive=_nested(self._patterns))
        self._observer.start()
        self._thread.start()
        logger.info("watching %s", ", ".join(str(d) for d in self.dirs))

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._observer.stop()
        self._observer.join(timeout)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> CrashWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    # -- events ---------------------------------------------------------------------------------------

    def touch(self, path: Path) -> None:
        """Note activity on ``path``; it becomes eligible ``stability_s`` after its last change."""
        is_dump = path.name.lower().endswith(DUMP_SUFFIX)
        if not is_dump and not is_report(path, self._patterns):
            return
        if is_dump and self._on_dump is None:
            return
        stat = _stat(path)
        if stat is None:
            return
        with self._cond:
            self._pending[path] = _Seen(stat[0], stat[1], self._clock() + self._stability_s)
            self._cond.notify_all()
        if self._on_activity is not None and not is_dump:
            self._on_activity()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._pending:
                    self._cond.wait()  # idle: no timer at all
                if self._stopping:
                    return
                now = self._clock()
                deadline = min(seen.deadline for seen in self._pending.values())
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                ripe = [(p, s) for p, s in self._pending.items() if s.deadline <= now]
            for path, seen in ripe:
                self._check(path, seen)

    def _check(self, path: Path, seen: _Seen) -> None:
        stat = _stat(path)
        with self._cond:
            if self._pending.get(path) != seen:
                return  # a newer event re-armed it
            if stat is None:
                del self._pending[path]
                return
            if stat != (seen.size, seen.mtime_ns) or not opened_exclusively(path):
                self._pending[path] = _Seen(stat[0], stat[1], self._clock() + self._stability_s)
                return
            del self._pending[path]
        if path.name.lower().endswith(DUMP_SUFFIX):
            if self._on_dump is not None:
                self._on_dump(path)
            return
        self._on_report(path)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
