"""Measure a library demangler (``pydemumble``, LLVM's) against crashbot's hand-written ones (issue 14, item 8).

Run: ``.venv/bin/pip install pydemumble && .venv/bin/python bench/demangle.py``. Prints a table; asserts
nothing (timings vary by machine). ``pydemumble`` is not a dependency: this script is the record of why.

1. Agreement on the project's fixtures: the 292 g++ symbols of ``tests/fixtures/crash/itanium/cxxfilt-pairs.tsv``
   (each must normalise to what GNU c++filt's spelling normalises to) and the MSVC cases of
   ``tests/crash/test_msvc.py`` (decorated name -> dbghelp's qualified name, compared after normalisation,
   since the library prints the whole declaration), plus the malformed inputs those tests reject.
2. Speed: names per second through ``normalize_function``'s demangling step, hand-written vs library.
3. Platforms: the wheels the registry offers per supported platform are not visible from here; the script
   prints the ``pip download`` commands that check them (their results are in the commit that added it).
"""

from __future__ import annotations

import ast
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.crash.itanium import demangle  # noqa: E402
from bot.crash.msvc import undecorate  # noqa: E402
from bot.crash.normalize import normalize_function  # noqa: E402

PAIRS = ROOT / "tests" / "fixtures" / "crash" / "itanium" / "cxxfilt-pairs.tsv"
MSVC_TESTS = ROOT / "tests" / "crash" / "test_msvc.py"
PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64", "win_amd64")
PYTHONS = ("3.11", "3.12", "3.13")


def _library() -> Callable[[str], str | None]:
    import pydemumble  # type: ignore[import-not-found, import-untyped, unused-ignore]

    def demangle_with_library(symbol: str) -> str | None:
        return pydemumble.demangle(symbol) or None

    return demangle_with_library


def _itanium_pairs() -> list[tuple[str, str]]:
    rows = (line.split("\t") for line in PAIRS.read_text(encoding="utf-8").splitlines() if line)
    return [(mangled, readable) for mangled, readable in rows]


def _msvc_cases() -> tuple[list[tuple[str, str]], list[str]]:
    """``UNDECORATE_CASES`` of tests/crash/test_msvc.py, read as data (bench imports nothing from tests)."""
    tree = ast.parse(MSVC_TESTS.read_text(encoding="utf-8"))
    [cases] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "UNDECORATE_CASES" for t in node.targets)
    ]
    rejected = ["?AddSpell", "?", "??", "?@", "?5@@", "??$vector@H"]
    return [(str(raw), str(want)) for raw, want in cases], rejected


def _agreement(cases: list[tuple[str, str]], spell: Callable[[str], str | None]) -> int:
    return sum(normalize_function(spell(raw) or raw) == normalize_function(want) for raw, want in cases)


def _per_second(names: list[str], spell: Callable[[str], str | None], rounds: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for name in names:
            spell(name)
    return rounds * len(names) / (time.perf_counter() - start)


def main() -> None:
    library = _library()
    itanium = _itanium_pairs()
    msvc, rejected = _msvc_cases()
    print(f"{'fixture':<34}{'hand-written':>14}{'pydemumble':>12}")
    print(
        f"{'itanium pairs (normalised)':<34}{_agreement(itanium, demangle):>10}/{len(itanium)}"
        f"{_agreement(itanium, library):>8}/{len(itanium)}"
    )
    print(
        f"{'msvc cases (normalised)':<34}{_agreement(msvc, undecorate):>10}/{len(msvc)}"
        f"{_agreement(msvc, library):>8}/{len(msvc)}"
    )
    hand_rejects = sum(undecorate(text) is None for text in rejected)
    lib_rejects = sum(library(text) is None for text in rejected)
    print(
        f"{'malformed msvc rejected':<34}{hand_rejects:>10}/{len(rejected)}{lib_rejects:>8}/{len(rejected)}"
    )
    names = [mangled for mangled, _ in itanium]
    print(
        f"{'itanium names/s':<34}{_per_second(names, demangle):>14,.0f}{_per_second(names, library):>12,.0f}"
    )
    decorated = [raw for raw, _ in msvc]
    print(
        f"{'msvc names/s':<34}{_per_second(decorated, undecorate):>14,.0f}{_per_second(decorated, library):>12,.0f}"
    )
    print("\nplatforms (run each; a wheel must exist for every line):")
    for platform in PLATFORMS:
        for python in PYTHONS:
            print(
                f"  pip download --no-deps --platform {platform} --python-version {python} "
                "--only-binary=:all: pydemumble"
            )


if __name__ == "__main__":
    main()
