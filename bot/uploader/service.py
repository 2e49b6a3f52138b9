"""The upload loop: spooled batches -> GitHub, paced per signature, inside a write budget, event-driven.

A pass takes the spool's due batches, groups them by signature and publishes each group with ONE write
(plus at most one comment). A new signature's issue is filed at once (unless the whole write budget is
spent); an existing issue's next edit waits until ``edit_interval_s`` after its last write, so a crash
loop's reports pile up in the spool and land together. Edits also wait for room in the
:class:`WriteBudget`, leaving a reserve for new signatures. A rate limit defers the batch to the
limit's reset and ends the pass; an unreachable GitHub defers it with backoff and ends the pass; any
other failure defers only that signature. Between passes the loop sleeps on an event that intake sets,
with a timeout at the spool's earliest ``next_attempt_at``: nothing polls.

Everything pacing depends on lives in the spool, not in this object: the write budget's log, each
signature's last write, each batch's next attempt and a rate limit's reset. A publisher process can
therefore exit (or be killed) and the next one goes on exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.errors import BotError, GitHubError
from bot.github import LibraryUnavailable, RateLimited, Unavailable
from bot.uploader.budget import Windows, WriteBudget
from bot.uploader.health import Health
from bot.uploader.notify import Notice, NoticeKind, Notifier
from bot.uploader.publish import MAX_BATCHES_PER_EDIT, Outcome, Published, Publisher
from bot.uploader.spool import Batch, PacingKey, Spool, SpooledReport

logger = logging.getLogger(__name__)

EDIT_WRITES = 2  # an edit may bring its "seen again" comment along
CREATE_RESERVE_FRACTION = 4  # edits leave a quarter of the per-minute budget to new signatures
PRUNE_EVERY_S = 3600.0
_QUARANTINE_LISTED = 5  # files named in one quarantine notice


class Stopping(Exception):
    """The service was asked to stop while it waited inside a request (rate limit, backoff)."""


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A ``sleep`` for the GitHub client that returns early, raising :class:`Stopping`, on shutdown."""

    def sleep(seconds: float) -> None:
        if stop.wait(max(seconds, 0.0)):
            raise Stopping("stopping: the wait inside a GitHub request was cut short")

    return sleep


@dataclass(frozen=True)
class ServiceSettings:
    edit_interval_s: float = 30.0  # minimum time between two writes to one signature's issue
    windows: Windows = field(default_factory=Windows)
    spool_max_bytes: int = 512 * 1024 * 1024
    spool_max_age_s: float = 90 * 86400.0
    prune_every_s: float = PRUNE_EVERY_S


@dataclass(frozen=True)
class PassResult:
    """What one pass did, and when the next should run."""

    published: tuple[Published, ...] = ()
    postponed: int = 0  # groups held back by pacing or the budget (not failures)
    failed: int = 0  # groups deferred after an error
    next_at: float | None = None  # the earliest time there is work (None: only when reports arrive)
    blocked_until: float | None = None  # GitHub refused us (rate limit) or was unreachable until then
    unreachable: bool = False  # the pass ended because GitHub could not be reached
    library_missing: bool = False  # the pass ended because PyGithub (or a library under it) cannot load
    error: str = ""  # the last failure's one-line reason


@dataclass(frozen=True)
class _Attempt:
    """How publishing one signature's group went, for the pass that made it."""

    published: Published | None = None
    failed: bool = False
    end_pass: bool = False  # stopping, or GitHub refused or was unreachable: the other groups wait
    blocked: float | None = None  # GitHub refused us (rate limit) or was unreachable until then
    unreachable: bool = False
    library_missing: bool = False
    error: str = ""


