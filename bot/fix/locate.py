"""Find C++ functions by name in a checkout: where a function is defined (for frames that name a function
but no file, and for anchoring a context on the function a frame names) and where it is called from (for
assertion-only and accessor crashes, whose bug is in a caller the stack does not show).

``git grep`` does the searching, bounded by :class:`Limits` (time, files, hits), so a 100,000-file tree or a
name that appears in 500 files costs seconds and yields a note, never a hang."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.errors import GitError
from bot.fix.context import code_view, enclosing_function
from bot.git import Git

logger = logging.getLogger(__name__)

SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".c", ".h", ".hpp", ".hh", ".hxx", ".inl", ".ipp")
HEADER_SUFFIXES = (".h", ".hpp", ".hh", ".hxx", ".inl", ".ipp")
_IDENT_RE = re.compile(r"^[A-Za-z_~]\w*$")


@dataclass(frozen=True)
class Limits:
    """Bounds for one search. Measured on a TrinityCore-size tree (README: "Bounds")."""

    timeout_s: float = 20.0
    max_hits: int = 400  # grep lines read; more means the name is too common to search this way
    max_files: int = 60  # files whose text is read to confirm a hit
    max_file_bytes: int = 2_000_000  # larger files (generated, data) are not read


@dataclass(frozen=True)
class Definition:
    """Where ``name`` is defined: lines ``start``..``end`` of ``path`` (the whole function)."""

    path: str
    start: int
    end: int
    name: str  # as the source spells it (``Unit::GetMap``)


@dataclass(frozen=True)
class Search:
    """What a search found and what limited it (``notes`` are shown to humans)."""

    found: tuple[Definition, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallSite:
    """A line of ``path`` that calls the searched function, inside ``caller`` (lines start..end)."""

    path: str
    line: int
    caller: str | None
    start: int
    end: int


def split_name(function: str) -> tuple[tuple[str, ...], str] | None:
    """``('Unit', 'GetMap')`` style (scopes, bare name) of a frame's function; template arguments, parameter
    lists and ``+0x1f`` displacements dropped. None for names no definition can be searched by (lambdas,
    operators, unsymbolised ``0x…`` addresses)."""
    text = function.strip()
    text = re.sub(r"\+(?:0x)?[0-9A-Fa-f]+$", "", text)
    text = _strip_brackets(text, "(", ")")
    text = _strip_brackets(text, "<", ">")
    text = re.sub(r"\s+", "", text)
    parts = [p for p in text.split("::") if p]
    if not parts or any(not _IDENT_RE.match(p) for p in parts):
        return None
    return tuple(parts[:-1]), parts[-1]


def _strip_brackets(text: str, open_ch: str, close_ch: str) -> str:
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch == open_ch:
            depth += 1
        elif ch == close_ch and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def name_matches(found: str | None, function: str) -> bool:
    """Does a definition's name (``Unit::GetMap``, or ``GetMap`` inside a class body) name the frame's
    ``function``? The bare names must agree, and any scopes both spell must agree from the right."""
    if not found:
        return False
    a, b = split_name(found), split_name(function)
    if a is None or b is None or a[1] != b[1]:
        return False
    scopes_a, scopes_b = a[0], b[0]
    n = min(len(scopes_a), len(scopes_b))
    return scopes_a[len(scopes_a) - n :] == scopes_b[len(scopes_b) - n :]


def definitions_in_text(text: str, function: str) -> list[tuple[int, int, str]]:
    """Every (start, end, name) function body in ``text`` whose name matches ``function``."""
    parts = split_name(function)
    if parts is None:
        return []
    bare = parts[1]
    code = code_view(text)
    lines = code.split("\n")
    out: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    pattern = re.compile(rf"(?<![\w.>]){re.escape(bare)}\s*(?:<[^;{{}}()]*>)?\s*\(")
    for number, line in enumerate(lines, start=1):
        if not pattern.search(line):
            continue
        body = _body_after(lines, number)
        if body is None:
            continue
        found = enclosing_function(code, body)
        if found is None or found[0] in seen:
            continue
        start, end, name = found
        if start <= number <= body and name_matches(name, function):
            seen.add(start)
            out.append((start, end, name or bare))
    return out


def _body_after(lines: Sequence[str], number: int, *, reach: int = 12) -> int | None:
    """The first line at or after ``number`` (within ``reach`` lines) inside the body that a declaration
    starting on ``number`` opens; None when a ``;`` ends it first (a declaration, not a definition)."""
    depth = 0
    for k in range(number - 1, min(len(lines), number - 1 + reach)):
        for ch in lines[k]:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == ";" and depth <= 0:
                return None
            elif ch == "{" and depth <= 0:
                return k + 1
    return None


class Locator:
    """Searches one checkout. ``files`` (``git ls-files``) is read once and shared with the caller."""

    def __init__(self, git: Git, files: Iterable[str], *, limits: Limits | None = None) -> None:
        self._git = git
        self._files = frozenset(files)
        self.limits = limits or Limits()

    def read(self, path: str) -> str | None:
        """The checkout's text of ``path``; None for missing, huge or binary files."""
        full = self._git.repo / path
        try:
            if full.stat().st_size > self.limits.max_file_bytes:
                return None
            data = full.read_bytes()
        except OSError:
            return None
        if b"\0" in data[:8192]:
            return None
        return data.decode("utf-8", errors="replace")

    def define(self, function: str, *, near: Sequence[str] = ()) -> Search:
        """Where ``function`` is defined; ``near`` (paths of other frames) orders ambiguous answers."""
        parts = split_name(function)
        if parts is None:
            return Search((), (f"{function!r} is not a name a definition can be searched by",))
        scopes, bare = parts
        if scopes:  # an out-of-line definition spells the class: the precise search first
            qualified = r"\s*::\s*".join(re.escape(p) for p in (*scopes[-1:], bare))
            first = self._search(function, rf"\b{qualified}\s*(<[^;]*>)?\s*\(", scopes, bare, near)
            if first.found:
                return first
        return self._search(function, rf"\b{re.escape(bare)}\s*(<[^;]*>)?\s*\(", scopes, bare, near)

    def _search(
        self, function: str, pattern: str, scopes: tuple[str, ...], bare: str, near: Sequence[str]
    ) -> Search:
        hits, notes = self._grep(pattern)
        by_file: dict[str, list[int]] = {}
        for path, line in hits:
            by_file.setdefault(path, []).append(line)
        files = _rank_files(list(by_file), scopes, bare, near)
        if len(files) > self.limits.max_files:
            notes.append(
                f"{bare!r} appears in {len(files)} files; read the {self.limits.max_files} likeliest "
                "(named after its class, near the other frames)"
            )
            files = files[: self.limits.max_files]
        found: list[Definition] = []
        for path in files:
            text = self.read(path)
            if text is None:
                continue
            found.extend(Definition(path, s, e, n) for s, e, n in definitions_in_text(text, function))
        found.sort(key=lambda d: (_scope_rank(d, scopes), d.path.endswith(HEADER_SUFFIXES), d.path))
        return Search(tuple(found), tuple(notes))

    def callers(
        self, function: str, *, exclude: Sequence[tuple[str, int, int]] = ()
    ) -> tuple[list[CallSite], list[str]]:
        """Call sites of ``function`` outside ``exclude`` ranges (path, start, end): its definition and the
        frames the stack already shows. Unranked; see :func:`rank_callers`."""
        parts = split_name(function)
        if parts is None:
            return [], [f"{function!r} is not a name call sites can be searched by"]
        bare = parts[1]
        hits, notes = self._grep(rf"(\.|->|::|\b){re.escape(bare)}\s*\(")
        out: list[CallSite] = []
        texts: dict[str, str | None] = {}
        for path, line in hits:
            if any(p == path and s <= line <= e for p, s, e in exclude):
                continue
            if path not in texts:
                if len(texts) >= self.limits.max_files:
                    notes.append(f"call sites in more than {self.limits.max_files} files; the rest not read")
                    break
                texts[path] = self.read(path)
            text = texts[path]
            if text is None:
                continue
            code = code_view(text)
            src_line = code.split("\n")[line - 1] if line <= code.count("\n") + 1 else ""
            if not re.search(rf"(?<![\w~]){re.escape(bare)}\s*\(", src_line):
                continue  # the name was in a comment or string
            enclosing = enclosing_function(code, line)
            if enclosing is None:
                continue  # a declaration, not a call
            start, end, caller = enclosing
            if name_matches(caller, function):
                continue  # the definition itself, or a recursive call
            out.append(CallSite(path, line, caller, start, end))
        return out, notes

    def _grep(self, pattern: str) -> tuple[list[tuple[str, int]], list[str]]:
        """(path, line) of ``git grep -E`` hits in tracked C/C++ sources, bounded by the limits."""
        notes: list[str] = []
        globs = [f"*{s}" for s in SOURCE_SUFFIXES]
        git = Git(self._git.repo, timeout_s=self.limits.timeout_s)
        try:
            out = git.run("grep", "-n", "-I", "-E", "--no-color", "-e", pattern, "--", *globs, check=False)
        except GitError as e:
            return [], [f"search for {pattern!r} stopped: {e}"]
        hits: list[tuple[str, int]] = []
        for raw in out.splitlines():
            path, _, rest = raw.partition(":")
            number, _, _ = rest.partition(":")
            if not number.isdigit():
                continue
            hits.append((path, int(number)))
            if len(hits) >= self.limits.max_hits:
                notes.append(f"more than {self.limits.max_hits} matches; only the first were read")
                break
        return hits, notes


