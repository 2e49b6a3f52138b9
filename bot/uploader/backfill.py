"""The backfill: spool the reports that arrived in the crash folders while the uploader was down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.uploader.intake import Intake, Outcome

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total), after each report


def backfill(
    intake: Intake, paths: Sequence[Path], stop: threading.Event, *, on_progress: Progress | None = None
) -> int:
    """Take each of ``paths`` (until ``stop`` is set); returns how many were new to the spool."""
    new = 0
    for i, path in enumerate(paths, 1):
        if stop.is_set():
            break
        if intake.take(path).outcome in (Outcome.SPOOLED, Outcome.QUARANTINED):
            new += 1
        if on_progress is not None:
            on_progress(i, len(paths))
    if new:
        logger.info("backfill: %d new report(s) of %d in the folders", new, len(paths))
    return new
