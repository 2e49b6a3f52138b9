"""``crashbot symbols add|list|prune``: the release symbol store (see README "Symbols")."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from bot.config import Config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("symbols", help="keep release debug files in the symbol store: add, list, prune")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{add,list,prune}")
    add = verbs.add_parser("add", help="import the debug files of a build folder (.exe/.dll/.pdb, ELF)")
    add.add_argument("dir", type=Path, help="a release folder or build output")
    add.add_argument("--revision", default="", help="the build's revision hash (default: the folder name)")
    ls = verbs.add_parser("list", help="the releases in the store and their size")
    prune = verbs.add_parser(
        "prune", help="drop the oldest releases beyond [symbols] keep_releases / max_bytes"
    )
    prune.add_argument("--keep", type=int, help="keep this many releases (default: config)")
    for parser in (add, ls, prune):
        parser.add_argument("--store", metavar="DIR", help="the store folder (default: [symbols] store)")
    p.set_defaults(handler=run_symbols)


def run_symbols(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    from bot.symbols import cli

    settings = config.symbols
    if args.verb == "add":
        revision = args.revision or args.dir.resolve().name
        return cli.run_add(args.dir, revision=revision, settings=settings, store=args.store)
    if args.verb == "list":
        return cli.run_list(settings=settings, store=args.store)
    return cli.run_prune(settings=settings, store=args.store, keep=args.keep)
