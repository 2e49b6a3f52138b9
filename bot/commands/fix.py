"""``crashbot fix``: turn signed crash issues into built pull requests, or honest "no fix" comments."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from collections.abc import Mapping, MutableMapping
from enum import StrEnum
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
    from bot.fix.pipeline import Each, FixRun
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

    p.add_argument(
        "--phase",
        choices=[x.value for x in Phase],
        default=Phase.ALL.value,
        help=(
            "run one part: prepare (verify, analyse; signing key + GitHub), work (engine, build, test; the "
            "engine's key only), publish (verify and validate again, push, conclude; GitHub + signing key); "
            "a workflow runs them as three steps. Default: all three in this process"
        ),
    )
    p.add_argument(
        "--handoff",
        metavar="DIR",
        help="with --phase: the directory the phases hand tasks and results over in (e.g. $RUNNER_TEMP/...)",
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


class Phase(StrEnum):
    """Which part of ``crashbot fix`` this process runs. A workflow runs the three as separate steps,
    each with only the secrets it needs, so no process that runs untrusted code ever held a crashbot
    secret; ``all`` runs them in one process (local use, the demo)."""

    ALL = "all"
    PREPARE = "prepare"  # trusted: verify, analyse, hand the task over (signing key, GitHub)
    WORK = "work"  # untrusted: engine, apply, build, test (the engine's key only)
    PUBLISH = "publish"  # trusted: verify again, validate again, commit, push, conclude


def run_fix(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    if args.max is not None and not args.pending:
        raise UsageError("--max applies to --pending only")
    phase = Phase(args.phase)
    handoff = _handoff(args.handoff, phase)
    if phase is Phase.WORK:
        _refuse_secrets(config, env)  # before anything is read: with the checkout's config, then prepare's
    config = config_mod.overlay(_phase_config(config, phase, handoff, env), "fix", engine=args.engine)
    workspace = Path(args.workspace or ".").resolve()
    if phase is not Phase.PUBLISH and not workspace.is_dir():  # publish never reads the workspace
        raise UsageError(f"--workspace {str(workspace)!r} is not a directory; pass the server checkout")
    if phase is Phase.WORK:
        return _run_work(config, env, workspace, handoff)
    from bot.fix.handoff import prepared_issues
    from bot.fix.pipeline import fix_issue, one_issue, prepare_issue, publish_issue, sweep

    api_url = args.api_url or config.github.api_url
    run = _trusted_run(config, env, workspace, phase=phase, repo=args.repo or None, api_url=api_url)
    each: Each = fix_issue
    if phase is Phase.PREPARE:
        each = functools.partial(prepare_issue, handoff=handoff)
    elif phase is Phase.PUBLISH:
        each = functools.partial(publish_issue, handoff=handoff)
    title = f"crashbot fix #{args.issue}" if args.issue is not None else "crashbot fix --pending"
    # in a workflow the engine and build log folds; the result line stays (on stderr with --json)
    with actions.group(title, env, stream=sys.stderr if args.json else None):
        if phase is Phase.PUBLISH:  # the issues prepare handed over (each verified again); none: done
            handed = [n for n in prepared_issues(handoff) if args.issue in (None, n)]
            results = [one_issue(run, n, each) for n in handed]
        elif args.issue is not None:
            results = [each(run, args.issue)]
        else:
            results = sweep(run, cap=args.max if args.max is not None else config.fix.pending_cap, each=each)
    return _report(results, args, env)


def _handoff(value: str | None, phase: Phase) -> Path:
    """``--handoff``: required by the three phases, refused with ``all`` (which hands nothing over)."""
    if phase is Phase.ALL:
        if value:
            raise UsageError("--handoff needs --phase prepare, work or publish")
        return Path()
    if not value:
        raise UsageError(f'--phase {phase.value} needs --handoff DIR (e.g. "$RUNNER_TEMP/crashbot-fix")')
    path = Path(value).resolve()
    if phase is Phase.PREPARE:  # never on top of an earlier run's tickets and results
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"--handoff {str(path)!r} is not an empty directory; prepare starts afresh")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not path.is_dir():
        raise UsageError(f"--handoff {str(path)!r} does not exist; run --phase prepare first")
    return path


def _phase_config(config: Config, phase: Phase, handoff: Path, env: Mapping[str, str]) -> Config:
    """The configuration of this phase. prepare keeps a copy of its crashbot.toml in the handoff
    directory; work and publish load that copy, never the checkout's again, which the untrusted work
    step can rewrite (a wider allow-list, another uploader, another variable for the signing key)."""
    from bot.fix.handoff import CONFIG_FILE

    kept = handoff / CONFIG_FILE
    if phase is Phase.PREPARE:
        source = Path(config.source) if config.source else None
        kept.write_bytes(source.read_bytes() if source is not None and source.is_file() else b"")
        kept.chmod(0o600)
        return config
    if phase in (Phase.WORK, Phase.PUBLISH):
        if not kept.is_file() or kept.is_symlink():
            raise UsageError(f"{kept} is missing; run --phase prepare with this --handoff first")
        return config_mod.load(kept, env=env)
    return config


def _trusted_run(
    config: Config, env: Mapping[str, str], workspace: Path, *, phase: Phase, repo: str | None, api_url: str
) -> FixRun:
    """The :class:`FixRun` of a trusted phase (all, prepare, publish): the signing key, the GitHub client
    and, where something is pushed, the push token (minted here, for this process only)."""
    from bot import github
    from bot.build import fence
    from bot.fix import handoff
    from bot.fix.engines import engine_elsewhere, make_engine
    from bot.fix.pipeline import FixRun
    from bot.fix.publish import trusted_remote
    from bot.fix.work import isolated

    uploader = config.github.trusted_uploader()
    key = config_mod.signing_key(config, env)
    if phase is not Phase.PUBLISH:
        _check_workspace(env, workspace)
    client = github.connect(config.github, env=env, repo=repo, api_url=api_url)
    info = client.repo_info()
    run_env = dict(env)  # push_token may add a minted token: to this run's copy, never the process's
    push_token_env = push_token(config, client, run_env) if phase is not Phase.PREPARE else None
    secrets = config_mod.secret_env_names(config)
    # every value a fix posts (build logs, agent output, reasons) is masked against these, exactly
    fence.remember([*(run_env.get(n) for n in secrets), run_env.get(push_token_env or "")])
    one_process = phase is Phase.ALL
    return FixRun(
        client=client,
        settings=config.fix,
        uploader=uploader,
        key=key,
        # the engine reads its own key; every other secret stays out of what an agent CLI inherits
        engine=make_engine(
            config.fix,
            env={k: v for k, v in env.items() if k not in secrets or k == config.fix.api_key_env},
        )
        if one_process
        else engine_elsewhere(config.fix),
        workspace=workspace,
        base_branch=config.fix.base_branch or info.default_branch,
        env=run_env,
        push_token_env=push_token_env,
        secret_names=secrets,
        symbolicate=_symbolicator(config, client, key, api_url) if phase is not Phase.PUBLISH else None,
        # the untrusted phase (engine, apply, build, test) in its own process without crashbot's secrets
        work=isolated(
            engine_key_env=config.fix.api_key_env,
            env=env,
            timeout_s=config.fix.max_attempts * (config.fix.engine_timeout_s + config.fix.build_timeout_s)
            + 600,
        ),
        remote_url=trusted_remote(info.clone_url, api_url=api_url) if phase is not Phase.PREPARE else "",
        config_digest=handoff.config_digest(config),
        run_id=handoff.run_id(env),
    )


def _check_workspace(env: Mapping[str, str], workspace: Path) -> None:
    """The checkout the engine loop patches must be clean. Its remotes do not matter: fix branches are
    fetched from and pushed to the clone URL GitHub reports (:func:`bot.fix.publish.trusted_remote`)."""
    from bot.fix.pipeline import ensure_clean
    from bot.git import Git

    ensure_clean(Git(workspace, env=env))


def _run_work(config: Config, env: Mapping[str, str], workspace: Path, handoff: Path) -> int:
    """``--phase work``: the engine loop for every task in ``handoff``, in a process holding no crashbot
    secret but the engine's key (it refuses to start otherwise), then one line per issue."""
    from bot.build import fence
    from bot.fix.attempts import Bench
    from bot.fix.engines import make_engine
    from bot.fix.pipeline import ensure_clean
    from bot.fix.work import run_handoff
    from bot.git import Git

    secrets = _refuse_secrets(config, env)
    fence.remember([env.get(config.fix.api_key_env)] if config.fix.api_key_env else [])
    git = Git(workspace, env=env)
    ensure_clean(git)
    build_env = {k: v for k, v in env.items() if k not in secrets}
    engine = make_engine(config.fix, env=env)
    done = run_handoff(handoff, Bench(engine, config.fix, git, workspace, build_env, time.monotonic))
    for worked in done:
        if worked.loop is None:
            print(f"crashbot fix (work): #{worked.issue} error: {worked.error}")
            continue
        last = worked.loop.attempts[-1]
        print(
            f"crashbot fix (work): #{worked.issue} {len(worked.loop.attempts)} attempt(s), last {last.step}"
        )
    return 1 if any(w.loop is None for w in done) else 0


def _refuse_secrets(config: Config, env: Mapping[str, str]) -> frozenset[str]:
    """UsageError (one line) when the work step's environment holds a secret other than the engine's key;
    else every name that would be one (kept out of the build's environment)."""
    from bot.fix.work import held_secrets

    secrets = config_mod.secret_env_names(config) | {config.fix.push_token_env or DEFAULT_PUSH_TOKEN_ENV}
    held = held_secrets(env, secrets, engine_key_env=config.fix.api_key_env)
    if held:
        raise UsageError(
            f"--phase work runs untrusted code, but its environment holds {', '.join(held)}; give that "
            f"workflow step only the engine's key ({config.fix.api_key_env or 'fix.api_key_env'})"
        )
    return secrets


def _report(results: list[FixResult], args: argparse.Namespace, env: Mapping[str, str]) -> int:
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
