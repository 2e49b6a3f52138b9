"""``crashbot dashboard``: keep the one crash dashboard issue current and verify deployed fixes."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot import config as config_mod
from bot.commands import add_github_options
from bot.config import Config
from bot.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from bot.dashboard.rerun import RerunGitHub

logger = logging.getLogger(__name__)

MAX_BODY_CHARS = 65_536  # GitHub's body limit: a bigger file did not come from an issue event


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dashboard",
        help="keep the crash dashboard issue current and label fixes proven in production fix-verified",
        description=(
            "Read every crash issue (its signed occurrence history), the crashfix/ pull requests and the "
            "realms' deployments; label a deployed fix fix-verified once the crash's silence is "
            "statistically significant (Poisson, P(0) < 1%); then create or edit the one issue labelled "
            "crash-dashboard, only when its content changed."
        ),
    )
    p.add_argument(
        "--rerun-by",
        metavar="LOGIN",
        help="instead: start crash-fix runs for the rerun boxes LOGIN ticked (the issues: edited event's "
        "sender), when the API says LOGIN may write; needs --rerun-bodies",
    )
    p.add_argument(
        "--rerun-bodies",
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="files holding the dashboard body before and after the edit (from the event)",
    )
    add_github_options(p)
    p.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    key = config_mod.secret(config.signing.key_env, env)
    if key is None:
        raise ConfigError(
            f"the payload signing key is not set: export {config.signing.key_env or '(signing.key_env)'} "
            "with the key the uploader signs crash issues with (the dashboard reads their history)"
        )
    from bot import github
    from bot.dashboard.sync import DashboardSettings, sync

    if (args.rerun_by is None) != (args.rerun_bodies is None):
        raise UsageError("--rerun-by and --rerun-bodies go together")
    client = github.connect(
        config.github, env=env, repo=args.repo or None, api_url=args.api_url or config.github.api_url
    )
    if args.rerun_by is not None:
        return _rerun(client, args.rerun_by, *args.rerun_bodies)
    environments = tuple(
        e for e in (config.deploy.environment, config.deploy.realm, config.uploader.realm) if e
    )
    result = sync(
        client,
        DashboardSettings(key=key.encode("utf-8"), environments=environments),
        now=datetime.now(UTC),
    )
    print(f"dashboard #{result.issue}: {result.action.value}", end="")
    if result.verified:
        print("; fix verified on " + ", ".join(f"#{n}" for n in result.verified), end="")
    print()
    return 0


def _read_body(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")[:MAX_BODY_CHARS]
    except OSError as e:
        raise UsageError(f"cannot read the dashboard body {path!r}: {e.strerror or e}") from e


def _rerun(client: RerunGitHub, sender: str, before: str, after: str) -> int:
    from bot.dashboard.rerun import request_reruns

    result = request_reruns(client, sender=sender, before=_read_body(before), after=_read_body(after))
    if result.started:
        print("rerun started for " + ", ".join(f"#{n}" for n in result.started))
    else:
        print(f"no rerun: {result.refused or 'no open crash issue among the ticked boxes'}")
    return 0
