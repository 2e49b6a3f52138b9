"""The deploy run: build, collect a release, graceful stop, switch, start, health, and roll back on failure.

Every failure after the server was touched ends in one of two reported states: the previous release
running again and healthy (``rolled_back``), or ``failed_loudly`` with a failing exit code. The realm is
never left down without saying so.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, assert_never

from bot.config import DeploySettings
from bot.deploy.control import (
    Clock,
    CommandChannel,
    ServerControl,
    ServerState,
    Sleep,
    StopReport,
    graceful_stop,
)
from bot.deploy.health import HealthReport, LogCursor, wait_healthy
from bot.deploy.releases import Release, Releases
from bot.errors import BotError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_DEPLOY_FAILED = 1  # nothing deployed, or rolled back: the realm runs the previous release
EXIT_REALM_DOWN = 4  # the rollback failed too: a human must look now

R = TypeVar("R")


class Builder(Protocol):
    """Builds one commit (incrementally, in a persistent build dir)."""

    def build(self, sha: str) -> Path:
        """Build ``sha``; return the directory holding the artifacts. Raise a ``BotError`` on failure."""
        ...


class DeployReporter(Protocol):
    """Tells the outside world (a GitHub Deployment and its statuses) how the deploy goes."""

    def started(self, *, sha: str, release: str, previous: str | None) -> None:
        """The server is about to be stopped: the deployment is in progress."""
        ...

    def succeeded(self, outcome: DeployOutcome) -> None: ...

    def rolled_back(self, outcome: DeployOutcome) -> None:
        """The new release failed; the previous one runs again and is healthy."""
        ...

    def failed_loudly(self, outcome: DeployOutcome) -> None:
        """The new release failed and so did the rollback: the realm may be down."""
        ...

    def aborted(self, outcome: DeployOutcome) -> None:
        """Nothing was changed on the server (the build or the release collection failed)."""
        ...


class DeployStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"
    ABORTED = "aborted"


class DeployMode(enum.StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class StepTiming:
    """One step of the run, in clock seconds since the run began."""

    name: str
    started_at: float
    finished_at: float
    ok: bool
    detail: str = ""

    @property
    def duration_s(self) -> float:
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class DeployOutcome:
    """What happened, for the reporter, the CLI's exit code and ``bench/deploy.py``."""

    status: DeployStatus
    mode: DeployMode
    sha: str
    reason: str
    release: str | None = None  # the release this run tried to make live
    previous: str | None = None  # the release live when the run began
    live: str | None = None  # the release live (and healthy, unless FAILED) when the run ended
    steps: tuple[StepTiming, ...] = ()
    stop: StopReport | None = None
    health: HealthReport | None = None
    rollback_health: HealthReport | None = None
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.status is DeployStatus.SUCCEEDED:
            return EXIT_OK
        if self.status is DeployStatus.FAILED:
            return EXIT_REALM_DOWN
        return EXIT_DEPLOY_FAILED

    @property
    def forced(self) -> bool:
        """Was the server killed rather than shut down cleanly (at any stop in this run)?"""
        return any(s.detail == "forced" for s in self.steps if s.name.endswith("stop"))

    def step(self, name: str) -> StepTiming | None:
        return next((s for s in reversed(self.steps) if s.name == name), None)

    @property
    def downtime_s(self) -> float | None:
        """Stop requested -> ready again (includes the shutdown countdown players spend online)."""
        stop = next((s for s in self.steps if s.name in ("stop", "rollback-stop")), None)
        ready = self.rollback_health if self.status is DeployStatus.ROLLED_BACK else self.health
        if stop is None or ready is None or ready.ready_at is None:
            return None
        return ready.ready_at - stop.started_at

    @property
    def server_start_s(self) -> float | None:
        """The server's own start time (start requested -> ready) of the release live at the end."""
        health = self.rollback_health if self.status is DeployStatus.ROLLED_BACK else self.health
        return None if health is None else health.ready_after_s

    def summary(self) -> str:
        what = self.release or "-"
        text = f"deploy {self.mode.value} {self.sha[:12]} ({what}): {self.status.value}: {self.reason}"
        return text + (" [server was killed]" if self.forced else "")


