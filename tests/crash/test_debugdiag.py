"""DebugDiag crash-analysis text (the real samples' truth is in tests/fixtures/samples/truth.json)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.model import Format
from bot.crash.parsers import debugdiag
from tests.crash.contract import assert_reads_or_refuses

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
VERDICT = (
    "In worldserver__PID__4242__Date__01_02_2024__Time_10_00_00PM__1__Second_Chance_Exception_C0000005.dmp "
    "the assembly instruction at worldserver!Unit::Update+4a in C:\\wow\\worldserver.exe has caused an access "
    "violation exception (0xC0000005) when trying to read from memory location 0x00000010 on thread 7"
)


def lines_of(name: str) -> list[str]:
    return (SAMPLES / name).read_text(encoding="utf-8").splitlines()


def test_debugdiag_samples_are_sniffed_as_debugdiag() -> None:
    for name in (
        "debugdiag-mssupport-kb2295405-args.txt",
        "debugdiag-iis-heap-thread.txt",
        "debugdiag-wcf-verdict.txt",
    ):
        assert parse_report((SAMPLES / name).read_bytes()).format is Format.DEBUGDIAG


def test_debugdiag_full_call_stack_rows_drop_the_argument_columns() -> None:
    report = debugdiag.parse(lines_of("debugdiag-mssupport-kb2295405-args.txt"))
    frames = report.threads[0].frames
    assert len(frames) == 23
    assert (frames[0].module, frames[0].function, frames[0].offset) == (
        "ntdll",
        "RtlReportCriticalFailure",
        "0x62",
    )
    assert (frames[6].module, frames[6].function, frames[6].offset) == ("OraOLEDButl11", None, "0x1a5f")
    assert (frames[7].function, frames[7].address) == (None, "0x403d6b00")


def test_debugdiag_verdict_gives_the_exception_and_its_site() -> None:
    report = debugdiag.parse(lines_of("debugdiag-mssupport-kb2295405-args.txt"))
    assert report.exception is not None
    assert (report.exception.code, report.exception.name, report.exception.module) == (
        "C0000374",
        "unknown exception",
        "ntdll",
    )
    assert report.extra["dump"] == "minidump.mdmp"
    # The verdict names thread 235; the excerpt has no block headed "Thread 235", so none is marked.
    assert report.crashing_thread is None
    assert report.notes == ("the analysis names thread 235, whose stack is not in the text",)


def test_debugdiag_heap_corruption_signs_on_the_caller_of_the_heap() -> None:
    crash = analyse(debugdiag.parse(lines_of("debugdiag-mssupport-kb2295405-args.txt")))
    assert crash.signature.text.startswith("HEAP_CORRUPTION | CoTaskMemFree")


def test_debugdiag_thread_block_keeps_its_number_and_names_with_spaces() -> None:
    report = debugdiag.parse(lines_of("debugdiag-iis-heap-thread.txt"))
    (thread,) = report.threads
    assert thread.id == "5"
    assert len(thread.frames) == 20
    assert thread.frames[9].function is not None
    assert thread.frames[9].function.endswith("::_AddRefRecord")
    assert thread.frames[7].offset == "0xe"


def test_debugdiag_code_only_in_the_dump_name_is_read_from_there() -> None:
    report = debugdiag.parse(lines_of("debugdiag-wcf-verdict.txt"))
    assert report.exception is not None
    assert (report.exception.code, report.exception.module) == ("E06D7363", "KERNELBASE")
    assert report.threads == ()
    assert report.notes == ()  # "on thread xx": the author redacted the number


def test_debugdiag_named_thread_is_the_crashing_one_and_the_access_is_kept() -> None:
    report = debugdiag.parse(
        [
            VERDICT,
            "",
            "Thread 3 - System ID 100",
            "Entry point   ntdll!TppWorkerThread",
            "Call Stack",
            "ntdll!NtWaitForSingleObject+14",
            "",
            "Thread 7 - System ID 4242",
            "Entry point   worldserver!WorldRunnable::run",
            "Full Call Stack",
            "Function     Arg 1     Arg 2     Arg 3   Source",
            "worldserver!Unit::Update+4a     00000010     00000001     00000000    C:\\src\\Unit.cpp @ 812",
            "worldserver!Map::Update+1f2     00000000     00000000     00000000",
        ]
    )
    assert [t.id for t in report.threads] == ["3", "7"]
    assert report.crashing_thread == 1
    assert report.threads[1].current
    top = report.threads[1].frames[0]
    assert (top.function, top.file, top.line, top.offset) == (
        "Unit::Update",
        "C:\\src\\Unit.cpp",
        812,
        "0x4a",
    )
    assert report.exception is not None
    assert (report.exception.code, report.exception.address) == ("C0000005", "0x00000010")
    assert report.exception.name == "access violation exception"


def test_debugdiag_text_without_verdict_or_stack_is_refused_with_one_line() -> None:
    with pytest.raises(CrashParseError, match="no DebugDiag analysis found"):
        debugdiag.parse(["Analysis Summary", "Type Description Recommendation"])


def test_debugdiag_does_not_claim_a_cdb_log() -> None:
    cdb = (SAMPLES / "ac-issue-818-cdb.txt").read_text(encoding="utf-8").splitlines()
    assert debugdiag.sniff(cdb) == 0


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [VERDICT],
        ["In  the assembly instruction at  has caused  on thread "],
        ["In " * 3000 + " the assembly instruction at x has caused y on thread 1"],
        ["Call Stack", "a!" + "b" * 100_000 + "+1"],
        ["Thread 1 - System ID 2", "Call Stack", "x " * 20_000 + " @ 1"],
        ["Call Stack", "m!f+1 " + "00000000 " * 5000],
    ],
)
def test_debugdiag_hostile_input_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(debugdiag, lines)


_WORDS = st.sampled_from(
    [
        "In ",
        "a.dmp",
        " the assembly instruction at ",
        "ntdll!Foo+1a",
        " in C:\\x.dll",
        " from Microsoft Corporation",
        " has caused ",
        "an access violation exception",
        " (0xC0000005)",
        " when trying to read from memory location 0x0",
        " on thread ",
        "7",
        "Thread 7 - System ID 9",
        "Call Stack",
        "Full Call Stack",
        "00000000`00000001 ",
        " @ 12",
        "[[InlinedCallFrame]",
        "",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_WORDS, max_size=8).map("".join), max_size=30))
def test_debugdiag_word_soup_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(debugdiag, lines)


def test_debugdiag_a_runaway_stack_is_cut_at_the_frame_budget_with_a_note() -> None:
    lines = ["Thread 1 - System ID 2", "Call Stack", *(f"m!f{i}+1a" for i in range(MAX_THREAD_FRAMES + 50))]
    report = debugdiag.parse(lines)
    assert len(report.threads[0].frames) == MAX_THREAD_FRAMES
    assert any("dropped" in note for note in report.notes)
