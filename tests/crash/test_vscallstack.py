"""Visual Studio Call Stack window copies: rows, the current-frame mark, the pasted assert and exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.model import CrashReport, Format
from bot.crash.parsers import vscallstack
from bot.crash.text import clean_lines, decode
from tests.crash.contract import assert_reads_or_refuses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = FIXTURES / "samples"
OWN = FIXTURES / "crash" / "vs"

OTHER_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.txt") if p.name not in ("ac-issue-4981.txt",))


def lines_of(path: Path) -> list[str]:
    return clean_lines(decode(path.read_bytes()))


def parse_file(path: Path) -> CrashReport:
    return vscallstack.parse(lines_of(path))


def test_sniff_vs_sample_is_confident() -> None:
    assert vscallstack.sniff(lines_of(SAMPLES / "ac-issue-4981.txt")) >= 80


@pytest.mark.parametrize("name", OTHER_SAMPLES)
def test_sniff_other_format_sample_is_not_vs(name: str) -> None:
    assert vscallstack.sniff(lines_of(SAMPLES / name)) < 25


def test_parse_sample_reads_rows_current_mark_assert_and_exception() -> None:
    report = parse_file(SAMPLES / "ac-issue-4981.txt")
    assert report.format is Format.VS_CALLSTACK
    thread = report.threads[0]
    assert thread.current is True
    assert report.crashing_thread == 0
    frames = thread.frames
    assert (frames[0].module, frames[0].function, frames[0].address) == (
        "KernelBase.dll",
        None,
        "0x00007ff9beb1d759",
    )
    assert [(f.function, f.line) for f in frames[1:4]] == [
        ("acore::Assert", 80),
        ("BigNumber::GetBytes", 191),
        ("BigNumber::ToByteVector", 201),
    ]
    assert all(f.module == "worldserver.exe" for f in frames[1:])
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("C0000420", "Assertion Failure")
    assert report.exception.module == "KernelBase.dll"
    assert report.build.executable == "worldserver.exe"
    assert report.assertion is not None
    assert (report.assertion.condition, report.assertion.line) == ("res > 0", 191)
    assert report.assertion.function == "BigNumber::GetBytes"
    assert report.assertion.message == "Buffer of size 0 is too small to hold bignum with 0 bytes."
    assert any("truncated" in note for note in report.notes)  # the last row is cut mid-argument


def test_parse_collapsed_tabs_inline_external_and_templates() -> None:
    report = parse_file(OWN / "tabs-collapsed-access-violation.txt")
    frames = report.threads[0].frames
    assert [f.function for f in frames] == [
        "Unit::GetVictim",
        "ScriptedAI::UpdateVictim",
        "boss_onyxia::boss_onyxiaAI::UpdateAI",
        "Creature::Update",
        "Acore::ObjectUpdater::Visit<Creature>",
        "std::_Func_impl_no_alloc<void <lambda>(void),void>::_Do_call",
        "`anonymous namespace'::Helper::operator()",
        "Map::Update",
        "MapUpdater::WorkerThread",
        "RtlUserThreadStart",
    ]
    assert frames[1].inline
    assert frames[7].offset == "0x1a"  # "+ 0x1a bytes"
    assert (frames[-1].module, frames[-1].line) == ("ntdll.dll", None)
    assert report.threads[0].current
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("C0000005", "Access violation reading location")
    assert report.exception.address == "0x00007ff71f3a1b27"
    assert any("External Code" in note for note in report.notes)


def test_parse_rows_without_current_mark_are_not_current() -> None:
    report = vscallstack.parse(
        ["\tworldserver.exe!Foo::Bar(int x) Line 12\tC++", "\tntdll.dll!RtlUserThreadStart()\tUnknown"]
    )
    assert report.threads[0].current is False
    assert [f.function for f in report.threads[0].frames] == ["Foo::Bar", "RtlUserThreadStart"]


@pytest.mark.parametrize(
    "text", ["", "no stack here", "Exception thrown at 0x0000 (x.dll) in a.exe: 0xC0000005: x"]
)
def test_parse_text_without_rows_raises_one_line_error(text: str) -> None:
    with pytest.raises(CrashParseError) as info:
        vscallstack.parse(clean_lines(text))
    assert "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=40))
def test_parse_arbitrary_lines_raises_only_crash_parse_error(lines: list[str]) -> None:
    assert_reads_or_refuses(vscallstack, lines)


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from([SAMPLES / "ac-issue-4981.txt", *sorted(OWN.glob("*.txt"))]),
    cut=st.integers(min_value=0, max_value=3_000),
    junk=st.text(max_size=30),
    at=st.integers(min_value=0, max_value=3_000),
)
def test_parse_truncated_or_mutated_real_copy_raises_only_crash_parse_error(
    path: Path, cut: int, junk: str, at: int
) -> None:
    text = decode(path.read_bytes())[:cut]
    at = min(at, len(text))
    lines = clean_lines(text[:at] + junk + text[at:])
    assert_reads_or_refuses(vscallstack, lines)


HOSTILE_LINES = [
    " " * 2_000_000,
    "C " * 1_000_000,
    " Line 1" * 300_000,
    "a.dll!" + "(" * 2_000_000 + " Line 1\tC++",
    "a.dll!" + ")" * 2_000_000 + " Line 1\tC++",
    "x" * 2_000_000 + ".dll!f() Line 1\tC++",
    "Exception thrown at 0x1 (" + "a" * 2_000_000,
    "Unhandled exception at 0x1 in a.exe: 0xC0000005: " + " " * 2_000_000 + "0x1",
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=lambda line: repr(line[:24]))
def test_parse_two_megabyte_single_line_finishes(line: str) -> None:
    """Catastrophic backtracking would hang here; the suite's timeout turns that into a failure."""
    lines = [line, "\tworldserver.exe!Foo::Bar(int x) Line 12\tC++", line]
    assert_reads_or_refuses(vscallstack, lines)


def test_parse_call_stack_longer_than_the_thread_limit_stops_reading_and_says_so() -> None:
    rows = [f"\tworldserver.exe!Recurse::Step(int n) Line {n + 1}\tC++" for n in range(MAX_THREAD_FRAMES + 5)]
    report = vscallstack.parse(rows)
    (thread,) = report.threads
    assert len(thread.frames) == MAX_THREAD_FRAMES
    assert thread.frames[-1].line == MAX_THREAD_FRAMES
    assert any(f"goes on past {MAX_THREAD_FRAMES} rows" in note for note in report.notes)
