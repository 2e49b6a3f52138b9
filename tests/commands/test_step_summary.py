"""The one GitHub Actions job-summary writer that ``crashbot fix`` and ``crashbot deploy`` share."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.commands import STEP_SUMMARY_ENV, append_step_summary


def test_step_summary_appends_to_the_file_the_env_names(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")

    append_step_summary({STEP_SUMMARY_ENV: str(summary)}, "### crashbot ✅\n")

    assert summary.read_text(encoding="utf-8") == "earlier step\n### crashbot ✅\n"


def test_step_summary_outside_actions_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(tmp_path / "from-os-environ.md"))

    append_step_summary({}, "text")

    assert list(tmp_path.iterdir()) == []


def test_step_summary_that_cannot_be_written_is_a_warning_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        append_step_summary({STEP_SUMMARY_ENV: str(tmp_path)}, "text")  # a directory, not a file

    assert "could not write the job summary" in caplog.text
