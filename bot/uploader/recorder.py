"""The uptime recorder of ``crashbot watch``, and the ledger publication its publisher process makes.

The watcher runs one daemon thread that sleeps ``uploader.uptime_poll_s`` between polls (a directory
listing of ``/proc`` and one SQLite update a minute) with its own spool connection, so it shares
nothing mutable with the intake. When the realm's ledger is due (:func:`~bot.uploader.uptime_ledger.due_at`,
a spool read), it asks for a publisher process; that process (:mod:`bot.uploader.drainer`) writes the
ledger with :func:`publish_ledger`. So the watcher never loads the GitHub client library, for crashes
or for uptime.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Config, signing_key
from bot.uploader.processes import ProcessTable, process_table, read_build
from bot.uploader.sessions import Observer, SessionStore
from bot.uploader.uptime_ledger import LedgerGitHub, LedgerPublisher, due_at

logger = logging.getLogger(__name__)

_JOIN_S = 10.0


@dataclass
class UptimeRecorder:
    observer: Observer
    store: SessionStore
    after_poll: Callable[[], None]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.observer.run,
            args=(self._stop,),
            kwargs={"after_poll": self.after_poll},
            name="crashbot-uptime",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_JOIN_S)
        self.store.close()


def uptime_realm(config: Config, realm: str | None) -> tuple[str, str]:
    """(realm, host) as the watcher and its publisher process both name them."""
    host = config.uploader.host or socket.gethostname()
    return (realm if realm is not None else config.uploader.realm) or host, host


def recorder_for(
    config: Config,
    *,
    spool_path: Path,
    realm: str,
    on_ledger_due: Callable[[], None],
    table: ProcessTable | None = None,
    clock: Callable[[], float] = time.time,
) -> UptimeRecorder | None:
    """The recorder ``config`` asks for, or None when ``uploader.uptime_process`` is empty or this
    platform has no readable process table (said once in the log). ``on_ledger_due`` is called after a
    poll that finds the realm's ledger due (the watcher starts a publisher process)."""
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

    def after_poll() -> None:
        due = due_at(store, realm, settings.uptime_publish_interval_s)
        if due is not None and clock() >= due:
            on_ledger_due()

    logger.info("recording the uptime of %s (process %s)", realm, settings.uptime_process)
    return UptimeRecorder(observer, store, after_poll)


def publish_ledger(
    config: Config, env: Mapping[str, str], client: LedgerGitHub, *, spool_path: Path, realm: str | None
) -> bool:
    """In the publisher process: write the realm's ledger when it is due (True when it wrote). Nothing
    when uptime is not recorded; a GitHub failure is logged and waits an interval."""
    if not config.uploader.uptime_process:
        return False
    name, host = uptime_realm(config, realm)
    store = SessionStore(spool_path)
    try:
        publisher = LedgerPublisher(
            client,
            store,
            key=signing_key(config, env),
            realm=name,
            host=host,
            interval_s=config.uploader.uptime_publish_interval_s,
        )
        return publisher.maybe_publish()
    finally:
        store.close()
