"""WER's ReportArchive watched by Windows CPython (under wine64): Wine's ReadDirectoryChangesW, through
watchdog's recursive watch, reports a Report.wer in a report folder moved into the archive and one written
in place; each is read (UTF-16 LE) and signed. Wine is not Windows: WER itself never wrote these."""

from __future__ import annotations

import json
from pathlib import Path

from tests.windows.conftest import WindowsPython, winpath

SCRIPT = Path(__file__).parent / "scripts" / "watch_wer_archive.py"


def test_windows_watcher_hands_on_the_servers_report_wer_moved_in_or_written_in_place(
    winpy: WindowsPython, tmp_path: Path
) -> None:
    done = winpy.run([winpath(SCRIPT), winpath(tmp_path)], cwd=tmp_path)

    assert done.returncode == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["platform"] == "win32"
    # Under Wine a late change notification can hand a complete file on twice (see test_watch_windows):
    # the intake takes a file once by its content hash. What matters: each of the server's reports was
    # handed on, whole, and notepad's never.
    assert {(s["folder"], s["name"], s["signature"]) for s in result["seen"]} == {
        ("AppCrash_worldserver.exe_aaaa_1111", "Report.wer", "ACCESS_VIOLATION | worldserver.exe+0xaa"),
        ("AppCrash_worldserver.exe_bbbb_2222", "Report.wer", "ACCESS_VIOLATION | worldserver.exe+0xbb"),
    }
