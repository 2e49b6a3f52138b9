"""watch on Windows CPython (under wine64): Wine's ReadDirectoryChangesW reports the new file, and the
share-mode check (CreateFileW with no sharing) keeps a report whose writer still holds it open from being
read, even when its size and mtime have been quiet for longer than the stability period."""

from __future__ import annotations

import json
from pathlib import Path

from tests.windows.conftest import WindowsPython, winpath

SCRIPT = Path(__file__).parent / "scripts" / "watch_held_report.py"


def test_windows_watch_waits_for_the_writer_to_close_a_report_it_holds_open(
    winpy: WindowsPython, tmp_path: Path
) -> None:
    """Windows behaviour: a share-nothing CreateFileW fails while another process holds the file open;
    the watcher hands the report on complete, only after the writer closed it."""
    folder = tmp_path / "Crashes"
    folder.mkdir()
    done = winpy.run([winpath(SCRIPT), winpath(folder), "3"], cwd=tmp_path)
    assert done.returncode == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["platform"] == "win32"
    assert result["exclusive_while_held"] is False  # the writer's handle is open: share-nothing refused
    assert result["exclusive_after"] is True
    # Every hand-over is of the complete file, after the writer closed it. Under Wine a late change
    # notification (after the close) can hand the same complete file on a second time; the uploader's
    # intake takes a file once by its content hash, so that costs a lookup, not an issue.
    complete = {"name": "crash.txt", "size": result["final_size"], "writer_closed": True}
    assert result["seen"] and all(seen == complete for seen in result["seen"]), result["seen"]
