"""``crashbot dashboard``: keep the one crash dashboard issue current and verify deployed fixes."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from bot import config as config_mod
from bot.commands import add_github_options
from bot.config import Config
from bot.errors import ConfigError

logger = logging.getLogger(__name__)


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

    client = github.connect(
        config.github, env=env, repo=args.repo or None, api_url=args.api_url or config.github.api_url
    )
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
