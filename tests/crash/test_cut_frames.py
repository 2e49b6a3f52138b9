"""Specification: a report whose text ends in the middle of a frame (a search excerpt, a truncated paste)
keeps that frame as far as it is readable, with a ``truncated`` note, in every format that lists frames.

Each case is a fixture of tests/fixtures/crash (their sources are in its SOURCES files) cut inside one of
its frame lines, the way excerpts are cut. gdb's own cut frames are specified in test_gdb_fragments.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.crash import parse_report
from bot.crash.model import CrashReport, Frame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "crash"


def _cut(path: str, line: int, column: int) -> CrashReport:
    """The fixture at ``path`` up to 1-based ``line``, that line cut after ``column`` characters."""
    lines = (FIXTURES / path).read_text(encoding="utf-8").splitlines()
    return parse_report("\n".join([*lines[: line - 1], lines[line - 1][:column]]))


def _last(report: CrashReport) -> Frame:
    return report.threads[report.crashing_thread or 0].frames[-1]


# -- cdb's ``k`` (module!Function+0xOFF [path @ line]) ---------------------------------------------------


def test_cdb_line_cut_in_its_source_path_keeps_the_function_and_the_path_so_far() -> None:
    report = _cut("cdb/k-command.txt", 10, 110)
    frame = _last(report)
    assert (frame.function, frame.module, frame.offset) == ("Creature::Update", "worldserver", "0x3b1")
    assert frame.file == r"E:\acore\src\server\game\Entiti"
    assert frame.line is None
    assert "truncated: the text ends inside the last stack line: its source path is cut off" in report.notes


def test_cdb_whole_last_line_gets_no_truncation_note() -> None:
    report = _cut("cdb/k-command.txt", 10, 10_000)
    assert _last(report).line == 645
    assert not any(n.startswith("truncated") for n in report.notes)


# -- Visual Studio's Call Stack window ------------------------------------------------------------------


def test_vs_row_cut_in_its_arguments_keeps_its_function() -> None:
    report = _cut("vs/tabs-collapsed-access-violation.txt", 7, 60)
    frames = report.threads[0].frames
    assert [f.function for f in frames][-2:] == ["Creature::Update", "Acore::ObjectUpdater::Visit<Creature>"]
    assert (frames[-1].module, frames[-1].line) == ("worldserver.exe", None)
    assert "truncated: the last call stack row is incomplete; its function is kept" in report.notes


def test_vs_row_cut_in_its_function_name_is_left_out_with_the_note() -> None:
    report = _cut("vs/tabs-collapsed-access-violation.txt", 7, 40)
    assert _last(report).function == "Creature::Update"  # the row before: the cut name may be anyone's
    assert "truncated: the last call stack row is incomplete" in report.notes


# -- glibc backtrace_symbols under a console assert -----------------------------------------------------


@pytest.mark.parametrize("column", [64, 70, 75])  # in the displacement, after it, inside ``[0x…]``
def test_backtrace_symbols_line_cut_after_its_symbol_keeps_the_function(column: int) -> None:
    report = _cut("assert/tc-linux-glibc-backtrace.txt", 8, column)
    frame = _last(report)
    assert (frame.function, frame.module, frame.address) == (
        "WorldSession::HandleOpcode",
        "worldserver",
        None,
    )
    assert "truncated: the text ends inside the last backtrace line; its function is kept" in report.notes


def test_backtrace_symbols_line_cut_inside_its_mangled_symbol_is_left_out() -> None:
    report = _cut("assert/tc-linux-glibc-backtrace.txt", 8, 45)
    assert _last(report).function == "Player::learnSkillRewardedSpells"
    assert not any(n.startswith("truncated") for n in report.notes)


# -- Wheaty (already kept cut lines; the same promise) --------------------------------------------------


def test_wheaty_line_cut_in_its_source_path_keeps_the_function() -> None:
    report = _cut("wheaty/tc-new-x64-inline-locals.txt", 40, 90)
    frame = _last(report)
    assert frame.function == "Unit::GetTarget"
    assert frame.line is None
    assert "truncated: the last frame line is incomplete" in report.notes
