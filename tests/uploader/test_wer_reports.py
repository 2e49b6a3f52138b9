"""WER's ReportArchive watched like a crash folder: ``AppCrash_worldserver.exe_*/Report.wer`` (UTF-16 LE) is
handed on only once complete and only when it is the server's; everything else in the archive is left
alone. Run on Linux with folders shaped like ``C:\\ProgramData\\Microsoft\\Windows\\WER\\ReportArchive``;
the Windows side (ReadDirectoryChangesW, WER's own writes) never ran."""

from __future__ import annotations

import codecs
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import RedactionSettings, UploaderSettings
from bot.errors import ConfigError
from bot.issue import read_payload
from bot.standin import StandIn
from bot.uploader.intake import Intake, Outcome
from bot.uploader.spool import ReportState, Spool
from bot.uploader.watcher import CrashWatcher, existing_reports, is_report
from bot.uploader.wer import WerTaker, wer_patterns, wer_watching
from tests.uploader.rig import KEY, REPO, Collector, watching

PATTERNS = wer_patterns(["worldserver.exe"])
FOLDER = "AppCrash_worldserver.exe_9a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2_7f3e2d1c_0c4b5a69"


def report_wer(app: str = "worldserver.exe", offset: str = "0000000000a1b2c3") -> bytes:
    """Report.wer as WER writes it: UTF-16 LE with a BOM, CRLF, ini-style."""
    values = (app, "0.0.0.0", "5f5e1000", app, "0.0.0.0", "5f5e1000", "c0000005", offset)
    lines = ["Version=1", "EventType=APPCRASH", "EventTime=133877728438194296", "ReportType=2"]
    for i, value in enumerate(values):
        lines += [f"Sig[{i}].Name=Signature {i}", f"Sig[{i}].Value={value}"]
    lines += [
        "DynamicSig[1].Name=OS Version",
        "DynamicSig[1].Value=10.0.20348.2.0.0.272.7",
        f"AppPath=C:\\WoW\\{app}",
    ]
    return codecs.BOM_UTF16_LE + ("\r\n".join(lines) + "\r\n").encode("utf-16-le")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.sqlite3") as s:
        yield s


@pytest.fixture
def intake(spool: Spool) -> Intake:
    return Intake(spool, redaction=RedactionSettings(), max_bytes=1024 * 1024)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (f"{FOLDER}/Report.wer", True),
        (f"{FOLDER.upper()}/REPORT.WER", True),  # Windows names are case-insensitive
        ("AppCrash_notepad.exe_1f2e3d_4c5b6a/Report.wer", False),
        ("AppHang_worldserver.exe_1f2e3d_4c5b6a/Report.wer", False),  # a hang, not a crash
        (f"{FOLDER}/WERInternalMetadata.xml", False),
        ("Report.wer", False),  # directly in the archive: not a report folder
    ],
)
def test_wer_patterns_name_the_servers_report_files_in_their_folders(relative: str, expected: bool) -> None:
    assert is_report(Path("ReportArchive") / relative, PATTERNS) is expected


def test_wer_patterns_use_the_part_of_a_long_name_wer_keeps_in_its_folder_names() -> None:
    (pattern,) = wer_patterns(["InsightAnalysisEngine.exe"])
    assert is_report(Path("AppCrash_InsightAnalysisE_857bf71fb86d_cab_1cc34a1e/Report.wer"), (pattern,))


def test_existing_reports_look_one_folder_down_for_wer_reports_oldest_first(tmp_path: Path) -> None:
    for i, name in enumerate([f"{FOLDER}_b", f"{FOLDER}_a", "AppCrash_notepad.exe_1_2"]):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "Report.wer").write_bytes(report_wer())
        os.utime(folder / "Report.wer", (1000 + i, 1000 + i))
    (tmp_path / "Report.wer").write_bytes(report_wer())
    found = existing_reports([tmp_path], PATTERNS)
    assert [p.parent.name for p in found] == [f"{FOLDER}_b", f"{FOLDER}_a"]


def test_wer_watcher_sees_a_report_folder_moved_into_the_archive(tmp_path: Path) -> None:
    """WER writes a report under WER\\Temp or ReportQueue and moves the finished folder to the archive."""
    archive, staging = tmp_path / "ReportArchive", tmp_path / "ReportQueue"
    archive.mkdir()
    staging.mkdir()
    got = Collector()
    with CrashWatcher([archive], on_report=got, patterns=PATTERNS, stability_s=0.2):
        (staging / FOLDER).mkdir()
        (staging / FOLDER / "Report.wer").write_bytes(report_wer())
        (staging / FOLDER / "WERInternalMetadata.xml").write_text("<WERReportMetadata/>")
        (staging / FOLDER).rename(archive / FOLDER)
        assert got.event.wait(10)
        time.sleep(0.4)
    assert got.seen == [(archive / FOLDER / "Report.wer", len(report_wer()))]


def test_wer_watcher_never_hands_on_a_report_wer_still_being_written(tmp_path: Path) -> None:
    """Written in place, in pieces with pauses shorter than the quiet period: read once, whole."""
    archive = tmp_path / "ReportArchive"
    archive.mkdir()
    data = report_wer()
    got = Collector()
    with CrashWatcher([archive], on_report=got, patterns=PATTERNS, stability_s=0.4):
        (archive / FOLDER).mkdir()
        time.sleep(0.2)  # inotify's watch on the new folder is in place before the file appears
        with (archive / FOLDER / "Report.wer").open("wb") as f:
            for start in range(0, len(data), 64):
                f.write(data[start : start + 64])
                f.flush()
                time.sleep(0.03)
        assert got.event.wait(15)
        time.sleep(0.6)
    assert got.seen == [(archive / FOLDER / "Report.wer", len(data))]


