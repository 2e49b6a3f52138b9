"""``crashbot init``: write crashbot.toml and the workflows into a server repository; say what is left."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from bot import init
from bot.config import Config, choice
from bot.errors import ConfigError
from bot.profiles import Core


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write crashbot.toml and the crash-fix/crash-deploy workflows into a server repository",
        description=(
            "Write a commented crashbot.toml, crashbot's reusable workflows and the thin callers that "
            "run them into the server repository, then print the steps left (GitHub App, secrets, "
            "variables, runner labels). Existing files are kept unless --force."
        ),
    )
    p.add_argument("--repo-dir", metavar="PATH", default=".", help="the server checkout (default: .)")
    p.add_argument(
        "--repo", metavar="OWNER/NAME", help="the GitHub repository (default: from the origin remote)"
    )
    p.add_argument(
        "--default-branch", metavar="BRANCH", help="branch merges deploy from (default: detected, else main)"
    )
    p.add_argument(
        "--uses-remote",
        metavar="OWNER/REPO@SHA",
        help="call crashbot's reusable workflows from its own repository at a pinned commit "
        "instead of copying them into this one",
    )
    p.add_argument(
        "--core",
        type=_core,
        metavar="{" + ",".join(Core) + "}",
        help="the server core whose defaults to write (default: detected from the checkout's files)",
    )
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")
    p.set_defaults(handler=run_init)


def _core(text: str) -> Core:
    try:
        return choice(Core, text, "core")
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run_init(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    remote = init.RemoteWorkflows.parse(args.uses_remote) if args.uses_remote else None
    repo_dir = Path(args.repo_dir).resolve()
    facts = init.detect(repo_dir, env=env, repo=args.repo, default_branch=args.default_branch, core=args.core)
    result = init.write(repo_dir, init.plan(facts, remote=remote), force=args.force)

    print(f"crashbot init in {repo_dir}")
    print(f"  repository:     {facts.repo or '(not detected)'}")
    print(f"  default branch: {facts.default_branch}")
    print(f"  core:           {init.core_line(facts)}")
    print(f"  crash folders:  {', '.join(facts.crash_dirs) or '(none found; set uploader.crash_dirs)'}")
    for path in result.written:
        print(f"  wrote       {path}")
    for path in result.overwritten:
        print(f"  overwrote   {path}")
    for path in result.skipped:
        print(f"  skipped     {path} (exists; --force overwrites it)")
    for note in facts.notes:
        print(f"  note: {note}")
    print()
    print(init.next_steps(facts, remote=remote))
    return 0
