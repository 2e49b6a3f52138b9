"""``crashbot fix``: turn signed crash issues into built pull requests, or honest "no fix" comments."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from bot import actions
from bot import config as config_mod
from bot.commands import add_github_options, add_json_option, append_step_summary
from bot.commands.results import fix_document
from bot.config import Config
from bot.errors import ConfigError, UsageError
from bot.fix.engines import ENGINES
from bot.fix.report import FixResult, Outcome, step_summary

if TYPE_CHECKING:
    from bot.github import GitHubClient
    from bot.symbols.runner import Symbolicator

logger = logging.getLogger(__name__)

_MAX_ISSUE_NUMBER = 2**31 - 1  # GitHub's issue numbers are 32-bit
DEFAULT_PUSH_TOKEN_ENV = "CRASHBOT_PUSH_TOKEN"  # noqa: S105 (a variable name, not a secret)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fix",
        help="turn a signed crash issue into a built pull request (or an honest 'no fix' comment)",
        description=(
            "Verify the issue (opened by github.uploader_login, payload HMAC, sig: label), post the crash "
            "analysis, ask the fix engine for a patch, validate and build it (feeding diagnostics back), "
            "and open or update the PR from crashfix/<signature>. An issue that fails the trust checks "
            "gets one log line and no reply. Exit 0 when every issue was handled (with or without a fix)."
        ),
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--issue", type=_issue_number, metavar="N", help="the crash issue to fix")
    which.add_argument(
        "--pending",
        action="store_true",
        help="sweep open crash issues no run has concluded (no crash-fix-attempted label), oldest first",
    )
    p.add_argument("--engine", choices=ENGINES, help="fix engine (default: fix.engine in config)")
    p.add_argument(
        "--workspace",
        metavar="DIR",
        help="the clean server checkout to patch and build (default: current directory)",
    )
    p.add_argument(
        "--max",
        type=_issue_number,
        metavar="N",
        help="with --pending: work on at most N issues (default: fix.pending_cap)",
    )

    add_json_option(p)
    add_github_options(p)
    p.set_defaults(handler=run_fix)


def _issue_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    if value > _MAX_ISSUE_NUMBER:  # GitHub would answer 404 only after the trust checks' API calls
        raise argparse.ArgumentTypeError(f"{value} is too large to be a GitHub issue number")
    return value


def _symbolicator(config: Config, client: GitHubClient, key: bytes, api_url: str) -> Symbolicator | None:
    """With ``[symbols] store`` set, the runner resolves bare frames before the engine reads them."""
    if not config.symbols.store:
        return None
    from bot.symbols.runner import issue_symbolicator
    from bot.uploader.publish import web_url_for

    return issue_symbolicator(
        config.symbols, client=client, key=key, server_url=web_url_for(api_url), redaction=config.redaction
    )


def run_fix(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    if args.max is not None and not args.pending:
        raise UsageError("--max applies to --pending only")
    config = config_mod.overlay(config, "fix", engine=args.engine)
    uploader = config.github.trusted_uploader()
    key = config_mod.signing_key(config, env)
    workspace = Path(args.workspace or ".").resolve()
    if not workspace.is_dir():
        raise UsageError(f"--workspace {str(workspace)!r} is not a directory; pass the server checkout")

    from bot import github
    from bot.build import fence
    from bot.fix.engines import make_engine
    from bot.fix.pipeline import FixRun, ensure_clean, fix_issue, sweep
    from bot.fix.work import isolated
    from bot.git import Git

    checkout = Git(workspace, env=env)
    ensure_clean(checkout)
    remote = config.fix.push_remote
    if not checkout.run("remote", "get-url", "--", remote, check=False).strip():
        raise ConfigError(
            f"the workspace {workspace} has no git remote {remote!r} to push fix branches to "
            "(fix.push_remote); check out the server repository with actions/checkout"
        )
    api_url = args.api_url or config.github.api_url
    client = github.connect(config.github, env=env, repo=args.repo or None, api_url=api_url)
    run_env = dict(env)  # push_token may add a minted token: to this run's copy, never the process's
    push_token_env = push_token(config, client, run_env)
    secrets = config_mod.secret_env_names(config)
    # every value a fix posts (build logs, agent output, reasons) is masked against these, exactly
    fence.remember([*(run_env.get(n) for n in secrets), run_env.get(push_token_env or "")])
    run = FixRun(
        client=client,
        settings=config.fix,
        uploader=uploader,
        key=key,
        # the engine reads its own key; every other secret stays out of what an agent CLI inherits
        engine=make_engine(
            config.fix,
            env={k: v for k, v in env.items() if k not in secrets or k == config.fix.api_key_env},
        ),
        workspace=workspace,
        base_branch=config.fix.base_branch or client.repo_info().default_branch,
        env=run_env,
        push_token_env=push_token_env,
        secret_names=secrets,
        symbolicate=_symbolicator(config, client, key, api_url),
        # the untrusted phase (engine, apply, build, test) in its own process without crashbot's secrets
        work=isolated(
            engine_key_env=config.fix.api_key_env,
            env=env,
            timeout_s=config.fix.max_attempts * (config.fix.engine_timeout_s + config.fix.build_timeout_s)
            + 600,
        ),
    )
    tip = client.get_ref_sha(run.base_branch)
    head = checkout.head()
    if tip is not None and tip != head:
        logger.warning(
            "the workspace is at %s but %s is at %s on GitHub; fixes are made against the workspace",
            head[:12],
            run.base_branch,
            tip[:12],
        )
    title = f"crashbot fix #{args.issue}" if args.issue is not None else "crashbot fix --pending"
    # in a workflow the engine and build log folds; the result line stays (on stderr with --json)
    with actions.group(title, env, stream=sys.stderr if args.json else None):
        if args.issue is not None:
            results = [fix_issue(run, args.issue)]
        else:
            results = sweep(run, cap=args.max if args.max is not None else config.fix.pending_cap)
    if args.json:
        print(fix_document(r for r in results if r.outcome is not Outcome.UNTRUSTED))
    for result in results:
        if result.outcome is not Outcome.UNTRUSTED and not args.json:  # untrusted: the log line said it
            print(render_line(result))
    if args.pending or any(r.outcome is not Outcome.UNTRUSTED for r in results):
        append_step_summary(env, step_summary(results))
    return max((r.exit_code for r in results), default=0)


def push_token(config: Config, client: object, env: MutableMapping[str, str]) -> str | None:
    """The name of the variable in ``env`` that holds the token ``git push`` sends (None: push without one,
    e.g. an SSH or local remote).

    ``fix.push_token_env`` wins when set; with GitHub App auth an installation token is minted into
    ``env`` (never into ``os.environ``, argv or ``.git/config``); else the API token's variable is used.
    """
    name = config.fix.push_token_env or DEFAULT_PUSH_TOKEN_ENV
    if env.get(name):
        return name
    gh = config.github
    if gh.app_id and gh.app_installation_id:
        mint = getattr(client, "installation_token", None)
        if not callable(mint):
            raise ConfigError(
                f"pushing the fix branch as the GitHub App needs an installation token: set {name} "
                "(e.g. from actions/create-github-app-token), or use a bot.github that can mint one"
            )
        env[name] = str(mint())
        return name
    return next((n for n in gh.token_env if env.get(n)), None)


def render_line(result: FixResult) -> str:
    """One line per issue on stdout."""
    timing = f"{result.total_s:.1f}s (engine {result.engine_s:.1f}s, build {result.build_s:.1f}s)"
    return f"crashbot fix: #{result.issue} {result.outcome.value}: {result.reason} [{timing}]"
