"""Benchmark the uploader against the loopback stand-in: latency, storm control, idle cost.

Run: ``.venv/bin/python bench/upload.py [--crashes 50] [--idle-s 60] [--storm-s 60]``. Prints tables;
asserts nothing (timings vary by machine). Everything is the real thing: ``crashbot watch`` and
``crashbot upload`` as subprocesses with their shipped defaults (0.5 s stability debounce, 1 s between
writes, 30 s between edits of one issue), a real SQLite spool, the stand-in over loopback HTTP.

1. Latency: crash file closed -> its issue committed on the stand-in, p50/p95/max over ``--crashes``
   new crashes written one at a time into a watched folder (the publisher process, started by the
   first, is still running for the next), and over 3 crashes that each come after it has exited. Baseline: a loop that scans the folder
   every 30 s, modelled on the same run (each crash waits for the next scan tick, then takes the same
   upload time the watcher needed after its debounce).
2. Storm: a crash loop writing 500 reports of 10 signatures within ``--storm-s`` seconds into the watched
   folder, against a stand-in that enforces GitHub's secondary limits (80 writes/min, 500/hour) and
   answers 502 after committing the first 3 creates. Then 300 reports of 10 crashes at once through
   ``crashbot upload``. Reported: issues, exact counts, writes (busiest minute), total requests,
   drain time.
3. Idle: RSS and CPU time of ``crashbot watch`` over ``--idle-s`` seconds with nothing happening, before
   its first crash and after it has filed crashes (the watcher alone: its publisher process exits a
   few seconds after the spool is drained).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reports import report_name, report_text, signature_id  # noqa: E402
from bot.issue import read_payload  # noqa: E402
from bot.standin import Fault, Limits, StandIn  # noqa: E402
from bot.uploader.supervisor import LINGER_S  # noqa: E402
from bot.vocabulary import is_sig_label, sig_label  # noqa: E402

REPO = "acme/worldserver"
TOKEN = "bench-uploader-token"
KEY = "bench-signing-key-0123456789abcdef0123456789"
POLL_BASELINE_S = 30.0
COLD_CRASHES = 3


class TimedStandIn(StandIn):
    """The stand-in, noting when each issue create committed (monotonic clock of this process)."""

    def __init__(self, root: Path, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.created_at: dict[str, float] = {}  # sig label -> commit time
        self._created_lock = threading.Lock()

    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Any:
        answer = super().handle(method, target, authorization, raw)
        path = urllib.parse.urlsplit(target).path
        if method == "POST" and path.endswith(f"/repos/{REPO}/issues") and answer is not None:
            done = time.monotonic()
            if answer.status in {201, 502}:  # 502: the stand-in committed it anyway
                self._note(raw, done)
        return answer

    def _note(self, raw: bytes, done: float) -> None:
        labels = json.loads(raw).get("labels") or []
        with self._created_lock:
            for label in labels:
                if is_sig_label(label):
                    self.created_at.setdefault(label, done)


def start_standin(root: Path, limits: Limits | None = None) -> TimedStandIn:
    server = TimedStandIn(root, limits=limits)
    server.start()
    server.add_repo(REPO, auto_init=True)
    server.add_token(TOKEN, "crashbot-uploader", kind="Bot")
    return server


def env_for(config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CRASHBOT_TOKEN": TOKEN,
        "CRASHBOT_SIGNING_KEY": KEY,
        "CRASHBOT_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
    }


def crashbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def watch(server: StandIn, work: Path, crashes: Path) -> subprocess.Popen[bytes]:
    config = work / "crashbot.toml"
    config.write_text("# shipped defaults\n")
    argv = crashbot("watch", str(crashes), "--repo", REPO, "--api-url", server.api_url)
    return subprocess.Popen(
        [*argv, "--spool", str(work / "spool.sqlite3")],
        env=env_for(config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def write_crash(crashes: Path, sig: int, n: int) -> float:
    """Write one report the way the crash handler does (create, write, close); returns close time."""
    path = crashes / report_name(sig, n)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(report_text(sig, n))
    return time.monotonic()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------------------------
# 1. latency


def bench_latency(
    work: Path, count: int, idle_s: float
) -> tuple[list[float], list[float], list[float], dict[str, str], dict[str, str]]:
    server = start_standin(work / "gh")
    crashes = work / "Crashes"
    crashes.mkdir()
    proc = watch(server, work, crashes)
    latencies: list[float] = []
    closes: list[float] = []
    try:
        # idle from a fresh start: no crash yet, so GitHub's client library is not even loaded
        time.sleep(2.0)
        fresh = measure_idle(proc.pid, idle_s)
        # a first crash the watcher files while it warms up (imports, labels), not measured
        write_crash(crashes, 1000, 0)
        warm_up = sig_label(signature_id(1000))
        if not wait_until(lambda: warm_up in server.created_at, 60):
            raise SystemExit("crashbot watch never filed the warm-up crash; is the stand-in reachable?")
        labels = {sig: sig_label(signature_id(sig)) for sig in range(count)}
        for sig in range(count):
            time.sleep(1.2)  # crashes come one at a time: a server restarts between them
            closed = write_crash(crashes, sig, 0)
            if not wait_until(functools.partial(server.created_at.__contains__, labels[sig]), 30):
                raise SystemExit(f"crash {sig} was not filed within 30 s")
            latencies.append(server.created_at[labels[sig]] - closed)
            closes.append(closed)
        idle = measure_idle(proc.pid, idle_s)
        cold = [
            _cold_latency(server, crashes, sig) for sig in range(count, count + COLD_CRASHES)
        ]  # each after the publisher process has exited: it starts again for it
    finally:
        stop(proc)
        server.close()
    # The 30 s scan loop, on the same arrivals: wait for the next tick, then the same upload work
    # (the watcher's latency minus its 0.5 s debounce).
    phase = random.Random(30).uniform(0, POLL_BASELINE_S)
    start = closes[0] - phase
    baseline = []
    for closed, measured in zip(closes, latencies, strict=True):
        ticks = int((closed - start) // POLL_BASELINE_S) + 1
        baseline.append(start + ticks * POLL_BASELINE_S - closed + max(measured - 0.5, 0.0))
    return latencies, baseline, cold, fresh, idle


def _cold_latency(server: TimedStandIn, crashes: Path, sig: int) -> float:
    time.sleep(LINGER_S + 2.0)  # the publisher process lingers this long after the spool drained
    label = sig_label(signature_id(sig))
    closed = write_crash(crashes, sig, 0)
    if not wait_until(functools.partial(server.created_at.__contains__, label), 30):
        raise SystemExit(f"crash {sig} was not filed within 30 s")
    return server.created_at[label] - closed


# ---------------------------------------------------------------------------------------------------
# 3. idle cost


def _proc_stat(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, RSS bytes) of ``pid`` from /proc (Linux) or the Win32 API; None elsewhere."""
    if sys.platform.startswith("linux"):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE")
    if sys.platform == "win32":
        return _win_stat(pid)
    return None


