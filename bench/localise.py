"""Localisation benchmark: does the analysis show the engine the code that the real fix changed?

For each real case of bench/localise/cases.json the fix commit's parent is checked out in a local clone,
``crashbot analyze REPORT --source CLONE --json`` runs (the command's JSON is the contract), and what it shows
(mapped frames, contexts, callers) is compared with what the fix changed:

- file@1: the first context is in a file the fix changed;
- file@any: some mapped frame, context or caller is in a changed file;
- function@any: some context or caller is a function the fix changed.

Two baselines run on the same checkouts: "grep top" (find the top frame's file by name; read the function
it names) and "grep all" (find every file the report names; read every function it names).

The cases marked ``"held_out": true`` were collected after the analysis rules (bot/fix/*) were written and
measured before anything was changed for them; they are reported in a table of their own after the
development cases' table, so the development figures stay comparable from one run to the next. Changes made
after seeing them (three report shapes the parsers refused, a one-frame report's callers) are listed in the
README beside both measurements, so the held-out table says what a new report may expect only as far as
those changes are general.

    python bench/localise.py --corpora /work/corpora [--fetch] [--frames 5 8] [--refresh]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

HERE = Path(__file__).resolve().parent / "localise"
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from bot.crash import CrashParseError, parse_report  # noqa: E402
from bot.crash import analyse as analyse_crash  # noqa: E402
from bot.fix.context import FunctionIndex, code_view  # noqa: E402
from bot.fix.locate import class_at, name_matches, split_name  # noqa: E402
from bot.git import Git  # noqa: E402

MANIFEST = HERE / "cases.json"
BASELINES = ("grep top frame's file", "grep every name in the report")
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Score:
    file1: bool
    file_any: bool
    function_any: bool


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", type=Path, default=Path("/work/corpora"), help="directory of the clones")
    p.add_argument("--fetch", action="store_true", help="clone missing repositories from cases.json's URLs")
    p.add_argument("--refresh", action="store_true", help="recompute parent/fixed files/functions from git")
    p.add_argument("--frames", type=int, nargs="*", default=[5], help="frame budgets to measure")
    p.add_argument("--json", type=Path, help="also write per-case results here")
    p.add_argument(
        "--variants",
        action="store_true",
        help="also measure each case with the source paths stripped (release builds, VS stacks) and "
        "against the repository's newest commit instead of the fix's parent (lines drifted)",
    )
    args = p.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    clones = _clones(manifest, args.corpora, fetch=args.fetch)
    if args.refresh:
        for case in manifest["cases"]:
            case.update(truth(Git(clones[case["repo"]], env=os.environ), case["fix_commit"]))
        MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    started = time.monotonic()
    development = [c for c in manifest["cases"] if not c.get("held_out")]
    held_out = [c for c in manifest["cases"] if c.get("held_out")]
    per_case: list[dict[str, Any]] = []
    rows = _measure(development, manifest, clones, args.frames, variants=args.variants, per_case=per_case)
    print(_table(rows))
    print(f"\n{len(development)} development cases")
    if held_out:
        rows = _measure(held_out, manifest, clones, args.frames, variants=args.variants, per_case=per_case)
        print(
            "\nHeld-out cases (collected after the analysis rules were written; README says what changed since):\n"
        )
        print(_table(rows))
        print(f"\n{len(held_out)} held-out cases")
    print(f"\n{time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(per_case, indent=1), encoding="utf-8")
    return 0


def _measure(
    cases: Sequence[dict[str, Any]],
    manifest: dict[str, Any],
    clones: dict[str, Path],
    budgets: Sequence[int],
    *,
    variants: bool,
    per_case: list[dict[str, Any]],
) -> dict[str, list[Score]]:
    """Each method's scores over ``cases`` (one table); each case's results are appended to ``per_case``."""
    rows: dict[str, list[Score]] = {}
    for case in cases:
        tip = manifest["repos"][case["repo"]].get("tip", "HEAD") if variants else None
        for name, score, result in _run_case(case, clones[case["repo"]], budgets, tip=tip):
            rows.setdefault(name, []).append(score)
            per_case.append(
                {
                    "case": case["id"],
                    "held_out": bool(case.get("held_out")),
                    "method": name,
                    "score": score.__dict__,
                    "analysis": result,
                }
            )
    return rows


def _run_case(
    case: dict[str, Any], clone: Path, budgets: Sequence[int], *, tip: str | None
) -> list[tuple[str, Score, dict[str, Any]]]:
    """(method, score, analysis JSON) for the baselines and each measured configuration of one case."""
    _checkout(clone, case["parent"])
    report_path = HERE / case["crash_file"]
    report = report_path.read_bytes()
    fixed_files = set(case["fixed_files"])
    fixed_functions = case["fixed_functions"]
    first_seen = case.get("first_seen")
    out: list[tuple[str, Score, dict[str, Any]]] = [
        (name, score, {})
        for name, score in _baselines(
            report, Git(clone, env=os.environ).ls_files(), fixed_files, fixed_functions
        ).items()
    ]
    for frames in budgets:
        result = _analyze(report_path, clone, frames, first_seen)
        out.append(
            (f"crashbot analyze (frames={frames})", _score(result, fixed_files, fixed_functions), result)
        )
    if tip is None:
        return out
    frames = budgets[-1]
    stripped = Path(tempfile.mkdtemp()) / "no-paths.txt"
    stripped.write_text(strip_paths(report.decode("utf-8", "replace")), encoding="utf-8")
    result = _analyze(stripped, clone, frames, first_seen)
    out.append(
        ("crashbot analyze, source paths stripped", _score(result, fixed_files, fixed_functions), result)
    )
    _checkout(clone, tip)
    result = _analyze(report_path, clone, frames, first_seen)
    name = "crashbot analyze, on the newest tree (lines drifted)"
    out.append((name, _score(result, fixed_files, fixed_functions), result))
    return out


def _checkout(clone: Path, rev: str) -> None:
    """Check ``rev`` out in a scratch clone. A plain checkout first (a partial clone lacks some large blobs,
    which only a forced checkout tries to write); forced when line-ending churn blocks it."""
    for extra in ([], ["--force"]):
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", *extra, "--detach", rev], check=False)
        head = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "HEAD"], check=False, capture_output=True, text=True
        )
        want = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", rev], check=False, capture_output=True, text=True
        )
        if head.stdout.strip() == want.stdout.strip():
            return  # files whose blobs the partial clone lacks stay missing; the benchmark reads source only
    raise SystemExit(f"{clone}: cannot check out {rev}")


def _clones(manifest: dict[str, Any], corpora: Path, *, fetch: bool) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, repo in manifest["repos"].items():
        path = corpora / name
        if not (path / ".git").exists():
            if not fetch:
                raise SystemExit(f"{path}: no clone; run with --fetch, or clone {repo['url']} there")
            subprocess.run(["git", "clone", "-q", "--no-checkout", repo["url"], str(path)], check=True)
        out[name] = path
    return out


def _analyze(report: Path, clone: Path, frames: int, first_seen: str | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bot", "analyze", str(report), "--source", str(clone), "--json"]
    argv += ["--frames", str(frames)]
    if first_seen:
        argv += ["--first-seen", first_seen]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip(), "frames": [], "contexts": [], "callers": {"sites": []}}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _score(a: dict[str, Any], fixed_files: set[str], fixed_functions: Sequence[str]) -> Score:
    contexts = [*a["contexts"], *a["callers"]["sites"]]
    shown_paths = [c["path"] for c in contexts] + [f["path"] for f in a["frames"]]

    def hit(c: dict[str, Any]) -> bool:
        f = c["function"]
        if not f:
            return False
        if "::" not in f:  # a method shown inside its class body: only in its own file is it the same one
            bare = [(split_name(g) or ((), ""))[1] for g in fixed_functions]
            return c["path"] in fixed_files and f in bare
        return any(name_matches(f, g) or name_matches(g, f) for g in fixed_functions)

    return Score(
        file1=bool(contexts) and contexts[0]["path"] in fixed_files,
        file_any=any(p in fixed_files for p in shown_paths),
        function_any=any(hit(c) for c in contexts),
    )


def _baselines(
    report: bytes, files: Sequence[str], fixed_files: set[str], fixed_functions: Sequence[str]
) -> dict[str, Score]:
    try:
        crash = analyse_crash(parse_report(report))
    except CrashParseError:  # text the parsers do not read: a person finds nothing by these means either
        return {name: Score(False, False, False) for name in BASELINES}
    by_name: dict[str, list[str]] = {}
    for f in files:
        by_name.setdefault(PurePosixPath(f).name.casefold(), []).append(f)

    def found(path: str | None) -> list[str]:
        if not path:
            return []
        return by_name.get(re.split(r"[/\\]", path)[-1].casefold(), [])

    def function_hit(names: Sequence[str | None]) -> bool:
        return any(n and (name_matches(n, g) or name_matches(g, n)) for n in names for g in fixed_functions)

    top = crash.top_frame
    top_files = found(top.file if top else None)
    out = {
        BASELINES[0]: Score(
            file1=len(top_files) == 1 and top_files[0] in fixed_files,
            file_any=any(f in fixed_files for f in top_files),
            function_any=bool(top_files) and function_hit([top.function if top else None]),
        )
    }
    frames = [f for t in crash.report.threads for f in t.frames]
    all_files = [f for fr in frames for f in found(fr.file)]
    out[BASELINES[1]] = Score(
        file1=bool(top_files) and top_files[0] in fixed_files,
        file_any=any(f in fixed_files for f in all_files),
        function_any=function_hit([fr.function for fr in frames]),
    )
    return out


_WHEATY_SOURCE_RE = re.compile(r"^(\s*(?:[0-9A-Fa-f]{8,16}\s+){2}\S.*?\+[0-9A-Fa-f]+)\s+\S.*\bline \d+\s*$")
_GDB_SOURCE_RE = re.compile(r"\)\s+at\s+\S+:\d+\s*$")


def strip_paths(text: str) -> str:
    """The report as a release build or a copied VS stack would show it: functions, no source paths."""
    out: list[str] = []
    for line in text.splitlines():
        out.append(_GDB_SOURCE_RE.sub(")", _WHEATY_SOURCE_RE.sub(r"\1", line)))
    return "\n".join(out) + "\n"


def truth(git: Git, fix: str) -> dict[str, Any]:
    """The fix's parent and the files and functions it changed (computed from the repository)."""
    sha = git.run("rev-parse", "--verify", f"{fix}^{{commit}}").strip()
    parent = git.run("rev-parse", "--verify", f"{sha}^").strip()
    names = [n for n in git.run("diff", "--name-only", parent, sha).splitlines() if n]
    functions: set[str] = set()
    for path in names:
        if not path.endswith((".cpp", ".h", ".cc", ".hpp", ".c", ".inl")):
            continue
        diff = git.run("diff", "-U0", parent, sha, "--", path)
        old = git.show(parent, path) or ""
        new = git.show(sha, path) or ""
        for line in diff.splitlines():
            m = _HUNK_RE.match(line)
            if not m:
                continue
            a, alen, b, blen = int(m[1]), int(m[2] or 1), int(m[3]), int(m[4] or 1)
            functions |= _functions_at(old, range(a, a + max(alen, 1)))
            functions |= _functions_at(new, range(b, b + max(blen, 1)))
    return {"fix_commit": sha, "parent": parent, "fixed_files": names, "fixed_functions": sorted(functions)}


