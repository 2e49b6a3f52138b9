"""Fixtures for the fix pipeline: a real git repository in tmp_path holding a small C++ server tree."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.git import Git
from tests.fix.e2e_world import checkout, stage  # noqa: F401 (the end-to-end stage, as fixtures)
from tests.gitutil import git

CommitFn = Callable[..., str]


def make_repo(path: Path) -> Git:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Dev One")
    git(path, "config", "user.email", "dev1@example.invalid")
    git(path, "config", "commit.gpgsign", "false")
    return Git(path, env=os.environ)


def commit_files(
    repo: Path,
    files: dict[str, str],
    message: str,
    *,
    author: str = "Dev One <dev1@example.invalid>",
    when: int = 1_700_000_000,
) -> str:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, f"--author={author}", f"--date={when} +0000")
    return git(repo, "rev-parse", "HEAD")


def commit_files_dated(repo: Path, files: dict[str, str], when: int) -> None:
    """A commit whose author and committer dates are both ``when`` (for tests where how old a change is
    counts: the recent-history ranking reads the committer date)."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(
        repo,
        "commit",
        "-q",
        "-m",
        "change",
        env={"GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"},
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Git:
    return make_repo(tmp_path / "checkout")


@pytest.fixture
def commit(git_repo: Git) -> CommitFn:
    def _commit(files: dict[str, str], message: str = "change", **kw: object) -> str:
        return commit_files(git_repo.repo, files, message, **kw)  # type: ignore[arg-type]

    return _commit
