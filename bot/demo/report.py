"""What ``crashbot demo`` shows: the step timeline, what GitHub would show, and the files it leaves behind.

Pure rendering from :class:`DemoReport` (plain text for the terminal, Markdown, one safe HTML page);
:func:`write_outputs` is the only function that touches the disk.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from bot.demo.markdown import page, plain

logger = logging.getLogger(__name__)

ISSUE_FILE = "issue.md"
PR_FILE = "pr.md"
ANALYSIS_FILE = "analysis-comment.md"
TIMELINE_FILE = "timeline.md"
INDEX_FILE = "index.html"
DASHBOARD_FILE = "dashboard.md"
DASHBOARD_HTML_FILE = "dashboard.html"  # the dashboard alone, as the README's screenshot shows it
_BLOCK_MARKS_RE = re.compile(r"^(?:#{1,6}\s+|>\s?|[-*+]\s+)+")  # heading, quote, list item


@dataclass(frozen=True)
class StepRecord:
    """One step of the demo: how long it took and what was checked (or why the check failed)."""

    name: str  # short id: "deploy-v1"
    title: str  # what the step does, for people
    duration_s: float
    ok: bool
    detail: str  # what was verified, or why it failed
    github: str = ""  # what GitHub shows after this step (empty when the step did not touch it)


@dataclass(frozen=True)
class CommentView:
    author: str
    body: str
    url: str

    @property
    def first_line(self) -> str:
        """The first line a reader sees, as plain text (heading, quote and list marks and emphasis gone)."""
        for line in self.body.splitlines():
            text = _BLOCK_MARKS_RE.sub("", line.strip()).strip()
            if text and not text.startswith("<!--"):
                return plain(text)
        return ""


@dataclass(frozen=True)
class IssueView:
    number: int
    title: str
    url: str
    state: str
    author: str
    labels: tuple[str, ...]
    body: str
    comments: tuple[CommentView, ...] = ()


@dataclass(frozen=True)
class PullView:
    number: int
    title: str
    url: str
    state: str
    merged: bool
    author: str
    head: str
    base: str
    body: str
    merge_sha: str | None = None


@dataclass(frozen=True)
class DeploymentView:
    id: int
    sha: str
    environment: str
    states: tuple[str, ...]  # newest first

    @property
    def state(self) -> str:
        return self.states[0] if self.states else "(no status)"


@dataclass(frozen=True)
class GitHubView:
    """The repository on the stand-in as GitHub would show it at the end of the run."""

    repo: str
    web_url: str
    issue: IssueView | None = None
    pull: PullView | None = None
    deployments: tuple[DeploymentView, ...] = ()  # newest first
    analysis_comment: CommentView | None = None
    dashboard: IssueView | None = None


@dataclass(frozen=True)
class DemoReport:
    """The whole run."""

    steps: tuple[StepRecord, ...]
    crash_capture: str  # how the crash report was produced ("gdb", or "recorded WheatyExceptionReport")
    workdir: Path
    github: GitHubView | None = None
    failed: StepRecord | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None and bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def total_s(self) -> float:
        return sum(s.duration_s for s in self.steps)


# -- text ----------------------------------------------------------------------------------------------


def step_line(step: StepRecord, *, width: int = 44) -> str:
    """One line of the terminal timeline."""
    mark = "ok" if step.ok else "FAILED"
    title = step.title if len(step.title) <= width else step.title[: width - 1] + "…"
    return f"  {title:<{width}} {step.duration_s:7.1f}s  {mark:<6} {step.detail}"


def github_lines(view: GitHubView) -> list[str]:
    """What GitHub would show, one fact per line."""
    lines = [f"GitHub (stand-in): {view.web_url}/{view.repo}"]
    if view.issue is not None:
        issue = view.issue
        lines.append(f"  issue #{issue.number}  {issue.title}  [{issue.state}]")
        lines.append(f"    {issue.url}")
        lines.append(f"    opened by {issue.author}; labels: {', '.join(issue.labels) or '-'}")
        for comment in issue.comments:
            lines.append(f"    comment by {comment.author}: {_clip(comment.first_line, 90)}")
    if view.pull is not None:
        pull = view.pull
        state = "merged" if pull.merged else pull.state
        lines.append(f"  PR #{pull.number}  {pull.title}  [{state}]")
        lines.append(f"    {pull.url}")
        merge = f", merge commit {pull.merge_sha[:12]}" if pull.merge_sha else ""
        lines.append(f"    {pull.head} -> {pull.base}, opened by {pull.author}{merge}")
    for deployment in view.deployments:
        lines.append(
            f"  deployment {deployment.id}  {deployment.sha[:12]} to {deployment.environment}: "
            f"{deployment.state} (statuses: {', '.join(reversed(deployment.states))})"
        )
    return lines


def render_text(report: DemoReport, output_dir: Path | None = None) -> str:
    """The summary printed at the end of the run."""
    lines = ["", "crashbot demo timeline:"]
    lines += [step_line(s) for s in report.steps]
    verdict = "every step happened and was verified" if report.ok else "FAILED"
    lines.append(f"  {'total':<44} {report.total_s:7.1f}s  {verdict}")
    if report.failed is not None:
        lines.append(f"\nstep {report.failed.name!r} failed: {report.failed.detail}")
    if report.github is not None:
        lines.append("")
        lines += github_lines(report.github)
    lines.append(f"\ncrash report: {report.crash_capture}")
    if output_dir is not None:
        lines.append(f"files: {output_dir}  ({', '.join(output_files(report))}, logs/)")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- markdown ------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_timeline_markdown(report: DemoReport) -> str:
    """``timeline.md``: every step, its duration, its result and what GitHub showed after it."""
    verdict = "✅ every step happened and was verified" if report.ok else "❌ the demo failed"
    out = [
        "# crashbot demo",
        "",
        f"{verdict} in {report.total_s:.1f}s. Crash report: {_cell(report.crash_capture)}.",
        "",
        "| # | step | duration | result | what was checked | GitHub shows |",
        "|---:|---|---:|---|---|---|",
    ]
    for n, step in enumerate(report.steps, 1):
        result = "ok" if step.ok else "**failed**"
        out.append(
            f"| {n} | {_cell(step.title)} | {step.duration_s:.1f}s | {result} | {_cell(step.detail)} "
            f"| {_cell(step.github) or '–'} |"
        )
    if report.failed is not None:
        out += ["", "> [!CAUTION]", f"> Step `{report.failed.name}` failed: {_cell(report.failed.detail)}"]
    if report.github is not None:
        heading, *facts = github_lines(report.github)
        out += ["", "## On GitHub", "", _cell(heading), ""]
        for line in facts:
            depth = (len(line) - len(line.lstrip())) // 2  # github_lines indents facts under their object
            out.append("  " * max(depth - 1, 0) + f"- {_cell(line.strip())}")
    return "\n".join(out) + "\n"


# -- html ----------------------------------------------------------------------------------------------


def render_index(report: DemoReport) -> str:
    """``index.html``: the timeline, then the issue, its comments and the PR as GitHub renders them."""
    sections: list[tuple[str, str]] = [("Timeline", render_timeline_markdown(report).split("\n", 2)[2])]
    view = report.github
    if view is not None and view.issue is not None:
        issue = view.issue
        sections.append(
            (f"Issue #{issue.number}: {issue.title} — opened by {issue.author} [{issue.state}]", issue.body)
        )
        for comment in issue.comments:
            sections.append((f"Comment on #{issue.number} by {comment.author}", comment.body))
    if view is not None and view.pull is not None:
        pull = view.pull
        state = "merged" if pull.merged else pull.state
        sections.append(
            (f"Pull request #{pull.number}: {pull.title} — {pull.head} → {pull.base} [{state}]", pull.body)
        )
    if view is not None and view.dashboard is not None:
        dash = view.dashboard
        sections.append((f"Issue #{dash.number}: {dash.title} — labels {', '.join(dash.labels)}", dash.body))
    status = '<span class="ok">passed</span>' if report.ok else '<span class="failed">failed</span>'
    where = ""
    if view is not None:
        where = (
            f" against the GitHub stand-in at <code>{html.escape(view.web_url)}</code> "
            f"({html.escape(view.repo)})"
        )
    intro = (
        f'<p class="meta">The crash-to-fix loop, run locally{where}: {status} in {report.total_s:.1f}s. '
        "Rendered from the bodies stored on the stand-in; the signed payload is an invisible comment.</p>"
    )
    return page("crashbot demo", sections, intro_html=intro)


# -- files ---------------------------------------------------------------------------------------------


def _bodies(report: DemoReport) -> dict[str, str]:
    """File name -> the body GitHub holds, for each body this report has."""
    view = report.github
    bodies: dict[str, str] = {}
    if view is not None and view.issue is not None:
        bodies[ISSUE_FILE] = view.issue.body
    if view is not None and view.pull is not None:
        bodies[PR_FILE] = view.pull.body
    if view is not None and view.analysis_comment is not None:
        bodies[ANALYSIS_FILE] = view.analysis_comment.body
    if view is not None and view.dashboard is not None:
        bodies[DASHBOARD_FILE] = view.dashboard.body
    return bodies


def output_files(report: DemoReport) -> list[str]:
    """The names :func:`write_outputs` writes for ``report``."""
    extra = [DASHBOARD_HTML_FILE] if report.github is not None and report.github.dashboard is not None else []
    return [INDEX_FILE, TIMELINE_FILE, *extra, *_bodies(report)]


def write_outputs(report: DemoReport, output_dir: Path) -> list[Path]:
    """Write the Markdown files GitHub holds and ``timeline.md`` + ``index.html``; return the paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {
        INDEX_FILE: render_index(report),
        TIMELINE_FILE: render_timeline_markdown(report),
        **_bodies(report),
    }
    view = report.github
    if view is not None and view.dashboard is not None:
        dash = view.dashboard
        heading = f"Issue #{dash.number}: {dash.title} — labels {', '.join(dash.labels)}"
        files[DASHBOARD_HTML_FILE] = page(f"crashbot demo: issue #{dash.number}", [(heading, dash.body)])
    for stale in (ISSUE_FILE, PR_FILE, ANALYSIS_FILE, DASHBOARD_FILE, DASHBOARD_HTML_FILE):
        if stale not in files:  # a failed run must not leave an earlier run's bodies looking current
            (output_dir / stale).unlink(missing_ok=True)
    written = []
    for name, text in files.items():
        path = output_dir / name
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8", newline="\n")
        written.append(path)
    logger.info("wrote %s", ", ".join(p.name for p in written))
    return written
