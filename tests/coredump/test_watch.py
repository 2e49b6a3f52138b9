"""``crashbot watch`` picks up Linux core files: a real core dropped into a watched folder becomes an issue,
and the core is deleted by policy so the disk never fills."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import CoreWatching, RedactionSettings, UploaderSettings
from bot.coredump.pattern import SYSTEMD_COREDUMP_DIR, parse_core_pattern
from bot.coredump.report import CoreSettings
from bot.issue import read_payload
from bot.standin import StandIn
from bot.uploader.cores import CoreFolder, CorePolicy, CoreTaker, core_folders, coredumpctl_dump_command
from bot.uploader.intake import Intake, Outcome
from bot.uploader.spool import Spool
from tests.coredump.conftest import Dumped, needs_tools
from tests.uploader.rig import KEY, REPO, watching


def wait_for(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@needs_tools
def test_watch_files_a_real_core_and_deletes_it_by_policy(
    standin: StandIn, tmp_path: Path, dumped: Dumped
) -> None:
    cores = tmp_path / "cores"
    cores.mkdir()
    config = tmp_path / "crashbot.toml"
    config.write_text(
        "[uploader]\nedit_interval_s = 0.0\nstability_s = 0.1\nbackoff_base_s = 0.05\n"
        f"core_dirs = [{str(cores)!r}]\ncore_keep = 0\n".replace("'", '"'),
        encoding="utf-8",
    )
    crashes = tmp_path / "Crashes"
    args = [str(crashes), "--repo", REPO, "--api-url", standin.api_url, "--spool", str(tmp_path / "s.db")]
    issues = lambda: [i for i in standin.issues(REPO) if "pull_request" not in i]  # noqa: E731
    with watching(args, config, stop_timeout_s=20):
        partial = cores / ".core.worldserver.tmp"
        shutil.copy2(dumped.core, partial)
        partial.rename(cores / "core.worldserver.4242")  # as a core lands: complete, under its final name
        assert wait_for(lambda: len(issues()) == 1), "the core was not filed"
        assert wait_for(lambda: not (cores / "core.worldserver.4242").exists()), "core_keep = 0 kept the core"
    (issue,) = issues()
    assert issue["title"] == "crash: PlayerLevel (SIGSEGV)"
    assert read_payload(issue["body"], KEY).signature.frames == ("PlayerLevel", "main")


@needs_tools
def test_core_taker_keeps_the_newest_read_cores_and_deletes_older_ones(
    tmp_path: Path, dumped: Dumped
) -> None:
    folder = CoreFolder(tmp_path / "cores")
    folder.path.mkdir()
    paths = []
    for n in range(3):
        path = folder.path / f"core.worldserver.{n}"
        shutil.copy2(dumped.core, path)
        paths.append(path)
    with Spool(tmp_path / "s.db") as spool:
        taker = CoreTaker(
            Intake(spool, redaction=RedactionSettings(), max_bytes=10**8),
            settings=CoreSettings(),
            policy=CorePolicy(keep=1, min_free_bytes=0),
        )
        outcomes = [taker.take(p, folder) for p in paths]
    assert [o.outcome if o else None for o in outcomes] == [Outcome.SPOOLED, Outcome.KNOWN, Outcome.KNOWN]
    assert [p.exists() for p in paths] == [False, False, True]


@needs_tools
def test_core_taker_low_disk_deletes_even_the_core_it_would_keep(tmp_path: Path, dumped: Dumped) -> None:
    folder = CoreFolder(tmp_path)
    core = tmp_path / "core.worldserver.1"
    shutil.copy2(dumped.core, core)
    with Spool(tmp_path / "s.db") as spool:
        taker = CoreTaker(
            Intake(spool, redaction=RedactionSettings(), max_bytes=10**8),
            settings=CoreSettings(),
            policy=CorePolicy(keep=5, min_free_bytes=1024**3),
            free_bytes=lambda _: 10 * 1024**2,  # 10 MB free
        )
        result = taker.take(core, folder)
    assert result is not None and result.outcome is Outcome.SPOOLED
    assert not core.exists()


def test_core_taker_leaves_files_that_are_no_core_alone(tmp_path: Path) -> None:
    stray = tmp_path / "core.txt"
    stray.write_text("not a core", encoding="utf-8")
    with Spool(tmp_path / "s.db") as spool:
        taker = CoreTaker(
            Intake(spool, redaction=RedactionSettings(), max_bytes=10**6),
            settings=CoreSettings(),
            policy=CorePolicy(keep=0),
        )
        assert taker.take(stray, CoreFolder(tmp_path)) is None
    assert stray.exists()


@pytest.mark.parametrize(
    ("pattern", "tools", "expected"),
    [
        ("/var/crash/core.%e.%p.%t", {}, [CoreFolder(Path("/var/crash"), "core.*.*.*")]),
        ("core", {}, []),
        ("|/usr/share/apport/apport -p%p", {}, []),
        (
            "|/lib/systemd/systemd-coredump %P %u",
            {"coredumpctl": "/usr/bin/coredumpctl"},
            [CoreFolder(SYSTEMD_COREDUMP_DIR, "core.*", systemd=True)],
        ),
        ("|/lib/systemd/systemd-coredump %P %u", {}, []),
    ],
)
def test_core_folders_follow_core_pattern(
    pattern: str, tools: dict[str, str], expected: list[CoreFolder]
) -> None:
    assert core_folders(UploaderSettings(), parse_core_pattern(pattern), which=tools.get) == expected


def test_core_folders_off_watches_nothing_and_core_dirs_add_folders() -> None:
    pattern = parse_core_pattern("/var/crash/core.%e")
    assert core_folders(UploaderSettings(cores=CoreWatching.OFF, core_dirs=("/srv",)), pattern) == []
    folders = core_folders(UploaderSettings(core_dirs=("/srv/wow/bin",)), parse_core_pattern("core"))
    assert folders == [CoreFolder(Path("/srv/wow/bin"), "core*")]


def test_coredumpctl_dump_command_extracts_the_one_stored_core() -> None:
    stored = (
        SYSTEMD_COREDUMP_DIR
        / "core.worldserver.1000.5f1e0c6f2f6b4a7d9c1e8f0a1b2c3d4e.4242.1700000000000000.zst"
    )
    assert coredumpctl_dump_command("/usr/bin/coredumpctl", stored, Path("/tmp/x/core")) == [
        "/usr/bin/coredumpctl",
        "--no-pager",
        "dump",
        f"COREDUMP_FILENAME={stored}",
        "--output=/tmp/x/core",
    ]


@needs_tools
def test_core_taker_reads_a_systemd_core_through_coredumpctl(tmp_path: Path, dumped: Dumped) -> None:
    """A stand-in coredumpctl that writes the real core where ``--output`` says, as the real one does."""
    fake = tmp_path / "coredumpctl"
    fake.write_text(
        f'#!/bin/sh\nfor a in "$@"; do case "$a" in --output=*) cp {dumped.core} "${{a#--output=}}";; esac; done\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    stored = tmp_path / "core.worldserver.1000.5f1e0c6f2f6b4a7d9c1e8f0a1b2c3d4e.4242.1700000000000000.zst"
    stored.write_bytes(b"compressed")
    with Spool(tmp_path / "s.db") as spool:
        taker = CoreTaker(
            Intake(spool, redaction=RedactionSettings(), max_bytes=10**8),
            settings=CoreSettings(),
            policy=CorePolicy(keep=0),
            coredumpctl=str(fake),
        )
        result = taker.take(stored, CoreFolder(tmp_path, "core.*", systemd=True))
        assert result is not None and result.outcome is Outcome.SPOOLED
        (report,) = spool.reports()
    assert "PlayerLevel" in report.text
    assert stored.exists()  # systemd-coredump's own store is never pruned by crashbot
