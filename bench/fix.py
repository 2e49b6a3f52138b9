"""Benchmark ``crashbot fix`` on the demo worldserver: the pipeline's own overhead and the builds.

Run: ``.venv/bin/python bench/fix.py [--runs N] [--jobs N]``. Prints tables; asserts nothing (timings vary
by machine). Needs git, CMake and a C++ compiler.

1. Builds of the demo server in a persistent build directory: a clean configure + build, a rebuild with
   nothing changed, and the rebuild after a one-file patch (what every fix attempt costs).
2. The pipeline against the loopback GitHub stand-in, with the ``replay`` engine answering with
   ``bot/demo/fix.patch`` and the real incremental build: total time, engine time, build time, and the
   overhead (everything else: trust gate, state checks, analysis, validation, git, push, PR, comments;
   target < 5 s). The first run opens the PR, the reruns update it.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# ruff: noqa: E402 (the imports below need ROOT on sys.path)

from bot.build.runner import build
from bot.config import FixEngine, FixSettings, GitHubSettings
from bot.crash.model import (
    Build,
    Crash,
    CrashReport,
    ExceptionInfo,
    Format,
    Frame,
    Signature,
    Thread,
    TopFrame,
)
from bot.demo import worldserver as demo
from bot.fix.engines.replay import ReplayEngine
from bot.fix.pipeline import FixRun, fix_issue
from bot.fix.report import FixResult
from bot.github import connect
from bot.issue import Occurrences, labels_for, labels_specs_for, render_body, render_title
from bot.standin import StandIn
from bot.vocabulary import LABEL_SPECS, sig_label

REPO = "acme/worldserver"
KEY = b"bench-signing-key"
HANDLER = "src/server/game/Handlers/ChatHandler.cpp"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def demo_crash(workspace: Path, revision: str) -> Crash:
    """The demo server's crash as gdb reports it (frames in the checkout's own paths)."""
    frames = (
        Frame(
            function="ChatHandler::SendWhisper",
            module="worldserver",
            file=str(workspace / "src/server/game/Chat/Chat.cpp"),
            line=40,
        ),
        Frame(
            function="ChatHandler::HandleWhisperCommand",
            module="worldserver",
            file=str(workspace / HANDLER),
            line=21,
        ),
        Frame(
            function="World::Update",
            module="worldserver",
            file=str(workspace / "src/server/game/World/World.cpp"),
            line=60,
        ),
    )
    report = CrashReport(
        format=Format.GDB,
        threads=(Thread(frames=frames, current=True),),
        exception=ExceptionInfo(code="SIGSEGV", name="Segmentation fault"),
        build=Build(revision=revision),
        crashing_thread=0,
    )
    return Crash(
        report=report,
        thread_index=0,
        frames=frames,
        meaningful=(0, 1, 2),
        top_frame=TopFrame(frames[0].function, frames[0].file, frames[0].line),
        signature=Signature(
            text="SIGSEGV | ChatHandler::SendWhisper",
            id="be7c4a11fe0d1234",
            full_id="be7c4a11fe0d1234ffff",
            version=1,
        ),
    )


def timed_build(workspace: Path, settings: FixSettings) -> float:
    result = build(workspace, settings, env=os.environ)
    if not result.ok:
        raise SystemExit(f"the demo build failed; see {result.log_path}\n{result.tail}")
    return result.duration_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="pipeline runs (the first opens the PR)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="crashbot-bench-fix-") as tmp:
        root = Path(tmp)
        workspace, remote, base = demo_checkout(root)
        settings = demo_settings(root, jobs=args.jobs)
        report_builds(workspace, settings, base)
        results = run_pipeline(root, workspace, remote, base, settings, runs=args.runs)
        report_runs(results)
    return 0


def demo_checkout(root: Path) -> tuple[Path, Path, str]:
    """The demo server as a git checkout with a bare remote: (workspace, remote, base commit)."""
    workspace = demo.copy_source(root / "workspace")
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "Import worldserver")
    base = git(workspace, "rev-parse", "HEAD")
    remote = root / "remote.git"
    git(root, "clone", "-q", "--bare", str(workspace), str(remote))
    git(workspace, "remote", "add", "origin", str(remote))
    return workspace, remote, base


def demo_settings(root: Path, *, jobs: int) -> FixSettings:
    return FixSettings(
        engine=FixEngine.REPLAY,
        replay_patch=str(demo.FIX_PATCH),
        build_dir=str(root / "build"),
        build_command=(
            "cmake",
            "--build",
            "{build_dir}",
            "--target",
            "worldserver",
            "--parallel",
            str(jobs),
        ),
        configure_command=(
            "cmake",
            "-S",
            "{source}",
            "-B",
            "{build_dir}",
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
        ),
    )


def report_builds(workspace: Path, settings: FixSettings, base: str) -> None:
    """Time a clean build, a no-op rebuild and a one-file rebuild; leave the base build in place."""
    clean_s = timed_build(workspace, settings)
    noop_s = timed_build(workspace, settings)
    git(workspace, "apply", str(demo.FIX_PATCH))
    one_file_s = timed_build(workspace, settings)
    git(workspace, "reset", "-q", "--hard", base)
    timed_build(workspace, settings)  # back to the base build, as the pipeline finds it
    print("Demo worldserver builds (persistent build directory outside the checkout)")
    print(f"  {'clean configure + build':<34} {clean_s:8.2f} s")
    print(f"  {'rebuild, nothing changed':<34} {noop_s:8.2f} s")
    print(
        f"  {'rebuild after a one-file patch':<34} {one_file_s:8.2f} s   ({clean_s / max(one_file_s, 1e-9):.0f}x faster than clean)"
    )
    print()


def run_pipeline(
    root: Path, workspace: Path, remote: Path, base: str, settings: FixSettings, *, runs: int
) -> list[tuple[FixResult, int, int]]:
    """File the demo crash on a stand-in, then run ``crashbot fix`` on it ``runs`` times: each run's
    result, requests and writes."""
    with StandIn(root / "gh") as standin:
        standin.add_repo(REPO, bare_path=remote)
        standin.add_token("uploader-token", "uploader", kind="Bot")
        standin.add_token("fixer-token", "fixer", kind="Bot")

        uploader = connect(
            GitHubSettings(repo=REPO, api_url=standin.api_url),
            env={"CRASHBOT_TOKEN": "uploader-token"},
            write_interval_s=0,
        )
        crash = demo_crash(workspace, base[:12])
        labels = labels_for(crash, realm=None)
        uploader.ensure_labels([*LABEL_SPECS, *labels_specs_for(labels)])
        occ = Occurrences().record(datetime.now(UTC), host="bench", build=base[:12])
        issue, _ = uploader.ensure_issue(
            sig_label(crash.signature.id),
            render_title(crash),
            render_body(crash, occ, repo=REPO, payload_key=KEY),
            labels,
        )
        results: list[tuple[FixResult, int, int]] = []
        for _ in range(runs):
            fixer = connect(
                GitHubSettings(repo=REPO, api_url=standin.api_url),
                env={"CRASHBOT_TOKEN": "fixer-token"},
                write_interval_s=0,
            )
            run = FixRun(
                client=fixer,
                settings=settings,
                uploader="uploader[bot]",
                key=KEY,
                engine=ReplayEngine(demo.FIX_PATCH),
                workspace=workspace,
                base_branch="main",
                env=dict(os.environ),
                push_token_env=None,
                clock=time.monotonic,
            )
            result = fix_issue(run, issue.number)
            results.append((result, fixer.requests, fixer.writes))
    return results


def report_runs(results: list[tuple[FixResult, int, int]]) -> None:
    print(f"crashbot fix on the demo crash ({len(results)} runs; replay engine, real incremental build)")
    print(
        f"  {'run':<4} {'outcome':<11} {'total':>8} {'engine':>8} {'build':>8} {'overhead':>9} {'requests':>9} {'writes':>7}"
    )
    for i, (r, requests, writes) in enumerate(results, 1):
        print(
            f"  {i:<4} {r.outcome.value:<11} {r.total_s:7.2f}s {r.engine_s:7.2f}s {r.build_s:7.2f}s "
            f"{r.overhead_s:8.2f}s {requests:>9} {writes:>7}"
        )
    overheads = [r.overhead_s for r, _, _ in results]
    print(
        f"  median overhead {statistics.median(overheads):.2f} s (target < 5 s); max {max(overheads):.2f} s"
    )
    print("  overhead = total - engine - build: trust gate, state checks, analysis (git blame/log),")
    print("  validation (git apply --check), commit, push, PR and comments against the loopback stand-in")


if __name__ == "__main__":
    raise SystemExit(main())