def _win_stat(pid: int) -> tuple[float, int] | None:
    if sys.platform != "win32":  # also tells the type checker the Win32 API below exists
        return None
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [
            ("cb", wintypes.DWORD),
            ("PageFaultCount", wintypes.DWORD),
            ("PeakWorkingSetSize", ctypes.c_size_t),
            ("WorkingSetSize", ctypes.c_size_t),
            ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
            ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
            ("PagefileUsage", ctypes.c_size_t),
            ("PeakPagefileUsage", ctypes.c_size_t),
        ]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    psapi = ctypes.WinDLL("psapi", use_last_error=True)
    handle = kernel32.OpenProcess(0x0400 | 0x0010, False, pid)  # QUERY_INFORMATION | VM_READ
    if not handle:
        return None
    try:
        counters = Counters()
        counters.cb = ctypes.sizeof(Counters)
        psapi.GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb)
        times = [wintypes.FILETIME() for _ in range(4)]
        kernel32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times))

        def seconds(ft: wintypes.FILETIME) -> float:
            return ((ft.dwHighDateTime << 32) | ft.dwLowDateTime) / 1e7

        return seconds(times[2]) + seconds(times[3]), int(counters.WorkingSetSize)
    finally:
        kernel32.CloseHandle(handle)


def measure_idle(pid: int, seconds: float) -> dict[str, str]:
    before = _proc_stat(pid)
    if before is None:
        return {"rss": "n/a", "cpu": "n/a", "window": f"{seconds:.0f} s"}
    time.sleep(seconds)
    after = _proc_stat(pid)
    assert after is not None
    cpu = after[0] - before[0]
    return {
        "rss": f"{after[1] / 2**20:.1f} MB",
        "cpu": f"{cpu:.2f} s ({100 * cpu / seconds:.2f} % of one core)",
        "window": f"{seconds:.0f} s",
    }


# ---------------------------------------------------------------------------------------------------
# 2. storm


GITHUB_LIMITS = Limits(content_per_minute=80, content_per_hour=500)


def _writes_summary(server: StandIn) -> tuple[int, int, int, int]:
    writes = [w for w in server.writes() if w.status != 0]
    times = sorted(w.time for w in writes)
    busiest = max((sum(1 for t in times if end - 60 < t <= end) for end in times), default=0)
    refused = sum(1 for w in writes if w.status in (403, 429))
    return len(writes), busiest, refused, len(server.requests)


def _exact(server: StandIn, expected: dict[int, int]) -> bool:
    counts = {}
    for issue in server.issues(REPO):
        sigs = [x["name"] for x in issue["labels"] if is_sig_label(x["name"])]
        if sigs:
            counts[sigs[0]] = read_payload(issue["body"], KEY.encode()).occurrences.count
    return all(counts.get(sig_label(signature_id(sig))) == n for sig, n in expected.items()) and len(
        counts
    ) == len(expected)


