"""Benchmark a deploy's downtime: crashbot's graceful swap against a naive kill -9 + copy + start.

Run: ``.venv/bin/python bench/deploy.py [--runs N] [--shutdown-delay S]``. Needs cmake, a C++ compiler
and git; builds the demo worldserver (``bot/demo/server``) once (~1 min), then:

1. crashbot: ``--runs`` deploys with the process backend and SOAP stop, alternating between two
   commits (the import and the whisper fix), each incrementally rebuilt in one persistent build dir,
   exactly as ``crashbot deploy`` puts the pieces together. Downtime = stop requested -> ready again.
2. The server's own start time, measured outside crashbot: start the binary with its console on a
   pipe and time it to its ready line (the same runs as the baseline).
3. Baseline: ``kill -9`` the running server, copy the binary into a fresh directory, start it, wait
   for the ready line.

crashbot's overhead = downtime - the server's own start (median) - the shutdown countdown; target
< 2 s, with 0 forced kills. Prints tables; asserts nothing (timings vary by machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import DeploySettings, FixSettings, SoapSettings  # noqa: E402
from bot.demo import worldserver as demo  # noqa: E402
from bot.deploy.backends import make_commander, make_control  # noqa: E402
from bot.deploy.builder import CheckoutBuilder  # noqa: E402
from bot.deploy.pipeline import DeployOutcome, DeployStatus, deploy  # noqa: E402
from bot.deploy.process import ProcessControl  # noqa: E402
from bot.deploy.releases import Releases  # noqa: E402
from bot.deploy.report import LocalReporter  # noqa: E402

USER, PASSWORD = "Bench", "s3cret"
GIT = ("git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false")


@dataclass(frozen=True)
class Sample:
    downtime_s: float
    server_start_s: float  # as crashbot saw it (start requested -> ready line seen)
    stop_s: float
    forced: bool


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def prepare(work: Path) -> tuple[Path, Path, list[str], int]:
    """A server repo with two commits, an install dir with worldserver.conf; returns the pieces."""
    source = demo.copy_source(work / "server")
    git(source, "-c", "init.defaultBranch=main", "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "Import worldserver")
    v1 = git(source, "rev-parse", "HEAD")
    git(source, "apply", str(demo.FIX_PATCH))
    git(source, "commit", "-qam", "Check the whisper target is online")
    v2 = git(source, "rev-parse", "HEAD")
    install = work / "realm"
    soap_port = demo.free_port()
    demo.write_config(
        install,
        world_port=demo.free_port(),
        soap_port=soap_port,
        ra_port=demo.free_port(),
        user=USER,
        password=PASSWORD,
    )
    return source, install, [v1, v2], soap_port


def crashbot_runs(
    *,
    source: Path,
    install: Path,
    shas: list[str],
    soap_port: int,
    runs: int,
    shutdown_delay_s: int,
    build_dir: Path,
) -> list[Sample]:
    settings = DeploySettings(
        realm="bench",
        install_dir=str(install),
        shutdown_delay_s=shutdown_delay_s,
        stop_timeout_s=30.0,
        start_timeout_s=60.0,
        watch_window_s=1.0,
        keep_releases=3,
        soap=SoapSettings(port=soap_port),
    )
    fix = FixSettings(build_dir=str(build_dir))
    env = {**os.environ, "CRASHBOT_SOAP_USER": USER, "CRASHBOT_SOAP_PASSWORD": PASSWORD}
    releases = Releases(install)
    builder = CheckoutBuilder(source, fix, executable=settings.executable, env=env)
    samples: list[Sample] = []
    # run 0 only puts a server in place (nothing to stop yet); runs 1..N are measured swaps
    for i in range(runs + 1):
        sha = shas[i % len(shas)]
        started = time.monotonic()
        outcome = deploy(
            sha=sha,
            settings=settings,
            builder=builder,
            control=make_control(settings, releases=releases, env=env),
            commander=make_commander(settings, env),
            releases=releases,
            reporter=LocalReporter(),
        )
        took = time.monotonic() - started
        check(outcome)
        if i == 0:
            print(f"  first deploy (full build) {took:.1f}s")
            continue
        stop = outcome.step("stop")
        assert stop is not None and outcome.downtime_s is not None and outcome.server_start_s is not None
        samples.append(Sample(outcome.downtime_s, outcome.server_start_s, stop.duration_s, outcome.forced))
        print(
            f"  deploy {i}: {sha[:12]} downtime {outcome.downtime_s:.2f}s (stop {stop.duration_s:.2f}s, "
            f"start {outcome.server_start_s:.2f}s) in {took:.1f}s total"
        )
    control = make_control(settings, releases=releases, env=env)
    assert isinstance(control, ProcessControl)
    control.stop(30.0)
    return samples


def check(outcome: DeployOutcome) -> None:
    if outcome.status is not DeployStatus.SUCCEEDED:
        raise SystemExit(f"bench deploy failed: {outcome.summary()}")


def wait_ready(proc: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.rstrip().endswith(demo.READY_SUFFIX):
            return
        if time.monotonic() > deadline:
            break
    raise SystemExit(f"the server printed no ready line (exit {proc.poll()})")


def start(exe: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(exe)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def naive_runs(exe: Path, install: Path, runs: int) -> tuple[list[float], list[float]]:
    """(downtimes, the server's own start times) of kill -9 + copy + start."""
    targets = install / "naive"
    proc = start(exe, install)
    wait_ready(proc)
    downtimes, starts = [], []
    for i in range(runs):
        t0 = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        target = targets / str(i)
        target.mkdir(parents=True)
        copied = Path(shutil.copy2(exe, target / exe.name))
        t_start = time.monotonic()
        proc = start(copied, install)
        wait_ready(proc)
        t1 = time.monotonic()
        downtimes.append(t1 - t0)
        starts.append(t1 - t_start)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return downtimes, starts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="measured deploys per method (>= 5)")
    parser.add_argument(
        "--shutdown-delay", type=int, default=0, help="the 'server shutdown N' countdown players see (s)"
    )
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temporary directory)")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    if sys.platform == "win32" or shutil.which("cmake") is None:
        print("needs POSIX, cmake and a C++ compiler", file=sys.stderr)
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="crashbot-bench-deploy-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"workdir {work}")
    source, install, shas, soap_port = prepare(work)
    print("== crashbot deploy (process backend, SOAP stop) ==")
    samples = crashbot_runs(
        source=source,
        install=install,
        shas=shas,
        soap_port=soap_port,
        runs=args.runs,
        shutdown_delay_s=args.shutdown_delay,
        build_dir=work / "build",
    )
    live = Releases(install).live()
    assert live is not None
    print("== naive: kill -9 + copy + start ==")
    naive, own_starts = naive_runs(live.executable("worldserver"), install, args.runs)

    own = statistics.median(own_starts)
    downtimes = [s.downtime_s for s in samples]
    overhead = [d - own - args.shutdown_delay for d in downtimes]
    naive_overhead = [d - s for d, s in zip(naive, own_starts, strict=True)]
    forced = sum(s.forced for s in samples)
    print()
    print(
        f"runs: {args.runs} per method; shutdown countdown {args.shutdown_delay}s; server's own start "
        f"(median of {len(own_starts)} timed starts outside crashbot) {own:.3f}s"
    )
    print(
        f"{'method':28} {'downtime med':>12} {'p95':>7} {'overhead med':>12} {'p95':>7} {'forced kills':>12}"
    )
    print(
        f"{'crashbot (graceful)':28} {statistics.median(downtimes):11.2f}s {p95(downtimes):6.2f}s "
        f"{statistics.median(overhead):11.2f}s {p95(overhead):6.2f}s {forced:>12}"
    )
    print(
        f"{'naive kill -9 + copy':28} {statistics.median(naive):11.2f}s {p95(naive):6.2f}s "
        f"{statistics.median(naive_overhead):11.2f}s {p95(naive_overhead):6.2f}s {args.runs:>12}"
    )
    stops = [s.stop_s for s in samples]
    seen = [s.server_start_s for s in samples]
    print(
        f"crashbot parts: stop (SOAP -> exited) med {statistics.median(stops):.2f}s p95 {p95(stops):.2f}s; "
        f"start -> ready as crashbot saw it med {statistics.median(seen):.2f}s p95 {p95(seen):.2f}s"
    )
    target = "met" if p95(overhead) < 2.0 and forced == 0 else "NOT met"
    print(f"target (overhead < 2 s, 0 forced kills): {target}")
    (work / "bench-deploy.json").write_text(
        json.dumps(
            {"downtimes": downtimes, "own_start": own_starts, "naive": naive, "forced": forced}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
