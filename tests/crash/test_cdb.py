"""cdb/WinDbg parser: ``!analyze -v`` old and new style, ``k`` listings, and hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.model import CrashReport, Format
from bot.crash.parsers import cdb
from bot.crash.parsers.cdb import build_from_dump_name
from bot.crash.text import clean_lines, decode
from tests.crash.contract import assert_reads_or_refuses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = FIXTURES / "samples"
OWN = FIXTURES / "crash" / "cdb"

CDB_SAMPLES = [
    "ac-issue-14340-cdb.txt",
    "ac-issue-818-cdb.txt",
    "moon-7d14957a32df-20251031-115858-cdb-stacktext.txt",
]
OTHER_SAMPLES = [
    "ac-issue-13275.txt",
    "ac-issue-2216.txt",
    "ac-issue-4981.txt",
    "ac-mod-transmog-issue-52.txt",
    "cmangos-issue-946.txt",
    "cmangos-issue-948.txt",
    "mod-playerbots-issue-1184.txt",
    "mod-playerbots-issue-2618.txt",
    "moon-7d14957a32df-20251031-115858-head5000.txt",
    "tc-issue-15704.txt",
    "tcbots-issue-57.txt",
]


def lines_of(path: Path) -> list[str]:
    return clean_lines(decode(path.read_bytes()))


def parse_file(path: Path) -> CrashReport:
    return cdb.parse(lines_of(path))


@pytest.mark.parametrize("name", CDB_SAMPLES)
def test_sniff_cdb_sample_is_confident(name: str) -> None:
    assert cdb.sniff(lines_of(SAMPLES / name)) >= 80


@pytest.mark.parametrize("name", OTHER_SAMPLES)
def test_sniff_other_format_sample_is_not_cdb(name: str) -> None:
    assert cdb.sniff(lines_of(SAMPLES / name)) < 25


def test_parse_stack_text_sample_splits_module_function_and_offset() -> None:
    report = parse_file(SAMPLES / "moon-7d14957a32df-20251031-115858-cdb-stacktext.txt")
    assert report.format is Format.CDB
    assert report.crashing_thread == 0
    frames = report.threads[0].frames
    assert len(frames) == 16
    assert (frames[0].module, frames[0].function, frames[0].offset) == (
        "worldserver",
        "Playerbot::Events::EventDispatcher::UnsubscribeAll",
        "0x70",
    )
    assert (
        frames[7].function == "`Playerbot::BotWorldSessionMgr::UpdateSessions'::`109'::<lambda_1>::operator()"
    )
    assert frames[12].function == (
        "std::thread::_Invoke<std::tuple<void (__cdecl Playerbot::Performance::WorkerThread::*)(void),"
        "Playerbot::Performance::WorkerThread *>,0,1>"
    )
    assert (frames[-1].module, frames[-1].function) == ("ntdll", "RtlUserThreadStart")
    # each frame's program counter is the return address printed on the line above it
    assert frames[1].address == "0x00007ff65921f632"


def test_parse_new_style_sample_reads_key_values_and_dump_name_build() -> None:
    report = parse_file(SAMPLES / "ac-issue-14340-cdb.txt")
    assert report.extra["AV.Dereference"] == "NullClassPtr"
    assert report.extra["AV.Fault"] == "Read"
    assert report.extra["FILE_IN_CAB"] == "d467f5de833e+_worldserver.exe_[23-12_12-17-33].dmp"
    assert (report.build.revision, report.build.dirty, report.build.executable) == (
        "d467f5de833e",
        True,
        "worldserver.exe",
    )
    assert report.exception is not None
    assert report.exception.code == "C0000005"
    assert report.threads == ()


def test_parse_old_style_sample_uses_followup_ip_as_single_frame() -> None:
    report = parse_file(SAMPLES / "ac-issue-818-cdb.txt")
    assert len(report.threads) == 1
    (frame,) = report.threads[0].frames
    assert (frame.module, frame.function, frame.offset) == ("KERNELBASE", None, "0x1a06d")
    assert report.threads[0].id == "0x6b0"
    assert report.extra["DEFAULT_BUCKET_ID"] == "WRONG_SYMBOLS"
    assert report.extra["PRIMARY_PROBLEM_CLASS"] == "STACK_CORRUPTION"
    assert report.extra["FAILURE_BUCKET_ID"].startswith("X64_APPLICATION_FAULT_STACK_CORRUPTION")
    assert report.extra["BUCKET_ID"].endswith("worldserver.exe")
    assert any("FOLLOWUP_IP" in note for note in report.notes)


def test_parse_old_style_sample_passes_followup_ip_on_as_the_exception_location() -> None:
    """Regression (ac-issue-818): the excerpt keeps no exception record, only ``FOLLOWUP_IP
    KERNELBASE+1a06d``; that location was lost, so the crash signed ``UNKNOWN | (no frames)`` like every
    other record-less excerpt. It is now the exception's module/offset, with an empty (unknown) code."""
    report = parse_file(SAMPLES / "ac-issue-818-cdb.txt")
    assert report.exception is not None
    exc = report.exception
    assert (exc.code, exc.name, exc.module, exc.module_offset) == ("", None, "KERNELBASE", "0x1a06d")
    crash = analyse(report)
    assert crash.signature.text == "UNKNOWN | kernelbase+0x1a06d"


