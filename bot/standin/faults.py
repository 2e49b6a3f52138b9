"""Injected failures: rate limits, 429s, 5xx before or after a commit, outages, validation errors.

A fault applies to the next ``times`` requests matching its method and path pattern (``fnmatch`` syntax
against the path under the API prefix, e.g. ``/repos/*/issues``; ``*`` also crosses ``/``).
"""

from __future__ import annotations

import enum
import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.standin.errors import StandInError


class FaultKind(enum.Enum):
    SECONDARY_LIMIT = "secondary-limit"  # 403 naming a secondary rate limit
    PRIMARY_LIMIT = "primary-limit"  # 403 with x-ratelimit-remaining: 0
    TOO_MANY_REQUESTS = "too-many-requests"  # 429
    ERROR_BEFORE_COMMIT = "error-before-commit"  # 500/503, nothing was written
    ERROR_AFTER_COMMIT = "error-after-commit"  # the write happened, the client sees 502
    OUTAGE = "outage"  # 503 or a dropped connection, for N requests or N seconds
    VALIDATION = "validation"  # 422


_DEFAULT_STATUS = {
    FaultKind.SECONDARY_LIMIT: 403,
    FaultKind.PRIMARY_LIMIT: 403,
    FaultKind.TOO_MANY_REQUESTS: 429,
    FaultKind.ERROR_BEFORE_COMMIT: 500,
    FaultKind.ERROR_AFTER_COMMIT: 502,
    FaultKind.OUTAGE: 503,
    FaultKind.VALIDATION: 422,
}


@dataclass(frozen=True)
class Fault:
    """One injected failure; build it with the named constructors below."""

    kind: FaultKind
    method: str = "*"
    path: str = "*"
    times: int = 1
    status: int = 0  # 0: the kind's usual status
    retry_after: int | None = None
    reset_in_s: int = 60  # PRIMARY_LIMIT: x-ratelimit-reset is now + this
    seconds: float | None = None  # OUTAGE: lasts this long from injection instead of ``times`` requests
    drop_connection: bool = False  # OUTAGE: close the socket without answering
    message: str = ""

    def __post_init__(self) -> None:
        if self.times < 1:
            raise StandInError(f"fault {self.kind.value} applies to {self.times} requests; pass times >= 1")
        if self.seconds is not None and self.kind is not FaultKind.OUTAGE:
            raise StandInError(f"only an outage lasts for seconds, not {self.kind.value}; use times=")

    @property
    def effective_status(self) -> int:
        return self.status or _DEFAULT_STATUS[self.kind]

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)

    @classmethod
    def secondary_limit(
        cls, method: str = "*", path: str = "*", *, retry_after: int | None = 60, times: int = 1
    ) -> Fault:
        return cls(FaultKind.SECONDARY_LIMIT, method, path, times, retry_after=retry_after)

    @classmethod
    def primary_limit(
        cls, method: str = "*", path: str = "*", *, reset_in_s: int = 60, times: int = 1
    ) -> Fault:
        return cls(FaultKind.PRIMARY_LIMIT, method, path, times, reset_in_s=reset_in_s)

    @classmethod
    def too_many_requests(
        cls, method: str = "*", path: str = "*", *, retry_after: int | None = None, times: int = 1
    ) -> Fault:
        return cls(FaultKind.TOO_MANY_REQUESTS, method, path, times, retry_after=retry_after)

    @classmethod
    def error_before_commit(
        cls, method: str = "*", path: str = "*", *, status: int = 500, times: int = 1
    ) -> Fault:
        return cls(FaultKind.ERROR_BEFORE_COMMIT, method, path, times, status=status)

    @classmethod
    def error_after_commit(
        cls, method: str = "*", path: str = "*", *, status: int = 502, times: int = 1
    ) -> Fault:
        return cls(FaultKind.ERROR_AFTER_COMMIT, method, path, times, status=status)

    @classmethod
    def outage(
        cls,
        *,
        requests: int = 1,
        seconds: float | None = None,
        drop_connection: bool = False,
        method: str = "*",
        path: str = "*",
    ) -> Fault:
        return cls(FaultKind.OUTAGE, method, path, requests, seconds=seconds, drop_connection=drop_connection)

    @classmethod
    def validation(
        cls, method: str = "*", path: str = "*", *, message: str = "Validation Failed", times: int = 1
    ) -> Fault:
        return cls(FaultKind.VALIDATION, method, path, times, message=message)


@dataclass
class _Armed:
    fault: Fault
    remaining: int
    started_at: float


class FaultQueue:
    """Faults in injection order; each is consumed by the requests it hits (or expires, for timed outages)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def add(self, fault: Fault, now: float) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, fault.times, now))

    def pending(self) -> list[Fault]:
        with self._lock:
            return [armed.fault for armed in self._armed]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take_outage(self, method: str, path: str, now: float) -> Fault | None:
        """An outage hitting this request; outages strike before authentication, like a dead proxy."""
        return self._take(method, path, now, lambda kind: kind is FaultKind.OUTAGE)

    def take_before(self, method: str, path: str, now: float) -> Fault | None:
        """A fault answering instead of the handler (nothing is written)."""
        return self._take(
            method,
            path,
            now,
            lambda kind: kind not in (FaultKind.OUTAGE, FaultKind.ERROR_AFTER_COMMIT),
        )

    def take_after(self, method: str, path: str, now: float) -> Fault | None:
        """A 5xx replacing a successful handler's answer: the object exists, the client never hears so."""
        return self._take(method, path, now, lambda kind: kind is FaultKind.ERROR_AFTER_COMMIT)

    def _take(self, method: str, path: str, now: float, wanted: Callable[[FaultKind], bool]) -> Fault | None:
        with self._lock:
            self._armed = [a for a in self._armed if not _expired(a, now)]
            for armed in self._armed:
                fault = armed.fault
                if not wanted(fault.kind) or not fault.matches(method, path):
                    continue
                if fault.seconds is None:
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._armed.remove(armed)
                return fault
        return None


def _expired(armed: _Armed, now: float) -> bool:
    seconds = armed.fault.seconds
    return seconds is not None and now >= armed.started_at + seconds
