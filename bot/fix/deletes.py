"""Where else an object is deleted, when the crash is inside its destructor.

A crash inside ``X::~X`` (an access violation in the destructor, heap corruption or a double free reached
from it) usually means the object was deleted twice, or deleted while something still used it: the bug is
at *another* place that deletes an X, which the stack does not show (cmangos/issues#979: ``~WorldSession``
under ``~WorldSocket``, fixed in ``World::AddSession_``, which deleted a session a socket still owned;
cmangos/issues#959: ``~Spell``, fixed in ``PetAI::UpdateAI``, which kept a ``Spell*`` in a list and also
deleted it). An engineer reading such a stack asks where else an X is deleted and which of those places
changed recently. So does this module: it finds the ``delete`` statements whose operand is declared as an
``X*`` (a parameter or local of the enclosing function, ``auto* v = new X(…)``, a member declared in the
file or in its class's header, an element of a container of ``X*``), leaves out the delete already on the
stack, ranks them like call sites and shows the best few as :class:`~bot.fix.context.CodeContext`\\ s.

A ``delete p`` whose operand's type cannot be told from those declarations is not claimed. The search is
bounded by the :class:`~bot.fix.locate.Locator`'s limits (files read, time) and says when it was cut."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.fix import budget
from bot.fix.blame import recently_changed
from bot.fix.context import CodeContext, FunctionIndex, code_view
from bot.fix.locate import (
    HEADER_SUFFIXES,
    CallSite,
    Locator,
    name_matches,
    rank_callers,
    rank_files,
    sibling_paths,
    site_contexts,
    split_name,
)
from bot.git import Git

TOP_FRAMES = 2  # a destructor this near the top of the crashing thread (the frames the plan keeps)
MAX_HEADERS = 2  # headers read per file to find the class's members
MAX_SOURCE_LINE = 2000  # longer lines (generated tables) are not searched for declarations
MAX_OPERAND = 200  # a delete's operand is read this far
CHEAP_READS = 4  # files read cheaply (a word search) per file searched for deletes
MAX_NAME_CHARS = 512  # a frame's function name is read this far
# Namespaces of the C++ runtime and the libraries a server links: their destructors are never the lead.
LIBRARY_SCOPES = frozenset(
    {
        "std",
        "__gnu_cxx",
        "__cxxabiv1",
        "__gnu_debug",
        "__detail",
        "boost",
        "tbb",
        "fmt",
        "absl",
        "ACE",
        "asio",
    }
)
NOTE = "deletes a {cls} (the crash is inside ~{cls}: deleted twice, or deleted while still in use?)"

# MSVC names the destructor a ``delete`` calls ``X::`scalar deleting destructor'``.
_MSVC_DELETING_RE = re.compile(r"^\s*((?:\w+::)*\w+)::`(?:scalar|vector) deleting destructor'")
# ``delete p;`` ``delete[] p;`` ``delete (a->b);`` (blanked code: no comments or strings); linear: the
# operand is a bounded run without ``;``
_DELETE_RE = re.compile(rf"\bdelete\b(\s*\[\s*\])?([^;{{}}]{{1,{MAX_OPERAND}}});")
_NAME = r"[A-Za-z_]\w*"
# what a delete's operand can be: ``v``, ``a->b.c``, ``*it``, ``it->second``, ``c[i]``, ``c.front()``
_CHAIN_RE = re.compile(
    rf"^(\*?)\s*({_NAME}(?:\s*(?:\.|->)\s*{_NAME})*)\s*(\[[^\[\]]*\]|\.\s*(?:front|back)\(\))?$"
)
_ELEMENT_MEMBERS = frozenset({"second", "first"})
_DELETE_WORD = re.compile(r"\bdelete\b")


@dataclass(frozen=True)
class Destroyed:
    """The class whose destructor the crash is inside, and the frame that called it (its delete is the
    one already on the stack)."""

    cls: str
    scopes: tuple[str, ...]
    caller: str | None


def destroyed(frame_plan: budget.Plan) -> Destroyed | None:
    """The application class whose destructor is among the first frames of the crashing thread that the
    frame plan keeps (a library's, ``std::`` or ``boost::``, is not one); None when there is none."""
    thread = [c for c in frame_plan.candidates if c.stack is None]
    for i, cand in enumerate(thread[:TOP_FRAMES]):
        name = _destructor_class(cand.frame.function or "")
        if name is None or budget.is_library(cand.frame):
            continue
        scopes, cls = name
        if set(scopes) & LIBRARY_SCOPES or cls.startswith("_"):
            continue
        caller = next((c.frame.function for c in thread[i + 1 :] if c.frame.function), None)
        return Destroyed(cls, scopes, caller)
    return None


def _destructor_class(function: str) -> tuple[tuple[str, ...], str] | None:
    function = function[:MAX_NAME_CHARS]
    msvc = _MSVC_DELETING_RE.match(function)
    if msvc:
        *scopes, cls = msvc[1].split("::")
        return tuple(scopes), cls
    parts = split_name(function)
    if parts is None or not parts[0] or parts[1] != f"~{parts[0][-1]}":
        return None
    return parts[0][:-1], parts[0][-1]


def delete_sites(
    git: Git,
    frame_plan: budget.Plan,
    locator: Locator,
    files: Sequence[str],
    *,
    stack_paths: Sequence[str],
    shown: Sequence[CodeContext],
    notes: list[str],
) -> list[CodeContext]:
    """The best few other places that delete the object whose destructor crashed, with context, best
    first (changed recently, then in the stack's subsystem); notes say how many were found."""
    target = destroyed(frame_plan)
    if target is None:
        return []
    sites = find(target, locator, files, stack_paths=stack_paths, shown=shown, notes=notes)
    cls = target.cls
    if not sites:
        notes.append(f"the crash is inside ~{cls}; no other delete of a {cls} was found")
        return []
    recent = recently_changed(git, {s.path for s in sites})
    ranked = rank_callers(sites, recent=recent, stack_paths=stack_paths)
    notes.append(
        f"the crash is inside ~{cls}: a {cls} is deleted at {len(sites)} places in {len(ranked)} functions "
        f"the stack does not show (deleted twice, or while still in use?)"
    )
    return site_contexts(locator, ranked, recent=recent, note=NOTE.format(cls=cls))


def find(
    target: Destroyed,
    locator: Locator,
    files: Sequence[str],
    *,
    stack_paths: Sequence[str] = (),
    shown: Sequence[CodeContext] = (),
    notes: list[str],
) -> list[CallSite]:
    """Every delete of a ``target.cls`` in the likeliest files (naming the class, or the .cpp of a header
    that names it, and deleting something), outside ``shown`` code and the caller's function. Unranked."""
    cls = target.cls
    candidates, headers = _candidates(cls, locator, files, notes)
    exclude = [(c.path, c.start, c.end) for c in shown]
    out: list[CallSite] = []
    for path, text in _likeliest(
        cls, candidates=candidates, headers=headers, locator=locator, stack_paths=stack_paths, notes=notes
    ):
        if locator.over_budget(notes, f"deletes of a {cls}"):
            break
        for site in _sites_in(path, text, cls, locator, headers.get(path, ())):
            if any(p == path and s <= site.line <= e for p, s, e in exclude):
                continue
            if target.caller and name_matches(site.caller, target.caller):
                continue  # the delete already on the stack
            out.append(site)
    return out


def _candidates(
    cls: str, locator: Locator, files: Sequence[str], notes: list[str]
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Files that delete something and name ``cls`` or sit beside a header that does; and for each of
    them the headers beside it that name ``cls`` (where its class's members may be declared)."""
    naming, more = locator.files_with(cls)
    notes += more
    deleting, more = locator.files_with("delete")
    notes += more
    named = set(naming)
    by_stem: dict[str, list[str]] = {}
    for f in files:
        by_stem.setdefault(PurePosixPath(f).stem, []).append(f)
    headers: dict[str, tuple[str, ...]] = {}
    found: list[str] = []
    for path in deleting:
        beside = (
            ()
            if path.endswith(HEADER_SUFFIXES)
            else sibling_paths(path, by_stem.get(PurePosixPath(path).stem, ()))
        )
        headers[path] = tuple(h for h in beside if h in named)[:MAX_HEADERS]
        if path in named or headers[path]:
            found.append(path)
    return sorted(found), headers


def _likeliest(
    cls: str,
    *,
    candidates: Sequence[str],
    headers: dict[str, tuple[str, ...]],
    locator: Locator,
    stack_paths: Sequence[str],
    notes: list[str],
) -> list[tuple[str, str]]:
    """(path, text) of the files to search, at most ``max_files``: read cheaply first (a few times as
    many), those that create a ``cls`` or declare a pointer to one first, then named after it, then near
    the stack."""
    limit = locator.limits.max_files
    ranked = rank_files(list(candidates), (cls,), cls, stack_paths)
    if len(ranked) > limit * CHEAP_READS:
        notes.append(
            f"{len(ranked)} files name {cls} and delete something; searched the "
            f"{limit * CHEAP_READS} likeliest (named after it, near the stack) for deletes of a {cls}"
        )
        ranked = ranked[: limit * CHEAP_READS]
    word = re.compile(rf"\b{re.escape(cls)}\b")
    strong = re.compile(rf"\bnew\s+{re.escape(cls)}\b|\b{re.escape(cls)}\s*\*")
    scored: list[tuple[int, int, str, str]] = []
    for order, path in enumerate(ranked):
        if locator.over_budget(notes, f"deletes of a {cls}"):
            break
        text = locator.read(path)
        if text is None or not _DELETE_WORD.search(text):
            continue
        if not word.search(text) and not headers.get(path):
            continue  # names it only inside a longer name (``SpellMgr`` for ``Spell``)
        scored.append((0 if strong.search(text) else 1, order, path, text))
    scored.sort(key=lambda t: t[:2])
    if len(scored) > limit:
        notes.append(
            f"{len(scored)} files may delete a {cls}; read the {limit} likeliest (creating one or "
            "declaring a pointer to one, named after it, near the stack)"
        )
    return [(path, text) for _, _, path, text in scored[:limit]]


def _sites_in(path: str, text: str, cls: str, locator: Locator, headers: Sequence[str]) -> Iterable[CallSite]:
    """The deletes of a ``cls`` in one file; ``headers`` are those beside it that name ``cls``."""
    index = FunctionIndex(code_view(text))
    code = index.code
    scope = _Scope(cls, index, locator, headers)
    lines = code.split("\n")
    for m in _DELETE_RE.finditer(code):
        before = code[max(0, m.start() - 16) : m.start()].rstrip()
        if before.endswith(("=", "operator")):
            continue  # ``= delete;`` (a deleted function), ``operator delete``
        line = index.line_of(m.start())
        enclosing = index.enclosing(line)
        if enclosing is None:
            continue
        start, end, name = enclosing
        function = "\n".join(lines[start - 1 : line])  # its parameters and the locals declared so far
        if scope.deletes_target(m[2], function, name):
            yield CallSite(path, line, name, start, end)


class _Scope:
    """Where the operand of a delete in one file may be declared: the enclosing function (parameters and
    locals), the file itself (members of a class defined there, globals) and the headers beside it."""

    def __init__(self, cls: str, index: FunctionIndex, locator: Locator, headers: Sequence[str]) -> None:
        self.cls = cls
        self.index = index
        self._locator = locator
        self._header_paths = headers
        self._headers: list[FunctionIndex] | None = None
        self._typedefs: set[str] | None = None  # of the file and the headers
        self._pointer = re.compile(rf"(?<!\w)(?:const\s+)?{re.escape(cls)}\s*(?:const\s*)?\*")

    def deletes_target(self, operand: str, function: str, enclosing: str | None) -> bool:
        text = " ".join(operand.split())
        while text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        if text == "this":
            parts = split_name(enclosing or "")
            return bool(parts and parts[0] and parts[0][-1] == self.cls)
        m = _CHAIN_RE.match(text)
        if m is None:
            return False  # a cast, a call, arithmetic: not told
        deref, chain, subscript = m[1], re.split(r"\s*(?:\.|->)\s*", m[2]), m[3]
        if deref or subscript or (len(chain) > 1 and chain[-1] in _ELEMENT_MEMBERS):
            name = chain[0] if (deref or chain[-1] in _ELEMENT_MEMBERS) and not subscript else chain[-1]
            return self._holds_elements(name, function)
        if len(chain) == 1 and self._element_variable(chain[0], function):
            return True
        return self._declared_pointer(chain[-1], function, member=len(chain) > 1)

    def _declared_pointer(self, name: str, function: str, *, member: bool) -> bool:
        """``name`` is declared ``X* name`` (or ``auto* name = new X``) in the function; else, when the
        function does not declare it, as a member or global ``X* name`` of the file or a header beside it."""
        decl = re.compile(rf"{self._pointer.pattern}\s*(?:const\s+)?{re.escape(name)}\b(?!\s*\()")
        if not member:
            auto = re.compile(rf"\bauto\s*\*?\s*{re.escape(name)}\s*=\s*new\s+{re.escape(self.cls)}\b")
            if _search_lines(function, name, decl) or _search_lines(function, name, auto):
                return True
            if _declares(function, name):
                return False  # a local or parameter of another type (or of a type not told)
        return any(_outside_functions(index, name, decl) for index in self._indexes())

    def _element_variable(self, name: str, function: str) -> bool:
        """``for (auto* name : c)`` (or ``auto&``) over a container of ``X*``."""
        loop = re.compile(
            rf"\bfor\s*\(\s*(?:const\s+)?auto\s*[*&]*\s*(?:const\s+)?{re.escape(name)}\s*:\s*([^;()]+)\)"
        )
        for line in _lines_with(function, name):
            m = loop.search(line)
            if m and self._container_of_target(_last_name(m[1]), function):
                return True
        return False

    def _holds_elements(self, name: str, function: str) -> bool:
        """``name`` (an iterator, a range-for variable or the container itself) reaches the elements of a
        container of ``X*``."""
        if self._container_of_target(name, function):
            return True
        source = self._iterated(name, function)
        return source is not None and self._container_of_target(source, function)

    def _iterated(self, name: str, function: str) -> str | None:
        """The container ``name`` iterates: ``for (auto& name : c)``, ``name = c.begin()``/``c.find(k)``, or
        a typedef'd container type ``List::iterator name``."""
        n = re.escape(name)
        loop = re.compile(rf"\bfor\s*\([^;()]*?\b{n}\s*:\s*([^;()]+)\)")
        assign = re.compile(rf"\b{n}\s*=\s*([\w.>\-\s]{{1,120}}?)\s*(?:\.|->)\s*\w+\s*\(")
        typed = re.compile(rf"\b({_NAME})\s*::\s*(?:const_)?(?:reverse_)?iterator\s+{n}\b")
        for line in _lines_with(function, name):
            for pattern in (loop, assign):
                m = pattern.search(line)
                if m:
                    return _last_name(m[1])
            m = typed.search(line)
            if m and m[1] in self._element_typedefs(function):
                return m[1]
        return None

    def _container_of_target(self, name: str, function: str) -> bool:
        """``name`` is a container of ``X*`` (``std::list<X*> name``) or of a typedef of one, or such a
        typedef itself."""
        if not name:
            return False
        typedefs = self._element_typedefs(function)
        if name in typedefs:
            return True
        decl = re.compile(rf"(?:<([^;{{}}]*)>|\b({_NAME}))\s*[&*]?\s*{re.escape(name)}\s*(?:[;={{,)\[]|$)")
        for text in (function, self.index.code, *self._header_texts()):
            for line in _lines_with(text, name):
                m = decl.search(line)
                if m and ((m[1] and self._pointer.search(m[1])) or (m[2] and m[2] in typedefs)):
                    return True
        return False

    def _element_typedefs(self, function: str) -> set[str]:
        """Names of ``typedef``/``using`` container types with ``X*`` elements in reach."""
        if self._typedefs is None:
            self._typedefs = self._aliases(self.index.code, *self._header_texts())
        return self._typedefs | self._aliases(function)

    def _aliases(self, *texts: str) -> set[str]:
        out: set[str] = set()
        for text in texts:
            for line in _lines_with(text, self.cls):
                alias = _alias(line)
                if alias and "<" in alias[1] and self._pointer.search(alias[1]):
                    out.add(alias[0])
        return out

    def _header_texts(self) -> list[str]:
        return [index.code for index in self._indexes()[1:]]

    def _indexes(self) -> list[FunctionIndex]:
        """The file's own index, then the headers' (read once, when a member must be looked up)."""
        if self._headers is None:
            texts = (self._locator.read(h) for h in self._header_paths)
            self._headers = [FunctionIndex(code_view(t)) for t in texts if t is not None]
        return [self.index, *self._headers]


_NOT_A_TYPE = frozenset({"return", "delete", "throw", "case", "new", "else", "sizeof", "do", "co_return"})


def _declares(function: str, name: str) -> bool:
    """Does ``function`` (its parameter list and body so far) declare ``name``: a type name, ``*``, ``&``
    or ``>`` before it, and ``=``, ``;``, ``,``, ``)``, ``(``, ``{``, ``[`` or ``:`` after it."""
    pattern = re.compile(rf"(?:\b({_NAME})|[>*&])\s*\b{re.escape(name)}\s*(?:[=;,)\[{{(:]|$)")
    for line in _lines_with(function, name):
        for m in pattern.finditer(line):
            if m[1] not in _NOT_A_TYPE:
                return True
    return False


def _outside_functions(index: FunctionIndex, word: str, pattern: re.Pattern[str]) -> bool:
    """Does ``pattern`` match a line of ``index``'s code that no function body holds (a class member, a
    global)?"""
    if word not in index.code:
        return False
    for number, line in enumerate(index.code.split("\n"), start=1):
        cheap = word in line and len(line) <= MAX_SOURCE_LINE and pattern.search(line)
        if cheap and index.enclosing(number) is None:
            return True
    return False


def _alias(line: str) -> tuple[str, str] | None:
    """(name, definition) of a one-line ``typedef`` or ``using`` alias (read without a regular expression
    that could backtrack over a long line)."""
    if "typedef" in line:
        definition = line[line.index("typedef") + len("typedef") :].split(";", 1)[0]
        name = _last_name(definition)
        return (name, definition[: definition.rindex(name)]) if name else None
    m = _USING_RE.search(line)
    return (m[1], m[2]) if m else None


_USING_RE = re.compile(rf"\busing\s+({_NAME})\s*=([^;]*)")


def _lines_with(text: str, word: str) -> Iterable[str]:
    """The lines of ``text`` that mention ``word``, short enough to search."""
    if word not in text:
        return
    for line in text.split("\n"):
        if word in line and len(line) <= MAX_SOURCE_LINE:
            yield line


def _search_lines(text: str, word: str, pattern: re.Pattern[str]) -> bool:
    return any(pattern.search(line) for line in _lines_with(text, word))


def _last_name(expr: str) -> str:
    names = re.findall(_NAME, expr)
    return names[-1] if names else ""