@dataclass
class _Run:
    """The mutable bookkeeping of one run; frozen into a ``DeployOutcome`` at the end."""

    settings: DeploySettings
    control: ServerControl
    commander: CommandChannel | None
    releases: Releases
    reporter: DeployReporter
    clock: Clock
    sleep: Sleep
    poll_s: float
    mode: DeployMode = DeployMode.DEPLOY
    sha: str = ""
    release: str | None = None  # names for the outcome, filled in as the run learns them
    previous: str | None = None
    t0: float = 0.0
    steps: list[StepTiming] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def now(self) -> float:
        return self.clock() - self.t0

    def timed(self, name: str, fn: Callable[[], R]) -> R:
        start = self.now()
        try:
            value = fn()
        except BaseException as e:
            self.steps.append(StepTiming(name, start, self.now(), False, f"{type(e).__name__}: {e}"))
            raise
        self.steps.append(StepTiming(name, start, self.now(), True))
        return value

    def tell(self, event: str, call: Callable[[], None]) -> None:
        """Make one reporter ``call``; a reporting failure (GitHub down) must not abort a half-done deploy."""
        try:
            call()
        except BotError as e:
            logger.warning("could not report %s: %s", event, e.diagnostic())
            self.notes.append(f"reporting {event} failed: {e.diagnostic()}")

    def finish(self, outcome: DeployOutcome) -> DeployOutcome:
        """Tell the reporter how the run ended (the method that matches ``outcome.status``)."""
        event, call = _announcement(self.reporter, outcome.status)
        self.tell(event, lambda: call(outcome))
        return outcome

    def stop(self, name: str, *, quick: bool = False) -> StopReport:
        """Graceful stop, timed; ``quick`` skips the countdown (the server being stopped just failed)."""
        settings = dataclasses.replace(self.settings, shutdown_delay_s=0) if quick else self.settings
        start = self.now()
        try:
            report = graceful_stop(
                self.control, self.commander, settings, clock=self.clock, sleep=self.sleep, poll_s=self.poll_s
            )
        except BotError as e:
            self.steps.append(StepTiming(name, start, self.now(), False, f"{type(e).__name__}: {e}"))
            raise
        self.notes.extend(report.notes)
        detail = "forced" if report.forced else report.method.value
        self.steps.append(
            StepTiming(name, report.requested_at - self.t0, report.stopped_at - self.t0, True, detail)
        )
        return report

    def start_and_check(self, release: Release, *, prefix: str, action: str) -> HealthReport:
        """Activate ``release``, start it and run the health check; start errors become a failed report."""
        self.timed(
            f"{prefix}activate",
            lambda: self.releases.activate(release, realm=self.settings.realm, action=action),
        )
        log_path = self._log_path()
        cursor = LogCursor.at_end(log_path) if log_path is not None else None
        try:
            self.timed(f"{prefix}start", self.control.start)
        except BotError as e:
            return HealthReport(False, f"could not start {release.name}: {e.diagnostic()}")
        start = self.now()
        health = wait_healthy(
            self.control,
            log=cursor,
            ready_regex=self.settings.ready_regex,
            port=self.settings.ready_port,
            start_timeout_s=self.settings.start_timeout_s,
            watch_window_s=self.settings.watch_window_s,
            clock=self.clock,
            sleep=self.sleep,
            poll_s=self.poll_s,
        )
        if health.ready_at is not None:
            health = dataclasses.replace(health, ready_at=health.ready_at - self.t0)
        self.steps.append(StepTiming(f"{prefix}health", start, self.now(), health.ok, health.reason))
        return health

    def _log_path(self) -> Path | None:
        if self.settings.log_file:
            path = Path(self.settings.log_file)
            return path if path.is_absolute() else self.releases.install_dir / path
        return self.control.log_path()


def _announcement(
    reporter: DeployReporter, status: DeployStatus
) -> tuple[str, Callable[[DeployOutcome], None]]:
    """The reporter method for a run that ended in ``status``, and its name for the notes."""
    if status is DeployStatus.SUCCEEDED:
        return "succeeded", reporter.succeeded
    if status is DeployStatus.ROLLED_BACK:
        return "rolled_back", reporter.rolled_back
    if status is DeployStatus.FAILED:
        return "failed_loudly", reporter.failed_loudly
    if status is DeployStatus.ABORTED:
        return "aborted", reporter.aborted
    assert_never(status)


def deploy(
    *,
    sha: str,
    settings: DeploySettings,
    builder: Builder,
    control: ServerControl,
    commander: CommandChannel | None,
    releases: Releases,
    reporter: DeployReporter,
    rollback_only: bool = False,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    poll_s: float = 0.2,
    keep_symbols: Callable[[str, Path], object] | None = None,
) -> DeployOutcome:
    """Deploy ``sha`` (or, with ``rollback_only``, switch back to the previous release) and report it.

    ``keep_symbols(sha, build_output)`` runs after a successful build (the symbol store keeps the
    release's debug files); its failure is logged and never stops the deploy."""
    run = _Run(settings, control, commander, releases, reporter, clock, sleep, poll_s, sha=sha)
    run.t0 = clock()
    if rollback_only:
        run.mode = DeployMode.ROLLBACK
        return _rollback_only(run)
    try:
        output = run.timed("build", lambda: builder.build(sha))
        release = run.timed(
            "collect",
            lambda: releases.create(sha, output, settings.artifacts, executable=settings.executable),
        )
    except BotError as e:
        outcome = _outcome(run, DeployStatus.ABORTED, f"nothing changed: {e.diagnostic()}")
        return run.finish(outcome)
    if keep_symbols is not None:
        try:
            run.timed("symbols", lambda: keep_symbols(sha, output))
        except BotError as e:
            logger.warning("the symbol store did not take %s's debug files: %s", sha[:12], e.diagnostic())
    return _switch(run, release, releases.live())


