"""GitHub-flavoured Markdown to safe, self-contained HTML: the subset crashbot's issue and PR bodies use.

Safe means: every character of the input is escaped except a short list of attribute-free tags GitHub
itself allows (``<details>``, ``<summary>``, ``<code>``, ``<sub>`` ...); HTML comments (the signed payload)
are dropped; links keep only http(s) and mailto targets. The page it builds loads nothing from anywhere
(no scripts, no external assets) and says so in its Content-Security-Policy.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

# Tags rendered as themselves, without attributes; anything else is shown as text.
ALLOWED_TAGS = frozenset(
    {"b", "br", "code", "del", "details", "em", "i", "kbd", "p", "pre", "strong", "sub", "summary", "sup"}
)
BLOCK_TAGS = ("details", "summary")  # a line starting with one of these is raw HTML, not a paragraph
SAFE_SCHEMES = ("http", "https", "mailto")
ALERTS = {"NOTE": "Note", "TIP": "Tip", "IMPORTANT": "Important", "WARNING": "Warning", "CAUTION": "Caution"}

_FENCE_RE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_HEADING_RE = re.compile(r"^ {0,3}(?P<level>#{1,6})(?:[ \t]+(?P<text>.*?))?[ \t]*#*[ \t]*$")
_HR_RE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_LIST_RE = re.compile(r"^(?P<indent> *)(?P<marker>[-*+]|\d{1,9}[.)])(?:[ \t]+(?P<text>.*))?$")
_TABLE_SEPARATOR_RE = re.compile(r"^ *\|?(?: *:?-+:? *\|)+(?: *:?-+:? *)?\|? *$")
_QUOTE_RE = re.compile(r"^ {0,3}> ?(?P<text>.*)$")
_ALERT_RE = re.compile(r"^\[!(?P<kind>[A-Z]+)\]\s*$")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_CODE_SPAN_RE = re.compile(r"(?P<ticks>`+)(?P<body>.+?)(?<!`)(?P=ticks)(?!`)", re.DOTALL)
_ESCAPE_RE = re.compile(r"\\(?P<char>[!-/:-@\[-`{-~])")
_TAG_RE = re.compile(r"<(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9]*)(?P<attrs>\s[^<>]*)?\s*/?>")
_LINK_RE = re.compile(r"\[(?P<label>[^\[\]]*)\]\((?P<url>[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)")
_AUTOLINK_RE = re.compile(r"<(?P<url>https?://[^<>\s]+)>")
_STRONG_RE = re.compile(r"(?<![\w*])(\*\*|__)(?=\S)(?P<body>.+?)(?<=\S)\1(?![\w*])")
_EM_STAR_RE = re.compile(r"(?<![\w*])\*(?=\S)(?P<body>[^*]+?)(?<=\S)\*(?![\w*])")
_EM_UNDERSCORE_RE = re.compile(r"(?<![\w_])_(?=\S)(?P<body>[^_]+?)(?<=\S)_(?![\w_])")
_BLOCK_TAG_PREFIXES = tuple(f"<{t}" for t in BLOCK_TAGS) + tuple(f"</{t}" for t in BLOCK_TAGS)
_SLOT_RE = re.compile("\x00(\\d+)\x00")
_ANY_TAG_RE = re.compile(r"<[^<>]*>")  # in inline()'s output: only the tags it made (text is escaped)
_SCHEME_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")


# -- inline ------------------------------------------------------------------------------------------


def safe_url(url: str) -> str | None:
    """``url`` when it may be a link target (http, https, mailto, or scheme-less), else None."""
    url = url.strip()
    if not url or any(ord(c) < 32 for c in url):
        return None
    scheme = _SCHEME_RE.match(url)
    if scheme is not None and scheme["scheme"].lower() not in SAFE_SCHEMES:
        return None
    return url


def inline(text: str) -> str:
    """One run of inline Markdown as HTML (code spans, escapes, allowed tags, links, emphasis)."""
    slots: list[str] = []

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return f"\x00{len(slots) - 1}\x00"

    text = text.replace("\x00", "\ufffd")
    text = _COMMENT_RE.sub("", text)
    text = _CODE_SPAN_RE.sub(lambda m: keep(f"<code>{html.escape(_code_body(m['body']))}</code>"), text)
    text = _ESCAPE_RE.sub(lambda m: keep(html.escape(m["char"])), text)
    text = _AUTOLINK_RE.sub(lambda m: keep(_anchor(m["url"], html.escape(m["url"]))), text)
    text = _TAG_RE.sub(lambda m: keep(_tag(m)) if m["name"].lower() in ALLOWED_TAGS else m[0], text)

    def link(m: re.Match[str]) -> str:
        label = _emphasis(html.escape(m["label"], quote=False))
        return keep(_anchor(m["url"], label))

    text = _LINK_RE.sub(link, text)
    text = _emphasis(html.escape(text, quote=False))
    # restore innermost-last: a link label may itself hold code spans
    while _SLOT_RE.search(text):
        text = _SLOT_RE.sub(lambda m: slots[int(m[1])], text)
    return text


def plain(text: str) -> str:
    """One run of inline Markdown as the words a reader sees: no emphasis or code marks, no tags, a link
    as its label (a terminal preview of a comment)."""
    return html.unescape(_ANY_TAG_RE.sub("", inline(text)))


def _code_body(body: str) -> str:
    body = body.replace("\n", " ")
    if len(body) > 2 and body.startswith(" ") and body.endswith(" ") and body.strip():
        return body[1:-1]
    return body


def _tag(match: re.Match[str]) -> str:
    name = match["name"].lower()
    if name == "br":
        return "<br>"
    attrs = (match["attrs"] or "").strip().lower()
    if name == "details" and not match["close"] and attrs == "open":
        return "<details open>"
    return f"<{match['close']}{name}>"


def _anchor(url: str, label_html: str) -> str:
    target = safe_url(url)
    if target is None:
        return label_html
    return f'<a href="{html.escape(target, quote=True)}" rel="noopener noreferrer">{label_html}</a>'


def _emphasis(escaped: str) -> str:
    escaped = _STRONG_RE.sub(lambda m: f"<strong>{m['body']}</strong>", escaped)
    escaped = _EM_STAR_RE.sub(lambda m: f"<em>{m['body']}</em>", escaped)
    return _EM_UNDERSCORE_RE.sub(lambda m: f"<em>{m['body']}</em>", escaped)


# -- blocks ------------------------------------------------------------------------------------------


def to_html(markdown: str) -> str:
    """The HTML for a Markdown document (no surrounding page)."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n")
    return "\n".join(_blocks(lines))


