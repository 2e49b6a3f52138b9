"""Issues, labels and comments on the stand-in, driven through PyGithub and on the raw wire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from github import Github, GithubException

from bot.standin import Limits, StandIn
from tests.fakes import FakeClock
from tests.standin.conftest import LOGIN, REPO, make_client


def test_create_issue_with_labels_returns_complete_issue_in_one_post(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.clear_requests()

    issue = repo.create_issue(
        "worldserver crash in Map::Update", body="stack", labels=["crash", "sig:abc123"]
    )

    assert issue.number == 1
    assert issue.state == "open"
    assert issue.user.login == LOGIN
    assert [label.name for label in issue.labels] == ["crash", "sig:abc123"]
    assert [(r.method, r.path) for r in standin.requests] == [("POST", f"/repos/{REPO}/issues")]


def test_create_issue_unknown_labels_are_created_with_default_color(standin: StandIn, gh: Github) -> None:
    gh.get_repo(REPO).create_issue("t", labels=["sig:new"])

    label = gh.get_repo(REPO).get_label("sig:new")

    assert (label.name, label.color) == ("sig:new", "ededed")
    assert label.description is None


def test_create_issue_label_matching_is_case_insensitive(standin: StandIn, gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t", labels=["BUG"])

    assert [(label.name, label.default) for label in issue.labels] == [("bug", True)]


def test_create_issue_without_title_is_422_missing_field(standin: StandIn, http: requests.Session) -> None:
    answer = http.post(f"{standin.api_url}/repos/{REPO}/issues", json={"body": "no title"})

    assert answer.status_code == 422
    assert answer.json()["message"] == "Validation Failed"
    assert answer.json()["errors"] == [{"resource": "Issue", "code": "missing_field", "field": "title"}]
    assert standin.issues(REPO) == []


def test_create_issue_body_over_65536_chars_is_422(standin: StandIn, gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).create_issue("t", body="x" * 65_537)

    assert caught.value.status == 422
    assert "body is too long (maximum is 65536 characters)" in str(caught.value.data)
    assert standin.issues(REPO) == []


def test_create_issue_body_of_exactly_65536_chars_is_accepted(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t", body="x" * 65_536)

    assert len(issue.body) == 65_536


def test_create_issue_label_over_50_chars_is_422(standin: StandIn, gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).create_issue("t", labels=["l" * 51])

    assert caught.value.status == 422
    assert "name is too long (maximum is 50 characters)" in str(caught.value.data)


def test_create_issue_by_read_only_user_drops_labels_silently(standin: StandIn) -> None:
    standin.add_token("reader-token", "reader")
    standin.set_permission(REPO, "reader", "read")

    issue = make_client(standin.api_url, "reader-token").get_repo(REPO).create_issue("t", labels=["crash"])

    assert issue.labels == []


def test_edit_issue_labels_replace_the_set(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t", labels=["a", "b"])

    issue.edit(labels=["c"])

    assert [label.name for label in gh.get_repo(REPO).get_issue(issue.number).labels] == ["c"]


def test_edit_issue_close_sets_closed_at_and_state_reason(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t")

    issue.edit(state="closed", state_reason="not_planned")
    closed = gh.get_repo(REPO).get_issue(issue.number)

    assert closed.closed_by is not None
    assert (closed.state, closed.state_reason, closed.closed_by.login) == ("closed", "not_planned", LOGIN)
    assert closed.closed_at is not None


def test_edit_issue_reopen_clears_closed_at_and_says_reopened(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t")
    issue.edit(state="closed")

    issue.edit(state="open")

    assert (issue.state, issue.state_reason) == ("open", "reopened")
    assert issue.closed_at is None


def test_edit_issue_too_long_body_keeps_old_body(standin: StandIn, gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t", body="old")

    with pytest.raises(GithubException):
        issue.edit(body="y" * 70_000, title="new title")

    assert (standin.issues(REPO)[0]["body"], standin.issues(REPO)[0]["title"]) == ("old", "t")


def test_list_issues_label_filter_is_and_and_follows_link_pages(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    for n in range(7):
        repo.create_issue(f"crash {n}", labels=["crash", "sig:same"] if n % 2 == 0 else ["crash"])
    standin.clear_requests()

    lazy_repo = make_client(standin.api_url, per_page=2, lazy=True).get_repo(REPO)
    found = list(lazy_repo.get_issues(labels=["crash", "sig:same"], state="all"))

    assert [i.title for i in found] == ["crash 6", "crash 4", "crash 2", "crash 0"]
    pages = [r for r in standin.requests if r.path.endswith("/issues")]
    assert len(pages) == 2
    assert pages[1].path == f"/repositories/{repo.id}/issues"


def test_list_issues_link_header_has_github_rels_and_keeps_query(
    standin: StandIn, http: requests.Session
) -> None:
    for n in range(5):
        http.post(f"{standin.api_url}/repos/{REPO}/issues", json={"title": f"i{n}"}).raise_for_status()

    middle = http.get(
        f"{standin.api_url}/repos/{REPO}/issues", params={"per_page": "2", "page": "2", "state": "all"}
    )

    repo_id = http.get(f"{standin.api_url}/repos/{REPO}").json()["id"]
    base = f"{standin.api_url}/repositories/{repo_id}/issues?per_page=2&state=all"
    assert middle.headers["Link"] == (
        f'<{base}&page=1>; rel="prev", <{base}&page=3>; rel="next", '
        f'<{base}&page=3>; rel="last", <{base}&page=1>; rel="first"'
    )
    assert [i["title"] for i in middle.json()] == ["i2", "i1"]


def test_list_issues_single_page_has_no_link_header(standin: StandIn, http: requests.Session) -> None:
    http.post(f"{standin.api_url}/repos/{REPO}/issues", json={"title": "only"})

    answer = http.get(f"{standin.api_url}/repos/{REPO}/issues")

    assert "Link" not in answer.headers


def test_list_issues_per_page_is_capped_at_100(standin: StandIn, http: requests.Session) -> None:
    standin.limits = Limits(secondary=False)
    for n in range(101):
        http.post(f"{standin.api_url}/repos/{REPO}/issues", json={"title": f"i{n}"}).raise_for_status()

    answer = http.get(f"{standin.api_url}/repos/{REPO}/issues", params={"per_page": 500})

    assert len(answer.json()) == 100
    assert 'rel="next"' in answer.headers["Link"]


def test_list_issues_defaults_to_open_and_state_all_includes_closed(gh: Github) -> None:
    repo = gh.get_repo(REPO)
    repo.create_issue("open one")
    repo.create_issue("closed one").edit(state="closed")

    assert [i.title for i in repo.get_issues()] == ["open one"]
    assert [i.title for i in repo.get_issues(state="closed")] == ["closed one"]
    assert {i.title for i in repo.get_issues(state="all")} == {"open one", "closed one"}


def test_list_issues_creator_sort_and_direction(standin: StandIn, gh: Github) -> None:
    standin.add_token("other-token", "other")
    repo = gh.get_repo(REPO)
    repo.create_issue("mine 1")
    make_client(standin.api_url, "other-token").get_repo(REPO).create_issue("theirs")
    repo.create_issue("mine 2")

    mine = [i.title for i in repo.get_issues(creator=gh.get_user(LOGIN), sort="created", direction="asc")]

    assert mine == ["mine 1", "mine 2"]


def test_list_issues_since_filters_on_updated_at(timed: StandIn, clock: FakeClock) -> None:
    repo = make_client(timed.api_url).get_repo(REPO)
    repo.create_issue("old")
    clock.advance(3600)
    cutoff = clock.now
    repo.create_issue("new")

    titles = [i.title for i in repo.get_issues(since=datetime.fromtimestamp(cutoff, UTC))]

    assert titles == ["new"]


def test_comments_create_list_paginated_and_edit(standin: StandIn, gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t")
    for n in range(3):
        issue.create_comment(f"seen again #{n}")
    listed = list(
        make_client(standin.api_url, per_page=2).get_repo(REPO).get_issue(issue.number).get_comments()
    )
    bodies = [c.body for c in listed]

    listed[0].edit("edited")

    assert bodies == ["seen again #0", "seen again #1", "seen again #2"]
    assert standin.comments(REPO, issue.number)[0]["body"] == "edited"
    assert gh.get_repo(REPO).get_issue(issue.number).comments == 3


def test_comment_body_over_limit_is_422(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t")

    with pytest.raises(GithubException) as caught:
        issue.create_comment("c" * 65_537)

    assert caught.value.status == 422


def test_issue_labels_add_set_and_remove(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t", labels=["crash"])

    issue.add_to_labels("fix:attempted")
    issue.remove_from_labels("crash")
    after_remove = [label.name for label in gh.get_repo(REPO).get_issue(issue.number).labels]
    issue.set_labels("deployed")

    assert after_remove == ["fix:attempted"]
    assert [label.name for label in gh.get_repo(REPO).get_issue(issue.number).labels] == ["deployed"]


def test_remove_label_not_on_issue_is_404(gh: Github) -> None:
    issue = gh.get_repo(REPO).create_issue("t")

    with pytest.raises(GithubException) as caught:
        issue.remove_from_labels("absent")

    assert caught.value.status == 404


def test_repo_labels_create_get_and_duplicate(gh: Github) -> None:
    repo = gh.get_repo(REPO)

    created = repo.create_label("crash", "b60205", "A worldserver crash")
    with pytest.raises(GithubException) as caught:
        repo.create_label("Crash", "ffffff")

    assert (repo.get_label("crash").color, created.description) == ("b60205", "A worldserver crash")
    assert caught.value.status == 422
    assert "crash" in [label.name for label in repo.get_labels()]


def test_get_label_absent_is_404(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).get_label("nope")

    assert caught.value.status == 404
    assert caught.value.data["message"] == "Not Found"


def test_unknown_token_is_401_bad_credentials(standin: StandIn) -> None:
    answer = requests.get(f"{standin.api_url}/repos/{REPO}", headers={"Authorization": "token nope"})

    assert answer.status_code == 401
    assert answer.json()["message"] == "Bad credentials"


def test_anonymous_write_is_401_and_private_repo_is_hidden(standin: StandIn) -> None:
    write = requests.post(f"{standin.api_url}/repos/{REPO}/issues", json={"title": "t"})
    read = requests.get(f"{standin.api_url}/repos/{REPO}")

    assert (write.status_code, read.status_code) == (401, 404)


def test_bearer_scheme_authenticates_like_token(standin: StandIn) -> None:
    answer = requests.get(f"{standin.api_url}/user", headers={"Authorization": "Bearer ghp_uploader_token"})

    assert answer.json()["login"] == LOGIN


def test_every_response_carries_rate_limit_and_request_id_headers(
    standin: StandIn, http: requests.Session
) -> None:
    first = http.get(f"{standin.api_url}/repos/{REPO}")
    second = http.get(f"{standin.api_url}/repos/{REPO}/issues/999")

    assert second.status_code == 404
    assert int(first.headers["x-ratelimit-remaining"]) - int(second.headers["x-ratelimit-remaining"]) == 1
    for answer in (first, second):
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        assert answer.headers["x-ratelimit-limit"] == "5000"
        assert answer.headers["x-ratelimit-resource"] == "core"
        assert {"x-ratelimit-used", "x-ratelimit-reset", "x-github-request-id"} <= set(answer.headers)


def test_search_issues_hides_new_issues_until_lag_passes(timed: StandIn, clock: FakeClock) -> None:
    timed.limits = Limits(search_lag_s=30)
    client = make_client(timed.api_url)
    client.get_repo(REPO).create_issue("crash", labels=["sig:abc"])

    before = client.search_issues(f'repo:{REPO} is:issue label:"sig:abc"').totalCount
    clock.advance(31)
    after = [i.title for i in client.search_issues(f'repo:{REPO} is:issue label:"sig:abc"')]
    listed = [i.title for i in client.get_repo(REPO).get_issues(labels=["sig:abc"])]

    assert (before, after, listed) == (0, ["crash"], ["crash"])


def test_user_endpoint_answers_token_owner(gh: Github) -> None:
    assert (gh.get_user().login, gh.get_user().type) == (LOGIN, "User")


def test_collaborator_permission_reflects_grants(standin: StandIn, gh: Github) -> None:
    standin.add_token("tri", "triager")
    standin.set_permission(REPO, "triager", "triage")

    repo = gh.get_repo(REPO)

    assert repo.get_collaborator_permission("triager") == "read"
    assert repo.get_collaborator_permission(LOGIN) == "admin"


def test_unknown_repository_id_is_404(standin: StandIn, http: requests.Session) -> None:
    answer = http.get(f"{standin.api_url}/repositories/1/issues")

    assert answer.status_code == 404


def test_paths_outside_the_api_prefix_are_404(standin: StandIn, http: requests.Session) -> None:
    answer = http.get(f"{standin.web_url}/repos/{REPO}")

    assert answer.status_code == 404


def test_head_request_answers_like_get_without_body(standin: StandIn, http: requests.Session) -> None:
    answer = http.head(f"{standin.api_url}/repos/{REPO}")

    assert (answer.status_code, answer.content) == (200, b"")


def test_public_repository_lets_a_stranger_read_and_comment_with_association_none(standin: StandIn) -> None:
    """GitHub: anyone signed in may comment on a public repository's issues; their author_association
    is NONE, which is how crashbot tells a stranger's words from a collaborator's."""
    standin.add_repo("acme/public", auto_init=True)
    standin.add_token("owner-token", "acme")
    standin.add_token("stranger-token", "mallory")
    standin.set_permission("acme/public", "mallory", "none")
    api = f"{standin.api_url}/repos/acme/public"
    hidden = requests.get(api, headers={"Authorization": "token stranger-token"}, timeout=10)
    assert hidden.status_code == 404  # private: a stranger does not even see it
    standin.set_visibility("acme/public", private=False)
    made = requests.post(
        f"{api}/issues",
        json={"title": "crash"},
        headers={"Authorization": "token owner-token"},
        timeout=10,
    ).json()
    comment = requests.post(
        f"{api}/issues/{made['number']}/comments",
        json={"body": "drive-by"},
        headers={"Authorization": "token stranger-token"},
        timeout=10,
    )
    assert comment.status_code == 201
    assert comment.json()["author_association"] == "NONE"
