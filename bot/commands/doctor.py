"""``crashbot doctor``: check config, credentials, labels, tools, folders and the realm console; one table."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from bot import doctor
from bot.commands import add_github_options, add_json_option
from bot.commands.results import doctor_document
from bot.config import Config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this host's crashbot setup and print OK/WARN/FAIL/SKIP with the fix for each failure",
        description=(
            "Check the config, GitHub credentials and their permissions on the repository, the labels "
            "crashbot uses, the signing key, runner tools, crash folders, the SOAP/RA console and the "
            "build folder. Exit 0 when nothing FAILs, 1 otherwise."
        ),
    )
    p.add_argument(
        "--skip-network",
        action="store_true",
        help="skip the checks that talk to GitHub or the worldserver console",
    )
    p.add_argument(
        "--create-labels",
        action="store_true",
        help=(
            "create every label crashbot uses (crash kinds, fix, deploy and dashboard labels) that is "
            "missing (needs write access)"
        ),
    )

    add_json_option(p)
    add_github_options(p)
    p.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    probe = doctor.Probe(
        config=config,
        env=env,
        repo=args.repo or "",
        api_url=args.api_url or "",
        skip_network=args.skip_network,
        create_labels=args.create_labels,
    )
    results = doctor.run_checks(probe)
    print(doctor_document(results) if args.json else doctor.render_table(results))
    return 0 if doctor.all_passed(results) else 1
