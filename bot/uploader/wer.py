"""Windows Error Reporting's report folders -> reports, for crashes the server's own handler never wrote.

With ``uploader.wer_reports`` on, ``crashbot watch`` also watches WER's ``ReportArchive`` (by default
``C:\\ProgramData\\Microsoft\\Windows\\WER\\ReportArchive``), where Windows keeps one folder per crash:
``AppCrash_worldserver.exe_<hash>_<id>\\Report.wer`` (UTF-16 LE). A ``Report.wer`` is handed on by the same
watcher as any crash report, so the same completeness rules hold (size and mtime quiet for the stability
period; on Windows, no other process holding it open), and read by :mod:`bot.crash.parsers.wer`. A report
of a program not in ``uploader.wer_exe_names`` is ignored with one log line; one that does not parse is
quarantined by the intake like any other, so nothing is lost.

Only the watching and the file layout are tested (on Linux, with folders shaped like ReportArchive); this
module never ran on Windows.
"""

from __future__ import annotations

import glob
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import DEFAULT_WER_DIR, UploaderSettings
from bot.crash import parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Format
from bot.crash.parsers.wer import application_of
from bot.crash.text import read_prefix
from bot.uploader.intake import Intake, IntakeResult
from bot.uploader.watcher import CrashWatcher, existing_reports

logger = logging.getLogger(__name__)

REPORT_NAME = "Report.wer"
# WER cuts the program's name in the folder name (``AppCrash_InsightAnalysisE_…`` for
# InsightAnalysisEngine.exe): the pattern uses as much of it as the folder keeps.
FOLDER_NAME_CHARS = 16


def wer_patterns(exe_names: Sequence[str]) -> tuple[str, ...]:
    """The watcher's patterns for the report folders of ``exe_names`` (``folder/file``, see is_report)."""
    names = (n.strip() for n in exe_names if n.strip())
    return tuple(f"AppCrash_{glob.escape(n[:FOLDER_NAME_CHARS])}*/{REPORT_NAME}" for n in names)


class WerTaker:
    """Takes one ``Report.wer`` into the intake, unless it is another program's report."""

    def __init__(self, intake: Intake, *, exe_names: Sequence[str], max_bytes: int) -> None:
        self._intake = intake
        self._names = {n.strip().lower() for n in exe_names if n.strip()}
        self._max_bytes = max_bytes

    def take(self, path: Path) -> IntakeResult | None:
        """Spool ``path`` (None when it is another program's report, or cannot be read)."""
        try:
            data, _ = read_prefix(path, self._max_bytes)
        except OSError as e:
            logger.warning("cannot read WER report %s: %s; skipped", path, e.strerror or type(e).__name__)
            return None
        application = _application(data)
        if application is not None and application.lower() not in self._names:
            wanted = ", ".join(sorted(self._names))
            logger.info("%s: a WER report of %s, not of %s: ignored", path, application, wanted)
            return None
        return self._intake.take(path)


def _application(data: bytes) -> str | None:
    """The program a Report.wer is of; None when it does not read (the intake then quarantines it)."""
    try:
        return application_of(parse_report(data, fmt=Format.WER))
    except CrashParseError:
        return None


def wer_watching(
    settings: UploaderSettings, intake: Intake
) -> tuple[list[CrashWatcher], Callable[[threading.Event], None]]:
    """The watcher of WER's ReportArchive and the backfill of the reports already there; none when
    ``uploader.wer_reports`` is off."""
    if not settings.wer_reports:
        return [], lambda stop: None
    folder = Path(settings.wer_dir or DEFAULT_WER_DIR).expanduser()
    patterns = wer_patterns(settings.wer_exe_names)
    taker = WerTaker(intake, exe_names=settings.wer_exe_names, max_bytes=settings.max_report_bytes)

    def take(path: Path) -> None:
        try:
            taker.take(path)
        except Exception as e:  # isolation: the watcher thread must survive any one report
            logger.error("reading the WER report %s failed (%s: %s)", path, type(e).__name__, e)
            logger.debug("reading the WER report %s failed", path, exc_info=True)

    if not folder.is_dir():
        # WER creates ReportArchive itself; a missing one is a typo in wer_dir, never made here
        logger.warning("WER report folder %s does not exist: WER reports are not read", folder)
        return [], lambda stop: None
    watcher = CrashWatcher([folder], on_report=take, patterns=patterns, stability_s=settings.stability_s)
    logger.info("watching %s for WER reports of %s", folder, ", ".join(settings.wer_exe_names))

    def backfill(stop: threading.Event) -> None:
        for path in existing_reports([folder], patterns):
            if stop.is_set():
                return
            take(path)

    return [watcher], backfill
