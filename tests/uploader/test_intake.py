"""Intake: file -> capped bytes -> sha256 -> (known? skip) -> decode -> redact -> parse -> spool."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reports import report_text, signature_id, write_report
from bot.config import RedactionSettings
from bot.errors import ConfigError
from bot.uploader import intake as intake_mod
from bot.uploader.intake import Intake, Outcome
from bot.uploader.spool import ReportState, Spool, SpooledReport
from tests.uploader.rig import CUT_REPORT, SECRETS_REPORT


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.sqlite3") as s:
        yield s


@pytest.fixture
def spooled() -> list[SpooledReport]:
    return []


@pytest.fixture
def intake(spool: Spool, spooled: list[SpooledReport]) -> Intake:
    return Intake(spool, redaction=RedactionSettings(), max_bytes=1024 * 1024, on_spooled=spooled.append)


def test_intake_new_report_is_spooled_with_its_signature(
    intake: Intake, spool: Spool, tmp_path: Path
) -> None:
    path = write_report(tmp_path, sig=3)
    result = intake.take(path)
    assert result.outcome is Outcome.SPOOLED
    assert result.signature_id == signature_id(3)
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    [row] = spool.reports()
    assert (row.state, row.signature_id, row.path) == (ReportState.NEW, signature_id(3), str(path))


def test_intake_stores_only_redacted_text(intake: Intake, spool: Spool) -> None:
    result = intake.take(SECRETS_REPORT)
    assert result.outcome is Outcome.SPOOLED
    [row] = spool.reports()
    for secret in (
        "Hunter2Secret",
        "gm.owner@example.org",
        "ghp_A1b2C3d4",
        "203.0.113.77",
        r"C:\Users\admin",
    ):
        assert secret not in row.text
    assert "[REDACTED:db]" in row.text
    assert "email=1" in row.redactions and "ip=1" in row.redactions


def test_intake_same_content_twice_is_known_and_spooled_once(
    intake: Intake, spool: Spool, tmp_path: Path, spooled: list[SpooledReport]
) -> None:
    first = write_report(tmp_path / "a", sig=0, n=1)
    copy = tmp_path / "b" / "copy.txt"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    assert intake.take(first).outcome is Outcome.SPOOLED
    assert intake.take(first).outcome is Outcome.KNOWN
    assert intake.take(copy).outcome is Outcome.KNOWN
    assert len(spool.reports()) == 1
    assert len(spooled) == 1


def test_intake_same_crash_different_file_is_a_second_occurrence(
    intake: Intake, spool: Spool, tmp_path: Path
) -> None:
    a = intake.take(write_report(tmp_path, sig=0, n=1))
    b = intake.take(write_report(tmp_path, sig=0, n=2))
    assert a.outcome is b.outcome is Outcome.SPOOLED
    assert a.signature_id == b.signature_id
    assert len(spool.reports(ReportState.NEW)) == 2


def test_intake_unparseable_report_is_quarantined_with_a_one_line_error(
    intake: Intake, spool: Spool, spooled: list[SpooledReport]
) -> None:
    result = intake.take(CUT_REPORT)
    assert result.outcome is Outcome.QUARANTINED
    assert result.error is not None and "\n" not in result.error
    assert "no stack frames" in result.error
    [row] = spool.reports()
    assert row.state is ReportState.QUARANTINED
    assert row.last_error == result.error
    assert row.text.startswith("Revision: TrinityCore")  # kept for a human to look at
    assert [r.id for r in spooled] == [row.id]  # the service is told, so it reports it
    assert intake.take(CUT_REPORT).outcome is Outcome.KNOWN  # and only once


def test_intake_unreadable_files_are_skipped_and_the_next_file_still_spools(
    intake: Intake, spool: Spool, tmp_path: Path
) -> None:
    missing = intake.take(tmp_path / "gone.txt")
    directory = intake.take(tmp_path)
    good = intake.take(write_report(tmp_path / "c", sig=1))
    assert missing.outcome is Outcome.UNREADABLE and "cannot be read" in (missing.error or "")
    assert directory.outcome is Outcome.UNREADABLE
    assert good.outcome is Outcome.SPOOLED
    assert len(spool.reports()) == 1


def test_intake_parser_bug_quarantines_only_that_file(
    intake: Intake, spool: Spool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_analyse = intake_mod.analyse
    bad = write_report(tmp_path, sig=9)

    def analyse_with_a_bug(report):  # a parser/rule bug that only this report triggers
        if any("GetUInt32V9" in (f.function or "") for t in report.threads for f in t.frames):
            raise IndexError("tuple index out of range")
        return real_analyse(report)

    monkeypatch.setattr(intake_mod, "analyse", analyse_with_a_bug)
    broken = intake.take(bad)
    fine = intake.take(write_report(tmp_path, sig=1))
    assert broken.outcome is Outcome.QUARANTINED
    assert broken.error == "internal parser error: IndexError: tuple index out of range"
    assert fine.outcome is Outcome.SPOOLED


def test_intake_dump_beside_the_report_is_recorded(intake: Intake, spool: Spool, tmp_path: Path) -> None:
    path = write_report(tmp_path, sig=0, dump=True)
    intake.take(path)
    [row] = spool.reports()
    assert row.dump_path == str(path.with_suffix(".dmp"))


def test_intake_dump_settling_after_its_report_is_paired(
    intake: Intake, spool: Spool, tmp_path: Path
) -> None:
    path = write_report(tmp_path, sig=0)
    intake.take(path)
    assert spool.reports()[0].dump_path is None
    dump = path.with_suffix(".dmp")
    dump.write_bytes(b"MDMP")
    intake.take_dump(dump)
    intake.take_dump(tmp_path / "unrelated.dmp")
    assert spool.reports()[0].dump_path == str(dump)


def test_intake_report_over_the_size_cap_is_read_up_to_the_cap(spool: Spool, tmp_path: Path) -> None:
    text = report_text(0, 0)
    path = tmp_path / "huge.txt"
    path.write_text(text + "x" * 5000, encoding="utf-8")
    capped = Intake(spool, redaction=RedactionSettings(), max_bytes=len(text.encode()))
    result = capped.take(path)
    assert result.outcome is Outcome.SPOOLED
    assert result.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert spool.reports()[0].size == len(text.encode())


def test_intake_invalid_extra_redaction_pattern_is_a_config_error(spool: Spool) -> None:
    with pytest.raises(ConfigError, match="extra_patterns"):
        Intake(spool, redaction=RedactionSettings(extra_patterns=("([",)), max_bytes=10)


def test_intake_extra_redaction_pattern_applies_before_spooling(spool: Spool, tmp_path: Path) -> None:
    custom = Intake(
        spool, redaction=RedactionSettings(extra_patterns=(r"Intel\(R\) Core\(TM\) i7-\w+",)), max_bytes=10**6
    )
    custom.take(write_report(tmp_path, sig=0))
    row = spool.reports()[0]
    assert "i7-6700K" not in row.text and "[REDACTED:custom]" in row.text