def _functions_at(text: str, lines: range) -> set[str]:
    """Qualified names of the functions holding ``lines`` (a method defined inside its class body is
    named with its class, so ``boss_aAI::UpdateAI`` and ``boss_bAI::UpdateAI`` stay different)."""
    if not text:
        return set()
    index = FunctionIndex(code_view(text))
    out: set[str] = set()
    for n in lines:
        found = index.enclosing(n) or _header_of(index, n)
        if not found or not found[2] or not split_name(found[2]):
            continue
        name = found[2]
        if "::" not in name:
            cls = class_at(index, found[0])
            name = f"{cls}::{name}" if cls else name
        out.add(name)
    return out


def _header_of(index: FunctionIndex, line: int) -> tuple[int, int, str | None] | None:
    """The function whose header (the lines before its opening brace) holds ``line``: a fix that changes
    only a signature changes that function."""
    for below in range(line + 1, line + 9):
        found = index.enclosing(below)
        if found:
            return found if found[0] <= line else None
    return None


def _table(rows: dict[str, list[Score]]) -> str:
    def pct(xs: list[bool]) -> str:
        return f"{sum(xs)}/{len(xs)} ({100 * sum(xs) / max(1, len(xs)):.0f} %)"

    out = ["| method | file@1 | file@any | function@any |", "|---|---|---|---|"]
    for name, scores in rows.items():
        out.append(
            f"| {name} | {pct([s.file1 for s in scores])} | {pct([s.file_any for s in scores])} "
            f"| {pct([s.function_any for s in scores])} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
