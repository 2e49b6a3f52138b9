"""Build, configure, run and crash the demo worldserver shipped in ``bot/demo/server``."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TextIO

from bot.errors import BotError

logger = logging.getLogger(__name__)

SERVER_SOURCE: Path = Path(__file__).resolve().parent / "server"
FIX_PATCH: Path = Path(__file__).resolve().parent / "fix.patch"
CRASHREPORT_GDB: Path = SERVER_SOURCE / "contrib" / "debugger" / "crashreport.gdb"

READY_SUFFIX = "(worldserver-daemon) ready..."
# A console command that hits the known bug: the target player is not online.
CRASH_COMMAND = "whisper Nobody hi"
# The server's own switch for a crash without any client: a scripted whisper after N seconds.
CRASH_AFTER_FLAG = "--crash-on-start-after"
CRASH_AFTER_ENV = "WORLDSERVER_CRASH_ON_START_AFTER"
CRASH_MARKER = "--- DEBUG: BACKTRACE FULL"

BUILD_CONFIG = "RelWithDebInfo"
# An AddressSanitizer build, as TrinityCore/AzerothCore developers make one to hunt memory errors.
SANITIZE_ADDRESS_ARGS = (
    "-DCMAKE_CXX_FLAGS=-fsanitize=address -fno-omit-frame-pointer -g",
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address",
    "-DWORLDSERVER_USE_PCH=OFF",  # a PCH built without the sanitizer flags would not match them
)
BUILD_LOG_NAME = "crashbot-build.log"
GDB_LOG_NAME = "crashreport.gdb.log"
CONFIG_NAME = "worldserver.conf"

_COPY_IGNORE = shutil.ignore_patterns("build", "out", "__pycache__", "*.pyc", ".git")
_PID_RE = re.compile(r"^Daemon PID: (\d+)\s*$")
_REVISION_RE = re.compile(r"\brev\. (\S+)")
_SIGNAL_RE = re.compile(r"(?:received signal|stopped with signal) (SIG[A-Z0-9]+)")
_EXITED_RE = re.compile(r"\[Inferior \d+ \(process \d+\) exited")
_ERROR_LINE_RE = re.compile(r"\berror\b", re.IGNORECASE)


class DemoServerError(BotError):
    """The demo worldserver could not be copied, built, configured or run."""


@dataclass(frozen=True)
class GdbRun:
    """How a worldserver run under gdb ended."""

    exit_code: int  # the server's exit code; 128 + the signal number after a crash
    crash_log: Path | None  # the report written into crashes_dir, None after a normal exit
    signal: str | None  # "SIGSEGV" etc. after a crash
    revision: str  # the 12-hex git hash the binary was built from, or "unknown"
    console: str  # everything the server and gdb printed

    @property
    def crashed(self) -> bool:
        return self.crash_log is not None


def copy_source(dest: Path) -> Path:
    """Copy the server sources into ``dest`` (absent or empty), ready to ``git init`` as a server repo."""
    if dest.exists() and any(dest.iterdir()):
        raise DemoServerError(
            f"cannot copy the demo server sources into {dest}: it is not empty; pick a new directory"
        )
    shutil.copytree(SERVER_SOURCE, dest, ignore=_COPY_IGNORE, dirs_exist_ok=True)
    return dest


def build(
    source_dir: Path,
    build_dir: Path,
    *,
    broken: bool = False,
    jobs: int = 2,
    timeout_s: float = 600,
    cmake_args: Sequence[str] = (),
    exe_name: str | None = None,
) -> Path:
    """Configure and build ``worldserver`` (RelWithDebInfo) in ``build_dir``; return the executable
    (``exe_name``: its name when cross-building, e.g. ``worldserver.exe`` on Linux).

    The build directory is reused, so a rebuild after a small change recompiles only what changed.
    ``broken=True`` builds a release that exits with code 1 before its ready line. ``cmake_args`` go to the
    configure step (e.g. ``SANITIZE_ADDRESS_ARGS`` for an AddressSanitizer build).
    """
    cmake = shutil.which("cmake")
    if cmake is None:
        raise DemoServerError(
            "cmake is not on PATH; install CMake 3.16+ and a C++17 compiler to build the demo server"
        )
    if not (source_dir / "CMakeLists.txt").is_file():
        raise DemoServerError(
            f"{source_dir} has no CMakeLists.txt; pass the server source directory (see copy_source)"
        )
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / BUILD_LOG_NAME
    deadline = time.monotonic() + timeout_s
    steps = (
        (
            "configure",
            [
                cmake,
                "-S",
                str(source_dir),
                "-B",
                str(build_dir),
                f"-DWORLDSERVER_BROKEN={'ON' if broken else 'OFF'}",
                *cmake_args,
            ],
        ),
        (
            "build",
            [cmake, "--build", str(build_dir), "--config", BUILD_CONFIG, "--parallel", str(max(1, jobs))],
        ),
    )
    with log_path.open("w", encoding="utf-8", errors="replace") as log:
        for step, command in steps:
            logger.info("demo server %s: %s", step, " ".join(command))
            returncode, output = _run_logged(command, log, deadline - time.monotonic())
            if returncode is None:
                raise DemoServerError(
                    f"demo server {step} did not finish within {timeout_s:g}s; "
                    f"see {log_path} or raise timeout_s"
                )
            if returncode != 0:
                raise DemoServerError(
                    f"demo server {step} failed (exit {returncode}): {_first_error(output)}; "
                    f"full log: {log_path}"
                )
    return _find_executable(build_dir, exe_name)


def write_config(
    dir: Path, *, world_port: int, soap_port: int, ra_port: int, user: str, password: str
) -> Path:
    """Write ``worldserver.conf`` into ``dir`` (loopback only, one account for SOAP and RA); return it."""
    for name, port in (("world_port", world_port), ("soap_port", soap_port), ("ra_port", ra_port)):
        if not 0 < port < 65536:
            raise DemoServerError(f"{name} {port} is not a TCP port; use 1-65535 (free_port() finds one)")
    for name, value in (("user", user), ("password", password)):
        if not value or any(c in value for c in '"\r\n'):
            raise DemoServerError(
                f"{name} must be non-empty without quotes or line breaks for worldserver.conf"
            )
    dir.mkdir(parents=True, exist_ok=True)
    path = dir / CONFIG_NAME
    path.write_text(
        "# Written by crashbot (bot/demo/worldserver.py) for the demo worldserver.\n"
        'BindIP = "127.0.0.1"\n'
        f"WorldServerPort = {world_port}\n"
        "SOAP.Enabled = 1\n"
        'SOAP.IP = "127.0.0.1"\n'
        f"SOAP.Port = {soap_port}\n"
        f'SOAP.Username = "{user}"\n'
        f'SOAP.Password = "{password}"\n'
        "Ra.Enable = 1\n"
        'Ra.IP = "127.0.0.1"\n'
        f"Ra.Port = {ra_port}\n"
        f'Ra.Username = "{user}"\n'
        f'Ra.Password = "{password}"\n'
        'LogFile = "Server.log"\n',
        encoding="utf-8",
    )
    return path


# Ports handed out below the OS's ephemeral range: a port from bind(0) is released at once and the
# kernel may give it to the next outgoing connection (every HTTP request makes one) before the server
# binds it. Linux's ephemeral range starts at 32768, Windows' at 49152.
_PORT_RANGE = (20000, 32000)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range (see above)."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(*_PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise DemoServerError(f"no free TCP port on 127.0.0.1 between {_PORT_RANGE[0]} and {_PORT_RANGE[1]}")


def read_revision(exe: Path) -> str:
    """The full revision line the binary reports (``worldserver --version``)."""
    if not exe.is_file():
        raise DemoServerError(f"worldserver executable {exe} does not exist; build it first (build())")
    try:
        result = subprocess.run(
            [str(exe), "--version"], capture_output=True, text=True, errors="replace", timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DemoServerError(f"cannot run {exe} --version: {e}") from e
    line = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
    if result.returncode != 0 or not _REVISION_RE.search(line):
        raise DemoServerError(
            f"{exe} --version printed no revision line (exit {result.returncode}): {line!r}"
        )
    return line


def revision_hash(revision_line: str) -> str:
    """The hash part of ``TrinityCore rev. <hash> …`` (``unknown`` when there is none)."""
    match = _REVISION_RE.search(revision_line)
    return match.group(1) if match else "unknown"


class ServerProcess:
    """A running worldserver (directly or under gdb) whose console output is captured line by line."""

    def __init__(
        self,
        command: Sequence[str],
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        host_pid: bool = True,
    ) -> None:
        """``host_pid=False``: the pid the server prints is not this host's (a Windows pid under Wine),
        so it is never used to signal anything."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.command = list(command)
        self.workdir = workdir
        self._host_pid = host_pid
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._server_pid: int | None = None
        kwargs: dict[str, object] = {}
        if sys.platform == "win32":
            # Its own process group, so Ctrl-Break reaches only the server (a graceful stop).
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        try:
            self._proc = subprocess.Popen(
                self.command,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                **kwargs,  # type: ignore[call-overload]
            )
        except OSError as e:
            raise DemoServerError(f"cannot start {self.command[0]}: {e}") from e
        self._reader = threading.Thread(target=self._read_console, name="worldserver-console", daemon=True)
        self._reader.start()

    def _read_console(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.rstrip("\r\n")
            with self._lock:
                self._lines.append(line)
            pid = _PID_RE.match(line)
            if pid and self._server_pid is None and self._host_pid:
                self._server_pid = int(pid.group(1))
            if line.endswith(READY_SUFFIX):
                self._ready.set()

    @property
    def pid(self) -> int:
        """The pid of the process started (gdb itself when run under gdb)."""
        return self._proc.pid

    @property
    def server_pid(self) -> int | None:
        """The worldserver's own pid, once it has printed ``Daemon PID:``."""
        return self._server_pid

    def console(self) -> str:
        """Everything printed so far."""
        with self._lock:
            return "\n".join(self._lines)

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait_ready(self, timeout_s: float = 30) -> str:
        """Wait for the ready line and return it; raise if the server exits or stalls first."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.05):
            if self._proc.poll() is not None:
                self._reader.join(5)
                if self._ready.is_set():
                    break
                raise DemoServerError(
                    f"worldserver exited with code {self._proc.returncode} before its ready line: "
                    f"{self._last_line()}"
                )
            if time.monotonic() > deadline:
                raise DemoServerError(
                    f"worldserver printed no ready line within {timeout_s:g}s; "
                    f"last output: {self._last_line()}"
                )
        with self._lock:
            return next(line for line in self._lines if line.endswith(READY_SUFFIX))

    def wait(self, timeout_s: float = 60) -> int:
        """Wait for the process to exit and return its exit code; kill it and raise after ``timeout_s``."""
        try:
            code = self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DemoServerError(
                f"worldserver did not exit within {timeout_s:g}s and was killed; "
                f"last output: {self._last_line()}"
            ) from None
        self._reader.join(5)
        return code

    def stop(self) -> None:
        """Ask the server for a clean shutdown (SIGTERM; Ctrl-Break on Windows), as an operator would."""
        if self._proc.poll() is not None:
            return
        if sys.platform == "win32":
            # Under gdb on Windows the inferior's pid is unknown to Ctrl-Break; the group gets it.
            os.kill(self._proc.pid, signal.CTRL_BREAK_EVENT)
            return
        target = self._server_pid if self._server_pid is not None else self._proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server (and gdb, when it runs under gdb) without waiting for a clean stop."""
        if self._server_pid is not None and self._server_pid != self._proc.pid and self._proc.poll() is None:
            # The inferior outlives a killed gdb unless it is killed itself.
            with contextlib.suppress(OSError):
                os.kill(self._server_pid, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(5)

    def _last_line(self) -> str:
        with self._lock:
            lines = [line for line in self._lines if line.strip()]
        return lines[-1] if lines else "(no output)"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()


def start(exe: Path, workdir: Path, args: Sequence[str] = ()) -> ServerProcess:
    """Start the worldserver in ``workdir`` (where ``worldserver.conf`` and ``Server.log`` live)."""
    if not exe.is_file():
        raise DemoServerError(f"worldserver executable {exe} does not exist; build it first (build())")
    return ServerProcess([str(exe), *args], workdir)


class GdbSession:
    """A worldserver running under ``gdb -batch -x crashreport.gdb``; ``finish()`` collects the outcome."""

    def __init__(self, exe: Path, workdir: Path, crashes_dir: Path, args: Sequence[str] = ()) -> None:
        gdb = shutil.which("gdb")
        if gdb is None:
            raise DemoServerError(
                "gdb is not on PATH; install gdb to run the demo server under a crash reporter"
            )
        self.exe = exe
        self.crashes_dir = crashes_dir
        self.revision = read_revision(exe)
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / GDB_LOG_NAME
        self.log_path.unlink(missing_ok=True)
        env = dict(os.environ)
        # A debuginfod lookup for every system library would add minutes and needs the network.
        env.pop("DEBUGINFOD_URLS", None)
        command = [
            gdb, "-nx", "-q", "-batch",
            "-ex", f"set logging file {self.log_path}",
            "-x", str(CRASHREPORT_GDB),
            "--args", str(exe), *args,
        ]  # fmt: skip
        self.process = ServerProcess(command, workdir, env=env)

    def finish(self, timeout_s: float = 60) -> GdbRun:
        """Wait for the server to exit or crash; on a crash write the report into ``crashes_dir``."""
        code = self.process.wait(timeout_s)
        report = self.log_path.read_bytes() if self.log_path.is_file() else b""
        text = report.decode("utf-8", errors="replace")
        console = self.process.console()
        if CRASH_MARKER in text:
            match = _SIGNAL_RE.search(text)
            crash_log = write_crash_log(self.crashes_dir, self.exe, self.revision, report)
            logger.info("worldserver crashed (%s); report %s", match.group(1) if match else "?", crash_log)
            return GdbRun(
                code, crash_log, match.group(1) if match else None, revision_hash(self.revision), console
            )
        if not _EXITED_RE.search(text):
            last = next((line for line in reversed(console.splitlines()) if line.strip()), "(no output)")
            raise DemoServerError(f"gdb could not run {self.exe} (gdb exit {code}): {last}")
        return GdbRun(code, None, None, revision_hash(self.revision), console)

    def __enter__(self) -> GdbSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.process.kill()


def start_under_gdb(exe: Path, workdir: Path, crashes_dir: Path, args: Sequence[str] = ()) -> GdbSession:
    """Start the worldserver under gdb with ``crashreport.gdb``; use ``.process`` to talk to it."""
    if not exe.is_file():
        raise DemoServerError(f"worldserver executable {exe} does not exist; build it first (build())")
    return GdbSession(exe, workdir, crashes_dir, args)


def run_under_gdb(
    exe: Path, workdir: Path, crashes_dir: Path, args: Sequence[str] = (), timeout_s: float = 60
) -> GdbRun:
    """Run the worldserver under gdb until it exits or crashes; a crash leaves a report in ``crashes_dir``."""
    with start_under_gdb(exe, workdir, crashes_dir, args) as session:
        return session.finish(timeout_s)


def crash_log_name(revision: str, exe_name: str, when: datetime) -> str:
    """``<hash>_<exe>_[YYYY_MM_DD_HH_MM_SS].gdb.txt``, the Linux twin of TC's Windows crash file name."""
    return f"{revision}_{exe_name}_[{when:%Y_%m_%d_%H_%M_%S}].gdb.txt"


def write_crash_log(crashes_dir: Path, exe: Path, revision_line: str, report: bytes) -> Path:
    """Write a crash report atomically (temporary file, then rename) so a watcher never sees half of it."""
    crashes_dir.mkdir(parents=True, exist_ok=True)
    when = datetime.now().astimezone()
    name = crash_log_name(revision_hash(revision_line), exe.stem, when)
    target = crashes_dir / name
    suffix = 2
    while target.exists():
        target = crashes_dir / name.replace("].gdb.txt", f"]_{suffix}.gdb.txt")
        suffix += 1
    header = (
        f"{revision_line}\n"
        f"Crash time: {when:%Y-%m-%d %H:%M:%S %z}\n"
        f"Executable: {exe.name}\n"
        "Captured by crashreport.gdb\n\n"
    ).encode()
    temporary = crashes_dir / f".{target.name}.tmp"
    temporary.write_bytes(header + report)
    os.replace(temporary, target)
    return target


def _run_logged(command: Sequence[str], log: TextIO, timeout_s: float) -> tuple[int | None, str]:
    """Run ``command``, append its output to ``log``; (exit code or None on timeout, output)."""
    kwargs: dict[str, object] = {}
    if sys.platform != "win32":
        kwargs["start_new_session"] = True  # lets a timeout take down make's compiler children too
    proc = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        **kwargs,  # type: ignore[call-overload]
    )
    try:
        output, _ = proc.communicate(timeout=max(timeout_s, 0.1))
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        output, _ = proc.communicate()
        log.write(output)
        return None, output
    log.write(output)
    return proc.returncode, output


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if _ERROR_LINE_RE.search(line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _find_executable(build_dir: Path, name: str | None = None) -> Path:
    name = name or ("worldserver.exe" if sys.platform == "win32" else "worldserver")
    for candidate in (build_dir / "bin" / name, build_dir / "bin" / BUILD_CONFIG / name):
        if candidate.is_file():
            return candidate
    raise DemoServerError(
        f"the build finished but {name} is not under {build_dir / 'bin'}; see {BUILD_LOG_NAME}"
    )
