"""Refs, branches, commits and compare on the stand-in, backed by a real bare repo that a real clone pushes to."""

from __future__ import annotations

import pytest
import requests
from github import Github, GithubException

from bot.standin import StandIn
from tests.gitutil import git
from tests.standin.conftest import REPO, Clone


def test_git_push_from_clone_is_visible_through_refs_api(gh: Github, clone: Clone) -> None:
    sha = clone.commit("src/server/game/Maps/Map.cpp", "fixed\n", "Fix null deref in Map::Update")
    clone.push("HEAD:refs/heads/main")

    ref = gh.get_repo(REPO).get_git_ref("heads/main")

    assert (ref.ref, ref.object.sha, ref.object.type) == ("refs/heads/main", sha, "commit")


def test_get_ref_absent_is_404(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).get_git_ref("heads/nope")

    assert caught.value.status == 404


def test_create_ref_then_branch_with_slash_is_readable(gh: Github) -> None:
    repo = gh.get_repo(REPO)
    main = repo.get_git_ref("heads/main").object.sha

    created = repo.create_git_ref("refs/heads/crashfix/abc123", main)
    branch = repo.get_branch("crashfix/abc123")

    assert (created.ref, branch.name, branch.commit.sha, branch.protected) == (
        "refs/heads/crashfix/abc123",
        "crashfix/abc123",
        main,
        False,
    )


def test_create_ref_existing_is_422_and_unknown_sha_is_422(gh: Github) -> None:
    repo = gh.get_repo(REPO)
    main = repo.get_git_ref("heads/main").object.sha

    with pytest.raises(GithubException) as exists:
        repo.create_git_ref("refs/heads/main", main)
    with pytest.raises(GithubException) as missing:
        repo.create_git_ref("refs/heads/x", "f" * 40)

    assert (exists.value.status, exists.value.data["message"]) == (422, "Reference already exists")
    assert (missing.value.status, missing.value.data["message"]) == (422, "Object does not exist")


def test_create_ref_not_fully_qualified_is_422(gh: Github) -> None:
    repo = gh.get_repo(REPO)

    with pytest.raises(GithubException) as caught:
        repo.create_git_ref("heads/x", repo.get_git_ref("heads/main").object.sha)

    assert caught.value.status == 422


def test_update_ref_fast_forward_moves_branch_in_bare_repo(
    standin: StandIn, gh: Github, clone: Clone
) -> None:
    base = git(clone.path, "rev-parse", "HEAD")
    clone.checkout("topic", new=True)
    ahead = clone.commit("a.txt", "a\n", "ahead")
    clone.push("topic")
    repo = gh.get_repo(REPO)

    repo.get_git_ref("heads/main").edit(ahead)

    assert git(standin.repo_path(REPO), "rev-parse", "refs/heads/main") == ahead != base


def test_update_ref_non_fast_forward_is_422_unless_forced(standin: StandIn, gh: Github, clone: Clone) -> None:
    clone.checkout("side", new=True)
    side = clone.commit("side.txt", "s\n", "side")
    clone.push("side")
    clone.checkout("main")
    clone.commit("main.txt", "m\n", "main moves")
    clone.push("main")
    ref = gh.get_repo(REPO).get_git_ref("heads/main")

    with pytest.raises(GithubException) as caught:
        ref.edit(side)
    ref.edit(side, force=True)

    assert (caught.value.status, caught.value.data["message"]) == (422, "Update is not a fast forward")
    assert git(standin.repo_path(REPO), "rev-parse", "refs/heads/main") == side


def test_delete_ref_removes_branch_and_twice_is_422(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    repo.create_git_ref("refs/heads/gone", repo.get_git_ref("heads/main").object.sha)
    ref = repo.get_git_ref("heads/gone")

    ref.delete()
    with pytest.raises(GithubException) as caught:
        ref.delete()

    assert caught.value.status == 422
    assert git(standin.repo_path(REPO), "branch", "--list", "gone") == ""


def test_delete_default_branch_is_422(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).get_git_ref("heads/main").delete()

    assert caught.value.status == 422


def test_matching_refs_lists_by_prefix(gh: Github) -> None:
    repo = gh.get_repo(REPO)
    main = repo.get_git_ref("heads/main").object.sha
    for name in ("crashfix/a", "crashfix/b", "other"):
        repo.create_git_ref(f"refs/heads/{name}", main)

    names = [ref.ref for ref in repo.get_git_matching_refs("heads/crashfix/")]

    assert names == ["refs/heads/crashfix/a", "refs/heads/crashfix/b"]


def test_get_commit_has_message_parents_and_files(gh: Github, clone: Clone) -> None:
    parent = git(clone.path, "rev-parse", "HEAD")
    sha = clone.commit("src/a.cpp", "int a;\nint b;\n", "Add a.cpp\n\nFixes #1")
    clone.push("main")

    commit = gh.get_repo(REPO).get_commit(sha)

    assert commit.commit.message == "Add a.cpp\n\nFixes #1"
    assert [p.sha for p in commit.parents] == [parent]
    assert [(f.filename, f.status, f.additions) for f in commit.files] == [("src/a.cpp", "added", 2)]
    assert "+int a;" in commit.files[0].patch
    assert commit.commit.author.name == "Dev"


def test_get_commit_unknown_sha_is_422(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).get_commit("0" * 40)

    assert caught.value.status == 422


def test_compare_reports_ahead_behind_and_commit_messages(gh: Github, clone: Clone) -> None:
    clone.checkout("topic", new=True)
    clone.commit("t1.txt", "1\n", "topic one")
    clone.commit("t2.txt", "2\n", "topic two")
    clone.push("topic")
    clone.checkout("main")
    clone.commit("m.txt", "m\n", "main moves")
    clone.push("main")
    repo = gh.get_repo(REPO)

    diverged = repo.compare("main", "topic")
    ahead = repo.compare(diverged.merge_base_commit.sha, "topic")
    behind = repo.compare("topic", diverged.merge_base_commit.sha)

    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 2, 1)
    assert [c.commit.message for c in diverged.commits] == ["topic one", "topic two"]
    assert (ahead.status, ahead.ahead_by, ahead.total_commits) == ("ahead", 2, 2)
    assert (behind.status, behind.behind_by) == ("behind", 2)
    assert {f.filename for f in diverged.files} == {"t1.txt", "t2.txt"}


def test_compare_identical_refs(gh: Github) -> None:
    comparison = gh.get_repo(REPO).compare("main", "main")

    assert (comparison.status, comparison.ahead_by, comparison.behind_by, comparison.commits.totalCount) == (
        "identical",
        0,
        0,
        0,
    )


def test_repo_clone_url_is_the_bare_repo(standin: StandIn, http: requests.Session) -> None:
    body = http.get(f"{standin.api_url}/repos/{REPO}").json()

    assert body["clone_url"] == standin.repo_path(REPO).resolve().as_uri()
    assert (body["default_branch"], body["private"], body["permissions"]["push"]) == ("main", True, True)
