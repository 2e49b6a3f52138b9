"""An unnamed frame between two named ones, identified by its neighbours.

A release build's ``backtrace_symbols`` names only exported functions: a static function, one in an
anonymous namespace or a lambda prints as ``mangosd(+0x40e800)``; gdb prints ``?? ()``, Wheaty a
``section:offset``, a Visual Studio stack a bare address. A person reading such a stack asks: who calls the
frame above it (its callee) and is called by the frame below it (its caller)? This asks the checkout the
same question: the call sites of the callee (bounded by the locator's limits), preferring the functions
the caller's definition calls by name, directly or through a function of its own file (which the compiler
may have inlined into it). Only the unnamed frame next to a named callee can be inferred so: in a run of
unnamed frames the ones further down are not guessed at."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.crash.model import Crash, Frame
from bot.crash.normalize import normalize_function, normalize_module
from bot.fix import budget
from bot.fix.context import CodeContext, ContextKind, FunctionIndex, code_view, extract
from bot.fix.locate import (
    CallSite,
    Definition,
    Locator,
    class_at,
    definitions_in_text,
    name_matches,
    rank_callers,
    split_name,
)

INFERRED = "inferred from neighbours"
MAX_GAPS = 2  # unnamed frames inferred per analysis: each costs a search of the tree
MAX_SHOWN = 3  # candidates shown for one unnamed frame
MAX_CALLER_DEFINITIONS = 3
MAX_LINKAGE_CHECKS = 12  # candidates whose files are read again to tell internal from exported
MAX_HOPS = 40  # functions of the caller's own file followed one call deep (inlined into the caller?)
CONTEXT_LINES = 12
MAX_LINES = 60

_NO_NAME_RE = re.compile(r"\?+|<unknown[^>]*>")  # gdb's ??, <unknown> (fullmatch, on the stripped name)
_ZERO_RE = re.compile(r"^(?:0+:)?(?:0x)?0*$", re.IGNORECASE)
_CALL_RE = re.compile(r"(?<![\w~])([A-Za-z_]\w*)\s*\(")
# the end of a lambda's head: ``](World* world)``, ``] () mutable -> bool``, ``]``
_LAMBDA_RE = re.compile(r"\]\s*(?:\([^()]*\)\s*)?(?:mutable\s*)?(?:noexcept\s*)?(?:->[^{};()]*)?$")
_ANONYMOUS_RE = re.compile(r"\bnamespace\s*\{")
_KEYWORDS = "if for while switch return sizeof catch alignof decltype static_assert typeid new delete throw"
_NOT_CALLS = frozenset(
    (_KEYWORDS + " static_cast dynamic_cast const_cast reinterpret_cast defined").split(" ")
)


@dataclass(frozen=True)
class Gap:
    """Frame ``index`` of the crashing thread has no name; ``callee`` (frame index-1) is named, and so is
    ``caller`` (frame index+1) when it is not None."""

    index: int
    callee: str
    caller: str | None
    exported_only: bool = False  # glibc backtrace_symbols (``mangosd(+0x40e800)``): it names exports only


@dataclass(frozen=True)
class InferredFrame:
    """The one function an unnamed frame probably is (``line``: the call site in the checkout)."""

    index: int
    function: str | None
    path: str
    line: int
    how: str


@dataclass(frozen=True)
class Inference:
    frames: tuple[InferredFrame, ...] = ()
    contexts: tuple[CodeContext, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    site: CallSite
    tier: int  # 0: the caller calls it; 1: through a function of the caller's file; 2: not seen calling it
    via: str | None = None
    internal: bool = False  # static, in an anonymous namespace, or the call is in a lambda: never exported


def infer(
    crash: Crash, guessed: frozenset[int], locator: Locator, *, shown: Sequence[CodeContext], notes: list[str]
) -> Inference:
    """The functions the unnamed frames of ``crash``'s thread probably are, with their call sites as code
    (after ``shown``, never repeating it). ``guessed`` are the frames whose names are nearest-symbol
    guesses: neither unnamed nor trustworthy neighbours."""
    gaps, run_notes = find_gaps(crash.frames, crash.meaningful, guessed)
    notes.extend(run_notes)
    if len(gaps) > MAX_GAPS:
        notes.append(
            f"{len(gaps)} unnamed frames could be inferred from their neighbours; tried the first {MAX_GAPS}"
        )
    named = {
        normalize_function(f.function) for i, f in enumerate(crash.frames) if f.function and i not in guessed
    }
    frames: list[InferredFrame] = []
    contexts: list[CodeContext] = []
    for gap in gaps[:MAX_GAPS]:
        found, code = _infer_one(gap, locator, named=named, shown=[*shown, *contexts], notes=notes)
        frames.extend(found)
        contexts.extend(code)
    return Inference(tuple(frames), tuple(contexts))


def find_gaps(
    frames: Sequence[Frame], meaningful: Sequence[int], guessed: frozenset[int]
) -> tuple[list[Gap], list[str]]:
    """The unnamed frames in the application that a named callee sits directly above, innermost first; and
    a note for each run of unnamed frames of which only the first, or none, can be inferred so."""
    app = set(meaningful)

    def name(i: int) -> str | None:
        ok = 0 <= i < len(frames) and i in app and i not in guessed
        return frames[i].function if ok and not is_unnamed(frames[i]) else None

    gaps: list[Gap] = []
    notes: list[str] = []
    i = 0
    while i < len(frames):
        if not _unnamed_in_app(frames, i):
            i += 1
            continue
        end = i
        while end + 1 < len(frames) and _unnamed_in_app(frames, end + 1):
            end += 1
        callee = name(i - 1)
        if callee is not None:
            exported_only = bool(frames[i].module) and "(+0x" in frames[i].raw
            gaps.append(Gap(i, callee, name(end + 1) if end == i else None, exported_only))
            if end > i:
                rest = f"frame #{end} has" if end == i + 1 else f"frames #{i + 1}–#{end} have"
                notes.append(
                    f"{rest} no name either: only #{i}, next to a named callee, is inferred from its "
                    "neighbours; the unnamed frames below it are not guessed at"
                )
        elif name(end + 1) is not None:
            which = f"frame #{i} has" if end == i else f"frames #{i}–#{end} have"
            notes.append(
                f"{which} no name and no named callee above: not inferred (only an unnamed frame whose "
                "callee is named can be identified by its neighbours)"
            )
        i = end + 1
    return gaps, notes


def is_unnamed(frame: Frame) -> bool:
    """No function name at all (a nearest-symbol guess is a name: see budget.guessed_names)."""
    name = (frame.function or "").strip()
    return not name or bool(_NO_NAME_RE.fullmatch(name))


def _unnamed_in_app(frames: Sequence[Frame], i: int) -> bool:
    """Frame ``i`` has no name and no file, and lies in the application: not in an OS, C runtime or library
    module, somewhere real (not a null program counter), in the module of the frame above it when both
    modules are known."""
    frame = frames[i]
    if not is_unnamed(frame) or frame.file or budget.is_machinery(frame):
        return False
    where = frame.offset or frame.address or ""
    if not where or _ZERO_RE.match(where):
        return False
    above = frames[i - 1].module if i > 0 else None
    return not (frame.module and above and normalize_module(frame.module) != normalize_module(above))


def _infer_one(
    gap: Gap, locator: Locator, *, named: set[str], shown: Sequence[CodeContext], notes: list[str]
) -> tuple[list[InferredFrame], list[CodeContext]]:
    said = Gap(gap.index, _brief(gap.callee), _brief(gap.caller) if gap.caller else None)
    lead = f"frame #{gap.index} has no name; it calls {said.callee} (frame #{gap.index - 1})"
    if said.caller:
        lead += f" and is called by {said.caller} (frame #{gap.index + 1})"
    if split_name(gap.callee) is None:
        notes.append(f"{lead}: {said.callee} is not a name call sites can be searched by; not inferred")
        return [], []
    definitions = (
        _caller_definitions(gap.caller, locator, shown=shown, notes=notes)
        if gap.caller and split_name(gap.caller)
        else []
    )
    near = [d.path for d in definitions] + [c.path for c in shown]
    sites, search_notes = locator.callers(gap.callee, near=near)
    notes.extend(n for n in search_notes if n not in notes)
    sites += [s for d in definitions for s in locator.call_sites(d.path, gap.callee) if s not in sites]
    reach = _reach(locator, definitions)
    ranked = _rank(sites, reach, named=named, near=near, home={d.path for d in definitions})
    if not ranked:
        notes.append(f"{lead}: no function found in the checkout calls {said.callee}; not inferred")
        return [], []
    best = _by_linkage([c for c in ranked if c.tier == ranked[0].tier], locator)
    complete = not search_notes
    cut = (
        "" if complete else f" (among the files read: the search for callers of {said.callee} was cut short)"
    )
    if len(best) == 1 and (best[0].tier < 2 or (complete and len(ranked) == 1)):
        why = _why(said, best[0], has_caller=bool(definitions))
        return _unique(
            said,
            best[0],
            f"{lead}: probably {_brief(best[0].site.caller or '?')}{why}{cut}",
            locator,
            shown=shown,
            notes=notes,
        )
    internal = [c for c in best if c.internal]
    if gap.exported_only and best[0].tier < 2 and len(internal) == 1:
        why = (
            f" (of {len(best)} candidates, the only one with internal linkage: static, in an anonymous "
            "namespace or a lambda, which backtrace_symbols cannot name)"
        )
        return _unique(
            said,
            internal[0],
            f"{lead}: probably {_brief(internal[0].site.caller or '?')}{why}{cut}",
            locator,
            shown=shown,
            notes=notes,
        )
    return [], _ambiguous(said, best, lead, locator, shown=shown, notes=notes, complete=complete)


def _why(gap: Gap, best: _Candidate, *, has_caller: bool) -> str:
    """Why the one candidate left is the answer, when the caller's call does not say it alone."""
    if best.tier == 0:
        return ""
    if best.tier == 1:
        return f" ({gap.caller} calls it through {best.via}, perhaps inlined there)"
    if has_caller:
        return (
            f" (the only function found that calls {gap.callee}; {gap.caller} does not call it by name: a "
            "callback or a function pointer?)"
        )
    return f" (the only function found that calls {gap.callee})"


