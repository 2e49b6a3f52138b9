"""The preprocessor and assembler constructs in a patch's added lines that could read a file outside the
checkout at build time (``#include "/home/…"``, a computed include, ``#embed``, ``.incbin``,
``#pragma comment(lib, …)``), found on tokenised logical lines rather than by a regex over raw text.

This is defence in depth: the sandbox (:mod:`bot.build.sandbox`) is what makes such a read fail. The check
works on a hunk's new side (context and added lines together), so a directive that an added line only
continues, or that a comment or a line splice disguises, is seen whole: trigraphs and digraphs are
mapped, backslash-newlines joined, comments removed with string literals respected. When it cannot be
sure (a comment state it cannot see, a hunk that starts mid-directive), it assumes the worse reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Directives a crash fix never needs and that read a file or search outside the tree: refused outright.
REFUSED_DIRECTIVES = frozenset({"include_next", "import", "embed", "__include_macros"})
# #pragma forms that make the compiler or linker open a named file or library.
REFUSED_PRAGMAS = frozenset({"comment", "include_alias", "dependency", "linker", "lib"})
# Operators whose argument is a header name: an absolute or '..' one probes the runner's files.
HEADER_OPERATORS = ("__has_include_next", "__has_include", "__has_embed")

_IDENT_RE = re.compile(r"[A-Za-z_]\w*")
_ASM_RE = re.compile(r"(?<![\w$])(?:asm|__asm|__asm__)(?![\w$])")
_INCBIN_RE = re.compile(r"incbin", re.IGNORECASE)
_PRAGMA_OPERATOR_RE = re.compile(r"(?<![\w$])(?:_Pragma|__pragma)\s*\(", re.ASCII)
_MODULE_IMPORT_RE = re.compile(r"^(?:export\s+)?import\s*[<\"]")
_HEADER_NAME_RE = re.compile(r'^\s*(?:"(?P<q>[^"\n]*)"|<(?P<a>[^>\n]*)>)\s*$')
_TRIGRAPHS = {"??=": "#", "??/": "\\", "??(": "[", "??)": "]", "??'": "^", "??<": "{", "??>": "}"}
_TRIGRAPH_RE = re.compile(r"\?\?[=/()'<>]")


@dataclass(frozen=True)
class Finding:
    """One construct refused: the (first) added physical line it sits on and why."""

    line: str
    why: str


@dataclass(frozen=True)
class _Logical:
    """Physical lines joined by backslash-newline; ``first`` and ``added`` index the hunk's new side."""

    text: str
    first: int
    added: bool
    added_line: str


def findings(new_side: Sequence[tuple[str, bool]]) -> list[Finding]:
    """Every refused construct on the logical lines of one hunk's new side (``(text, is_added)`` pairs in
    order) that an added line takes part in."""
    found: list[Finding] = []
    in_comment = False
    for logical in _logical_lines(new_side):
        carried, in_comment_after = strip_comments(logical.text, in_comment=in_comment)
        fresh, _ = strip_comments(logical.text, in_comment=False)
        in_comment = in_comment_after
        if not logical.added:
            continue
        reasons = dict.fromkeys(
            [
                *_raw_reasons(logical.text),
                *_code_reasons(carried),
                *(_code_reasons(fresh) if fresh != carried else []),
                *(_orphan_reasons(fresh) if logical.first == 0 else []),
            ]
        )
        found.extend(Finding(logical.added_line, why) for why in reasons)
    return found


def _logical_lines(new_side: Sequence[tuple[str, bool]]) -> Iterator[_Logical]:
    i = 0
    while i < len(new_side):
        first = i
        parts: list[str] = []
        added_lines: list[str] = []
        while True:
            text, added = new_side[i]
            if added:
                added_lines.append(text)
            line = _TRIGRAPH_RE.sub(lambda m: _TRIGRAPHS[m[0]], text)
            body = line.rstrip(" \t\f\v")  # GCC takes "\ " at the end of a line as a splice too
            i += 1
            if body.endswith("\\") and i < len(new_side):
                parts.append(body[:-1])
                continue
            parts.append(line[:-1] if body.endswith("\\") else line)
            break
        yield _Logical("".join(parts), first, bool(added_lines), added_lines[0] if added_lines else "")


def strip_comments(text: str, *, in_comment: bool) -> tuple[str, bool]:
    """``text`` with comments replaced by one space and string and character literals kept as they
    are; also whether a ``/*`` comment is still open at its end."""
    out: list[str] = []
    i, n = 0, len(text)
    if in_comment:
        end = text.find("*/")
        if end < 0:
            return "", True
        out.append(" ")
        i = end + 2
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            break
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return "".join(out) + " ", True
            out.append(" ")
            i = end + 2
            continue
        if ch in "\"'" and not (ch == "'" and i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            # a quote after a digit or letter is a C++14 digit separator (1'000) or a prefix (u8'x')
            # when it is ' and the previous char is alphanumeric: only a real literal opens here
            end = _literal_end(text, i)
            out.append(text[i:end])
            i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out), False


