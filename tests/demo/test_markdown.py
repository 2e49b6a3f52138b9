"""The demo's Markdown renderer: GitHub's look for crashbot's bodies, and nothing unsafe gets through."""

from __future__ import annotations

import re

import pytest

from bot.demo.markdown import ALLOWED_TAGS, inline, page, safe_url, to_html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<iframe src=https://evil.example></iframe>",
        '<a href="javascript:alert(1)">x</a>',
        "<style>body{display:none}</style>",
        '<details ontoggle="alert(1)" open>',
        "<svg/onload=alert(1)>",
    ],
)
def test_to_html_hostile_html_is_shown_as_text(hostile: str) -> None:
    rendered = to_html(f"before {hostile} after")
    tags = re.findall(r"<(/?)([A-Za-z][A-Za-z0-9]*)([^>]*)>", rendered)
    assert {name for _, name, _ in tags} <= ALLOWED_TAGS
    assert all(attrs in ("", " open") for _, _, attrs in tags), tags


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "vbscript:x"]
)
def test_link_with_unsafe_scheme_keeps_only_its_label(url: str) -> None:
    rendered = inline(f"[click]({url})")
    assert rendered == "click"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://github.com/o/r/blob/abc/src/a.cpp#L3", True),
        ("http://127.0.0.1:8080/o/r/issues/1", True),
        ("mailto:dev@example.invalid", True),
        ("#issuecomment-12", True),
        ("javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("", False),
    ],
)
def test_safe_url_allows_only_web_and_mail_targets(url: str, allowed: bool) -> None:
    assert (safe_url(url) is not None) is allowed


def test_link_attribute_cannot_be_broken_out_of() -> None:
    rendered = inline('[x](https://a.example/"onmouseover="alert(1))')
    assert '"onmouseover' not in rendered


def test_html_comments_are_dropped_inline_and_as_blocks() -> None:
    body = "text <!-- hidden --> more\n\n<!-- crashbot:payload v1 AAAA -->\n<!-- crashbot:hmac BBBB -->\n"
    rendered = to_html(body)
    assert "hidden" not in rendered and "crashbot:payload" not in rendered and "BBBB" not in rendered
    assert "<p>text  more</p>" in rendered


def test_allowed_tags_render_without_attributes() -> None:
    assert inline('<sub class="x">small</sub>') == "<sub>small</sub>"
    assert inline("a<br/>b") == "a<br>b"
    assert to_html("<details open>\n<summary>More</summary>\n\nbody\n</details>") == (
        "<details open>\n<summary>More</summary>\n<p>body</p>\n</details>"
    )


def test_code_spans_and_fences_keep_their_text_literally() -> None:
    assert inline("`a <b> **c**`") == "<code>a &lt;b&gt; **c**</code>"
    rendered = to_html("```cpp\nif (a < b && *p) {}\n```")
    assert rendered == '<pre><code class="language-cpp">if (a &lt; b &amp;&amp; *p) {}</code></pre>'


def test_backslash_escapes_become_literal_characters() -> None:
    assert inline(r"\<Player\> \*not em\*") == "&lt;Player&gt; *not em*"


def test_emphasis_and_links() -> None:
    assert inline("**bold** and *em* and [doc](https://x.example/a_b)") == (
        '<strong>bold</strong> and <em>em</em> and <a href="https://x.example/a_b" '
        'rel="noopener noreferrer">doc</a>'
    )
    assert inline("a_b_c and Player* target") == "a_b_c and Player* target"


def test_table_escaped_bars_stay_in_their_cell_even_in_code() -> None:
    rendered = to_html("| key | value |\n|---|---:|\n| sig | `A \\| B` |\n")
    assert "<th>key</th>" in rendered and '<th style="text-align:right">value</th>' in rendered
    assert '<td style="text-align:right"><code>A | B</code></td>' in rendered


def test_headings_lists_quotes_and_alerts() -> None:
    rendered = to_html(
        "### Crash\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n\n> [!NOTE]\n> Shortened."
    )
    assert "<h3>Crash</h3>" in rendered
    assert "<ul>\n<li>one</li>\n<li>two\n<ul>\n<li>nested</li>\n</ul></li>\n</ul>" in rendered
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in rendered
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in rendered
    assert (
        '<blockquote class="alert alert-note"><p class="alert-title">Note</p>\n<p>Shortened.</p>' in rendered
    )


def test_list_item_does_not_swallow_a_following_block() -> None:
    rendered = to_html("- item\n<details>\n<summary>More</summary>\n</details>")
    assert rendered.index("</ul>") < rendered.index("<details>")


def test_page_is_self_contained_and_says_so() -> None:
    html = page("T <x>", [("Issue <#1>", "**body** <script>x</script>")], intro_html="<p>intro</p>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "<title>T &lt;x&gt;</title>" in html and "<header>Issue &lt;#1&gt;</header>" in html
    assert "<strong>body</strong>" in html and "<script>" not in html
    assert "src=" not in html and "href=" not in html
