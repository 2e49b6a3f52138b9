"""The recorded WheatyExceptionReport: the demo's Windows crash report, true to the demo source."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.crash import analyse, parse_report
from bot.demo import wheaty
from bot.demo import worldserver as demo_server
from bot.demo.run import patched_files
from bot.fix.sourcemap import SourceMap

REVISION = (
    "TrinityCore rev. 0123456789ab 2026-01-02 03:04:05 +0000 (main branch) "
    "(Windows, AMD64, RelWithDebInfo, Static)"
)


def recorded() -> str:
    return wheaty.RECORDED_REPORT.read_bytes().decode("utf-8")  # not read_text: keep the CRLFs


def server_files() -> list[str]:
    source = demo_server.SERVER_SOURCE
    return [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]


def test_recording_top_frame_is_the_demo_bug_in_the_file_the_fix_changes() -> None:
    crash = analyse(parse_report(wheaty.RECORDED_REPORT.read_bytes()))

    assert crash.report.format.value == "wheaty"
    assert crash.report.exception is not None and crash.report.exception.code == "C0000005"
    assert crash.top_frame is not None and crash.top_frame.function == "ChatHandler::SendWhisper"
    mapped = SourceMap(server_files()).resolve(crash.top_frame.file)
    assert mapped is not None
    assert [mapped.path] == patched_files(demo_server.FIX_PATCH.read_text(encoding="utf-8"))


def test_recording_names_real_lines_of_the_demo_source() -> None:
    """The buggy dereference and the call that reaches it, as the demo source has them."""
    crash = analyse(parse_report(wheaty.RECORDED_REPORT.read_bytes()))
    path = demo_server.SERVER_SOURCE / "src/server/game/Handlers/ChatHandler.cpp"
    lines = path.read_text(encoding="utf-8").splitlines()
    send, handle = crash.frames[0], crash.frames[1]
    assert send.line is not None and "target->GetSession()" in lines[send.line - 1]
    assert handle.line is not None and "SendWhisper(target, text)" in lines[handle.line - 1]


def test_recording_keeps_windows_line_endings() -> None:
    data = wheaty.RECORDED_REPORT.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") > 100


def test_stamp_carries_the_live_build_and_signs_like_the_recording() -> None:
    stamped = wheaty.stamp(recorded(), REVISION, datetime(2026, 7, 4, 9, 5, 6))

    assert stamped.startswith(f"Revision: {REVISION}\r\nDate 4:7:2026. Time 9:5 \r\n")
    original = analyse(parse_report(recorded()))
    again = analyse(parse_report(stamped))
    assert again.report.build.revision == "0123456789ab"
    assert again.signature.id == original.signature.id


def test_stamp_without_wheaty_header_is_refused() -> None:
    with pytest.raises(wheaty.RecordingError, match="Revision and Date"):
        wheaty.stamp("Call stack:\n", REVISION, datetime(2026, 1, 1))


def test_file_name_follows_current_trinitycore_shape() -> None:
    name = wheaty.file_name("0123456789ab", "worldserver.exe", datetime(2026, 3, 4, 5, 6, 7))
    assert name == "0123456789ab_worldserver.exe_[2026_3_4_5_6_7].txt"


def test_write_report_leaves_one_complete_report_and_no_temporary(tmp_path: Path) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7)

    path = wheaty.write_report(
        tmp_path / "Crashes",
        exe_name="worldserver.exe",
        revision_line=REVISION,
        revision_hash="0123456789ab",
        when=when,
    )

    assert [p.name for p in (tmp_path / "Crashes").iterdir()] == [path.name]
    assert path.read_bytes() == wheaty.stamp(recorded(), REVISION, when).encode("utf-8")
