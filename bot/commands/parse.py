"""``crashbot parse`` and ``crashbot signature``: read crash reports (owned by the crash core)."""

from __future__ import annotations

import argparse

from bot.config import Config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("parse", help="parse one crash report")
    p.add_argument("file")
    p.set_defaults(handler=run_parse)


def run_parse(args: argparse.Namespace, config: Config) -> int:
    raise NotImplementedError("crash core not built yet")
