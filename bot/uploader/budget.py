"""A budget for content-creating GitHub requests, kept under the secondary limits with room to spare.

GitHub allows 80 content-creating requests per minute and 500 per hour (per user/App); a crash loop must
never get the uploader's identity throttled. The budget is a sliding log of recent writes: pure, with
the clock injected, so the storm tests and the bench replay exactly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Windows:
    per_minute: int = 60
    per_hour: int = 450


class WriteBudget:
    """Sliding-window write accounting: ``take(n)`` succeeds only if both windows have room for n."""

    def __init__(self, windows: Windows, *, clock: Callable[[], float] = time.monotonic) -> None:
        if windows.per_minute < 1 or windows.per_hour < 1:
            raise ValueError("write budget windows must allow at least one write")
        self._windows = windows
        self._clock = clock
        self._log: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._log and self._log[0] <= now - 3600:
            self._log.popleft()

    def _in_last_minute(self, now: float) -> int:
        return sum(1 for t in reversed(self._log) if t > now - 60)

    def available(self) -> int:
        now = self._clock()
        self._trim(now)
        minute = self._windows.per_minute - self._in_last_minute(now)
        hour = self._windows.per_hour - len(self._log)
        return max(0, min(minute, hour))

    def take(self, n: int = 1) -> bool:
        """Record ``n`` writes if they fit now; False (nothing recorded) when they don't."""
        if n > self.available():
            return False
        now = self._clock()
        self._log.extend([now] * n)
        return True

    def record(self, n: int = 1) -> None:
        """Record writes that happened regardless (e.g. a create that turned out to be needed)."""
        now = self._clock()
        self._log.extend([now] * n)

    def next_room_at(self, n: int = 1) -> float:
        """The earliest clock time at which ``n`` writes will fit (now if they fit already)."""
        now = self._clock()
        self._trim(now)
        if n <= self.available():
            return now
        times = list(self._log)
        candidates = [now]
        minute = [t for t in times if t > now - 60]
        over_minute = len(minute) + n - self._windows.per_minute
        if over_minute > 0:
            candidates.append(minute[over_minute - 1] + 60)
        over_hour = len(times) + n - self._windows.per_hour
        if over_hour > 0:
            candidates.append(times[over_hour - 1] + 3600)
        return max(candidates)
