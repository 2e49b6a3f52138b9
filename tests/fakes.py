"""Small recording fakes of things the code under test is handed (fakes, not mocks)."""

from __future__ import annotations

T0 = 1_700_000_000.0


class FakeClock:
    """Wall time that only moves when the code under test sleeps; every sleep is recorded."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
