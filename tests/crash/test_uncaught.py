"""An uncaught C++ exception's console lines as a crash report (real samples: tests/fixtures/samples, their
sources in SOURCES.md), and the same lines inside a gdb log and a Wheaty report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.crash import analyse, crash_to_json, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Format
from bot.crash.parsers import uncaught, wheaty
from bot.crash.terminate import TerminateKind, find_terminate
from tests.crash.contract import assert_reads_or_refuses

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
AHBOT = SAMPLES / "cmangos-issue-1151.txt"


def _console(thrown: str, what: str, *, before: str = "Loading...") -> str:
    return (
        f"{before}\nterminate called after throwing an instance of '{thrown}'\n  what():  {what}\nAborted\n"
    )


class TestRealSamples:
    def test_cmangos_1151_is_read_with_type_message_and_the_last_log_line(self) -> None:
        report = parse_report(AHBOT.read_bytes())
        assert report.format is Format.UNCAUGHT
        assert report.exception is not None
        assert (report.exception.code, report.exception.thrown_type, report.exception.what) == (
            "SIGABRT",
            "std::domain_error",
            "Unrecognized item prototype class",
        )
        assert report.threads == ()
        assert report.extra["last_output"] == "Sorting and cleaning items for AHBot seller..."

    def test_cmangos_1151_json_carries_type_and_what_and_a_signature_naming_the_throw(self) -> None:
        out = crash_to_json(analyse(parse_report(AHBOT.read_bytes())))
        assert out["format"] == "uncaught-exception"
        assert out["exception"] == {
            "code": "SIGABRT",
            "name": "uncaught exception",
            "type": "std::domain_error",
            "what": "Unrecognized item prototype class",
        }
        assert out["frames"] == [] and out["top_frame"] is None
        assert (
            out["signature"] == "SIGABRT(std::domain_error: Unrecognized item prototype class) | (no frames)"
        )

    def test_trinitycore_25147_wins_over_the_lone_caught_signal_line_and_keeps_the_build(self) -> None:
        report = parse_report((SAMPLES / "tc-issue-25147.txt").read_bytes())
        assert report.format is Format.UNCAUGHT  # not assert-log's "Caught signal 6"
        assert report.exception is not None
        assert report.exception.thrown_type == "boost::process::process_error"
        assert report.exception.what == ": Bad file descriptor"
        assert report.build.revision == "1131229ee9c4"
        assert report.extra["last_output"].startswith(">> Applying update")

    def test_trinitycore_15552_retyped_quotes_and_what_spacing_are_read(self) -> None:
        report = parse_report((SAMPLES / "tc-issue-15552.txt").read_bytes())
        assert report.exception is not None
        assert report.exception.thrown_type == (
            "boost::exception_detail::clone_impl<boost::exception_detail::error_info_injector"
            "<boost::system::system_error> >"
        )
        assert report.exception.what == "bind: Address already in use"


@pytest.mark.parametrize(
    ("lines", "kind", "thrown", "what"),
    [
        (
            ["terminate called after throwing an instance of 'std::out_of_range'", "  what():  vector::at"],
            TerminateKind.UNCAUGHT,
            "std::out_of_range",
            "vector::at",
        ),
        (  # ``throw "text"``: libstdc++ prints the type and no what()
            ["terminate called after throwing an instance of 'char const*'", "Aborted (core dumped)"],
            TerminateKind.UNCAUGHT,
            "char const*",
            None,
        ),
        (["terminate called without an active exception"], TerminateKind.NO_EXCEPTION, None, None),
        (["terminate called recursively"], TerminateKind.RECURSIVE, None, None),
        (
            ["libc++abi: terminating due to uncaught exception of type std::runtime_error: bad thing: 42"],
            TerminateKind.UNCAUGHT,
            "std::runtime_error",
            "bad thing: 42",
        ),
        (
            ["libc++abi.dylib: terminating with uncaught exception of type std::length_error: vector"],
            TerminateKind.UNCAUGHT,
            "std::length_error",
            "vector",
        ),
        (
            ["libc++abi: terminating due to uncaught exception of type int"],
            TerminateKind.UNCAUGHT,
            "int",
            None,
        ),
        (["libc++abi: terminating due to uncaught foreign exception"], TerminateKind.UNCAUGHT, None, None),
        (["libc++abi: terminating"], TerminateKind.NO_EXCEPTION, None, None),
        (  # a log timestamp in front and a blank line before what()
            [
                "2024-05-01 10:00:00 terminate called after throwing an instance of 'std::bad_alloc'",
                "",
                "  what():  x",
            ],
            TerminateKind.UNCAUGHT,
            "std::bad_alloc",
            "x",
        ),
    ],
)
def test_terminate_message_of_each_runtime(
    lines: list[str], kind: TerminateKind, thrown: str | None, what: str | None
) -> None:
    found = find_terminate(lines)
    assert found is not None
    assert (found.kind, found.thrown_type, found.what) == (kind, thrown, what)


def test_terminate_recursively_after_an_uncaught_exception_keeps_the_exception() -> None:
    found = find_terminate(
        [
            "terminate called recursively",
            "terminate called after throwing an instance of 'std::length_error'",
            "  what():  basic_string::_M_create",
        ]
    )
    assert found is not None and found.thrown_type == "std::length_error"


def test_a_what_line_separated_by_other_output_is_not_taken() -> None:
    found = find_terminate(
        ["terminate called after throwing an instance of 'char const*'", "Caught signal 6", "  what():  x"]
    )
    assert found is not None and found.what is None


class TestSignature:
    def test_same_throw_with_other_numbers_and_quoted_names_is_one_crash(self) -> None:
        a = analyse(parse_report(_console("std::runtime_error", "cannot open 'maps/000.map' (errno 2)")))
        b = analyse(parse_report(_console("std::runtime_error", "cannot open 'maps/530.map' (errno 13)")))
        assert a.signature.id == b.signature.id

    def test_another_type_or_message_is_another_crash(self) -> None:
        base = analyse(parse_report(_console("std::runtime_error", "cannot open file")))
        other_type = analyse(parse_report(_console("std::logic_error", "cannot open file")))
        other_text = analyse(parse_report(_console("std::runtime_error", "cannot read file")))
        assert len({base.signature.id, other_type.signature.id, other_text.signature.id}) == 3

    def test_an_apostrophe_inside_a_word_is_not_a_quote(self) -> None:
        a = analyse(parse_report(_console("std::runtime_error", "can't open 'a.dbc'")))
        b = analyse(parse_report(_console("std::runtime_error", "can't open 'b.dbc'")))
        assert a.signature.id == b.signature.id

    def test_the_console_lines_before_the_throw_do_not_split_it(self) -> None:
        a = analyse(parse_report(_console("std::domain_error", "x class", before="Loading A")))
        b = analyse(parse_report(_console("std::domain_error", "x class", before="Loading B")))
        assert a.signature.id == b.signature.id

    def test_libcxx_inline_namespace_spelling_does_not_split_it(self) -> None:
        a = analyse(
            parse_report("libc++abi: terminating due to uncaught exception of type std::__1::system_error: x")
        )
        b = analyse(
            parse_report("libc++abi: terminating due to uncaught exception of type std::system_error: x")
        )
        assert a.signature.id == b.signature.id

    def test_id_is_stable(self) -> None:
        """The id of the real sample is part of issue identity: a change to it regroups filed issues."""
        assert analyse(parse_report(AHBOT.read_bytes())).signature.id == "19a93943a132e4aa"


GDB_WITH_THROW = """\
Sorting and cleaning items for AHBot seller...
terminate called after throwing an instance of 'std::domain_error'
  what():  Unrecognized item prototype class

