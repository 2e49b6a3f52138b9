"""Find C++ functions by name in a checkout: where a function is defined (for frames that name a function
but no file, and for anchoring a context on the function a frame names) and where it is called from (for
assertion-only and accessor crashes, whose bug is in a caller the stack does not show).

``git grep`` does the searching, bounded by :class:`Limits` (time, files, hits), so a 100,000-file tree or a
name that appears in 500 files costs seconds and yields a note, never a hang."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from bot.errors import GitError
from bot.fix.context import CodeContext, FunctionIndex, code_view, extract
from bot.git import Git

logger = logging.getLogger(__name__)

SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".c", ".h", ".hpp", ".hh", ".hxx", ".inl", ".ipp")
HEADER_SUFFIXES = (".h", ".hpp", ".hh", ".hxx", ".inl", ".ipp")
_IDENT_RE = re.compile(r"^[A-Za-z_~]\w*$")
MAX_NAME_CHARS = 512  # longer (template arguments dropped) is a hostile report's, and too long for git's argv
SITES_SHOWN = 3  # call or delete sites shown with their code
SITE_LINES = 60  # lines of code around each


@dataclass(frozen=True)
class Limits:
    """Bounds for one search. Measured on a TrinityCore-size tree (README: "Bounds")."""

    timeout_s: float = 20.0  # one git grep
    total_s: float = 60.0  # all searches of one analysis together
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
    text = re.sub(r"\[abi:\w+\]", "", text)  # gdb's ABI tags: Object::GetGuidStr[abi:cxx11]
    text = _strip_brackets(text, "(", ")")
    text = _strip_brackets(text, "<", ">")
    text = re.sub(r"\s+", "", text)
    parts = [p for p in text.split("::") if p]
    if not parts or len(text) > MAX_NAME_CHARS or any(not _IDENT_RE.match(p) for p in parts):
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


def definitions_in_text(
    text: str, function: str, *, index: FunctionIndex | None = None
) -> list[tuple[int, int, str]]:
    """Every (start, end, name) function body in ``text`` whose name matches ``function``; ``index`` is
    ``text``'s, when the caller asks about many names in one file."""
    parts = split_name(function)
    if parts is None:
        return []
    bare = parts[1]
    pattern = re.compile(rf"(?<![\w.>]){re.escape(bare)}\s*(?:<[^;{{}}()]*>)?\s*\(")
    # cheap test on the raw text first: a definition is the name, a parameter list, then a body
    plausible = rf"(?<![\w.>]){re.escape(bare)}\s*(?:<[^;{{}}()]*>)?\s*\([^;{{}}]*\)[^;{{}}]*\{{"
    if not re.search(plausible, text):
        return []
    index = index or FunctionIndex(code_view(text))
    lines = index.code.split("\n")
    out: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    for number, line in enumerate(lines, start=1):
        if not pattern.search(line):
            continue
        body = _body_after(lines, number)
        found = index.enclosing(body) if body is not None else None
        if found is None or found[0] in seen:
            continue
        start, end, name = found
        if not (start <= number <= body and name_matches(name, function)):  # type: ignore[operator]
            continue
        if parts[0] and name and "::" not in name:  # defined inside a class body: which class?
            cls = class_at(index, start)
            if cls != parts[0][-1]:
                continue
            name = f"{cls}::{name}"
        seen.add(start)
        out.append((start, end, name or bare))
    return out


_CLASS_RE = re.compile(r"\b(?:class|struct)\s+(?:[A-Z_][A-Z0-9_]*\s+)?(\w+)\s*(?:final\s*)?(?::[^{;]*)?\{")


