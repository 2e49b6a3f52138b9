"""The Windows suite: crashbot run by the official Windows embeddable CPython under Debian's wine64.

``runner-setup/wine-setup.sh`` builds the interpreter (``.venv/wine``); pytest on Linux drives it as
``wine64 python.exe ...`` subprocesses. Wine is not Windows: these tests exercise crashbot's Windows code
paths (``sys.platform == "win32"``, Windows paths, Windows SQLite, ReadDirectoryChangesW, CreateFileW
share modes) on Wine's implementation of them. Every test here is marked ``windows``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".venv" / "wine" / "env"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.windows)


def winpath(path: Path) -> str:
    r"""``path`` as Wine's Windows side names it (drive Z: is the Linux root): ``Z:\tmp\...``."""
    return "Z:" + str(path).replace("/", "\\")


@dataclass(frozen=True)
class Done:
    returncode: int
    output: str  # stdout and stderr, merged (Wine's own noise is off: WINEDEBUG=-all)


@dataclass(frozen=True)
class WindowsPython:
    wine: str
    prefix: str
    python_exe: str
    broken_site: str

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "GITHUB_"))}
        return {**base, "WINEPREFIX": self.prefix, "WINEDEBUG": "-all", "DISPLAY": "", **(extra or {})}

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.wine, self.python_exe, *args]

    def run(
        self, args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
    ) -> Done:
        """``python.exe args`` with stdout and stderr through a pipe (CPython under Wine cannot start
        with its stdout on a file handle)."""
        done = subprocess.run(
            self.argv(args),
            cwd=cwd,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
        return Done(done.returncode, done.stdout.replace("\r\n", "\n"))

    def crashbot(self, args: Sequence[str], **kw: object) -> Done:
        return self.run(["-m", "bot", *args], **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def winpy() -> Iterator[WindowsPython]:
    if not ENV_FILE.is_file():
        pytest.skip("no Windows interpreter: run runner-setup/wine-setup.sh (.ci/run does)")
    built = (ROOT / ".venv" / "wine" / "crashbot.key").stat().st_mtime
    changed = [p for p in (ROOT / "bot").rglob("*.py") if p.stat().st_mtime > built]
    if changed:
        pytest.fail(f"{changed[0]} changed after crashbot's wheel was built: run runner-setup/wine-setup.sh")
    values = dict(line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    yield WindowsPython(values["WINE"], values["WINEPREFIX"], values["PYTHON_EXE"], values["BROKEN_SITE"])


# The symbols suite's real Windows PE (clang/lld-link) and Wine's real minidump of its crash, shared.
from tests.symbols.conftest import artefact_cache, other_build, windows_build, wine_dump  # noqa: E402, F401

MINGW_CXX = "x86_64-w64-mingw32-g++-posix"  # Debian's g++-mingw-w64-x86-64 (posix threads: std::thread)
DEMO_SERVER = ROOT / "bot" / "demo" / "server"


def _mingw_runtime(cxx: str) -> list[Path]:
    """The MinGW runtime DLLs the server links against, to sit beside worldserver.exe."""
    names = ("libstdc++-6.dll", "libgcc_s_seh-1.dll", "libwinpthread-1.dll")
    found = [
        Path(
            subprocess.run(
                [cxx, f"-print-file-name={n}"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        for n in names
    ]
    return [p if p.is_file() else Path("/usr/x86_64-w64-mingw32/lib") / p.name for p in found]


@pytest.fixture(scope="session")
def mingw_worldserver(artefact_cache: Path) -> Path:  # noqa: F811 (the symbols suite's fixture)
    """The demo worldserver cross-compiled for Windows with g++-mingw-w64 (Winsock, Win32 console
    handlers), cached by its sources and the compiler's version; the folder holding worldserver.exe."""
    import hashlib
    import shutil

    cxx = shutil.which(MINGW_CXX)
    if cxx is None:
        pytest.skip(f"{MINGW_CXX} not installed (runner-setup/dev-setup.sh installs g++-mingw-w64-x86-64)")
    digest = hashlib.sha256(subprocess.run([cxx, "--version"], capture_output=True, check=True).stdout)
    for path in sorted(p for p in DEMO_SERVER.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(DEMO_SERVER)).encode() + b"\0" + path.read_bytes())
    folder = artefact_cache / f"mingw-worldserver-{digest.hexdigest()[:16]}"
    if not (folder / "worldserver.exe").is_file():
        work = artefact_cache / f"tmp-mingw-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        configure = [
            "cmake",
            "-S",
            str(DEMO_SERVER),
            "-B",
            str(work),
            "-DCMAKE_SYSTEM_NAME=Windows",
            f"-DCMAKE_CXX_COMPILER={cxx}",
        ]
        for argv in (configure, ["cmake", "--build", str(work), "-j2"]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (work / "out").mkdir()
        shutil.copy(work / "bin" / "worldserver.exe", work / "out")
        for dll in _mingw_runtime(cxx):
            shutil.copy(dll, work / "out")
        with contextlib.suppress(OSError):  # another worker won the race: use its build
            os.replace(work / "out", folder)
        shutil.rmtree(work, ignore_errors=True)
    return folder