def test_parse_followup_ip_gives_the_location_when_faulting_ip_is_missing() -> None:
    lines = [
        "EXCEPTION_CODE: (NTSTATUS) 0xc0000005 - Access violation",
        "",
        "FOLLOWUP_IP: ",
        "mangosd+1f1c7",
        "00a3f1c7 8b4804          mov     ecx,dword ptr [eax+4]",
    ]
    exc = cdb.parse(lines).exception
    assert exc is not None
    assert (exc.code, exc.module, exc.module_offset) == ("C0000005", "mangosd", "0x1f1c7")


def test_parse_without_record_or_unsymbolised_ip_has_no_exception() -> None:
    lines = ["FOLLOWUP_IP: ", "worldserver!Unit::GetVictim+7", "", "DEFAULT_BUCKET_ID:  NULL_CLASS_PTR_READ"]
    assert cdb.parse(lines).exception is None


def test_parse_full_new_style_report_reads_exception_record_sources_and_inline_frames() -> None:
    report = parse_file(OWN / "analyze-v-new-style.txt")
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("C0000005", "Access violation")
    assert report.exception.address == "0x00007ff71f3a1b27"
    assert report.exception.module == "worldserver.exe"
    frames = report.threads[0].frames
    assert report.threads[0].id == "0x2f18"
    assert frames[0].function == "Unit::GetVictim"
    assert frames[0].module == "worldserver.exe"  # MODULE_NAME/IMAGE_NAME pair
    assert (frames[0].file, frames[0].line) == (r"E:\acore\src\server\game\Entities\Unit\Unit.h", 1455)
    assert frames[0].address == "0x00007ff71f3a1b27"
    assert frames[1].inline and frames[1].function == "ScriptedAI::UpdateVictim"
    assert frames[1].address == frames[2].address  # the inline frame shares its caller's PC
    assert "Creature::Update" in [f.function for f in frames]  # the WARNING line does not end STACK_TEXT
    assert frames[6].module == "ucrtbase.dll"  # lmvm's "Image name:"
    assert report.extra["FAILURE_BUCKET_ID"] == "NULL_CLASS_PTR_READ_c0000005_worldserver.exe!Unit::GetVictim"
    assert report.extra["Failure.Bucket"] == "NULL_CLASS_PTR_READ_c0000005_worldserver.exe!Unit::GetVictim"
    assert (report.build.revision, report.build.dirty) == ("5b0d6e1d9f2a", True)


def test_parse_old_style_x86_report_reads_child_ebp_lines_and_module_offsets() -> None:
    report = parse_file(OWN / "analyze-v-old-style-x86.txt")
    frames = report.threads[0].frames
    assert [(f.module, f.offset) for f in frames[:3]] == [
        ("mangosd.exe", "0x1f1c7"),
        ("mangosd.exe", "0x21a09e"),
        ("mangosd.exe", "0x31e4b2"),
    ]
    assert frames[3].function == "BaseThreadInitThunk"
    assert frames[1].address == "0x00c1a09e"
    assert report.exception is not None
    assert report.exception.code == "C0000005"
    assert (report.exception.module, report.exception.module_offset) == ("mangosd.exe", "0x1f1c7")
    assert report.build.executable == "mangosd.exe"
    assert report.extra["PRIMARY_PROBLEM_CLASS"] == "NULL_CLASS_PTR_READ"


