"""``crashbot deploy``: build the merged commit, stop the server gracefully, swap, start, check, report."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from bot import actions
from bot import config as config_mod
from bot.commands import add_github_options, add_json_option, append_step_summary
from bot.commands.results import deploy_document
from bot.config import Config
from bot.deploy.backends import make_commander, make_control
from bot.deploy.builder import CheckoutBuilder, deploy_build_dir
from bot.deploy.github_reporter import GitHubDeployReporter, environment_name
from bot.deploy.pipeline import DeployReporter, deploy
from bot.deploy.releases import Releases, install_dir
from bot.deploy.report import LocalReporter, RunContext, github_line, render_markdown, render_summary
from bot.errors import UsageError
from bot.git import Git

logger = logging.getLogger(__name__)


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

    add_json_option(p)
    add_github_options(p)
    p.set_defaults(handler=run_deploy)


def _symbol_keeper(config: Config) -> Callable[[str, Path], object] | None:
    """With ``[symbols] store`` set, each deploy adds its build's debug files and prunes by retention."""
    if not config.symbols.store:
        return None
    from bot.symbols.store import SymbolStore

    store = SymbolStore(Path(config.symbols.store))
    keep, max_bytes = config.symbols.keep_releases, config.symbols.max_bytes

    def keep_symbols(sha: str, output: Path) -> object:
        release, _notes = store.add(output, revision=sha)
        return release, store.prune(keep_releases=keep, max_bytes=max_bytes)

    return keep_symbols


def run_deploy(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    config = config_mod.overlay(config, "deploy", realm=args.realm)
    settings = config.deploy
    installed = install_dir(settings.install_dir)
    source = Path(args.source or ".").resolve()
    releases = Releases(installed)
    sha = "" if args.rollback else resolve_ref(source, args.ref, env=env, base_branch=config.fix.base_branch)
    if args.rollback and args.ref:
        logger.info("--rollback ignores --ref %s: it switches back to the previous healthy release", args.ref)
    builder = CheckoutBuilder(
        source,
        config.fix,
        executable=settings.executable,
        env=env,
        build_dir=deploy_build_dir(settings, config.fix, source, env=env),
    )
    control = make_control(settings, releases=releases, env=env)
    commander = make_commander(settings, env)
    reporter, github_reporter = _reporter(args, config, releases, env)

    title = f"crashbot deploy {'rollback' if args.rollback else sha[:12]} to {settings.realm or '-'}"
    # in a workflow the build and stop/start log folds (on stderr with --json: stdout holds the object)
    with actions.group(title, env, stream=sys.stderr if args.json else None):
        outcome = deploy(
            sha=sha,
            settings=settings,
            builder=builder,
            control=control,
            commander=commander,
            releases=releases,
            reporter=reporter,
            rollback_only=args.rollback,
            keep_symbols=_symbol_keeper(config),
        )

    live = releases.get(outcome.live) if outcome.live else None
    context = RunContext(
        realm=settings.realm or "-",
        environment=environment_name(settings),
        install_dir=installed,
        live_sha=live.sha if live else None,
        github=github_line(github_reporter, outcome),
    )
    print(deploy_document(outcome) if args.json else render_summary(outcome, context))
    append_step_summary(env, render_markdown(outcome, context))
    return outcome.exit_code


def resolve_ref(source: Path, ref: str | None, *, env: Mapping[str, str], base_branch: str = "") -> str:
    """The full sha ``ref`` (default HEAD) names in the checkout at ``source``. An explicit ``ref`` must
    be on the default branch (an ancestor of its tip): a fix branch or any pushed commit never deploys."""
    if not source.is_dir():
        raise UsageError(f"--source {str(source)!r} is not a directory; pass the server checkout")
    git = Git(source, env=env)
    sha = git.rev_parse(ref or "HEAD")
    if sha is None:
        raise UsageError(
            f"{ref or 'HEAD'!r} is not a commit in {source}; fetch it first (actions/checkout with "
            "fetch-depth: 0) or pass a full sha"
        )
    if ref:
        name, tip = default_branch_tip(git, base_branch)
        if not git.is_ancestor(sha, tip):
            raise UsageError(
                f"--ref {ref!r} ({sha[:12]}) is not on the default branch {name!r}: only merged commits "
                "deploy; merge it first"
            )
    return sha


def default_branch_tip(git: Git, base_branch: str = "") -> tuple[str, str]:
    """The default branch's name and tip as the checkout knows it: ``fix.base_branch``, else the remote's
    HEAD, else ``main``/``master`` (remote-tracking first); UsageError when none is there."""
    names = [f"origin/{base_branch}", base_branch] if base_branch else []
    head = git.run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", check=False).strip()
    names += [head] if head else []
    names += ["origin/main", "origin/master", "main", "master"]
    for name in names:
        tip = git.rev_parse(f"refs/remotes/{name}" if name.startswith("origin/") else f"refs/heads/{name}")
        if tip is not None:
            return name, tip
    raise UsageError(
        "cannot tell the default branch of the checkout, so --ref cannot be checked against it; fetch it "
        "(actions/checkout with fetch-depth: 0) or set fix.base_branch"
    )


def _reporter(
    args: argparse.Namespace, config: Config, releases: Releases, env: Mapping[str, str]
) -> tuple[DeployReporter, GitHubDeployReporter | None]:
    repo = args.repo or config.github.repo
    if not repo:
        print(
            "crashbot deploy: no GitHub repository (--repo or github.repo): "
            "deploying locally, reporting to GitHub nothing",
            file=sys.stderr if args.json else sys.stdout,  # stdout holds only the JSON object then
        )
        return LocalReporter(), None
    from bot import github

    api_url = args.api_url or config.github.api_url
    client = github.connect(config.github, env=env, repo=repo, api_url=api_url)

    def release_sha(name: str) -> str | None:
        release = releases.get(name)
        return release.sha if release else None

    reporter = GitHubDeployReporter(client, config.deploy, release_sha=release_sha, run_url=_run_url(env))
    return reporter, reporter


def _run_url(env: Mapping[str, str]) -> str:
    """The Actions run this deploy is part of (empty outside Actions)."""
    server, repo, run = (env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""
