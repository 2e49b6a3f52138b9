"""``crashbot upload FILE...`` and ``crashbot watch [DIR...]``: crash reports -> spool -> GitHub issues."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot import logfile, progress
from bot.commands import add_github_options, add_json_option
from bot.commands.results import upload_document
from bot.config import Config
from bot.errors import UsageError
from bot.github import start_check
from bot.uploader.assembly import Uploader, assemble, assemble_watcher
from bot.uploader.intake import IntakeResult, Outcome
from bot.uploader.lock import publisher_lock
from bot.uploader.publish import Outcome as IssueOutcome
from bot.uploader.service import PassResult
from bot.uploader.signals import stop_signals
from bot.uploader.spool import ReportState, SpooledReport

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
    add_json_option(u)
    u.set_defaults(handler=run_upload)

    w = sub.add_parser(
        "watch",
        help="watch crash folders and file each new report as it is written",
        description="Backfill the reports already in the folders, then upload each new report as soon as "
        "it is complete (OS file events, no polling). SIGINT/SIGTERM stop it cleanly.",
    )
    w.add_argument("dirs", nargs="*", metavar="DIR", help="crash folders (default: uploader.crash_dirs)")
    w.add_argument(
        "--log-file",
        metavar="PATH",
        help="also log to PATH, rotated at 10 MB with 5 old files kept (the Windows service uses it)",
    )
    _common_options(w)
    w.set_defaults(handler=run_watch)


def _common_options(parser: argparse.ArgumentParser) -> None:

    parser.add_argument("--spool", metavar="PATH", help="SQLite spool (default: config, else per-user data)")
    parser.add_argument("--realm", metavar="NAME", help="label the issues realm:NAME (default: config)")
    add_github_options(parser)


def _assemble(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> Uploader:
    return assemble(config, env, repo=args.repo, api_url=args.api_url, spool=args.spool, realm=args.realm)


# ---------------------------------------------------------------------------------------------------
# upload


def _status(report: SpooledReport, outcome: IssueOutcome | None) -> str:
    """The ``status`` of an uploaded or spooled report in ``--json`` (see bot/commands/results.py)."""
    if report.state is ReportState.NEW:
        return "spooled"
    if outcome is IssueOutcome.CREATED:
        return "filed"
    if outcome is IssueOutcome.REOPENED:
        return "reopened"
    if outcome is IssueOutcome.ALREADY_COUNTED:
        return "already-counted"
    return "counted"


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
    up = _assemble(args, config, env)

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
            drained: PassResult | None = None  # None: a running `crashbot watch` sends what was spooled
            with publisher_lock(up.service_spool.path) as alone:  # one publisher per spool
                if alone:
                    drained = up.service.drain(max_wait_s=config.uploader.edit_interval_s + 1.0)
        rows: list[dict[str, object]] | None = [] if args.json else None
        tally = _print_results(up, results, waiting, drained or PassResult(), rows)
        interrupted = up.service.stop_event.is_set()
        for name in args.files[len(results) :]:
            if rows is None:
                print(f"not read (interrupted)  {name}", flush=True)
            else:
                rows.append({"file": name, "status": "not-read", "issue": None, "error": None})
        if rows is None:
            print(_summary(tally, drained or PassResult(), interrupted=interrupted, busy=drained is None))
        else:
            counts = {"uploaded": tally.uploaded, "spooled": tally.spooled, "bad": tally.bad}
            print(upload_document(rows, interrupted=interrupted, **counts))
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
    up: Uploader,
    results: list[IntakeResult],
    waiting: Mapping[str, int],
    drained: PassResult,
    rows: list[dict[str, object]] | None = None,
) -> _Tally:
    """One line per file read: what became of it (errors on stderr), or with ``rows`` one row each for
    ``--json``; the counts for the summary."""
    outcomes = {r.id: p.outcome for p in drained.published for b in p.batches for r in b.reports}
    tally = _Tally()
    for result in results:
        if result.outcome in (Outcome.UNREADABLE, Outcome.QUARANTINED):
            tally.bad += 1
            quarantined = result.outcome is Outcome.QUARANTINED
            what = "quarantined: kept in the spool, not filed" if quarantined else "skipped"
            print(f"crashbot: error: {result.error or result.path} [{what}]", file=sys.stderr)
            if rows is not None:
                status = "quarantined" if quarantined else "unreadable"
                rows.append(
                    {"file": str(result.path), "status": status, "issue": None, "error": result.error}
                )
            continue
        report_id = result.report.id if result.report is not None else waiting.get(result.sha256 or "")
        if report_id is None:
            if rows is None:
                print(f"already spooled  {result.path}", flush=True)
            else:
                rows.append(
                    {"file": str(result.path), "status": "already-spooled", "issue": None, "error": None}
                )
            continue
        report = up.service_spool.get(report_id)
        if report.state is ReportState.NEW:
            tally.spooled += 1
        else:
            tally.uploaded += 1
        outcome = outcomes.get(report.id)
        if rows is None:
            print(f"{_describe(report, outcome)}  {result.path}", flush=True)
        else:
            status = _status(report, outcome)
            issue = report.issue_number if status != "spooled" else None
            rows.append({"file": str(result.path), "status": status, "issue": issue, "error": None})
    return tally


def _summary(tally: _Tally, drained: PassResult, *, interrupted: bool, busy: bool = False) -> str:
    summary = (
        f"{tally.uploaded} uploaded, {tally.spooled} spooled for later, "
        f"{tally.bad} not readable as crash reports"
    )
    if tally.spooled:
        if interrupted:
            why = "interrupted"
        elif busy:
            return summary + " (`crashbot watch` is publishing from this spool: it sends them)"
        elif drained.library_missing:  # the error line above names the module and the loader's words
            why = "PyGithub did not load: reinstall crashbot's dependencies"
        else:
            why = "GitHub unreachable" if drained.unreachable else "GitHub asked us to wait"
        return summary + f" ({why}; the next `crashbot upload` or `crashbot watch` sends them)"
    return summary + (" (interrupted)" if interrupted else "")


# ---------------------------------------------------------------------------------------------------
# watch


def _looks_like_windows_path(text: str) -> bool:
    """A drive (``D:\\``, ``C:/``) or UNC (``\\\\host\\share``) path given on a host that is not Windows."""
    if sys.platform == "win32":
        return False
    return bool(re.match(r"[A-Za-z]:[\\/]", text)) or text.startswith("\\\\")


def _check_folders(dirs: Sequence[Path]) -> None:
    """Each crash folder is a directory, or missing with an existing parent (worldserver makes
    ``Crashes/`` at its first crash, and the watcher makes it then); UsageError naming the fix otherwise."""
    for d in dirs:
        if d.exists() and not d.is_dir():
            raise UsageError(f"{d}: is not a directory; pass the crash folder")
        if d.exists():
            continue
        if _looks_like_windows_path(str(d)):
            # the watcher would create a folder literally named 'D:\WoW\Crashes' and wait there forever
            raise UsageError(
                f"{str(d)!r} is a Windows path, but this host is {sys.platform}: "
                "pass the crash folder as this host names it (e.g. /srv/wow/Crashes)"
            )
        if not d.parent.is_dir():
            raise UsageError(
                f"crash folder {d} does not exist, nor does {d.parent}: check the path "
                "(only the last folder is created, as worldserver does at its first crash)"
            )


def _start_banner(
    args: argparse.Namespace, config: Config, env: Mapping[str, str], dirs: Sequence[Path]
) -> str:
    """Ask GitHub whether the credentials and repository work (ConfigError on a definitive no), and
    say what is being watched; when GitHub is unreachable, say so and go on (reports spool)."""
    repo = args.repo or config.github.repo
    check = start_check(config.github, env=env, repo=args.repo, api_url=args.api_url)
    folders = f"{len(dirs)} folder{'s' if len(dirs) != 1 else ''}"
    if not check.reachable:
        return (
            f"watching {folders} for {repo}; GitHub unreachable ({check.reason}): "
            "reports are spooled and sent when it answers"
        )
    if check.login:
        who = check.login
    elif not check.checked:
        who = f"GitHub App {config.github.app_id} (checked at the first upload)"
    else:
        who = "an App installation token"
    return f"watching {folders} for {repo} as {who}"


def run_watch(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    dirs = [Path(d) for d in (args.dirs or config.uploader.crash_dirs)]
    if not dirs:
        raise UsageError("no crash folder to watch: pass DIR... or set uploader.crash_dirs in crashbot.toml")
    _check_folders(dirs)
    if args.log_file:
        logfile.attach(Path(args.log_file))
    watching = assemble_watcher(
        config,
        env,
        repo=args.repo,
        api_url=args.api_url,
        spool=args.spool,
        realm=args.realm,
        config_path=getattr(args, "config", None),
    )
    try:
        banner = _start_banner(args, config, env, dirs)
        print(banner, file=sys.stderr, flush=True)
        logger.info("%s", banner)  # the log file too, for a service whose stderr nobody reads
        with stop_signals(watching.supervisor.stop):
            watching.watch(dirs, on_progress=progress.bar("backfill", "report", stream=sys.stderr))
    finally:
        watching.close()
    return 0