def test_parse_k_listing_with_frame_numbers() -> None:
    report = parse_file(OWN / "k-command.txt")
    frames = report.threads[0].frames
    assert [f.function for f in frames] == [
        "Unit::GetVictim",
        "ScriptedAI::UpdateVictim",
        "boss_onyxia::boss_onyxiaAI::UpdateAI",
        "Creature::Update",
        None,
        "BaseThreadInitThunk",
        "RtlUserThreadStart",
    ]
    assert frames[1].inline
    assert (frames[4].module, frames[4].offset) == ("worldserver", "0x3f9a5c")


@pytest.mark.parametrize(
    ("name", "revision", "dirty", "executable"),
    [
        ("d467f5de833e+_worldserver.exe_[23-12_12-17-33].dmp", "d467f5de833e", True, "worldserver.exe"),
        ("e9bcae1fada6_worldserver.exe_[15-12_17-37-37].dmp", "e9bcae1fada6", False, "worldserver.exe"),
        (
            "084da48ba15a._Piratecraft_worldserver.exe_.2-6_23-56-31.dmp",
            "084da48ba15a",
            True,
            "Piratecraft_worldserver.exe",
        ),
        ("unknown_worldserver.exe_[5-2_22-16-13].dmp", None, False, "worldserver.exe"),
        (
            r"Loading Dump File [C:\x\7d14957a32df+_worldserver.exe_[2025_10_31_11_14_33].dmp]",
            "7d14957a32df",
            True,
            "worldserver.exe",
        ),
        ("crash.dmp", None, False, None),
    ],
)
def test_build_from_dump_name_forms(
    name: str, revision: str | None, dirty: bool, executable: str | None
) -> None:
    build = build_from_dump_name(name)
    assert (build.revision, build.dirty, build.executable) == (revision, dirty, executable)


@pytest.mark.parametrize("text", ["", "nothing to see here", "0:000> g\nquit:"])
def test_parse_text_without_cdb_parts_raises_one_line_error(text: str) -> None:
    with pytest.raises(CrashParseError) as info:
        cdb.parse(clean_lines(text))
    assert "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=40))
def test_parse_arbitrary_lines_raises_only_crash_parse_error(lines: list[str]) -> None:
    assert_reads_or_refuses(cdb, lines)


REAL_REPORTS = [SAMPLES / name for name in CDB_SAMPLES] + sorted(OWN.glob("*.txt"))


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(REAL_REPORTS),
    cut=st.integers(min_value=0, max_value=8_000),
    junk=st.text(max_size=30),
    at=st.integers(min_value=0, max_value=8_000),
)
def test_parse_truncated_or_mutated_real_report_raises_only_crash_parse_error(
    path: Path, cut: int, junk: str, at: int
) -> None:
    text = decode(path.read_bytes())[:cut]
    at = min(at, len(text))
    lines = clean_lines(text[:at] + junk + text[at:])
    assert_reads_or_refuses(cdb, lines)


HOSTILE_LINES = [
    "A" * 2_000_000,
    "STACK_TEXT" + "_" * 2_000_000,
    "00000061`a3efe790 00007ff7`1f6c2e4a : " + "a!b+0x" * 300_000,
    "00000061`a3efe790 00007ff7`1f6c2e4a " + "00000000 " * 200_000,
    "(" + "1" * 2_000_000 + ") code",
    "    Key  : " + " " * 2_000_000,
    "ExceptionAddress: " + "(" * 2_000_000,
    "m+0x" + "1" * 2_000_000,
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=lambda line: repr(line[:24]))
def test_parse_two_megabyte_single_line_finishes(line: str) -> None:
    """Catastrophic backtracking would hang here; the suite's timeout turns that into a failure."""
    lines = ["STACK_TEXT:", line, "KEY_VALUES_STRING: 1", line, "FAULTING_IP:", line]
    assert_reads_or_refuses(cdb, lines)


def test_parse_faulting_source_fills_the_faulting_frame_without_source() -> None:
    lines = [
        "FAULTING_IP: ",
        "worldserver!Unit::GetVictim+7",
        "00007ff7`1f3a1b27 488b4108        mov     rax,qword ptr [rcx+8]",
        "",
        "EXCEPTION_CODE_STR:  c0000005",
        "",
        "STACK_TEXT:  ",
        "00000061`a3efe790 00007ff7`1f6c2e4a     : 00000000`00000000 : worldserver!Unit::GetVictim+0x7",
        "00000061`a3efe7d0 00007ff7`1f3b0c11     : 00000000`00000000 : worldserver!Creature::Update+0x3b1",
        "",
        "FAULTING_SOURCE_FILE:  E:\\acore\\src\\server\\game\\Entities\\Unit\\Unit.h",
        "",
        "FAULTING_SOURCE_LINE_NUMBER:  1455",
    ]
    report = cdb.parse(lines)
    frames = report.threads[0].frames
    assert (frames[0].file, frames[0].line) == ("E:\\acore\\src\\server\\game\\Entities\\Unit\\Unit.h", 1455)
    assert frames[1].file is None
    assert report.exception is not None
    assert (report.exception.code, report.exception.module) == ("C0000005", "worldserver")


