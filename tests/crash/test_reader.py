"""The parsers' common pieces: a Cursor walks the lines once, a ReportBuilder freezes what was read."""

from __future__ import annotations

import pytest

from bot.crash import parse_report
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.model import Format, Frame, Thread
from bot.crash.parsers.reader import Cursor, ReportBuilder, blank_from


def test_iterating_a_cursor_consumes_lines_and_a_reader_may_skip_ahead() -> None:
    cursor = Cursor(["header", "block start", "inside", "inside", "after"])
    seen = []
    for line in cursor:
        seen.append(line)
        if line == "block start":
            while not cursor.done and cursor.peek() == "inside":  # a section reader taking its block
                cursor.index += 1
    assert seen == ["header", "block start", "after"]
    assert cursor.done


def test_a_cursor_can_start_where_another_reader_stopped() -> None:
    cursor = Cursor(["a", "b", "c"], index=2)
    assert list(cursor) == ["c"]
    assert list(cursor) == []


def test_builder_freezes_what_was_read_into_a_report() -> None:
    out = ReportBuilder(Format.CDB)
    out.threads.append(Thread(frames=(Frame(function="Map::Update"),)))
    out.extra["BUCKET_ID"] = "x"
    out.note("first")
    report = out.report()
    out.extra["BUCKET_ID"] = "changed later"
    assert report.format is Format.CDB
    assert report.threads == (Thread(frames=(Frame(function="Map::Update"),)),)
    assert dict(report.extra) == {"BUCKET_ID": "x"}
    assert report.notes == ("first",)


def test_budget_note_goes_where_the_parser_puts_it_and_only_when_frames_were_dropped() -> None:
    out = ReportBuilder(Format.GDB)
    out.note_budget()
    assert out.notes == []
    for _ in range(MAX_THREAD_FRAMES + 2):
        out.budget.admits(MAX_THREAD_FRAMES)
    out.note("before")
    out.note_budget()
    out.note("after")
    assert out.notes[0] == "before" and out.notes[2] == "after"
    assert out.notes[1].startswith(f"truncated: {MAX_THREAD_FRAMES + 2} frame(s)")


def test_blank_from_says_whether_only_blank_lines_are_left() -> None:
    lines = ["#0 a", "", "  \t", "#1 b", " "]
    assert blank_from(lines, 4) and blank_from(lines, 5)
    assert not blank_from(lines, 1) and not blank_from(lines, 0)


@pytest.mark.timeout(60)
def test_a_gdb_log_of_many_frames_each_looking_cut_is_read_in_linear_time() -> None:
    """Regression: every frame the cut-frame check suspected (a module name without a dot, ``from libx``)
    copied the rest of the log to see whether it was blank: 84 s for 20 threads of 10,000 such frames."""
    out = ["Program received signal SIGSEGV, Segmentation fault."]
    for t in range(20):
        out.append(f"Thread {t + 1} (Thread 0x7f{t:04x} (LWP {1000 + t})):")
        out += [f"#{i}  0x{i:016x} in f{i} () from libx" for i in range(10_000)]
    report = parse_report("\n".join(out))
    assert sum(len(t.frames) for t in report.threads) == 100_000  # the report's frame limit
    assert not any("the text ends inside" in n for n in report.notes)
