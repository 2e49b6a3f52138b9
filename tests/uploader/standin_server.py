"""A stand-in for worldserver, compiled for real: prints a TrinityCore revision line on ``--version``,
"(worldserver-daemon) ready..." at start, then waits until it is stopped (SIGTERM) or crashed (SIGSEGV).
The observer reads it from /proc like a real server (its own executable, so /proc/<pid>/exe answers)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from pathlib import Path

REVISION = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"
SERVER_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("TrinityCore rev. %s 2026-12-01 10:00:00 +0000 (master branch) (Unix, RelWithDebInfo, Static)\n", REV);
        return 0;
    }
    printf("(worldserver-daemon) ready...\n");
    fflush(stdout);
    for (;;) pause();
}
"""
_names = itertools.count()


def build_server(source_dir: Path, dest_dir: Path) -> Path:
    """The stand-in built under a name no other process on this machine has (the kernel keeps 15 chars)."""
    src = source_dir / "server.c"
    if not src.exists():
        src.write_text(SERVER_C, encoding="utf-8")
    exe = dest_dir / f"ws{os.getpid() % 100_000}x{next(_names)}"
    subprocess.run(
        ["gcc", "-O0", f'-DREV="{REVISION}"', "-o", str(exe), str(src)], check=True, capture_output=True
    )
    return exe


class Servers:
    """Starts the stand-in server; every process is reaped at the end of the test."""

    def __init__(self, exe: Path) -> None:
        self.exe = exe
        self.started: list[subprocess.Popen[str]] = []

    def start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["sh", "-c", 'ulimit -c 0 && exec "$0"', str(self.exe)],  # a crash leaves no core
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and "ready" in proc.stdout.readline()
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
        proc.send_signal(sig)
        return proc.wait(timeout=30)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
