"""`crashbot watch --log-file`: a rotated log the Windows service writes (useful on Linux too)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import logfile
from bot.cli import main
from bot.errors import ConfigError


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), [h.level for h in root.handlers])
    yield root
    for handler in root.handlers:
        if handler not in saved[1]:
            handler.close()
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for handler, level in zip(saved[1], saved[2], strict=True):
        handler.setLevel(level)


def test_the_log_rotates_by_size_and_keeps_a_bounded_number_of_files(
    tmp_path: Path, root_logger: logging.Logger
) -> None:
    path = tmp_path / "watch.log"
    logfile.attach(path, max_bytes=2000, backups=3)
    log = logging.getLogger("bot.uploader.test")
    for i in range(200):
        log.info("uploaded report %03d of the backfill", i)

    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["watch.log", "watch.log.1", "watch.log.2", "watch.log.3"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "uploaded report 199 of the backfill" in path.read_text(encoding="utf-8")


def test_info_reaches_the_file_while_stderr_stays_at_its_level(
    tmp_path: Path, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    stderr = logging.StreamHandler()
    root_logger.handlers[:] = [stderr]
    root_logger.setLevel(logging.WARNING)
    path = tmp_path / "watch.log"
    logfile.attach(path)

    logging.getLogger("bot").info("watching 2 folders")

    assert "INFO bot: watching 2 folders" in path.read_text(encoding="utf-8")
    assert "watching" not in capsys.readouterr().err


def test_a_missing_log_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it"):
        logfile.attach(tmp_path / "nope" / "watch.log")


def test_watch_with_an_unwritable_log_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logger: logging.Logger
) -> None:
    (tmp_path / "crashes").mkdir()
    target = tmp_path / "a-folder.log"
    target.mkdir()  # a folder where the file should be: cannot be opened for writing
    code = main(["watch", str(tmp_path / "crashes"), "--log-file", str(target)])

    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--log-file" in line and "cannot be opened" in line
