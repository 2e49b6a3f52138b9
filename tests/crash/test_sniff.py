"""Format sniffing: the surest parser wins, ties break by a fixed order, nothing sure is an error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.crash.errors import CrashParseError
from bot.crash.model import TEXT_FORMATS, CrashReport, Format
from bot.crash.sniff import PARSER_MODULES, THRESHOLD, Parser, parser_for, parsers, scores, sniff


def fake(fmt: Format, score: int) -> Parser:
    def _sniff(lines: Sequence[str]) -> int:
        return score

    def _parse(lines: Sequence[str]) -> CrashReport:
        return CrashReport(format=fmt)

    return Parser(format=fmt, sniff=_sniff, parse=_parse)


def test_sniff_highest_score_wins() -> None:
    chosen = sniff(["x"], [fake(Format.GDB, 40), fake(Format.WHEATY, 90), fake(Format.CDB, 10)])
    assert chosen.format is Format.WHEATY


def test_sniff_ties_break_by_candidate_order() -> None:
    candidates = [fake(Format.WHEATY, 60), fake(Format.ASSERT_LOG, 60)]
    assert sniff(["x"], candidates).format is Format.WHEATY
    assert sniff(["x"], candidates[::-1]).format is Format.ASSERT_LOG


def test_sniff_scores_clamped_and_sorted() -> None:
    ranked = scores(["x"], [fake(Format.CDB, -3), fake(Format.GDB, 500)])
    assert [(s, p.format) for s, p in ranked] == [(100, Format.GDB), (0, Format.CDB)]


def test_sniff_below_threshold_is_unrecognised_with_a_description() -> None:
    with pytest.raises(
        CrashParseError, match=r"not a crash report crashbot recognises \(2 lines, starting 'hello"
    ):
        sniff(["hello world", "bye"], [fake(Format.GDB, THRESHOLD - 1)])


def test_sniff_blank_and_binary_inputs_described() -> None:
    with pytest.raises(CrashParseError, match="empty or blank"):
        sniff(["", "  "], [])
    with pytest.raises(CrashParseError, match="binary"):
        sniff(["\x01\x02\x03\x04\x05\x06\ufffd\ufffd"], [fake(Format.GDB, 0)])


def test_parsers_tie_break_order_prefers_richer_formats() -> None:
    order = [fmt for fmt, _ in PARSER_MODULES]
    assert order.index(Format.WHEATY) < order.index(Format.ASSERT_LOG)
    assert order.index(Format.VS_CALLSTACK) < order.index(Format.ASSERT_LOG)
    assert sorted(order) == sorted(TEXT_FORMATS)


def test_parser_for_every_installed_format() -> None:
    for parser in parsers():
        assert parser_for(parser.format) is parser


def test_sniff_certain_parser_stops_the_asking() -> None:
    asked: list[Format] = []

    def counting(fmt: Format, score: int) -> Parser:
        inner = fake(fmt, score)

        def _sniff(lines: Sequence[str]) -> int:
            asked.append(fmt)
            return inner.sniff(lines)

        return Parser(format=fmt, sniff=_sniff, parse=inner.parse)

    chosen = sniff(["x"], [counting(Format.GDB, 30), counting(Format.WHEATY, 100), counting(Format.CDB, 100)])
    assert chosen.format is Format.WHEATY
    assert asked == [Format.GDB, Format.WHEATY]


# Evidence of every format, each placed after 400 lines of neutral text: a sniff must not see it.
_LATE_EVIDENCE = [
    "Exception code: C0000005 ACCESS_VIOLATION",
    "Call stack:",
    "00007FF6A1B2002E  000000C1E2FFF5D0  Field::GetUInt32+2E  D:\\src\\Field.cpp line 119",
    "STACK_TEXT:",
    "00000061`a3efe790 00007ff7`1f6c2e4a     : 00000000`00000000 : worldserver!Unit::GetVictim+0x7",
    'Thread 12 "MapUpdater" received signal SIGSEGV, Segmentation fault.',
    "#0  0x00007ffff7894ac3 in Field::GetUInt32 (this=0x0) at /src/Field.cpp:119",
    ">\tworldserver.exe!Unit::DealDamage(Unit * attacker) Line 812\tC++",
]


@pytest.mark.parametrize(
    "fmt", [Format.WHEATY, Format.CDB, Format.GDB, Format.VS_CALLSTACK], ids=lambda f: str(f.value)
)
def test_sniff_reads_only_the_first_400_lines(fmt: Format) -> None:
    """The contract: sniffing costs the same on a 100 MB report as on a 30 KB one."""
    neutral = [f"2024-03-02 11:22:{n % 60:02d} world tick {n}" for n in range(400)]
    assert parser_for(fmt).sniff(neutral + _LATE_EVIDENCE * 50) == parser_for(fmt).sniff(neutral) == 0
    assert parser_for(fmt).sniff(_LATE_EVIDENCE) > 0


# -- ties between the bare stacks (cdb's call-site column, vMaNGOS's backtrace without its assertion line)
# and the formats that quote the same lines inside a richer report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CALL_SITES = [
    r"mangosd!Spell::CheckCast+0xf2d [d:\src\game\spells\spell.cpp @ 4860]",
    r"mangosd!Spell::PreCastCheck+0x1c [d:\src\game\spells\spell.cpp @ 2971]",
]
VMANGOS_WINDOWS = [
    "Unit::CleanupsBeforeDelete()+0xee [0x90bfe]",
    "Map::AddObjectToRemoveList()+0x55 [0x121a25]",
]
GLIBC = [
    "./mangosd(_ZN3Map14RemoveOldBonesEj+0xd0) [0x813850]",
    "./mangosd(_ZN3Map6UpdateEj+0x2d3) [0x817653]",
]


def sniffed(lines: Sequence[str]) -> Format:
    return sniff(lines).format


@pytest.mark.parametrize(
    ("lines", "fmt"),
    [
        # the bare shapes themselves
        (["DetailID = 1", "Exception #:  0XC0000005", "Stack:", *CALL_SITES], Format.CDB),
        (["[Crash/Auras] Deleting aura 6219 in use", *VMANGOS_WINDOWS], Format.VMANGOS_LOG),
        (["Received SIGSEGV", *GLIBC, "", "Segmentation fault"], Format.VMANGOS_LOG),
        # DebugDiag's thread block lists the same call sites: its header makes it DebugDiag's
        (
            ["Thread 5 - System ID 4600", "Entry point   mangosd!thread_start", "Call Stack", *CALL_SITES],
            Format.DEBUGDIAG,
        ),
        # a Visual Studio copy names module!function too, with arguments and a line number
        (
            [
                ">\tworldserver.exe!Spell::CheckCast(bool strict) Line 4860\tC++",
                "\tworldserver.exe!Spell::PreCastCheck(Aura * triggeredByAura) Line 2971\tC++",
                "\tkernel32.dll!BaseThreadInitThunk()\tUnknown",
            ],
            Format.VS_CALLSTACK,
        ),
        # an assertion above the frames: the assertion's own parser reads both
        (
            [
                "2019-07-02 19:36:14 /src/Object.cpp:1989: Error: Assertion in GetMap failed: m_currMap",
                *VMANGOS_WINDOWS,
            ],
            Format.VMANGOS_LOG,
        ),
        (
            [
                "/src/Spline.cpp:253 in _updateState ASSERTION FAILED:",
                "  false",
                "Segmentation fault",
                *GLIBC,
            ],
            Format.ASSERT_LOG,
        ),
        # gdb prints the program's own handler output above its backtrace
        (
            [
                "Received SIGSEGV",
                *GLIBC,
                'Thread 5 "mangosd" received signal SIGSEGV, Segmentation fault.',
                "#0  0x0000000000821e0e in Map::Remove<Corpse> (this=0x0) at /src/Map.cpp:120",
                "#1  0x0000000000813850 in Map::RemoveOldBones (this=0x0) at /src/Map.cpp:300",
            ],
            Format.GDB,
        ),
    ],
    ids=[
        "cdb-call-sites",
        "vmangos-windows",
        "vmangos-glibc",
        "debugdiag-thread",
        "vs-callstack",
        "vmangos-assert",
        "tc-assert-glibc",
        "gdb-with-handler-output",
    ],
)
def test_sniff_bare_stacks_against_their_neighbours(lines: list[str], fmt: Format) -> None:
    assert sniffed(lines) is fmt


@pytest.mark.parametrize("name", ["tc-ace-era-windows.txt", "tc-linux-glibc-backtrace.txt"])
def test_sniff_console_assert_with_a_server_backtrace_stays_assert_log(name: str) -> None:
    """Old TrinityCore printed vMaNGOS's frame shapes under its own assertion block."""
    text = (FIXTURES / "crash" / "assert" / name).read_text(encoding="utf-8")
    assert sniffed(text.splitlines()) is Format.ASSERT_LOG


def test_sniff_cdb_and_vmangos_lines_are_not_each_other_s() -> None:
    cdb_parser, vmangos_parser = parser_for(Format.CDB), parser_for(Format.VMANGOS_LOG)
    assert vmangos_parser.sniff(CALL_SITES) == 0
    assert cdb_parser.sniff(VMANGOS_WINDOWS) == 0
    assert cdb_parser.sniff(GLIBC) == 0
