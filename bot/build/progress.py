"""How far a build is, from the build tool's own progress lines, read from its log as it is written.

CMake's Makefile generator prints ``[ 42%] Building CXX object ...`` (its percentages can step back a
little under ``-j``: the highest one seen counts); Ninja prints ``[12/345] Building CXX object ...``
(its total can change when it re-plans after regenerating). MSBuild prints no running total, so a
Visual Studio build shows no bar. The reader follows the log file the build already writes, so the
command runs exactly as it does without a bar.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ProgressCallback = Callable[[int, int], None]  # (done, total)

_NINJA_RE = re.compile(r"^\[(\d+)/(\d+)\]\s")
_MAKE_RE = re.compile(r"^\[\s*(\d{1,3})%\]\s")
FOLLOW_INTERVAL_S = 0.2  # how often a followed log is read while a bar is on screen
_MAX_LINE = 64 * 1024  # a line longer than this is no progress line: its start is dropped


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


def parse_line(line: str) -> Progress | None:
    """The progress a build tool's output line states, or None."""
    ninja = _NINJA_RE.match(line)
    if ninja:
        done, total = int(ninja.group(1)), int(ninja.group(2))
        return Progress(min(done, total), total) if total > 0 else None
    make = _MAKE_RE.match(line)
    if make:
        return Progress(min(int(make.group(1)), 100), 100)
    return None


class Tracker:
    """Turns progress lines into a callback that never goes backwards within one total."""

    def __init__(self, on_progress: ProgressCallback) -> None:
        self._on_progress = on_progress
        self._last: Progress | None = None

    def line(self, text: str) -> None:
        found = parse_line(text)
        if found is None:
            return
        last = self._last
        if last is not None and last.total == found.total and found.done <= last.done:
            return
        self._last = found
        self._on_progress(found.done, found.total)


class LogFollower:
    """Reads the lines appended to ``path`` from byte ``start`` on, on a thread, until the ``with``
    block ends (then reads what is left, the last line too). Lines end at ``\\n`` or ``\\r`` (a tool
    redrawing its status line)."""

    def __init__(
        self, path: Path, start: int, on_line: Callable[[str], None], *, fd: int | None = None
    ) -> None:
        self._path = path
        # the writer's own descriptor where the OS reads at an offset without moving it: the path may
        # have been swapped for a symlink by the untrusted build meanwhile (Windows has no pread)
        self._fd = fd if hasattr(os, "pread") else None
        self._offset = start
        self._on_line = on_line
        self._stop = threading.Event()
        self._pending = b""
        self._thread = threading.Thread(target=self._run, name="crashbot-build-progress", daemon=True)

    def __enter__(self) -> LogFollower:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(10.0)

    def _run(self) -> None:
        while not self._stop.wait(FOLLOW_INTERVAL_S):
            self._read()
        self._read()
        if self._pending:  # the writer is done: its unterminated last line is a line too
            self._on_line(self._pending.decode("utf-8", errors="replace"))

    def _read(self) -> None:
        try:
            data = self._read_from_fd() if self._fd is not None else self._read_from_path()
        except OSError:
            return
        self._offset += len(data)
        lines = re.split(rb"[\r\n]", self._pending + data)
        self._pending = lines.pop()[-_MAX_LINE:]
        for raw in lines:
            if raw:
                self._on_line(raw.decode("utf-8", errors="replace"))

    def _read_from_fd(self) -> bytes:
        assert self._fd is not None
        chunks = []
        offset = self._offset
        while chunk := os.pread(self._fd, 1 << 20, offset):
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)

    def _read_from_path(self) -> bytes:
        with self._path.open("rb") as log:
            log.seek(self._offset)
            return log.read()