def _scope_rank(d: Definition, scopes: tuple[str, ...]) -> int:
    parts = split_name(d.name)
    return 0 if parts and scopes and parts[0][-1:] == scopes[-1:] else 1


def _rank_files(files: list[str], scopes: tuple[str, ...], bare: str, near: Sequence[str]) -> list[str]:
    """Likeliest files first: named after the class (``Unit.cpp`` for ``Unit::X``), then sharing the most
    leading directories with the other frames' files, then .cpp before headers."""
    cls = scopes[-1].casefold() if scopes else bare.casefold()
    near_dirs = [PurePosixPath(p).parent.parts for p in near]

    def shared(path: str) -> int:
        parts = PurePosixPath(path).parent.parts
        best = 0
        for d in near_dirs:
            n = 0
            while n < len(parts) and n < len(d) and parts[n] == d[n]:
                n += 1
            best = max(best, n)
        return best

    def key(path: str) -> tuple[int, int, int, str]:
        stem = PurePosixPath(path).stem.casefold()
        named = 0 if stem == cls else 1 if cls in stem else 2
        return named, -shared(path), path.endswith(HEADER_SUFFIXES), path

    return sorted(files, key=key)


def rank_callers(
    sites: Sequence[CallSite], *, recent: Iterable[str] = (), stack_paths: Sequence[str] = ()
) -> list[CallSite]:
    """Call sites, best first: in files changed recently, then in the stack's subsystem (sharing the most
    leading directories with a stack frame's file), then by path. One site per calling function."""
    recent_set = set(recent)
    dirs = [PurePosixPath(p).parent.parts for p in stack_paths]

    def subsystem(path: str) -> int:
        parts = PurePosixPath(path).parent.parts
        return max((_shared(parts, d) for d in dirs), default=0)

    ordered = sorted(sites, key=lambda s: (s.path not in recent_set, -subsystem(s.path), s.path, s.line))
    out: list[CallSite] = []
    seen: set[tuple[str, int]] = set()
    for s in ordered:
        if (s.path, s.start) in seen:
            continue
        seen.add((s.path, s.start))
        out.append(s)
    return out


def _shared(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def sibling_paths(path: str, files: Iterable[str]) -> list[str]:
    """The other halves of ``path``: ``Unit.h`` for ``Unit.cpp`` and back, same directory first, then the
    same file name anywhere in the tree."""
    p = PurePosixPath(path)
    stem = p.stem
    wanted = HEADER_SUFFIXES if p.suffix in (".cpp", ".cc", ".cxx", ".c") else (".cpp", ".cc", ".cxx", ".c")
    same_dir: list[str] = []
    elsewhere: list[str] = []
    for f in files:
        q = PurePosixPath(f)
        if q.stem == stem and q.suffix in wanted and f != path:
            (same_dir if q.parent == p.parent else elsewhere).append(f)
    return sorted(same_dir) + sorted(elsewhere)
