"""bot.fix.literal: C/C++ string literals as printed text, and messages matched against format strings."""

from __future__ import annotations

import pytest

from bot.fix.literal import Fit, fit, literals, template


def _texts(source: str) -> list[tuple[str, int]]:
    return [(lit.text, lit.line) for lit in literals(source)]


class TestLiterals:
    def test_literals_are_found_with_their_line(self) -> None:
        source = 'int a;\nthrow std::domain_error("Unrecognized item class");\nlog("x %u", 1);\n'
        assert _texts(source) == [("Unrecognized item class", 2), ("x %u", 3)]

    def test_comments_hold_no_literal(self) -> None:
        source = '// throw Error("in a line comment");\n/* "in a block\ncomment" */\nf("real");\n'
        assert _texts(source) == [("real", 4)]

    def test_a_quote_inside_a_literal_or_a_char_does_not_start_one(self) -> None:
        source = 'char q = \'"\'; f("say \\"hi\\" now"); int n = 1\'000\'000; g("after");\n'
        assert _texts(source) == [('say "hi" now', 1), ("after", 1)]

    def test_adjacent_literals_and_a_format_macro_between_them_are_joined(self) -> None:
        source = 'sLog.outString("Loot filter has " SIZEFMTD " items"\n    " in total", n);\n'
        ((text, line),) = _texts(source)
        assert line == 1
        assert template(text) == ("Loot filter has ", " items in total")

    def test_a_raw_string_is_read_whole(self) -> None:
        assert _texts('auto s = R"sql(SELECT "x" FROM t)sql";\n') == [('SELECT "x" FROM t', 1)]

    def test_an_unterminated_literal_ends_with_its_line(self) -> None:
        assert _texts('f("open\ng("closed");\n') == [("open", 1), ("closed", 2)]

    def test_a_hostile_file_of_quotes_and_comment_openers_is_read_in_one_pass(self) -> None:
        """100,000 empty literals side by side are one (joined) literal; an unclosed comment ends the file."""
        source = '"' * 200_000 + "/*" * 100_000 + "'" * 100_000
        assert _texts(source) == [("", 1)]


class TestTemplate:
    @pytest.mark.parametrize(
        ("literal", "pieces"),
        [
            ("Unknown spell id %u for creature %s", ("Unknown spell id ", " for creature ", "")),
            ("Unknown spell id {} for creature {:>5}", ("Unknown spell id ", " for creature ", "")),
            ("100%% done, {{braces}}", ("100% done, {braces}",)),
            ("value %5.2f%s", ("value ", "", "")),
            ("plain", ("plain",)),
        ],
    )
    def test_placeholders_split_the_fixed_pieces(self, literal: str, pieces: tuple[str, ...]) -> None:
        assert template(literal) == pieces


class TestFit:
    def test_a_message_made_from_the_format_is_the_whole_literal(self) -> None:
        pieces = template("Unknown spell id %u for creature %u")
        assert fit("Unknown spell id 12345 for creature 99", pieces, ["Unknown spell id"]) is Fit.WHOLE

    def test_a_message_with_a_prefix_contains_the_literal(self) -> None:
        pieces = template("cannot load grid %u")
        assert fit("Map 530: cannot load grid 64", pieces, ["Map", "cannot load grid"]) is Fit.CONTAINS

    def test_a_cut_message_is_part_of_the_literal(self) -> None:
        pieces = template("Unrecognized item prototype class, check the item template table")
        assert (
            fit("Unrecognized item prototype class", pieces, ["Unrecognized item prototype class"])
            is Fit.PART
        )

    def test_a_literal_that_only_shares_a_word_does_not_fit(self) -> None:
        pieces = template("Unrecognized spell family")
        assert fit("Unrecognized item prototype class", pieces, ["Unrecognized item prototype class"]) is None

    def test_whitespace_differences_do_not_matter(self) -> None:
        pieces = template("Unknown  spell\tid %u")
        assert fit("Unknown spell id 7", pieces, ["Unknown spell id"]) is Fit.WHOLE
