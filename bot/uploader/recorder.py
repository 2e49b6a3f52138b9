"""The uptime recorder of ``crashbot watch``: the observer and the ledger publisher on one thread.

One daemon thread that sleeps ``uploader.uptime_poll_s`` between polls (a directory listing of
``/proc`` and one SQLite update a minute), with its own spool connections and its own GitHub client
(connected lazily, like the upload client), so it shares nothing mutable with the upload loop's thread
and stays apart from however that loop publishes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Config, signing_key
from bot.github import connect
from bot.uploader.processes import ProcessTable, process_table, read_build
from bot.uploader.sessions import Observer, SessionStore
from bot.uploader.uptime_ledger import LedgerPublisher

logger = logging.getLogger(__name__)

_JOIN_S = 10.0


@dataclass
class UptimeRecorder:
    observer: Observer
    publisher: LedgerPublisher
    store: SessionStore
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.observer.run,
            args=(self._stop,),
            kwargs={"after_poll": self.publisher.maybe_publish},
            name="crashbot-uptime",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_JOIN_S)
        self.store.close()


def recorder_for(
    config: Config,
    env: Mapping[str, str],
    *,
    spool_path: Path,
    realm: str,
    host: str,
    repo: str | None = None,
    api_url: str | None = None,
    table: ProcessTable | None = None,
) -> UptimeRecorder | None:
    """The recorder ``config`` asks for, or None when ``uploader.uptime_process`` is empty or this
    platform has no readable process table (said once in the log)."""
    settings = config.uploader
    if not settings.uptime_process:
        return None
    table = table or process_table()
    if table is None:
        return None
    store = SessionStore(spool_path)
    observer = Observer(
        store,
        table,
        realm=realm,
        process_name=settings.uptime_process,
        read_build=lambda p: read_build(p.exe),
        crashes_between=store.crash_reports_between,
        poll_s=settings.uptime_poll_s,
    )
    client = connect(config.github, env=env, repo=repo, api_url=api_url, defer=True)
    publisher = LedgerPublisher(
        client,
        store,
        key=signing_key(config, env),
        realm=realm,
        host=host,
        interval_s=settings.uptime_publish_interval_s,
    )
    logger.info("recording the uptime of %s (process %s)", realm, settings.uptime_process)
    return UptimeRecorder(observer, publisher, store)
