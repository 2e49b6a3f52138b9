"""Pull requests on the stand-in: creation rules, listing, real merges in the bare repo, closing keywords."""

from __future__ import annotations

import pytest
import requests
from github import Github, GithubException

from bot.standin import StandIn
from tests.gitutil import git
from tests.standin.conftest import LOGIN, REPO, Clone

OWNER = REPO.split("/")[0]


def push_branch(clone: Clone, branch: str, filename: str = "fix.txt", text: str = "fix\n") -> str:
    clone.checkout(branch, new=True, start="origin/main")
    sha = clone.commit(filename, text, f"Fix crash on {branch}")
    clone.push(branch)
    return sha


def test_create_pull_returns_open_pull_sharing_issue_numbers(gh: Github, clone: Clone) -> None:
    repo = gh.get_repo(REPO)
    repo.create_issue("crash")
    head = push_branch(clone, "crashfix/abc")

    pull = repo.create_pull(base="main", head="crashfix/abc", title="Fix crash", body="Fixes #1", draft=False)

    assert pull.number == 2
    assert (pull.state, pull.merged, pull.head.ref, pull.head.sha, pull.base.ref) == (
        "open",
        False,
        "crashfix/abc",
        head,
        "main",
    )
    assert pull.user.login == LOGIN


def test_create_pull_response_has_mergeable_unknown_then_get_computes_it(gh: Github, clone: Clone) -> None:
    """GitHub computes mergeability in the background: the create answer says null, a later read knows."""
    push_branch(clone, "topic")
    repo = gh.get_repo(REPO)

    created = repo.create_pull(base="main", head="topic", title="t")
    fetched = repo.get_pull(created.number)

    assert created.mergeable is None
    assert created.mergeable_state == "unknown"
    assert (fetched.mergeable, fetched.mergeable_state) == (True, "clean")


def test_create_pull_same_head_twice_is_422_already_exists(gh: Github, clone: Clone) -> None:
    push_branch(clone, "crashfix/abc")
    repo = gh.get_repo(REPO)
    repo.create_pull(base="main", head="crashfix/abc", title="first")

    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head=f"{OWNER}:crashfix/abc", title="second")

    assert caught.value.status == 422
    assert (
        caught.value.data["errors"][0]["message"]
        == f"A pull request already exists for {OWNER}:crashfix/abc."
    )


def test_create_pull_missing_head_branch_is_422(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).create_pull(base="main", head="nope", title="t")

    assert caught.value.status == 422
    assert caught.value.data["errors"] == [{"resource": "PullRequest", "code": "invalid", "field": "head"}]


def test_create_pull_without_commits_is_422(gh: Github) -> None:
    repo = gh.get_repo(REPO)
    repo.create_git_ref("refs/heads/same", repo.get_git_ref("heads/main").object.sha)

    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="same", title="t")

    assert caught.value.status == 422


def test_list_pulls_filters_by_head_owner_branch_and_state(gh: Github, clone: Clone) -> None:
    push_branch(clone, "crashfix/a", "a.txt")
    push_branch(clone, "crashfix/b", "b.txt")
    repo = gh.get_repo(REPO)
    repo.create_pull(base="main", head="crashfix/a", title="a")
    closed = repo.create_pull(base="main", head="crashfix/b", title="b")
    closed.edit(state="closed")

    open_a = [p.title for p in repo.get_pulls(state="open", head=f"{OWNER}:crashfix/a")]
    open_b = [p.title for p in repo.get_pulls(state="open", head=f"{OWNER}:crashfix/b")]
    all_b = [p.title for p in repo.get_pulls(state="all", head=f"{OWNER}:crashfix/b", base="main")]

    assert (open_a, open_b, all_b) == (["a"], [], ["b"])


def test_issue_list_includes_pulls_with_pull_request_key(standin: StandIn, gh: Github, clone: Clone) -> None:
    push_branch(clone, "topic")
    repo = gh.get_repo(REPO)
    repo.create_issue("crash")
    repo.create_pull(base="main", head="topic", title="fix")

    listed = {i.title: i.pull_request is not None for i in repo.get_issues()}

    assert listed == {"crash": False, "fix": True}
    assert "pull_request" in standin.issues(REPO)[1]


def test_labels_on_pull_go_through_issue_endpoints(gh: Github, clone: Clone) -> None:
    push_branch(clone, "topic")
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(base="main", head="topic", title="fix")

    pull.as_issue().add_to_labels("crashfix")

    assert [label.name for label in repo.get_pull(pull.number).labels] == ["crashfix"]


def test_merge_pull_makes_real_merge_commit_and_closes_fixed_issue(
    standin: StandIn, gh: Github, clone: Clone
) -> None:
    repo = gh.get_repo(REPO)
    crash = repo.create_issue("crash", labels=["crash"])
    other = repo.create_issue("unrelated")
    main_before = repo.get_branch("main").commit.sha
    head = push_branch(clone, "crashfix/abc")
    pull = repo.create_pull(
        base="main", head="crashfix/abc", title="Fix crash", body=f"Fixes #{crash.number}"
    )

    status = pull.merge(merge_method="merge", sha=head)

    bare = standin.repo_path(REPO)
    parents = git(bare, "log", "-1", "--format=%P", "refs/heads/main").split()
    subject = git(bare, "log", "-1", "--format=%s", "refs/heads/main")
    merged = repo.get_pull(pull.number)
    fixed, untouched = repo.get_issue(crash.number), repo.get_issue(other.number)
    assert status.merged
    assert git(bare, "rev-parse", "refs/heads/main") == status.sha == merged.merge_commit_sha
    assert parents == [main_before, head]
    assert subject == f"Merge pull request #{pull.number} from {OWNER}/crashfix/abc"
    assert (merged.state, merged.merged, merged.merged_by.login, pull.is_merged()) == (
        "closed",
        True,
        LOGIN,
        True,
    )
    assert (fixed.state, fixed.state_reason) == ("closed", "completed")
    assert untouched.state == "open"


