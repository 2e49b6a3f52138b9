"""Subcommands, one module each; ``bot.cli`` registers them in this order."""

from __future__ import annotations

import argparse
from types import ModuleType

from bot.commands import demo, deploy, doctor, fix, init, parse, upload

COMMANDS: tuple[ModuleType, ...] = (parse, deploy, upload, fix, init, doctor, demo)


def add_github_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that talks to GitHub accepts (see shared/DESIGN.md)."""
    parser.add_argument("--repo", metavar="OWNER/NAME", help="the server repository (default: config)")
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help="GitHub REST API base URL (default: config, else https://api.github.com)",
    )
