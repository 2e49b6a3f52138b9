"""Small recording fakes of things the code under test is handed (fakes, not mocks)."""

from __future__ import annotations

import threading

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC: any fixed instant; tests measure from it


class FakeClock:
    """Time that moves only when told: :meth:`advance`, or :meth:`sleep` as the code under test's waits
    would (each sleep is recorded in ``sleeps``). Hand the clock itself, or its :meth:`time`, to code that
    takes a ``time.time``; a test may also set ``now``. Thread-safe: the uploader's service thread and the
    test read it together."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def time(self) -> float:
        return self()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))  # as time.sleep: never backwards
