"""The demo's Windows crash, on Linux under Wine (``crashbot demo --windows``).

The demo server is cross-built for Windows with a PDB: clang for the MinGW target, with MinGW-w64's
headers and libraries (Debian's ``g++-mingw-w64-x86-64``) and lld writing ``worldserver.pdb`` and the
image's CodeView record, as MSVC's linker would. Debian's ``wine64`` runs it; the whisper crashes it; the
server's own crash handler (``src/common/Debugging/WheatyExceptionReport.cpp``) writes the
WheatyExceptionReport ``.txt`` — release-style, frames as ``section:offset module`` — and dbghelp's
``.dmp`` beside it, so the symbol store has to resolve the frames.

Wine is not Windows: this runs the Windows image, Winsock, SEH unwinding and dbghelp's minidump writer as
Wine implements them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.demo import worldserver as demo_server
from bot.demo.worldserver import DemoServerError, ServerProcess

TARGET = "x86_64-w64-windows-gnu"
MINGW_GXX = "x86_64-w64-mingw32-g++-posix"  # posix threads: the server uses std::thread
EXE_NAME = "worldserver.exe"
PDB_NAME = "worldserver.pdb"
INSTALL_HINT = "runner-setup/dev-setup.sh installs them (apt: wine64 clang lld llvm g++-mingw-w64-x86-64)"


@dataclass(frozen=True)
class Toolchain:
    wine: str
    clang: str
    gcc_dir: Path  # MinGW GCC's folder: libstdc++'s headers and the static runtime libraries

    def cmake_args(self) -> tuple[str, ...]:
        include = self.gcc_dir / "include" / "c++"
        compile_flags = [
            "-nostdinc++",  # clang does not find Debian's MinGW libstdc++ (its GCC folder is "12-posix")
            *(f"-isystem {d}" for d in (include, include / "x86_64-w64-mingw32", include / "backward")),
            "-gcodeview",  # debug info as CodeView, for the PDB
            "-femulated-tls",  # MinGW's libstdc++ is built by GCC, whose thread-locals are emulated
        ]
        link_flags = [
            "-fuse-ld=lld",
            f"-L{self.gcc_dir}",
            "-static",  # one image: no MinGW runtime DLLs to carry beside it
            "-Wl,--pdb=",  # worldserver.pdb beside worldserver.exe, named in its CodeView record
        ]
        return (
            "-DCMAKE_SYSTEM_NAME=Windows",
            f"-DCMAKE_CXX_COMPILER={self.clang}",
            f"-DCMAKE_CXX_COMPILER_TARGET={TARGET}",
            f"-DCMAKE_CXX_FLAGS={' '.join(compile_flags)}",
            f"-DCMAKE_EXE_LINKER_FLAGS={' '.join(link_flags)}",
        )


def find_wine() -> str | None:
    for candidate in ("/usr/lib/wine/wine64", shutil.which("wine64") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_toolchain() -> Toolchain:
    """What the Windows crash needs, or one line naming everything missing and how to install it."""
    wine, clang, gxx = find_wine(), shutil.which("clang++"), shutil.which(MINGW_GXX)
    missing = [
        name
        for name, found in (
            ("wine64", wine),
            ("clang++", clang),
            ("ld.lld", shutil.which("ld.lld")),
            (MINGW_GXX, gxx),
            ("llvm-symbolizer", shutil.which("llvm-symbolizer")),
            ("cmake", shutil.which("cmake")),
        )
        if not found
    ]
    if missing or wine is None or clang is None or gxx is None:
        raise DemoServerError(
            f"the Windows crash needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed; {INSTALL_HINT}"
        )
    try:
        libgcc = subprocess.run(
            [gxx, "-print-libgcc-file-name"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise DemoServerError(f"{MINGW_GXX} -print-libgcc-file-name failed: {e}") from e
    gcc_dir = Path(libgcc).parent
    if not (gcc_dir / "include" / "c++").is_dir():
        raise DemoServerError(f"{MINGW_GXX} has no libstdc++ headers under {gcc_dir}; {INSTALL_HINT}")
    return Toolchain(wine, clang, gcc_dir)


def wine_prefix(env: Mapping[str, str]) -> Path:
    """``WINEPREFIX`` when set, else crashbot's own (Wine boots it on first use, ~1 min, then reuses it)."""
    if env.get("WINEPREFIX"):
        return Path(env["WINEPREFIX"])
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "crashbot-wine" / "demo-prefix"


def wine_env(base: Mapping[str, str], prefix: Path) -> dict[str, str]:
    return {
        **base,
        "WINEPREFIX": str(prefix),
        "WINEDEBUG": "-all",
        "WINEDLLOVERRIDES": "mscoree,mshtml=",  # a new prefix must not ask to install Mono or Gecko
        "DISPLAY": "",
    }


def build(source_dir: Path, build_dir: Path, toolchain: Toolchain, *, jobs: int, timeout_s: float) -> Path:
    """Cross-build the server; the folder holding ``worldserver.exe`` and its ``worldserver.pdb``."""
    exe = demo_server.build(
        source_dir,
        build_dir,
        jobs=jobs,
        timeout_s=timeout_s,
        cmake_args=toolchain.cmake_args(),
        exe_name=EXE_NAME,
    )
    if not (exe.parent / PDB_NAME).is_file():
        raise DemoServerError(f"the Windows build wrote {exe.name} without {PDB_NAME} beside it")
    return exe.parent


def start(
    exe: Path, workdir: Path, toolchain: Toolchain, *, env: Mapping[str, str], args: Sequence[str] = ()
) -> ServerProcess:
    """``wine64 worldserver.exe args`` in ``workdir``. Its console comes through a pipe (Windows programs
    under Wine fail to start with stdout on a file); the pid it prints is a Windows pid, never signalled."""
    if not exe.is_file():
        raise DemoServerError(f"{exe} does not exist; build it first")
    return ServerProcess([toolchain.wine, str(exe), *args], workdir, env=dict(env), host_pid=False)


def new_report(crashes_dir: Path, before: set[Path]) -> Path | None:
    """The WheatyExceptionReport that appeared in ``crashes_dir`` since ``before`` was listed."""
    found = sorted(p for p in crashes_dir.glob("*.txt") if p not in before) if crashes_dir.is_dir() else []
    return found[-1] if found else None