Thread 1 "mangosd" received signal SIGABRT, Aborted.
__GI_raise (sig=sig@entry=6) at ../sysdeps/unix/sysv/linux/raise.c:51
#0  __GI_raise (sig=sig@entry=6) at ../sysdeps/unix/sysv/linux/raise.c:51
#1  0x00007ffff73de859 in __GI_abort () at abort.c:79
#2  0x00007ffff77c5647 in std::terminate() () from /lib/x86_64-linux-gnu/libstdc++.so.6
#3  0x00007ffff77c58a9 in __cxa_throw () from /lib/x86_64-linux-gnu/libstdc++.so.6
#4  0x0000555555e9b9b5 in AuctionBotSeller::Initialize (this=0x1) at /src/game/AuctionHouseBot/AuctionHouseBot.cpp:1206
#5  0x0000555555e9b9c5 in AuctionHouseBot::Initialize (this=0x1) at /src/game/AuctionHouseBot/AuctionHouseBot.cpp:1900
"""


class TestInsideOtherReports:
    def test_a_gdb_log_keeps_its_frames_and_carries_the_thrown_type_and_message(self) -> None:
        crash = analyse(parse_report(GDB_WITH_THROW))
        report = crash.report
        assert report.format is Format.GDB
        assert report.exception is not None
        assert (report.exception.code, report.exception.thrown_type, report.exception.what) == (
            "SIGABRT",
            "std::domain_error",
            "Unrecognized item prototype class",
        )
        assert crash.top_frame is not None and crash.top_frame.function == "AuctionBotSeller::Initialize"

    def test_a_gdb_log_signature_is_unchanged_by_the_exception_text(self) -> None:
        """Ids of gdb logs filed before the exception was read must not move: frames sign them."""
        with_text = analyse(parse_report(GDB_WITH_THROW))
        without = analyse(parse_report("\n".join(GDB_WITH_THROW.splitlines()[3:])))
        assert with_text.signature.id == without.signature.id

    def test_a_gdb_log_without_a_signal_line_still_carries_the_exception(self) -> None:
        text = "\n".join(line for line in GDB_WITH_THROW.splitlines() if "received signal" not in line)
        report = parse_report(text)
        assert report.format is Format.GDB
        assert report.exception is not None and report.exception.what == "Unrecognized item prototype class"

    def test_a_wheaty_report_s_uncaught_exception_info_is_the_what(self) -> None:
        report = wheaty.parse(
            [
                "Exception code: E06D7363 Unhandled C++ exception",
                "Uncaught C++ exception info: invalid unordered_map<K, T> key",
                "Call stack:",
                "Address   Frame     Function      SourceFile",
                "00007FF7A69BC4A8  000000DDD2EFF760  Map::Update+2E",
            ]
        )
        assert report.exception is not None and report.exception.what == "invalid unordered_map<K, T> key"


class TestBadInput:
    def test_text_without_a_terminate_message_is_refused_with_one_line(self) -> None:
        with pytest.raises(CrashParseError, match="no C\\+\\+ terminate message"):
            uncaught.parse(["Aborted (core dumped)"])

    def test_plain_text_is_still_not_a_crash_report(self) -> None:
        with pytest.raises(CrashParseError, match="not a crash report"):
            parse_report("Sorting and cleaning items for AHBot seller...\nAborted (core dumped)\n")

    @pytest.mark.parametrize(
        "lines",
        [
            [],
            ["terminate called after throwing an instance of"],  # truncated after the words
            ["terminate called after throwing an instance of '" + "x" * 1_000_000],  # a 1 MB line
            ["terminate called after throwing an instance of 'T'", "  what():  " + "y" * 1_000_000],
            ["\x00\xff\ufffd" * 10_000 + "terminate called recursively"],
            ["libc++abi: terminating due to uncaught exception of type " + ": " * 100_000],
            ["terminat" * 200_000],
        ],
    )
    def test_hostile_input_reads_or_refuses(self, lines: list[str]) -> None:
        assert_reads_or_refuses(uncaught, lines)

    def test_a_one_megabyte_line_is_cut_not_kept(self) -> None:
        report = uncaught.parse(
            ["terminate called after throwing an instance of 'T'", "  what():  " + "y" * 1_000_000]
        )
        assert report.exception is not None and report.exception.what is not None
        assert len(report.exception.what) < 5_000

    def test_wrong_encoding_is_read_through_the_decoder(self) -> None:
        latin1 = "terminate called after throwing an instance of 'std::runtime_error'\n  what():  Zählung fehlgeschlagen\n"
        report = parse_report(latin1.encode("latin-1"))
        assert report.format is Format.UNCAUGHT
        assert report.exception is not None and report.exception.thrown_type == "std::runtime_error"

    def test_binary_junk_around_the_message_does_not_hide_it(self) -> None:
        data = b"\x00\x01\x02" * 1000 + b"\n" + AHBOT.read_bytes() + b"\xff\xfe" * 1000
        report = parse_report(data)
        assert report.exception is not None and report.exception.what == "Unrecognized item prototype class"

    def test_many_long_quote_lines_are_read_or_refused(self) -> None:
        """Every pattern is anchored on literal words and lines are cut: the suite's timeout would turn
        catastrophic backtracking into a failure."""
        assert_reads_or_refuses(
            uncaught, ["terminate called after throwing an instance of " + "'" * 4000] * 2000
        )
