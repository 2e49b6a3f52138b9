"""bot.fix.context: the enclosing C++ function of a crash line, robust to strings, comments and macros."""

from __future__ import annotations

import pytest

from bot.fix.context import ContextKind, code_view, extract
from tests.conftest import FIXTURES

UNIT_CPP = (FIXTURES / "fix" / "context" / "Unit.cpp").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("line", "function", "start", "end"),
    [
        (56, "Unit::DealDamage", 38, 58),  # braces in comments, lambda, #ifdef'd brace, format string
        (30, "Unit::Unit", 28, 31),  # constructor with a brace-initialiser in the init list
        (35, "Unit::operator==", 33, 36),
        (25, "Clamp", 22, 26),  # template <class T> is not a class
        (65, "Get", 63, 66),  # inline member inside a class body
    ],
)
def test_extract_finds_enclosing_function(line: int, function: str, start: int, end: int) -> None:
    ctx = extract(UNIT_CPP, line, path="src/Unit.cpp")
    assert ctx is not None
    assert ctx.kind is ContextKind.FUNCTION
    assert ctx.function == function
    assert (ctx.start, ctx.end) == (start, end)


def test_extract_marks_crash_line_and_numbers_every_line() -> None:
    ctx = extract(UNIT_CPP, 56, path="src/Unit.cpp")
    assert ctx is not None
    rendered = ctx.text.splitlines()
    assert rendered[0].startswith("38   void Unit::DealDamage")
    assert "56 >     uint32 health = victim->GetHealth();" in rendered
    assert sum(1 for r in rendered if " > " in r[:6]) == 1


def test_extract_line_outside_any_function_gives_window() -> None:
    ctx = extract(UNIT_CPP, 18, path="src/Unit.cpp", context_lines=3)
    assert ctx is not None
    assert ctx.kind is ContextKind.WINDOW and ctx.function is None
    assert (ctx.start, ctx.end) == (15, 21)


def test_extract_long_function_is_bounded_excerpt_with_header() -> None:
    body = "".join(f"    step({i});\n" for i in range(500))
    source = "int Big::Run(int x)\n{\n" + body + "}\n"
    ctx = extract(source, 300, path="Big.cpp", context_lines=10, max_lines=60)
    assert ctx is not None
    assert ctx.kind is ContextKind.FUNCTION_EXCERPT and ctx.truncated
    assert ctx.function == "Big::Run"
    lines = ctx.text.splitlines()
    assert lines[0].startswith("  1   int Big::Run(int x)")
    assert any(line.strip() == "⋮" for line in lines)
    assert any(line.startswith("300 > ") for line in lines)
    assert lines[-1].startswith("503   }")
    assert len(lines) <= 60


def test_extract_line_beyond_file_is_none() -> None:
    assert extract("int x;\n", 5) is None
    assert extract("int x;\n", 0) is None


def test_extract_long_lines_are_cut() -> None:
    source = 'void f()\n{\n    g("' + "x" * 2000 + '");\n}\n'
    ctx = extract(source, 3)
    assert ctx is not None and max(len(line) for line in ctx.text.splitlines()) < 400


def test_code_view_keeps_first_preprocessor_branch_and_live_branch_of_if0() -> None:
    source = "#ifdef A\nx {\n#else\ny {\n#endif\n#if 0\nz {\n#else\nw {\n#endif\n"
    view = code_view(source)
    assert "x {" in view and "y {" not in view
    assert "z {" not in view and "w {" in view


def test_code_view_blanks_literals_comments_and_directives_keeping_offsets() -> None:
    source = 'a = "{"; // }\nb = \'}\'; /* { */ c = 1\'000;\n#define X {\nR"d(})d";\n'
    view = code_view(source)
    assert len(view) == len(source)
    assert view.count("\n") == source.count("\n")
    assert "{" not in view and "}" not in view
    assert "c = 1" in view


def test_extract_crlf_source_same_as_lf() -> None:
    ctx = extract(UNIT_CPP.replace("\n", "\r\n"), 56)
    assert ctx is not None and ctx.function == "Unit::DealDamage"
