"""The uploader put together from the configuration: spool, intake, publisher and upload loop.

``crashbot upload`` and ``crashbot watch`` both run this; the commands add only their flags and what
they print.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, signing_key
from bot.errors import ConfigError
from bot.github import GitHubClient, connect
from bot.uploader import notify
from bot.uploader.backfill import Progress, backfill
from bot.uploader.budget import Windows
from bot.uploader.cores import core_watching
from bot.uploader.intake import Intake
from bot.uploader.publish import Publisher, PublishSettings, web_url_for
from bot.uploader.service import ServiceSettings, UploadService, interruptible_sleep
from bot.uploader.spool import Spool, default_spool_path, open_spool
from bot.uploader.trigger import DashboardTrigger
from bot.uploader.watcher import CrashWatcher, existing_reports

logger = logging.getLogger(__name__)


@dataclass
class Uploader:
    """Everything both commands run: intake and service have a spool connection each (two threads)."""

    client: GitHubClient
    intake_spool: Spool
    service_spool: Spool
    intake: Intake
    service: UploadService
    config: Config

    def close(self) -> None:
        self.intake_spool.close()
        self.service_spool.close()

    def watch(self, dirs: Sequence[Path], *, on_progress: Progress | None = None) -> None:
        """Watch ``dirs`` (and the folders Linux cores land in: :mod:`bot.uploader.cores`), backfill what is
        already there, and upload until the service is stopped."""
        settings = self.config.uploader
        watcher = CrashWatcher(
            dirs,
            on_report=self._take_report,
            on_dump=self._take_dump,
            patterns=settings.patterns,
            stability_s=settings.stability_s,
        )
        store = self.config.symbols.store
        core_watchers, core_backfill = core_watching(
            settings, self.intake, debug_dirs=(Path(store),) if store else ()
        )
        watcher.start()  # before the backfill, so nothing written meanwhile is missed
        for core_watcher in core_watchers:
            core_watcher.start()
        try:
            reports = existing_reports(dirs, settings.patterns)
            backfill(self.intake, reports, self.service.stop_event, on_progress=on_progress)
            core_backfill(self.service.stop_event)
            self.service.serve()
        finally:
            watcher.stop()
            for core_watcher in core_watchers:
                core_watcher.stop()

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


def assemble(
    config: Config,
    env: Mapping[str, str],
    *,
    repo: str | None = None,
    api_url: str | None = None,
    spool: str | None = None,
    realm: str | None = None,
) -> Uploader:
    """Build the uploader from ``config`` and the command's flags (None: the config's value); ConfigError
    (one line) when something is missing. ``config`` was checked when it was loaded, so only what
    depends on ``env`` or on the spool file is checked here."""
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
        defer=True,  # PyGithub loads with the first crash: an idle watcher stays small
    )
    spool_path = Path(spool or up.spool or default_spool_path(env))
    intake_spool = open_spool(spool_path, up)
    try:
        service_spool = open_spool(spool_path, up)
    except ConfigError:
        intake_spool.close()
        raise
    crash_of = None
    if config.symbols.store:  # symbolicate before signing where the store is reachable (issue 12)
        from bot.symbols.service import crash_reader

        crash_of = crash_reader(config.symbols, env=env, redaction=config.redaction)
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
        after_publish=DashboardTrigger(client, interval_s=up.dashboard_interval_s).poke
        if up.dashboard_interval_s > 0
        else None,
    )
    intake = Intake(
        intake_spool,
        redaction=config.redaction,
        max_bytes=up.max_report_bytes,
        on_spooled=service.wakeup,
        crash_of=crash_of,
    )
    logger.info("spool: %s", spool_path)
    return Uploader(client, intake_spool, service_spool, intake, service, config)
