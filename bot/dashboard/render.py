"""The dashboard issue's Markdown (pure): ranked crashes, trends, Mermaid charts, fixes, the loop.

Everything from a crash issue (titles, realms, builds) is untrusted: it reaches Markdown escaped, in
code spans, or filtered to a safe alphabet inside Mermaid. The body stays under GitHub's 65,536
characters however many signatures there are: the top rows are full, the rest fold into a
``<details>`` of short rows, and what no longer fits is counted, not shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from bot import markdown as md
from bot.dashboard.model import LoopFigures, Row, State, ranked
from bot.vocabulary import DASHBOARD_BODY, RERUN

MAX_BODY_CHARS = 60_000  # GitHub allows 65,536; the margin absorbs the closing sections
TOP_ROWS = 25
CHART_SIGNATURES = 5
CHART_DAYS = 14
CHART_BUILDS = 10
TREND_DAYS = 30
_NOTES = 5  # ignored uptime ledgers named on the page
TITLE = "Crash dashboard"
_TITLE_CHARS = 70
_MERMAID_SAFE_RE = re.compile(r"[^A-Za-z0-9._:#-]+")


@dataclass(frozen=True)
class BuildRate:
    """One build's recorded hours up (the last 90 days, all realms) and its crashes (all signatures)."""

    build: str
    hours: float
    crashes: int


@dataclass(frozen=True)
class Inputs:
    """What the page shows besides the rows: the day it describes, the loop's figures, per-fix
    evidence lines (issue number → one line), the hours up over the last 7 days when known and what
    they are (``week_basis``), crash rates per build on recorded uptime, and notes on the ledgers."""

    today: date
    figures: LoopFigures
    evidence: Mapping[int, str]
    week_hours_live: float | None = None
    week_basis: str = "hours live"
    build_rates: Sequence[BuildRate] = ()
    uptime_notes: Sequence[str] = ()


def _issue_cell(row: Row) -> str:
    title = row.title.removeprefix("crash: ")
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 1] + "…"
    return f"[#{row.number}]({row.url}) {md.escaped(title)}"


def _state_cell(row: Row) -> str:
    text = f"**{row.state.value}**"
    if row.pull is not None:
        text += f" ([PR #{row.pull.number}]({row.pull.url}))"
    return text


def _list_cell(values: Sequence[str], keep: int = 3) -> str:
    if not values:
        return ""
    shown = ", ".join(md.inline_code(v[:12], table=True) for v in values[-keep:])
    return shown + (f" +{len(values) - keep}" if len(values) > keep else "")


def _full_row(row: Row, today: date) -> str:
    occ = row.occurrences
    if occ is None:
        cells = ["?", "?", "payload unreadable", "", "", "", ""]
    else:
        cells = [
            str(row.week(today)),
            str(occ.count),
            md.inline_code(md.sparkline(row.last_days(today, TREND_DAYS)), table=True),
            occ.first_seen[:10],
            occ.last_seen[:16].replace("T", " "),
            _list_cell(occ.realms),
            _list_cell(occ.builds),
        ]
    return "| " + " | ".join([_issue_cell(row), *cells, _state_cell(row)]) + " |"


def _short_row(row: Row, today: date) -> str:
    occ = row.occurrences
    week, total = (str(row.week(today)), str(occ.count)) if occ else ("?", "?")
    last = occ.last_seen[:10] if occ else ""
    return f"| [#{row.number}]({row.url}) | {week} | {total} | {last} | {row.state.value} |"


def _summary(rows: Sequence[Row], fixed: Sequence[Row], inputs: Inputs) -> str:
    week = sum(r.week(inputs.today) for r in (*rows, *fixed))
    line = (
        f"**{len(rows)}** open crash signature(s); **{week}** crash(es) in the 7 days to "
        f"{inputs.today.isoformat()} (UTC), fixed ones included"
    )
    if inputs.week_hours_live:
        hours = inputs.week_hours_live
        per = f"{hours / week:,.1f} crash-free hours per crash" if week else "no crash at all"
        line += f"; **{hours:,.0f}** {inputs.week_basis} on the realms: {per}"
    return line + "."


