"""Run Microsoft's ``cdb`` on a minidump (the Windows runner), with the symbol store on its symbol path.

Thin on purpose: it builds one command line, runs it under a time limit and hands the text to the cdb
parser of the crash core. It never ran here (Linux): its tests check the command line it builds and
read an answer written from cdb's documented output shape (tests/fixtures/symbols/cdb-analyze.txt).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bot.crash import parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import CrashReport, Format
from bot.symbols.errors import SymbolError

# `!analyze -v` names the fault and its stack; `~*kP` prints every thread's stack with parameters
# (the full stack with locals is what a fix engine needs most); `q` ends the session.
COMMANDS = "!analyze -v; ~*kP; q"
_KIT = Path("Windows Kits") / "10" / "Debuggers" / "x64" / "cdb.exe"


def find_cdb(configured: str, env: Mapping[str, str]) -> str | None:
    """The configured cdb, else cdb on PATH, else the Debugging Tools' usual place."""
    if configured:
        return configured if Path(configured).is_file() or shutil.which(configured) else None
    found = shutil.which("cdb")
    if found:
        return found
    base = env.get("ProgramFiles(x86)") or env.get("PROGRAMFILES(X86)")
    kit = Path(base) / _KIT if base else None
    return str(kit) if kit is not None and kit.is_file() else None


def cdb_argv(cdb: str, dump: Path, *, store: Path | None) -> list[str]:
    """``cdb -z DUMP -y srv*STORE;DUMPDIR -lines -c "!analyze -v; ~*kP; q"``: the store is read as a local
    symbol server (its layout is one), and the dump's folder for a .pdb shipped beside the .exe."""
    symbol_path = ";".join(p for p in (f"srv*{store}" if store else "", str(dump.parent)) if p)
    return [cdb, "-z", str(dump), "-y", symbol_path, "-lines", "-c", COMMANDS]


def run_cdb(argv: list[str], *, timeout_s: float) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, errors="replace"
        )
    except subprocess.TimeoutExpired:
        raise SymbolError(
            f"cdb did not finish within {timeout_s:g} s; the dump's stacks are not used"
        ) from None
    except OSError as e:
        raise SymbolError(f"cdb cannot run ({argv[0]}): {e.strerror or e}") from None
    if "STACK_TEXT" not in done.stdout:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise SymbolError(f"cdb gave no stack (exit {done.returncode}): {last[:300]}")
    return done.stdout


def _symbolised(report: CrashReport) -> int:
    return sum(1 for t in report.threads for f in t.frames if f.function)


def merge_cdb(report: CrashReport, text: str) -> CrashReport:
    """``report`` with cdb's stacks when cdb resolved more frames; the report's own build, environment,
    assertion and exception name stay (cdb does not know the revision)."""
    try:
        found = parse_report(text, fmt=Format.CDB)
    except CrashParseError as e:
        raise SymbolError(f"cdb's answer could not be read: {e}") from None
    if _symbolised(found) <= _symbolised(report):
        return report
    extra = {**found.extra, **report.extra, "stacks_from": "cdb"}
    return dataclasses.replace(
        report,
        threads=found.threads,
        crashing_thread=found.crashing_thread,
        exception=report.exception or found.exception,
        extra=extra,
    )
