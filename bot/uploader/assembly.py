"""The uploader put together from the configuration: spool, intake, publisher and upload loop.

``crashbot upload`` and the publisher process of ``crashbot watch`` (:mod:`bot.uploader.drainer`) run
:func:`assemble`; ``crashbot watch`` itself runs :func:`assemble_watcher`, which spools and starts the
publisher process when there is work (:mod:`bot.uploader.supervisor`) but never loads PyGithub. The
commands add only their flags and what they print.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, signing_key
from bot.crash import CrashReader
from bot.errors import ConfigError
from bot.github import GitHubClient, connect
from bot.uploader import notify
from bot.uploader.backfill import Progress, backfill
from bot.uploader.budget import Windows
from bot.uploader.cores import core_watching
from bot.uploader.health import Health, status_path
from bot.uploader.intake import Intake
from bot.uploader.publish import Publisher, PublishSettings, web_url_for
from bot.uploader.recorder import UptimeRecorder, recorder_for, uptime_realm
from bot.uploader.service import ServiceSettings, UploadService, interruptible_sleep
from bot.uploader.spool import Spool, default_spool_path, open_spool
from bot.uploader.supervisor import (
    PublisherSupervisor,
    SupervisorSettings,
    child_environment,
    publisher_command,
    stop_wait_s,
)
from bot.uploader.trigger import DashboardTrigger
from bot.uploader.watcher import CrashWatcher, existing_reports
from bot.uploader.wer import wer_watching

logger = logging.getLogger(__name__)


@dataclass
class Uploader:
    """What ``crashbot upload`` and the publisher process run: intake and service have a spool connection
    each (two threads)."""

    client: GitHubClient
    intake_spool: Spool
    service_spool: Spool
    intake: Intake
    service: UploadService
    config: Config

    def close(self) -> None:
        self.intake_spool.close()
        self.service_spool.close()


@dataclass
class Watching:
    """What ``crashbot watch`` runs: intake into the spool, and the publisher process's supervisor (with
    a spool connection each: intake runs on the watcher's thread, the supervisor on the main one)."""

    intake_spool: Spool
    supervisor_spool: Spool
    intake: Intake
    supervisor: PublisherSupervisor
    config: Config
    uptime: Callable[[], UptimeRecorder | None] = lambda: None  # records the server's uptime

    def close(self) -> None:
        self.intake_spool.close()
        self.supervisor_spool.close()

    def watch(self, dirs: Sequence[Path], *, on_progress: Progress | None = None) -> None:
        """Watch ``dirs`` (and the folders Linux cores land in: :mod:`bot.uploader.cores`), backfill what is
        already there, and publish until the supervisor is stopped."""
        settings = self.config.uploader
        watcher = CrashWatcher(
            dirs,
            on_report=self._take_report,
            on_dump=self._take_dump,
            patterns=settings.patterns,
            stability_s=settings.stability_s,
            on_activity=self.supervisor.expect_work,
        )
        store = self.config.symbols.store
        core_watchers, core_backfill = core_watching(
            settings, self.intake, debug_dirs=(Path(store),) if store else ()
        )
        wer_watchers, wer_backfill = wer_watching(settings, self.intake)
        core_watchers += wer_watchers  # started, stopped and isolated alike
        watcher.start()  # before the backfill, so nothing written meanwhile is missed
        for core_watcher in core_watchers:
            core_watcher.start()
        recorder = self.uptime()
        if recorder is not None:
            recorder.start()
        try:
            reports = existing_reports(dirs, settings.patterns)
            backfill(self.intake, reports, self.supervisor.stop_event, on_progress=on_progress)
            core_backfill(self.supervisor.stop_event)
            wer_backfill(self.supervisor.stop_event)
            self.supervisor.serve()
        finally:
            watcher.stop()
            for core_watcher in core_watchers:
                core_watcher.stop()
            if recorder is not None:
                recorder.stop()

    def _take_report(self, path: Path) -> None:
        try:
            self.intake.take(path)
        except Exception as e:  # isolation: the watcher thread must survive any one file (e.g. disk full)
            logger.error(
                "intake of %s failed (%s: %s); the next backfill retries it", path, type(e).__name__, e
            )
            logger.debug("intake of %s failed", path, exc_info=True)

    def _take_dump(self, path: Path) -> None:
        try:
            self.intake.take_dump(path)
        except Exception as e:  # same isolation as _take_report
            logger.error("recording dump %s failed (%s: %s)", path, type(e).__name__, e)
            logger.debug("recording dump %s failed", path, exc_info=True)


def _open_spools(path: Path, config: Config) -> tuple[Spool, Spool]:
    """Two connections to the spool at ``path`` (one per thread); ConfigError when it cannot be opened."""
    first = open_spool(path, config.uploader)
    try:
        return first, open_spool(path, config.uploader)
    except ConfigError:
        first.close()
        raise


