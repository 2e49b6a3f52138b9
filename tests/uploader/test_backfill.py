"""The backfill: the reports already in the crash folders when the uploader starts."""

from __future__ import annotations

import threading
from pathlib import Path

from bench.reports import write_report
from bot.config import RedactionSettings
from bot.uploader.backfill import backfill
from bot.uploader.intake import Intake
from bot.uploader.spool import Spool


def test_backfill_stops_when_asked(tmp_path: Path) -> None:
    paths = [write_report(tmp_path / "Crashes", 0, n) for n in range(3)]
    stop = threading.Event()
    stop.set()
    with Spool(tmp_path / "s.db") as spool:
        assert backfill(Intake(spool, redaction=RedactionSettings(), max_bytes=10**6), paths, stop) == 0


def test_backfill_counts_new_reports_and_reports_progress_after_each(tmp_path: Path) -> None:
    paths = [write_report(tmp_path / "Crashes", 0, n) for n in range(3)]
    seen: list[tuple[int, int]] = []
    with Spool(tmp_path / "s.db") as spool:
        intake = Intake(spool, redaction=RedactionSettings(), max_bytes=10**6)
        new = backfill(intake, [*paths, paths[0]], threading.Event(), on_progress=lambda *p: seen.append(p))
    assert new == 3  # the repeated file is spooled once
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
