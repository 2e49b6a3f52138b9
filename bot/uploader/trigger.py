"""Ask the crash-dashboard workflow to run after the uploader counted crashes, at most once per interval.

The uploader never writes the dashboard itself: the workflow's concurrency group keeps one writer at a
time, and a dispatch is one cheap request. A failed dispatch is logged and forgotten: the workflow's
schedule catches up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from bot.github import GitHubError, RepoInfo
from bot.uploader.spool import PacingKey

logger = logging.getLogger(__name__)

DEFAULT_WORKFLOW = "crash-dashboard.yml"


class DispatchGitHub(Protocol):
    def repo_info(self) -> RepoInfo: ...
    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str] | None = None) -> None: ...


class PacingStore(Protocol):
    def pacing(self, key: PacingKey) -> float | None: ...
    def set_pacing(self, key: PacingKey, value: float) -> None: ...


class DashboardTrigger:
    """``poke()`` dispatches ``workflow`` on the default branch unless it did so within ``interval_s``."""

    def __init__(
        self,
        client: DispatchGitHub,
        *,
        workflow: str = DEFAULT_WORKFLOW,
        interval_s: float,
        clock: Callable[[], float] = time.time,
        store: PacingStore | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._workflow = workflow
        self._interval_s = interval_s
        self._clock = clock
        self._last: float | None = None
        self._ref: str | None = None

    def poke(self) -> bool:
        """True when a run was asked for now."""
        now = self._clock()
        last = self._store.pacing(PacingKey.DASHBOARD_POKED_AT) if self._store is not None else self._last
        if last is not None and now - last < self._interval_s:
            return False
        self._last = now  # a failure waits for the next interval too: no retry storm
        if self._store is not None:
            self._store.set_pacing(PacingKey.DASHBOARD_POKED_AT, now)
        try:
            if self._ref is None:
                self._ref = self._client.repo_info().default_branch
            self._client.dispatch_workflow(self._workflow, self._ref)
        except GitHubError as e:
            logger.warning(
                "could not start the %s workflow (%s); its schedule will catch up", self._workflow, e
            )
            return False
        logger.info("asked the %s workflow to refresh the dashboard", self._workflow)
        return True