def _rollback_only(run: _Run) -> DeployOutcome:
    live = run.releases.live()
    target = run.releases.previous()
    run.previous = live.name if live else None
    if target is None:
        reason = "nothing changed: no earlier healthy release to roll back to"
        outcome = _outcome(run, DeployStatus.ABORTED, reason, live=run.previous)
        return run.finish(outcome)
    run.sha = target.sha
    return _switch(run, target, live)


def _switch(run: _Run, release: Release, previous: Release | None) -> DeployOutcome:
    """Stop what runs, make ``release`` live, start and check it; on failure bring ``previous`` back."""
    run.release, run.previous = release.name, previous.name if previous else None
    reporter, previous_name = run.reporter, run.previous
    run.tell("started", lambda: reporter.started(sha=run.sha, release=release.name, previous=previous_name))
    try:
        stop = run.stop("stop")
    except BotError as e:
        if run.control.status() is ServerState.RUNNING:
            reason = f"the server could not be stopped ({e.diagnostic()}); it still runs the previous release"
            outcome = _outcome(run, DeployStatus.ROLLED_BACK, reason, live=run.previous)
            return run.finish(outcome)
        return _restore(run, release, previous, f"stop failed: {e.diagnostic()}", stop=None)
    try:
        health = run.start_and_check(release, prefix="", action=run.mode.value)
    except BotError as e:
        health = HealthReport(False, f"could not activate {release.name}: {e.diagnostic()}")
    if health.ok:
        pruned = _prune(run)
        reason = f"{release.name} is live: {health.reason}" + (f"; pruned {pruned}" if pruned else "")
        outcome = _outcome(run, DeployStatus.SUCCEEDED, reason, live=release.name, stop=stop, health=health)
        return run.finish(outcome)
    run.releases.mark_failed(release, health.reason)
    return _restore(run, release, previous, health.reason, stop=stop, health=health)


def _restore(
    run: _Run,
    release: Release,
    previous: Release | None,
    failure: str,
    *,
    stop: StopReport | None,
    health: HealthReport | None = None,
) -> DeployOutcome:
    """Bring ``previous`` back after ``release`` failed; report rolled_back, or failed_loudly."""
    logger.error("release %s failed (%s); rolling back", release.name, failure)
    if previous is None:
        reason = f"{release.name} failed ({failure}) and there is no previous release to roll back to"
        outcome = _outcome(run, DeployStatus.FAILED, reason, stop=stop, health=health)
        return run.finish(outcome)
    try:
        if run.control.status() is not ServerState.STOPPED:
            run.stop("rollback-stop", quick=True)
        back = run.start_and_check(previous, prefix="rollback-", action="rollback")
    except BotError as e:
        back = HealthReport(False, f"rollback to {previous.name} failed: {e.diagnostic()}")
    if back.ok:
        reason = f"{release.name} failed ({failure}); rolled back to {previous.name}: {back.reason}"
        outcome = _outcome(
            run,
            DeployStatus.ROLLED_BACK,
            reason,
            live=previous.name,
            stop=stop,
            health=health,
            rollback_health=back,
        )
        return run.finish(outcome)
    reason = (
        f"{release.name} failed ({failure}) and the rollback to {previous.name} failed too ({back.reason})"
    )
    logger.critical("%s; the realm may be down", reason)
    live = run.releases.live()
    outcome = _outcome(
        run,
        DeployStatus.FAILED,
        reason,
        live=live.name if live else None,
        stop=stop,
        health=health,
        rollback_health=back,
    )
    return run.finish(outcome)


def _prune(run: _Run) -> list[str]:
    try:
        return [r.name for r in run.releases.prune(run.settings.keep_releases)]
    except BotError as e:
        run.notes.append(f"pruning old releases failed: {e.diagnostic()}")
        return []


def _outcome(
    run: _Run,
    status: DeployStatus,
    reason: str,
    *,
    live: str | None = None,
    stop: StopReport | None = None,
    health: HealthReport | None = None,
    rollback_health: HealthReport | None = None,
) -> DeployOutcome:
    return DeployOutcome(
        status=status,
        mode=run.mode,
        sha=run.sha,
        reason=reason,
        release=run.release,
        previous=run.previous,
        live=live,
        steps=tuple(run.steps),
        stop=stop,
        health=health,
        rollback_health=rollback_health,
        notes=tuple(run.notes),
    )
