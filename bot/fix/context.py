"""Code context around a crash line: the whole enclosing C++ function when it can be found (brace
matching that ignores strings, chars, comments and preprocessor lines), else a window of lines."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from enum import StrEnum

MAX_LINES = 160
MAX_LINE_CHARS = 300
MAX_HEADER_LINES = 12

_CONTROL_RE = re.compile(r"^\s*(?:else\s+)?(?:if|for|while|switch|catch|do|else|try)\b")
_TYPE_BLOCK_RE = re.compile(
    r"^(?:template\s*<[^{;]*?>\s*)?(?:(?:class|struct|union|enum|namespace)\b|extern\s*\")"
)
_QUALIFIERS_RE = re.compile(
    r"""\)\s*(?:(?:const|volatile|override|final|noexcept|mutable|throw\s*\(\s*\)|noexcept\s*\([^()]*\)
        |&&|&|->\s*[\w:<>,\s*&]+|\[\[[^\]]*\]\])\s*)*$""",
    re.VERBOSE,
)
_CTOR_INIT_RE = re.compile(r"\)\s*(?:noexcept\s*)?:\s*[\w:~<>]+\s*[({]")
_NAME_RE = re.compile(r"((?:[\w~]+\s*::\s*)*(?:operator\s*(?:\(\)|[^\s(]+)|~?\w+))\s*(?:<[^()]*>)?\s*$")


_PLAIN_RUN = re.compile(r"[^\n\"'/RuUL]+")  # no comment, literal or line start can begin inside
_RAW_STRING = re.compile(r'(?:u8|[uUL])?R"([^()\\\s]{0,16})\(')
_ACCESS_LABEL_RE = re.compile(r"\s*(?:(?:public|private|protected)\s*:(?!:)\s*)+")
_DIRECTIVE_RE = re.compile(r"^\s*#\s*(\w+)")


class ContextKind(StrEnum):
    FUNCTION = "function"  # the whole enclosing function
    FUNCTION_EXCERPT = "function-excerpt"  # its header and the lines around the crash (too long to show)
    WINDOW = "window"  # no function found: lines around the crash


@dataclass(frozen=True)
class CodeContext:
    """Lines ``start``..``end`` (1-based, inclusive) of ``path`` around ``line``, rendered with numbers
    in ``text`` (the crash line marked ``>``); ``function`` is the enclosing function's name if found."""

    path: str
    line: int
    start: int
    end: int
    kind: ContextKind
    function: str | None
    text: str
    truncated: bool = False
    note: str = ""  # why this code was chosen when it is not simply around the reported line


