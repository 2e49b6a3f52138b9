"""Run by Windows CPython under wine64: crashbot's CrashWatcher against a report another Windows process
is still writing, its handle held open between two slow writes (as a crash handler does).

Prints one JSON object: what the watcher saw and when, relative to the writer's steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.uploader.watcher import CrashWatcher, opened_exclusively

WRITER = r"""
import sys, time
from pathlib import Path
report, held, closed = (Path(a) for a in sys.argv[1:4])
with open(report, "w", newline="\r\n") as f:
    f.write("Revision: TrinityCore rev. 3c5e0d7a91b2\n")
    f.flush()
    held.write_text("1")
    time.sleep(float(sys.argv[4]))  # quiet: size and mtime unchanged, the handle still open
    f.write("Exception code: C0000005 ACCESS_VIOLATION\n")
closed.write_text("1")
"""


def main() -> int:
    folder, quiet_s = Path(sys.argv[1]), float(sys.argv[2])
    report, held, closed = folder / "crash.txt", folder.parent / "held", folder.parent / "closed"
    seen: list[dict[str, object]] = []
    got = threading.Event()

    def on_report(path: Path) -> None:
        seen.append({"name": path.name, "size": path.stat().st_size, "writer_closed": closed.exists()})
        got.set()

    watcher = CrashWatcher([folder], on_report=on_report, stability_s=0.3)
    watcher.start()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(report), str(held), str(closed), str(quiet_s)]
    )
    while not held.exists():
        time.sleep(0.05)
    exclusive_while_held = opened_exclusively(report)
    got.wait(quiet_s * 4 + 30)
    writer.wait()
    time.sleep(1.0)  # a second delivery would show here
    watcher.stop()
    exclusive_after = opened_exclusively(report)
    print(
        json.dumps(
            {
                "platform": sys.platform,
                "seen": seen,
                "exclusive_while_held": exclusive_while_held,
                "exclusive_after": exclusive_after,
                "final_size": report.stat().st_size,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
