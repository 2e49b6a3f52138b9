"""Real ELF cores for the tests: a small crashing program built here and dumped by gdb's generate-core-file."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "coredump" / "segv.cpp"
GXX = shutil.which("g++")
GDB = shutil.which("gdb")
needs_tools = pytest.mark.skipif(
    GXX is None or GDB is None, reason="g++ and gdb are needed (runner-setup/dev-setup.sh installs them)"
)


@dataclass(frozen=True)
class Dumped:
    exe: Path
    core: Path
    other_exe: Path  # another build of another program: a different build-id


def generate_core(exe: Path, core: Path, *args: str) -> Path:
    """Run ``exe`` under gdb until it crashes and write its core (``generate-core-file``)."""
    assert GDB is not None
    subprocess.run(
        [
            GDB,
            "-nx",
            "-q",
            "-batch",
            "-ex",
            "run",
            "-ex",
            f"generate-core-file {core}",
            "--args",
            str(exe),
            *args,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert core.is_file()
    return core


@pytest.fixture(scope="session")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> Dumped:
    if GXX is None or GDB is None:
        pytest.skip("g++ and gdb are needed")
    root = tmp_path_factory.mktemp("cores")
    exe = root / "worldserver"
    subprocess.run([GXX, "-g", "-O0", str(SOURCE), "-o", str(exe)], check=True, timeout=120)
    other = root / "authserver"
    subprocess.run([GXX, "-g", "-O1", "-DOTHER=1", str(SOURCE), "-o", str(other)], check=True, timeout=120)
    return Dumped(exe=exe, core=generate_core(exe, root / "core.worldserver"), other_exe=other)
