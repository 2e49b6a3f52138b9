"""Upload from Windows CPython (under wine64) to the GitHub stand-in on the Linux host over loopback:
Windows paths in the CLI, a CRLF Wheaty report, the SQLite spool on Windows, and a dependency that
fails to load (cryptography >= 43 under Wine 8) as one clear line with the report kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.reports import report_name, report_text
from bot.issue import read_payload
from bot.standin import StandIn
from tests.uploader.rig import KEY, REPO, TOKEN
from tests.windows.conftest import WindowsPython, winpath

ENV = {"CRASHBOT_TOKEN": TOKEN, "CRASHBOT_SIGNING_KEY": KEY.decode()}


def crash_issues(server: StandIn) -> list[dict[str, Any]]:
    return [i for i in server.issues(REPO) if "pull_request" not in i]


def crlf_report(folder: Path, sig: int = 0, n: int = 0) -> Path:
    """A WheatyExceptionReport as the Windows crash handler writes it: CRLF line ends."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / report_name(sig, n)
    path.write_bytes(report_text(sig, n).replace("\r\n", "\n").replace("\n", "\r\n").encode())
    return path


def upload_args(api_url: str, spool: Path, *files: Path) -> list[str]:
    return ["upload", "--repo", REPO, "--api-url", api_url, "--spool", winpath(spool), *map(winpath, files)]


def test_windows_upload_of_a_crlf_report_by_its_windows_path_files_one_signed_issue(
    winpy: WindowsPython, standin: StandIn, tmp_path: Path
) -> None:
    """Windows behaviour: Z:\\ paths on the command line, CRLF report text, the spool in Windows SQLite,
    requests/urllib3 over Winsock to the host's 127.0.0.1."""
    report = crlf_report(tmp_path / "Crashes")
    done = winpy.crashbot(upload_args(standin.api_url, tmp_path / "spool.db", report), cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.output
    assert "1 uploaded, 0 spooled for later" in done.output
    assert f"filed #1  {winpath(report)}" in done.output
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 1
    assert "Traceback" not in done.output


def test_windows_pygithub_that_cannot_load_is_one_line_and_a_repaired_install_sends_the_spooled_report(
    winpy: WindowsPython, standin: StandIn, tmp_path: Path
) -> None:
    """Windows behaviour: cryptography >= 43's Rust extension imports bcryptprimitives.dll, which Wine 8
    lacks; the DLL load fails under jwt under PyGithub. The user sees one line naming it, never a
    NameError, and the report stays in the spool until an install that loads sends it."""
    report = crlf_report(tmp_path / "Crashes")
    spool = tmp_path / "spool.db"
    broken = (
        f"import sys; sys.path.insert(0, {winpath(Path(winpy.broken_site))!r}); "
        "from bot.cli import main; raise SystemExit(main(sys.argv[1:]))"
    )
    done = winpy.run(["-c", broken, *upload_args(standin.api_url, spool, report)], cwd=tmp_path, env=ENV)
    assert "PyGithub could not be loaded: " in done.output, done.output
    assert "DLL load failed" in done.output
    assert "NameError" not in done.output and "Traceback" not in done.output
    [line] = [ln for ln in done.output.splitlines() if "PyGithub could not be loaded" in ln]
    assert line.startswith("crashbot: ") and "stay spooled" in line
    assert "0 uploaded, 1 spooled for later" in done.output
    assert "(PyGithub did not load: reinstall crashbot's dependencies;" in done.output  # not "unreachable"
    assert crash_issues(standin) == []

    again = winpy.crashbot(upload_args(standin.api_url, spool, report), cwd=tmp_path, env=ENV)
    assert again.returncode == 0, again.output
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 1


PUBLISH_SCRIPT = Path(__file__).parent / "scripts" / "publish_from_watcher.py"


def test_windows_watcher_starts_its_publisher_process_which_files_the_report_and_stops_on_stdin_eof(
    winpy: WindowsPython, standin: StandIn, tmp_path: Path
) -> None:
    """Windows behaviour: the publisher process is started with ``sys.executable -m`` and no console
    window, the spool's publisher lock is Windows file locking, and the stop reaches it as the end of its
    stdin (no POSIX signal exists to send it)."""
    import json

    report = crlf_report(tmp_path / "Crashes")
    args = [winpath(PUBLISH_SCRIPT), winpath(tmp_path / "spool.db"), standin.api_url, REPO, winpath(report)]
    done = winpy.run(args, cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["platform"] == "win32"
    assert result["states"] == ["uploaded"]
    assert result["running_after_upload"] is True  # lingering for more work...
    assert result["running_after_stop"] is False  # ...until its stdin ended
    assert result["delays"] == []  # it never failed
    assert any(m.startswith("filed #1 for ") for m in result["log"])  # its log, relayed
    assert not any("did not stop" in m for m in result["log"])  # it stopped; nothing killed it
    [issue] = crash_issues(standin)
    assert read_payload(issue["body"], KEY).occurrences.count == 1
