"""vMaNGOS's own crash log (the real samples' truth is in tests/fixtures/samples/truth.json)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.parsers import vmangos
from tests.crash.contract import assert_reads_or_refuses

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
ASSERT = "2019-07-02 19:36:14 /src/game/Objects/Object.cpp:1989: Error: Assertion in GetMap failed: m_currMap"


def test_vmangos_linux_frames_are_demangled_with_module_and_offset() -> None:
    report = vmangos.parse([ASSERT, "2019-07-02 19:36:14 ./mangosd(_ZN4Unit6UpdateEjj+0x49a) [0x97e7ca]"])
    (frame,) = report.threads[0].frames
    assert (frame.function, frame.module, frame.offset, frame.address) == (
        "Unit::Update",
        "mangosd",
        "0x49a",
        "0x97e7ca",
    )
    assert report.environment.crashed_at == "2019-07-02 19:36:14"


def test_vmangos_assertion_is_the_crash_kind_and_its_condition_signs() -> None:
    crash = analyse(vmangos.parse([ASSERT, "./mangosd(_ZN4Unit6UpdateEjj+0x49a) [0x97e7ca]"]))
    assert crash.report.assertion is not None
    assert (crash.report.assertion.function, crash.report.assertion.line) == ("GetMap", 1989)
    assert crash.signature.text == "ASSERT(m_currMap) | Unit::Update"


def test_vmangos_assertion_without_backtrace_is_read_with_a_note() -> None:
    report = vmangos.parse([ASSERT, "2019-07-02 19:36:15 error loading dbghelp.dll"])
    assert report.threads == ()
    assert report.notes == ("no backtrace after the assertion line (vMaNGOS prints one only when it can)",)


def test_vmangos_log_without_assertion_is_refused_with_one_line() -> None:
    with pytest.raises(CrashParseError, match="no vMaNGOS assertion line"):
        vmangos.parse(["./mangosd(_ZN4Unit6UpdateEjj+0x49a) [0x97e7ca]"])


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [ASSERT],
        [ASSERT, "(" * 5000 + " [0x1]"],
        [ASSERT, "a" * 100_000 + "(+0x1) [0x2]"],
        ["x:1: Error: Assertion in " + "f" * 10_000 + " failed: " + "c" * 10_000],
    ],
)
def test_vmangos_hostile_input_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(vmangos, lines)


_VMANGOS_WORDS = st.sampled_from(
    [
        ASSERT,
        "2019-07-02 19:36:14 ",
        "./mangosd(",
        "_ZN4Unit6UpdateEjj",
        "+0x49a",
        ") ",
        "[0x97e7ca]",
        "(",
        "+",
        "CATCH Exception 'ASSERT'",
        "",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_VMANGOS_WORDS, max_size=6).map("".join), max_size=30))
def test_vmangos_word_soup_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(vmangos, lines)


# -- the backtrace without the assertion line (vmangos/core#153: Windows, #98: glibc)

ERROR = "[Crash/Auras] Deleting aura 6219 in use (Pet (Petnumber: 3261 Guid: 11))"
WINDOWS = [
    "Unit::CleanupsBeforeDelete()+0xee [0x90bfe]",
    "Map::AddObjectToRemoveList()+0x55 [0x121a25]",
    "WorldObject::AddObjectToRemoveList()+0x1f [0x55c8f]",
]
GLIBC = [
    "./mangosd(_ZN3Map14RemoveOldBonesEj+0xd0) [0x813850]",
    "./mangosd(_ZN3Map6UpdateEj+0x2d3) [0x817653]",
    "/usr/lib64/libpthread.so.0(+0x7dd5) [0x7f718f8aadd5]",
]


def test_vmangos_windows_backtrace_under_an_error_line_is_a_report_keeping_that_line() -> None:
    report = vmangos.parse([ERROR, *WINDOWS])
    assert [(f.function, f.offset, f.address) for f in report.threads[0].frames] == [
        ("Unit::CleanupsBeforeDelete", "0xee", "0x90bfe"),
        ("Map::AddObjectToRemoveList", "0x55", "0x121a25"),
        ("WorldObject::AddObjectToRemoveList", "0x1f", "0x55c8f"),
    ]
    assert report.exception is None and report.assertion is None
    assert report.extra["last_output"] == ERROR
    assert report.notes == (f"logged before the backtrace: {ERROR}",)
    assert analyse(report).signature.text.startswith("UNKNOWN | Unit::CleanupsBeforeDelete | ")


def test_vmangos_windows_backtrace_alone_has_no_message() -> None:
    report = vmangos.parse(WINDOWS)
    assert len(report.threads[0].frames) == 3 and report.notes == () and "last_output" not in report.extra


@pytest.mark.parametrize(
    ("signal_line", "code"),
    [
        ("Received SIGSEGV", "SIGSEGV"),
        ("2019-01-04 10:11:12 Received SIGSEGV", "SIGSEGV"),
        ("Signal 11", "SIGSEGV"),
        ("Error: signal 6:", "SIGABRT"),
        ("SIGFPE", "SIGFPE"),
        ("Segmentation fault", "SIGSEGV"),
    ],
)
def test_vmangos_glibc_backtrace_under_a_signal_line_takes_its_exception(signal_line: str, code: str) -> None:
    report = vmangos.parse([signal_line, *GLIBC])
    assert report.exception is not None and report.exception.code == code
    assert [(f.function, f.module) for f in report.threads[0].frames] == [
        ("Map::RemoveOldBones", "mangosd"),
        ("Map::Update", "mangosd"),
        (None, "libpthread.so.0"),
    ]


def test_vmangos_glibc_backtrace_alone_takes_the_shell_s_line_after_it() -> None:
    report = vmangos.parse([*GLIBC, "", "Segmentation fault (core dumped)"])
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("SIGSEGV", "Segmentation fault")


def test_vmangos_glibc_backtrace_under_another_line_is_not_vmangos_s() -> None:
    """Under a console assertion or any log line, a glibc block is the tail of what another parser reads."""
    lines = ["/src/server/game/Movement/Spline/MoveSpline.cpp:253 in _updateState ASSERTION FAILED:", *GLIBC]
    assert vmangos.sniff(lines) == 0
    with pytest.raises(CrashParseError, match="no backtrace of two or more named frames"):
        vmangos.parse(lines)


@pytest.mark.parametrize(
    "lines",
    [
        ["The crash is at Unit::CleanupsBeforeDelete()+0xee [0x90bfe] I think"],
        [ERROR, WINDOWS[0]],  # one line is a mention
        [ERROR, WINDOWS[0], "see above", WINDOWS[1]],
        ["Received SIGSEGV", GLIBC[0]],
        ["[0x90bfe]", "[0x121a25]", "[0x55c8f]"],  # no name at all: nothing to read a crash from
    ],
)
def test_vmangos_a_stray_frame_line_is_not_a_backtrace(lines: list[str]) -> None:
    assert vmangos.sniff(lines) < 25
    with pytest.raises(CrashParseError, match=r"^not a crash report crashbot recognises"):
        parse_report("\n".join(lines))


UNDER_ERROR = [ERROR, *WINDOWS[:2]]
UNDER_SIGNAL = ["Received SIGSEGV", *GLIBC[:2]]


@pytest.mark.parametrize(
    ("above", "last"),
    [
        (UNDER_ERROR, "Pet::Unsummon()+0x329 [0x1428"),
        (UNDER_ERROR, "Pet::Unsummon()+0x329 ["),
        (UNDER_ERROR, "Pet::Unsummon()+0x329"),
        (UNDER_SIGNAL, "./mangosd(_ZN3Pet8UnsummonEv+0x3"),
        (UNDER_SIGNAL, "./mangosd(_ZN3Pet8UnsummonEv"),
    ],
)
def test_vmangos_backtrace_cut_inside_its_last_line_keeps_that_function_with_a_note(
    above: list[str], last: str
) -> None:
    report = vmangos.parse([*above, last])
    assert report.threads[0].frames[-1].function == "Pet::Unsummon"
    assert report.threads[0].frames[-1].address is None
    assert "truncated: the text ends inside the last backtrace line; its function is kept" in report.notes


@pytest.mark.parametrize("last", ["Pet::Unsu", "./mangosd(_ZN3Pet8Uns", "[0x14"])
def test_vmangos_backtrace_cut_inside_a_name_drops_that_line(last: str) -> None:
    report = vmangos.parse([ERROR, *WINDOWS[:2], last])
    assert [f.function for f in report.threads[0].frames] == [
        "Unit::CleanupsBeforeDelete",
        "Map::AddObjectToRemoveList",
    ]
    assert not any(note.startswith("truncated") for note in report.notes)


def test_vmangos_the_real_cut_excerpts_read() -> None:
    """The held-out samples cut after each line: two named frames read, fewer are refused."""
    for name in ("vmangos-issue-153.txt", "vmangos-issue-98.txt"):
        lines = (SAMPLES / name).read_text(encoding="utf-8").splitlines()
        for end in range(len(lines) + 1):
            assert_reads_or_refuses(vmangos, lines[:end])
        assert len(vmangos.parse(lines[:3]).threads[0].frames) == 2


def test_vmangos_backtrace_longer_than_the_thread_limit_keeps_its_top_and_says_so() -> None:
    lines = [f"Deep::Recurse()+0x{n:x} [0x{n:x}]" for n in range(MAX_THREAD_FRAMES + 5)]
    report = vmangos.parse(lines)
    assert len(report.threads[0].frames) == MAX_THREAD_FRAMES
    assert any("5 frame(s) past the limits" in note for note in report.notes)


@pytest.mark.parametrize(
    "lines",
    [
        ["\x00\x01\xfe\xff" * 2000, "\x00()+0x1 [0x1]", "\x00()+0x1 [0x1]"],
        ["f" * 5_000_000 + "+0x1 [0x2]", "g+0x1 [0x2]"],
        ["Received SIGSEGV", "./m(" + "_Z" * 2_500_000 + "+0x1) [0x2]", "./m(x+0x1) [0x2]"],
        [ERROR, WINDOWS[0], "a [" * 1_000_000 + "+0x1"],
        [f"F{n}()+0x1 [0x{n:x}]" for n in range(100_000)],
        ["Received SIGSEGV" if n % 2 else "./m(+0x1) [0x2]" for n in range(100_000)],
    ],
    ids=["binary", "5MB-name", "5MB-mangled", "5MB-cut", "100k-frames", "100k-alternating"],
)
def test_vmangos_backtrace_hostile_input_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(vmangos, lines)


@pytest.mark.parametrize(
    ("line", "file", "function", "condition"),
    [
        (
            "/core/Object.cpp:2242: Error: Assertion in GetMap failed: m_currMap",
            "/core/Object.cpp",
            "GetMap",
            "m_currMap",
        ),
        (
            "  C:\\My Server\\x.cpp:7: Error:  Assertion in Foo::Bar failed:   a && b  ",
            "C:\\My Server\\x.cpp",
            "Foo::Bar",
            "a && b",
        ),
        ("a.cpp:1: Error: Assertion in f failed:", "a.cpp", "f", None),
        # the file runs to the first anchor it can end before; a one-character file only when none
        (
            "a:3: Error: Assertion in 12:3: Error: Assertion in g failed: c",
            "a:3: Error: Assertion in 12",
            "g",
            "c",
        ),
        ("a:3: Error: Assertion in g failed: c", "a", "g", "c"),
    ],
)
def test_assertion_line_is_split_into_file_function_and_condition(
    line: str, file: str, function: str, condition: str | None
) -> None:
    report = vmangos.parse([line])
    assert report.assertion is not None
    assert (report.assertion.file, report.assertion.function, report.assertion.condition) == (
        file,
        function,
        condition,
    )


@pytest.mark.timeout(30)
def test_lines_of_assertion_anchors_without_failed_are_read_in_linear_time() -> None:
    """Regression: one pattern for the whole line, with a lazy file and a lazy function, rescanned the line
    from every start and every ``:N: Error: Assertion in`` anchor when no `` failed:`` followed: 3 s for
    one 4 KB line of anchors, and sniffing reads 2,000 lines."""
    lines = ["a:1: Error: Assertion in " * 150] * 200
    assert vmangos.sniff(lines) == 0
    with pytest.raises(CrashParseError):
        vmangos.parse(lines)
