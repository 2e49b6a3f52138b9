"""What the runner can tell about a crash before any fix is attempted: frames mapped into the checkout,
code context, suspect commits, and whether the faulting lines changed since the crashing build."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot import markdown as md
from bot.config import FixSettings
from bot.crash.model import Crash, Frame
from bot.crash.rules import DEFAULT_RULES, KEEP, FrameView, RuleContext, apply_rules
from bot.errors import GitError
from bot.fix.blame import SuspectCommit, blame_around, suspects
from bot.fix.context import CodeContext, extract
from bot.fix.sourcemap import Resolved, SourceMap
from bot.git import BlameLine, Commit, Git, changed_lines_from_hunks, map_line
from bot.vocabulary import ANALYSIS

logger = logging.getLogger(__name__)

DRIFT_RADIUS = 3  # a change this close to the faulting line counts as touching it
MAX_COMMENT_CHARS = 60_000  # GitHub's limit is 65,536; leave room for the orchestrator's additions
MAX_UNMAPPED_SHOWN = 8
MAX_SUSPECTS_SHOWN = 10
RELATED_FRAMES = 2  # server frames mapped per related stack (the free site and its caller)
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
    stack: str | None = None  # a related stack's role (``freed``, ``allocated``); None: the crashing thread


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

    @property
    def top(self) -> MappedFrame | None:
        return self.frames[0] if self.frames else None

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
) -> Analysis:
    """Analyse ``crash`` against the checkout ``git`` points at (HEAD is what a fix will change)."""
    notes: list[str] = []
    head = git.head()
    revision = crash.report.build.revision
    crash_commit = _resolve_revision(git, revision, notes)
    smap = source_map or SourceMap.from_git(git, settings.path_prefix_map)
    mapped: list[MappedFrame] = []
    unmapped: list[UnmappedFrame] = []
    seen: set[tuple[str, int]] = set()
    for index, frame, meaningful, stack in _candidates(crash):
        if len(mapped) >= max(1, settings.analysis_frames):
            break
        if not frame.file:
            continue
        if frame.line is None:
            unmapped.append(UnmappedFrame(index, frame.function, frame.file, "the frame has no line number"))
            continue
        result = smap.lookup(frame.file)
        if not isinstance(result, Resolved):
            unmapped.append(UnmappedFrame(index, frame.function, frame.file, result.reason))
            continue
        if (result.path, frame.line) in seen:
            continue
        seen.add((result.path, frame.line))
        mapped.append(
            MappedFrame(
                index=index,
                function=frame.function,
                file=frame.file,
                line=frame.line,
                path=result.path,
                how=result.how,
                head_line=frame.line,
                meaningful=meaningful,
                stack=stack,
            )
        )
    drift: list[Drift] = []
    if crash_commit and crash_commit != head:
        mapped = [_with_drift(git, m, crash_commit, head, drift=drift, notes=notes) for m in mapped]
    contexts = _contexts(git, mapped, settings, notes)
    blamed: list[tuple[str, BlameLine]] = []
    for m in mapped:
        blamed.extend(_blame(git, m, crash_commit, notes))
    if not mapped:
        notes.append("no frame of the crashing thread maps to a file in this checkout")
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
    )


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


def _candidates(crash: Crash) -> list[tuple[int | None, Frame, bool, str | None]]:
    """Frames to map, best first: the assertion's location, the meaningful frames in order, the first
    server frames of each related stack (a sanitizer's free and allocation sites: usually where the bug
    is), then the rest of the crashing thread. The last item names the related stack a frame is from."""
    out: list[tuple[int | None, Frame, bool, str | None]] = []
    assertion = crash.report.assertion
    if assertion and assertion.file and assertion.line:
        frame = Frame(function=assertion.function, file=assertion.file, line=assertion.line)
        out.append((None, frame, True, None))
    meaningful = [i for i in crash.meaningful if 0 <= i < len(crash.frames)]
    out.extend((i, crash.frames[i], True, None) for i in meaningful)
    for stack in crash.report.related:
        out.extend(
            (None, f, True, stack.role.value) for f in _server_frames(crash, stack.frames)[:RELATED_FRAMES]
        )
    out.extend((i, f, False, None) for i, f in enumerate(crash.frames) if i not in set(meaningful))
    top = crash.top_frame
    if (
        top
        and top.file
        and top.line
        and not any(f.file == top.file and f.line == top.line for _, f, _, _ in out)
    ):
        out.insert(0, (None, Frame(function=top.function, file=top.file, line=top.line), True, None))
    return out


def _server_frames(crash: Crash, frames: Sequence[Frame]) -> list[Frame]:
    """The frames of a related stack the crash core's frame rules keep (allocator and runtime skipped)."""
    views = tuple(FrameView.from_frame(i, f) for i, f in enumerate(frames))
    decisions = apply_rules(DEFAULT_RULES, RuleContext(report=crash.report, frames=views))
    return [
        frames[d.frame]
        for d in decisions
        if d.action == KEEP and d.frame is not None and frames[d.frame].file
    ]


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
        stack=m.stack,
    )


def _contexts(
    git: Git, mapped: Sequence[MappedFrame], settings: FixSettings, notes: list[str]
) -> list[CodeContext]:
    out: list[CodeContext] = []
    for m in mapped:
        line = m.head_line if m.head_line is not None else m.line
        try:
            text = (Path(git.repo) / m.path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            notes.append(f"cannot read {m.path}: {e.strerror or e}")
            continue
        ctx = extract(text, line, path=m.path, context_lines=settings.context_lines)
        if ctx is None:
            notes.append(f"{m.path} has no line {line} in the checkout (the file changed since the crash)")
            continue
        if any(c.path == ctx.path and c.start <= line <= c.end for c in out):
            continue  # same function as a frame above (recursion, inlined helpers)
        out.append(ctx)
    return out


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
    return f"{exc.code} {exc.name}" if exc.name else exc.code


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
        out.append(
            f"| {idx} | {md.inline_code(m.function or '?', table=True)} "
            f"| {md.inline_code(_basename(m.file) + ':' + str(m.line), table=True)} "
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
            md.inline_code(s.short),
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


def _basename(path: str) -> str:
    return re.split(r"[/\\]", path)[-1]
