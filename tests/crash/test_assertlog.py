"""Specification of the console-assert parser: the assert, what killed the process, any backtrace after it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash.errors import CrashParseError
from bot.crash.model import Format, Frame
from bot.crash.parsers import assertlog, gdb
from bot.crash.text import clean_lines, decode
from tests.crash.contract import assert_reads_or_refuses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = FIXTURES / "samples"
ASSERTS = FIXTURES / "crash" / "assert"


def _read(path: Path) -> list[str]:
    return clean_lines(decode(path.read_bytes()))


CASES: list[tuple[Path, str | None, str | None, int, str | None, int]] = [
    # path, exception code, assertion function, assertion line, condition, frame count
    (SAMPLES / "tc-issue-15704.txt", "SIGSEGV", "_updateState", 253, "minimal_diff >= 0", 0),
    (ASSERTS / "ac-linux-box-assert.txt", "SIGSEGV", "Spell::_cast", 3741, "m_caster", 0),
    (ASSERTS / "ac-linux-box-abort.txt", None, "FreezeDetector::Handler", 581, None, 0),
    (ASSERTS / "tc-ace-era-windows.txt", None, "MySQLConnection::Execute", 198, "m_mStmt", 9),
    (
        ASSERTS / "tc-linux-glibc-backtrace.txt",
        "SIGSEGV",
        "RemoveSpell",
        4312,
        "itr->second->state != PLAYERSPELL_REMOVED",
        5,
    ),
    (ASSERTS / "tc-windows-console.txt", "C0000420", "WorldObject::GetMap", 399, "m_currMap", 0),
]


@pytest.mark.parametrize(
    ("path", "code", "function", "line", "condition", "frame_count"), CASES, ids=[c[0].name for c in CASES]
)
def test_parse_console_asserts_read_assertion_exception_and_frames(
    path: Path, code: str | None, function: str, line: int, condition: str | None, frame_count: int
) -> None:
    report = assertlog.parse(_read(path))
    assert report.format is Format.ASSERT_LOG
    assert report.assertion is not None
    assert (report.assertion.function, report.assertion.line, report.assertion.condition) == (
        function,
        line,
        condition,
    )
    assert (report.exception.code if report.exception else None) == code
    frames = report.threads[0].frames if report.threads else ()
    assert len(frames) == frame_count
    if frames:
        assert report.crashing_thread == 0
        assert report.threads[0].current
    else:
        assert report.crashing_thread is None


@pytest.mark.parametrize("path", [c[0] for c in CASES], ids=[c[0].name for c in CASES])
def test_sniff_console_asserts_recognised_and_beat_gdb(path: Path) -> None:
    lines = _read(path)
    assert assertlog.sniff(lines) >= 60
    assert assertlog.sniff(lines) > gdb.sniff(lines)


def test_parse_ace_backtrace_frames_split_symbol_offset_address() -> None:
    frames = assertlog.parse(_read(ASSERTS / "tc-ace-era-windows.txt")).threads[0].frames
    assert frames[0] == Frame(address="0x333208", raw="[0x333208]")
    assert frames[3] == Frame(
        function="ACE_Thread_Adapter::invoke",
        offset="0x83",
        address="0x0",
        raw="ACE_Thread_Adapter::invoke()+0x83 [0x0]",
    )
    assert frames[6].function == "BaseThreadInitThunk"  # ``BaseThreadInitThunk(() +0x12`` as posted
    assert frames[7].function == "RtlInitializeExceptionChain"


def test_analyse_ace_era_assert_whose_stack_is_only_thread_glue_tops_at_the_assertion() -> None:
    """ACE's thread adapter and the CRT's endthreadex start every thread; they are never the crash.
    With nothing else symbolised, the assertion's location is the top frame and the signature."""
    from bot.crash import analyse, parse_report

    crash = analyse(parse_report((ASSERTS / "tc-ace-era-windows.txt").read_bytes()))
    assert crash.top_frame is not None
    assert (crash.top_frame.function, crash.top_frame.line) == ("MySQLConnection::Execute", 198)
    assert crash.signature.text == "ASSERT(m_mStmt) | MySQLConnection::Execute"


def test_parse_glibc_backtrace_symbols_frames() -> None:
    frames = assertlog.parse(_read(ASSERTS / "tc-linux-glibc-backtrace.txt")).threads[0].frames
    assert (frames[0].function, frames[0].module, frames[0].offset, frames[0].address) == (
        "Player::RemoveSpell",
        "worldserver",
        "0x5a1",
        "0x8a1b2c",
    )
    # backtrace_symbols prints mangled names: each is demangled to the name a debugger would show
    assert [f.function for f in frames[:3]] == [
        "Player::RemoveSpell",
        "Player::learnSkillRewardedSpells",
        "WorldSession::HandleOpcode",
    ]
    assert (frames[3].function, frames[3].module, frames[3].offset) == (None, "libpthread.so.0", "0x7e9a")


def test_parse_reads_build_line_printed_before_the_assert() -> None:
    report = assertlog.parse(_read(ASSERTS / "tc-windows-console.txt"))
    assert (report.build.product, report.build.revision, report.build.branch) == (
        "TrinityCore",
        "73b68bea937d",
        "3.3.5",
    )
    assert report.build.platform == "Win64"
    assert report.exception is not None
    assert report.exception.name == "Assertion Failure"


def test_parse_caught_signal_six_is_sigabrt() -> None:
    report = assertlog.parse(clean_lines("World initialized\nCaught signal 6\nAborted (core dumped)\n"))
    assert report.assertion is not None
    assert report.assertion.message == "Caught signal 6"
    assert report.exception is not None
    assert report.exception.code == "SIGABRT"


