"""Release directories under the install dir, the ``current`` switch, pruning and ``deployed.json``.

Layout (configs and data stay where they are; only these names are crashbot's)::

    <install_dir>/
        releases/20250101T120000Z-2c3d3c31b22c/   one per deployed build: the collected artifacts
        current -> releases/<live release>          POSIX: a symlink; Windows: a directory junction
        current.txt                                 Windows fallback when a junction cannot be made
        deployed.json                               what is live, and the activation history

The switch: on POSIX a new symlink is made under a temporary name and ``os.replace``d over ``current``,
which is atomic. Windows cannot ``os.replace`` over a directory, so a new junction (``mklink /J``,
which needs no admin right, unlike a symlink) is made under a temporary name, the old one renamed
away, the new one renamed in, and the old one removed: two renames, done while the server is
stopped. Where a junction cannot be made (not NTFS), ``current.txt`` names the live release and only
the process backend can follow it; services must then point at a fixed path instead. A Windows
service or systemd unit should run ``<install_dir>/current/worldserver[.exe]`` with the install dir
as working directory, so every activation changes what the next start runs and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath

from bot.deploy.errors import ReleaseError
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

RELEASES_DIR = "releases"
CURRENT_LINK = "current"
POINTER_FILE = "current.txt"
RECORD_FILE = "deployed.json"
RELEASE_INFO = "release.json"  # inside each release: full sha, creation time, collected files
FAILED_MARKER = ".crashbot-failed"  # inside a release that failed its health check
HISTORY_LIMIT = 50
SHORT_SHA = 12
NAME_RE = re.compile(r"^(?P<time>\d{8}T\d{6}Z)-(?P<sha>[0-9a-f]{7,40})(?:-(?P<n>\d+))?$")
SHA_RE = re.compile(r"^[0-9a-fA-F]{7,64}$")

Switcher = Callable[[Path, Path], None]  # (link path, target release dir) -> None


@dataclass(frozen=True)
class Release:
    """One release directory."""

    name: str
    path: Path
    sha: str
    created_at: str  # ISO 8601 UTC

    @classmethod
    def from_path(cls, path: Path) -> Release | None:
        """The release at ``path``, or None if it is not a complete release directory."""
        match = NAME_RE.match(path.name)
        if not match or not path.is_dir():
            return None
        sha = match["sha"]
        created = datetime.strptime(match["time"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
        try:
            info = json.loads((path / RELEASE_INFO).read_text(encoding="utf-8"))
            sha = str(info.get("sha") or sha)
            created = str(info.get("created_at") or created)
        except (OSError, ValueError, AttributeError):
            logger.debug("release %s has no readable %s", path, RELEASE_INFO)
        return cls(path.name, path, sha, created)

    @property
    def failed(self) -> bool:
        return (self.path / FAILED_MARKER).exists()

    def executable(self, name: str) -> Path:
        """The server executable inside this release (``name`` or, on Windows, ``name.exe``)."""
        candidates = [self.path / name]
        if os.name == "nt" and not name.lower().endswith(".exe"):
            candidates.append(self.path / f"{name}.exe")
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise ReleaseError(
            f"release {self.name} has no executable {name!r}; check deploy.executable and deploy.artifacts"
        )


@dataclass(frozen=True)
class DeployRecord:
    """One activation, as ``deployed.json`` keeps it (the uploader reads it to date a crash's build)."""

    release: str
    sha: str
    activated_at: str
    realm: str = ""
    action: str = "deploy"  # deploy | rollback

    @classmethod
    def from_json(cls, data: object) -> DeployRecord | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                release=str(data["release"]),
                sha=str(data["sha"]),
                activated_at=str(data["activated_at"]),
                realm=str(data.get("realm", "")),
                action=str(data.get("action", "deploy")),
            )
        except KeyError:
            return None


def read_record(install_dir: Path) -> DeployRecord | None:
    """What ``deployed.json`` in ``install_dir`` says is live (None if nothing was ever deployed)."""
    live, _history = _read_records(install_dir / RECORD_FILE)
    return live


