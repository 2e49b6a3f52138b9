"""Benchmark the crash core: parse+analyse throughput, peak memory, and siggen as the baseline.

Run: ``.venv/bin/python bench/parse.py [--runs N]``. Prints tables; asserts nothing (timings vary by machine).

1. Throughput for a typical ~30 KB Wheaty report, a ~5 MB Wheaty report with locals, and a gdb log:
   reports/s and MB/s (median of ``--runs`` timed batches) and peak traced memory for one report.
   Baseline in the same run: siggen (Mozilla's Socorro signature generator) signing the same crashing
   thread's frames, which is the signing step alone, without reading any text.
2. Grouping quality on the real samples and glue fixtures: siggen (bundled lists) vs crashbot.
3. Name normalisation: how many debugger spellings of one function each normaliser reduces to one name,
   and the cost per name.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siggen.generator import SignatureGenerator  # noqa: E402
from siggen.rules import CSignatureTool  # noqa: E402

from bot.crash import analyse, parse_report  # noqa: E402
from bot.crash.model import Crash  # noqa: E402
from bot.crash.normalize import normalize_function  # noqa: E402
from tests.crash.synth import Knobs, gdb_report, wheaty_report  # noqa: E402

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


def median_rate(fn: Callable[[], object], *, runs: int, min_seconds: float = 0.3) -> float:
    """Calls per second: the median over ``runs`` batches, each long enough to time."""
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
    return statistics.median(rates)


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
    big = wheaty_report(STACK, other_threads=190, locals_per_frame=70).encode()
    gdb = gdb_report(STACK * 3, knobs=Knobs(newline="\n"), locals_per_frame=6).encode()
    generator = SignatureGenerator()
    print(f"{'input':28} {'size':>9} {'reports/s':>10} {'MB/s':>8} {'ms/report':>10} {'peak/size':>9}")
    for label, data in (("wheaty typical", typical), ("wheaty + locals", big), ("gdb bt full", gdb)):
        size = len(data)
        rate = median_rate(lambda d=data: analyse(parse_report(d)), runs=runs)
        peak = peak_bytes(lambda d=data: analyse(parse_report(d)))
        print(
            f"{'crashbot ' + label:28} {size / 1024:8.0f}K {rate:10.0f} {rate * size / 2**20:8.1f} "
            f"{1000 / rate:10.2f} {peak / size:8.1f}x"
        )
        crash = analyse(parse_report(data))
        payload = siggen_input(crash)
        sig_rate = median_rate(lambda p=payload: generator.generate(p), runs=runs)
        ours = median_rate(lambda r=crash.report: analyse(r), runs=runs)
        print(
            f"{'  siggen signing alone':28} {'':9} {sig_rate:10.0f} {'':8} {1000 / sig_rate:10.3f}"
            f"   (crashbot analyse alone: {ours:.0f}/s, {ours / sig_rate:.2f}x siggen)"
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
        rate = median_rate(lambda f=fn: [f(n) for n in names], runs=runs) * len(names)
        print(f"{label:32} {merged:>7}/{len(SPELLINGS):<6} {rate:10.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed batches per figure (median is shown)")
    args = parser.parse_args()
    print("== throughput (one core) ==")
    throughput(args.runs)
    print("\n== grouping on real samples and glue fixtures ==")
    grouping()
    print("\n== function-name normalisation ==")
    normalisers(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