def class_at(index: FunctionIndex, line: int) -> str | None:
    """The innermost class or struct whose body holds ``line``, or None."""
    best: tuple[int, str] | None = None
    for m in _CLASS_RE.finditer(index.code):
        open_at = m.end() - 1
        close = index.pairs.get(open_at)
        if close is None:
            continue
        first = index.line_of(open_at)
        if first > line:
            break
        if index.line_of(close) >= line:
            best = (first, m[1])
    return best[1] if best else None


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
        self._started = time.monotonic()  # all searches of this analysis share limits.total_s

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
            return Search((), (f"{function[:160]!r} is not a name a definition can be searched by",))
        scopes, bare = parts
        files, notes = self.files_with(bare)
        declaring: list[str] = []
        if scopes and len(files) > self.limits.max_files:  # read the files that declare the class first
            declaring, more = self.files_with(f"class {scopes[-1]}", f"struct {scopes[-1]}")
            notes += more
        files = rank_files(files, scopes, bare, near, first=declaring)
        if len(files) > self.limits.max_files:
            notes.append(
                f"{bare!r} appears in {len(files)} files; read the {self.limits.max_files} likeliest "
                "(declaring its class, named after it, near the other frames)"
            )
            files = files[: self.limits.max_files]
        found: list[Definition] = []
        for path in files:
            if self.over_budget(notes, f"definitions of {bare!r}"):
                break
            text = self.read(path)
            if text is not None:
                found.extend(Definition(path, s, e, n) for s, e, n in definitions_in_text(text, function))
        found.sort(key=lambda d: (_scope_rank(d, scopes), d.path.endswith(HEADER_SUFFIXES), d.path))
        return Search(tuple(found), tuple(notes))

    def callers(
        self,
        function: str,
        *,
        exclude: Sequence[tuple[str, int, int]] = (),
        near: Sequence[str] = (),
    ) -> tuple[list[CallSite], list[str]]:
        """Call sites of ``function`` outside ``exclude`` ranges (path, start, end): its definition and the
        frames the stack already shows. When too many files call it, those nearest ``near`` are read.
        Unranked; see :func:`rank_callers`."""
        parts = split_name(function)
        if parts is None:
            return [], [f"{function[:160]!r} is not a name call sites can be searched by"]
        bare = parts[1]
        files, notes = self.files_with(bare)
        files = rank_files(files, (), "", near)
        if len(files) > self.limits.max_files:
            notes.append(
                f"{bare!r} is called from {len(files)} files; "
                f"read the {self.limits.max_files} nearest the stack"
            )
            files = files[: self.limits.max_files]
        out: list[CallSite] = []
        for path in files:
            if self.over_budget(notes, f"call sites of {bare!r}"):
                break
            out.extend(self.call_sites(path, function, exclude=exclude))
        return out, notes

    def call_sites(
        self, path: str, function: str, *, exclude: Sequence[tuple[str, int, int]] = ()
    ) -> list[CallSite]:
        """The lines of ``path`` that call ``function`` (see :func:`call_sites_in`)."""
        text = self.read(path) if split_name(function) is not None else None
        return call_sites_in(text, path, function, exclude=exclude) if text is not None else []

    def over_budget(self, notes: list[str], what: str) -> bool:
        """True (with a note, once) when this analysis's search time is spent."""
        if time.monotonic() - self._started < self.limits.total_s:
            return False
        note = f"search time ({self.limits.total_s:.0f} s) spent; stopped reading {what}"
        if note not in notes:
            notes.append(note)
        return True

    def files_with(self, *words: str) -> tuple[list[str], list[str]]:
        """Tracked C/C++ sources holding any of ``words`` (fixed strings, one line each: a regular expression
        costs git grep 5-30x more on a large tree; the files read are checked with the real pattern), and
        notes when the search was cut short; see :meth:`over_budget` before reading them."""
        remaining = self.limits.total_s - (time.monotonic() - self._started)
        if remaining <= 0:
            return [], [f"search time ({self.limits.total_s:.0f} s) spent; {words[0]!r} not searched"]
        git = self._git.with_timeout(min(self.limits.timeout_s, remaining))
        patterns = [arg for w in words for arg in ("-e", w)]
        globs = [f"*{s}" for s in SOURCE_SUFFIXES]
        try:
            out = git.run("grep", "-l", "-I", "-F", "--no-color", *patterns, "--", *globs, check=False)
        except GitError as e:
            return [], [f"search stopped: {e}"]
        return [line for line in out.splitlines() if line], []


def call_sites_in(
    text: str, path: str, function: str, *, exclude: Sequence[tuple[str, int, int]] = ()
) -> list[CallSite]:
    """The lines of ``text`` (the file ``path``) that call ``function``, outside ``exclude`` ranges, its
    definition and its declarations."""
    parts = split_name(function)
    if parts is None:
        return []
    call_re = re.compile(rf"(?<![\w~]){re.escape(parts[1])}\s*\(")
    if not call_re.search(text):
        return []
    index = FunctionIndex(code_view(text))
    out: list[CallSite] = []
    for number, line in enumerate(index.code.split("\n"), start=1):
        if not call_re.search(line) or any(p == path and s <= number <= e for p, s, e in exclude):
            continue
        enclosing = index.enclosing(number)
        if enclosing is None or name_matches(enclosing[2], function):
            continue  # a declaration, the definition itself, or a recursive call
        out.append(CallSite(path, number, enclosing[2], enclosing[0], enclosing[1]))
    return out


def _scope_rank(d: Definition, scopes: tuple[str, ...]) -> int:
    parts = split_name(d.name)
    return 0 if parts and scopes and parts[0][-1:] == scopes[-1:] else 1


def rank_files(
    files: list[str], scopes: tuple[str, ...], bare: str, near: Sequence[str], *, first: Sequence[str] = ()
) -> list[str]:
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

    declaring = {PurePosixPath(p).with_suffix("").as_posix() for p in first}

    def key(path: str) -> tuple[int, int, int, int, str]:
        stem = PurePosixPath(path).stem.casefold()
        named = 0 if stem == cls else 1 if cls in stem or (len(stem) >= 4 and stem in cls) else 2
        declares = 0 if PurePosixPath(path).with_suffix("").as_posix() in declaring else 1
        return declares, named, -shared(path), path.endswith(HEADER_SUFFIXES), path

    return sorted(files, key=key)


def site_contexts(
    locator: Locator, ranked: Sequence[CallSite], *, recent: Iterable[str], note: str
) -> list[CodeContext]:
    """The code around the best :data:`SITES_SHOWN` of ``ranked`` sites (callers, deletes), each with
    ``note``, after "changed recently; " for a site in a ``recent`` file."""
    recent = set(recent)
    out: list[CodeContext] = []
    for site in ranked[:SITES_SHOWN]:
        text = locator.read(site.path)
        ctx = (
            extract(text, site.line, path=site.path, context_lines=12, max_lines=SITE_LINES) if text else None
        )
        if ctx is not None:
            tag = "changed recently; " if site.path in recent else ""
            out.append(replace(ctx, note=tag + note))
    return out


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
