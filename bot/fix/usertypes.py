"""Leads from a library-only stack: the application's own types named in the template arguments of the
library frames, followed to the code that uses containers of them.

When no frame of the crashing thread maps into the checkout, the stack is often all library code (libc's
``_int_free`` and ``malloc_printerr``, ``std::``, ``__gnu_cxx::``), yet the library frames' template
arguments name the application's types: ``__gnu_cxx::new_allocator<std::_List_node<NPCFlags> >::deallocate``
says a ``std::list<NPCFlags>`` was being freed (a double free, a list corrupted by an erase in a loop). An
engineer reading such a stack searches the tree for containers of that type, for the typedefs of them and
for the variables they declare, and reads the functions that change those containers first. So does this
module, bounded by the :class:`~bot.fix.locate.Locator`'s limits, and it shows the best few functions as
:class:`~bot.fix.context.CodeContext`\\ s whose note says how they were found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.crash.model import Crash, Frame
from bot.fix.context import CodeContext, ContextKind, FunctionIndex, code_view, extract, render
from bot.fix.locate import HEADER_SUFFIXES, Locator

MAX_TYPES = 3  # user types followed per crash (innermost frame first)
MAX_SHOWN = 3  # functions shown
MAX_LEAD_LINES = 80  # lines of code per function shown
MAX_NAMES = 6  # typedef names and variables followed per type
MAX_NAME_CHARS = 4096  # a frame's function name is read this far
MAX_SOURCE_LINE = 2000  # longer source lines (generated tables) are not matched

# Namespaces of the C++ runtime and the libraries a worldserver links: their types are never the lead.
LIBRARY_SCOPES = frozenset(
    {"std", "__gnu_cxx", "__cxxabiv1", "__gnu_debug", "__pstl", "__detail", "boost", "tbb", "fmt", "absl"}
)
# C runtime and allocator functions whose frames are library code whatever their module.
RUNTIME_FUNCTIONS = frozenset(
    {
        "_int_free",
        "_int_malloc",
        "_int_realloc",
        "malloc_printerr",
        "__libc_message",
        "__libc_free",
        "__libc_malloc",
        "free",
        "malloc",
        "realloc",
        "calloc",
        "cfree",
        "abort",
        "raise",
        "__GI_raise",
        "__GI_abort",
        "pthread_kill",
        "__pthread_kill_implementation",
        "__pthread_kill_internal",
        "__cxa_throw",
        "__cxa_rethrow",
        "__cxa_pure_virtual",
        "__assert_fail",
        "__assert_fail_base",
        "__fortify_fail",
        "__stack_chk_fail",
        "__chk_fail",
        "operator delete",
        "operator new",
    }
)
_LIBRARY_MODULE = re.compile(
    r"^(?:lib(?:c|stdc\+\+|pthread|gcc_s|m|dl|boost_\w+|tbb\w*)(?:-[\d.]+)?\.so(?:\.[\d.]+)?"
    r"|ld-linux[\w.-]*|msvcp\w*\.dll|vcruntime\w*\.dll|ucrtbase\w*\.dll|ntdll\.dll|kernel(?:32|base)\.dll)$",
    re.IGNORECASE,
)
# Names in template arguments that are not the application's types.
_BUILTIN = frozenset(
    {
        "void",
        "bool",
        "char",
        "wchar_t",
        "char8_t",
        "char16_t",
        "char32_t",
        "short",
        "int",
        "long",
        "signed",
        "unsigned",
        "float",
        "double",
        "auto",
        "const",
        "volatile",
        "enum",
        "struct",
        "class",
        "union",
        "typename",
        "decltype",
        "lambda",
        "anonymous",
        "namespace",
        "true",
        "false",
        "nullptr_t",
        "size_t",
        "ssize_t",
        "ptrdiff_t",
        "intptr_t",
        "uintptr_t",
        "string",
    }
)
_FIXED_WIDTH = re.compile(r"^u?int(?:8|16|32|64)(?:_t)?$")
_TOKEN = re.compile(r"[A-Za-z_]\w*|::|[<>,(){}]")


class Family(StrEnum):
    """Which kind of container the library frames were working on (the search looks for this kind)."""

    LIST = "list"
    VECTOR = "vector"
    TREE = "map/set"
    HASH = "unordered map/set"
    DEQUE = "deque"
    SHARED = "shared_ptr"
    UNIQUE = "unique_ptr"


# Template names (last component) the library frames use, by family.
_FAMILY_OF = {
    **dict.fromkeys(
        ("list", "_List_node", "_List_base", "_List_iterator", "_List_const_iterator"), Family.LIST
    ),
    **dict.fromkeys(("forward_list", "_Fwd_list_node", "_Fwd_list_base"), Family.LIST),
    **dict.fromkeys(("vector", "_Vector_base"), Family.VECTOR),
    **dict.fromkeys(("map", "multimap", "set", "multiset", "_Rb_tree", "_Rb_tree_node"), Family.TREE),
    **dict.fromkeys(("_Rb_tree_iterator", "_Rb_tree_const_iterator"), Family.TREE),
    **dict.fromkeys(("unordered_map", "unordered_set", "unordered_multimap", "_Hashtable"), Family.HASH),
    **dict.fromkeys(("_Hash_node", "unordered_multiset"), Family.HASH),
    **dict.fromkeys(("deque", "_Deque_base", "_Deque_iterator", "queue", "stack"), Family.DEQUE),
    **dict.fromkeys(("shared_ptr", "__shared_ptr", "weak_ptr", "_Sp_counted_ptr"), Family.SHARED),
    **dict.fromkeys(("_Sp_counted_ptr_inplace", "enable_shared_from_this"), Family.SHARED),
    **dict.fromkeys(("unique_ptr", "default_delete"), Family.UNIQUE),
}
# What the source spells, by family.
_SPELLINGS = {
    Family.LIST: ("list", "forward_list"),
    Family.VECTOR: ("vector",),
    Family.TREE: ("map", "multimap", "set", "multiset"),
    Family.HASH: ("unordered_map", "unordered_multimap", "unordered_set", "unordered_multiset"),
    Family.DEQUE: ("deque", "queue", "stack"),
    Family.SHARED: ("shared_ptr", "weak_ptr", "make_shared"),
    Family.UNIQUE: ("unique_ptr", "make_unique"),
}
_ANY_CONTAINER = tuple(dict.fromkeys(s for spellings in _SPELLINGS.values() for s in spellings))
# Operations that change a container; the freeing ones first (a double free follows an erase or a clear).
_FREEING = ("erase", "remove", "remove_if", "clear", "pop_back", "pop_front", "reset", "splice")
_ADDING = (
    "push_back",
    "push_front",
    "emplace",
    "emplace_back",
    "emplace_front",
    "insert",
    "assign",
    "resize",
)
_MODIFY = re.compile(rf"(?:\.|->)\s*(?P<op>{'|'.join(_FREEING + _ADDING)})\s*\(")
_TYPEDEF = re.compile(r"\btypedef\b[^;]*?\b(?P<name>[A-Za-z_]\w*)\s*;")
_USING = re.compile(r"\busing\s+(?P<name>[A-Za-z_]\w*)\s*=")
# The name a declaration declares, after its type: ``  *name;``, ``&name =``, ``name[``, ``name)``.
_DECLARED_NAME = re.compile(r"\s*[&*]*\s*(?P<name>[A-Za-z_]\w*)\s*(?:[;=\[{,)]|$)")
_KEYWORDS = frozenset({"const", "return", "typename", "new", "delete", "operator", "static", "mutable"})


@dataclass(frozen=True)
class TypeLead:
    """An application type the library frames name: ``family`` is the container kind they were working on
    (None when no container is named), ``frame`` the library function that names it, ``verb`` what that
    function does to it (``free``, ``add to``, ``use``)."""

    type: str
    family: Family | None
    frame: str
    verb: str

    @property
    def what(self) -> str:
        """``a std::list of NPCFlags``"""
        if self.family is None:
            return f"a {self.type}"
        return f"a std::{self.family.value} of {self.type}"


@dataclass(frozen=True)
class Use:
    """A line that uses a container of the type: in ``function`` (lines ``start``..``end``; None for a
    declaration outside any function), changing it with ``op`` when it does, found ``how``."""

    path: str
    line: int
    function: str | None
    start: int
    end: int
    op: str | None
    how: str


# -- the library frames' user types (pure) ---------------------------------------------------------------


def is_library(frame: Frame) -> bool:
    """Whether ``frame`` is C/C++ runtime or library code (by its function's namespace, or its module)."""
    name = (frame.function or "").strip()
    if name in RUNTIME_FUNCTIONS:
        return True
    scope = _first_scope(name)
    if scope in LIBRARY_SCOPES or scope.startswith("__"):
        return True
    return bool(frame.module and _LIBRARY_MODULE.match(frame.module))


def _first_scope(name: str) -> str:
    """``std`` of ``void std::list<…>::remove`` (a leading return type skipped)."""
    head = name[:MAX_NAME_CHARS].split("<", 1)[0].split("(", 1)[0].strip()
    head = head.rsplit(" ", 1)[-1]
    return head.split("::", 1)[0]


def user_types(frames: Iterable[Frame]) -> list[TypeLead]:
    """The application types named in the template arguments of the library frames, innermost frame
    first, each once."""
    out: dict[str, TypeLead] = {}
    for frame in frames:
        if not frame.function or not is_library(frame):
            continue
        for name, family in _template_types(frame.function[:MAX_NAME_CHARS]):
            if name not in out:
                out[name] = TypeLead(name, family, frame.function, _verb(frame.function))
    return list(out.values())


def _template_types(function: str) -> list[tuple[str, Family | None]]:
    """(type, container family) for every application type inside ``function``'s template arguments."""
    tokens = _TOKEN.findall(function)
    owners: list[str] = []  # the template whose arguments we are in, innermost last
    braces = 0
    out: list[tuple[str, Family | None]] = []
    i = 0
    while i < len(tokens):
        piece = tokens[i]
        if piece in "{}":
            braces += 1 if piece == "{" else -1 if braces else 0
            i += 1
            continue
        if piece == ">":
            if owners:
                owners.pop()
            i += 1
            continue
        if piece in "<,()" or piece == "::":
            i += 1
            continue
        name, i = _qualified(tokens, i)
        following = tokens[i] if i < len(tokens) else ""
        if following == "<":
            owners.append(name)
            i += 1
        elif owners and not braces and following != "(" and _is_user_type(name):
            out.append((name, _family(owners)))
    return out


def _qualified(tokens: Sequence[str], i: int) -> tuple[str, int]:
    """The qualified name starting at ``tokens[i]`` (``a::b::c``) and the index after it."""
    parts = [tokens[i]]
    i += 1
    while i + 1 < len(tokens) and tokens[i] == "::" and tokens[i + 1] not in "<>,(){}::":
        parts.append(tokens[i + 1])
        i += 2
    return "::".join(parts), i


def _is_user_type(name: str) -> bool:
    first = name.split("::", 1)[0]
    last = name.rsplit("::", 1)[-1]
    if first in LIBRARY_SCOPES or first.startswith("__") or re.match(r"_[A-Z]", first):
        return False  # the runtime's own and reserved names (``_List_node``, ``__normal_iterator``)
    return last not in _BUILTIN and not _FIXED_WIDTH.match(last)


def _family(owners: Sequence[str]) -> Family | None:
    for owner in reversed(owners):
        family = _FAMILY_OF.get(owner.rsplit("::", 1)[-1])
        if family is not None:
            return family
    return None


def _verb(function: str) -> str:
    name = function.rsplit("::", 1)[-1].lower()
    if any(w in name for w in ("dealloc", "free", "destroy", "erase", "clear", "release", "remove", "~")):
        return "free"
    if any(w in name for w in ("alloc", "construct", "insert", "push", "emplace")):
        return "add to"
    return "use"


# -- following a type through the checkout ---------------------------------------------------------------


def leads(crash: Crash, locator: Locator, *, notes: list[str]) -> list[CodeContext]:
    """Code that uses containers of the application types the library frames name (asked when no frame of
    the crashing thread maps into the checkout); best few functions first, each with a note saying why."""
    types = user_types(crash.frames)[:MAX_TYPES]
    out: list[CodeContext] = []
    for lead in types:
        uses = _uses(lead, locator, notes)
        out += _show(lead, uses, locator, notes, room=MAX_SHOWN - len(out))
        if len(out) >= MAX_SHOWN:
            break
    return out


def _uses(lead: TypeLead, locator: Locator, notes: list[str]) -> list[Use]:
    """Every use found of a container of ``lead.type``: spelled out, through a typedef of it, and through
    the variables declared with either, bounded by the locator's limits."""
    spellings = _SPELLINGS[lead.family] if lead.family else _ANY_CONTAINER
    spelled = _container_re(spellings, lead.type)
    bare = lead.type.rsplit("::", 1)[-1]
    uses, names = _scan(
        locator,
        Scan(
            f"containers of {bare}",
            _fixed_forms(lead.type),
            (bare,),
            lambda line: _container_use(spelled, line),
        ),
        notes,
    )
    aliases = [n for n, kind in names.items() if kind == "alias"][:MAX_NAMES]
    if aliases:
        alias_re = re.compile(rf"(?<![\w:])(?:{'|'.join(map(re.escape, aliases))})\b")
        scan = Scan(
            f"uses of {', '.join(aliases)}", aliases, aliases, lambda line: _alias_use(alias_re, line)
        )
        more, found = _scan(locator, scan, notes)
        uses += more
        names.update(found)
    variables = [n for n, kind in names.items() if kind == "variable"][:MAX_NAMES]
    if variables:
        changed = re.compile(rf"(?<![\w.>])(?:{'|'.join(map(re.escape, variables))})\s*(?:\.|->)")
        forms = [f"{v}{sep}" for v in variables for sep in (".", "->")]
        scan = Scan(
            f"changes to {', '.join(variables)}",
            forms,
            variables,
            lambda line: _variable_change(changed, line),
        )
        more, _ = _scan(locator, scan, notes)
        uses += more
    unique = {(u.path, u.line): u for u in uses}
    return list(unique.values())


def _fixed_forms(type_name: str) -> list[str]:
    """Fixed strings a template argument list holding ``type_name`` contains (what ``git grep -F`` looks
    for: a regular expression costs it far more on a large tree; the lines read are checked exactly)."""
    bare = type_name.rsplit("::", 1)[-1]
    forms = [f"<{bare}{end}" for end in (">", " >", "*", " *", "&", ",", " ,")]
    forms += [f"<{kw} {bare}" for kw in ("enum", "struct", "class", "const")]
    forms += [f"{sep}{bare}{end}" for sep in (", ", ",") for end in (">", " >", "*", " *")]
    return forms


def _container_re(spellings: Sequence[str], type_name: str) -> re.Pattern[str]:
    bare = re.escape(type_name.rsplit("::", 1)[-1])
    names = "|".join(map(re.escape, spellings))
    # the container's ``<``, then (bounded, within one declaration) the type as a template argument
    return re.compile(
        rf"(?<![\w])(?P<container>{names})\s*<(?P<before>[^;{{}}()]{{0,300}}?)"
        rf"(?<![\w:])(?:(?:enum|struct|class|const)\s+)?(?:\w+::)?{bare}\b"
    )


# What a scan asks of each line: how it uses the type and the names it declares, or None.
Finder = Callable[[str], "tuple[str, dict[str, str]] | None"]


def _container_use(spelled: re.Pattern[str], line: str) -> tuple[str, dict[str, str]] | None:
    """How ``line`` uses a container of the type (``spells std::list<NPCFlags>``), and the typedef or
    variable names it declares; None when it does not."""
    m = spelled.search(line)
    if m is None:
        return None
    names: dict[str, str] = {}
    alias = _TYPEDEF.search(line) or _USING.search(line)
    if alias:
        names[alias["name"]] = "alias"
    else:
        variable = _declared_after(line, m.start("container"))
        if variable:
            names[variable] = "variable"
    return f"spells {m['container']}<…{m.group(0).rsplit('<', 1)[-1].strip()}…>", names


def _alias_use(alias_re: re.Pattern[str], line: str) -> tuple[str, dict[str, str]] | None:
    m = alias_re.search(line)
    if m is None or _TYPEDEF.search(line) or _USING.search(line):
        return None
    names: dict[str, str] = {}
    after = _DECLARED_NAME.match(line[m.end() :])
    if after and after["name"] not in _KEYWORDS:
        names[after["name"]] = "variable"
    return f"uses {m.group(0)}", names


def _variable_change(changed: re.Pattern[str], line: str) -> tuple[str, dict[str, str]] | None:
    m = changed.search(line)
    op = _MODIFY.match(line, m.end() - 2 if m and m.group(0).endswith("->") else m.end() - 1) if m else None
    if m is None or op is None:
        return None
    return f"{' '.join(m.group(0).split())}{op['op']}(…)", {}


def _declared_after(line: str, start: int) -> str | None:
    """The variable a declaration ``container<…> name`` starting at ``start`` declares, if it does."""
    depth = 0
    for i in range(start, min(len(line), start + MAX_SOURCE_LINE)):
        ch = line[i]
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
            if depth == 0:
                after = _DECLARED_NAME.match(line[i + 1 :])
                if after and after["name"] not in _KEYWORDS:
                    return after["name"]
                return None
    return None


@dataclass(frozen=True)
class Scan:
    """One bounded pass over the checkout: the files holding any of ``forms`` (fixed strings), their
    lines holding any of ``needles`` asked of ``finder``; ``what`` names it in notes."""

    what: str
    forms: Sequence[str]
    needles: Sequence[str]
    finder: Finder


def _scan(locator: Locator, scan: Scan, notes: list[str]) -> tuple[list[Use], dict[str, str]]:
    """The uses ``scan`` finds, and the typedef and variable names they declare."""
    files, more = locator.files_with(*scan.forms)
    notes.extend(more)
    files.sort(key=lambda p: (p.endswith(HEADER_SUFFIXES), p))
    limit = locator.limits.max_files
    if len(files) > limit:
        notes.append(f"{scan.what}: {len(files)} files may hold them; read the first {limit} (sources first)")
        files = files[:limit]
    uses: list[Use] = []
    names: dict[str, str] = {}
    for path in files:
        if locator.over_budget(notes, scan.what):
            break
        text = locator.read(path)
        if text is None:
            continue
        code = code_view(text)
        index: FunctionIndex | None = None
        for number, line in enumerate(code.split("\n"), start=1):
            if len(line) > MAX_SOURCE_LINE or not any(n in line for n in scan.needles):
                continue
            found = scan.finder(line)
            if found is None:
                continue
            how, declared = found
            index = index or FunctionIndex(code)
            enclosing = _function_at(index, number)
            for name, kind in declared.items():
                # a member or a global: what other functions change; a local or a parameter is its
                # function's own, and that function is already a use
                if kind == "alias" or enclosing is None:
                    names.setdefault(name, kind)
            op = _MODIFY.search(line)
            start, end, function = enclosing if enclosing else (number, number, None)
            uses.append(Use(path, number, function, start, end, op["op"] if op else None, how))
    return uses, names


def _function_at(index: FunctionIndex, number: int) -> tuple[int, int, str | None] | None:
    """The function whose body or header (a parameter list, up to a few lines above its ``{``) holds line
    ``number``; None for a line outside every function (a member, a global, a typedef)."""
    for line in range(number, number + 4):
        found = index.enclosing(line)
        if found is not None and found[0] <= number:
            return found
    return None


def _rank(uses: Iterable[Use], lead: TypeLead) -> list[Use]:
    """Best first, one per function: inside a function before declarations, changing the container before
    reading it (an erase or a clear before a push when the library frames were freeing), .cpp before
    headers; then by place."""
    freeing = lead.verb == "free"

    def key(u: Use) -> tuple[bool, bool, bool, bool, str, int]:
        return (
            u.function is None,
            u.op is None,
            freeing and u.op not in _FREEING,
            u.path.endswith(HEADER_SUFFIXES),
            u.path,
            u.line,
        )

    out: list[Use] = []
    seen: set[tuple[str, int]] = set()
    for u in sorted(uses, key=key):
        if (u.path, u.start) not in seen:
            seen.add((u.path, u.start))
            out.append(u)
    return out


def _context(text: str, use: Use) -> CodeContext | None:
    """The function around ``use`` (from its body when the use is in the function's parameter list)."""
    ctx = None
    for line in range(use.line, use.line + 4 if use.function else use.line + 1):
        ctx = extract(text, line, path=use.path, context_lines=30, max_lines=MAX_LEAD_LINES)
        if ctx is None or ctx.function is not None:
            break
    if ctx is None or ctx.line == use.line or ctx.kind is not ContextKind.FUNCTION or ctx.start > use.line:
        return ctx
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return replace(ctx, line=use.line, text=render(lines, list(range(ctx.start, ctx.end + 1)), use.line))


def _show(
    lead: TypeLead, uses: Sequence[Use], locator: Locator, notes: list[str], *, room: int
) -> list[CodeContext]:
    """Contexts of the best ``room`` uses, and a note on what was found and shown."""
    frame = lead.frame if len(lead.frame) <= 120 else lead.frame[:117] + "…"
    said = (
        "no frame of the crashing thread maps into the checkout; "
        f"its library frames {lead.verb} {lead.what} ({frame})"
    )
    if not uses:
        notes.append(f"{said}, but no use of a container of {lead.type} was found in the checkout")
        return []
    ranked = _rank(uses, lead)
    out: list[CodeContext] = []
    for use in ranked:
        if len(out) >= room:
            break
        text = locator.read(use.path)
        ctx = _context(text, use) if text else None
        if ctx is None:
            continue
        change = f", {use.op}" if use.op and use.op not in use.how else ""
        note = (
            f"no frame maps; the library frames {lead.verb} {lead.what}; it is used here ({use.how}{change})"
        )
        out.append(replace(ctx, note=note))
    files = len({u.path for u in uses})
    functions = sum(1 for u in ranked if u.function is not None)
    where = ", ".join(f"{c.path}:{c.line} ({c.function or 'a declaration'})" for c in out)
    notes.append(
        f"{said}: {len(uses)} uses in {files} files ({functions} functions, "
        f"{len(ranked) - functions} declarations outside functions); showing {len(out)}"
        f"{', best first: ' + where if where else ''}"
    )
    return out
