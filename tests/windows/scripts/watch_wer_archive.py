"""Run by Windows CPython under wine64: crashbot's CrashWatcher on a folder shaped like WER's ReportArchive.

Two reports arrive as WER's do: a report folder written elsewhere and moved into the archive whole, and a
folder made in the archive with its Report.wer (UTF-16 LE) written in place. A folder of another program
arrives too. Prints one JSON object: what the watcher handed on, and how each handed-on file parses.
"""

from __future__ import annotations

import codecs
import json
import os
import sys
import threading
import time
from pathlib import Path

from bot.crash import analyse, parse_report
from bot.uploader.watcher import CrashWatcher
from bot.uploader.wer import wer_patterns


def report_wer(app: str, offset: str) -> bytes:
    values = (app, "0.0.0.0", "5f5e1000", app, "0.0.0.0", "5f5e1000", "c0000005", offset)
    lines = ["Version=1", "EventType=APPCRASH"]
    for i, value in enumerate(values):
        lines += [f"Sig[{i}].Name=Signature {i}", f"Sig[{i}].Value={value}"]
    return codecs.BOM_UTF16_LE + ("\r\n".join(lines) + "\r\n").encode("utf-16-le")


def main() -> int:
    root = Path(sys.argv[1])
    archive, queue = root / "ReportArchive", root / "ReportQueue"
    archive.mkdir()
    queue.mkdir()
    seen: list[dict[str, object]] = []
    lock = threading.Lock()

    def on_report(path: Path) -> None:
        crash = analyse(parse_report(path.read_bytes()))
        with lock:
            seen.append({"folder": path.parent.name, "name": path.name, "signature": crash.signature.text})

    watcher = CrashWatcher([archive], on_report=on_report, patterns=wer_patterns(["worldserver.exe"]))
    watcher.start()
    moved = queue / "AppCrash_worldserver.exe_aaaa_1111"
    moved.mkdir()
    (moved / "Report.wer").write_bytes(report_wer("worldserver.exe", "00000000000000aa"))
    os.rename(moved, archive / moved.name)  # MoveFileExW: the finished folder arrives whole
    in_place = archive / "AppCrash_worldserver.exe_bbbb_2222"
    in_place.mkdir()
    time.sleep(0.5)
    (in_place / "Report.wer").write_bytes(report_wer("worldserver.exe", "00000000000000bb"))
    other = archive / "AppCrash_notepad.exe_cccc_3333"
    other.mkdir()
    (other / "Report.wer").write_bytes(report_wer("notepad.exe", "00000000000000cc"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len({s["folder"] for s in seen}) < 2:
        time.sleep(0.1)
    time.sleep(1.5)  # a late or foreign hand-over would show here
    watcher.stop()
    print(json.dumps({"platform": sys.platform, "seen": sorted(seen, key=lambda s: str(s["folder"]))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
