"""Suspect commits: who last changed the lines around each faulting line (``git blame``), newest first; and
the commits that touched the stack's files shortly before the crashing build (:func:`recent_commits`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import GitError
from bot.git import Commit

if TYPE_CHECKING:
    from bot.git import BlameLine, Git

logger = logging.getLogger(__name__)

BLAME_RADIUS = 2  # lines either side of the faulting line: a bad change is often just above it
_UNCOMMITTED = "0" * 40


@dataclass(frozen=True)
class SuspectCommit:
    """A commit that last touched lines near a faulting line; ``locations`` are ``path:line`` strings."""

    sha: str
    author: str
    author_time: int
    summary: str
    locations: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.sha[:10]


def blame_around(git: Git, path: str, line: int, *, rev: str, radius: int = BLAME_RADIUS) -> list[BlameLine]:
    """Blame lines ``line - radius`` .. ``line + radius`` of ``path`` at ``rev`` (clamped to the file)."""
    start = max(1, line - radius)
    try:
        return git.blame(path, start, line + radius, rev)
    except GitError as e:
        # past the end of the file (it shrank) is common; retry with just the line itself
        if "has only" not in str(e) and "no such" not in str(e).lower():
            raise
        return git.blame(path, line, line, rev)


def suspects(blamed: Iterable[tuple[str, BlameLine]]) -> tuple[SuspectCommit, ...]:
    """One SuspectCommit per commit over all ``(path, blame line)`` pairs, most recent first."""
    by_sha: dict[str, tuple[BlameLine, list[str]]] = {}
    for path, bl in blamed:
        if bl.sha == _UNCOMMITTED or not bl.sha.strip("0"):
            continue
        entry = by_sha.setdefault(bl.sha, (bl, []))
        location = f"{path}:{bl.line_no}"
        if location not in entry[1]:
            entry[1].append(location)
    ordered = sorted(by_sha.values(), key=lambda e: (-e[0].author_time, e[0].sha))
    return tuple(
        SuspectCommit(
            sha=bl.sha,
            author=bl.author,
            author_time=bl.author_time,
            summary=bl.summary,
            locations=tuple(locations),
        )
        for bl, locations in ordered
    )


RECENT_WINDOW_DAYS = 30  # "shortly before the crash": a culprit is usually days to a few weeks old
MAX_RECENT = 8


def recent_commits(
    git: Git, paths: Sequence[str], *, until: int, rev: str = "HEAD", days: int = RECENT_WINDOW_DAYS
) -> list[Commit]:
    """Commits reachable from ``rev`` in the ``days`` before ``until`` (epoch seconds) that touched
    ``paths``, newest first. A shallow clone simply has fewer to show; errors give an empty list."""
    if not paths:
        return []
    since = until - days * 86_400
    args = [
        "log",
        "--no-color",
        "--format=%H%x00%an%x00%at%x00%s",
        f"--max-count={MAX_RECENT}",
        f"--since=@{since}",
        f"--until=@{until}",
        rev,
        "--",
        *paths,
    ]
    try:
        out = git.run(*args)
    except GitError as e:
        logger.debug("recent commits: %s", e)
        return []
    commits: list[Commit] = []
    for line in out.splitlines():
        parts = line.split("\0")
        if len(parts) == 4 and parts[2].isdigit():
            commits.append(Commit(sha=parts[0], author=parts[1], author_time=int(parts[2]), subject=parts[3]))
    return commits


def commit_time(git: Git, rev: str) -> int | None:
    """The committer time of ``rev`` (epoch seconds), None when it is not in the repository."""
    try:
        out = git.run("log", "-1", "--format=%ct", rev, "--").strip()
    except GitError:
        return None
    return int(out) if out.isdigit() else None


def recently_changed(git: Git, paths: set[str], *, days: int = 90) -> set[str]:
    """Which of ``paths`` changed in the ``days`` before HEAD's commit (one bounded ``git log``): the
    analysed checkout's own recent history, which ranks call sites and delete sites."""
    if not paths:
        return set()
    until = commit_time(git, "HEAD")
    if until is None:
        return set()
    try:
        out = git.run(
            "log",
            "--format=",
            "--name-only",
            f"--since=@{until - days * 86_400}",
            "--max-count=500",
            "HEAD",
            "--",
            *sorted(paths)[:200],
        )
    except GitError:
        return set()
    return {line.strip() for line in out.splitlines() if line.strip()} & paths
