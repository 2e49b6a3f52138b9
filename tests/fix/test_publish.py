"""Publishing a fix: the branch is read into a value, and the push insists on exactly what was read, so a
person's push that lands in between is never overwritten. Real git, a bare remote, the GitHub stand-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ConfigError, GitError
from bot.fix.publish import BranchState, IssueWriter, fresh_clone, push_branch, read_branch, trusted_remote
from bot.fix.report import FixResult, Outcome
from bot.git import Git
from bot.vocabulary import FIX_RESULT, trailer
from tests.fix.pipeline_world import CHAT_CPP, FIXER, SIG, World, make_world, sig_branch
from tests.gitutil import git

BOT = "crashbot-fixer[bot] <fixer@bots.invalid>"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


def _commit_fix(world: World, text: str = "// guarded\n") -> Git:
    """The fix run's local commit on the fix branch (carrying crashbot's trailer)."""
    repo = Git(world.workspace, env=os.environ)
    repo.branch(sig_branch())
    path = world.workspace / CHAT_CPP
    path.write_text(path.read_text() + text)
    repo.commit_all(f"Fix crash\n\n{trailer(SIG)}\n", BOT)
    return repo


def _read(world: World) -> BranchState:
    return read_branch(world.fixer, sig_branch(), base_branch="main", signature_id=SIG)


def _remote_sha(world: World) -> str:
    return git(world.remote, "rev-parse", f"refs/heads/{sig_branch()}")


def test_read_branch_without_a_branch_is_an_empty_state(world: World) -> None:
    assert _read(world) == BranchState(sha=None, foreign_authors=())


def test_read_branch_of_crashbots_own_commits_names_no_foreign_author(world: World) -> None:
    repo = _commit_fix(world)
    push_branch(repo, sig_branch(), _read(world), remote="origin", token_env=None)

    state = _read(world)

    assert state == BranchState(sha=repo.head(), foreign_authors=())


def test_read_branch_names_the_person_who_pushed_and_the_sha_they_left(world: World, tmp_path: Path) -> None:
    repo = _commit_fix(world)
    push_branch(repo, sig_branch(), _read(world), remote="origin", token_env=None)
    alice_sha = world.human_push(sig_branch(), tmp_path)

    state = _read(world)

    assert state.sha == alice_sha
    assert state.foreign_authors == ("Alice",)


def test_push_onto_a_branch_read_as_missing_fails_when_a_person_created_it_since(
    world: World, tmp_path: Path
) -> None:
    missing = _read(world)
    repo = _commit_fix(world)
    # a person creates the branch between the read and the push
    clone = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(world.remote), str(clone))
    git(clone, "checkout", "-q", "-b", sig_branch())
    git(clone, "commit", "-q", "--allow-empty", "-m", "Bob starts a fix", author="Bob <bob@example.invalid>")
    git(clone, "push", "-q", "origin", sig_branch())
    bob_sha = git(clone, "rev-parse", "HEAD")

    with pytest.raises(GitError):
        push_branch(repo, sig_branch(), missing, remote="origin", token_env=None)

    assert _remote_sha(world) == bob_sha


def test_push_over_a_stale_state_keeps_the_persons_commit(world: World, tmp_path: Path) -> None:
    repo = _commit_fix(world)
    push_branch(repo, sig_branch(), _read(world), remote="origin", token_env=None)
    ours = _read(world)
    alice_sha = world.human_push(sig_branch(), tmp_path)  # lands after `ours` was read
    _commit_fix(world, "// attempt two\n")

    with pytest.raises(GitError):
        push_branch(repo, sig_branch(), ours, remote="origin", token_env=None)

    assert _remote_sha(world) == alice_sha


def test_push_over_the_state_just_read_replaces_exactly_that_sha(world: World) -> None:
    repo = _commit_fix(world)
    push_branch(repo, sig_branch(), _read(world), remote="origin", token_env=None)
    state = _read(world)
    _commit_fix(world, "// attempt two\n")

    push_branch(repo, sig_branch(), state, remote="origin", token_env=None)

    assert _remote_sha(world) == repo.head() != state.sha


def test_issue_writer_result_comment_carries_the_tokens_the_next_run_reads_back(world: World) -> None:
    issue = world.file_issue()
    writer = IssueWriter(world.fixer, issue.number, max_attempts=3)
    result = FixResult(issue.number, Outcome.ABSTAINED, "no idea", signature_id=SIG, tokens=220)

    writer.conclude(result)
    writer.conclude(result)  # a rerun edits the one comment

    [comment] = world.comments(issue.number)
    assert comment["user"]["login"] == FIXER and FIX_RESULT.tag in str(comment["body"])
    assert "crash-fix-attempted" in world.issue_labels(issue.number)
    assert IssueWriter(world.fixer, issue.number, max_attempts=3).tokens_spent_before() == 220


# -- where the fix branch goes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clone_url", "api_url"),
    [
        ("https://github.com/acme/w.git", "https://api.github.com"),
        ("https://ghe.example/acme/w.git", "https://ghe.example/api/v3"),
        ("file:///srv/standin/acme/w.git", "http://127.0.0.1:8123"),
        ("file:///srv/standin/acme/w.git", "http://localhost:8123/api/v3"),
    ],
)
def test_trusted_remote_is_the_api_s_clone_url_on_its_own_host(clone_url: str, api_url: str) -> None:
    assert trusted_remote(clone_url, api_url=api_url) == clone_url


@pytest.mark.parametrize(
    ("clone_url", "api_url"),
    [
        ("", "https://api.github.com"),
        ("http://github.com/acme/w.git", "https://api.github.com"),  # no TLS: the token would travel bare
        ("https://evil.example/acme/w.git", "https://api.github.com"),
        ("https://x:y@github.com/acme/w.git", "https://api.github.com"),
        ("file:///tmp/attacker.git", "https://api.github.com"),  # a local path only for the loopback stand-in
        ("/tmp/attacker.git", "http://127.0.0.1:8123"),
        ("ssh://git@github.com/acme/w.git", "https://api.github.com"),
    ],
)
def test_trusted_remote_refuses_anything_else_in_one_line(clone_url: str, api_url: str) -> None:
    with pytest.raises(ConfigError, match="crashbot pushes fix branches only there") as raised:
        trusted_remote(clone_url, api_url=api_url)
    assert "\n" not in str(raised.value)


def test_fresh_clone_holds_the_remote_s_base_commit_and_nothing_of_the_workspace(world: World) -> None:
    """What the engine loop left in the checkout (an untracked file, a rewritten remote, config) is not in
    the repository publishing commits in: it is fetched from the remote, not cloned from the checkout."""
    base = git(world.workspace, "rev-parse", "HEAD")
    (world.workspace / "src" / "planted.cpp").write_text("int planted;\n", encoding="utf-8")
    git(world.workspace, "remote", "set-url", "origin", "/tmp/attacker.git")
    url = world.remote.resolve().as_uri()

    with fresh_clone(url, base_sha=base, env=os.environ, token_env=None) as clone:
        assert clone.head() == base
        assert not (clone.repo / "src" / "planted.cpp").exists()
        assert clone.run("remote").strip() == ""  # nothing to push to but the URL given
        assert git(clone.repo, "rev-parse", "--is-shallow-repository") == "true"


def test_fresh_clone_of_a_commit_the_remote_lacks_fails_with_git_s_reason(world: World) -> None:
    with (
        pytest.raises(GitError, match="fetch"),
        fresh_clone(world.remote.resolve().as_uri(), base_sha="0" * 40, env=os.environ, token_env=None),
    ):
        pass
