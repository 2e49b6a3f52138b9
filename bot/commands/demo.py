"""``crashbot demo``: run the whole crash-to-fix loop locally against a GitHub stand-in and show it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.config import Config
from bot.demo.report import DemoReport, StepRecord, render_text, step_line
from bot.demo.run import CrashCapture, DemoOptions, run_demo
from bot.errors import UsageError

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = "demo-output"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole loop locally: crash, issue, fix PR, merge, deploy, crash gone",
        description=(
            "In a temporary directory: start a local GitHub stand-in, create a server repository from the "
            "demo C++ worldserver, deploy it, crash it for real, upload the report, fix it with the replay "
            "engine (trust check, analysis, validation, CMake build and PR are real), merge, deploy the "
            "merge gracefully and show the crash is gone. Prints a timeline and writes the issue and PR "
            "as Markdown and HTML. Needs git, CMake, a C++17 compiler and (on Linux) gdb. Exit 0 only "
            "when every step happened and checked out."
        ),
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        default=DEFAULT_OUTPUT,
        help=f"where the timeline, issue/PR bodies, index.html and logs go (default: ./{DEFAULT_OUTPUT})",
    )
    p.add_argument(
        "--workdir",
        metavar="DIR",
        help="a new or empty directory for the run (default: a temporary one, removed after success)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory, the v2 server and the stand-in running until Ctrl-C",
    )
    p.add_argument(
        "--jobs", type=int, default=0, metavar="N", help="parallel compile jobs (default: the CPU count)"
    )
    p.add_argument(
        "--crash-report",
        choices=[c.value for c in CrashCapture],
        help="gdb: the crashing twin runs under gdb, which writes the report (default off Windows); "
        "recorded: the twin crashes without a debugger and the report is the recorded "
        "WheatyExceptionReport (default on Windows); wine: see --windows",
    )
    p.add_argument(
        "--windows",
        action="store_true",
        help="(Linux) crash a Windows build of the live commit under Wine instead: its crash handler writes "
        "the WheatyExceptionReport and minidump, the symbol store resolves the frames (needs wine64, "
        "clang, lld and g++-mingw-w64; the same as --crash-report wine)",
    )
    p.set_defaults(handler=run)


class _Printer:
    """Prints each step as it starts and ends, so a two-minute run is never silent."""

    def __init__(self, output: Path) -> None:
        self.output = output

    def started(self, name: str, title: str) -> None:
        print(f"… {title}", flush=True)

    def finished(self, step: StepRecord) -> None:
        print(step_line(step), flush=True)

    def holding(self, report: DemoReport) -> None:
        print(render_text(report, self.output), flush=True)
        if report.github is not None:
            print(f"\n--keep: the stand-in serves {report.github.web_url}/api/v3 and the v2 server runs.")
        print(f"work directory: {report.workdir}\nPress Ctrl-C to stop them.", flush=True)


def _capture(args: argparse.Namespace) -> CrashCapture | None:
    if args.windows:
        if args.crash_report not in (None, CrashCapture.WINE.value):
            raise UsageError(
                f"--windows crashes under Wine: it cannot go with --crash-report {args.crash_report}"
            )
        return CrashCapture.WINE
    return CrashCapture(args.crash_report) if args.crash_report else None


def run(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    output = Path(args.output).resolve()
    printer = _Printer(output)
    print(
        "crashbot demo: crash -> issue -> fix PR -> merge -> deploy, on this machine "
        "(the first build compiles the whole server)",
        flush=True,
    )
    report = run_demo(
        DemoOptions(
            output_dir=output,
            workdir=Path(args.workdir) if args.workdir else None,
            keep=args.keep,
            jobs=max(args.jobs, 0),
            capture=_capture(args),
        ),
        printer,
    )
    if args.keep:
        print(f"stopped the server and the stand-in; the work directory stays: {report.workdir}")
    else:
        print(render_text(report, output))
    if not report.ok:
        failed = report.failed
        why = f"step {failed.name!r}: {failed.detail}" if failed is not None else "no step ran"
        print(f"crashbot: error: the demo failed at {why}", file=sys.stderr)
        print(f"crashbot: the work directory is kept for a look: {report.workdir}", file=sys.stderr)
        return 1
    return 0
