"""Drive ``llvm-symbolizer``: one process per report, every address through stdin, under a time limit.

llvm-symbolizer reads PDBs (through the PE's CodeView record, or the PDB of that name beside the image)
and DWARF alike, and with ``--inlining`` returns each inlined call as a location of its own, innermost
first. Its JSON output gives one line per input line, so answers pair with questions by position.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.symbols.errors import SymbolError

DEFAULT_TIMEOUT_S = 60.0
_UNKNOWN = ("??", "")


@dataclass(frozen=True)
class Query:
    """Resolve the virtual address ``address`` (as the image's own headers place it) in ``obj``."""

    obj: Path
    address: int


@dataclass(frozen=True)
class Location:
    function: str | None
    file: str | None
    line: int | None
    column: int | None = None


def find_symbolizer(configured: str = "") -> str | None:
    """The llvm-symbolizer to run: the configured path, else the first on PATH (Debian names some
    ``llvm-symbolizer-14``)."""
    if configured:
        return configured if Path(configured).is_file() or shutil.which(configured) else None
    for name in ("llvm-symbolizer", *(f"llvm-symbolizer-{v}" for v in range(20, 12, -1))):
        found = shutil.which(name)
        if found:
            return found
    return None


def _location(symbol: dict[str, object]) -> Location | None:
    function = str(symbol.get("FunctionName") or "")
    file = str(symbol.get("FileName") or "")
    line = symbol.get("Line")
    column = symbol.get("Column")
    if function in _UNKNOWN and file in _UNKNOWN:
        return None
    return Location(
        function=None if function in _UNKNOWN else function,
        file=None if file in _UNKNOWN else file,
        line=line if isinstance(line, int) and line > 0 else None,
        column=column if isinstance(column, int) and column > 0 else None,
    )


def parse_output(text: str, count: int) -> list[tuple[Location, ...]]:
    """Pair llvm-symbolizer's JSON lines with the ``count`` questions asked; missing answers are ()."""
    answers: list[tuple[Location, ...]] = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            answers.append(())
            continue
        symbols = data.get("Symbol") if isinstance(data, dict) else None
        found = [_location(s) for s in symbols if isinstance(s, dict)] if isinstance(symbols, list) else []
        answers.append(tuple(loc for loc in found if loc is not None))
    answers.extend(() for _ in range(count - len(answers)))
    return answers[:count]


def _quoted(path: Path) -> str:
    text = str(path)
    if '"' in text or "\n" in text:
        raise SymbolError(
            f"{text!r}: a debug file path with a quote or newline cannot be passed to llvm-symbolizer"
        )
    return f'"{text}"'


def symbolize(
    queries: Sequence[Query], *, executable: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[tuple[Location, ...]]:
    """Each query's locations (innermost inlined call first; () when unknown). SymbolError when the
    tool cannot run or exceeds ``timeout_s``."""
    if not queries:
        return []
    stdin = "".join(f"{_quoted(q.obj)} {q.address:#x}\n" for q in queries)
    argv = [executable, "--inlining", "--demangle", "--output-style=JSON"]
    try:
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            encoding="utf-8",
            errors="replace",
        )
    except subprocess.TimeoutExpired:
        raise SymbolError(
            f"llvm-symbolizer did not answer {len(queries)} address(es) within {timeout_s:g} s; "
            "frames left unresolved"
        ) from None
    except OSError as e:
        raise SymbolError(f"llvm-symbolizer cannot run ({executable}): {e.strerror or e}") from None
    if done.returncode != 0 and not done.stdout:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SymbolError(f"llvm-symbolizer failed (exit {done.returncode}): {last[:300]}")
    return parse_output(done.stdout, len(queries))
