"""Untrusted text rendered into GitHub Markdown cannot escape its construct, ping anyone or hide."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import markdown as md


def test_defuse_breaks_mentions_references_and_html_comments() -> None:
    text = md.defuse("ping @alice, Fixes #12 <!-- hidden -->")

    assert "@alice" not in text and "#12" not in text and "<!--" not in text and "-->" not in text
    assert text.replace("\u200b", "") == "ping @alice, Fixes #12 <!-- hidden -->"


def test_fenced_block_keeps_mentions_unless_asked() -> None:
    assert "@everyone" in md.fenced("@everyone")
    assert "@everyone" not in md.fenced("@everyone", defuse_mentions=True)


def test_fenced_block_cannot_be_closed_from_inside() -> None:
    block = md.fenced("````\nescape\n````")

    fence = block.split("\n", 1)[0].removesuffix("text")
    assert len(fence) == 5
    assert block.endswith("\n" + fence)


def test_fenced_block_breaks_html_comment_markers() -> None:
    """crashbot's machine payloads live in HTML comments; quoted text must never forge one."""
    block = md.fenced("<!-- crashbot:payload v1 AAAA -->")
    assert "<!--" not in block and "-->" not in block


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        ("a|b", True, "`a\\|b`"),
        ("a|b", False, "`a|b`"),  # outside a table GitHub shows "\|" literally
        ("x `y` z", False, "`` x `y` z ``"),
        ("`edge`", False, "`` `edge` ``"),
        ("", False, "` `"),
        ("two\n lines", False, "`two lines`"),
    ],
)
def test_inline_code_spans(text: str, table: bool, expected: str) -> None:
    assert md.inline_code(text, table=table) == expected


def test_cell_is_one_line_without_pipes_html_or_mentions() -> None:
    assert md.cell("a | b\n<img src=x> @bob") == "a \\| b &lt;img src=x&gt; @\u200bbob"


def test_escaped_text_escapes_markdown_specials() -> None:
    assert md.escaped("*bold* [link](x) `c`") == "\\*bold\\* \\[link\\](x) \\`c\\`"


@given(st.text())
def test_inline_code_cannot_be_closed_from_inside(text: str) -> None:
    span = md.inline_code(text)
    ticks = len(span) - len(span.lstrip("`"))
    inner = span[ticks:-ticks]
    assert "`" * ticks not in inner