def test_merge_pull_squash_makes_single_parent_commit(standin: StandIn, gh: Github, clone: Clone) -> None:
    repo = gh.get_repo(REPO)
    main_before = repo.get_branch("main").commit.sha
    push_branch(clone, "topic")
    pull = repo.create_pull(base="main", head="topic", title="Squash me")

    status = pull.merge(merge_method="squash")

    bare = standin.repo_path(REPO)
    assert git(bare, "log", "-1", "--format=%P", status.sha) == main_before
    assert git(bare, "log", "-1", "--format=%s", status.sha) == f"Squash me (#{pull.number})"
    assert git(bare, "show", f"{status.sha}:fix.txt") == "fix"


def test_merge_pull_rebase_replays_commits_on_base(standin: StandIn, gh: Github, clone: Clone) -> None:
    repo = gh.get_repo(REPO)
    push_branch(clone, "topic")
    clone.checkout("main")
    clone.commit("other.txt", "o\n", "main moves")
    clone.push("main")
    main_before = repo.get_branch("main").commit.sha
    pull = repo.create_pull(base="main", head="topic", title="Rebase me")

    status = pull.merge(merge_method="rebase")

    bare = standin.repo_path(REPO)
    assert git(bare, "log", "-1", "--format=%P", status.sha) == main_before
    assert git(bare, "log", "-1", "--format=%s", status.sha) == "Fix crash on topic"


def test_merge_pull_with_stale_sha_is_409_and_changes_nothing(
    standin: StandIn, gh: Github, clone: Clone
) -> None:
    repo = gh.get_repo(REPO)
    push_branch(clone, "topic")
    pull = repo.create_pull(base="main", head="topic", title="t")
    main_before = repo.get_branch("main").commit.sha

    with pytest.raises(GithubException) as caught:
        pull.merge(sha="0" * 40)

    assert caught.value.status == 409
    assert git(standin.repo_path(REPO), "rev-parse", "refs/heads/main") == main_before
    assert repo.get_pull(pull.number).state == "open"


def test_merge_conflicting_pull_is_405_and_reads_unmergeable(gh: Github, clone: Clone) -> None:
    repo = gh.get_repo(REPO)
    push_branch(clone, "topic", "same.txt", "topic\n")
    clone.checkout("main")
    clone.commit("same.txt", "main\n", "main edits the same file")
    clone.push("main")
    pull = repo.create_pull(base="main", head="topic", title="t")

    with pytest.raises(GithubException) as caught:
        pull.merge()

    fetched = repo.get_pull(pull.number)
    assert caught.value.status == 405
    assert (fetched.mergeable, fetched.mergeable_state) == (False, "dirty")


def test_merge_into_non_default_branch_does_not_close_fixed_issue(gh: Github, clone: Clone) -> None:
    repo = gh.get_repo(REPO)
    crash = repo.create_issue("crash")
    repo.create_git_ref("refs/heads/release", repo.get_git_ref("heads/main").object.sha)
    push_branch(clone, "topic")
    pull = repo.create_pull(base="release", head="topic", title="t", body=f"Closes #{crash.number}")

    pull.merge()

    assert repo.get_issue(crash.number).state == "open"


def test_is_merged_is_false_for_open_pull(gh: Github, clone: Clone) -> None:
    push_branch(clone, "topic")
    pull = gh.get_repo(REPO).create_pull(base="main", head="topic", title="t")

    assert pull.is_merged() is False


def test_push_of_head_to_main_marks_pull_merged(gh: Github, clone: Clone) -> None:
    """Merging by hand (git push) is noticed on the next read, as GitHub marks such pulls merged."""
    head = push_branch(clone, "topic")
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(base="main", head="topic", title="t")

    clone.push(f"{head}:refs/heads/main")

    fetched = repo.get_pull(pull.number)
    assert (fetched.state, fetched.merged) == ("closed", True)


def test_pushing_to_head_branch_moves_pull_head_sha(gh: Github, clone: Clone) -> None:
    push_branch(clone, "topic")
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(base="main", head="topic", title="t")

    newer = clone.commit("more.txt", "more\n", "more")
    clone.push("topic")

    assert repo.get_pull(pull.number).head.sha == newer


def test_edit_pull_title_body_and_close(standin: StandIn, http: requests.Session, clone: Clone) -> None:
    push_branch(clone, "topic")
    created = http.post(
        f"{standin.api_url}/repos/{REPO}/pulls", json={"head": "topic", "base": "main", "title": "t"}
    ).json()

    edited = http.patch(created["url"], json={"title": "new", "body": "b", "state": "closed"})

    assert edited.status_code == 200
    assert (edited.json()["title"], edited.json()["body"], edited.json()["state"]) == ("new", "b", "closed")


def test_merged_pull_cannot_be_reopened(gh: Github, clone: Clone) -> None:
    push_branch(clone, "topic")
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(base="main", head="topic", title="t")
    pull.merge()

    with pytest.raises(GithubException) as caught:
        pull.as_issue().edit(state="open")

    assert caught.value.status == 422
    assert repo.get_pull(pull.number).state == "closed"
