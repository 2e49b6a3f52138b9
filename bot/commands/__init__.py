"""Subcommands, one module each, and the table ``bot.cli`` builds its parser from.

``bot.cli`` imports only the module of the command being run: an idle ``crashbot watch`` should not
carry the fix engines, the deploy room and the demo in memory, and ``crashbot parse`` should start
fast. The other commands still appear in ``crashbot --help`` from the summaries below, which a test
keeps equal to each module's own ``help=``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from bot.config import url_problem

logger = logging.getLogger(__name__)

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"  # set by GitHub Actions: markdown appended there shows on the run

# command name -> (module that registers it, one-line summary for `crashbot --help`), in help order
COMMANDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "parse": ("bot.commands.parse", "parse one crash report and show its crashing thread and signature"),
        "signature": ("bot.commands.parse", "print '<signature_id>  <signature>  <file>' for each report"),
        "symbols": ("bot.commands.symbols", "keep release debug files in the symbol store: add, list, prune"),
        "analyze": (
            "bot.commands.analyze",
            "show locally, without GitHub, the frames, code, callers and commits a fix would see",
        ),
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
        "dashboard": (
            "bot.commands.dashboard",
            "keep the crash dashboard issue current and label fixes proven in production fix-verified",
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


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: one JSON object with the command's results on stdout (shapes: bot/commands/results.py)."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the results instead of lines (shape: bot/commands/results.py)",
    )


def append_step_summary(env: Mapping[str, str], text: str) -> None:
    """Append ``text`` to the GitHub Actions job summary (nothing outside Actions, where it is unset).

    The summary is a courtesy: the run it describes already happened, so a write that fails is logged,
    never raised.
    """
    path = env.get(STEP_SUMMARY_ENV)
    if not path:
        return
    try:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        logger.warning("could not write the job summary to %s: %s", path, e)
