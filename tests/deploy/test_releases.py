"""Release directories, the atomic ``current`` switch, previous/rollback choice, pruning, deployed.json."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.deploy.errors import ReleaseError
from bot.deploy.releases import Releases, read_record, rename_switch
from tests.deploy.conftest import must

SHA1, SHA2, SHA3, SHA4 = "1" * 40, "2" * 40, "3" * 40, "4" * 40
posix_links = pytest.mark.skipif(os.name == "nt", reason="symlinks need a privilege on Windows")


class Ticking:
    """A UTC clock advancing one minute per call, so release names are distinct and ordered."""

    def __init__(self) -> None:
        self.t = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


@pytest.fixture
def build(tmp_path: Path) -> Path:
    out = tmp_path / "build" / "bin"
    (out / "lua_scripts").mkdir(parents=True)
    (out / "worldserver").write_text("exe")
    (out / "libmysql.dll").write_text("dll")
    (out / "worldserver.pdb").write_text("pdb")
    (out / "lua_scripts" / "a.lua").write_text("lua")
    (out / "CMakeCache.txt").write_text("not an artifact")
    return out


@pytest.fixture
def releases(tmp_path: Path) -> Releases:
    install = tmp_path / "install"
    install.mkdir()
    (install / "worldserver.conf").write_text("config")
    return Releases(install, now=Ticking())


PATTERNS = ("worldserver", "worldserver.exe", "*.dll", "*.pdb", "lua_scripts")


def test_create_copies_only_artifact_patterns_into_a_named_release(releases: Releases, build: Path) -> None:
    release = releases.create(SHA1, build, PATTERNS, executable="worldserver")
    assert release.name == "20250301T120100Z-111111111111"
    names = sorted(p.relative_to(release.path).as_posix() for p in release.path.rglob("*"))
    assert names == [
        "libmysql.dll",
        "lua_scripts",
        "lua_scripts/a.lua",
        "release.json",
        "worldserver",
        "worldserver.pdb",
    ]
    assert json.loads((release.path / "release.json").read_text())["sha"] == SHA1
    assert releases.all() == [release]
    assert release.sha == SHA1


def test_create_without_the_executable_fails_and_leaves_nothing_behind(
    releases: Releases, build: Path
) -> None:
    (build / "worldserver").unlink()
    with pytest.raises(ReleaseError, match="no executable 'worldserver'"):
        releases.create(SHA1, build, PATTERNS, executable="worldserver")
    assert list(releases.root.iterdir()) == []


@pytest.mark.parametrize("pattern", ["../secrets/*", "/etc/passwd", " "])
def test_create_rejects_patterns_outside_the_build_output(
    releases: Releases, build: Path, pattern: str
) -> None:
    with pytest.raises(ReleaseError, match="must be relative"):
        releases.create(SHA1, build, (pattern,), executable="worldserver")


def test_create_rejects_a_non_sha(releases: Releases, build: Path) -> None:
    with pytest.raises(ReleaseError, match="not a hex sha"):
        releases.create("main; rm -rf /", build, PATTERNS, executable="worldserver")


def test_create_same_second_twice_gets_distinct_names(tmp_path: Path, build: Path) -> None:
    fixed = datetime(2025, 3, 1, tzinfo=UTC)
    releases = Releases(tmp_path / "i", now=lambda: fixed)
    a = releases.create(SHA1, build, PATTERNS, executable="worldserver")
    b = releases.create(SHA1, build, PATTERNS, executable="worldserver")
    assert b.name == a.name + "-2"
    assert releases.all() == [a, b]


def test_releases_made_within_one_second_are_ordered_by_when_they_were_made(
    tmp_path: Path, build: Path
) -> None:
    # the name's second ties and the later commit's short sha sorts first: the creation time decides
    times = iter(datetime(2025, 3, 1, 0, 0, 0, ms * 1000, tzinfo=UTC) for ms in range(100, 1000, 100))
    releases = Releases(tmp_path / "i", now=lambda: next(times))
    made = [releases.create(s, build, PATTERNS, executable="worldserver") for s in (SHA4, SHA3, SHA2, SHA1)]

    assert releases.all() == made
    assert releases.prune(keep=2) == made[:2]


@posix_links
def test_activate_points_current_at_the_release_and_records_it(releases: Releases, build: Path) -> None:
    release = releases.create(SHA1, build, PATTERNS, executable="worldserver")
    assert releases.live() is None
    releases.activate(release, realm="eu-1")
    assert releases.live() == release
    assert os.readlink(releases.link) == f"releases/{release.name}"  # relative: the install dir can move
    assert (releases.link / "worldserver").read_text() == "exe"
    record = must(read_record(releases.install_dir))
    assert (record.release, record.sha, record.realm, record.action) == (release.name, SHA1, "eu-1", "deploy")
    assert (releases.install_dir / "worldserver.conf").read_text() == "config"


@posix_links
def test_activate_replaces_the_link_without_leaving_temporaries(releases: Releases, build: Path) -> None:
    one = releases.create(SHA1, build, PATTERNS, executable="worldserver")
    two = releases.create(SHA2, build, PATTERNS, executable="worldserver")
    releases.activate(one)
    releases.activate(two)
    assert releases.live() == two
    assert sorted(p.name for p in releases.install_dir.iterdir()) == [
        "current",
        "deployed.json",
        "releases",
        "worldserver.conf",
    ]


@posix_links
def test_previous_is_the_last_release_live_before_the_live_one(releases: Releases, build: Path) -> None:
    one, two, three = (
        releases.create(s, build, PATTERNS, executable="worldserver") for s in (SHA1, SHA2, SHA3)
    )
    releases.activate(one)
    assert releases.previous() is None
    releases.activate(two)
    releases.activate(three)
    assert releases.previous() == two


@posix_links
def test_previous_after_a_rollback_never_returns_the_failed_release(releases: Releases, build: Path) -> None:
    one, two = (releases.create(s, build, PATTERNS, executable="worldserver") for s in (SHA1, SHA2))
    releases.activate(one)
    releases.activate(two)
    releases.mark_failed(two, "exited with code 1")
    releases.activate(one, action="rollback")
    assert releases.live() == one
    assert releases.previous() is None  # the only other release failed
    assert must(releases.get(two.name)).failed


@posix_links
def test_prune_keeps_newest_plus_live_and_previous(releases: Releases, build: Path) -> None:
    made = [releases.create(s, build, PATTERNS, executable="worldserver") for s in (SHA1, SHA2, SHA3, SHA4)]
    releases.activate(made[0])
    releases.activate(made[1])  # live = 2nd oldest, previous = oldest
    (releases.root / ".tmp-interrupted").mkdir()

    removed = releases.prune(keep=1)

    assert removed == [made[2]]
    assert [r.name for r in releases.all()] == [made[0].name, made[1].name, made[3].name]
    assert not (releases.root / ".tmp-interrupted").exists()
    assert (releases.install_dir / "worldserver.conf").read_text() == "config"


def test_prune_keep_zero_is_refused(releases: Releases) -> None:
    with pytest.raises(ReleaseError, match=">= 1"):
        releases.prune(keep=0)


@posix_links
def test_live_with_a_foreign_current_directory_says_what_to_do(releases: Releases) -> None:
    releases.link.mkdir()
    with pytest.raises(ReleaseError, match="not a link crashbot made"):
        releases.live()


@posix_links
def test_rename_switch_used_for_windows_junctions_swaps_and_cleans_up(tmp_path: Path) -> None:
    """Windows cannot os.replace over a directory link; the two-rename switch is exercised with symlinks."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    switch = rename_switch(lambda link, target: os.symlink(target, link), os.unlink)
    link = tmp_path / "current"
    switch(link, a)
    switch(link, b)
    assert Path(os.readlink(link)) == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "current"]


def test_read_record_of_a_fresh_install_is_none(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None
    (tmp_path / "deployed.json").write_text("{not json")
    assert read_record(tmp_path) is None
