"""How long ``crashbot analyze`` takes on a tree the size of TrinityCore's, and which limits bite.

Real reports of the localisation corpus (bench/localise/cases/) are analysed against a large tree (default
``/work/corpora/bigtree``: 55 copies of mangos-wotlk's C++ sources, 100,815 files; TrinityCore itself is over
this environment's fetch limit), through the command's JSON contract. Each report exercises one of the
searches: definitions found by name, callers of an assertion, the delete sites of a destroyed class, the
message lead, the library-only type lead, an unnamed frame inferred from its neighbours. The baseline, run
in the same session on the same tree, is what a person does first: one ``git grep -l -F`` of the top
frame's name.

    python bench/bounds.py [--tree DIR] [--runs 3]

Prints a table (median of ``--runs`` runs) and the notes in which a limit bit; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "bench" / "localise" / "cases"

# (case file, what it exercises, the name a person would grep for first)
REPORTS: tuple[tuple[str, str, str], ...] = (
    ("cmangos-3307.txt", "definitions by name (no source paths)", "Unit::DealDamage"),
    ("cmangos-1082.txt", "callers of an asserted function", "getObjectHitPos"),
    ("cmangos-classic-979.txt", "delete sites of a destroyed class", "WorldSession"),
    ("vmangos-2359.txt", "an unnamed frame between named ones", "ExecuteCommand"),
    ("cmangos-1151.txt", "an uncaught exception's message", "Unrecognized item prototype class"),
    ("cmangos-1922.txt", "a library-only stack's template type", "NPCFlags"),
)
# (words of a note a limit leaves, what the table calls that limit): see bot/fix/locate.py and its finders.
LIMITS = (
    ("read the", "search cut to the likeliest files"),
    ("definitions match", "several definitions"),
    ("spent", "search time spent"),
    ("search stopped", "search stopped"),
    ("too common", "message too common"),
)


@dataclass(frozen=True)
class Row:
    what: str
    grep_s: float
    analyze_s: float
    files: int
    limit_notes: tuple[str, ...]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", type=Path, default=Path("/work/corpora/bigtree"), help="a large git checkout")
    p.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is printed)")
    args = p.parse_args(argv)
    if not (args.tree / ".git").exists():
        print(f"bounds: {args.tree} is not a git checkout (see --tree)", file=sys.stderr)
        return 2
    files = len(_git(args.tree, "ls-files").splitlines())
    rows = [_measure(args.tree, case, what, name, max(1, args.runs)) for case, what, name in REPORTS]
    load = os.getloadavg()[0]
    print(f"tree: {args.tree} ({files:,} files); {args.runs} runs each; load average {load:.1f}\n")
    print(_table(rows))
    return 0


def _measure(tree: Path, case: str, what: str, name: str, runs: int) -> Row:
    grep, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = len(_git(tree, "grep", "-l", "-I", "-F", "-e", name).splitlines())
        grep.append(time.perf_counter() - started)
    timings, result = [], {}
    for _ in range(runs):
        started = time.perf_counter()
        result = _analyze(CASES / case, tree)
        timings.append(time.perf_counter() - started)
    notes = [n for n in result.get("notes", []) if any(word in n for word, _ in LIMITS)]
    if "error" in result:
        notes = [f"error: {result['error']}"]
    return Row(what, statistics.median(grep), statistics.median(timings), found, tuple(notes))


def _analyze(report: Path, tree: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bot", "analyze", str(report), "--source", str(tree), "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:]
        return {"error": last[0] if last else f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _git(tree: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=False)
    return proc.stdout


def _table(rows: Sequence[Row]) -> str:
    lines = [
        "| report exercises | files naming it | grep -l -F | crashbot analyze | ratio | limits that bit |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r.analyze_s / r.grep_s if r.grep_s else float("nan")
        lines.append(
            f"| {r.what} | {r.files:,} | {r.grep_s:.2f} s | {r.analyze_s:.1f} s | {ratio:.0f}× "
            f"| {_limits(r.limit_notes)} |"
        )
    return "\n".join(lines)


def _limits(notes: Sequence[str]) -> str:
    """How often each limit bit: searches cut to the likeliest files, names with several definitions, the
    search time spent, errors."""
    counts = [(label, sum(word in n for n in notes)) for word, label in (*LIMITS, ("error", "error"))]
    return ", ".join(f"{label} ×{count}" for label, count in counts if count) or "none"


if __name__ == "__main__":
    raise SystemExit(main())
