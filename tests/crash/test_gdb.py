"""Specification of the gdb log parser: real samples, realistic session fixtures, every frame-shape trap."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_THREAD_FRAMES
from bot.crash.model import Build, CrashReport, Format, Frame
from bot.crash.parsers import gdb
from bot.crash.text import clean_lines, decode
from tests.crash.contract import assert_reads_or_refuses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = FIXTURES / "samples"
GDB = FIXTURES / "crash" / "gdb"


def _read(path: Path) -> list[str]:
    return clean_lines(decode(path.read_bytes()))


def _parse_text(text: str) -> CrashReport:
    return gdb.parse(clean_lines(text))


def _frame(line: str) -> Frame:
    """The single frame a one-line ``bt`` yields."""
    report = _parse_text(line)
    assert len(report.threads) == 1
    assert len(report.threads[0].frames) == 1
    return report.threads[0].frames[0]


@dataclass(frozen=True)
class Case:
    path: Path
    exception: str | None
    thread_id: str | None
    thread_count: int
    top: tuple[
        str | None, str | None, int | None
    ]  # function, file basename, line of the first symbolised frame
    frame_count: int
    assertion_line: int | None = None


CASES = [
    Case(
        SAMPLES / "ac-issue-2216.txt",
        "SIGSEGV",
        "LWP 22763",
        1,
        ("std::basic_string<char, std::char_traits<char>, std::allocator<char> >::~basic_string", None, None),
        2,
    ),
    Case(
        SAMPLES / "mod-playerbots-issue-2618.txt",
        "SIGSEGV",
        "10",
        1,
        ("Object::GetGuidValue", "Object.cpp", 329),
        4,
    ),
    Case(
        SAMPLES / "mod-playerbots-issue-2618-part2.txt",
        None,
        None,
        1,
        ("PlayerbotsMgr::GetPlayerbotAI", "PlayerbotMgr.cpp", 1797),
        4,
    ),
    Case(
        GDB / "tc-crashreport-assert-thread4.log",
        "SIGSEGV",
        "4",
        6,
        ("Trinity::Assert", "Errors.cpp", 99),
        16,
        assertion_line=10412,
    ),
    Case(
        GDB / "ac-gdbconf-timestamps.log",
        "SIGSEGV",
        "3",
        4,
        ("Acore::Assert", "Errors.cpp", 108),
        10,
        assertion_line=319,
    ),
    Case(
        GDB / "core-file-session.txt",
        "SIGABRT",
        "1",
        2,
        ("__pthread_kill_implementation", "pthread_kill.c", 44),
        16,
    ),
    Case(
        GDB / "interactive-wrapped.txt",
        "SIGSEGV",
        "10",
        1,
        ("DBCStorage<MapEntry>::LookupEntry", "DBCStore.h", 69),
        11,
    ),
    Case(
        GDB / "restarter-crashlog.txt",
        "SIGSEGV",
        "3",
        3,
        ("WorldSession::HandleAddIgnoreOpcode", "MiscHandler.cpp", 711),
        8,
    ),
    Case(GDB / "markdown-damaged-bt.txt", "SIGSEGV", "7", 1, ("Unit::GetVictim", "Unit.h", 1250), 5),
]


def _basename(path: str | None) -> str | None:
    return path.replace("\\", "/").rsplit("/", 1)[-1] if path else None


@pytest.mark.parametrize("case", CASES, ids=[c.path.name for c in CASES])
def test_parse_real_and_fixture_logs_read_crashing_thread(case: Case) -> None:
    report = gdb.parse(_read(case.path))
    assert report.format is Format.GDB
    assert (report.exception.code if report.exception else None) == case.exception
    assert len(report.threads) == case.thread_count
    assert report.crashing_thread is not None
    crashing = report.threads[report.crashing_thread]
    assert crashing.current
    assert sum(t.current for t in report.threads) == 1
    assert crashing.id == case.thread_id
    assert len(crashing.frames) == case.frame_count
    top = next(f for f in crashing.frames if f.function)
    assert (top.function, _basename(top.file), top.line) == case.top
    assert (report.assertion.line if report.assertion else None) == case.assertion_line


@pytest.mark.parametrize("case", CASES, ids=[c.path.name for c in CASES])
def test_sniff_real_and_fixture_logs_recognised(case: Case) -> None:
    assert gdb.sniff(_read(case.path)) >= 70


def test_parse_crashreport_gdb_keeps_one_thread_per_gdb_thread() -> None:
    """The crashing thread is printed by ``backtrace full`` and again by ``thread apply all``: one Thread."""
    report = gdb.parse(_read(GDB / "tc-crashreport-assert-thread4.log"))
    assert [t.id for t in report.threads] == ["4", "6", "5", "3", "2", "1"]
    assert [t.name for t in report.threads] == [
        "MapUpdater",
        "DBWorker",
        "MapUpdater",
        "worldserver",
        "worldserver",
        "worldserver",
    ]
    assert report.threads[0].frames[1].function == "Unit::SetMinion"
    assert report.exception is not None
    assert report.exception.name == "Segmentation fault"


def test_parse_crashreport_gdb_reads_assert_and_build() -> None:
    report = gdb.parse(_read(GDB / "tc-crashreport-assert-thread4.log"))
    assert report.assertion is not None
    assert report.assertion.function == "SetMinion"
    assert report.assertion.condition == "!minion->IsInWorld()"
    assert report.assertion.message == "Minion 123 of Player Sevrin (GUID 42)"
    assert report.build == Build(
        revision="2c3d3c31b22c",
        dirty=True,
        product="TrinityCore",
        branch="3.3.5",
        platform="Unix",
        configuration="RelWithDebInfo",
        date="2020-08-29 20:46:00 +0300",
        raw="TrinityCore rev. 2c3d3c31b22c+ 2020-08-29 20:46:00 +0300 (3.3.5 branch) (Unix, RelWithDebInfo, Static)"
        " (worldserver-daemon)",
    )


def test_parse_ac_gdbconf_strips_debug_timestamps_and_reads_box_assert() -> None:
    report = gdb.parse(_read(GDB / "ac-gdbconf-timestamps.log"))
    assert report.assertion is not None
    assert report.assertion.function == "GetFloatValue"
    assert report.assertion.message is not None and report.assertion.message.endswith("Name: Anaprox")
    assert report.build.product == "AzerothCore"
    assert report.build.revision == "0d0d005a2e70"
    names = {t.id: t.name for t in report.threads}
    assert names == {"3": "MapUpdater", "4": "DBWorker", "2": "worldserver", "1": "worldserver"}


def test_parse_core_file_current_thread_from_current_thread_line() -> None:
    report = gdb.parse(_read(GDB / "core-file-session.txt"))
    assert report.build.executable == "worldserver"
    crashing = report.threads[report.crashing_thread or 0]
    assert crashing.id == "1"
    functions = [f.function for f in crashing.frames]
    assert functions[7] == "std::terminate"
    assert crashing.frames[7].module == "libstdc++.so.6"
    assert functions[12] == "LootTemplate::Process"
    user_selected = next(t for t in report.threads if t.id == "3")
    assert not user_selected.current
    assert len(user_selected.frames) == 3


def test_parse_restarter_reads_crash_date_and_maps_lwp_to_thread_number() -> None:
    report = gdb.parse(_read(GDB / "restarter-crashlog.txt"))
    assert report.environment.crashed_at == "Mi 14. Aug 20:11:27 CEST 2019"
    assert report.exception is not None
    assert report.exception.address == "0x1440d59"
    assert [t.id for t in report.threads] == ["3", "2", "1"]


def test_parse_russian_restarter_sample_reads_localised_date() -> None:
    report = gdb.parse(_read(SAMPLES / "ac-issue-2216.txt"))
    assert report.environment.crashed_at == "Ср авг 14 20:11:27 MSK 2019"
    frames = report.threads[0].frames
    assert frames[0].module == "libstdc++.so.6"
    assert frames[1].function == "WorldSession::HandleAddIgnoreOpcode"
    assert (_basename(frames[1].file), frames[1].line) == ("MiscHandler.cpp", 711)


def test_parse_playerbots_sample_marks_inlined_frame_and_keeps_this_entry_args_out() -> None:
    frames = gdb.parse(_read(SAMPLES / "mod-playerbots-issue-2618.txt")).threads[0].frames
    assert frames[2].function == "PlayerbotsMgr::GetPlayerbotAI"
    assert frames[2].inline and frames[2].address is None
    assert not frames[0].inline


def test_parse_wrapped_frame_joins_continuation_line() -> None:
    frames = gdb.parse(_read(SAMPLES / "mod-playerbots-issue-2618-part2.txt")).threads[0].frames
    assert frames[2].function == "std::function<void(PlayerbotScript*)>::operator()"
    assert _basename(frames[2].file) == "std_function.h"
    assert frames[2].line == 591
    assert frames[3].function == "ExecuteScript<PlayerbotScript>"
    assert frames[3].inline


def test_parse_interactive_wrapped_frames_over_several_lines() -> None:
    frames = gdb.parse(_read(GDB / "interactive-wrapped.txt")).threads[0].frames
    by_number = {i: f for i, f in enumerate(frames)}
    assert by_number[3].function == "FleeManager::calculatePossibleDestinations"
    assert (_basename(by_number[4].file), by_number[4].line) == ("FleeManager.cpp", 151)
    assert by_number[5].function == "std::function<bool (Event)>::operator()"
    assert (
        by_number[6].function == "Engine::DoNextAction(Unit*, int, bool)::{lambda(ActionNode*)#2}::operator()"
    )
    assert by_number[7].function == "Engine::DoNextAction"
    assert by_number[8].function == "PlayerbotAI::UpdateAIInternal"
    assert by_number[9].function == "PlayerbotAI::TellMaster"
    assert by_number[10] == Frame(address="0x0000000000000000", raw="#10 0x0000000000000000 in ?? ()")


def test_parse_markdown_damage_lost_hashes_blank_lines_crlf_and_truncation() -> None:
    frames = gdb.parse(_read(GDB / "markdown-damaged-bt.txt")).threads[0].frames
    assert [f.function for f in frames] == [
        "Unit::GetVictim",
        "BossAI::UpdateAI",
        "Creature::Update",
        "Map::Update",
        "MapUpdater::WorkerThread",
    ]
    assert frames[-1].file == "/srv/ac/src/server/game/Maps/MapUpd"
    assert frames[-1].line is None


FRAME_SHAPES: list[tuple[str, str, Frame]] = [
    (
        "address_in_at",
        "#0  0x0000555556cdfe8a in Object::GetGuidValue (this=0x7ffff03d0400, index=0) at /src/Object.cpp:329",
        Frame(
            function="Object::GetGuidValue", file="/src/Object.cpp", line=329, address="0x0000555556cdfe8a"
        ),
    ),
    (
        "from_library_no_debuginfo_signature_dropped",
        "#1  0x00007ffff746ca0d in ACE_Condition<ACE_Thread_Mutex>::wait(ACE_Thread_Mutex&, ACE_Time_Value const*) "
        "() from /usr/lib/libACE-6.2.8.so",
        Frame(
            function="ACE_Condition<ACE_Thread_Mutex>::wait",
            module="libACE-6.2.8.so",
            address="0x00007ffff746ca0d",
        ),
    ),
    (
        "unknown_function",
        "#7  0x00007ffff7adc253 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6",
        Frame(module="libstdc++.so.6", address="0x00007ffff7adc253"),
    ),
    (
        "frame_zero_without_address_is_not_inline",
        "#0  pthread_cond_wait@@GLIBC_2.3.2 () at ../nptl/pthread_cond_wait.S:185",
        Frame(function="pthread_cond_wait", file="../nptl/pthread_cond_wait.S", line=185),
    ),
    (
        "const_member_signature",
        "#3  0x0000555556b8e4c2 in Map::GetCreature(ObjectGuid) const ()",
        Frame(function="Map::GetCreature", address="0x0000555556b8e4c2"),
    ),
    (
        "operator_call_without_debuginfo",
        "#3  0x0000555556b8e4c2 in Foo::operator()(int) const ()",
        Frame(function="Foo::operator()", address="0x0000555556b8e4c2"),
    ),
    (
        "operator_less_in_name",
        "#2  0x0000555556b8e4c2 in std::operator< <char> (lhs=..., rhs=...) at /usr/include/c++/11/bits/basic_string.h:6343",
        Frame(
            function="std::operator< <char>",
            file="/usr/include/c++/11/bits/basic_string.h",
            line=6343,
            address="0x0000555556b8e4c2",
        ),
    ),
    (
        "anonymous_namespace",
        "#4  0x0000555556b8e4c2 in (anonymous namespace)::Handler::Run (this=0x1) at /src/a.cpp:12",
        Frame(
            function="(anonymous namespace)::Handler::Run",
            file="/src/a.cpp",
            line=12,
            address="0x0000555556b8e4c2",
        ),
    ),
    (
        "string_args_with_parentheses_and_quotes",
        '#1  0x0000555556b8e4c2 in ChatHandler::SendSysMessage (this=0x1, str=0x2 "a) b (\\"c\\"", ch=40 \'(\') '
        "at /src/Chat.cpp:88",
        Frame(
            function="ChatHandler::SendSysMessage",
            file="/src/Chat.cpp",
            line=88,
            address="0x0000555556b8e4c2",
        ),
    ),
    (
        "symbol_annotation_in_args",
        "#2  PlayerbotsMgr::GetPlayerbotAI (this=this@entry=0x555557d8f970 <PlayerbotsMgr::instance()::instance>, "
        "player=player@entry=0x7ffff03d0400) at /src/PlayerbotMgr.cpp:1797",
        Frame(function="PlayerbotsMgr::GetPlayerbotAI", file="/src/PlayerbotMgr.cpp", line=1797, inline=True),
    ),
    (
        "windows_library_path",
        "#5  0x00007ffb1c2d1234 in ntdll!RtlUserThreadStart () from C:\\Windows\\SYSTEM32\\ntdll.dll",
        Frame(function="ntdll!RtlUserThreadStart", module="ntdll.dll", address="0x00007ffb1c2d1234"),
    ),
    (
        "collapsed_spaces",
        "#1 0x0000555556b8e4c2 in Map::Update (this=0x1, t_diff=50) at /src/Map.cpp:700",
        Frame(function="Map::Update", file="/src/Map.cpp", line=700, address="0x0000555556b8e4c2"),
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"), [c[1:] for c in FRAME_SHAPES], ids=[c[0] for c in FRAME_SHAPES]
)
def test_parse_frame_shapes_split_into_fields(line: str, expected: Frame) -> None:
    frame = _frame(line)
    assert frame.to_json() == expected.to_json()
    assert frame.raw == line


def test_parse_locals_are_never_frames() -> None:
    text = (
        "#0  0x0000000000000001 in A::f (this=0x1) at /a.cpp:1\n"
        "        x = <optimized out>\n"
        "        y = <error reading variable: Cannot access memory at address 0x18>\n"
        "        z = {first = 1, second = 2}\n"
        "No locals.\n"
        "No symbol table info available.\n"
        "#1  0x0000000000000002 in B::g (this=0x2) at /b.cpp:2\n"
        '        __FUNCTION__ = "g"\n'
    )
    frames = _parse_text(text).threads[0].frames
    assert [f.function for f in frames] == ["A::f", "B::g"]


def test_parse_wrapped_argument_list_stops_at_locals_when_truncated() -> None:
    text = (
        "#0  0x0000000000000001 in A::f (this=0x1, name=<error reading variable name (Ca\n"
        "        local = 5\n"
        "#1  0x0000000000000002 in B::g (this=0x2) at /b.cpp:2\n"
    )
    frames = _parse_text(text).threads[0].frames
    assert [f.function for f in frames] == ["A::f", "B::g"]
    assert frames[0].file is None


def test_parse_assertion_from_printed_trinity_message_value() -> None:
    text = (
        'Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.\n'
        "(gdb) print TrinityAssertionFailedMessage\n"
        '$1 = 0x55555a1b2c30 "\\n/src/game/Spells/Spell.cpp:3741 in Spell::_cast ASSERTION FAILED:\\n'
        '  m_caster\\nspell 133\\n"\n'
        "(gdb) bt\n"
        '#0  0x0000555555f2a1b3 in Trinity::Assert (file=0x1 "x") at /src/common/Debugging/Errors.cpp:99\n'
    )
    report = _parse_text(text)
    assert report.assertion is not None
    assert (report.assertion.function, report.assertion.line) == ("Spell::_cast", 3741)
    assert (report.assertion.condition, report.assertion.message) == ("m_caster", "spell 133")


def test_parse_assertion_from_printed_acore_box_with_repeats() -> None:
    text = (
        "(gdb) p AcoreAssertionFailedMessage\n"
        '$1 = 0x7fffc0001230 "#", \'-\' <repeats 70 times>, "#\\n \\n>> ASSERTION FAILED\\n\\n'
        "# Location '/ac/src/server/game/Maps/Map.cpp:1203'\\n# Function 'Map::RemovePlayerFromMap'\\n"
        "# Condition 'player'\\n \\n#\", '-' <repeats 70 times>, \"#\\n\"\n"
        "(gdb) bt\n"
        "#0  0x0000555555c81f3a in Acore::Assert (file=...) at /ac/src/common/Debugging/Errors.cpp:108\n"
    )
    assertion = _parse_text(text).assertion
    assert assertion is not None
    assert (assertion.function, assertion.line, assertion.condition) == (
        "Map::RemovePlayerFromMap",
        1203,
        "player",
    )


def test_parse_non_fatal_signal_does_not_hide_later_segfault() -> None:
    text = (
        "Program received signal SIGCONT, Continued.\n"
        "[Switching to Thread 0x7ffff47ff700 (LWP 9456)]\n"
        "pthread_cond_wait@@GLIBC_2.3.2 () at ../nptl/pthread_cond_wait.S:185\n"
        'Thread 3 "worldserver" received signal SIGSEGV, Segmentation fault.\n'
        "[Switching to Thread 0x7fffe8ff9700 (LWP 9460)]\n"
        "(gdb) bt\n"
        "#0  0x0000000000a1 in Unit::Kill (this=0x0) at /src/Unit.cpp:5\n"
        "#1  0x0000000000a2 in Spell::Cast (this=0x1) at /src/Spell.cpp:6\n"
    )
    report = _parse_text(text)
    assert report.exception is not None and report.exception.code == "SIGSEGV"
    crashing = report.threads[report.crashing_thread or 0]
    assert crashing.id == "3"
    assert crashing.frames[0].function == "Unit::Kill"


def test_parse_old_gdb_switch_before_signal_and_numeric_signal() -> None:
    text = (
        "[Switching to Thread 0x7fffe8ff9700 (LWP 9460)]\n"
        "Program terminated with signal 11, Segmentation fault.\n"
        "#0  0x0000000000a1 in Unit::Kill (this=0x0) at /src/Unit.cpp:5\n"
        "(gdb) info threads\n"
        "  2 Thread 0x7ffff7fd2740 (LWP 9449) 0x00007ffff5ed7c9d in nanosleep () from /lib/libc.so.6\n"
        "* 1 Thread 0x7fffe8ff9700 (LWP 9460) 0x0000000000a1 in Unit::Kill (this=0x0) at /src/Unit.cpp:5\n"
    )
    report = _parse_text(text)
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("SIGSEGV", "Segmentation fault")
    assert report.threads[report.crashing_thread or 0].id == "1"


def test_parse_info_threads_star_marks_current_without_signal() -> None:
    text = (
        "(gdb) info threads\n"
        "  Id   Target Id                                  Frame\n"
        '  1    Thread 0x7ffff7a8a740 (LWP 100) "worldserver" 0x1 in main () at /m.cpp:1\n'
        '* 2    Thread 0x7ffff6f2e700 (LWP 101) "MapUpdater" 0x2 in Map::Update () at /map.cpp:2\n'
        "(gdb) thread apply all bt\n"
        "\n"
        'Thread 2 (Thread 0x7ffff6f2e700 (LWP 101) "MapUpdater"):\n'
        "#0  0x0000000000000002 in Map::Update (this=0x1) at /map.cpp:2\n"
        "\n"
        'Thread 1 (Thread 0x7ffff7a8a740 (LWP 100) "worldserver"):\n'
        "#0  0x0000000000000001 in main () at /m.cpp:1\n"
    )
    report = _parse_text(text)
    assert report.exception is None
    assert [(t.id, t.current) for t in report.threads] == [("2", True), ("1", False)]
    assert report.crashing_thread == 0


def test_parse_bare_bt_matched_to_thread_apply_all_by_frames() -> None:
    text = (
        "BACKTRACE\n"
        "#0  0x00000000000000a1 in Unit::Kill (this=0x0) at /src/Unit.cpp:5\n"
        "#1  0x00000000000000a2 in Spell::Cast (this=0x1) at /src/Spell.cpp:6\n"
        "THREADS BACKTRACE\n"
        "Thread 2 (Thread 0x7ffff47ff700 (LWP 9456)):\n"
        "#0  0x00000000000000b1 in nanosleep () from /lib/libc.so.6\n"
        "Thread 1 (Thread 0x7fffe8ff9700 (LWP 9460)):\n"
        "#0  0x00000000000000a1 in Unit::Kill (this=0x0) at /src/Unit.cpp:5\n"
        "#1  0x00000000000000a2 in Spell::Cast (this=0x1) at /src/Spell.cpp:6\n"
    )
    report = _parse_text(text)
    assert [(t.id, t.current) for t in report.threads] == [("2", False), ("1", True)]


def test_parse_text_without_gdb_content_raises_one_line_error() -> None:
    with pytest.raises(CrashParseError) as info:
        _parse_text("hello\nthis is not a crash\n")
    assert "\n" not in str(info.value)
    assert "gdb" in str(info.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "TrinityCore rev. e9bcae1fada6 2018-12-09 16:07:38 +0100 (master branch) (Win64, RelWithDebInfo, Static)",
            Build(
                revision="e9bcae1fada6",
                product="TrinityCore",
                branch="master",
                platform="Win64",
                configuration="RelWithDebInfo",
                date="2018-12-09 16:07:38 +0100",
            ),
        ),
        (
            "TrinityCore rev. 9a9cd6e45ffa + 2016-01-29 12:00:00 +0100 (6.x branch) (Win64, Release)",
            Build(
                revision="9a9cd6e45ffa",
                dirty=True,
                product="TrinityCore",
                branch="6.x",
                platform="Win64",
                configuration="Release",
                date="2016-01-29 12:00:00 +0100",
            ),
        ),
        (
            "TrinityCore rev. unknown 1970-01-01 00:00:00 +0000 (Archived branch) (Unix, Debug)",
            Build(
                product="TrinityCore",
                branch="Archived",
                platform="Unix",
                configuration="Debug",
                date="1970-01-01 00:00:00 +0000",
            ),
        ),
        (
            "TrinityCore rev. 2012-08-04 13:09:11 +0300 (b16fe0bb0a32+) (Win32, Debug)",
            Build(
                revision="b16fe0bb0a32",
                dirty=True,
                product="TrinityCore",
                platform="Win32",
                configuration="Debug",
                date="2012-08-04 13:09:11 +0300",
            ),
        ),
        (
            "TrinityCore rev. 7d14957a32df+ 2025-10-30 09:00:00 +0100 (master branch) "
            "(Windows, AMD64, RelWithDebInfo, Static)",
            Build(
                revision="7d14957a32df",
                dirty=True,
                product="TrinityCore",
                branch="master",
                platform="Windows, AMD64",
                configuration="RelWithDebInfo",
                date="2025-10-30 09:00:00 +0100",
            ),
        ),
        (
            "SkyFire 5.x.x rev. 0123456789ab 2014-01-01 00:00:00 +0000 (main branch) (Win64, Release)",
            Build(
                revision="0123456789ab",
                product="SkyFire 5.x.x",
                branch="main",
                platform="Win64",
                configuration="Release",
                date="2014-01-01 00:00:00 +0000",
            ),
        ),
    ],
)
def test_parse_build_line_fields(line: str, expected: Build) -> None:
    build = gdb.parse_build_line(line)
    assert build is not None
    assert build == Build(**{**expected.__dict__, "raw": line})


def test_parse_build_line_without_revision_returns_none() -> None:
    assert gdb.parse_build_line("nothing rev. here") is None
    assert gdb.parse_build_line("plain text") is None


def test_sniff_other_formats_score_low() -> None:
    assert gdb.sniff(_read(SAMPLES / "ac-issue-13275.txt")) < 25
    assert gdb.sniff(_read(SAMPLES / "tc-issue-15704.txt")) < 25
    assert gdb.sniff([]) == 0


def test_parse_huge_single_lines_finish() -> None:
    for line in ("#0 " + "(" * 2_000_000, "#1  0x1 in " + "a<" * 1_000_000, "x" * 2_000_000):
        with contextlib.suppress(CrashParseError):
            gdb.parse([line])
        assert 0 <= gdb.sniff([line]) <= 100


_GDB_WORDS = st.sampled_from(
    [
        "#0  ",
        "#1 ",
        "0x0000555556cdfe8a in ",
        "Foo::Bar",
        " (",
        ")",
        "<",
        ">",
        "{",
        "}",
        '"',
        "'",
        " at ",
        "/src/a.cpp:",
        "12",
        " from /lib/libc.so.6",
        "\n",
        "    ",
        "Thread 3 (Thread 0x7f (LWP 5)):",
        'Thread 2 "w" received signal SIGSEGV, Segmentation fault.',
        "[Switching to Thread 0x7f (LWP 5)]",
        "[Current thread is 1 (Thread 0x7f (LWP 5))]",
        "* 1    Thread 0x7f (LWP 5) ",
        "operator",
        "()",
        '$1 = 0x1 "',
        "ASSERTION FAILED",
        "\\n",
        "--- DEBUG: BACKTRACE FULL",
        "(gdb) bt",
        "No locals.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_GDB_WORDS, max_size=120))
def test_parse_gdb_shaped_noise_raises_only_crash_parse_error(parts: list[str]) -> None:
    lines = clean_lines("".join(parts))
    assert 0 <= gdb.sniff(lines) <= 100
    try:
        report = gdb.parse(lines)
    except CrashParseError:
        return
    assert report.crashing_thread is None or report.threads[report.crashing_thread].current


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=30))
def test_parse_arbitrary_text_raises_only_crash_parse_error(lines: list[str]) -> None:
    assert_reads_or_refuses(gdb, lines)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(GDB.glob("*"))),
    st.integers(min_value=0),
    st.integers(min_value=0),
    st.text(max_size=4),
)
def test_parse_truncated_spliced_fixtures_raise_only_crash_parse_error(
    path: Path, cut: int, splice: int, junk: str
) -> None:
    text = decode(path.read_bytes())
    cut %= len(text) + 1
    splice %= cut + 1
    lines = clean_lines(text[:splice] + junk + text[splice:cut])
    assert_reads_or_refuses(gdb, lines)


def test_parse_recursion_deeper_than_the_thread_limit_keeps_its_top_and_says_so() -> None:
    depth = MAX_THREAD_FRAMES + 5
    frames = [
        f"#{n}  0x{0x555555554000 + n:016x} in Recurse::Step (n={n}) at /src/Recurse.cpp:7"
        for n in range(depth)
    ]
    lines = ['Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.', *frames]
    report = gdb.parse(lines)
    (thread,) = report.threads
    assert len(thread.frames) == MAX_THREAD_FRAMES
    assert thread.frames[-1].address == f"0x{0x555555554000 + MAX_THREAD_FRAMES - 1:016x}"
    assert any(note.startswith("truncated: 5 frame(s) past the limits") for note in report.notes)


def test_parse_frame_with_file_line_and_column_keeps_all_three() -> None:
    """``at File.cpp:28:5`` (a gdb built with column info, or clang's ``-gcolumn-info`` output copied in)."""
    report = gdb.parse(
        ["#0  0x000055555556a1b2 in ChatHandler::SendWhisper (this=0x0) at /src/Chat/ChatHandler.cpp:28:5"]
    )
    (frame,) = report.threads[0].frames
    assert (frame.function, frame.file, frame.line, frame.column) == (
        "ChatHandler::SendWhisper",
        "/src/Chat/ChatHandler.cpp",
        28,
        5,
    )


def test_parse_sanitizer_style_frame_among_gdb_frames_splits_path_from_function() -> None:
    """``in Func(args) /path/File.cpp:123:5`` (ASan's spelling pasted into a gdb log) is not a function name."""
    report = gdb.parse(
        [
            "#0  0x1 in ChatHandler::SendWhisper (this=0x0) at /src/Chat/ChatHandler.cpp:28",
            "#1  0x2 in ChatHandler::HandleWhisperCommand(std::string const&) /src/Chat/ChatHandler.cpp:21:9",
        ]
    )
    frame = report.threads[0].frames[1]
    assert (frame.function, frame.file, frame.line, frame.column) == (
        "ChatHandler::HandleWhisperCommand",
        "/src/Chat/ChatHandler.cpp",
        21,
        9,
    )
