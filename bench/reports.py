"""Real crash reports made into many: N distinct signatures, M distinct files of each.

The base is a real TrinityCore WheatyExceptionReport (``tests/fixtures/crash/wheaty/collapsed-whitespace.txt``).
Renaming its top function gives a new signature; changing its date/time line gives a new file (new
content hash) of the same crash, as a crash loop writes them; changing the revision gives a new build.
Used by ``bench/upload.py`` and the uploader's tests.
"""

from __future__ import annotations

from pathlib import Path

from bot.crash import analyse, parse_report
from bot.crash.redact import redact

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"  # data only: bench imports no tests
BASE_REPORT = FIXTURES / "crash" / "wheaty" / "collapsed-whitespace.txt"
BASE_REVISION = "e9bcae1fada6"
_BASE_TEXT = BASE_REPORT.read_text(encoding="utf-8")


def report_text(sig: int = 0, n: int = 0, *, revision: str = BASE_REVISION) -> str:
    """Occurrence ``n`` of crash ``sig``: same signature for every ``n``, different bytes."""
    text = _BASE_TEXT.replace("Field::GetUInt32+2E", f"Field::GetUInt32V{sig}+2E")
    day = 1 + n // 1440 % 28
    text = text.replace("Date 15:12:2018. Time 17:37", f"Date {day}:12:2018. Time {n // 60 % 24}:{n % 60}")
    if n >= 28 * 1440:
        text += f"\n// occurrence {n}\n"
    return text.replace(BASE_REVISION, revision)


def report_name(sig: int, n: int, *, revision: str = BASE_REVISION) -> str:
    """A Wheaty-style file name: ``<rev>_worldserver.exe_[day-month_hh-mm-ss].txt``."""
    return f"{revision}_worldserver.exe_[{sig}-{n}_17-37-{n % 60:02d}].txt"


def write_report(
    directory: Path, sig: int = 0, n: int = 0, *, revision: str = BASE_REVISION, dump: bool = False
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / report_name(sig, n, revision=revision)
    path.write_text(report_text(sig, n, revision=revision), encoding="utf-8")
    if dump:
        path.with_suffix(".dmp").write_bytes(b"MDMP\x93\xa7" + bytes(64))
    return path


def signature_id(sig: int = 0) -> str:
    """The signature crashbot gives crash ``sig`` (computed the way intake does: on redacted text)."""
    return analyse(parse_report(redact(report_text(sig, 0)).text)).signature.id
