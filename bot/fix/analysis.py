"""What the runner can tell about a crash before any fix is attempted: frames mapped into the checkout,
code context, suspect commits, and whether the faulting lines changed since the crashing build."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot import markdown as md
from bot.config import FixSettings
from bot.crash.model import Crash
from bot.errors import GitError
from bot.fix import budget, deletes, gapframe, usertypes
from bot.fix.blame import (
    SuspectCommit,
    blame_around,
    commit_time,
    recent_commits,
    recently_changed,
    suspects,
)
from bot.fix.context import CodeContext, body_line, code_view, extract
from bot.fix.locate import (
    Limits,
    Locator,
    definitions_in_text,
    name_matches,
    rank_callers,
    sibling_paths,
    site_contexts,
)
from bot.fix.message import message_contexts
from bot.fix.sourcemap import Resolved, SourceMap
from bot.git import BlameLine, Commit, Git, changed_lines_from_hunks, map_line
from bot.vocabulary import ANALYSIS

logger = logging.getLogger(__name__)

DRIFT_RADIUS = 3  # a change this close to the faulting line counts as touching it
MAX_COMMENT_CHARS = 60_000  # GitHub's limit is 65,536; leave room for the orchestrator's additions
MAX_UNMAPPED_SHOWN = 8
MAX_SUSPECTS_SHOWN = 10
BY_DEFINITION = "definition found by name"
_REVISION_RE = re.compile(r"\b([0-9a-fA-F]{7,40})\b")


@dataclass(frozen=True)
class MappedFrame:
    """A crash frame found in the checkout. ``line`` is as reported (the crashing build's numbering);
    ``head_line`` is the same line in the checkout (None if it was rewritten since)."""

    index: int | None  # position in crash.frames; None for an assertion's own location
    function: str | None
    file: str
    line: int
    path: str
    how: str
    head_line: int | None
    meaningful: bool
    folded: tuple[str, ...] = ()  # trivial accessors called from here, folded into this frame
    stack: str | None = None  # a related stack's role (``freed``, ``allocated``); None: the crashing thread

    @property
    def inferred(self) -> bool:
        """Whether the report gave this frame no name and :mod:`bot.fix.gapframe` inferred it."""
        return self.how.startswith(gapframe.INFERRED)


@dataclass(frozen=True)
class UnmappedFrame:
    index: int | None
    function: str | None
    file: str | None
    reason: str


@dataclass(frozen=True)
class Drift:
    """Lines near a faulting line that changed between the crashing build and HEAD, and the commits."""

    path: str
    line: int
    changed: tuple[int, ...]
    commits: tuple[Commit, ...]


@dataclass(frozen=True)
class PreviousAttempt:
    """An earlier fix attempt for this crash, as the orchestrator recorded it."""

    number: int
    outcome: str  # e.g. "build failed", "abstained", "PR closed unmerged"
    summary: str = ""
    url: str | None = None


@dataclass(frozen=True)
class Analysis:
    """Everything analysed for one crash; rendered once as the issue's analysis comment."""

    signature_id: str
    signature_text: str
    exception: str | None
    assertion: str | None
    crash_revision: str | None  # as the report printed it
    crash_commit: str | None  # the full sha in this repository, None when unknown here
    head: str
    frames: tuple[MappedFrame, ...]
    unmapped: tuple[UnmappedFrame, ...]
    contexts: tuple[CodeContext, ...]
    suspects: tuple[SuspectCommit, ...]
    drift: tuple[Drift, ...]
    notes: tuple[str, ...] = ()
    previous_attempts: tuple[PreviousAttempt, ...] = ()
    callers: tuple[CodeContext, ...] = ()  # call sites of the asserted/accessor function, best first
    callee: str | None = None  # the function whose callers those are
    recent: tuple[Commit, ...] = ()  # commits that touched the stack's files shortly before the crash
    # Seam for sanitizer reports (i12-core): extra stacks (e.g. "freed by", "allocated by") as
    # (title, mapped frames); rendered after the crashing stack, within the prompt's budget.
    extra_stacks: tuple[tuple[str, tuple[MappedFrame, ...]], ...] = ()

    @property
    def top(self) -> MappedFrame | None:
        """The first frame the report itself names (an unnamed frame inferred from its neighbours is not)."""
        return next((m for m in self.frames if not m.inferred), None)

    @property
    def perhaps_fixed(self) -> bool:
        """The top mapped frame's faulting line (or its neighbours) changed since the crashing build."""
        top = self.top
        return top is not None and any(d.path == top.path and d.line == top.line for d in self.drift)


def analyse(
    crash: Crash,
    git: Git,
    settings: FixSettings,
    *,
    previous_attempts: Sequence[PreviousAttempt] = (),
    source_map: SourceMap | None = None,
    first_seen: int | None = None,
    limits: Limits | None = None,
) -> Analysis:
    """Analyse ``crash`` against the checkout ``git`` points at (HEAD is what a fix will change).
    ``first_seen`` (epoch seconds) dates the crash when its revision is unknown here."""
    notes: list[str] = []
    head = git.head()
    revision = crash.report.build.revision
    crash_commit = _resolve_revision(git, revision, notes)
    files = git.ls_files()
    smap = source_map or SourceMap(files, settings.path_prefix_map)
    locator = Locator(git, files, limits=limits)
    frame_plan = budget.plan(crash)
    mapped, unmapped = _map_frames(frame_plan, smap, locator, max(1, settings.analysis_frames), notes)
    mapped += _crashed_in(frame_plan, smap, locator, mapped, notes)
    drift: list[Drift] = []
    if crash_commit and crash_commit != head:
        mapped = [_with_drift(git, m, crash_commit, head, drift=drift, notes=notes) for m in mapped]
    contexts = _contexts(mapped, settings, locator=locator, files=files, notes=notes)
    if not mapped:  # a library-only stack: the application types its frames name lead instead
        contexts += usertypes.leads(crash, locator, notes=notes)
    blamed: list[tuple[str, BlameLine]] = []
    for m in mapped:
        blamed.extend(_blame(git, m, crash_commit, notes))
    if not mapped:
        notes.append("no frame of the crashing thread maps to a file in this checkout")
    mapped, contexts = _with_gaps(crash, frame_plan, locator, mapped, contexts, notes=notes)
    if frame_plan.guessed:
        notes.append(
            f"{len(frame_plan.guessed)} frame names are nearest-symbol guesses (no source lines, "
            "displacements larger than any function: a build without debug symbols); they do not show "
            "who called"
        )
    callee = _callee(crash, frame_plan)
    callers = _callers(git, locator, callee, mapped=mapped, contexts=contexts, notes=notes) if callee else []
    contexts += message_contexts(crash, locator, shown=contexts, notes=notes)
    contexts += deletes.delete_sites(
        git, frame_plan, locator, files, stack_paths=[m.path for m in mapped], shown=contexts, notes=notes
    )
    until = (commit_time(git, crash_commit) if crash_commit else None) or first_seen
    recent: list[Commit] = []
    if until is not None:
        paths = sorted({m.path for m in mapped})
        recent = recent_commits(git, paths, until=until, rev=crash_commit or "HEAD")
    return Analysis(
        signature_id=crash.signature.id,
        signature_text=crash.signature.text,
        exception=_exception_text(crash),
        assertion=_assertion_text(crash),
        crash_revision=revision,
        crash_commit=crash_commit,
        head=head,
        frames=tuple(mapped),
        unmapped=tuple(unmapped),
        contexts=tuple(contexts),
        suspects=suspects(blamed),
        drift=tuple(drift),
        notes=tuple(notes),
        previous_attempts=tuple(previous_attempts),
        callers=tuple(callers),
        callee=callee,
        recent=tuple(recent),
    )


def epoch_of(iso: str) -> int | None:
    """Seconds since the epoch of an ISO-8601 time (``2024-05-01T12:00:00Z``); None when empty or junk."""
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


# -- analysis steps -----------------------------------------------------------------------------------


def _resolve_revision(git: Git, revision: str | None, notes: list[str]) -> str | None:
    if not revision:
        notes.append("the report names no source revision; line numbers are assumed to match HEAD")
        return None
    m = _REVISION_RE.search(revision)
    commit = git.rev_parse(m[1].lower()) if m else None
    if commit is None:
        notes.append(
            f"the crashing build's revision {revision!r} is not in this repository (a fork, a local "
            "commit, or a shallow clone: fetch with fetch-depth: 0); line numbers are assumed to match HEAD"
        )
    return commit


def _map_frames(
    frame_plan: budget.Plan, smap: SourceMap, locator: Locator, slots: int, notes: list[str]
) -> tuple[list[MappedFrame], list[UnmappedFrame]]:
    """The planned frames mapped into the checkout, up to ``slots``: by path when the frame has one, else
    by finding the function's definition by name."""
    mapped: list[MappedFrame] = []
    unmapped: list[UnmappedFrame] = []
    seen: set[tuple[str, int]] = set()
    near = [m.path for m in mapped]
    for cand in frame_plan.candidates:
        if len(mapped) >= slots:
            break
        frame = cand.frame
        result: MappedFrame | UnmappedFrame
        if frame.file and frame.line is not None:
            looked = smap.lookup(frame.file)
            if isinstance(looked, Resolved):
                result = MappedFrame(
                    cand.index,
                    frame.function,
                    frame.file,
                    frame.line,
                    looked.path,
                    looked.how,
                    frame.line,
                    cand.meaningful,
                    cand.folded,
                    cand.stack,
                )
            elif frame.function:
                result = _by_definition(cand, locator, near, notes, why=looked.reason)
            else:
                result = UnmappedFrame(cand.index, frame.function, frame.file, looked.reason)
        elif frame.function:
            why = "the frame has no line number" if frame.file else "the frame has no source path"
            result = _by_definition(cand, locator, near, notes, why=why)
        else:
            continue
        if isinstance(result, UnmappedFrame):
            unmapped.append(result)
            continue
        if (result.path, result.line) in seen:
            continue
        seen.add((result.path, result.line))
        mapped.append(result)
        near.append(result.path)
    return mapped, unmapped


def _crashed_in(
    frame_plan: budget.Plan,
    smap: SourceMap,
    locator: Locator,
    mapped: Sequence[MappedFrame],
    notes: list[str],
) -> list[MappedFrame]:
    """The accessor the crash happened in, after the slots: its caller is shown first, but the faulting
    line (a missing guard in the accessor, say) is the accessor's own. Small; takes no slot."""
    cand = frame_plan.crashed_in
    if cand is None:
        return []
    extra, _ = _map_frames(budget.Plan((cand,), None, ()), smap, locator, 1, notes)
    return [
        replace(m, how=f"{m.how}; the crash happened in this accessor")
        for m in extra
        if not any(x.path == m.path and x.line == m.line for x in mapped)
    ]


def _by_definition(
    cand: budget.Candidate, locator: Locator, near: Sequence[str], notes: list[str], *, why: str
) -> MappedFrame | UnmappedFrame:
    function = cand.frame.function or ""
    if locator.over_budget(notes, "definitions of the frames by name"):
        # one note for all the frames left, not one per frame (a report of 10,000 unknown names gave as
        # many notes, all of them in the prompt and the issue comment)
        return UnmappedFrame(cand.index, function, cand.frame.file, f"{why}; not searched: search time spent")
    search = locator.define(function, near=near)
    notes.extend(search.notes)
    if not search.found:
        return UnmappedFrame(
            cand.index, function, cand.frame.file, f"{why}; no definition of it found by name"
        )
    best = search.found[0]
    how = BY_DEFINITION
    if len(search.found) > 1:
        others = ", ".join(f"{d.path}:{d.start}" for d in search.found[1:4])
        more = " …" if len(search.found) > 4 else ""
        how += f" (ambiguous: {len(search.found)} definitions; also {others}{more})"
        notes.append(f"{function}: {len(search.found)} definitions match; showing {best.path}:{best.start}")
    return MappedFrame(
        cand.index,
        function,
        cand.frame.file or best.path,
        best.start,
        best.path,
        how,
        best.start,
        cand.meaningful,
        cand.folded,
        cand.stack,
    )


def _with_gaps(
    crash: Crash,
    frame_plan: budget.Plan,
    locator: Locator,
    mapped: list[MappedFrame],
    contexts: list[CodeContext],
    *,
    notes: list[str],
) -> tuple[list[MappedFrame], list[CodeContext]]:
    """The frames without a name, identified by their named neighbours (:mod:`bot.fix.gapframe`): after
    the slots (an inference never displaces a frame the report names), marked in ``how``."""
    found = gapframe.infer(crash, frame_plan.guessed, locator, shown=contexts, notes=notes)
    inferred = [
        MappedFrame(g.index, g.function, g.path, g.line, g.path, g.how, g.line, meaningful=True)
        for g in found.frames
    ]
    return [*mapped, *inferred], [*contexts, *found.contexts]


def _with_drift(
    git: Git, m: MappedFrame, crash_commit: str, head: str, *, drift: list[Drift], notes: list[str]
) -> MappedFrame:
    try:
        hunks = git.diff_hunks(m.path, crash_commit, head)
    except GitError as e:
        notes.append(f"cannot compare {m.path} with the crashing build: {e}")
        return m
    if not hunks:
        return m
    window = set(range(m.line - DRIFT_RADIUS, m.line + DRIFT_RADIUS + 1))
    changed = sorted(changed_lines_from_hunks(hunks) & window)
    if changed:
        try:
            commits = tuple(git.log(f"{crash_commit}..{head}", m.path, max_count=10))
        except GitError:
            commits = ()
        drift.append(Drift(m.path, m.line, tuple(changed), commits))
    head_line = map_line(hunks, m.line)
    return MappedFrame(
        index=m.index,
        function=m.function,
        file=m.file,
        line=m.line,
        path=m.path,
        how=m.how,
        head_line=head_line,
        meaningful=m.meaningful,
        folded=m.folded,
        stack=m.stack,
    )


def _contexts(
    mapped: Sequence[MappedFrame],
    settings: FixSettings,
    *,
    locator: Locator,
    files: Sequence[str],
    notes: list[str],
) -> list[CodeContext]:
    out: list[CodeContext] = []
    for m in mapped:
        ctx = _context(m, settings, locator=locator, files=files, notes=notes)
        if ctx is None:
            continue
        if any(c.path == ctx.path and c.start <= ctx.line <= c.end for c in out):
            continue  # same function as a frame above (recursion, inlined helpers)
        if m.folded:
            folded = f"calls {', '.join(m.folded)} (folded into this frame)"
            ctx = replace(ctx, note=_join_note(ctx.note, folded))
        out.append(ctx)
    return out


def _context(
    m: MappedFrame, settings: FixSettings, *, locator: Locator, files: Sequence[str], notes: list[str]
) -> CodeContext | None:
    """The code of one mapped frame: around its line when that line is inside the function the frame
    names, else that function found by name (the analysis says so)."""
    line = m.head_line if m.head_line is not None else m.line
    text = locator.read(m.path)
    if text is None:
        notes.append(f"cannot read {m.path} (missing, binary or too large)")
        return None
    by_name = m.how.startswith(BY_DEFINITION)
    ctx = None if by_name else extract(text, line, path=m.path, context_lines=settings.context_lines)
    if m.function and (ctx is None or not name_matches(ctx.function, m.function)):
        anchored = _anchor(m, text, files, locator, settings, found=ctx, by_name=by_name)
        if anchored is not None:
            return anchored
        if ctx is not None:
            notes.append(f"{m.function} was not found by name near {m.path}:{line}; showing the lines there")
    if ctx is None:
        notes.append(f"{m.path} has no line {line} in the checkout (the file changed since the crash)")
    return ctx


def _anchor(
    m: MappedFrame,
    text: str,
    files: Sequence[str],
    locator: Locator,
    settings: FixSettings,
    *,
    found: CodeContext | None,
    by_name: bool,
) -> CodeContext | None:
    """The context of the function ``m`` names, found by name in its file or the sibling .h/.cpp, when the
    reported line lies outside it (moved lines, no revision, header versus .cpp) or there is none."""
    function = m.function or ""
    line = m.head_line or m.line
    where = (
        ""
        if by_name
        else f"line {line} is in {found.function or 'no function'}; "
        if found
        else f"line {line} is past the end of the file; "
    )
    for path in (m.path, *sibling_paths(m.path, files)[:3]):
        body = text if path == m.path else locator.read(path)
        if body is None:
            continue
        defs = definitions_in_text(body, function)
        if not defs:
            continue
        start, _end, _name = min(defs, key=lambda d: abs(d[0] - m.line))
        opening = body_line(code_view(body), start)
        ctx = extract(body, opening, path=path, context_lines=settings.context_lines)
        if ctx is None:
            continue
        if by_name and path == m.path:
            return ctx
        used = "in the same file" if path == m.path else f"in the sibling {path}"
        return replace(ctx, note=f"{where}showing {function} found by name {used}")
    return None if by_name else _anchor_elsewhere(m, locator, settings, where=where)


def _anchor_elsewhere(
    m: MappedFrame, locator: Locator, settings: FixSettings, *, where: str
) -> CodeContext | None:
    """The function a frame names, found by name anywhere, when neither its reported file nor the sibling
    defines it: gdb names the outer function of an inlined call but prints the callee's line
    (``Pet::Unsummon (...) at Object.h:412``, the line of an inlined ``GetTypeId``)."""
    function = m.function or ""
    search = locator.define(function, near=[m.path])
    if not search.found:
        return None
    best = search.found[0]
    body = locator.read(best.path)
    if body is None:
        return None
    ctx = extract(
        body, body_line(code_view(body), best.start), path=best.path, context_lines=settings.context_lines
    )
    if ctx is None:
        return None
    return replace(
        ctx,
        note=f"{where}showing {function} found by name in {best.path} (not where the report points: "
        "the reported line is an inlined call's, say)",
    )


def _join_note(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _callee(crash: Crash, frame_plan: budget.Plan) -> str | None:
    """The function whose callers may hold the bug, when the report shows none of them: the accessor the
    crash happened in, the function that asserted, or the one function a report shows (a stop location, an
    excerpt cut after its first frame, a stack whose other frames are library code)."""
    shown = [
        c for c in frame_plan.candidates if c.frame.function and c.index not in frame_plan.guessed
    ]  # a name guessed from the nearest exported symbol shows nobody
    if len(shown) > 1:
        return None  # the stack shows who called: their code is already in the analysis
    if frame_plan.accessor:
        return frame_plan.accessor
    assertion = crash.report.assertion
    if assertion and assertion.function:
        return assertion.function
    return shown[0].frame.function if shown else None


def _callers(
    git: Git,
    locator: Locator,
    callee: str,
    *,
    mapped: Sequence[MappedFrame],
    contexts: Sequence[CodeContext],
    notes: list[str],
) -> list[CodeContext]:
    """A few call sites of ``callee`` the stack does not show, with context, best first."""
    shown = [(c.path, c.start, c.end) for c in contexts]
    sites, search_notes = locator.callers(callee, exclude=shown, near=[m.path for m in mapped])
    notes.extend(search_notes)
    if not sites:
        return []
    recent = recently_changed(git, {s.path for s in sites})
    ranked = rank_callers(sites, recent=recent, stack_paths=[m.path for m in mapped])
    notes.append(f"{callee} is called from {len(ranked)} functions the stack does not show")
    return site_contexts(locator, ranked, recent=recent, note=f"calls {callee}")


def _blame(
    git: Git, m: MappedFrame, crash_commit: str | None, notes: list[str]
) -> list[tuple[str, BlameLine]]:
    attempts: list[tuple[str, int]] = []
    if crash_commit:
        attempts.append((crash_commit, m.line))
    if m.head_line is not None:
        attempts.append(("HEAD", m.head_line))
    for rev, line in attempts:
        try:
            return [(m.path, bl) for bl in blame_around(git, m.path, line, rev=rev)]
        except GitError as e:
            logger.debug("blame %s:%s at %s failed: %s", m.path, line, rev, e)
    notes.append(f"git blame found nothing for {m.path}:{m.line}")
    return []


def _exception_text(crash: Crash) -> str | None:
    exc = crash.report.exception
    if exc is None:
        return None
    text = f"{exc.code} {exc.name}" if exc.name else exc.code
    if exc.thrown_type or exc.what:  # an uncaught C++ exception: what was thrown says more than the signal
        text += f": {exc.thrown_type or '?'}" + (f": {exc.what}" if exc.what else "")
    return text


def _assertion_text(crash: Crash) -> str | None:
    a = crash.report.assertion
    if a is None:
        return None
    return a.condition or a.message


# -- rendering ----------------------------------------------------------------------------------------


def render_analysis_comment(analysis: Analysis, *, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """The issue comment (markdown) that shows this analysis; starts with the tag of
    :data:`bot.vocabulary.ANALYSIS` so the orchestrator can find and edit it on reruns. Code contexts are
    dropped from the end to fit."""
    contexts = list(analysis.contexts)
    while True:
        text = _render(analysis, contexts)
        if len(text) <= max_chars or not contexts:
            return text if len(text) <= max_chars else text[: max_chars - 20] + "\n\n_(truncated)_\n"
        contexts.pop()


def _render(a: Analysis, contexts: Sequence[CodeContext]) -> str:
    out = [ANALYSIS.tag, "### Crash analysis", "", _facts(a), ""]
    out += _perhaps_fixed(a)
    out += _frames_table(a)
    out += _unmapped(a)
    out += _code_section(contexts)
    out += _suspects(a)
    out += _render_recent(a)
    out += _render_callers(a)
    out += _previous(a)
    if a.notes:
        out += ["<details><summary>Notes</summary>", ""]
        out += [f"- {md.cell(n)}" for n in a.notes]
        out += ["", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


def _facts(a: Analysis) -> str:
    facts = [f"**Signature** {md.inline_code(a.signature_text)} ({md.inline_code(a.signature_id)})"]
    if a.exception:
        facts.append(f"**Exception** {md.inline_code(a.exception)}")
    if a.assertion:
        facts.append(f"**Assertion** {md.inline_code(a.assertion)}")
    if a.crash_commit:
        facts.append(f"**Crashing build** {md.inline_code(a.crash_commit[:12])}")
    elif a.crash_revision:
        facts.append(f"**Crashing build** {md.inline_code(a.crash_revision)} (not in this repository)")
    facts.append(f"**Analysed at** {md.inline_code(a.head[:12])}")
    return " · ".join(facts)


def _perhaps_fixed(a: Analysis) -> list[str]:
    if not a.perhaps_fixed or a.top is None:
        return []
    drift = next(d for d in a.drift if d.path == a.top.path and d.line == a.top.line)
    shas = ", ".join(md.inline_code(c.sha[:10]) for c in drift.commits[:5]) or "commits since the crash"
    return [
        "> [!WARNING]",
        f"> **Perhaps already fixed:** lines near {md.inline_code(f'{a.top.path}:{a.top.line}')} "
        "changed since "
        f"the crashing build ({shas}). Check whether a current build still crashes before fixing.",
        "",
    ]


def _frames_table(a: Analysis) -> list[str]:
    if not a.frames:
        return []
    out = [
        "#### Frames in this checkout",
        "",
        "| # | function | reported | checkout |",
        "|---|---|---|---|",
    ]
    for m in a.frames:
        idx = m.stack or ("assert" if m.index is None else str(m.index))
        head = f"{m.path}:{m.head_line}" if m.head_line is not None else f"{m.path} (line rewritten)"
        reported = (
            "no name" if m.inferred else md.inline_code(_basename(m.file) + ":" + str(m.line), table=True)
        )
        out.append(
            f"| {idx} | {md.inline_code(m.function or '?', table=True)} "
            f"| {reported} "
            f"| {md.inline_code(head, table=True)} {md.cell(m.how)} |"
        )
    out.append("")
    return out


def _unmapped(a: Analysis) -> list[str]:
    if not a.unmapped:
        return []
    out = ["<details><summary>Frames not found in this checkout</summary>\n"]
    for u in a.unmapped[:MAX_UNMAPPED_SHOWN]:
        out.append(
            f"- {md.inline_code(u.function or '?')} {md.inline_code(u.file or '')}: {md.cell(u.reason)}"
        )
    if len(a.unmapped) > MAX_UNMAPPED_SHOWN:
        out.append(f"- … {len(a.unmapped) - MAX_UNMAPPED_SHOWN} more")
    out += ["", "</details>", ""]
    return out


def _code_section(contexts: Sequence[CodeContext]) -> list[str]:
    if not contexts:
        return []
    out = ["#### Code", ""]
    for i, ctx in enumerate(contexts):
        block = [md.fenced(ctx.text, "cpp")]
        if ctx.note:
            block.insert(0, f"_{md.cell(ctx.note)}_\n")
        if i == 0:
            title = (
                md.inline_code(ctx.function or ctx.path) + " — " + md.inline_code(f"{ctx.path}:{ctx.line}")
            )
            out += [title, "", *block, ""]
        else:
            # GitHub renders no markdown inside <summary>: use escaped HTML there
            name = html.escape(ctx.function or ctx.path)
            where = html.escape(f"{ctx.path}:{ctx.line}")
            summary = f"<summary><code>{name}</code> — <code>{where}</code></summary>"
            out += ["<details>", summary, "", *block, "", "</details>", ""]
    return out


def _suspects(a: Analysis) -> list[str]:
    if not a.suspects:
        return []
    out = ["#### Suspect commits (last to touch the faulting lines, newest first)", ""]
    out += ["| commit | date | author | summary | lines |", "|---|---|---|---|---|"]
    for s in a.suspects[:MAX_SUSPECTS_SHOWN]:
        date = datetime.fromtimestamp(s.author_time, tz=UTC).strftime("%Y-%m-%d")
        lines = ", ".join(_basename(loc) for loc in s.locations[:3])
        cells = [
            s.sha,  # a bare full SHA: GitHub links it to the commit (a code span would not be linked)
            date,
            md.inline_code(s.author, table=True),
            md.inline_code(s.summary[:100], table=True),
        ]
        out.append(f"| {' | '.join(cells)} | {md.inline_code(lines, table=True)} |")
    out.append("")
    return out


def _previous(a: Analysis) -> list[str]:
    if not a.previous_attempts:
        return []
    out = ["#### Previous attempts", ""]
    for p in a.previous_attempts:
        link = f" ({p.url})" if p.url else ""
        summary = f": {md.cell(p.summary)}" if p.summary else ""
        out.append(f"- attempt {p.number} — {md.cell(p.outcome)}{summary}{link}")
    out.append("")
    return out


def _render_recent(a: Analysis) -> list[str]:
    if not a.recent:
        return []
    out = ["#### Commits shortly before the crash that touched its files (newest first)", ""]
    out += ["| commit | date | author | summary |", "|---|---|---|---|"]
    for c in a.recent:
        date = datetime.fromtimestamp(c.author_time, tz=UTC).strftime("%Y-%m-%d")
        out.append(
            f"| {c.sha} | {date} | {md.inline_code(c.author, table=True)} "
            f"| {md.inline_code(c.subject[:100], table=True)} |"
        )
    return [*out, ""]


def _render_callers(a: Analysis) -> list[str]:
    if not a.callers or not a.callee:
        return []
    out = [f"#### Callers of {md.inline_code(a.callee)} the stack does not show", ""]
    for ctx in a.callers:
        name = html.escape(ctx.function or ctx.path)
        where = html.escape(f"{ctx.path}:{ctx.line}")
        summary = f"<summary><code>{name}</code> — <code>{where}</code> ({html.escape(ctx.note)})</summary>"
        out += ["<details>", summary, "", md.fenced(ctx.text, "cpp"), "", "</details>", ""]
    return out


def _basename(path: str) -> str:
    return re.split(r"[/\\]", path)[-1]
