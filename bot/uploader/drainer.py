"""The publisher process: ``crashbot watch`` starts it when the spool has work; it drains the spool to
GitHub and exits, so the watcher never holds PyGithub (and the jwt and cryptography it imports).

Run as ``python -m bot.uploader.drainer --spool PATH ...``
(:func:`bot.uploader.supervisor.publisher_command`), in the watcher's environment: credentials come from
the environment or ``$CREDENTIALS_DIRECTORY`` exactly as the watcher's do, never from argv. Its stdin
carries "new work" (any byte) and "stop after the current request" (end of file, also when the watcher
dies); its stderr carries log records (:mod:`bot.uploader.relay`). It holds the spool's publisher lock
(:mod:`bot.uploader.lock`) for its whole life. Everything the upload loop paces by is in the spool, so
the next process goes on exactly where this one stopped, even after a ``kill -9``.

Exit codes: 0 drained, or stopped; :data:`BUSY` another publisher holds the spool; anything else a
failure (the watcher logs it and starts a new process with backoff; the reports stay spooled).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot import config as config_mod
from bot import credentials
from bot.errors import BotError
from bot.uploader.assembly import assemble
from bot.uploader.lock import publisher_lock
from bot.uploader.recorder import publish_ledger
from bot.uploader.relay import RelayHandler
from bot.uploader.service import PassResult, UploadService
from bot.uploader.signals import stop_signals
from bot.uploader.supervisor import BUSY, LINGER_S, PUBLISHER_MODULE

logger = logging.getLogger(__name__)


def drain_until_idle(service: UploadService, *, max_wait_s: float, linger_s: float) -> PassResult:
    """Publish until the spool is drained and no new work came for ``linger_s``, until the next piece of
    work is more than ``max_wait_s`` away (the watcher starts a new process then), or until stopped."""
    while True:
        result = service.drain(max_wait_s=max_wait_s)
        if service.stop_event.is_set() or result.next_at is not None:
            return result
        if not service.wait_for_work(linger_s) or service.stop_event.is_set():
            return result


def listen(fd: int, service: UploadService) -> None:
    """Each byte on ``fd`` is new work; end of file (or a broken pipe) stops the service."""
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not data:
            service.stop()
            return
        service.wakeup()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {PUBLISHER_MODULE}", description="publish the spool")
    parser.add_argument("--spool", required=True)
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    parser.add_argument("--linger", type=float, default=LINGER_S)
    parser.add_argument("--config")
    parser.add_argument("--repo")
    parser.add_argument("--api-url")
    parser.add_argument("--realm")
    return parser


def _publish(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = config_mod.load(args.config, env=env)
    up = assemble(
        config,
        env,
        repo=args.repo,
        api_url=args.api_url,
        spool=args.spool,
        realm=args.realm,
        owner_pid=args.owner_pid,
    )
    try:
        with contextlib.suppress(BotError):  # load PyGithub now, while the watcher's report settles;
            up.client.open()  # a failure here is met, and reported, by the first request
        try:  # the realm's uptime ledger, when due; never in the way of the crashes
            publish_ledger(config, env, up.client, spool_path=Path(args.spool), realm=args.realm)
        except BotError as e:
            logger.warning("uptime ledger not published: %s", e.diagnostic())
        stdin = threading.Thread(
            target=listen, args=(sys.stdin.fileno(), up.service), name="crashbot-publisher-stdin", daemon=True
        )
        stdin.start()
        with stop_signals(up.service.stop):  # a service manager may signal the whole process group
            result = drain_until_idle(
                up.service, max_wait_s=config.uploader.edit_interval_s + 1.0, linger_s=args.linger
            )
    finally:
        up.close()
    logger.debug("publisher done: %d written, next work at %s", len(result.published), result.next_at)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = logging.getLogger()
    root.handlers[:] = [RelayHandler()]
    root.setLevel(args.log_level)
    env = credentials.with_credentials(os.environ)
    try:
        with publisher_lock(Path(args.spool)) as held:
            if not held:
                logger.info("another publisher is draining %s; leaving the work to it", args.spool)
                return BUSY
            return _publish(args, env)
    except BotError as e:
        logger.error("%s", e.diagnostic())
        return e.exit_code
    except (OSError, sqlite3.Error) as e:
        logger.error("the publisher cannot use the spool %s: %s", args.spool, e)
        return 1
    except Exception as e:  # the process's error boundary: one line, the reports stay spooled
        logger.error("publisher: internal error (%s: %s); the reports stay spooled", type(e).__name__, e)
        logger.debug("publisher: internal error", exc_info=True)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
