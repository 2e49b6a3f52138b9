"""A build's progress bar: the build tool's own progress lines, read from the log as the build writes it,
drawn only on a terminal outside GitHub Actions."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from bot import progress
from bot.build.progress import LogFollower, Progress, Tracker, parse_line
from bot.build.runner import build
from bot.config import FixSettings
from tests.conftest import FIXTURES

needs_toolchain = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("g++") is None, reason="cmake and g++ are needed"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[ 42%] Building CXX object CMakeFiles/worldserver.dir/util.cpp.o", Progress(42, 100)),
        ("[100%] Built target worldserver", Progress(100, 100)),
        ("[  0%] Built target revision_data.h", Progress(0, 100)),
        (
            "[12/345] Building CXX object src/server/game/CMakeFiles/game.dir/Spells/Spell.cpp.o",
            Progress(12, 345),
        ),
        ("[345/345] Linking CXX executable bin/worldserver", Progress(345, 345)),
        ("[7/3] a total that shrank under us", Progress(3, 3)),
        ("[0/0] nothing to do", None),
        ("ninja: no work to do.", None),
        ("util.cpp:3:5: error: expected ';' before '}' token [42%]", None),
        ("  [ 42%] indented: not the tool's status line", None),
        ("[42 %] not the format", None),
        ("-- Configuring done (0.1s)", None),
        ("", None),
    ],
)
def test_parse_line_reads_make_percent_and_ninja_counts_only(line: str, expected: Progress | None) -> None:
    assert parse_line(line) == expected


def test_tracker_never_steps_back_within_a_total_and_follows_a_new_total() -> None:
    seen: list[tuple[int, int]] = []
    tracker = Tracker(lambda done, total: seen.append((done, total)))
    for line in [
        "[ 10%] a",
        "[ 30%] b",
        "[ 20%] c (-j: out of order)",
        "[ 30%] d",
        "junk",
        "[1/50] e",
        "[2/50] f",
    ]:
        tracker.line(line)
    assert seen == [(10, 100), (30, 100), (1, 50), (2, 50)]


def test_log_follower_reads_what_is_appended_after_its_start_up_to_the_unterminated_last_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "build.log"
    log.write_bytes(b"[ 99%] an earlier build's line\n")
    lines: list[str] = []
    with LogFollower(log, log.stat().st_size, lines.append), log.open("ab") as out:
        out.write(b"[1/3] one\r[2/3] two\n[3/3] th")
        out.flush()
        out.write(b"ree\xff")  # the last line, unterminated, with a byte that is not UTF-8
    assert lines == ["[1/3] one", "[2/3] two", "[3/3] three\ufffd"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_build_bar_on_a_non_terminal_nor_in_github_actions() -> None:
    with progress.steps("build", stream=io.StringIO(), env={}) as update:
        assert update is None
    with progress.steps("build", stream=Terminal(), env={"GITHUB_ACTIONS": "true"}) as update:
        assert update is None


def test_build_bar_on_a_terminal_draws_the_progress_and_closes() -> None:
    screen = Terminal()
    with progress.steps("build", stream=screen, env={}) as update:
        assert update is not None
        update(12, 345)
        update(345, 345)
    assert "build:" in screen.getvalue() and "345/345" in screen.getvalue()


@pytest.mark.slow
@needs_toolchain
@pytest.mark.parametrize("generator", ["Unix Makefiles", "Ninja"])
def test_real_cmake_build_reports_its_progress_up_to_the_end(
    tmp_path: Path, generator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if generator == "Ninja" and shutil.which("ninja") is None:
        pytest.skip("ninja is not installed")
    source = tmp_path / "checkout"
    shutil.copytree(FIXTURES / "fix" / "tinyserver", source)
    configure = ("cmake", "-S", "{source}", "-B", "{build_dir}", "-G", generator)
    settings = FixSettings(build_timeout_s=300.0, configure_command=configure)
    seen: list[tuple[int, int]] = []
    result = build(
        source,
        settings,
        build_dir=tmp_path / "build",
        env=os.environ,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert result.ok, result.tail
    assert seen and seen[-1][0] == seen[-1][1]  # the last line the tool printed: all done
    assert all(done <= total for done, total in seen)
    assert len(seen) >= 2  # several steps, not one final jump


@pytest.mark.slow
@needs_toolchain
def test_build_without_a_terminal_draws_no_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "checkout"
    shutil.copytree(FIXTURES / "fix" / "tinyserver", source)
    result = build(source, FixSettings(build_timeout_s=300.0), build_dir=tmp_path / "build", env=os.environ)
    assert result.ok, result.tail
    err = capsys.readouterr().err
    assert "build:" not in err and "\r" not in err