def _blocks(lines: Sequence[str]) -> list[str]:
    out: list[str] = []
    paragraph: list[str] = []
    i = 0

    def flush() -> None:
        if paragraph:
            out.append("<p>" + "<br>\n".join(inline(p.strip()) for p in _hard_breaks(paragraph)) + "</p>")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        if stripped.startswith("<!--"):
            flush()
            while i < len(lines) and "-->" not in lines[i]:
                i += 1
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence is not None:
            flush()
            i = _fenced(lines, i, fence, out)
            continue
        heading = _HEADING_RE.match(line)
        if heading is not None:
            flush()
            level = len(heading["level"])
            out.append(f"<h{level}>{inline(heading['text'] or '')}</h{level}>")
            i += 1
            continue
        if _HR_RE.match(line) and not paragraph:
            out.append("<hr>")
            i += 1
            continue
        if _QUOTE_RE.match(line):
            flush()
            i = _quote(lines, i, out)
            continue
        if _LIST_RE.match(line) and (not paragraph or not line.startswith(" ")):
            flush()
            i = _list(lines, i, out)
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEPARATOR_RE.match(lines[i + 1]):
            flush()
            i = _table(lines, i, out)
            continue
        if stripped.lower().startswith(_BLOCK_TAG_PREFIXES):
            flush()
            out.append(inline(stripped))
            i += 1
            continue
        paragraph.append(line)
        i += 1
    flush()
    return out


