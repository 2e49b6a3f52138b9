"""``crashbot deploy``: build the merged commit, stop the server gracefully, swap, start, check, report."""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bot import config as config_mod
from bot.commands import add_github_options
from bot.config import Config, DeploySettings
from bot.deploy.builder import CheckoutBuilder
from bot.deploy.control import make_commander, make_control
from bot.deploy.github_reporter import GitHubDeployReporter, environment_name
from bot.deploy.pipeline import DeployOutcome, DeployReporter, DeployStatus, deploy
from bot.deploy.releases import Releases
from bot.errors import ConfigError, UsageError
from bot.git import Git

logger = logging.getLogger(__name__)

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "deploy",
        help="build a commit, stop the server gracefully, make the new release live, check it, roll back",
        description=(
            "Build --ref in the persistent build directory, collect the artifacts into a new release, "
            "stop the server (SOAP/RA 'server shutdown' first), switch, start, health-check, and roll "
            "back on failure. Exit 0 live, 1 not deployed or rolled back, 4 the realm may be down."
        ),
    )
    p.add_argument("--ref", metavar="SHA", help="commit (or branch) to deploy (default: HEAD of --source)")
    p.add_argument(
        "--rollback", action="store_true", help="switch back to the previous healthy release; builds nothing"
    )
    p.add_argument("--realm", metavar="NAME", help="realm to deploy to (default: deploy.realm in config)")
    p.add_argument(
        "--source", metavar="DIR", help="the server checkout to build (default: current directory)"
    )

    add_github_options(p)
    p.set_defaults(handler=run_deploy)


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


def run_deploy(args: argparse.Namespace, config: Config) -> int:
    config = config_mod.overlay(config, "deploy", realm=args.realm)
    settings = config.deploy
    if not settings.install_dir:
        raise ConfigError(
            "deploy.install_dir is empty: set it in crashbot.toml to the directory holding worldserver.conf, "
            "where crashbot keeps releases/ and the current link"
        )
    install_dir = Path(settings.install_dir).expanduser()
    if install_dir.exists() and not install_dir.is_dir():
        raise ConfigError(
            f"deploy.install_dir {str(install_dir)!r} is not a directory; set it to the folder holding "
            "worldserver.conf"
        )
    if not install_dir.is_dir():
        raise ConfigError(
            f"deploy.install_dir {str(install_dir)!r} does not exist; create it or fix the path"
        )
    source = Path(args.source or ".").resolve()
    releases = Releases(install_dir)
    sha = "" if args.rollback else resolve_ref(source, args.ref)
    if args.rollback and args.ref:
        logger.info("--rollback ignores --ref %s: it switches back to the previous healthy release", args.ref)
    builder = CheckoutBuilder(source, config.fix, executable=settings.executable)
    control = make_control(settings, releases=releases)
    commander = make_commander(settings)
    reporter, github_reporter = _reporter(args, config, settings, releases)

    outcome = deploy(
        sha=sha,
        settings=settings,
        builder=builder,
        control=control,
        commander=commander,
        releases=releases,
        reporter=reporter,
        rollback_only=args.rollback,
    )

    live = releases.get(outcome.live) if outcome.live else None
    context = RunContext(
        realm=settings.realm or "-",
        environment=environment_name(settings),
        install_dir=install_dir,
        live_sha=live.sha if live else None,
        github=_github_line(github_reporter, outcome),
    )
    print(render_summary(outcome, context))
    summary_path = os.environ.get(STEP_SUMMARY_ENV)
    if summary_path:
        _append(Path(summary_path), render_markdown(outcome, context))
    return outcome.exit_code


def resolve_ref(source: Path, ref: str | None) -> str:
    """The full sha ``ref`` (default HEAD) names in the checkout at ``source``."""
    if not source.is_dir():
        raise UsageError(f"--source {str(source)!r} is not a directory; pass the server checkout")
    git = Git(source)
    sha = git.rev_parse(ref or "HEAD")
    if sha is None:
        raise UsageError(
            f"{ref or 'HEAD'!r} is not a commit in {source}; fetch it first (actions/checkout with "
            "fetch-depth: 0) or pass a full sha"
        )
    return sha


def _reporter(
    args: argparse.Namespace, config: Config, settings: DeploySettings, releases: Releases
) -> tuple[DeployReporter, GitHubDeployReporter | None]:
    repo = args.repo or config.github.repo
    if not repo:
        print(
            "crashbot deploy: no GitHub repository (--repo or github.repo): "
            "deploying locally, reporting to GitHub nothing"
        )
        return LocalReporter(), None
    from bot import github

    api_url = args.api_url or config.github.api_url
    client = github.connect(
        config.github,
        repo=repo,
        api_url=api_url,
    )

    def release_sha(name: str) -> str | None:
        release = releases.get(name)
        return release.sha if release else None

    reporter = GitHubDeployReporter(client, settings, release_sha=release_sha, run_url=_run_url())
    return reporter, reporter


def _run_url() -> str:
    """The Actions run this deploy is part of (empty outside Actions)."""
    server, repo, run = (
        os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""


def _github_line(reporter: GitHubDeployReporter | None, outcome: DeployOutcome) -> str:
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


def render_markdown(outcome: DeployOutcome, context: RunContext) -> str:
    """The same summary as a GitHub Actions job summary."""
    icon = {
        DeployStatus.SUCCEEDED: "✅",
        DeployStatus.ROLLED_BACK: "↩️",
        DeployStatus.ABORTED: "⏹️",
        DeployStatus.FAILED: "🚨",
    }[outcome.status]
    out = [
        f"### {icon} crashbot deploy to {context.realm}: {outcome.status.value}",
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


def _append(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:  # the summary is a courtesy; the deploy itself already happened
        logger.warning("could not write the job summary to %s: %s", path, e)
