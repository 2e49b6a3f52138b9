"""Format sniffing: the surest parser wins, ties break by a fixed order, nothing sure is an error."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.crash.errors import CrashParseError
from bot.crash.model import CrashReport, Format
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
    assert sorted(order) == sorted(Format)


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