def _hard_breaks(paragraph: Sequence[str]) -> list[str]:
    """Join soft-wrapped lines; a line ending in two spaces or a backslash keeps its break."""
    joined: list[str] = []
    current = ""
    for line in paragraph:
        hard = line.endswith("  ") or line.endswith("\\")
        text = line.rstrip()
        if text.endswith("\\"):
            text = text[:-1]
        current = f"{current} {text.strip()}" if current else text.strip()
        if hard:
            joined.append(current)
            current = ""
    if current:
        joined.append(current)
    return joined


def _fenced(lines: Sequence[str], start: int, fence: re.Match[str], out: list[str]) -> int:
    marker = fence["fence"]
    indent = len(fence["indent"])
    body: list[str] = []
    i = start + 1
    while i < len(lines):
        closing = lines[i].strip()
        if closing.startswith(marker[0] * len(marker)) and set(closing) == {marker[0]}:
            i += 1
            break
        body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
        i += 1
    language = (fence["info"] or "").strip().split(" ")[0]
    css = (
        f' class="language-{html.escape(language, quote=True)}"'
        if re.fullmatch(r"[\w+.-]+", language)
        else ""
    )
    out.append(f"<pre><code{css}>{html.escape(chr(10).join(body))}</code></pre>")
    return i


def _quote(lines: Sequence[str], start: int, out: list[str]) -> int:
    inner: list[str] = []
    i = start
    while i < len(lines):
        match = _QUOTE_RE.match(lines[i])
        if match is None:
            break
        inner.append(match["text"])
        i += 1
    alert = _ALERT_RE.match(inner[0].strip()) if inner else None
    if alert is not None and alert["kind"] in ALERTS:
        kind = alert["kind"]
        body = "\n".join(_blocks(inner[1:]))
        title = f'<p class="alert-title">{ALERTS[kind]}</p>'
        out.append(f'<blockquote class="alert alert-{kind.lower()}">{title}\n{body}</blockquote>')
    else:
        out.append("<blockquote>\n" + "\n".join(_blocks(inner)) + "\n</blockquote>")
    return i


def _list(lines: Sequence[str], start: int, out: list[str]) -> int:
    first = _LIST_RE.match(lines[start])
    assert first is not None  # the caller matched it
    base = len(first["indent"])
    ordered = first["marker"][0].isdigit()
    items: list[list[str]] = []
    i = start
    while i < len(lines):
        line = lines[i]
        match = _LIST_RE.match(line)
        if match is not None and len(match["indent"]) == base and match["marker"][0].isdigit() == ordered:
            items.append([match["text"] or ""])
            i += 1
            continue
        if not line.strip():
            following = lines[i + 1] if i + 1 < len(lines) else ""
            sibling = _LIST_RE.match(following)
            if following.startswith(" " * (base + 2)) or (
                sibling is not None
                and len(sibling["indent"]) == base
                and sibling["marker"][0].isdigit() == ordered
            ):
                items[-1].append("")
                i += 1
                continue
            break
        if line.startswith(" " * (base + 1)):
            items[-1].append(line[base + 2 :] if line.startswith(" " * (base + 2)) else line.strip())
            i += 1
            continue
        if match is None and items and items[-1][-1].strip() and not _starts_block(line):
            items[-1].append(line.strip())  # a lazy continuation line
            i += 1
            continue
        break
    tag = "ol" if ordered else "ul"
    rendered = []
    for item in items:
        while len(item) > 1 and not item[-1].strip():
            item.pop()
        blocks = _blocks(item)
        if blocks and blocks[0].startswith("<p>") and blocks[0].endswith("</p>") and "" not in item:
            blocks[0] = blocks[0][3:-4]  # a tight item: no paragraph around its text
        rendered.append("<li>" + "\n".join(blocks) + "</li>")
    out.append(f"<{tag}>\n" + "\n".join(rendered) + f"\n</{tag}>")
    return i