def _top_table(rows: Sequence[Row], today: date) -> list[str]:
    if not rows:
        return ["## Top crashes", "", "*No open crash signature.*"]
    return [
        f"## Top crashes, by occurrences in the last 7 days (trend: {TREND_DAYS} days)",
        "",
        "| Crash | 7 d | Total | Trend | First seen | Last seen | Realms | Builds | State |",
        "|---|--:|--:|---|---|---|---|---|---|",
        *(_full_row(r, today) for r in rows),
    ]


def _folded(rows: Sequence[Row], today: date, budget: int) -> list[str]:
    """The short rows that fit in ``budget`` characters, in a <details>; the rest counted."""
    if not rows:
        return []
    lines = ["| Crash | 7 d | Total | Last seen | State |", "|---|--:|--:|---|---|"]
    used = sum(len(line) + 1 for line in lines) + 200
    shown = 0
    for row in rows:
        line = _short_row(row, today)
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    more = len(rows) - shown
    tail = ["", f"*{more} more not shown: GitHub's body limit.*"] if more else []
    return [
        "<details>",
        f"<summary>{len(rows)} more open signature(s)</summary>",
        "",
        *lines,
        *tail,
        "",
        "</details>",
    ]


def checkbox(number: int) -> str:
    """The unticked rerun box of crash issue ``number`` (read back by :mod:`bot.dashboard.rerun`)."""
    return f"- [ ] rerun `crashbot fix` for #{number} {RERUN.render(str(number))}"


def _rerun_boxes(rows: Sequence[Row]) -> list[str]:
    """One unticked box per top crash that got no fix; always unticked: a run consumes a tick."""
    numbers = [r.number for r in rows if r.state is State.NO_FIX]
    if not numbers:
        return []
    return [
        "",
        "## Rerun a fix",
        "",
        "Tick a box to run `crashbot fix` again on a crash that got no fix (people with write access",
        "only; the box is unticked again once the run has started).",
        "",
        *(checkbox(n) for n in numbers),
    ]


def _mermaid_label(text: str) -> str:
    return _MERMAID_SAFE_RE.sub("-", text)[:16] or "?"


def _daily_chart(rows: Sequence[Row], today: date) -> list[str]:
    top = [r for r in rows if r.occurrences is not None and r.total > 0][:CHART_SIGNATURES]
    if not top:
        return []
    days = [(today - timedelta(days=CHART_DAYS - 1 - i)).strftime("%m-%d") for i in range(CHART_DAYS)]
    series = [r.last_days(today, CHART_DAYS) for r in top]
    peak = max((max(s) for s in series), default=0)
    return [
        f"## Crashes per day, top {len(top)} signature(s)",
        "",
        "```mermaid",
        "xychart-beta",
        f'    title "Crashes per day (UTC), last {CHART_DAYS} days"',
        "    x-axis [" + ", ".join(f'"{d}"' for d in days) + "]",
        f'    y-axis "crashes" 0 --> {max(peak, 1)}',
        *(f"    line [{', '.join(map(str, s))}]" for s in series),
        "```",
        "",
        "Lines, in order: " + ", ".join(f"#{r.number}" for r in top) + ".",
    ]


def _build_chart(rows: Sequence[Row]) -> list[str]:
    totals: dict[str, int] = {}
    for row in rows:
        for build, n in row.occurrences.build_counts if row.occurrences else ():
            totals[build] = totals.get(build, 0) + n
    if not totals:
        return []
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:CHART_BUILDS]
    return [
        "## Crashes per build",
        "",
        "```mermaid",
        "xychart-beta",
        '    title "Crashes per build"',
        "    x-axis [" + ", ".join(f'"{_mermaid_label(b[:10])}"' for b, _ in top) + "]",
        f'    y-axis "crashes" 0 --> {max(n for _, n in top)}',
        f"    bar [{', '.join(str(n) for _, n in top)}]",
        "```",
    ]


