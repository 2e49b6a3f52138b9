"""``crashbot demo``: the whole loop run for real, plus the pieces it is made of.

The end-to-end test builds the C++ demo server with CMake, crashes it under gdb, and drives every
crashbot command against the GitHub stand-in; it asserts what the stand-in, the files and the timeline
say, not what the demo printed about itself. The fast tests cover the recorded Windows report, the
config the demo commits, and how a failing step stops the run.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import tomllib
import urllib.parse
from pathlib import Path

import pytest

from bot import config as config_mod
from bot.cli import main
from bot.demo import worldserver as demo_server
from bot.demo.report import DemoReport, StepRecord
from bot.demo.run import (
    CrashCapture,
    DemoOptions,
    default_capture,
    patched_files,
    render_config,
    run_demo,
)
from bot.deploy.process import ProcessControl
from bot.deploy.releases import Releases
from bot.errors import UsageError
from bot.vocabulary import ANALYSIS

STEPS = (
    "github",
    "repo",
    "deploy-v1",
    "crash",
    "upload",
    "fix",
    "merge",
    "deploy-v2",
    "verify",
    "dashboard",
    "stop",
)


class Progress:
    """Remembers what the demo announced (the CLI prints from the same calls)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.records: list[StepRecord] = []
        self.held: list[DemoReport] = []

    def started(self, name: str, title: str) -> None:
        self.names.append(name)

    def finished(self, step: StepRecord) -> None:
        self.records.append(step)

    def holding(self, report: DemoReport) -> None:
        self.held.append(report)


# ---------------------------------------------------------------------------------------------------
# the whole loop


needs_toolchain = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("git") is None, reason="needs git, cmake and a C++ compiler"
)
needs_gdb = pytest.mark.skipif(
    sys.platform != "win32" and shutil.which("gdb") is None,
    reason="the Linux demo crashes the server under gdb",
)


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_toolchain
@needs_gdb
def test_demo_fresh_run_every_step_happens_and_github_shows_the_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    workdir = tmp_path / "work"

    code = main(["demo", "--output", str(output), "--workdir", str(workdir)])

    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    for name in ("timeline.md", "issue.md", "pr.md", "analysis-comment.md", "index.html", "dashboard.md"):
        assert (output / name).is_file(), name
    assert sorted(p.name for p in (output / "logs").iterdir()) == [
        "dashboard.log",
        "deploy-v1.log",
        "deploy-v2.log",
        "fix.log",
        "upload.log",
    ]

    # the issue as the uploader filed it: signed payload, the crash's own top frame
    issue = (output / "issue.md").read_text(encoding="utf-8")
    assert "<!-- crashbot:payload v1 " in issue and "<!-- crashbot:hmac " in issue
    assert "ChatHandler::SendWhisper" in issue
    # the dashboard step rendered the body again (two days of history): what only the host's report had
    # is still there
    assert "<summary>Other threads (" in issue
    analysis = (output / "analysis-comment.md").read_text(encoding="utf-8")
    assert ANALYSIS.tag in analysis and "src/server/game/Handlers/ChatHandler.cpp" in analysis
    assert "Fixes #1" in (output / "pr.md").read_text(encoding="utf-8")

    # the timeline: every step ran, in order, and each checked what GitHub shows
    timeline = (output / "timeline.md").read_text(encoding="utf-8")
    rows = [line for line in timeline.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == len(STEPS)
    assert all("| ok |" in row for row in rows), timeline
    assert "issue #1 by crashbot-uploader" in timeline
    assert re.search(
        r"PR #2 from crashfix/[0-9a-f]+ by crashbot\[bot\]: src/server/game/Handlers/ChatHandler\.cpp",
        timeline,
    )
    assert "PR #2 merged; issue #1 closed by 'Fixes #1'" in timeline
    assert re.search(
        r"deployment \d+: success; issue #1: 'Deployed in [0-9a-f]{12} to demo' \+ fix-deployed", timeline
    )
    assert "'whisper Nobody hi' → 'Player Nobody is not online.'" in timeline
    assert "stop: soap, not forced" in timeline
    # the dashboard, and the fix verified with time compressed, per hour of uptime (the realm's ledger):
    # 24 crashes in 32 h of uptime, none in the 8 h the fixed build ran since (e^-6)
    assert "dashboard #3 (edited); #1 fix-verified" in timeline
    assert "24 crashes in 32 hours of uptime before, 0 in 8 h since: P(0) = 0.25%" in timeline
    dashboard = (output / "dashboard.md").read_text(encoding="utf-8")
    assert "| **verified** ([PR #2](" in dashboard and "```mermaid" in dashboard

    # what GitHub shows at the end
    assert re.search(r"issue #1 +crash: ChatHandler::SendWhisper \(SIGSEGV\) +\[closed\]", printed.out)
    assert re.search(r"PR #2 .*\[merged\]", printed.out)
    assert re.search(r"deployment \d+ +[0-9a-f]{12} to demo: success", printed.out)
    assert "fix-deployed" in printed.out and "crash-fix-attempted" in printed.out

    page = (output / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "crashbot:payload" not in page
    assert "default-src 'none'" in page

    # nothing is left running: the server was stopped, the stand-in closed
    assert (
        ProcessControl(releases=Releases(workdir / "realm"), executable="worldserver", env=os.environ).pid()
        is None
    )
    api = re.search(r"GitHub \(stand-in\): (http://[^\s/]+)", printed.out)
    assert api is not None
    address = urllib.parse.urlsplit(api.group(1))
    with pytest.raises(OSError), socket.create_connection((address.hostname, address.port), timeout=2):
        pass


# ---------------------------------------------------------------------------------------------------
# a step that fails stops the run and says why


def test_run_demo_command_cannot_start_stops_at_that_step_and_says_why(tmp_path: Path) -> None:
    progress = Progress()
    options = DemoOptions(
        output_dir=tmp_path / "out",
        workdir=tmp_path / "work",
        python=str(tmp_path / "no-such-python"),
        capture=CrashCapture.GDB,
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "issue.md").write_text("an earlier run's issue", encoding="utf-8")

    report = run_demo(options, progress)

    assert not report.ok
    assert [r.name for r in report.steps] == ["github", "repo", "deploy-v1"]
    assert [r.ok for r in report.steps] == [True, True, False]
    assert progress.names == ["github", "repo", "deploy-v1"]
    assert report.failed is not None and report.failed.name == "deploy-v1"
    assert "cannot run" in report.failed.detail and "no-such-python" in report.failed.detail
    timeline = (tmp_path / "out" / "timeline.md").read_text(encoding="utf-8")
    assert "| 3 | Deploy v1" in timeline and "**failed**" in timeline
    assert not (tmp_path / "out" / "issue.md").exists()  # no stale body that looks like this run's
    assert (tmp_path / "work").is_dir()  # kept for a look
    # the stand-in served the repository the repo step pushed, and is closed now
    assert report.github is not None and report.github.issue is None


def test_demo_cli_workdir_not_empty_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "precious.txt").write_text("keep me", encoding="utf-8")

    code = main(["demo", "--output", str(tmp_path / "out"), "--workdir", str(tmp_path / "work")])

    assert code == 2
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "work" / "precious.txt").read_text(encoding="utf-8") == "keep me"