def _starts_block(line: str) -> bool:
    """Does ``line`` open a block of its own (so it cannot continue a list item's paragraph)?"""
    stripped = line.strip().lower()
    return bool(
        _FENCE_RE.match(line)
        or _HEADING_RE.match(line)
        or _QUOTE_RE.match(line)
        or _HR_RE.match(line)
        or stripped.startswith("<!--")
        or stripped.startswith(_BLOCK_TAG_PREFIXES)
    )


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells: list[str] = []
    current = ""
    ticks = 0
    i = 0
    while i < len(row):
        char = row[i]
        if char == "\\" and i + 1 < len(row) and row[i + 1] == "|":
            current += "|"  # GFM: an escaped bar is a literal bar, even inside a code span
            i += 2
            continue
        if char == "`":
            ticks ^= 1
        if char == "|" and not ticks:
            cells.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    cells.append(current.strip())
    return cells


def _table(lines: Sequence[str], start: int, out: list[str]) -> int:
    header = _cells(lines[start])
    aligns = [_align(c) for c in _cells(lines[start + 1])]
    rows: list[list[str]] = []
    i = start + 2
    while i < len(lines) and lines[i].strip() and "|" in lines[i]:
        rows.append(_cells(lines[i]))
        i += 1

    def row_html(cells: Sequence[str], tag: str) -> str:
        padded = list(cells[: len(header)]) + [""] * (len(header) - len(cells))
        parts = []
        for n, cell in enumerate(padded):
            align = aligns[n] if n < len(aligns) else ""
            style = f' style="text-align:{align}"' if align else ""
            parts.append(f"<{tag}{style}>{inline(cell)}</{tag}>")
        return "<tr>" + "".join(parts) + "</tr>"

    body = "\n".join(row_html(r, "td") for r in rows)
    out.append(f"<table>\n<thead>{row_html(header, 'th')}</thead>\n<tbody>\n{body}\n</tbody>\n</table>")
    return i


def _align(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith(":") and cell.endswith(":"):
        return "center"
    if cell.endswith(":"):
        return "right"
    if cell.startswith(":"):
        return "left"
    return ""


# -- page --------------------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 980px; margin: 2em auto; padding: 0 1em; }
h1, h2, h3 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
section.card { border: 1px solid #d1d9e0; border-radius: 6px; margin: 1.5em 0; }
section.card > header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: .5em 1em;
       font-weight: 600; border-radius: 6px 6px 0 0; }
section.card > div { padding: 0 1em; overflow-x: auto; }
code, pre { font: 12px/1.45 ui-monospace, SFMono-Regular, Consolas, monospace; background: #f6f8fa;
       border-radius: 4px; }
code { padding: .1em .3em; }
pre { padding: 1em; overflow-x: auto; }
pre code { padding: 0; background: none; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d1d9e0; padding: .3em .7em; vertical-align: top; }
blockquote { margin: 0; padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
blockquote.alert { color: inherit; border-left-color: #0969da; }
blockquote.alert-warning, blockquote.alert-caution { border-left-color: #9a6700; }
p.alert-title { font-weight: 600; color: #0969da; }
.ok { color: #1a7f37; font-weight: 600; }
.failed { color: #d1242f; font-weight: 600; }
.meta { color: #59636e; }
"""


def page(title: str, sections: Sequence[tuple[str, str]], *, intro_html: str = "") -> str:
    """A complete HTML page: ``title``, optional trusted ``intro_html``, then one card per
    ``(heading, markdown)`` section (the markdown is rendered safely)."""
    cards = "\n".join(
        f'<section class="card"><header>{html.escape(heading)}</header>\n'
        f"<div>\n{to_html(body)}\n</div></section>"
        for heading, body in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{intro_html}\n{cards}\n</body>\n</html>\n"
    )
