"""The recorded WheatyExceptionReport the demo files where no debugger run can capture the crash (Windows).

The recording is what TrinityCore's Windows crash handler writes for the demo server's whisper bug (the
same frames, files and lines as the demo source, CRLF line ends). :func:`write_report` stamps it with
the crashed build's own revision line and the time, and writes it the way the handler names its files.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from bot.errors import BotError

RECORDED_REPORT = Path(__file__).resolve().parent / "recorded" / "worldserver-whisper-crash.wheaty.txt"


class RecordingError(BotError):
    """The recorded report is not a WheatyExceptionReport this module can stamp."""


def stamp(recorded: str, revision_line: str, when: datetime) -> str:
    """``recorded`` as the build ``revision_line`` would have written it at ``when``: its ``Revision:``
    line (``GitRevision::GetFullVersion()``) and ``Date`` line replaced, everything else kept."""
    newline = "\r\n" if "\r\n" in recorded else "\n"
    lines = recorded.splitlines()
    if len(lines) < 2 or not lines[0].startswith("Revision: ") or not lines[1].startswith("Date "):
        raise RecordingError(
            "the recorded crash report does not start with WheatyExceptionReport's Revision and Date lines"
        )
    lines[0] = f"Revision: {revision_line}"
    lines[1] = f"Date {when.day}:{when.month}:{when.year}. Time {when.hour}:{when.minute} "
    return newline.join(lines) + newline


def file_name(revision_hash: str, exe_name: str, when: datetime) -> str:
    """TrinityCore's Windows crash file name: ``<hash>_<exe>_[Y_M_D_h_m_s].txt`` (no zero padding)."""
    parts = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    return f"{revision_hash}_{exe_name}_[{'_'.join(str(p) for p in parts)}].txt"


def write_report(
    crashes_dir: Path, *, exe_name: str, revision_line: str, revision_hash: str, when: datetime
) -> Path:
    """Write the stamped recording into ``crashes_dir`` atomically (so a watcher never reads half of it)."""
    text = stamp(RECORDED_REPORT.read_bytes().decode("utf-8"), revision_line, when)  # bytes: keep CRLFs
    crashes_dir.mkdir(parents=True, exist_ok=True)
    target = crashes_dir / file_name(revision_hash, exe_name, when)
    temporary = crashes_dir / f".{target.name}.tmp"
    temporary.write_bytes(text.encode("utf-8"))
    os.replace(temporary, target)
    return target