def test_run_demo_workdir_not_empty_raises_usage_error(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "x").write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="not empty"):
        run_demo(DemoOptions(output_dir=tmp_path / "out", workdir=tmp_path / "work"), Progress())


# ---------------------------------------------------------------------------------------------------
# which crash capture


@pytest.mark.parametrize(
    ("platform", "capture"), [("win32", CrashCapture.RECORDED), ("linux", CrashCapture.GDB)]
)
def test_default_capture_only_windows_uses_the_recording(platform: str, capture: CrashCapture) -> None:
    assert default_capture(platform) is capture


# ---------------------------------------------------------------------------------------------------
# the config the demo commits


def test_render_config_is_a_valid_crashbot_toml_for_the_whole_loop(tmp_path: Path) -> None:
    text = render_config(
        api_url="http://127.0.0.1:1234/api/v3",
        install_dir=tmp_path / "realm",
        crashes_dir=tmp_path / "realm" / "Crashes",
        spool=tmp_path / "host" / "spool.sqlite3",
        build_dir=tmp_path / "build",
        replay_patch=demo_server.FIX_PATCH,
        soap_port=4321,
        jobs=3,
    )

    config = config_mod.from_mapping(tomllib.loads(text))

    assert config.github.api_url == "http://127.0.0.1:1234/api/v3"
    assert config.github.uploader_login == "crashbot-uploader"
    assert config.fix.engine == "replay" and Path(config.fix.replay_patch) == demo_server.FIX_PATCH
    assert Path(config.fix.build_dir) == tmp_path / "build"
    assert config.fix.build_command[-2:] == ("--parallel", "3")
    assert config.deploy.backend == "process" and config.deploy.soap.port == 4321
    assert Path(config.deploy.install_dir) == tmp_path / "realm"
    assert config.uploader.crash_dirs == (str(tmp_path / "realm" / "Crashes"),)


def test_render_config_with_a_symbol_store_turns_the_store_on(tmp_path: Path) -> None:
    """--windows: the uploader resolves the Windows crash's frames from the store deploys fill."""
    text = render_config(
        api_url="http://127.0.0.1:1234/api/v3",
        install_dir=tmp_path / "realm",
        crashes_dir=tmp_path / "realm" / "Crashes",
        spool=tmp_path / "host" / "spool.sqlite3",
        build_dir=tmp_path / "build",
        replay_patch=demo_server.FIX_PATCH,
        soap_port=4321,
        jobs=3,
        symbols_store=tmp_path / "symbols",
    )

    assert Path(config_mod.from_mapping(tomllib.loads(text)).symbols.store) == tmp_path / "symbols"


# ---------------------------------------------------------------------------------------------------
# --windows without Wine or the toolchain


def test_demo_windows_without_the_toolchain_is_one_line_before_any_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no clang++, ld.lld, MinGW g++, llvm-symbolizer, cmake

    code = main(["demo", "--windows", "--output", str(tmp_path / "out"), "--workdir", str(tmp_path / "w")])

    err = capsys.readouterr().err
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("crashbot: error:"), err
    assert "clang++" in lines[0] and "x86_64-w64-mingw32-g++-posix" in lines[0]
    assert "runner-setup/dev-setup.sh" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "out" / "timeline.md").exists()  # refused before the first step


def test_demo_windows_goes_with_no_other_crash_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--windows", "--crash-report", "gdb", "--output", str(tmp_path / "out")])

    assert code == 2
    assert "--windows crashes under Wine" in capsys.readouterr().err


def test_patched_files_reads_the_new_side_of_each_file() -> None:
    diff = "--- a/src/a.cpp\n+++ b/src/a.cpp\n@@ -1 +1 @@\n-x\n+y\n--- a/src/gone.cpp\n+++ /dev/null\n"
    assert patched_files(diff) == ["src/a.cpp"]


def test_windows_prefix_is_wineprefix_when_set_else_crashbots_own_in_the_cache(tmp_path: Path) -> None:
    from bot.demo.windows import wine_prefix

    assert wine_prefix({"WINEPREFIX": str(tmp_path / "p")}) == tmp_path / "p"
    assert wine_prefix({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "crashbot-wine" / "demo-prefix"