def test_parse_log_prefixed_assert_with_aborted_shell_line() -> None:
    text = (
        "2024-01-01 12:00:00 Map 571 loaded\n"
        "2024-01-01 12:00:01 /src/server/game/Maps/Map.cpp:100 in Map::AddToMap ASSERTION FAILED:\n"
        "2024-01-01 12:00:01   obj->GetMap() == this\n"
        "./worldserver: line 3: 4321 Aborted (core dumped) ./worldserver\n"
    )
    report = assertlog.parse(clean_lines(text))
    assert report.assertion is not None
    assert report.assertion.condition == "obj->GetMap() == this"
    assert report.exception is not None
    assert report.exception.code == "SIGABRT"


def test_parse_text_without_assertion_raises_one_line_error() -> None:
    with pytest.raises(CrashParseError) as info:
        assertlog.parse(clean_lines("Segmentation fault\n"))
    assert "\n" not in str(info.value)
    assert "ASSERTION FAILED" in str(info.value)


def test_sniff_wheaty_report_with_assert_scores_low() -> None:
    assert assertlog.sniff(_read(SAMPLES / "ac-issue-13275.txt")) < 25
    assert assertlog.sniff(_read(SAMPLES / "tcbots-issue-57.txt")) < 25


def test_sniff_gdb_log_with_printed_assert_prefers_gdb() -> None:
    lines = _read(FIXTURES / "crash" / "gdb" / "tc-crashreport-assert-thread4.log")
    assert gdb.sniff(lines) > assertlog.sniff(lines)


def test_sniff_assert_at_end_of_long_console_log_found() -> None:
    lines = [f"2024-01-01 12:00:00 line {i}" for i in range(5000)]
    lines += ["/src/a.cpp:1 in f ASSERTION FAILED:", "  x", "Segmentation fault"]
    assert assertlog.sniff(lines) >= 70
    assert assertlog.parse(lines).exception is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=30))
def test_parse_arbitrary_text_raises_only_crash_parse_error(lines: list[str]) -> None:
    assert_reads_or_refuses(assertlog, lines)


_WORDS = st.sampled_from(
    [
        "/src/a.cpp:",
        "12",
        " in ",
        "Foo::Bar",
        " ASSERTION FAILED:",
        "\n",
        "  cond",
        "[0x22afa]",
        "+0x83 [0x0]",
        "f()",
        "(",
        ")",
        "Segmentation fault",
        "Caught signal 6",
        "# Location '",
        "'",
        "#----#",
        "0xC0000420",
        "./worldserver(_Z1fv+0x1) [0x1]",
        " ",
        "2024-01-01 12:00:00 ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=80))
def test_parse_assert_shaped_noise_raises_only_crash_parse_error(parts: list[str]) -> None:
    lines = clean_lines("".join(parts))
    assert 0 <= assertlog.sniff(lines) <= 100
    with contextlib.suppress(CrashParseError):
        report = assertlog.parse(lines)
        assert report.assertion is not None


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(ASSERTS.glob("*.txt"))), st.integers(min_value=0), st.text(max_size=4))
def test_parse_truncated_fixtures_raise_only_crash_parse_error(path: Path, cut: int, junk: str) -> None:
    text = decode(path.read_bytes())
    lines = clean_lines(text[: cut % (len(text) + 1)] + junk)
    assert_reads_or_refuses(assertlog, lines)


def test_parse_huge_single_line_finishes() -> None:
    line = "(" * 2_000_000 + "+0x1 [0x0]"
    assert assertlog.sniff([line]) == 0
    with pytest.raises(CrashParseError):
        assertlog.parse([line])


@pytest.mark.parametrize(
    ("line", "function"),
    [
        ("ACE_Thread_Adapter::invoke()+0x83 [0x0]", "ACE_Thread_Adapter::invoke"),
        ("  BaseThreadInitThunk(() +0x12 [0x0]", "BaseThreadInitThunk"),
        ("Foo::Bar ( ( ) + 0x1 [0x2]", "Foo::Bar"),
        ("a+b+0x1 [0x2]", "a+b"),
        (") +0x1 [0x2]", None),
    ],
)
def test_parse_ace_symbol_keeps_the_name_before_its_stray_parens(line: str, function: str | None) -> None:
    frame = assertlog._frame(line)
    assert frame is not None and frame.function == function


@pytest.mark.parametrize("line", ["(a +0x1 [0x2]", "a[1] +0x1 [0x2]", "a +0x1 [0x2] x", "a 0x1 [0x2]"])
def test_parse_ace_line_without_a_symbol_is_no_frame(line: str) -> None:
    assert assertlog._frame(line) is None


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "frame", ["a" + " " * 4000 + "b +0x1 [0x1]", "a" + " (" * 2000 + " + 0x1 [0x1]"], ids=["spaces", "parens"]
)
def test_parse_ace_lines_full_of_spaces_or_parens_are_read_in_one_pass(frame: str) -> None:
    """Regression: a lazy symbol followed by ``[\\s(]*\\)?\\s*`` rescanned the spaces and parens after each
    of the symbol's characters (0.5 s for a 4 KB line of `` (``), and the pattern stripping them off the
    symbol afterwards was cubic (97 s for 4,000 spaces); 400 such lines follow an assertion."""
    lines = ["/src/a.cpp:1 in F ASSERTION FAILED:", "  x", *[frame] * 400]
    frames = assertlog.parse(lines).threads[0].frames
    assert len(frames) == 400
    assert frames[0].function == frame.partition("+")[0].strip(" (")
