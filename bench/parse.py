"""Benchmark the crash core: parse+analyse throughput, peak memory, and siggen as the baseline.

Run: ``.venv/bin/python bench/parse.py [--runs N]``. Prints tables; asserts nothing (timings vary by machine).
Needs the ``bench`` extra (siggen; the ``dev`` extra includes it).

1. Throughput for a typical ~30 KB Wheaty report in its two common shapes (symbolised: 76 threads, 309
   frames, every program counter distinct; from a server without its .pdb: 37 threads, 332 mostly
   ``0001:offset`` frames, one worker pool), a ~5 MB Wheaty report with locals, and a gdb log: reports/s and
   MB/s (median of ``--runs`` timed batches, with the slowest and fastest batch: this is often a shared
   VM, and the spread says how much to trust the median) and peak traced memory for one report.
   Baseline in the same run: siggen (Mozilla's Socorro signature generator) signing the same crashing
   thread's frames, which is the signing step alone, without reading any text.
2. Frame-dense large inputs (a 50 MB gdb ``bt`` of a runaway recursion, a 50 MB ``thread apply all bt``):
   seconds for one parse+analyse and peak traced memory (``--no-large`` skips it).
3. Grouping quality on the real samples and glue fixtures: siggen (bundled lists) vs crashbot.
4. Name normalisation: how many debugger spellings of one function each normaliser reduces to one name,
   and the cost per name.
5. Symbolication (issue 12): frames/s resolving a Wheaty report of a server without its .pdb from a warm
   symbol store (one llvm-symbolizer process per report), on the PE + PDB the tests build with clang and
   lld-link (``--no-symbols`` skips it; it needs clang, lld and llvm).
6. Core -> report: a real ELF core of a small crashing program (built and dumped here with g++ and gdb's
   ``generate-core-file``) read through gdb and signed, seconds per core (``--no-core`` skips it); gdb's own
   start-up dominates, so the figure is per core, not per MB.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siggen.generator import SignatureGenerator  # noqa: E402
from siggen.rules import CSignatureTool  # noqa: E402

from bench.synth import Knobs, gdb_report, unsymbolised_wheaty_report, wheaty_report  # noqa: E402
from bot.crash import analyse, parse_report  # noqa: E402
from bot.crash.model import Crash  # noqa: E402
from bot.crash.normalize import normalize_function  # noqa: E402

STACK = [
    "Field::GetUInt32",
    "ResultSet::NextRow",
    "Player::LoadFromDB",
    "WorldSession::HandlePlayerLogin",
    "WorldSession::Update",
    "World::UpdateSessions",
    "World::Update",
    "WorldUpdateLoop",
]
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
GLUE = ROOT / "tests" / "fixtures" / "crash" / "glue"

# Spellings of one function as Wheaty, VS, cdb, gdb (with and without debug info) print it.
SPELLINGS: list[list[str]] = [
    [
        "Unit::DealDamage",
        "Unit::DealDamage(Unit * attacker, Unit * victim, unsigned int damage, const CleanDamage * cd)",
        "worldserver!Unit::DealDamage+0x1f3",
        "Unit::DealDamage(Unit*, Unit*, unsigned int, CleanDamage const*)",
        "[inline] Unit::DealDamage",
    ],
    [
        "`Playerbot::BotWorldSessionMgr::UpdateSessions'::`109'::<lambda_1>::operator()",
        "`Playerbot::BotWorldSessionMgr::UpdateSessions'::`112'::<lambda_1>::operator()",
        "Playerbot::BotWorldSessionMgr::UpdateSessions()::{lambda()#1}::operator()() const",
        "Playerbot::BotWorldSessionMgr::UpdateSessions()::{lambda()#3}::operator()() const",
    ],
    [
        "PlayerbotAI::TellMaster(std::__cxx11::basic_string<char, std::char_traits<char>, "
        "std::allocator<char> >, PlayerbotSecurityLevel)",
        "PlayerbotAI::TellMaster(std::basic_string<char,std::char_traits<char>,std::allocator<char> > const &,"
        "PlayerbotSecurityLevel)",
    ],
    [
        "(anonymous namespace)::Helper::Run(int)",
        "`anonymous namespace'::Helper::Run",
        "{anonymous}::Helper::Run",
    ],
    ["?AddSpellMod@Player@@QEAAXPEAUSpellModifier@@_N@Z", "Player::AddSpellMod(SpellModifier*, bool)"],
    ["Map::Update(unsigned int) [clone .cold]", "Map::Update(unsigned int)", "Map::Update"],
]


def read_and_sign(data: bytes) -> Crash:
    return analyse(parse_report(data))


def map_all(fn: Callable[[str], object], names: list[str]) -> list[object]:
    return [fn(name) for name in names]


def batch_rates(fn: Callable[[], object], *, runs: int, min_seconds: float = 0.3) -> list[float]:
    """Calls per second of ``runs`` timed batches, each long enough to time."""
    fn()
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        if time.perf_counter() - start >= min_seconds / 4 or batch >= 1 << 16:
            break
        batch *= 2
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        rates.append(batch / (time.perf_counter() - start))
    return rates


def median_rate(fn: Callable[[], object], *, runs: int, min_seconds: float = 0.3) -> float:
    """Calls per second: the median over ``runs`` batches."""
    return statistics.median(batch_rates(fn, runs=runs, min_seconds=min_seconds))


def peak_bytes(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def siggen_input(crash: Crash) -> dict[str, Any]:
    frames = [
        {
            "function": f.function,
            "module": f.module,
            "file": f.file,
            "line": f.line,
            "module_offset": None if f.function else f.offset,
        }
        for f in crash.frames
    ]
    return {"os": "Windows NT", "crashing_thread": 0, "threads": [{"frames": frames}]}


def throughput(runs: int) -> None:
    typical = wheaty_report(STACK, other_threads=75).encode()
    typical_no_pdb = unsymbolised_wheaty_report(STACK, pool_threads=36).encode()
    big = wheaty_report(STACK, other_threads=190, locals_per_frame=70).encode()
    gdb = gdb_report(STACK * 3, knobs=Knobs(newline="\n"), locals_per_frame=6).encode()
    generator = SignatureGenerator()
    print(
        f"{'input':28} {'size':>9} {'reports/s':>10} {'MB/s':>8} {'ms/report':>10} {'peak/size':>9}"
        f"  {'batches: slowest-fastest/s':>26}"
    )
    inputs = (
        ("wheaty typical", typical),
        ("wheaty typical, no .pdb", typical_no_pdb),
        ("wheaty + locals", big),
        ("gdb bt full", gdb),
    )
    for label, data in inputs:
        size = len(data)
        rates = batch_rates(partial(read_and_sign, data), runs=runs)
        rate = statistics.median(rates)
        peak = peak_bytes(partial(read_and_sign, data))
        print(
            f"{'crashbot ' + label:28} {size / 1024:8.0f}K {rate:10.0f} {rate * size / 2**20:8.1f} "
            f"{1000 / rate:10.2f} {peak / size:8.1f}x  {f'{min(rates):.0f}-{max(rates):.0f}':>26}"
        )
        crash = analyse(parse_report(data))
        payload = siggen_input(crash)
        sig_rate = median_rate(partial(generator.generate, payload), runs=runs)
        ours = median_rate(partial(analyse, crash.report), runs=runs)
        print(
            f"{'  siggen signing alone':28} {'':9} {sig_rate:10.0f} {'':8} {1000 / sig_rate:10.3f}"
            f"   (crashbot analyse alone: {ours:.0f}/s, {ours / sig_rate:.2f}x siggen)"
        )


def _threads_log(functions: list[str], megabytes: int) -> str:
    """A ``thread apply all bt`` log with as many short threads as fit in ``megabytes``."""
    out = ['Thread 12 "MapUpdater" received signal SIGSEGV, Segmentation fault.', "(gdb) thread apply all bt"]
    size = 0
    number = 0
    while size < megabytes << 20:
        number += 1
        block = [f"Thread {number} (Thread 0x7fff{number:08x} (LWP {number})):"]
        block += [
            f"#{depth}  0x{0x555555554000 + 16 * depth + number:016x} in {function} (this=0x1) at /src/a.cpp:{depth}"
            for depth, function in enumerate(functions)
        ]
        size += sum(len(line) + 1 for line in block)
        out.extend(block)
    return "\n".join(out) + "\n"


def large() -> None:
    """One timed parse+analyse per frame-dense 50 MB log (frame limits make these linear and bounded)."""
    deep = gdb_report(STACK * 45_000, knobs=Knobs(newline="\n"), locals_per_frame=0).encode()
    threads = _threads_log(STACK, 50).encode()
    print(f"{'input':28} {'size':>9} {'seconds':>8} {'MB/s':>8} {'frames kept':>12} {'peak/size':>9}")
    for label, data in (("gdb runaway recursion", deep), ("gdb thread apply all bt", threads)):
        size = len(data)
        gc.collect()
        start = time.perf_counter()
        crash = analyse(parse_report(data))
        seconds = time.perf_counter() - start
        kept = sum(len(t.frames) for t in crash.report.threads)
        peak = peak_bytes(partial(read_and_sign, data))
        print(
            f"{'crashbot ' + label:28} {size / 2**20:8.0f}M {seconds:8.2f} {size / 2**20 / seconds:8.1f} "
            f"{kept:12d} {peak / size:8.1f}x"
        )


def grouping() -> None:
    generator = SignatureGenerator()
    print(f"{'report':44} {'siggen (bundled lists)':44} crashbot")
    for path in sorted([*SAMPLES.glob("*.txt"), *GLUE.glob("*.txt")]):
        crash = analyse(parse_report(path.read_bytes()))
        theirs = generator.generate(siggen_input(crash)).signature
        print(f"{path.name[:44]:44} {theirs[:44]:44} {crash.signature.text[:70]}")


def normalisers(runs: int) -> None:
    tool = CSignatureTool()
    names = [name for group in SPELLINGS for name in group]
    rows = [("siggen normalize_cpp_function", lambda n: tool.normalize_cpp_function(n, None))]
    rows.append(("crashbot normalize_function", normalize_function))
    print(f"{'normaliser':32} {'groups merged':>14} {'names/s':>10}")
    for label, fn in rows:
        merged = sum(len({fn(name) for name in group}) == 1 for group in SPELLINGS)
        rate = median_rate(partial(map_all, fn, names), runs=runs) * len(names)
        print(f"{label:32} {merged:>7}/{len(SPELLINGS):<6} {rate:10.0f}")


def symbolication(runs: int) -> None:
    """Frames/s of :func:`bot.symbols.resolve.symbolicate` with a warm store, per report size."""
    import shutil
    import tempfile

    from bench.artefacts import WINDOWS_TOOLS, build_windows, missing
    from bench.artefacts import wheaty_report as pe_wheaty_report
    from bot.symbols.locate import StoreLocator
    from bot.symbols.resolve import symbolicate
    from bot.symbols.store import SymbolStore
    from bot.symbols.symbolizer import find_symbolizer

    absent = missing(WINDOWS_TOOLS)
    if absent:
        print(f"skipped: {', '.join(absent)} not installed (runner-setup/dev-setup.sh installs them)")
        return
    with tempfile.TemporaryDirectory(prefix="crashbot-bench-symbols-") as tmp:
        build = build_windows(Path(tmp))
        release = Path(tmp) / "release"
        release.mkdir()
        shutil.copy(build.exe, release)
        shutil.copy(build.pdb, release)
        store = SymbolStore(Path(tmp) / "store")
        store.add(release, revision="3c5e0d7a91b2")
        locator, tool = StoreLocator(store), find_symbolizer()
        code = [o for f in build.functions for o in range(f.offset, f.offset + f.size)]
        print(f"{'report':34} {'frames':>7} {'sites':>6} {'frames/s':>9} {'ms/report':>10}")
        for frames in (10, 100, 332, 2000):
            offsets = [code[i % len(code)] for i in range(frames)]
            report = parse_report(pe_wheaty_report(build, offsets, revision="3c5e0d7a91b2"))
            run = partial(symbolicate, report, locator, symbolizer=tool)
            assert run().resolved == frames
            rates = batch_rates(run, runs=runs)
            rate = statistics.median(rates)
            print(
                f"{'wheaty without .pdb, warm store':34} {frames:7} {len(set(offsets)):6} {rate * frames:9.0f} "
                f"{1000 / rate:10.1f}"
            )


def core_to_report(runs: int) -> None:
    """Seconds from a core file to a signed report (gdb batch run + parse + analyse), median of ``runs``."""
    import shutil
    import subprocess
    import tempfile

    from bot.coredump.report import core_log
    from bot.crash.model import Format

    gxx, gdb = shutil.which("g++"), shutil.which("gdb")
    if gxx is None or gdb is None:
        print("skipped: g++ and gdb are needed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "worldserver"
        source = ROOT / "tests" / "fixtures" / "coredump" / "segv.cpp"
        subprocess.run([gxx, "-g", "-O0", str(source), "-o", str(exe)], check=True)
        core = Path(tmp) / "core.worldserver"
        subprocess.run(
            [gdb, "-nx", "-q", "-batch", "-ex", "run", "-ex", f"generate-core-file {core}", str(exe)],
            check=True,
            capture_output=True,
        )
        timings = []
        crash = None
        for _ in range(runs):
            start = time.perf_counter()
            crash = analyse(parse_report(core_log(core).text, fmt=Format.GDB))
            timings.append(time.perf_counter() - start)
        size_mb = core.stat().st_size / 1024**2
    assert crash is not None
    print(f"{'input':<40} {'s/core':>8} {'min':>8} {'max':>8}")
    label = f"core of a small program ({size_mb:.1f} MB)"
    print(f"{label:<40} {statistics.median(timings):8.2f} {min(timings):8.2f} {max(timings):8.2f}")
    print(f"signature: {crash.signature.text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed batches per figure (median is shown)")
    parser.add_argument("--no-large", action="store_true", help="skip the 50 MB frame-dense inputs")
    parser.add_argument("--no-symbols", action="store_true", help="skip symbolication (needs clang/lld/llvm)")
    parser.add_argument("--no-core", action="store_true", help="skip the core -> report timing (needs gdb)")
    args = parser.parse_args()
    print("== throughput (one core) ==")
    throughput(args.runs)
    if not args.no_large:
        print("\n== frame-dense large inputs (one run each) ==")
        large()
    print("\n== grouping on real samples and glue fixtures ==")
    grouping()
    print("\n== function-name normalisation ==")
    normalisers(args.runs)
    if not args.no_symbols:
        print("\n== symbolication (warm store, one llvm-symbolizer per report) ==")
        symbolication(args.runs)
    if not args.no_core:
        print("\n== core -> report (gdb batch run + parse + sign) ==")
        core_to_report(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
