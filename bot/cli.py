"""The ``crashbot`` command: argparse, config loading, and the one error boundary.

Each subcommand lives in ``bot/commands/<name>.py`` with ``register(subparsers)``; the handler it sets
receives ``(args, config, env)`` and returns an exit code. This is where the process environment is
read: ``env`` is handed down from here, and the config, the commands and the domain code take it as a
parameter instead of reading ``os.environ``. Nothing below this module prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from bot import __version__, actions, credentials
from bot import config as config_mod
from bot.commands import COMMANDS, modules
from bot.crash.errors import CrashParseError
from bot.errors import BotError

logger = logging.getLogger("bot")

Handler = Callable[[argparse.Namespace, config_mod.Config, Mapping[str, str]], int]


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one ``crashbot: error:`` line, like every other failure.

    argparse's default prints the whole usage block before its message; the subcommand parsers are made
    from this class too (``add_subparsers`` uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("crashbot").strip()
        prefix = f"{where}: " if where else ""
        self.exit(2, f"crashbot: error: {prefix}{message} (see `{self.prog} --help`)\n")


class _PeekFailed(Exception):
    """The pre-parse could not make sense of the global options; the full parser will say why."""


class _PeekParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _PeekFailed(message)


def _requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (after the global options), if any."""
    pre = _PeekParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("-v", "--verbose", action="count")
    pre.add_argument("-q", "--quiet", action="count")
    pre.add_argument("--version", action="store_true")
    try:
        _, rest = pre.parse_known_args(list(argv))
    except _PeekFailed:
        return None
    return rest[0] if rest and rest[0] in COMMANDS else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; given ``argv`` naming a command, only that command's module is imported and the
    others are listed in ``--help`` by their summaries (see ``bot.commands``)."""
    wanted = _requested_command(argv) if argv is not None else None
    load = modules() if wanted is None else (COMMANDS[wanted][0],)
    parser = _Parser(
        prog="crashbot",
        description=(
            "Crash reports in, reviewed fixes out: a GitHub-native crash loop for TrinityCore servers."
        ),
    )
    parser.add_argument("--version", action="version", version=f"crashbot {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"config file (default: ${config_mod.CONFIG_ENV}, else ./{config_mod.DEFAULT_CONFIG_NAME})",
    )
    _add_verbosity(parser, dest_prefix="")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules():
        if name in load:
            importlib.import_module(name).register(sub)
    for command, (module, summary) in COMMANDS.items():
        if module not in load:
            sub.add_parser(command, help=summary, add_help=False)
    for subparser in sub.choices.values():  # `crashbot parse -v x` as well as `crashbot -v parse x`
        _add_verbosity(subparser, dest_prefix="sub_")
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, *, dest_prefix: str) -> None:
    # separate dests: argparse copies a subcommand's namespace over the parent's, which would drop
    # the -v given before the command
    parser.add_argument(
        "-v", "--verbose", dest=f"{dest_prefix}verbose", action="count", default=0,
        help="more log output (-vv: debug); before or after the command",
    )  # fmt: skip
    parser.add_argument(
        "-q", "--quiet", dest=f"{dest_prefix}quiet", action="count", default=0,
        help="less log output (-q: errors only, -qq: nothing but the result); before or after the command",
    )  # fmt: skip


def verbosity(args: argparse.Namespace) -> int:
    """-v counts up, -q counts down, wherever they were given."""
    up = args.verbose + getattr(args, "sub_verbose", 0)
    down = args.quiet + getattr(args, "sub_quiet", 0)
    return up - down


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is *now*, so in-process runs (tests, the demo) never log into a
    stream that was swapped out after the handler was made."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _configure_logging(verbosity: int, env: Mapping[str, str]) -> None:
    level = min(max(logging.WARNING - 10 * verbosity, logging.DEBUG), logging.CRITICAL + 10)
    handler = _StderrHandler()
    fmt = "crashbot: %(levelname)s: %(message)s"
    # in a workflow, warnings and errors become annotations on the run's page
    handler.setFormatter(
        actions.AnnotationFormatter(fmt) if actions.in_actions(env) else logging.Formatter(fmt)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _fail(message: str, env: Mapping[str, str] | None = None) -> None:
    line = f"crashbot: error: {message}"
    print(actions.annotation("error", line) if env and actions.in_actions(env) else line, file=sys.stderr)


def _tolerate_unencodable_output() -> None:
    """Let stdout write what its encoding cannot hold as ``\\x..`` escapes instead of failing.

    A Linux file name that is not UTF-8 arrives as surrogates, and a Windows console redirected to a file
    encodes with the ANSI code page (cp1252 cannot hold a Cyrillic path or function name): printing either
    raised UnicodeEncodeError, a "bug" exit for a valid report. stderr already escapes by default.
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if callable(reconfigure):
        reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run crashbot; return the exit code (0 ok, 1 expected failure, 2 bad input, 3 bug, 130 Ctrl-C)."""
    _tolerate_unencodable_output()
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    _configure_logging(verbosity(args), os.environ)
    env = credentials.with_credentials(os.environ)  # LoadCredential= / the Windows service's folder
    handler: Handler = args.handler
    try:
        config = config_mod.load(args.config, env=env)
        return handler(args, config, env)
    except CrashParseError as e:
        _fail(" ".join(str(e).split()) or "unrecognised crash report", env)
        return 2
    except BotError as e:
        _fail(e.diagnostic(), env)
        return e.exit_code
    except KeyboardInterrupt:
        print("crashbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout went away (e.g. `crashbot parse x | head`); nothing left to tell anyone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as e:  # the one deliberate catch-all: bugs become one line, not a traceback
        logger.debug("internal error", exc_info=True)
        _fail(f"internal error: {type(e).__name__}: {e} (run with -vv for details and report it)", env)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