def test_parse_non_decimal_digits_in_source_line_are_text_not_a_traceback() -> None:
    """Regression: ``str.isdigit`` accepts ``²``, which ``int`` refuses, so ``[file @ 1²]`` or a
    ``FAULTING_SOURCE_LINE_NUMBER`` of ``²`` raised ValueError out of the parser."""
    lines = [
        "FAULTING_IP: ",
        "worldserver!Unit::GetVictim+7",
        "",
        "EXCEPTION_CODE_STR:  c0000005",
        "",
        "STACK_TEXT:  ",
        "00000061`a3efe790 00007ff7`1f6c2e4a     : 00000000`00000000 : worldserver!Unit::GetVictim+0x7 "
        "[E:\\acore\\Unit.h @ 1²]",
        "",
        "FAULTING_SOURCE_FILE:  E:\\acore\\Unit.h",
        "",
        "FAULTING_SOURCE_LINE_NUMBER:  ²",
    ]
    (frame,) = cdb.parse(lines).threads[0].frames
    assert frame.line is None
    assert frame.function is not None and frame.function.startswith("Unit::GetVictim")


def test_parse_stack_text_deeper_than_the_thread_limit_keeps_its_top_and_says_so() -> None:
    row = "00000061`a3efe790 00007ff7`1f6c2e4a     : 00000000`00000000 : worldserver!Recurse::Step+0x{:x}"
    lines = ["EXCEPTION_CODE_STR:  c0000005", "", "STACK_TEXT:  "]
    lines += [row.format(n) for n in range(MAX_THREAD_FRAMES + 5)]
    lines += ["", "FAILURE_BUCKET_ID:  NULL_CLASS_PTR_READ_c0000005_worldserver.exe!Recurse::Step"]
    report = cdb.parse(lines)
    assert len(report.threads[0].frames) == MAX_THREAD_FRAMES
    assert report.threads[0].frames[-1].offset == f"0x{MAX_THREAD_FRAMES - 1:x}"
    assert report.extra["FAILURE_BUCKET_ID"].endswith("Recurse::Step")  # fields after the stack still read
    assert any(note.startswith("truncated: 5 frame(s) past the limits") for note in report.notes)


# -- the call-site column alone (``kc``, tools built on dbgeng): cmangos/issues#2124

SPELL = r"d:\mangos compile\github\src\game\spells\spell.cpp"
CALL_SITES = [
    f"mangosd!Spell::CheckCast+0xf2d [{SPELL} @ 4860]",
    f"mangosd!Spell::PreCastCheck+0x1c [{SPELL} @ 2971]",
    "mangosd!Map::Update+0x61e",
]


def test_parse_call_site_sample_reads_frames_innermost_first_and_the_exception_summary() -> None:
    report = parse_file(SAMPLES / "cmangos-issue-2124.txt")
    (thread,) = report.threads
    assert len(thread.frames) == 9  # the tenth, cut inside the stored excerpt, is not in the sample
    first = thread.frames[0]
    assert (first.module, first.function, first.offset, first.line) == (
        "mangosd",
        "Spell::CheckCast",
        "0xf2d",
        4860,
    )
    assert (
        first.file == r"d:\mangos compile\github\targetingrework\mangos-tbc-master\src\game\spells\spell.cpp"
    )
    assert [f.function for f in thread.frames[3:6]] == ["Unit::CastSpell"] * 3
    assert (thread.frames[5].file or "").endswith("unit.h") and thread.frames[5].line == 1794
    assert thread.frames[-1].function == "Map::Update"
    assert report.exception is not None and report.exception.code == "C0000005"
    assert report.notes == ()


