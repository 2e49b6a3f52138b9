"""The watcher: OS events, a report handed on only once complete, dumps paired, clean stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.uploader.watcher import CrashWatcher, dump_for, existing_reports, is_report
from tests.uploader.rig import Collector


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("7d14957a32df+_worldserver.exe_[2025_10_31_11_14_33].txt", True),
        ("e9bcae1fada6_worldserver.exe_[15-12_17-37-37].dmp", False),
        ("gdb-2024-01-01-10-00-00.log", True),
        (".hidden.txt", False),
        ("core.1234", False),
    ],
)
def test_is_report_by_pattern(name: str, expected: bool) -> None:
    assert is_report(Path(name), ("*.txt", "*.log")) is expected


def test_dump_for_pairs_same_stem(tmp_path: Path) -> None:
    txt = tmp_path / "abc_worldserver.exe_[1-2_3-4-5].txt"
    txt.write_text("x")
    assert dump_for(txt) is None
    (tmp_path / "abc_worldserver.exe_[1-2_3-4-5].dmp").write_bytes(b"MDMP")
    assert dump_for(txt) == tmp_path / "abc_worldserver.exe_[1-2_3-4-5].dmp"


def test_existing_reports_oldest_first(tmp_path: Path) -> None:
    import os

    for i, name in enumerate(["b.txt", "a.txt", "c.dmp"]):
        p = tmp_path / name
        p.write_text("x")
        os.utime(p, (1000 + i, 1000 + i))
    assert [p.name for p in existing_reports([tmp_path, tmp_path / "missing"], ("*.txt",))] == [
        "b.txt",
        "a.txt",
    ]


def test_watcher_reports_a_new_file_once_it_is_complete(tmp_path: Path) -> None:
    got = Collector()
    with CrashWatcher([tmp_path], on_report=got, stability_s=0.2):
        (tmp_path / "crash.txt").write_text("Exception code: C0000005 ACCESS_VIOLATION\n")
        assert got.event.wait(10)
    assert got.seen == [(tmp_path / "crash.txt", 42)]


def test_watcher_never_hands_on_a_report_still_being_written(tmp_path: Path) -> None:
    """A 5 MB report written in chunks with pauses shorter than the quiet period is read only whole."""
    got = Collector()
    chunk = b"x" * (256 * 1024)
    with CrashWatcher([tmp_path], on_report=got, stability_s=0.4):
        with (tmp_path / "big.txt").open("wb") as f:
            for _ in range(20):
                f.write(chunk)
                f.flush()
                time.sleep(0.05)
        assert got.event.wait(15)
        time.sleep(0.6)
    assert got.seen == [(tmp_path / "big.txt", 20 * len(chunk))]


def test_watcher_ignores_non_reports_and_reports_dumps_separately(tmp_path: Path) -> None:
    reports, dumps = Collector(), Collector()
    with CrashWatcher([tmp_path], on_report=reports, on_dump=dumps, stability_s=0.2):
        (tmp_path / "notes.bin").write_bytes(b"\x00")
        (tmp_path / "x.dmp").write_bytes(b"MDMP" * 100)
        assert dumps.event.wait(10)
        (tmp_path / "x.txt").write_text("report")
        assert reports.event.wait(10)
    assert [p.name for p, _ in reports.seen] == ["x.txt"]
    assert [p.name for p, _ in dumps.seen] == ["x.dmp"]


def test_watcher_sees_a_report_renamed_into_place(tmp_path: Path) -> None:
    got = Collector()
    staging = tmp_path / "staging"
    staging.mkdir()
    crashes = tmp_path / "Crashes"
    with CrashWatcher([crashes], on_report=got, stability_s=0.2):
        tmp = staging / "r.tmp"
        tmp.write_text("report")
        tmp.rename(crashes / "r.txt")
        assert got.event.wait(10)
    assert got.seen[0][0] == crashes / "r.txt"


def test_watcher_stop_returns_promptly_while_idle(tmp_path: Path) -> None:
    watcher = CrashWatcher([tmp_path], on_report=Collector(), stability_s=0.2)
    watcher.start()
    watcher.stop(timeout=5)
    assert watcher.pending == 0