def extract(
    source: str,
    line: int,
    *,
    path: str = "",
    context_lines: int = 40,
    max_lines: int = MAX_LINES,
) -> CodeContext | None:
    """The context of 1-based ``line`` in ``source``; None when the file has no such line."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not 1 <= line <= len(lines):
        return None
    code = code_view("\n".join(lines))
    func = enclosing_function(code, line)
    if func is not None:
        start, end, name = func
        if end - start + 1 <= max_lines:
            shown = list(range(start, end + 1))
            return _context(path, line, lines, shown, kind=ContextKind.FUNCTION, name=name)
        header_end = min(body_line(code, start), start + MAX_HEADER_LINES - 1)
        half = max(1, min(context_lines, (max_lines - (header_end - start + 2)) // 2))
        around = range(max(header_end + 1, line - half), min(end, line + half) + 1)
        shown = sorted({*range(start, header_end + 1), *around, end})
        return _context(path, line, lines, shown, kind=ContextKind.FUNCTION_EXCERPT, name=name)
    half = max(1, min(context_lines, max_lines // 2))
    shown = list(range(max(1, line - half), min(len(lines), line + half) + 1))
    return _context(path, line, lines, shown, kind=ContextKind.WINDOW, name=None)


def code_view(source: str) -> str:
    """``source`` with comments, string/char literal contents and preprocessor lines blanked to spaces
    (newlines and offsets kept), so braces and parentheses in the result are real code."""
    source = _blank_alternative_branches(source)
    out = list(source)
    n = len(source)
    i = 0
    at_line_start = True
    while i < n:
        c = source[i]
        if c == "\n":
            at_line_start = True
            i += 1
            continue
        if at_line_start and c in " \t":
            i += 1
            continue
        if not at_line_start:
            plain = _PLAIN_RUN.match(source, i)  # skip ordinary code in one step
            if plain is not None:
                i = plain.end()
                continue
        span = _directive(source, i) if at_line_start and c == "#" else _not_code(source, i)
        at_line_start = False
        if span is None:
            i += 1
            continue
        start, stop, i = span
        for k in range(start, min(stop, n)):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


# (first index to blank, index after the last one, where scanning goes on)
_Span = tuple[int, int, int]


def _directive(source: str, i: int) -> _Span:
    """A preprocessor line at ``i`` (the ``#``), with its continuation lines."""
    n = len(source)
    j = i
    while j < n:
        if source[j] == "\n" and source[j - 1] != "\\":
            break
        if source.startswith("/*", j):  # a block comment may start on a directive and run on
            close = source.find("*/", j + 2)
            j = n if close < 0 else close + 2
            continue
        j += 1
    return i, j, j


def _not_code(source: str, i: int) -> _Span | None:
    """The comment, or the contents of the string or character literal, starting at ``i``; None for code."""
    n = len(source)
    c = source[i]
    if source.startswith("//", i):
        j = i
        while j < n and not (source[j] == "\n" and source[j - 1] != "\\"):
            j += 1
        return i, j, j
    if source.startswith("/*", i):
        close = source.find("*/", i + 2)
        j = n if close < 0 else close + 2
        return i, j, j
    raw = _RAW_STRING.match(source, i, i + 24) if c in "RuUL" else None
    if raw and (i == 0 or not _ident_char(source[i - 1])):
        end_marker = ")" + raw[1] + '"'
        close = source.find(end_marker, raw.end())
        j = n if close < 0 else close + len(end_marker)
        return raw.end() - 1, j - 1, j
    if c == '"' or (c == "'" and not _digit_separator(source, i)):
        j = i + 1
        while j < n and source[j] != c and source[j] != "\n":
            j += 2 if source[j] == "\\" else 1
        return i + 1, j, (j + 1 if j < n and source[j] == c else j)
    return None


def _blank_alternative_branches(source: str) -> str:
    """Keep only the first branch of each ``#if``/``#else`` chain: code like ``#ifdef X  if (a) {  #else
    if (b) {  #endif`` opens one brace per build, not two."""
    lines = source.split("\n")
    # per open #if: (skip this branch?, was it `#if 0`?) -- `#if 0` hides the first branch instead
    stack: list[tuple[bool, bool]] = []
    for k, line in enumerate(lines):
        m = _DIRECTIVE_RE.match(line)
        directive = m[1] if m else ""
        if directive in ("if", "ifdef", "ifndef"):
            dead = directive == "if" and re.match(r"^\s*#\s*if\s+0\s*(?://.*|/\*.*)?$", line) is not None
            stack.append((dead, dead))
        elif directive in ("else", "elif", "elifdef", "elifndef") and stack:
            dead = stack[-1][1]
            stack[-1] = (not dead if directive == "else" else True, dead)
        elif directive == "endif" and stack:
            stack.pop()
        elif not directive and any(skip for skip, _ in stack):
            lines[k] = " " * len(line)
    return "\n".join(lines)


def enclosing_function(code: str, line: int) -> tuple[int, int, str | None] | None:
    """(header start line, closing brace line, name) of the outermost function-like block around
    ``line`` in a :func:`code_view`; None when ``line`` is not inside a function body."""
    return FunctionIndex(code).enclosing(line)


class FunctionIndex:
    """The braces of one :func:`code_view`, paired once, so that many lines of a large file can be asked
    about (finding definitions by name asks for every line that mentions the name)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", code)]
        self.pairs: dict[int, int] = {}
        self._closes: dict[int, int] = {}
        stack: list[int] = []
        for m in re.finditer(r"[{}]", code):
            if m[0] == "{":
                stack.append(m.start())
            elif stack:
                o = stack.pop()
                self.pairs[o] = m.start()
                self._closes[m.start()] = o
        # (first line, last line, open offset) of every block
        self._blocks = [(self.line_of(o), self.line_of(c), o) for o, c in self.pairs.items()]

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self._line_starts, pos)

    def enclosing(self, line: int) -> tuple[int, int, str | None] | None:
        code = self.code
        containing = sorted(o for first, last, o in self._blocks if first <= line <= last)
        for o in containing:  # outermost first: a lambda inside a function is not the answer
            header_start = _header_start(code, o, self._closes)
            label = _ACCESS_LABEL_RE.match(code, header_start, o)
            if label:
                header_start = label.end()
            header = " ".join(code[header_start:o].split())
            if not header or _CONTROL_RE.match(header) or _TYPE_BLOCK_RE.match(header):
                continue
            # `auto f = [](...) {` and `T x = {...}` are initialisers, but `operator==(...)` is a function
            if "=" in re.sub(r"operator\s*[^\s(]+", "", header.split("(")[0]):
                continue
            if not (_QUALIFIERS_RE.search(header) or _CTOR_INIT_RE.search(header)):
                continue
            first = header_start + len(code[header_start:o]) - len(code[header_start:o].lstrip())
            return self.line_of(first), self.line_of(self.pairs[o]), _function_name(header)
        return None


def render(lines: list[str], shown: list[int], focus: int) -> str:
    """Numbered lines; ``>`` marks ``focus``; a gap between shown lines becomes ``⋮``."""
    width = len(str(max(shown))) if shown else 1
    out: list[str] = []
    prev = None
    for n in shown:
        if prev is not None and n != prev + 1:
            out.append(" " * width + "   ⋮")
        text = lines[n - 1].rstrip()
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + " …"
        out.append(f"{n:>{width}} {'>' if n == focus else ' '} {text}")
        prev = n
    return "\n".join(out)


def _context(
    path: str, line: int, lines: list[str], shown: list[int], *, kind: ContextKind, name: str | None
) -> CodeContext:
    return CodeContext(
        path=path,
        line=line,
        start=shown[0],
        end=shown[-1],
        kind=kind,
        function=name,
        text=render(lines, shown, line),
        truncated=kind is ContextKind.FUNCTION_EXCERPT,
    )


def _header_start(code: str, brace: int, closes: dict[int, int]) -> int:
    """Where the declaration before the ``{`` at ``brace`` begins: after the previous ``;``, ``{`` or an
    unrelated ``}``. A ``}`` that closes a brace-initialiser in a constructor's init list is skipped."""
    j = brace - 1
    while j >= 0:
        ch = code[j]
        if ch in ";{":
            return j + 1
        if ch == "}":
            following = code[j + 1 : brace + 1].lstrip()
            if j in closes and following[:1] in (",", "{"):
                j = closes[j] - 1
                continue
            return j + 1
        j -= 1
    return 0


def body_line(code: str, start_line: int) -> int:
    """The line of ``code`` (a :func:`code_view`) holding the opening brace of the body of a function
    whose header starts at ``start_line``."""
    lines = code.split("\n")
    for n in range(start_line, min(len(lines), start_line + MAX_HEADER_LINES) + 1):
        if "{" in lines[n - 1]:
            return n
    return start_line


def _function_name(header: str) -> str | None:
    text = re.sub(r"\s+", " ", header)
    # the parameter list is the last top-level (...) before qualifiers / an init list
    depth = 0
    open_at = None
    cut = text
    init = _CTOR_INIT_RE.search(text)
    if init:
        cut = text[: init.start() + 1]
    for k in range(len(cut) - 1, -1, -1):
        ch = cut[k]
        if ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                open_at = k
                break
    if open_at is None:
        return None
    m = _NAME_RE.search(cut[:open_at])
    return re.sub(r"\s+", "", m[1]) if m else None


def _ident_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _digit_separator(source: str, i: int) -> bool:
    """C++14 ``1'000'000``: a quote inside a number literal is not a char literal."""
    j = i - 1
    while j >= 0 and (_ident_char(source[j]) or source[j] == "'"):
        j -= 1
    token = source[j + 1 : i]
    return bool(token) and token[0].isdigit() and i + 1 < len(source) and source[i + 1].isalnum()