def _crash_reader(config: Config, env: Mapping[str, str]) -> CrashReader | None:
    if not config.symbols.store:
        return None
    from bot.symbols.service import crash_reader  # symbolicate before signing (issue 12)

    return crash_reader(config.symbols, env=env, redaction=config.redaction)


def assemble(
    config: Config,
    env: Mapping[str, str],
    *,
    repo: str | None = None,
    api_url: str | None = None,
    spool: str | None = None,
    realm: str | None = None,
    owner_pid: int | None = None,
) -> Uploader:
    """Build the uploader from ``config`` and the command's flags (None: the config's value); ConfigError
    (one line) when something is missing. ``config`` was checked when it was loaded, so only what
    depends on ``env`` or on the spool file is checked here. ``owner_pid``: the process the heartbeat
    names (the watcher, for its publisher process)."""
    up = config.uploader
    key = signing_key(config, env)
    notifier = notify.from_settings(config.notify, env)
    stop = threading.Event()
    client = connect(
        config.github,
        env=env,
        repo=repo,
        api_url=api_url,
        sleep=interruptible_sleep(stop),
        defer=True,  # PyGithub loads with the first request
    )
    spool_path = Path(spool or up.spool or default_spool_path(env))
    intake_spool, service_spool = _open_spools(spool_path, config)
    crash_of = _crash_reader(config, env)
    publisher = Publisher(
        client,
        PublishSettings(
            key=key,
            host=up.host or socket.gethostname(),
            realm=(realm if realm is not None else up.realm) or None,
            server_url=web_url_for(api_url or config.github.api_url),
            comment_interval_s=float(up.seen_again_comment_interval_s),
        ),
        crash_of=crash_of,
    )
    trigger = DashboardTrigger(client, interval_s=up.dashboard_interval_s, store=service_spool)
    service = UploadService(
        service_spool,
        publisher,
        settings=ServiceSettings(
            edit_interval_s=up.edit_interval_s,
            windows=Windows(per_minute=up.writes_per_minute, per_hour=up.writes_per_hour),
            spool_max_bytes=up.spool_max_mb * 1024 * 1024,
            spool_max_age_s=up.spool_max_age_days * 86400.0,
        ),
        notifier=notifier,
        writes=lambda: client.writes,
        stop=stop,
        after_publish=trigger.poke if up.dashboard_interval_s > 0 else None,
        health=Health(status_path(spool_path), notifier=notifier, pid=owner_pid),
    )
    intake = Intake(
        intake_spool,
        redaction=config.redaction,
        max_bytes=up.max_report_bytes,
        on_spooled=service.wakeup,
        crash_of=crash_of,
    )
    # a publisher process of `crashbot watch` starts often, and the watcher has said this already
    logger.log(logging.INFO if owner_pid is None else logging.DEBUG, "spool: %s", spool_path)
    return Uploader(client, intake_spool, service_spool, intake, service, config)


def assemble_watcher(
    config: Config,
    env: Mapping[str, str],
    *,
    repo: str | None = None,
    api_url: str | None = None,
    spool: str | None = None,
    realm: str | None = None,
    config_path: str | None = None,
) -> Watching:
    """Build ``crashbot watch``: the same checks as :func:`assemble` (signing key, repository, URL,
    credentials present, spool) so a mistake fails at start, but publishing is left to the publisher
    process, which gets the same flags and the same environment."""
    up = config.uploader
    signing_key(config, env)
    connect(config.github, env=env, repo=repo, api_url=api_url, defer=True)  # checks; loads no PyGithub
    notifier = notify.from_settings(config.notify, env)
    spool_path = Path(spool or up.spool or default_spool_path(env))
    intake_spool, supervisor_spool = _open_spools(spool_path, config)
    command = publisher_command(
        spool=spool_path,
        owner_pid=os.getpid(),
        log_level=logging.getLogger().getEffectiveLevel(),
        config=config_path,
        repo=repo,
        api_url=api_url,
        realm=realm,
    )
    supervisor = PublisherSupervisor(
        supervisor_spool,
        command,
        env=child_environment(env),
        settings=SupervisorSettings(
            backoff_base_s=up.backoff_base_s,
            backoff_cap_s=up.backoff_cap_s,
            stop_timeout_s=stop_wait_s(config.github.timeout_s),
        ),
        health=Health(status_path(spool_path), notifier=notifier),
    )
    intake = Intake(
        intake_spool,
        redaction=config.redaction,
        max_bytes=up.max_report_bytes,
        on_spooled=supervisor.wakeup,
        crash_of=_crash_reader(config, env),
    )
    logger.info("spool: %s", spool_path)

    def uptime() -> UptimeRecorder | None:
        realm_name, _ = uptime_realm(config, realm)
        # the ledger is written by a publisher process, as crashes are: the watcher never loads PyGithub
        return recorder_for(
            config, spool_path=spool_path, realm=realm_name, on_ledger_due=supervisor.expect_work
        )

    return Watching(intake_spool, supervisor_spool, intake, supervisor, config, uptime)