def _read_records(path: Path) -> tuple[DeployRecord | None, list[DeployRecord]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, []
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable %s: %s", path, e)
        return None, []
    if not isinstance(data, dict):
        return None, []
    history = [r for r in (DeployRecord.from_json(x) for x in data.get("history", [])) if r is not None]
    return DeployRecord.from_json(data.get("live")), history


def _utcnow() -> datetime:
    return datetime.now(UTC)


def install_dir(configured: str) -> Path:
    """``deploy.install_dir`` as an existing directory; ConfigError (one line, with the fix) otherwise."""
    if not configured:
        raise ConfigError(
            "deploy.install_dir is empty: set it in crashbot.toml to the directory holding worldserver.conf, "
            "where crashbot keeps releases/ and the current link"
        )
    path = Path(configured).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"deploy.install_dir {str(path)!r} is not a directory; set it to the folder holding "
            "worldserver.conf"
        )
    if not path.is_dir():
        raise ConfigError(f"deploy.install_dir {str(path)!r} does not exist; create it or fix the path")
    return path


class Releases:
    """The release directories of one install dir."""

    def __init__(
        self, install_dir: Path, *, now: Callable[[], datetime] = _utcnow, switcher: Switcher | None = None
    ) -> None:
        self.install_dir = Path(install_dir)
        self.root = self.install_dir / RELEASES_DIR
        self.link = self.install_dir / CURRENT_LINK
        self.pointer = self.install_dir / POINTER_FILE
        self.record_path = self.install_dir / RECORD_FILE
        self._now = now
        self._switcher = switcher or (junction_switch if os.name == "nt" else symlink_switch)

    def all(self) -> list[Release]:
        """Every complete release, oldest first."""
        if not self.root.is_dir():
            return []
        found = (Release.from_path(p) for p in self.root.iterdir() if not p.name.startswith("."))
        return sorted((r for r in found if r is not None), key=_sort_key)

    def get(self, name: str) -> Release | None:
        return Release.from_path(self.root / name) if name and PurePath(name).name == name else None

    def create(self, sha: str, source_dir: Path, patterns: Sequence[str], *, executable: str) -> Release:
        """Copy the artifacts matching ``patterns`` (relative to ``source_dir``) into a new release."""
        if not SHA_RE.match(sha):
            raise ReleaseError(f"commit {sha!r} is not a hex sha; pass the merged commit's full sha")
        if not source_dir.is_dir():
            raise ReleaseError(f"build output {source_dir} does not exist; did the build succeed?")
        name = self._new_name(sha)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            copied = _collect(source_dir, patterns, staging)
            info = {"sha": sha.lower(), "created_at": self._now().isoformat(), "files": copied}
            (staging / RELEASE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            release = Release(name, staging, sha.lower(), str(info["created_at"]))
            release.executable(executable)  # refuse a release the server cannot start from
            staging.rename(self.root / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("release %s: %d files from %s", name, len(copied), source_dir)
        return Release(name, self.root / name, sha.lower(), str(info["created_at"]))

    def _new_name(self, sha: str) -> str:
        base = f"{self._now().strftime('%Y%m%dT%H%M%SZ')}-{sha.lower()[:SHORT_SHA]}"
        name, n = base, 1
        while (self.root / name).exists():
            n += 1
            name = f"{base}-{n}"
        return name

    def live(self) -> Release | None:
        """The release ``current`` points at (or ``current.txt`` names)."""
        name = self._linked_name()
        if name is None:
            return None
        release = self.get(name)
        if release is None:
            logger.warning("%s points at %r, which is not a release under %s", self.link, name, self.root)
        return release

    def _linked_name(self) -> str | None:
        if os.path.lexists(self.link):
            try:
                return Path(os.readlink(self.link)).name
            except OSError as e:
                raise ReleaseError(
                    f"{self.link} exists but is not a link crashbot made ({e}); move it away and redeploy"
                ) from e
        try:
            return self.pointer.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def history(self) -> list[DeployRecord]:
        """Activations, oldest first (bounded to the last ``HISTORY_LIMIT``)."""
        return _read_records(self.record_path)[1]

    def previous(self) -> Release | None:
        """The release to roll back to: the last one live before the live one, not marked failed."""
        live = self.live()
        for record in reversed(self.history()):
            if live is not None and record.release == live.name:
                continue
            release = self.get(record.release)
            if release is not None and not release.failed:
                return release
        return None

    def activate(self, release: Release, *, realm: str = "", action: str = "deploy") -> None:
        """Make ``release`` the one the next start runs, and record it in ``deployed.json``."""
        if Release.from_path(release.path) is None or release.path.parent != self.root:
            raise ReleaseError(f"{release.path} is not a release under {self.root}; cannot activate it")
        try:
            self._switcher(self.link, release.path)
            self.pointer.unlink(missing_ok=True)
        except (OSError, subprocess.SubprocessError) as e:
            if os.name != "nt":
                raise ReleaseError(f"cannot point {self.link} at {release.path}: {e}") from e
            logger.warning("no junction for %s (%s); writing %s instead", self.link, e, self.pointer)
            _write_atomic(self.pointer, release.name + "\n")
        (release.path / FAILED_MARKER).unlink(missing_ok=True)
        record = DeployRecord(release.name, release.sha, self._now().isoformat(), realm, action)
        _live, history = _read_records(self.record_path)
        history = [*history, record][-HISTORY_LIMIT:]
        payload = {"live": asdict(record), "history": [asdict(r) for r in history]}
        _write_atomic(self.record_path, json.dumps(payload, indent=2) + "\n")
        logger.info("activated release %s (%s)", release.name, action)

    def mark_failed(self, release: Release, reason: str) -> None:
        """Remember that ``release`` failed, so ``previous()`` never rolls back to it."""
        (release.path / FAILED_MARKER).write_text(reason.strip() + "\n", encoding="utf-8")

    def prune(self, keep: int) -> list[Release]:
        """Delete all but the ``keep`` newest releases, never the live or the previous one."""
        if keep < 1:
            raise ReleaseError(f"deploy.keep_releases must be >= 1, got {keep}")
        releases = self.all()
        protected = {r.name for r in releases[-keep:]}
        protected |= {r.name for r in (self.live(), self.previous()) if r is not None}
        removed = []
        for release in releases:
            if release.name in protected:
                continue
            try:
                shutil.rmtree(release.path)
            except OSError as e:  # e.g. an exe still running from it on Windows
                logger.warning("could not remove old release %s: %s", release.path, e)
                continue
            removed.append(release)
        for stale in self.root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return removed


def _sort_key(release: Release) -> tuple[str, str, int]:
    """Oldest first: by the name's second, then by the recorded creation time, because two deploys
    within one second (of different commits) get names that tie on the second."""
    match = NAME_RE.match(release.name)
    if match is None:
        return (release.name, release.created_at, 0)
    return (match["time"], release.created_at, int(match["n"] or 1))


def _collect(source: Path, patterns: Sequence[str], dest: Path) -> list[str]:
    copied: list[str] = []
    for pattern in patterns:
        pure = PurePath(pattern)
        if pure.is_absolute() or ".." in pure.parts or not pattern.strip():
            raise ReleaseError(f"deploy.artifacts pattern {pattern!r} must be relative to the build output")
        for match in sorted(source.glob(pattern)):
            rel = match.relative_to(source)
            target = dest / rel
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                if match.is_dir():
                    shutil.copytree(match, target, symlinks=True)
                else:
                    shutil.copy2(match, target)
            except OSError as e:
                raise ReleaseError(f"cannot copy artifact {match} into the release: {e}") from e
            copied.append(rel.as_posix())
    return copied


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def symlink_switch(link: Path, target: Path) -> None:
    """POSIX: a relative symlink made under a temporary name, then atomically renamed over ``link``."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(os.path.relpath(target, link.parent), tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def rename_switch(make_link: Callable[[Path, Path], None], remove_link: Callable[[Path], None]) -> Switcher:
    """A switcher for platforms where a link cannot be replaced in one rename (Windows junctions)."""

    def switch(link: Path, target: Path) -> None:
        tmp = link.with_name(f".{link.name}.new-{uuid.uuid4().hex[:8]}")
        make_link(tmp, target)
        old = link.with_name(f".{link.name}.old-{uuid.uuid4().hex[:8]}")
        had_old = os.path.lexists(link)
        if had_old:
            os.rename(link, old)
        try:
            os.rename(tmp, link)
        except OSError:
            if had_old:
                os.rename(old, link)
            remove_link(tmp)
            raise
        if had_old:
            remove_link(old)

    return switch


def _make_junction(link: Path, target: Path) -> None:
    # cmd's builtin; junctions need no SeCreateSymbolicLinkPrivilege, so a service account can make them
    subprocess.run(
        ["cmd.exe", "/d", "/c", "mklink", "/J", str(link), str(target.resolve())],
        check=True,
        capture_output=True,
        timeout=30,
    )


junction_switch: Switcher = rename_switch(
    _make_junction, os.rmdir
)  # rmdir removes a junction, not its target
