"""CLI conventions: -v/-q on either side of the command, and GitHub Actions groups and annotations."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import actions
from bot.cli import build_parser, main, verbosity


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-v", "signature", "x"], 1),
        (["signature", "-v", "x"], 1),
        (["signature", "x", "-v"], 1),
        (["-v", "signature", "-v", "x"], 2),
        (["-vv", "signature", "x"], 2),
        (["signature", "-q", "x"], -1),
        (["-q", "signature", "--quiet", "x"], -2),
        (["-v", "signature", "-q", "x"], 0),
        (["signature", "x"], 0),
    ],
)
def test_verbosity_counts_the_flags_before_and_after_the_command(argv: list[str], expected: int) -> None:
    assert verbosity(build_parser(argv).parse_args(argv)) == expected


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("flags", "level"),
    [([], logging.WARNING), (["-vv"], logging.DEBUG), (["-v"], logging.INFO), (["-q"], logging.ERROR)],
)
def test_the_flags_after_the_command_set_the_log_level(flags: list[str], level: int, tmp_path: Path) -> None:
    main(["signature", *flags, str(tmp_path / "missing.txt")])

    assert logging.getLogger().level == level


@pytest.mark.parametrize(
    ("message", "escaped"),
    [
        ("plain", "plain"),
        ("100% done", "100%25 done"),
        ("two\nlines", "two%0Alines"),
        ("crlf\r\nend", "crlf%0D%0Aend"),
        ("::error::forged", "::error::forged"),  # data after the command's :: cannot start another
        ("%0A literal", "%250A literal"),
    ],
)
def test_annotation_data_is_escaped_per_the_workflow_command_rules(message: str, escaped: str) -> None:
    assert actions.escape(message) == escaped
    assert actions.annotation("warning", message) == f"::warning::{escaped}"


def test_groups_fold_output_in_actions_and_change_nothing_outside() -> None:
    inside, outside = io.StringIO(), io.StringIO()
    with actions.group("build 50%\nof it", {"GITHUB_ACTIONS": "true"}, stream=inside):
        inside.write("cmake output\n")
    with actions.group("build", {}, stream=outside):
        outside.write("cmake output\n")

    assert inside.getvalue() == "::group::build 50%25%0Aof it\ncmake output\n::endgroup::\n"
    assert outside.getvalue() == "cmake output\n"


def test_warnings_and_errors_become_annotations_other_records_do_not() -> None:
    formatter = actions.AnnotationFormatter("crashbot: %(levelname)s: %(message)s")

    def render(level: int, message: str) -> str:
        return formatter.format(logging.LogRecord("bot", level, __file__, 1, message, None, None))

    assert render(logging.ERROR, "push\nrefused") == "::error::crashbot: ERROR: push%0Arefused"
    assert render(logging.WARNING, "slow") == "::warning::crashbot: WARNING: slow"
    assert render(logging.INFO, "ok") == "crashbot: INFO: ok"


def _crashbot(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        capture_output=True,
        text=True,
        env=base | env,
        check=False,
        timeout=60,
    )


def test_in_a_workflow_the_one_error_line_is_an_error_annotation(tmp_path: Path) -> None:
    result = _crashbot("--config", str(tmp_path / "none.toml"), "deploy", env={"GITHUB_ACTIONS": "true"})

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("::error::crashbot: error: ")


def test_outside_a_workflow_the_error_line_is_plain(tmp_path: Path) -> None:
    result = _crashbot("--config", str(tmp_path / "none.toml"), "deploy", env={})

    (line,) = result.stderr.splitlines()
    assert line.startswith("crashbot: error: ")


def test_no_progress_bar_when_stderr_is_not_a_terminal() -> None:
    """A service, a workflow or a pipe gets no bar (and never imports tqdm for it)."""
    from bot import progress

    assert progress.bar("backfill", "report", stream=io.StringIO()) is None


def test_the_progress_bar_counts_up_to_the_total_and_closes() -> None:
    from bot import progress

    out = io.StringIO()
    update = progress.bar("backfill", "report", stream=out, force=True)
    assert update is not None
    for done in range(1, 251):
        update(done, 250)

    assert "250/250" in out.getvalue() and out.getvalue().endswith("\n")