class UploadService:
    """Drives :class:`Publisher` from the spool. One instance per process, with its own spool connection."""

    def __init__(
        self,
        spool: Spool,
        publisher: Publisher,
        *,
        settings: ServiceSettings,
        notifier: Notifier | None = None,
        writes: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
        after_publish: Callable[[], object] | None = None,
        health: Health | None = None,
    ) -> None:
        """``after_publish`` runs after a pass that counted crashes (the dashboard trigger)."""
        self._after_publish = after_publish
        self._spool = spool
        self._publisher = publisher
        self._settings = settings
        self._notifier = notifier
        self._writes = writes
        self._clock = clock
        self.stop_event = stop or threading.Event()
        self._wake = threading.Event()
        self._budget = WriteBudget(settings.windows, clock=clock, log=spool)
        self._held: dict[str, float] = {}  # signature -> when its next edit may go (a wakeup filter only)
        self._blocked_until = 0.0  # an unreachable GitHub's backoff (the batches' next attempts persist it)
        self._last_prune: float | None = None
        self._health = health

    # -- control --------------------------------------------------------------------------------------

    def wakeup(self, report: SpooledReport | None = None) -> None:
        """New work (intake calls this): run a pass now, unless the report's signature is being held
        back anyway, in which case it waits to be coalesced with the held batch."""
        if report is not None and report.signature_id is not None:
            until = self._held.get(report.signature_id)
            if until is not None and until > self._clock():
                return
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`serve` / :meth:`drain` to return after the current request."""
        self.stop_event.set()
        self._wake.set()

    @property
    def budget(self) -> WriteBudget:
        return self._budget

    # -- loops ----------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Run passes until :meth:`stop`: each pass, then sleep until woken or the next due time."""
        while not self.stop_event.is_set():
            self._wake.clear()  # before the pass, so a report spooled during it wakes the next one
            result = self.run_pass()
            if self.stop_event.is_set():
                break
            timeout = None if result.next_at is None else max(result.next_at - self._clock(), 0.0)
            self._wake.wait(timeout)
        logger.info("upload service stopped")

    def drain(self, *, max_wait_s: float) -> PassResult:
        """Run passes until nothing is left to send, GitHub is unreachable (or PyGithub cannot load), or
        the next piece of work is more than ``max_wait_s`` away (``crashbot upload``: exit, the rest stays
        spooled).

        Returns the last pass's result with ``published`` and ``failed`` summed over every pass.
        """
        published: list[Published] = []
        failed = 0
        while True:
            self._wake.clear()
            result = self.run_pass()
            published.extend(result.published)
            failed += result.failed
            stuck = result.unreachable or result.library_missing  # nothing more can be sent this run
            done = self.stop_event.is_set() or stuck or result.next_at is None
            wait = 0.0 if result.next_at is None else result.next_at - self._clock()
            if done or wait > max_wait_s:
                return dataclasses.replace(result, published=tuple(published), failed=failed)
            if wait > 0:
                self._wake.wait(wait)

    def wait_for_work(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for :meth:`wakeup` (or :meth:`stop`); True when woken."""
        return self._wake.wait(timeout)

    # -- one pass -------------------------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        """Publish what is due now; see the module docstring."""
        now = self._clock()
        self._report_quarantine()
        self._maybe_prune(now)
        blocked_until = max(self._blocked_until, self._spool.pacing(PacingKey.BLOCKED_UNTIL) or 0.0)
        if now < blocked_until:
            return PassResult(next_at=blocked_until, blocked_until=blocked_until)
        published: list[Published] = []
        postponed = failed = 0
        blocked: float | None = None
        unreachable = library_missing = False
        error = ""
        groups = _by_signature(self._spool.due_batches())
        for signature_id, group in groups:
            if self.stop_event.is_set():
                break
            hold = self._hold_until(signature_id)
            if hold is not None:
                for batch in group:
                    self._spool.postpone(batch, hold)
                self._held[signature_id] = hold
                postponed += 1
                continue
            self._held.pop(signature_id, None)
            attempt = self._publish_group(signature_id, group, now)
            failed += attempt.failed
            if attempt.published is not None:
                published.append(attempt.published)
            if attempt.blocked is not None:
                blocked = attempt.blocked
            unreachable = unreachable or attempt.unreachable
            library_missing = library_missing or attempt.library_missing
            error = attempt.error or error
            if attempt.end_pass:
                break
        if blocked is not None:
            self._block(blocked, rate_limited=not (unreachable or library_missing))
        if published and self._after_publish is not None:
            before = self._writes()
            self._after_publish()
            self._budget.record(max(self._writes() - before, 0))
        stats = self._spool.stats()
        next_at = stats.next_attempt_at
        if blocked is not None:
            next_at = blocked if next_at is None else max(next_at, blocked)
        if self._health is not None:
            self._health.after_pass(uploaded=len(published), failed=failed, error=error, pending=stats.new)
        return PassResult(
            published=tuple(published),
            postponed=postponed,
            failed=failed,
            next_at=next_at,
            blocked_until=blocked,
            unreachable=unreachable,
            library_missing=library_missing,
            error=error,
        )

    def _publish_group(self, signature_id: str, group: Sequence[Batch], now: float) -> _Attempt:
        """Publish one signature's batches; a failure defers them (see the module docstring)."""
        before = self._writes()
        try:
            result = self._publisher.publish(group)
        except Stopping:
            logger.info("stopping during %s; its batch stays spooled as it is", signature_id)
            return _Attempt(end_pass=True)
        except RateLimited as e:
            logger.warning("%s", e)
            for batch in group:
                self._spool.defer(batch, str(e), not_before=e.retry_at)
            return _Attempt(failed=True, end_pass=True, blocked=e.retry_at, error=str(e))
        except LibraryUnavailable as e:  # no signature can go until the install is repaired: end the pass
            when = max(self._spool.defer(batch, str(e)) for batch in group)
            logger.error("%s; %d batch(es) stay spooled", e.diagnostic(), len(group))
            return _Attempt(
                failed=True, end_pass=True, blocked=when, library_missing=True, error=e.diagnostic()
            )
        except Unavailable as e:
            when = max(self._spool.defer(batch, str(e)) for batch in group)
            logger.warning("%s; %d batch(es) spooled, next attempt in %.0fs", e, len(group), when - now)
            return _Attempt(failed=True, end_pass=True, blocked=when, unreachable=True, error=str(e))
        except GitHubError as e:
            when = max(self._spool.defer(batch, str(e)) for batch in group)
            logger.error("signature %s: %s; retrying in %.0fs", signature_id, e.diagnostic(), when - now)
            return _Attempt(failed=True, error=e.diagnostic())
        except BotError as e:  # e.g. a GitHub App key that cannot sign, found at the first request
            when = max(self._spool.defer(batch, e.diagnostic()) for batch in group)
            logger.error("signature %s: %s; retrying in %.0fs", signature_id, e.diagnostic(), when - now)
            return _Attempt(failed=True, error=e.diagnostic())
        except Exception as e:  # per-signature isolation: one bad batch never stalls the others
            # one line for the operator (no traceback reaches a user); the details at -vv
            logger.error(
                "signature %s: internal error (%s: %s); its batches stay spooled (run with -vv and "
                "report it)",
                signature_id,
                type(e).__name__,
                e,
            )
            logger.debug("signature %s: internal error", signature_id, exc_info=True)
            for batch in group:
                self._spool.defer(batch, f"internal error: {type(e).__name__}: {e}")
            return _Attempt(failed=True, error=f"internal error: {type(e).__name__}: {e}")
        finally:
            self._budget.record(max(self._writes() - before, 0))
        for batch in group:
            self._spool.mark_uploaded(batch, result.issue.number)
        self._announce(result)
        return _Attempt(published=result)

    def _block(self, until: float, *, rate_limited: bool) -> None:
        """No request before ``until``. GitHub's own "wait until" is kept in the spool, for every process
        that publishes from it; an unreachable GitHub's backoff is already on the deferred batches."""
        self._blocked_until = until
        if rate_limited:
            self._spool.set_pacing(PacingKey.BLOCKED_UNTIL, until)

    def _hold_until(self, signature_id: str) -> float | None:
        """When this signature's batches may go, or None for now.

        A new signature's issue waits for nothing but an exhausted budget (GitHub would refuse it
        anyway). An edit waits for the signature's pacing interval and for budget room beyond a reserve
        kept for new signatures, so a crash loop's edits can never crowd out a new crash.
        """
        now = self._clock()
        available = self._budget.available()
        if self._spool.known_issue(signature_id) is None:
            if available >= 1:
                return None
            return max(self._budget.next_room_at(1), now + 0.001)
        paced = self._spool.last_write_at(signature_id) + self._settings.edit_interval_s
        if paced > now:
            return paced
        needed = EDIT_WRITES + self._settings.windows.per_minute // CREATE_RESERVE_FRACTION
        if available < needed:
            return max(self._budget.next_room_at(needed), now + 0.001)
        return None

    # -- side duties ----------------------------------------------------------------------------------

    def _announce(self, result: Published) -> None:
        if self._notifier is None:
            return
        issue = result.issue
        if result.outcome is Outcome.CREATED:
            kind = NoticeKind.NEW_SIGNATURE
        elif result.outcome is Outcome.REOPENED:
            kind = NoticeKind.REGRESSION
        else:
            return
        count = sum(len(b.reports) for b in result.batches)
        self._notifier.send(Notice(kind, f"#{issue.number} {issue.title}", url=issue.html_url, count=count))

    def _report_quarantine(self) -> None:
        """Each quarantined report is reported once: a log line each, one notification for the lot."""
        reports = self._spool.unnotified_quarantine()
        if not reports:
            return
        for report in reports:
            logger.error(
                "quarantined %s (kept in the spool, not filed): %s", report.path, report.last_error or "?"
            )
        if self._notifier is not None:
            listed = [f"{r.path}: {r.last_error or '?'}" for r in reports[:_QUARANTINE_LISTED]]
            if len(reports) > _QUARANTINE_LISTED:
                listed.append(f"... and {len(reports) - _QUARANTINE_LISTED} more")
            title = f"{len(reports)} crash report(s) could not be parsed"
            self._notifier.send(Notice(NoticeKind.QUARANTINE, title, detail="\n".join(listed)))
        self._spool.mark_notified([r.id for r in reports])

    def _maybe_prune(self, now: float) -> None:
        if self._last_prune is not None and now - self._last_prune < self._settings.prune_every_s:
            return
        self._last_prune = now
        self._spool.prune(max_bytes=self._settings.spool_max_bytes, max_age_s=self._settings.spool_max_age_s)


def _by_signature(batches: Sequence[Batch]) -> list[tuple[str, list[Batch]]]:
    """Batches grouped by signature, in the spool's order (oldest first); at most
    :data:`MAX_BATCHES_PER_EDIT` per group (the rest stay due for the next pass)."""
    groups: dict[str, list[Batch]] = {}
    for batch in batches:
        group = groups.setdefault(batch.signature_id, [])
        if len(group) < MAX_BATCHES_PER_EDIT:
            group.append(batch)
    return list(groups.items())
