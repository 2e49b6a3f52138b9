"""A frame's trailing ``file:line[:col]`` and ``(module+0xOFF)`` split off its name (bot.crash.location)."""

from __future__ import annotations

import pytest

from bot.crash import parse_report
from bot.crash.location import split_trailing


@pytest.mark.parametrize(
    ("text", "rest", "file", "line", "column"),
    [
        ("Foo::Bar(int) /src/game/Chat.cpp:28:5", "Foo::Bar(int)", "/src/game/Chat.cpp", 28, 5),
        ("Foo::Bar src\\a.b\\x.cpp:7", "Foo::Bar", "src\\a.b\\x.cpp", 7, None),
        ("main ../a/b.c:3", "main", "../a/b.c", 3, None),
        ("Foo::Bar nodots:12", "Foo::Bar nodots:12", None, None, None),  # a path has a . / or \
        ("Foo::Bar(a.b) x.cpp:1:2", "Foo::Bar(a.b)", "x.cpp", 1, 2),
    ],
)
def test_split_trailing_takes_the_last_word_when_it_is_a_path_and_line(
    text: str, rest: str, file: str | None, line: int | None, column: int | None
) -> None:
    got, where = split_trailing(text)
    assert (got, where.file, where.line, where.column) == (rest, file, line, column)


@pytest.mark.timeout(30)
def test_sanitizer_frames_ending_in_long_dotted_words_are_read_in_linear_time() -> None:
    """Regression: the trailing-location pattern tried each ``.`` of the frame's last word as the one a
    path must hold, rescanning the word each time: 0.25 s per 8 KB frame, 53 s for 200 of them."""
    frames = "".join(f"    #{i} 0x{i:x} in f{i} " + "a." * 4000 + ":x\n" for i in range(200))
    report = parse_report(
        "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc 0x1 bp 0x2 sp 0x3\n"
        "READ of size 4 at 0x6020 thread T0\n" + frames
    )
    assert len(report.threads[0].frames) == 200
    assert report.threads[0].frames[0].file is None
