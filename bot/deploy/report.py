"""How a deploy run is told: the log-only reporter, and the outcome as plain text and as a job summary.

The GitHub reporter (Deployments and issue comments) is ``bot.deploy.github_reporter``; these are the
renderers ``crashbot deploy`` prints and ``bench/deploy.py`` reuses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.deploy.github_reporter import GitHubDeployReporter
from bot.deploy.pipeline import DeployOutcome, DeployStatus

logger = logging.getLogger(__name__)


class LocalReporter:
    """The reporter when no GitHub repository is configured: the log and the printed summary only."""

    def started(self, *, sha: str, release: str, previous: str | None) -> None:
        logger.info("deploying %s as %s (live before: %s)", sha[:12], release, previous or "nothing")

    def succeeded(self, outcome: DeployOutcome) -> None:
        logger.info("%s", outcome.summary())

    def rolled_back(self, outcome: DeployOutcome) -> None:
        logger.warning("%s", outcome.summary())

    def failed_loudly(self, outcome: DeployOutcome) -> None:
        logger.critical("%s", outcome.summary())

    def aborted(self, outcome: DeployOutcome) -> None:
        logger.warning("%s", outcome.summary())


@dataclass(frozen=True)
class RunContext:
    """What the summary says besides the outcome itself."""

    realm: str
    environment: str
    install_dir: Path
    live_sha: str | None  # the commit of the release live when the run ended
    github: str  # one line on what GitHub was told (or why nothing)


def github_line(reporter: GitHubDeployReporter | None, outcome: DeployOutcome) -> str:
    """``RunContext.github``: the deployment recorded and the issues told, or why nothing was."""
    if reporter is None:
        return "off (no repository configured)"
    failed = [n for n in outcome.notes if n.startswith("reporting ")]
    where = f"{reporter.client.repo} environment {reporter.environment!r}"
    if reporter.deployment is None:
        return f"{where}: no deployment recorded" + (f" ({failed[0]})" if failed else "")
    told = ", ".join(f"#{i.number}" for i in reporter.told)
    text = f"{where}: deployment {reporter.deployment.id}"
    if told:
        text += f"; told {told}"
    return text + (f"; {len(failed)} report(s) failed, see notes" if failed else "")


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _stop_text(outcome: DeployOutcome) -> str:
    stop = outcome.stop
    if stop is None:
        return "not stopped"
    forced = "FORCED (killed)" if stop.forced else "not forced"
    return f"{stop.method.value}, {forced}, {stop.duration_s:.1f}s"


def _live_text(outcome: DeployOutcome, context: RunContext) -> str:
    if outcome.live is None:
        return (
            "nothing"
            if outcome.status is not DeployStatus.FAILED
            else "NOTHING HEALTHY (the realm may be down)"
        )
    return f"{outcome.live}" + (f" ({context.live_sha})" if context.live_sha else "")


def render_summary(outcome: DeployOutcome, context: RunContext) -> str:
    """The one summary the command prints (plain text)."""
    lines = [
        f"crashbot deploy: {outcome.status.value.upper()} ({outcome.mode.value}) realm {context.realm}",
        f"  {outcome.reason}",
        f"  commit:     {outcome.sha or '-'}",
        "  steps:",
    ]
    for step in outcome.steps:
        detail = f"  {step.detail}" if step.detail else ""
        lines.append(f"    {step.name:<18} {step.duration_s:7.1f}s  {'ok' if step.ok else 'FAILED'}{detail}")
    lines.append(f"  stop:       {_stop_text(outcome)}")
    if outcome.health is not None:
        lines.append(f"  health:     {'ok' if outcome.health.ok else 'FAILED'}: {outcome.health.reason}")
    if outcome.rollback_health is not None:
        back = outcome.rollback_health
        lines.append(f"  rollback:   {'ok' if back.ok else 'FAILED'}: {back.reason}")
    lines.append(
        f"  downtime:   {_fmt_s(outcome.downtime_s)} (server's own start {_fmt_s(outcome.server_start_s)})"
    )
    lines.append(f"  live now:   {_live_text(outcome, context)}")
    lines.append(f"  github:     {context.github}")
    lines.extend(f"  note:       {note}" for note in outcome.notes)
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_ICONS = {
    DeployStatus.SUCCEEDED: "✅",
    DeployStatus.ROLLED_BACK: "↩️",
    DeployStatus.ABORTED: "⏹️",
    DeployStatus.FAILED: "🚨",
}


def render_markdown(outcome: DeployOutcome, context: RunContext) -> str:
    """The same summary as a GitHub Actions job summary."""
    out = [
        f"### {_ICONS[outcome.status]} crashbot deploy to {context.realm}: {outcome.status.value}",
        "",
        _cell(outcome.reason),
        "",
        "| step | duration | result |",
        "|---|---:|---|",
    ]
    for step in outcome.steps:
        result = ("ok" if step.ok else "**failed**") + (f" ({_cell(step.detail)})" if step.detail else "")
        out.append(f"| {step.name} | {step.duration_s:.1f}s | {result} |")
    out += [
        "",
        f"- **commit**: `{outcome.sha or '-'}`",
        f"- **stop**: {_cell(_stop_text(outcome))}",
        f"- **downtime**: {_fmt_s(outcome.downtime_s)} (server's own start {_fmt_s(outcome.server_start_s)})",
        f"- **live now**: {_cell(_live_text(outcome, context))}",
        f"- **environment**: {_cell(context.environment)}; GitHub: {_cell(context.github)}",
    ]
    out.extend(f"- note: {_cell(note)}" for note in outcome.notes)
    return "\n".join(out) + "\n"