def _literal_end(text: str, start: int) -> int:
    quote = text[start]
    raw = quote == '"' and start > 0 and text[start - 1] == "R"
    if raw:
        m = re.match(r'"([^()\\\s]{0,16})\(', text[start:])
        if m:
            close = text.find(")" + m[1] + '"', start + m.end())
            return len(text) if close < 0 else close + len(m[1]) + 2
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)


def _raw_reasons(text: str) -> list[str]:
    """Checks on the text as written (strings and comments included): a string can carry assembly."""
    return ["'.incbin' pulls a file's bytes into the object"] if _INCBIN_RE.search(text) else []


def _code_reasons(code: str) -> list[str]:
    reasons: list[str] = []
    stripped = code.lstrip()
    directive = _directive(stripped)
    if directive is not None:
        reasons += _directive_reasons(*directive)
    blanked = _blank_literals(code)
    if _ASM_RE.search(blanked):
        reasons.append("inline assembly, which can pull any file into the object ('.incbin')")
    for m in _PRAGMA_OPERATOR_RE.finditer(blanked):
        inner = code[m.end() :]
        words = {w.lower() for w in _IDENT_RE.findall(inner[:200])}
        if words & REFUSED_PRAGMAS:
            reasons.append("a _Pragma/__pragma that names a file or library for the compiler or linker")
    reasons += _header_operator_reasons(code, blanked)
    if _MODULE_IMPORT_RE.match(stripped):
        reasons.append("a C++20 header-unit import, which reads the header it names")
    return reasons


def _orphan_reasons(code: str) -> list[str]:
    """A hunk's first line may continue a directive above the hunk that the diff does not show."""
    word = _IDENT_RE.match(code.lstrip())
    if word and word[0] in {"include", *REFUSED_DIRECTIVES, "pragma"}:
        return [f"a line starting with {word[0]!r} at the top of a hunk may continue a directive above it"]
    return []


def _directive(stripped: str) -> tuple[str, str] | None:
    """``(name, rest)`` when ``stripped`` is a preprocessor directive (``#`` or the ``%:`` digraph)."""
    if stripped.startswith("#"):
        rest = stripped[1:]
    elif stripped.startswith("%:"):
        rest = stripped[2:]
    else:
        return None
    rest = rest.lstrip()
    m = _IDENT_RE.match(rest)
    return (m[0], rest[m.end() :]) if m else ("", rest)


def _directive_reasons(name: str, rest: str) -> list[str]:
    if name in REFUSED_DIRECTIVES:
        return [f"#{name}, which a crash fix never needs and which reads files the compiler finds"]
    if name == "include":
        m = _HEADER_NAME_RE.match(rest)
        if m is None:
            return ['a computed #include (a macro or anything but "file" or <file>)']
        path = m["q"] if m["q"] is not None else m["a"]
        return [f"#include of {path!r}, outside the repository"] if escapes(path) else []
    if name == "pragma":
        words = [w.lower() for w in _IDENT_RE.findall(rest)[:3]]
        if words and (words[0] in REFUSED_PRAGMAS or (words[0] == "gcc" and "dependency" in words)):
            return [
                f"#pragma {' '.join(words[:2])}, which names a file or library for the compiler or linker"
            ]
        return []
    if name == "define":
        reasons = []
        if "##" in rest or "%:%:" in rest:
            reasons.append("a macro that pastes tokens (##), which can assemble any directive or keyword")
        for literal in re.findall(r'"([^"\n]*)"|<([^<>\s]*/[^<>\s]*)>', rest):
            if any(escapes(p) for p in literal if p):
                reasons.append("a macro holding a path outside the repository")
                break
        return reasons
    return []


def _header_operator_reasons(code: str, blanked: str) -> list[str]:
    reasons = []
    for op in HEADER_OPERATORS:
        for m in re.finditer(rf"(?<![\w$]){op}(?![\w$])", blanked):
            after = code[m.end() :].lstrip()
            if not after.startswith("("):
                reasons.append(f"{op} without a parenthesised header name")
                continue
            close = after.find(")")
            arg = after[1 : close if close >= 0 else len(after)]
            header = _HEADER_NAME_RE.match(arg)
            if header is None:
                reasons.append(f'a computed {op} (a macro or anything but "file" or <file>)')
            elif escapes(header["q"] if header["q"] is not None else header["a"]):
                reasons.append(f"{op} of a path outside the repository")
    return reasons


def _blank_literals(code: str) -> str:
    """``code`` with every string and character literal's contents blanked, so keywords inside text
    ("asm") are not taken for code."""
    out: list[str] = []
    i = 0
    while i < len(code):
        ch = code[i]
        if ch in "\"'" and not (ch == "'" and i and (code[i - 1].isalnum() or code[i - 1] == "_")):
            end = _literal_end(code, i)
            out.append(ch + " " * max(0, end - i - 2) + (code[end - 1] if end - i >= 2 else ""))
            i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def escapes(path: str) -> bool:
    """Whether a header name points outside the tree: absolute, a drive or UNC path, home-relative, or
    with a ``..`` component."""
    p = path.strip()
    if not p:
        return False
    if p.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", p):
        return True
    return any(part == ".." for part in re.split(r"[/\\]+", p))