def test_wer_taker_spools_the_servers_report_as_a_wer_crash(
    tmp_path: Path, intake: Intake, spool: Spool
) -> None:
    path = tmp_path / FOLDER / "Report.wer"
    path.parent.mkdir()
    path.write_bytes(report_wer())

    result = WerTaker(intake, exe_names=["worldserver.exe"], max_bytes=1024 * 1024).take(path)

    assert result is not None and result.outcome is Outcome.SPOOLED
    (row,) = spool.reports()
    assert row.state is ReportState.NEW
    assert "Sig[7].Value=0000000000a1b2c3" in row.text  # decoded from UTF-16 before it was stored


def test_wer_taker_ignores_another_programs_report_with_one_log_line(
    tmp_path: Path, intake: Intake, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / FOLDER / "Report.wer"  # a folder name that matched, another program inside
    path.parent.mkdir()
    path.write_bytes(report_wer(app="notepad.exe"))

    with caplog.at_level(logging.INFO, logger="bot.uploader.wer"):
        result = WerTaker(intake, exe_names=["worldserver.exe"], max_bytes=1024 * 1024).take(path)

    assert result is None
    assert spool.reports() == []
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: a WER report of notepad.exe, not of worldserver.exe: ignored"
    ]


@pytest.mark.parametrize(
    ("content", "outcome"),
    [
        (report_wer()[: len(report_wer()) // 2], Outcome.QUARANTINED),  # cut mid-signature
        (b"\xff\xfe" + "garbage".encode("utf-16-le"), Outcome.QUARANTINED),
        (report_wer()[2:], Outcome.SPOOLED),  # UTF-16 without its BOM: still read
    ],
    ids=["truncated", "junk", "no BOM"],
)
def test_wer_taker_keeps_every_report_of_the_server_it_cannot_refuse(
    tmp_path: Path, intake: Intake, spool: Spool, content: bytes, outcome: Outcome
) -> None:
    """Spooled when it parses, quarantined with its one-line error when not: never dropped, never raised."""
    path = tmp_path / FOLDER / "Report.wer"
    path.parent.mkdir()
    path.write_bytes(content)

    result = WerTaker(intake, exe_names=["worldserver.exe"], max_bytes=1024 * 1024).take(path)

    assert result is not None and result.outcome is outcome
    (row,) = spool.reports()
    assert (row.state is ReportState.QUARANTINED) is (outcome is Outcome.QUARANTINED)
    if result.error is not None:
        assert "\n" not in result.error


def test_wer_watching_is_off_by_default(intake: Intake) -> None:
    watchers, _ = wer_watching(UploaderSettings(), intake)
    assert watchers == []


def test_wer_watching_a_missing_archive_says_so_and_watches_nothing(
    tmp_path: Path, intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    settings = UploaderSettings(wer_reports=True, wer_dir=str(tmp_path / "no-such-folder"))
    with caplog.at_level(logging.WARNING, logger="bot.uploader.wer"):
        watchers, backfill = wer_watching(settings, intake)
    backfill(threading.Event())
    assert watchers == []
    assert "does not exist: WER reports are not read" in caplog.text
    assert not (tmp_path / "no-such-folder").exists()


def test_wer_reports_on_without_program_names_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="wer_exe_names is empty"):
        UploaderSettings(wer_reports=True, wer_exe_names=())


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_watch_files_a_wer_report_of_the_server_and_leaves_the_archive_alone(
    standin: StandIn, tmp_path: Path
) -> None:
    """``crashbot watch`` with ``wer_reports`` on: one issue for the server's report, none for notepad's."""
    archive = tmp_path / "ReportArchive"
    (archive / "AppCrash_notepad.exe_1f2e3d_4c5b6a").mkdir(parents=True)
    (archive / "AppCrash_notepad.exe_1f2e3d_4c5b6a" / "Report.wer").write_bytes(report_wer(app="notepad.exe"))
    config = tmp_path / "crashbot.toml"
    config.write_text(
        '[uploader]\nedit_interval_s = 0.0\nstability_s = 0.1\nbackoff_base_s = 0.05\ncores = "off"\n'
        f"wer_reports = true\nwer_dir = {str(archive)!r}\n".replace("'", '"'),
        encoding="utf-8",
    )
    spool = str(tmp_path / "s.db")
    args = [str(tmp_path / "Crashes"), "--repo", REPO, "--api-url", standin.api_url, "--spool", spool]
    issues = lambda: [i for i in standin.issues(REPO) if "pull_request" not in i]  # noqa: E731
    with watching(args, config, stop_timeout_s=20):
        time.sleep(1.0)
        (archive / FOLDER).mkdir()
        (archive / FOLDER / "Report.wer").write_bytes(report_wer())
        assert wait_for(lambda: len(issues()) == 1), "the WER report was not filed"
    (issue,) = issues()
    # notepad's report folder is not one of the server's: never read, never filed
    assert read_payload(issue["body"], KEY).signature.frames == ("worldserver.exe+0xa1b2c3",)