def test_parse_call_site_run_without_source_or_summary_is_a_stack_with_no_exception() -> None:
    report = cdb.parse(["kernel32!BaseThreadInitThunk+0x14", "ntdll!RtlUserThreadStart+0x21"])
    assert [(f.module, f.function, f.offset) for f in report.threads[0].frames] == [
        ("kernel32", "BaseThreadInitThunk", "0x14"),
        ("ntdll", "RtlUserThreadStart", "0x21"),
    ]
    assert report.exception is None


def test_parse_call_site_run_signs_as_the_same_crash_as_its_stack_text() -> None:
    """The call-site column is STACK_TEXT's last column: the same stack signs the same either way."""
    columned = [
        "STACK_TEXT:",
        *(f"00000061`a3efe790 00007ff7`1f6c2e4a : 00000000`00000000 : {site}" for site in CALL_SITES),
    ]
    bare = ["Exception #:  0XC0000005", "Stack:", *CALL_SITES]
    assert (
        analyse(cdb.parse(bare)).signature.text.split(" | ")[1:]
        == (analyse(cdb.parse(columned)).signature.text.split(" | ")[1:])
    )


@pytest.mark.parametrize(
    "lines",
    [
        ["The crash is in mangosd!Spell::CheckCast+0xf2d, see the log."],
        ["crash:", CALL_SITES[0], "and later", CALL_SITES[1]],  # two mentions, not a run
        [CALL_SITES[0]],  # one stray line is not a stack
        ["Exception #:  0XC0000005"],  # a summary without its stack is not cdb output
    ],
)
def test_prose_naming_a_call_site_is_not_a_stack(lines: list[str]) -> None:
    assert cdb.sniff(lines) < 25
    with pytest.raises(CrashParseError, match=r"^not a crash report crashbot recognises"):
        parse_report("\n".join(lines))


def test_parse_call_site_run_ending_inside_its_source_path_keeps_the_frame_with_a_note() -> None:
    report = cdb.parse([*CALL_SITES[:2], r"mangosd!Spell::SpellStart+0x1d9 [d:\mangos compile\git"])
    last = report.threads[0].frames[-1]
    assert (last.function, last.line) == ("Spell::SpellStart", None)
    assert report.notes == (
        "truncated: the text ends inside the last stack line: its source path is cut off",
    )


def test_parse_call_site_run_ending_inside_a_function_name_drops_that_line() -> None:
    report = cdb.parse([*CALL_SITES, "mangosd!Spell::Spel"])
    assert [f.function for f in report.threads[0].frames] == [
        "Spell::CheckCast",
        "Spell::PreCastCheck",
        "Map::Update",
    ]


def test_parse_call_site_cut_to_one_line_is_refused_in_one_line() -> None:
    with pytest.raises(CrashParseError) as info:
        cdb.parse(["DetailID = 1", "Stack:", CALL_SITES[0][:40]])
    assert "\n" not in str(info.value)


def test_parse_source_path_cut_on_a_line_that_is_not_the_last_is_not_a_frame() -> None:
    report = cdb.parse([CALL_SITES[0], "mangosd!Foo+0x1 [d:\\cut", CALL_SITES[1], CALL_SITES[2]])
    assert [f.function for f in report.threads[0].frames] == ["Spell::PreCastCheck", "Map::Update"]


def test_parse_call_site_runs_longer_than_the_thread_limit_keep_their_top_and_say_so() -> None:
    lines = [f"mangosd!Deep::Recurse+0x{n:x}" for n in range(MAX_THREAD_FRAMES + 5)]
    report = cdb.parse(lines)
    assert len(report.threads[0].frames) == MAX_THREAD_FRAMES
    assert report.threads[0].frames[0].offset == "0x0"
    assert any("5 frame(s) past the limits" in note for note in report.notes)


@pytest.mark.parametrize(
    "lines",
    [
        ["\x00\x01\x02\xff" * 1000, "m!\x00+0x1", "m!\x00+0x1"],
        ["m!" + "f" * 5_000_000 + "+0x1", "m!" + "[" * 5_000_000],
        ["m!" + "a [" * 1_000_000 + "+0x1 [p @ 1]", "m!a+0x1 [" + "x @ " * 1_000_000 + "]"],
        ["m!f+0x1 [" + "p" * 5_000_000],
        [f"mangosd!F{n}+0x1 [d:\\cut" for n in range(100_000)],
        ["Exception #:  " + "0X" * 2_000_000],
    ],
    ids=["binary", "5MB-name", "5MB-brackets", "5MB-cut-source", "100k-cut-lines", "5MB-summary"],
)
def test_call_site_hostile_input_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(cdb, lines)