def bench_storm_watch(work: Path, storm_s: float) -> dict[str, str]:
    server = start_standin(work / "gh", GITHUB_LIMITS)
    server.inject(Fault.error_after_commit("POST", f"/repos/{REPO}/issues", times=3))
    crashes = work / "Crashes"
    crashes.mkdir()
    proc = watch(server, work, crashes)
    expected = dict.fromkeys(range(10), 50)
    try:
        order = [(sig, n) for n in range(50) for sig in range(10)]
        random.Random(5).shuffle(order)
        seen = [0] * 10
        wait_until(lambda: len(server.requests) > 0 or proc.poll() is not None, 5)
        started = time.monotonic()
        for i, (sig, _) in enumerate(order):
            target = started + storm_s * i / len(order)
            time.sleep(max(target - time.monotonic(), 0))
            write_crash(crashes, sig, seen[sig])
            seen[sig] += 1
        last = time.monotonic()
        done = wait_until(lambda: _exact(server, expected), 180, step=0.25)
        drained = time.monotonic() - last
    finally:
        stop(proc)
        server.close()
    writes, busiest, refused, requests = _writes_summary(server)
    return {
        "case": f"watch: 500 reports / 10 crashes in {storm_s:.0f} s",
        "issues": str(len([i for i in server.issues(REPO) if "pull_request" not in i])),
        "counts exact": "yes" if done else "NO",
        "writes": str(writes),
        "busiest minute": f"{busiest} (limit 80)",
        "refused": str(refused),
        "requests": str(requests),
        "drain": f"{drained:.1f} s after the last report",
    }


def bench_storm_upload(work: Path) -> dict[str, str]:
    server = start_standin(work / "gh", GITHUB_LIMITS)
    server.inject(Fault.error_after_commit("POST", f"/repos/{REPO}/issues", times=3))
    crashes = work / "Crashes"
    crashes.mkdir()
    files = []
    for n in range(30):
        for sig in range(10):
            path = crashes / report_name(sig, n)
            path.write_text(report_text(sig, n), encoding="utf-8")
            files.append(str(path))
    config = work / "crashbot.toml"
    config.write_text("# shipped defaults\n")
    argv = crashbot("upload", "--repo", REPO, "--api-url", server.api_url, "--spool", str(work / "s.db"))
    started = time.monotonic()
    result = subprocess.run([*argv, *files], env=env_for(config), capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    try:
        exact = _exact(server, dict.fromkeys(range(10), 30))
    finally:
        server.close()
    writes, busiest, refused, requests = _writes_summary(server)
    return {
        "case": "upload: 300 reports / 10 crashes at once",
        "issues": str(len([i for i in server.issues(REPO) if "pull_request" not in i])),
        "counts exact": "yes" if exact and result.returncode == 0 else "NO",
        "writes": str(writes),
        "busiest minute": f"{busiest} (limit 80)",
        "refused": str(refused),
        "requests": str(requests),
        "drain": f"{elapsed:.1f} s for the whole command",
    }


# ---------------------------------------------------------------------------------------------------


def table(rows: list[dict[str, str]]) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = [" | ".join(k.ljust(widths[k]) for k in keys), "-+-".join("-" * widths[k] for k in keys)]
    lines += [" | ".join(r[k].ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crashes", type=int, default=50)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--storm-s", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crashbot-bench-upload-"))
    try:
        print(f"crash file closed -> issue on the stand-in ({args.crashes} new crashes, crashbot watch)")
        latencies, baseline, cold, fresh, idle = bench_latency(work / "latency", args.crashes, args.idle_s)
        rows = [
            {
                "uploader": name,
                "p50": f"{statistics.median(values):.3f} s",
                "p95": f"{pct(values, 0.95):.3f} s",
                "max": f"{max(values):.3f} s",
            }
            for name, values in (
                ("crashbot watch (OS events)", latencies),
                (f"the same, publisher process not running ({COLD_CRASHES} crashes)", cold),
                (f"{POLL_BASELINE_S:.0f} s polling loop (modelled)", baseline),
            )
        ]
        print(table(rows))
        print()
        print("storm (stand-in: 80 writes/min, 500/hour; 502 after the first 3 committed creates)")
        print(table([bench_storm_watch(work / "storm", args.storm_s), bench_storm_upload(work / "burst")]))
        print()
        print("crashbot watch at idle")
        print(
            table(
                [
                    {"state": state, "RSS": m["rss"], "CPU": m["cpu"], "window": m["window"]}
                    for state, m in (
                        ("fresh start, no crash yet", fresh),
                        (f"after filing {args.crashes + 1} crashes", idle),
                    )
                ]
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
