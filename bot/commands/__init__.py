"""Subcommands, one module each, and the table ``bot.cli`` builds its parser from.

``bot.cli`` imports only the module of the command being run: an idle ``crashbot watch`` should not
carry the fix engines, the deploy room and the demo in memory, and ``crashbot parse`` should start
fast. The other commands still appear in ``crashbot --help`` from the summaries below, which a test
keeps equal to each module's own ``help=``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from types import MappingProxyType

from bot.config import url_problem

# command name -> (module that registers it, one-line summary for `crashbot --help`), in help order
COMMANDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "parse": ("bot.commands.parse", "parse one crash report and show its crashing thread and signature"),
        "signature": ("bot.commands.parse", "print '<signature_id>  <signature>  <file>' for each report"),
        "deploy": (
            "bot.commands.deploy",
            "build a commit, stop the server gracefully, make the new release live, check it, roll back",
        ),
        "upload": ("bot.commands.upload", "file crash reports as GitHub issues (one per signature) and exit"),
        "watch": ("bot.commands.upload", "watch crash folders and file each new report as it is written"),
        "fix": (
            "bot.commands.fix",
            "turn a signed crash issue into a built pull request (or an honest 'no fix' comment)",
        ),
        "init": (
            "bot.commands.init",
            "write crashbot.toml and the crash-fix/crash-deploy workflows into a server repository",
        ),
        "doctor": (
            "bot.commands.doctor",
            "check this host's crashbot setup and print OK/WARN/FAIL/SKIP with the fix for each failure",
        ),
        "demo": (
            "bot.commands.demo",
            "run the whole loop locally: crash, issue, fix PR, merge, deploy, crash gone",
        ),
    }
)


def modules() -> tuple[str, ...]:
    """The command modules, each once, in help order."""
    return tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def _api_url(text: str) -> str:
    problem = url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_github_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that talks to GitHub accepts (see shared/DESIGN.md)."""
    parser.add_argument("--repo", metavar="OWNER/NAME", help="the server repository (default: config)")
    parser.add_argument(
        "--api-url",
        type=_api_url,
        metavar="URL",
        help="GitHub REST API base URL (default: config, else https://api.github.com)",
    )
