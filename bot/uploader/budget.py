"""A budget for content-creating GitHub requests, kept under the secondary limits with room to spare.

GitHub allows 80 content-creating requests per minute and 500 per hour (per user/App); a crash loop must
never get the uploader's identity throttled. The budget is a sliding log of recent writes, pure, with
the clock injected so the storm tests and the bench replay exactly. The log itself is a
:class:`WriteLog`: in memory, or the spool's, which outlives the short-lived publisher processes of
``crashbot watch`` (and a ``kill -9``), so a second publisher never spends what the first one already did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

HOUR_S = 3600.0
MINUTE_S = 60.0


@dataclass(frozen=True)
class Windows:
    per_minute: int = 60
    per_hour: int = 450


class WriteLog(Protocol):
    """Where the budget keeps its writes (the spool implements it)."""

    def record_writes(self, times: Sequence[float]) -> None: ...
    def writes_since(self, since: float) -> list[float]: ...


class MemoryLog:
    """A :class:`WriteLog` in this process only (a one-shot ``crashbot upload``, the tests)."""

    def __init__(self) -> None:
        self._times: list[float] = []

    def record_writes(self, times: Sequence[float]) -> None:
        self._times.extend(times)
        if self._times:
            newest = max(self._times)
            self._times = [t for t in self._times if t > newest - HOUR_S]

    def writes_since(self, since: float) -> list[float]:
        return sorted(t for t in self._times if t > since)


class WriteBudget:
    """Sliding-window write accounting: ``take(n)`` succeeds only if both windows have room for n."""

    def __init__(
        self,
        windows: Windows,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: WriteLog | None = None,
    ) -> None:
        if windows.per_minute < 1 or windows.per_hour < 1:
            raise ValueError("write budget windows must allow at least one write")
        self._windows = windows
        self._clock = clock
        self._log: WriteLog = log if log is not None else MemoryLog()

    def _recent(self, now: float) -> list[float]:
        return self._log.writes_since(now - HOUR_S)

    def _room(self, now: float, times: Sequence[float]) -> int:
        minute = self._windows.per_minute - sum(1 for t in times if t > now - MINUTE_S)
        hour = self._windows.per_hour - len(times)
        return max(0, min(minute, hour))

    def available(self) -> int:
        now = self._clock()
        return self._room(now, self._recent(now))

    def take(self, n: int = 1) -> bool:
        """Record ``n`` writes if they fit now; False (nothing recorded) when they don't."""
        if n > self.available():
            return False
        self.record(n)
        return True

    def record(self, n: int = 1) -> None:
        """Record writes that happened regardless (e.g. a create that turned out to be needed)."""
        if n > 0:
            self._log.record_writes([self._clock()] * n)

    def next_room_at(self, n: int = 1) -> float:
        """The earliest clock time at which ``n`` writes will fit (now if they fit already)."""
        now = self._clock()
        times = self._recent(now)
        if n <= self._room(now, times):
            return now
        candidates = [now]
        minute = [t for t in times if t > now - MINUTE_S]
        over_minute = len(minute) + n - self._windows.per_minute
        if over_minute > 0:
            candidates.append(minute[over_minute - 1] + MINUTE_S)
        over_hour = len(times) + n - self._windows.per_hour
        if over_hour > 0:
            candidates.append(times[over_hour - 1] + HOUR_S)
        return max(candidates)
