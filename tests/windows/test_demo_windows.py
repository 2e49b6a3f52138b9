"""``crashbot demo --windows``: a Windows crash of the demo, from the crash to the issue's resolved frames.

The demo cross-builds the live commit for Windows (clang for the MinGW target, lld's PDB), adds the
build to the symbol store, runs the image alone under wine64, crashes it with the whisper, and files
what the server's own crash handler wrote: a release-style WheatyExceptionReport (``section:offset``
frames, no names) with dbghelp's minidump beside it. The issue on the stand-in must name the function,
file and line the symbol store resolved. The rest of the loop is the Linux demo's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.demo import windows
from bot.demo.run import CrashCapture, DemoOptions, run_demo
from bot.demo.worldserver import SERVER_SOURCE, DemoServerError
from bot.symbols.minidump import read_minidump_file
from tests.demo.test_demo import Progress
from tests.windows.conftest import ENV_FILE

BUG_SOURCE = SERVER_SOURCE / "src" / "server" / "game" / "Handlers" / "ChatHandler.cpp"


def _bug_line() -> int:
    """The line of the null dereference in the demo source (SendWhisper's body)."""
    lines = BUG_SOURCE.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if "target->GetSession()" in line)


@pytest.fixture
def booted_prefix(monkeypatch: pytest.MonkeyPatch) -> Path:
    """wine-setup's booted prefix (booting one takes ~20 s or more): the demo changes no setting in it."""
    if not ENV_FILE.is_file():
        pytest.skip("no Wine prefix: run runner-setup/wine-setup.sh (.ci/run does)")
    values = dict(line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    monkeypatch.setenv("WINEPREFIX", values["WINEPREFIX"])
    return Path(values["WINEPREFIX"])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_windows_crash_under_wine_files_an_issue_with_the_frames_the_symbol_store_resolved(
    tmp_path: Path, booted_prefix: Path
) -> None:
    """Windows behaviour: an unhandled access violation caught by the process's own top-level exception
    filter (SetUnhandledExceptionFilter), its stack unwound with the image's .pdata, dbghelp's
    MiniDumpWriteDump of the crashing process, a PE + PDB pair found by the image's CodeView record."""
    try:
        windows.find_toolchain()
    except DemoServerError as e:  # the one line the CLI would print
        pytest.skip(str(e))
    if shutil.which("cmake") is None or shutil.which("git") is None:
        pytest.skip("needs git and cmake")
    output, workdir = tmp_path / "out", tmp_path / "work"
    options = DemoOptions(
        output_dir=output,
        workdir=workdir,
        jobs=2,
        capture=CrashCapture.WINE,
        stop_after="upload",  # the rest of the loop is the Linux demo's, proven end to end in tests/demo
    )

    report = run_demo(options, Progress())

    assert report.ok, report.failed
    assert [s.name for s in report.steps] == ["github", "repo", "deploy-v1", "crash", "upload"]
    crash_step = report.steps[3]
    assert crash_step.title == "Crash a Windows build of v1 under Wine"

    # what the crashed Windows process wrote: a release-style report (no names) and a real minidump
    crashes = workdir / "windows-twin" / "Crashes"
    [written] = crashes.glob("*_worldserver.exe_[[]*[]].txt")
    text = written.read_bytes()
    assert b"\r\n" in text and b"Exception code: C0000005 ACCESS_VIOLATION" in text
    assert re.search(rb"\r\n[0-9A-F]{16}  [0-9A-F]{16}  0001:[0-9A-F]{16} Z:\\.*\\worldserver\.exe\r\n", text)
    assert b"SendWhisper" not in text  # every name below came from the symbol store
    dump = read_minidump_file(written.with_suffix(".dmp"))
    assert dump.exception is not None and f"{dump.exception.code:08X}" == "C0000005"
    assert not (workdir / "windows-twin" / "worldserver.pdb").exists()  # the release carried no PDB
    assert "worldserver.pdb/" in (output / "logs" / "symbols.log").read_text(encoding="utf-8")

    # the issue on the stand-in, filed by the uploader: the function, file and line the store resolved
    assert report.github is not None and report.github.issue is not None
    issue = report.github.issue
    assert issue.author == "crashbot-uploader" and issue.title.startswith("crash: ChatHandler::SendWhisper")
    line = _bug_line()
    assert re.search(
        rf"\| Top frame \| \[`ChatHandler::SendWhisper`\]\([^)]*ChatHandler\.cpp#L{line}\) at "
        rf"`src/server/game/Handlers/ChatHandler\.cpp:{line}` \|",
        issue.body,
    ), issue.body
    assert "`ChatHandler::HandleWhisperCommand(" in issue.body
    assert "| Report format | `wheaty` |" in issue.body and "Windows, AMD64" in issue.body
    # the uploader read the .dmp beside the report: the issue lists the dump's modules, the image's PDB
    # filled in from the image the store matched (Wine's minidump writer records no CodeView)
    assert "Modules (" in issue.body and "from the minidump" in issue.body
    assert re.search(
        r"\| `worldserver\.exe` \|[^\n]*\| `worldserver\.pdb` \| `[0-9A-F]{33,}` \|", issue.body
    ), issue.body
    # MinGW's C runtime startup (__tmainCRTStartup) stays a bare address: lld's PDB does not describe
    # it, and no debug file would, so the issue does not call it "Symbols missing"
    assert re.search(r"\| `worldserver\.exe\+0001:[0-9a-f]{16}` \|", issue.body), issue.body
    assert "### Symbols missing" not in issue.body
    upload_log = (output / "logs" / "upload.log").read_text(encoding="utf-8")
    assert "frame site(s) in worldserver.exe lie in code its debug files do not describe" in upload_log
