"""``crashbot upload FILE...`` and ``crashbot watch [DIR...]``: crash reports -> spool -> GitHub issues."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bot.commands import add_github_options
from bot.config import Config, secret
from bot.errors import ConfigError, UsageError
from bot.github import GitHubClient, connect
from bot.uploader import notify
from bot.uploader.budget import Windows
from bot.uploader.intake import Intake, IntakeResult, Outcome
from bot.uploader.publish import Outcome as IssueOutcome
from bot.uploader.publish import Publisher, PublishSettings, web_url_for
from bot.uploader.service import ServiceSettings, UploadService, interruptible_sleep
from bot.uploader.spool import ReportState, Spool, SpooledReport
from bot.uploader.watcher import CrashWatcher, existing_reports

logger = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGBREAK")  # SIGBREAK: Ctrl+Break / a Windows service manager


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    u = sub.add_parser(
        "upload",
        help="file crash reports as GitHub issues (one per signature) and exit",
        description="Spool, sign and upload the given crash reports; exits when each is uploaded or "
        "safely spooled for a later run (GitHub unreachable or rate limited).",
    )
    u.add_argument("files", nargs="+", metavar="FILE", help="crash reports (.txt, .log)")
    _common_options(u)
    u.set_defaults(handler=run_upload)

    w = sub.add_parser(
        "watch",
        help="watch crash folders and file each new report as it is written",
        description="Backfill the reports already in the folders, then upload each new report as soon as "
        "it is complete (OS file events, no polling). SIGINT/SIGTERM stop it cleanly.",
    )
    w.add_argument("dirs", nargs="*", metavar="DIR", help="crash folders (default: uploader.crash_dirs)")
    _common_options(w)
    w.set_defaults(handler=run_watch)


def _common_options(parser: argparse.ArgumentParser) -> None:

    parser.add_argument("--spool", metavar="PATH", help="SQLite spool (default: config, else per-user data)")
    parser.add_argument("--realm", metavar="NAME", help="label the issues realm:NAME (default: config)")
    add_github_options(parser)


# ---------------------------------------------------------------------------------------------------
# assembly


def default_spool_path(env: Mapping[str, str], *, platform: str = sys.platform) -> Path:
    """The per-user spool: ``%LOCALAPPDATA%\\crashbot`` on Windows; systemd's ``$STATE_DIRECTORY``
    (``StateDirectory=crashbot``), else ``$XDG_STATE_HOME/crashbot`` (``~/.local/state``) elsewhere."""
    if platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "crashbot" / SPOOL_FILE
    state_directory = env.get("STATE_DIRECTORY")
    if state_directory:
        return Path(state_directory.split(":", 1)[0]) / SPOOL_FILE
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "crashbot" / SPOOL_FILE


def open_spool(path: Path, config: Config) -> Spool:
    """The spool at ``path``; ConfigError (one line, exit 2) when it cannot be opened or is no spool."""
    where = f"the spool {str(path)!r}"
    fix = "pass --spool (or uploader.spool) a writable file path"
    if path.is_dir():
        raise ConfigError(f"{where} is a directory; {fix} such as {str(path / SPOOL_FILE)!r}")
    up = config.uploader
    try:
        return Spool(path, backoff_base_s=up.backoff_base_s, backoff_cap_s=up.backoff_cap_s)
    except sqlite3.DatabaseError as e:  # also "file is not a database": something else lives there
        raise ConfigError(f"{where} cannot be used: {e}; {fix}") from None
    except OSError as e:  # the folder cannot be created
        raise ConfigError(f"{where} cannot be opened: {e.strerror or e}; {fix}") from None


@dataclass
class Uploader:
    """Everything both commands run: intake and service have a spool connection each (two threads)."""

    client: GitHubClient
    intake_spool: Spool
    service_spool: Spool
    intake: Intake
    service: UploadService

    def close(self) -> None:
        self.intake_spool.close()
        self.service_spool.close()


def assemble(args: argparse.Namespace, config: Config, *, env: Mapping[str, str] | None = None) -> Uploader:
    """Build the uploader from config + flags; ConfigError (one line) when something is missing."""
    environ = os.environ if env is None else env
    up = config.uploader
    key_env = config.signing.key_env
    key = secret(key_env, environ)
    if key is None:
        raise ConfigError(
            f"no payload signing key: set the environment variable {key_env or '(signing.key_env)'} "
            "(the same secret the fix workflow verifies issues with)"
        )
    if up.edit_interval_s < 0:
        raise ConfigError(f"uploader.edit_interval_s must be 0 or more (got {up.edit_interval_s})")
    if up.writes_per_minute < 1 or up.writes_per_hour < 1:
        raise ConfigError(
            "uploader.writes_per_minute and uploader.writes_per_hour must be at least 1 "
            f"(got {up.writes_per_minute} and {up.writes_per_hour})"
        )
    if not up.patterns:
        raise ConfigError("uploader.patterns is empty: no file would ever be read as a crash report")
    notifier = notify.from_settings(config.notify, environ)
    stop = threading.Event()
    client = connect(
        config.github,
        env=environ,
        repo=args.repo,
        api_url=args.api_url,
        sleep=interruptible_sleep(stop),
        defer=True,  # PyGithub loads with the first crash: an idle watcher stays small
    )
    api_url = args.api_url or config.github.api_url
    spool_path = Path(args.spool or up.spool or default_spool_path(environ))
    intake_spool = open_spool(spool_path, config)
    try:
        service_spool = open_spool(spool_path, config)
    except ConfigError:
        intake_spool.close()
        raise
    realm = (args.realm if args.realm is not None else up.realm) or None
    publisher = Publisher(
        client,
        PublishSettings(
            key=key.encode("utf-8"),
            host=up.host or socket.gethostname(),
            realm=realm,
            server_url=web_url_for(api_url),
            comment_interval_s=float(up.seen_again_comment_interval_s),
        ),
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
    )
    intake = Intake(
        intake_spool, redaction=config.redaction, max_bytes=up.max_report_bytes, on_spooled=service.wakeup
    )
    logger.info("spool: %s", spool_path)
    return Uploader(client, intake_spool, service_spool, intake, service)


# ---------------------------------------------------------------------------------------------------
# clean stop


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM/SIGBREAK call ``on_stop`` once, on a listener thread; a second one exits at once.

    The C-level handler writes the signal number to a socket (``signal.set_wakeup_fd``) even while the
    main thread is blocked in a wait that Python cannot interrupt (a lock on Windows before 3.14), and
    no lock is ever taken inside a signal handler. The spool is kill-safe, so the hard exit loses nothing.
    """
    wanted = {int(getattr(signal, name)) for name in _STOP_SIGNALS if hasattr(signal, name)}
    reader, writer = socket.socketpair()
    writer.setblocking(False)

    def ignore(signum: int, frame: FrameType | None) -> None:
        return  # the wakeup socket carries the signal to the listener

    def listen() -> None:
        stopping = False
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum not in wanted:
                    continue
                if stopping:
                    logger.warning("second stop signal: exiting now (the spool keeps every report)")
                    os._exit(130)
                stopping = True
                logger.info("signal %d: stopping after the current request", signum)
                on_stop()

    previous = {s: signal.signal(s, ignore) for s in wanted}
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    listener = threading.Thread(target=listen, name="crashbot-signals", daemon=True)
    listener.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(old_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        writer.close()
        reader.close()


# ---------------------------------------------------------------------------------------------------
# upload


def _describe(report: SpooledReport, outcome: IssueOutcome | None) -> str:
    if report.state is ReportState.NEW:
        return "spooled for later"
    number = f"#{report.issue_number}"
    if outcome is IssueOutcome.CREATED:
        return f"filed {number}"
    if outcome is IssueOutcome.REOPENED:
        return f"reopened {number} (regression)"
    if outcome is IssueOutcome.ALREADY_COUNTED:
        return f"already on {number}"
    return f"counted on {number}"


def run_upload(args: argparse.Namespace, config: Config) -> int:
    up = assemble(args, config)

    def interrupt() -> None:
        # upload is interactive: say at once why it has not exited yet, and how to make it
        logger.warning(
            "interrupted: finishing the current GitHub request (at most %.0fs); press Ctrl-C again to quit "
            "at once; the spool keeps every report for the next run",
            config.github.timeout_s,
        )
        up.service.stop()

    try:
        with stop_signals(interrupt):
            results: list[IntakeResult] = []
            for name in args.files:
                if up.service.stop_event.is_set():  # the files not read yet stay where they are
                    break
                results.append(up.intake.take(Path(name)))
            # a file an earlier run spooled but could not send is this run's to send, and to report on
            waiting = {r.sha256: r.id for r in up.service_spool.reports(ReportState.NEW)}
            drained = up.service.drain(max_wait_s=config.uploader.edit_interval_s + 1.0)
        outcomes = {r.id: p.outcome for p in drained.published for b in p.batches for r in b.reports}
        uploaded = spooled = bad = 0
        for result in results:
            if result.outcome in (Outcome.UNREADABLE, Outcome.QUARANTINED):
                bad += 1
                quarantined = result.outcome is Outcome.QUARANTINED
                what = "quarantined: kept in the spool, not filed" if quarantined else "skipped"
                print(f"crashbot: error: {result.error or result.path} [{what}]", file=sys.stderr)
                continue
            report_id = result.report.id if result.report is not None else waiting.get(result.sha256 or "")
            if report_id is None:
                print(f"already spooled  {result.path}", flush=True)
                continue
            report = up.service_spool.get(report_id)
            text = _describe(report, outcomes.get(report.id))
            if report.state is ReportState.NEW:
                spooled += 1
            else:
                uploaded += 1
            print(f"{text}  {result.path}", flush=True)
        interrupted = up.service.stop_event.is_set()
        for name in args.files[len(results) :]:
            print(f"not read (interrupted)  {name}", flush=True)
        summary = f"{uploaded} uploaded, {spooled} spooled for later, {bad} not readable as crash reports"
        if spooled:
            if interrupted:
                why = "interrupted"
            else:
                why = "GitHub unreachable" if drained.unreachable else "GitHub asked us to wait"
            summary += f" ({why}; the next `crashbot upload` or `crashbot watch` sends them)"
        elif interrupted:
            summary += " (interrupted)"
        print(summary)
    finally:
        up.close()
    if interrupted:
        return 130
    return 2 if bad else 0


# ---------------------------------------------------------------------------------------------------
# watch


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rbackfill [{'#' * filled}{'.' * (width - filled)}] {done}/{total} reports")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def backfill(intake: Intake, paths: Sequence[Path], stop: threading.Event, *, progress: bool) -> int:
    """Spool reports that arrived while the uploader was down; returns how many were new."""
    new = 0
    for i, path in enumerate(paths, 1):
        if stop.is_set():
            break
        if intake.take(path).outcome in (Outcome.SPOOLED, Outcome.QUARANTINED):
            new += 1
        if progress:
            _progress(i, len(paths))
    if new:
        logger.info("backfill: %d new report(s) of %d in the folders", new, len(paths))
    return new


def _looks_like_windows_path(text: str) -> bool:
    """A drive (``D:\\``, ``C:/``) or UNC (``\\\\host\\share``) path given on a host that is not Windows."""
    if sys.platform == "win32":
        return False
    return bool(re.match(r"[A-Za-z]:[\\/]", text)) or text.startswith("\\\\")


def run_watch(args: argparse.Namespace, config: Config) -> int:
    dirs = [Path(d) for d in (args.dirs or config.uploader.crash_dirs)]
    if not dirs:
        raise UsageError("no crash folder to watch: pass DIR... or set uploader.crash_dirs in crashbot.toml")
    for d in dirs:
        if d.exists() and not d.is_dir():
            raise UsageError(f"{d}: is not a directory")
        if not d.exists() and _looks_like_windows_path(str(d)):
            # the watcher would create a folder literally named 'D:\WoW\Crashes' and wait there forever
            raise UsageError(
                f"{str(d)!r} is a Windows path, but this host is {sys.platform}: "
                "pass the crash folder as this host names it (e.g. /srv/wow/Crashes)"
            )
    up = assemble(args, config)
    patterns = config.uploader.patterns

    def on_report(path: Path) -> None:
        try:
            up.intake.take(path)
        except Exception as e:  # isolation: the watcher thread must survive any one file (e.g. disk full)
            logger.error(
                "intake of %s failed (%s: %s); the next backfill retries it", path, type(e).__name__, e
            )
            logger.debug("intake of %s failed", path, exc_info=True)

    def on_dump(path: Path) -> None:
        try:
            up.intake.take_dump(path)
        except Exception as e:  # same isolation as on_report
            logger.error("recording dump %s failed (%s: %s)", path, type(e).__name__, e)
            logger.debug("recording dump %s failed", path, exc_info=True)

    watcher = CrashWatcher(
        dirs, on_report=on_report, on_dump=on_dump, patterns=patterns, stability_s=config.uploader.stability_s
    )
    try:
        with stop_signals(up.service.stop):
            watcher.start()  # before the backfill, so nothing written meanwhile is missed
            try:
                backfill(
                    up.intake,
                    existing_reports(dirs, patterns),
                    up.service.stop_event,
                    progress=sys.stderr.isatty(),
                )
                up.service.serve()
            finally:
                watcher.stop()
    finally:
        up.close()
    return 0
