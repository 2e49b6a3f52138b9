"""parse on Windows CPython (under wine64): a WheatyExceptionReport as the Windows crash handler writes it
(CRLF, C:\\ module paths, section:offset frames) and its minidump beside it, named as Wheaty names them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.artefacts import WindowsBuild, WineCrash, wheaty_report
from tests.windows.conftest import WindowsPython, winpath


def test_windows_parse_reads_a_crlf_wheaty_report_and_the_dmp_of_the_same_name(
    winpy: WindowsPython, tmp_path: Path, windows_build: WindowsBuild, wine_dump: WineCrash
) -> None:
    """Windows behaviour: CRLF line ends, Windows paths in the frames, the .txt + .dmp pair found by name
    through a Z:\\ path, and Wine's own minidump read by Windows CPython."""
    report = tmp_path / "3c5e0d7a91b2_worldserver.exe_[2026_3_14_21_47_1].txt"
    report.write_bytes(wheaty_report(windows_build, [0x63, 0x4C]).replace("\n", "\r\n").encode())
    shutil.copy(wine_dump.dump, report.with_suffix(".dmp"))

    (tmp_path / "store").mkdir()  # an empty store: what is read comes from the report and the dump alone
    done = winpy.crashbot(
        ["parse", winpath(report), "--symbols", winpath(tmp_path / "store"), "--json"], cwd=tmp_path
    )

    assert done.returncode == 0, done.output
    parsed = json.loads(done.output)
    assert parsed["dump"]["exception"] == {
        "code": "C0000005",
        "address": f"0x{wine_dump.frames[0].address:016x}",
        "thread_id": wine_dump.thread_id,
    }
    assert any(m["name"] == "worldserver.exe" for m in parsed["dump"]["modules"])
