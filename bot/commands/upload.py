"""``crashbot upload FILE...`` and ``crashbot watch [DIR...]``: crash reports -> spool -> GitHub issues."""

from __future__ import annotations

import argparse
import logging
import re
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.commands import add_github_options
from bot.config import Config, secret
from bot.errors import ConfigError, UsageError
from bot.github import GitHubClient, connect
from bot.uploader import notify
from bot.uploader.backfill import backfill
from bot.uploader.budget import Windows
from bot.uploader.intake import Intake, IntakeResult, Outcome
from bot.uploader.publish import Outcome as IssueOutcome
from bot.uploader.publish import Publisher, PublishSettings, web_url_for
from bot.uploader.service import PassResult, ServiceSettings, UploadService, interruptible_sleep
from bot.uploader.signals import stop_signals
from bot.uploader.spool import ReportState, Spool, SpooledReport, default_spool_path, open_spool
from bot.uploader.watcher import CrashWatcher, existing_reports

logger = logging.getLogger(__name__)


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


def assemble(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Uploader:
    """Build the uploader from config + flags; ConfigError (one line) when something is missing.
    (``config`` was checked when it was loaded: only what depends on ``env`` is checked here.)"""
    up = config.uploader
    key_env = config.signing.key_env
    key = secret(key_env, env)
    if key is None:
        raise ConfigError(
            f"no payload signing key: set the environment variable {key_env or '(signing.key_env)'} "
            "(the same secret the fix workflow verifies issues with)"
        )
    notifier = notify.from_settings(config.notify, env)
    stop = threading.Event()
    client = connect(
        config.github,
        env=env,
        repo=args.repo,
        api_url=args.api_url,
        sleep=interruptible_sleep(stop),
        defer=True,  # PyGithub loads with the first crash: an idle watcher stays small
    )
    api_url = args.api_url or config.github.api_url
    spool_path = Path(args.spool or up.spool or default_spool_path(env))
    intake_spool = open_spool(spool_path, up)
    try:
        service_spool = open_spool(spool_path, up)
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


def run_upload(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    up = assemble(args, config, env)

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
        tally = _print_results(up, results, waiting, drained)
        interrupted = up.service.stop_event.is_set()
        for name in args.files[len(results) :]:
            print(f"not read (interrupted)  {name}", flush=True)
        print(_summary(tally, drained, interrupted=interrupted))
    finally:
        up.close()
    if interrupted:
        return 130
    return 2 if tally.bad else 0


@dataclass
class _Tally:
    uploaded: int = 0
    spooled: int = 0
    bad: int = 0


def _print_results(
    up: Uploader, results: list[IntakeResult], waiting: Mapping[str, int], drained: PassResult
) -> _Tally:
    """One line per file read: what became of it (errors on stderr); the counts for the summary."""
    outcomes = {r.id: p.outcome for p in drained.published for b in p.batches for r in b.reports}
    tally = _Tally()
    for result in results:
        if result.outcome in (Outcome.UNREADABLE, Outcome.QUARANTINED):
            tally.bad += 1
            quarantined = result.outcome is Outcome.QUARANTINED
            what = "quarantined: kept in the spool, not filed" if quarantined else "skipped"
            print(f"crashbot: error: {result.error or result.path} [{what}]", file=sys.stderr)
            continue
        report_id = result.report.id if result.report is not None else waiting.get(result.sha256 or "")
        if report_id is None:
            print(f"already spooled  {result.path}", flush=True)
            continue
        report = up.service_spool.get(report_id)
        if report.state is ReportState.NEW:
            tally.spooled += 1
        else:
            tally.uploaded += 1
        print(f"{_describe(report, outcomes.get(report.id))}  {result.path}", flush=True)
    return tally


def _summary(tally: _Tally, drained: PassResult, *, interrupted: bool) -> str:
    summary = (
        f"{tally.uploaded} uploaded, {tally.spooled} spooled for later, "
        f"{tally.bad} not readable as crash reports"
    )
    if tally.spooled:
        if interrupted:
            why = "interrupted"
        else:
            why = "GitHub unreachable" if drained.unreachable else "GitHub asked us to wait"
        return summary + f" ({why}; the next `crashbot upload` or `crashbot watch` sends them)"
    return summary + (" (interrupted)" if interrupted else "")


# ---------------------------------------------------------------------------------------------------
# watch


def progress_bar(done: int, total: int) -> None:
    """The backfill's progress on stderr (when it is a terminal)."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rbackfill [{'#' * filled}{'.' * (width - filled)}] {done}/{total} reports")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _looks_like_windows_path(text: str) -> bool:
    """A drive (``D:\\``, ``C:/``) or UNC (``\\\\host\\share``) path given on a host that is not Windows."""
    if sys.platform == "win32":
        return False
    return bool(re.match(r"[A-Za-z]:[\\/]", text)) or text.startswith("\\\\")


def run_watch(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
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
    up = assemble(args, config, env)
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
                    on_progress=progress_bar if sys.stderr.isatty() else None,
                )
                up.service.serve()
            finally:
                watcher.stop()
    finally:
        up.close()
    return 0