def _by_linkage(best: list[_Candidate], locator: Locator) -> list[_Candidate]:
    """``best`` with the candidates of internal linkage first, when there are few enough to read."""
    if not 1 < len(best) <= MAX_LINKAGE_CHECKS:
        return best
    indexed: dict[str, tuple[str, FunctionIndex] | None] = {}
    marked = []
    for c in best:
        if c.site.path not in indexed:  # candidates share files: index each once
            text = locator.read(c.site.path)
            indexed[c.site.path] = (text, FunctionIndex(code_view(text))) if text is not None else None
        got = indexed[c.site.path]
        marked.append(replace(c, internal=got is not None and internal_linkage(got[0], c.site, index=got[1])))
    return sorted(marked, key=lambda c: not c.internal)


def _brief(name: str, limit: int = 160) -> str:
    """A name as a note says it: a hostile report's 100 KB name is cut, never pasted whole."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _caller_definitions(
    caller: str, locator: Locator, *, shown: Sequence[CodeContext], notes: list[str]
) -> list[Definition]:
    """Where the caller frame's function is defined: the code the analysis already shows for it, else
    found by name."""
    known = [
        Definition(c.path, c.start, c.end, c.function)
        for c in shown
        if c.function and c.kind is not ContextKind.WINDOW and name_matches(c.function, caller)
    ]
    if known:
        return known[:1]
    search = locator.define(caller)
    notes.extend(n for n in search.notes if n not in notes)
    return list(search.found[:MAX_CALLER_DEFINITIONS])


def _reach(locator: Locator, definitions: Sequence[Definition]) -> dict[str, str | None]:
    """The bare names the caller's definitions call: directly (None), or through a function of the same
    file (its name: a static helper the compiler inlined into the caller leaves no frame of its own).
    The first MAX_HOPS names the caller calls, in the order it calls them, are followed."""
    direct: dict[str, None] = {}
    hops: dict[str, str] = {}
    for path in dict.fromkeys(d.path for d in definitions):  # overloads share a file: index it once
        text = locator.read(path)
        if text is None:
            continue
        index = FunctionIndex(code_view(text))
        lines = index.code.split("\n")
        for d in definitions:
            if d.path == path:
                _follow(text, index, lines, d, direct=direct, hops=hops)
    return {**hops, **direct}


def _follow(
    text: str,
    index: FunctionIndex,
    lines: Sequence[str],
    d: Definition,
    *,
    direct: dict[str, None],
    hops: dict[str, str],
) -> None:
    """Record what ``d`` calls (``direct``) and what the functions of its file that it calls call."""
    called = _called(lines, d.start, d.end)
    direct.update(dict.fromkeys(called))
    for name in called[:MAX_HOPS]:
        for start, end, _ in definitions_in_text(text, name, index=index):
            for far in _called(lines, start, end):
                hops.setdefault(far, name)


def _called(lines: Sequence[str], start: int, end: int) -> list[str]:
    """The names called in lines ``start``..``end``, first call first, each once."""
    body = "\n".join(lines[start - 1 : end])
    return [n for n in dict.fromkeys(m[1] for m in _CALL_RE.finditer(body)) if n not in _NOT_CALLS]


def _rank(
    sites: Sequence[CallSite],
    reach: dict[str, str | None],
    *,
    named: set[str],
    near: Sequence[str],
    home: set[str],
) -> list[_Candidate]:
    """One candidate per calling function, best first: those the caller calls (directly, then through a
    function of its file), in the caller's own file (a static function is), then by rank_callers. A
    function the stack names elsewhere is not a candidate: this build names it, so the frame would too."""
    out: list[_Candidate] = []
    for site in rank_callers(sites, stack_paths=near):
        if site.caller and normalize_function(site.caller) in named:
            continue
        bare = (split_name(site.caller or "") or ((), ""))[1]
        if bare and bare in reach:
            via = reach[bare]
            out.append(_Candidate(site, 0 if via is None else 1, via))
        else:
            out.append(_Candidate(site, 2))
    return sorted(
        out, key=lambda c: (c.tier, c.site.path not in home)
    )  # stable: ties keep rank_callers' order


def _unique(
    gap: Gap,
    best: _Candidate,
    said: str,
    locator: Locator,
    *,
    shown: Sequence[CodeContext],
    notes: list[str],
) -> tuple[list[InferredFrame], list[CodeContext]]:
    """The one answer: ``said`` in the notes, the frame listed (marked), its call site shown."""
    notes.append(said)
    how = f"{INFERRED}: frame #{gap.index} has no name; it calls {gap.callee}" + (
        f" and is called by {gap.caller}" if gap.caller else ""
    )
    frame = InferredFrame(gap.index, best.site.caller, best.site.path, best.site.line, how)
    name = _brief(best.site.caller or "?")
    note = f"frame #{gap.index} has no name in the report; {INFERRED}: probably {name}, calling {gap.callee}"
    return [frame], _code([best], locator, shown=shown, note=lambda _k: note)


def _ambiguous(
    gap: Gap,
    best: Sequence[_Candidate],
    lead: str,
    locator: Locator,
    *,
    shown: Sequence[CodeContext],
    notes: list[str],
    complete: bool,
) -> list[CodeContext]:
    tier = best[0].tier
    which = (
        f"call {gap.callee} and are called by {gap.caller}"
        if tier == 0
        else f"call {gap.callee} and are called by {gap.caller} through a function of its file"
        if tier == 1
        else f"call {gap.callee}"
    )
    among = "" if complete else " among the files read (the search was cut short)"
    if tier == 2 and len(best) > MAX_SHOWN:  # nothing narrows them: any few shown would be a guess
        notes.append(f"{lead}: ambiguous, {len(best)} functions {which}{among}; none shown")
        return []
    names = ", ".join(_brief(c.site.caller or "?") for c in best[:MAX_SHOWN])
    showing = min(len(best), MAX_SHOWN)
    notes.append(f"{lead}: ambiguous, {len(best)} functions {which}{among}; showing {showing}: {names}")

    def note(k: int) -> str:
        return (
            f"frame #{gap.index} has no name in the report; candidate {k + 1} of {len(best)} "
            f"({INFERRED}): calls {gap.callee} here"
        )

    return _code(best[:MAX_SHOWN], locator, shown=shown, note=note)


def _code(
    candidates: Sequence[_Candidate],
    locator: Locator,
    *,
    shown: Sequence[CodeContext],
    note: Callable[[int], str],
) -> list[CodeContext]:
    """The call site of each candidate inside its function, unless that code is shown already."""
    out: list[CodeContext] = []
    for k, c in enumerate(candidates):
        site = c.site
        if any(s.path == site.path and s.start <= site.line <= s.end for s in shown):
            continue
        text = locator.read(site.path)
        if text is None:
            continue
        ctx = extract(text, site.line, path=site.path, context_lines=CONTEXT_LINES, max_lines=MAX_LINES)
        if ctx is None:
            continue
        inside = (
            "; the call is inside a lambda, which has no name either" if in_lambda(text, site.line) else ""
        )
        out.append(replace(ctx, note=note(k) + inside))
    return out


def in_lambda(text: str, line: int, *, index: FunctionIndex | None = None) -> bool:
    """Is ``line`` inside the body of a lambda (``[...](...) {``)? A lambda has no exported name, so an
    unnamed frame whose callee is called from one is, likeliest, that lambda."""
    index = index or FunctionIndex(code_view(text))
    for open_at, close_at in index.pairs.items():
        if index.line_of(open_at) <= line <= index.line_of(close_at):
            header = index.code[max(0, open_at - 300) : open_at]
            if _LAMBDA_RE.search(header):
                return True
    return False


def internal_linkage(text: str, site: CallSite, *, index: FunctionIndex | None = None) -> bool:
    """Is the function around ``site`` one no symbol table exports: a ``static`` free function, one in an
    anonymous namespace, or a lambda (the call is inside one)? ``index`` is ``text``'s, when known."""
    index = index or FunctionIndex(code_view(text))
    if in_lambda(text, site.line, index=index):
        return True
    for m in _ANONYMOUS_RE.finditer(index.code):
        close = index.pairs.get(m.end() - 1)
        if close is not None and index.line_of(m.end() - 1) <= site.start <= index.line_of(close):
            return True
    lines = index.code.split("\n")
    header = " ".join(lines[site.start - 1 : site.start + 2]).split("(", 1)[0]
    free = "::" not in (site.caller or "") and class_at(index, site.start) is None
    return free and re.search(r"\bstatic\b", header) is not None
