"""Fixtures for the stand-in: a running server, a PyGithub client on it, and real git clones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from github import Auth, Github

from bot.standin import StandIn
from tests.conftest import StandInSetup, start_standin
from tests.fakes import FakeClock
from tests.gitutil import git

REPO = "acme/worldserver"
TOKEN = "ghp_uploader_token"
LOGIN = "uploader"
DEV = "Dev <dev@example.com>"  # who commits in the clones (tests/standin/test_git.py reads it back)


def make_client(api_url: str, token: str = TOKEN, **kwargs: object) -> Github:
    return Github(
        base_url=api_url,
        auth=Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def standin_setup() -> StandInSetup:
    return StandInSetup(repo=REPO, token=TOKEN, login=LOGIN, kind="User")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed(tmp_path: Path, standin_setup: StandInSetup, clock: FakeClock) -> Iterator[StandIn]:
    """The ``standin`` of this folder on ``clock``, which the test moves by hand (time windows, expiry)."""
    server = start_standin(tmp_path / "timed", dataclasses.replace(standin_setup, clock=clock))
    yield server
    server.close()


@pytest.fixture
def gh(standin: StandIn) -> Github:
    return make_client(standin.api_url)


@pytest.fixture
def http(standin: StandIn) -> Iterator[requests.Session]:
    """A raw HTTP session for asserting on the wire (headers, exact bodies) rather than PyGithub objects."""
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    yield session
    session.close()


class Clone:
    """A working clone of a stand-in repo, pushing to its bare path like a developer would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, filename: str, text: str, message: str) -> str:
        (self.path / filename).parent.mkdir(parents=True, exist_ok=True)
        (self.path / filename).write_text(text, encoding="utf-8")
        git(self.path, "add", filename)
        git(self.path, "commit", "-q", "-m", message, author=DEV)
        return git(self.path, "rev-parse", "HEAD")

    def checkout(self, branch: str, *, new: bool = False, start: str | None = None) -> None:
        args = ["checkout", "-q"] + (["-b", branch] if new else [branch])
        if start is not None:
            args.append(start)
        git(self.path, *args)

    def push(self, *refspecs: str, force: bool = False) -> None:
        git(self.path, "push", "-q", *(["--force"] if force else []), "origin", *refspecs)

    def fetch(self) -> None:
        git(self.path, "fetch", "-q", "origin")


def commit_in_bare(
    bare: Path, branch: str, filename: str, text: str, message: str, *, start: str = "main"
) -> str:
    """Commit one file onto ``start`` straight into the bare repo (plumbing, no clone): the fast path for
    fixtures that only need some branch with some commit on it."""
    index = bare / f"index-{branch.replace('/', '-')}"
    env_index = {"GIT_INDEX_FILE": str(index)}

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        return git(bare, *args, author=DEV, env=env, stdin=stdin)

    parent = run("rev-parse", f"refs/heads/{start}")
    blob = run("hash-object", "-w", "--stdin", stdin=text)
    run("read-tree", parent, env=env_index)
    run("update-index", "--add", "--cacheinfo", f"100644,{blob},{filename}", env=env_index)
    tree = run("write-tree", env=env_index)
    index.unlink()
    sha = run("commit-tree", tree, "-p", parent, stdin=message)
    run("update-ref", f"refs/heads/{branch}", sha)
    return sha


@pytest.fixture
def clone(standin: StandIn, tmp_path: Path) -> Clone:
    bare = standin.repo_path(REPO)
    target = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(target))
    return Clone(target)
