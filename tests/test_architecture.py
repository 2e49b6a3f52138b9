"""The architecture where import-linter cannot state it: no import cycle between any two modules of
``bot/``, and no command a game host or runner runs ever loads the GitHub stand-in or the demo.

The layer, independence and PyGithub contracts are ``[tool.importlinter]`` in pyproject.toml
(``lint-imports`` in .ci/run); its ``acyclic_siblings`` contract sees cycles between the siblings of a
package, not one between a package's ``__init__`` and its own modules, which is the shape a registry
that imports its implementations takes.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import grimp
import pytest

from bot.commands import COMMANDS

# Imports left out of the cycle check until the change that removes them lands; each names it. None today:
# the engines import their protocol from bot.fix.engines.base, and the registry imports the engines.
KNOWN_CYCLE_IMPORTS: frozenset[tuple[str, str]] = frozenset()

# Each command a host runs: the module that registers it, and the room its handler works in (all of it
# is imported, so the modules its handler imports inside functions are too).
HOST_COMMANDS: Mapping[str, tuple[str, ...]] = {
    "watch": ("bot.uploader", "bot.github"),
    "upload": ("bot.uploader", "bot.github"),
    "fix": ("bot.fix", "bot.github", "bot.git"),
    "deploy": ("bot.deploy", "bot.github", "bot.git"),
    "parse": ("bot.crash",),
    "signature": ("bot.crash",),
    "analyze": ("bot.fix", "bot.git"),
    "doctor": ("bot.doctor",),
    "init": ("bot.init",),
    "symbols": ("bot.symbols",),
    "dashboard": ("bot.dashboard", "bot.github"),
}
DEMO_ONLY = ("bot.standin", "bot.demo")
BENCH = Path(__file__).resolve().parents[1] / "bench"


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``bot`` it imports anywhere (function-level and TYPE_CHECKING too)."""
    graph = grimp.build_graph("bot", cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in edges.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in edges.get(module, ()):
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_cycles_finds_a_cycle_through_three_modules_and_a_self_import() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(edges) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_bot_has_no_import_cycle() -> None:
    graph = import_graph()
    known = {(a, b) for a, b in KNOWN_CYCLE_IMPORTS if b in graph.get(a, ())}
    assert known == KNOWN_CYCLE_IMPORTS, "a known cycle import is gone: drop it from KNOWN_CYCLE_IMPORTS"
    edges = {module: {t for t in targets if (module, t) not in known} for module, targets in graph.items()}
    assert cycles(edges) == []


def loaded_after_importing(modules: Iterable[str]) -> set[str]:
    """The ``bot`` modules a fresh interpreter holds after importing ``modules`` and all they contain."""
    probe = (
        "import importlib, json, pkgutil, sys\n"
        f"for name in {sorted(modules)!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_every_command_but_the_demo_is_a_host_command_checked_below() -> None:
    assert set(HOST_COMMANDS) == set(COMMANDS) - {"demo"}


@pytest.mark.parametrize("command", sorted(HOST_COMMANDS))
def test_a_host_command_never_loads_the_stand_in_or_the_demo(command: str) -> None:
    """A game host's `crashbot watch` or a runner's `crashbot fix` carries no GitHub stand-in and no demo."""
    module = COMMANDS[command][0]
    loaded = loaded_after_importing(["bot.cli", module, *HOST_COMMANDS[command]])
    assert module in loaded
    assert {m for m in loaded if m.startswith(DEMO_ONLY)} == set()


def test_the_demo_command_does_load_them() -> None:
    """The probe above can see them: `crashbot demo` is their one way in."""
    loaded = loaded_after_importing(["bot.cli", COMMANDS["demo"][0]])
    assert {"bot.standin", "bot.demo"} <= loaded


def imported_names(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_bench_imports_nothing_from_tests() -> None:
    """bench/ reads the test fixtures' data but not the tests' code (what both need lives in bench/)."""
    scripts = sorted(BENCH.glob("*.py"))
    assert BENCH / "parse.py" in scripts
    assert {
        f"{path.name}: {name}"
        for path in scripts
        for name in imported_names(path)
        if name == "tests" or name.startswith("tests.")
    } == set()
