"""Real debug artefacts built during the tests: a Windows PE + PDB from clang/lld-link, its truth from
llvm-pdbutil and llvm-objdump (tools independent of crashbot's readers), and a real minidump written by
Wine's debugger when the PE crashes under wine64.

Building is cached under pytest's cache folder, keyed by the inputs (source, flags, tool versions; the
executable's bytes for the dump), because Wine's first start in a fresh prefix takes ~20 s here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# data only: bench imports nothing from tests/
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "symbols"
SOURCE = FIXTURES / "worldserver.cpp"
# The PDB path a Windows build machine would have linked into the image.
PDB_ALT_PATH = r"D:\build\bin\worldserver.pdb"
WINDOWS_TOOLS = ("clang++", "lld-link", "llvm-pdbutil", "llvm-objdump", "llvm-symbolizer")


def missing(tools: tuple[str, ...]) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def wine64() -> str | None:
    for candidate in ("/usr/lib/wine/wine64", shutil.which("wine64") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _run(argv: list[str], cwd: Path, **kw: object) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return str(done.stdout)


def _key(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Function:
    name: str
    offset: int  # in section 1
    size: int


@dataclass(frozen=True)
class WindowsBuild:
    folder: Path
    exe: Path
    pdb: Path
    image_base: int
    text_rva: int
    guid: str  # as llvm-pdbutil prints it, without braces and dashes
    functions: tuple[Function, ...]
    lines: tuple[tuple[int, int], ...]  # (section-1 offset, line), ascending
    inlinees: dict[str, tuple[str, ...]]  # function -> the functions inlined into it (S_INLINESITE)

    def function_at(self, offset: int) -> Function:
        return next(f for f in self.functions if f.offset <= offset < f.offset + f.size)

    def line_at(self, offset: int) -> int:
        return [line for start, line in self.lines if start <= offset][-1]


# Where a Windows build machine kept the source (the PDB records it; -fdebug-prefix-map puts it there).
SOURCE_DIR = r"D:\build\src\server\game"


def build_windows(cache: Path, *, variant: int = 0, source_dir: str = SOURCE_DIR) -> WindowsBuild:
    """Compile and link the fixture (``variant`` changes one constant, so its PDB GUID differs)."""
    flags = ["--target=x86_64-pc-windows-msvc", "-O1", "-g", "-gcodeview", f"-DVARIANT={variant}"]
    # a fixed link time per variant: lld-link stamps the current second otherwise, and two variants
    # linked within one second have the same size and timestamp, the key a symbol store files them under
    stamp = f"/timestamp:{0x5F5E1000 + variant}"
    version = _run(["clang++", "--version"], cache)
    folder = cache / f"win-{_key(SOURCE.read_bytes(), *flags, stamp, source_dir, version)}"
    if not (folder / "worldserver.pdb").is_file():
        work = cache / f"tmp-{os.getpid()}-{variant}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        source = work / "worldserver.cpp"
        source.write_text(SOURCE.read_text() + f'\nextern "C" int kVariant = {variant};\n')
        prefix = f"-fdebug-prefix-map={work}={source_dir}"
        _run(["clang++", *flags, prefix, "-c", "worldserver.cpp", "-o", "worldserver.obj"], work)
        _run(
            [
                "lld-link",
                "/entry:mainCRTStartup",
                "/subsystem:console",
                "/nodefaultlib",
                "/debug",
                stamp,
                "/pdb:worldserver.pdb",
                f"/pdbaltpath:{PDB_ALT_PATH}",
                "/out:worldserver.exe",
                "worldserver.obj",
            ],
            work,
        )
        try:
            os.replace(work, folder)
        except OSError:  # another worker won the race: use its build
            shutil.rmtree(work, ignore_errors=True)
    return _truth(folder)


def _truth(folder: Path) -> WindowsBuild:
    exe, pdb = folder / "worldserver.exe", folder / "worldserver.pdb"
    headers = _run(["llvm-objdump", "-h", str(exe)], folder)
    text = re.search(r"\.text\s+[0-9a-f]+\s+([0-9a-f]+)", headers)
    assert text, headers
    text_va = int(text.group(1), 16)
    image_base = text_va & ~0xFFFF_FFF  # 0x140000000 for a 64-bit image
    symbols = _run(["llvm-pdbutil", "dump", "-symbols", str(pdb)], folder)
    functions = tuple(
        Function(m.group(1), int(m.group(2)), int(m.group(3)))
        for m in re.finditer(
            r"S_GPROC32 \[size = \d+\] `([^`]+)`\s+parent = \d+, end = \d+, "
            r"addr = 0001:(\d+), code size = (\d+)",
            symbols,
        )
    )
    inlinees: dict[str, tuple[str, ...]] = {}
    for block in re.split(r"(?=S_GPROC32 )", symbols)[1:]:
        name = re.match(r"S_GPROC32 \[size = \d+\] `([^`]+)`", block)
        if name:
            inlinees[name.group(1)] = tuple(re.findall(r"inlinee = 0x[0-9A-F]+ \(([^)]+)\)", block))
    lines_dump = _run(["llvm-pdbutil", "dump", "-l", str(pdb)], folder)
    lines = tuple(sorted((int(o, 16), int(n)) for n, o in re.findall(r"(\d+) ([0-9A-F]{8}) !", lines_dump)))
    summary = _run(["llvm-pdbutil", "dump", "-summary", str(pdb)], folder)
    guid = re.search(r"GUID: \{([0-9A-F-]+)\}", summary)
    assert guid, summary
    return WindowsBuild(
        folder,
        exe,
        pdb,
        image_base,
        text_va - image_base,
        guid.group(1).replace("-", ""),
        functions,
        lines,
        inlinees,
    )


@dataclass(frozen=True)
class WineFrame:
    address: int
    function: str
    file: str
    line: int
    module: str


@dataclass(frozen=True)
class WineCrash:
    dump: Path
    thread_id: int
    frames: tuple[WineFrame, ...]  # Wine's own debugger's backtrace (it reads the PDB itself)


_WINE_FRAME = re.compile(
    r"^(?:=>)?\s*\d+ 0x([0-9a-f]+) ([\w:~<>]+)\+0x[0-9a-f]+\(.*?\) \[(.+?):(\d+)\] in (\w+)", re.M
)


def wine_crash(cache: Path, build: WindowsBuild, wine: str) -> WineCrash:
    """Run the crashing PE under wine64 with AeDebug set to ``winedbg --minidump``; keep the MDMP file and
    Wine's printed backtrace."""
    version = _run([wine, "--version"], cache)
    folder = cache / f"wine-{_key(build.exe.read_bytes(), build.pdb.read_bytes(), version)}"
    if not (folder / "crash.dmp").is_file():
        work = cache / f"tmp-wine-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        shutil.copy(build.exe, work / "worldserver.exe")
        shutil.copy(build.pdb, work / "worldserver.pdb")
        env = {**os.environ, "WINEPREFIX": str(work / "prefix"), "WINEDEBUG": "-all", "DISPLAY": ""}
        (work / "aedebug.reg").write_text(
            "REGEDIT4\n\n[HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows NT\\CurrentVersion\\AeDebug]\n"
            '"Debugger"="winedbg --minidump C:\\\\crash.dmp %ld %ld"\n"Auto"="1"\n'
        )
        _run([wine, "regedit", "aedebug.reg"], work, env=env)
        done = subprocess.run(
            [wine, "worldserver.exe"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        (work / "wine-output.txt").write_text(done.stdout + done.stderr)
        shutil.copy(work / "prefix" / "drive_c" / "crash.dmp", work / "crash.dmp")
        subprocess.run(
            [wine.replace("wine64", "wineserver"), "-k"], env=env, check=False, capture_output=True
        )
        shutil.rmtree(work / "prefix", ignore_errors=True)
        try:
            os.replace(work, folder)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
    output = (folder / "wine-output.txt").read_text()
    thread = re.search(r"\(thread ([0-9a-f]+)\)", output)
    assert thread, output
    frames = tuple(
        WineFrame(int(m.group(1), 16), m.group(2), m.group(3), int(m.group(4)), m.group(5))
        for m in _WINE_FRAME.finditer(output)
    )
    return WineCrash(folder / "crash.dmp", int(thread.group(1), 16), frames)


def wheaty_report(build: WindowsBuild, offsets: list[int], *, revision: str | None = "3c5e0d7a91b2") -> str:
    """A WheatyExceptionReport of a server without its .pdb: every frame ``0001:<offset> <path>``."""
    head = (
        f"Revision: TrinityCore rev. {revision} 2026-03-14 20:41:07 +0100 (master branch) (Windows, AMD64, "
        "RelWithDebInfo, Static)\n"
        if revision
        else ""
    )
    fault = build.image_base + build.text_rva + offsets[0]
    rows = "".join(
        f"{build.image_base + build.text_rva + o:016X}  {0x11FDA0 + 0x20 * i:016X}  0001:{o:016X} "
        "C:\\Realm\\worldserver.exe\n"
        for i, o in enumerate(offsets)
    )
    return (
        f"{head}Date 14:3:2026. Time 21:47 \n//=====================================================\n"
        f"Exception code: C0000005 ACCESS_VIOLATION\n"
        f"Fault address:  {fault:016X} 01:{offsets[0]:016X} C:\\Realm\\worldserver.exe\n\n"
        f"Call stack:\nAddress   Frame     Function      SourceFile\n{rows}"
        "000000007B627E49  000000000011FE30  BaseThreadInitThunk+9\n"
    )
