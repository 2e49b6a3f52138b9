"""Real git for the tests: the one helper that runs it, as a fixed person, failing with git's own words."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

DEV = "Dev One <dev1@example.invalid>"


def identity(person: str) -> dict[str, str]:
    """``Name <email>`` as git's author and committer variables."""
    name, _, email = person.removesuffix(">").partition(" <")
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def git(
    cwd: Path,
    *args: str,
    author: str = DEV,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> str:
    """Run ``git args`` in ``cwd`` as ``author`` (author and committer: the variables outrank any config),
    unsigned, ``main`` for a new repository's branch; return its output without surrounding whitespace.

    A failure fails the test with the command and git's stderr. ``env`` adds to (and overrides) the
    environment; ``stdin`` is fed to git.
    """
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env={**os.environ, **identity(author), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd} (exit {done.returncode}): {done.stderr}")
    return done.stdout.strip()
