"""Bounds on how many frames one report keeps, so a 100 MB file costs bounded memory and time.

Real reports stay far below them: a worldserver runs tens to a few hundred threads, and even a stack
overflow's recursion prints thousands of frames, not tens of thousands. A signature reads the top frames;
frames past the bounds are counted, dropped, and named in a note on the report.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_REPORT_FRAMES", "MAX_THREAD_FRAMES", "FrameBudget"]

MAX_THREAD_FRAMES = 10_000
MAX_REPORT_FRAMES = 100_000


@dataclass
class FrameBudget:
    """What a parser may still keep while reading one report (mutable: one per parse)."""

    kept: int = 0
    dropped: int = 0

    def full(self, thread_frames: int) -> bool:
        """Whether a thread holding ``thread_frames`` (or the report) has no room for another frame."""
        return thread_frames >= MAX_THREAD_FRAMES or self.kept >= MAX_REPORT_FRAMES

    def admits(self, thread_frames: int) -> bool:
        """Whether one more frame may join a thread holding ``thread_frames``; counts it either way."""
        if self.full(thread_frames):
            self.dropped += 1
            return False
        self.kept += 1
        return True

    def note(self) -> str | None:
        """The report note when frames were dropped, else None."""
        if not self.dropped:
            return None
        return (
            f"truncated: {self.dropped} frame(s) past the limits ({MAX_THREAD_FRAMES} per thread, "
            f"{MAX_REPORT_FRAMES} per report) were dropped"
        )
