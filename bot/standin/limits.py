"""Primary (per-hour budget) and secondary (content-creation burst) rate limits, and ``GET /rate_limit``.

Numbers follow GitHub's documentation: 5,000 core requests per hour for a token (60 anonymous), 30 searches
per minute, and at most 80 content-creating requests per minute and 500 per hour.
"""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import dataclass

from bot.standin.state import Clock
from bot.standin.wire import ApiError, Identity

PRIMARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
SECONDARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
ANONYMOUS_PER_HOUR = 60
CORE_WINDOW_S = 3600
SEARCH_WINDOW_S = 60


@dataclass(frozen=True)
class Limits:
    """Rate-limit model of a stand-in; every number is GitHub's documented default."""

    core_per_hour: int = 5000
    search_per_minute: int = 30
    secondary: bool = True
    content_per_minute: int = 80
    content_per_hour: int = 500
    search_lag_s: float = 0.0  # how long a new issue stays invisible to /search/issues


@dataclass(frozen=True)
class Budget:
    """One resource's counters as the ``x-ratelimit-*`` headers report them."""

    resource: str
    limit: int
    used: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-resource": self.resource,
        }

    def as_json(self) -> dict[str, int | str]:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": self.reset,
            "resource": self.resource,
        }


def resource_of(path: str) -> str:
    return "search" if path.startswith("/search/") else "core"


def is_content_creating(method: str, path: str) -> bool:
    """Requests that make new content: creates (POST) and merges; minting App tokens is not content."""
    if path.startswith("/app/"):
        return False
    return method == "POST" or (method == "PUT" and path.endswith("/merge"))


def limit_key(identity: Identity | None) -> str:
    if identity is None:
        return "anonymous"
    if identity.installation_id is not None:
        return f"installation:{identity.installation_id}"
    return f"user:{identity.login.lower()}"


class RateLimiter:
    """Fixed primary windows that start at a key's first request, and sliding secondary windows."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._content: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def _limit(self, key: str, resource: str) -> int:
        if resource == "search":
            return self.limits.search_per_minute
        return ANONYMOUS_PER_HOUR if key == "anonymous" else self.limits.core_per_hour

    def _window(self, key: str, resource: str, now: float) -> tuple[float, int]:
        length = SEARCH_WINDOW_S if resource == "search" else CORE_WINDOW_S
        start, used = self._windows.get((key, resource), (now, 0))
        if now >= start + length:
            start, used = now, 0
        return start, used

    def _budget(self, key: str, resource: str, start: float, used: int) -> Budget:
        length = SEARCH_WINDOW_S if resource == "search" else CORE_WINDOW_S
        return Budget(resource, self._limit(key, resource), used, math.ceil(start + length))

    def peek(self, identity: Identity | None, resource: str) -> Budget:
        with self._lock:
            key = limit_key(identity)
            start, used = self._window(key, resource, self._clock())
            return self._budget(key, resource, start, used)

    def charge(self, identity: Identity | None, resource: str) -> tuple[Budget, bool]:
        """Count one request; returns the budget after it and whether the budget was already spent."""
        with self._lock:
            key = limit_key(identity)
            now = self._clock()
            start, used = self._window(key, resource, now)
            if used >= self._limit(key, resource):
                self._windows[(key, resource)] = (start, used)
                return self._budget(key, resource, start, used), True
            used += 1
            self._windows[(key, resource)] = (start, used)
            return self._budget(key, resource, start, used), False

    def admit_content(self, identity: Identity | None) -> int | None:
        """None if a content-creating request may proceed (and count it), else seconds until it may."""
        if not self.limits.secondary:
            return None
        with self._lock:
            now = self._clock()
            stamps = self._content[limit_key(identity)]
            while stamps and stamps[0] <= now - CORE_WINDOW_S:
                stamps.popleft()
            recent = [t for t in stamps if t > now - 60]
            if len(recent) >= self.limits.content_per_minute:
                return max(1, math.ceil(recent[-self.limits.content_per_minute] + 60 - now))
            if len(stamps) >= self.limits.content_per_hour:
                return max(1, math.ceil(stamps[-self.limits.content_per_hour] + CORE_WINDOW_S - now))
            stamps.append(now)
            return None


def primary_limit_error(identity: Identity | None, budget: Budget, request_id: str) -> ApiError:
    who = f"user ID {identity.user_id}" if identity is not None else "your IP address"
    return ApiError(
        403,
        f"API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please include the "
        f"request ID {request_id} and timestamp {budget.reset}.",
        headers={**budget.headers(), "x-ratelimit-remaining": "0"},
        documentation_url=PRIMARY_DOCS,
    )


def secondary_limit_error(request_id: str, retry_after: int | None, *, status: int = 403) -> ApiError:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return ApiError(
        status,
        SECONDARY_MESSAGE.format(request_id=request_id),
        headers=headers,
        documentation_url=SECONDARY_DOCS,
    )