def _build_rates(rates: Sequence[BuildRate], notes: Sequence[str]) -> list[str]:
    """Crash rates per build on the uptime the uploaders recorded ("crash-free hours" per crash)."""
    # crashbot's own words (a TrustError's reason), never a ledger's text; a handful, however many there are
    lines = [f"*{n}*" for n in notes[:_NOTES]]
    if len(notes) > _NOTES:
        lines.append(f"*… and {len(notes) - _NOTES} more uptime ledger(s) ignored (see the log).*")
    if not rates:
        return lines
    return [
        "## Crash rate per build, per hour of uptime",
        "",
        "| Build | Hours up (90 days) | Crashes | Per 100 h | Crash-free hours per crash |",
        "|---|--:|--:|--:|--:|",
        *(
            f"| {md.inline_code(r.build[:12], table=True)} | {r.hours:,.1f} | {r.crashes} | "
            f"{100 * r.crashes / r.hours:,.2f} | "
            f"{(f'{r.hours / r.crashes:,.1f}' if r.crashes else 'no crash')} |"
            for r in rates
            if r.hours > 0
        ),
        "",
        "<sub>Hours the server process ran, as each realm's uploader recorded them (the `crash-uptime` "
        "issues); crashes counted on each build since it was first seen.</sub>",
        *(["", *lines] if lines else []),
    ]


def _fixes(rows: Sequence[Row], evidence: Mapping[int, str]) -> list[str]:
    shown = [r for r in rows if r.number in evidence]
    if not shown:
        return []
    return [
        "## Fixes in production",
        "",
        "| Crash | State | Evidence |",
        "|---|---|---|",
        *(f"| {_issue_cell(r)} | {_state_cell(r)} | {evidence[r.number]} |" for r in shown),
    ]


def _hours_text(hours: float | None) -> str:
    if hours is None:
        return "n/a"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _loop(figures: LoopFigures) -> list[str]:
    f = figures
    return [
        "## The loop",
        "",
        "| Median crash → fix PR | Median merge → deploy | PRs merged | PRs closed unmerged "
        "| No fix (abstained) |",
        "|---|---|--:|--:|--:|",
        f"| {_hours_text(f.crash_to_pr_h)} | {_hours_text(f.merge_to_deploy_h)} | {f.merged} | {f.closed} "
        f"| {f.abstained} |",
    ]


def render(open_rows: Sequence[Row], fixed_rows: Sequence[Row], inputs: Inputs) -> str:
    """The dashboard body: deterministic for the same inputs, so an unchanged page is never rewritten."""
    today = inputs.today
    order = ranked(open_rows, today)
    head = [DASHBOARD_BODY.tag, f"# {TITLE}", "", _summary(order, fixed_rows, inputs), ""]
    head += _top_table(order[:TOP_ROWS], today)
    head += _rerun_boxes(order[:TOP_ROWS])
    charted = ranked([*open_rows, *fixed_rows], today)  # a fixed crash's fall to zero is a trend too
    tail = [
        "",
        *_daily_chart(charted, today),
        "",
        *_build_chart(charted),
        "",
        *_build_rates(inputs.build_rates, inputs.uptime_notes),
        "",
        *_fixes(ranked(fixed_rows, today), inputs.evidence),
        "",
        *_loop(inputs.figures),
        "",
        "<sub>Written by `crashbot dashboard`, found by its label and edited only when this content changes. "
        "Pin it once by hand: GitHub's REST API cannot pin an issue.</sub>",
    ]
    fixed_size = sum(len(line) + 1 for line in (*head, *tail))
    folded = _folded(order[TOP_ROWS:], today, MAX_BODY_CHARS - fixed_size)
    return "\n".join([*head, "", *folded, *tail]).strip() + "\n"
