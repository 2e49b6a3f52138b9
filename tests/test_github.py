"""bot.github against the wire: PyGithub's real HTTP stack, faked at the socket by ``responses``.

URLs carry the explicit port PyGithub adds (platform facts §5.2); sleeps go to a recording fake clock.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from bot.config import GitHubSettings
from bot.errors import ConfigError
from bot.github import (
    AmbiguousWrite,
    CommitRef,
    Conflict,
    Forbidden,
    GitHubClient,
    IssueRef,
    NotFound,
    PullRef,
    RateLimited,
    Unavailable,
    ValidationFailed,
    connect,
    is_loopback,
    start_check,
)
from bot.standin import Fault, StandIn
from bot.vocabulary import LabelSpec
from tests.conftest import REPO as STANDIN_REPO
from tests.fakes import T0, FakeClock

FIXTURES = Path(__file__).parent / "fixtures" / "github"
API = "http://ghe.test/api/v3"
BASE = "http://ghe.test:80/api/v3"  # what PyGithub actually requests
REPO = f"{BASE}/repos/o/r"
SIG = "sig:0123456789abcdef"
LABELS = ["crash", SIG, "crash:access-violation"]


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(copy.deepcopy(changes))
    return data


def issue_json(number: int = 7, **changes: Any) -> dict[str, Any]:
    labels = changes.pop("label_names", ["crash", SIG, "crash:access-violation"])
    return fixture(
        "issue",
        number=number,
        html_url=f"https://github.com/o/r/issues/{number}",
        labels=[{"name": n, "color": "ededed", "default": False, "description": None} for n in labels],
        **changes,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def make_client(clock: FakeClock, *, max_wait: float = 900.0, write_interval_s: float = 0.0) -> GitHubClient:
    settings = GitHubSettings(repo="o/r", api_url=API, max_rate_limit_wait_s=max_wait)
    return connect(
        settings,
        env={"CRASHBOT_TOKEN": "ghp_secretsecret"},
        sleep=clock.sleep,
        clock=clock.time,
        rng=random.Random(7),
        write_interval_s=write_interval_s,
    )


@pytest.fixture
def gh(clock: FakeClock) -> GitHubClient:
    return make_client(clock)


def list_issues(rsps, items, *, label=SIG, headers=None):
    rsps.get(
        f"{REPO}/issues",
        json=items,
        headers=headers or {},
        match=[matchers.query_param_matcher({"labels": label, "state": "all", "per_page": "100"})],
    )


def post_issue(rsps, **kwargs):
    rsps.post(
        f"{REPO}/issues",
        match=[matchers.json_params_matcher({"title": "t", "body": "b", "labels": LABELS})],
        **kwargs,
    )


# ----- connect


def test_connect_without_token_raises_config_error_naming_env_vars():
    with pytest.raises(ConfigError, match="CRASHBOT_TOKEN or GITHUB_TOKEN"):
        connect(GitHubSettings(repo="o/r"), env={})


def test_connect_uses_first_set_token_env_and_never_shows_it(rsps, clock):
    rsps.get(
        REPO, json=fixture("repo"), match=[matchers.header_matcher({"Authorization": "token from-github"})]
    )
    client = connect(
        GitHubSettings(repo="o/r", api_url=API), env={"CRASHBOT_TOKEN": "", "GITHUB_TOKEN": "from-github"}
    )
    assert client.repo_info().default_branch == "master"
    assert "from-github" not in repr(client)


@pytest.mark.parametrize("repo", ["", "just-a-name", "a/b/c", "o/r; rm -rf"])
def test_connect_bad_repo_raises_config_error(repo):
    with pytest.raises(ConfigError, match="OWNER/NAME"):
        connect(GitHubSettings(repo=repo), env={"CRASHBOT_TOKEN": "x"})


def test_connect_app_id_without_installation_raises_config_error():
    with pytest.raises(ConfigError, match="app_installation_id"):
        connect(GitHubSettings(repo="o/r", app_id="12"), env={})


def test_connect_app_unusable_private_key_raises_config_error():
    settings = GitHubSettings(repo="o/r", app_id="12", app_installation_id="42")
    with pytest.raises(ConfigError, match="cannot sign a JWT"):
        connect(settings, env={"CRASHBOT_APP_PRIVATE_KEY": "not a pem"})


def test_connect_app_missing_key_file_raises_config_error(tmp_path):
    settings = GitHubSettings(
        repo="o/r", app_id="12", app_installation_id="42", app_private_key_file=str(tmp_path / "nope.pem")
    )
    with pytest.raises(ConfigError, match=r"nope\.pem"):
        connect(settings, env={})


def test_connect_app_auth_fetches_installation_token_then_uses_it(rsps, tmp_path):
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    (tmp_path / "app.pem").write_text(pem)
    settings = GitHubSettings(
        repo="o/r",
        api_url=API,
        app_id="12",
        app_installation_id="42",
        app_private_key_file=str(tmp_path / "app.pem"),
    )
    rsps.post(
        f"{BASE}/app/installations/42/access_tokens",
        status=201,
        json={
            "token": "ghs_installation",
            "expires_at": "2099-01-01T00:00:00Z",
            "permissions": {"issues": "write"},
        },
    )
    rsps.get(
        REPO,
        json=fixture("repo"),
        match=[matchers.header_matcher({"Authorization": "token ghs_installation"})],
    )
    client = connect(settings, env={})
    assert client.repo_info().full_name == "o/r"


# ----- issues


def test_find_issues_follows_pages_and_drops_pull_requests(rsps, gh):
    list_issues(
        rsps,
        [issue_json(7), fixture("pull_as_issue")],
        headers={"Link": f'<{API}/repos/o/r/issues?labels={SIG}&state=all&per_page=100&page=2>; rel="next"'},
    )
    rsps.get(
        f"{REPO}/issues",
        json=[issue_json(12, state="closed", state_reason="completed")],
        match=[matchers.query_param_matcher({"labels": SIG, "state": "all", "per_page": "100", "page": "2"})],
    )
    found = gh.find_issues([SIG])
    assert [i.number for i in found] == [7, 12]
    assert found[0].labels == ("crash", SIG, "crash:access-violation")
    assert found[0].author == "crashbot-uploader[bot]"
    assert not found[0].is_pull
    assert found[1].state_reason == "completed"


def test_ensure_issue_existing_label_makes_no_write(rsps, gh):
    list_issues(rsps, [issue_json(7)])
    issue, created = gh.ensure_issue(SIG, "t", "b", LABELS)
    assert (issue.number, created) == (7, False)
    assert gh.writes == 0


def test_ensure_issue_prefers_open_issue_over_newer_closed(rsps, gh):
    list_issues(rsps, [issue_json(30, state="closed"), issue_json(12), issue_json(9)])
    assert gh.ensure_issue(SIG, "t", "b", LABELS)[0].number == 9


def test_ensure_issue_absent_creates_with_labels(rsps, gh):
    list_issues(rsps, [])
    post_issue(rsps, status=201, json=issue_json(8))
    issue, created = gh.ensure_issue(SIG, "t", "b", LABELS)
    assert (issue.number, created) == (8, True)
    assert gh.writes == 1


def test_ensure_issue_502_after_commit_finds_it_and_files_exactly_one(rsps, gh, clock):
    """The POST was committed but the answer was lost: PyGithub's default retry would file a duplicate."""
    list_issues(rsps, [])
    post_issue(rsps, status=502, json={"message": "Server Error"})
    list_issues(rsps, [issue_json(8)])
    issue, created = gh.ensure_issue(SIG, "t", "b", LABELS)
    assert (issue.number, created) == (8, True)
    assert [c.request.method for c in rsps.calls] == ["GET", "POST", "GET"]
    assert len(clock.sleeps) == 1  # a short pause before looking again


def test_ensure_issue_502_and_truly_absent_creates_again(rsps, gh):
    list_issues(rsps, [])
    post_issue(rsps, status=502, json={"message": "Server Error"})
    list_issues(rsps, [])
    post_issue(rsps, status=201, json=issue_json(8))
    issue, created = gh.ensure_issue(SIG, "t", "b", LABELS)
    assert (issue.number, created) == (8, True)
    assert gh.writes == 2


def test_ensure_issue_read_timeout_after_sending_looks_before_retrying(rsps, gh):
    list_issues(rsps, [])
    post_issue(rsps, body=requests.exceptions.ReadTimeout("read timed out"))
    list_issues(rsps, [issue_json(8)])
    assert gh.ensure_issue(SIG, "t", "b", LABELS) == (IssueRef.from_json(issue_json(8)), True)


def test_ensure_issue_persistently_ambiguous_raises_ambiguous_write(rsps, gh):
    list_issues(rsps, [])
    for _ in range(3):
        post_issue(rsps, status=503, json={"message": "Unavailable"})
        list_issues(rsps, [])
    with pytest.raises(AmbiguousWrite, match="may or may not"):
        gh.ensure_issue(SIG, "t", "b", LABELS)
    assert gh.writes == 3


def test_create_issue_labels_silently_dropped_raises_forbidden(rsps, gh):
    post_issue(rsps, status=201, json=issue_json(8, label_names=[]))
    with pytest.raises(Forbidden, match="created without labels"):
        gh.create_issue("t", "b", LABELS)


def test_create_issue_body_over_limit_raises_before_sending(gh):
    with pytest.raises(ValidationFailed, match="65536"):
        gh.create_issue("t", "x" * 65_537, LABELS)
    assert gh.requests == 0


def test_create_issue_422_raises_validation_failed_with_codes(rsps, gh):
    post_issue(
        rsps,
        status=422,
        json={
            "message": "Validation Failed",
            "errors": [
                {"resource": "Issue", "code": "custom", "field": "body", "message": "body is too long"}
            ],
        },
    )
    with pytest.raises(ValidationFailed, match="422") as info:
        gh.create_issue("t", "b", LABELS)
    assert info.value.codes == ("custom",)


def test_edit_issue_sends_only_given_fields(rsps, gh):
    rsps.patch(
        f"{REPO}/issues/7",
        json=issue_json(7, state="closed", state_reason="not_planned"),
        match=[matchers.json_params_matcher({"state": "closed", "state_reason": "not_planned"})],
    )
    issue = gh.edit_issue(7, state="closed", state_reason="not_planned")
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")


def test_edit_issue_5xx_is_retried_because_patch_is_idempotent(rsps, gh, clock):
    rsps.patch(f"{REPO}/issues/7", status=502, json={"message": "bad gateway"})
    rsps.patch(
        f"{REPO}/issues/7",
        json=issue_json(7, body="new"),
        match=[matchers.json_params_matcher({"body": "new"})],
    )
    assert gh.edit_issue(7, body="new").body == "new"
    assert len(clock.sleeps) == 1


def test_labels_add_and_remove(rsps, gh):
    rsps.post(
        f"{REPO}/issues/7/labels",
        json=[{"name": "crash"}, {"name": "crash:fixed"}],
        match=[matchers.json_params_matcher({"labels": ["crash:fixed"]})],
    )
    rsps.delete(f"{REPO}/issues/7/labels/crash%3Anew", status=404, json={"message": "Label does not exist"})
    assert gh.add_labels(7, ["crash:fixed"]) == ("crash", "crash:fixed")
    gh.remove_label(7, "crash:new")  # absent is fine


def test_ensure_labels_creates_only_missing_and_tolerates_already_exists(rsps, gh):
    rsps.get(f"{REPO}/labels", json=[{"name": "Crash", "color": "b60205"}])
    rsps.post(
        f"{REPO}/labels",
        status=201,
        json={"name": "crash:assert"},
        match=[
            matchers.json_params_matcher({"name": "crash:assert", "color": "d93f0b", "description": "assert"})
        ],
    )
    rsps.post(
        f"{REPO}/labels",
        status=422,
        json={"message": "Validation Failed", "errors": [{"resource": "Label", "code": "already_exists"}]},
        match=[matchers.json_params_matcher({"name": "sig:x", "color": "ededed", "description": "sig"})],
    )
    specs = [
        LabelSpec("crash", "b60205", "c"),
        LabelSpec("crash:assert", "d93f0b", "assert"),
        LabelSpec("sig:x", "ededed", "sig"),
    ]
    assert gh.ensure_labels(specs) == ["crash:assert"]


# ----- rate limits


def test_secondary_limit_403_with_retry_after_waits_that_long(rsps, gh, clock):
    rsps.get(
        f"{REPO}/issues/7",
        status=403,
        headers={"Retry-After": "30"},
        json={
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        },
    )
    rsps.get(f"{REPO}/issues/7", json=issue_json(7))
    assert gh.get_issue(7).number == 7
    assert clock.sleeps == [30.0]


def test_secondary_limit_403_without_retry_after_waits_a_minute(rsps, gh, clock):
    rsps.post(
        f"{REPO}/issues/7/comments",
        status=403,
        json={"message": "You have exceeded a secondary rate limit and have been temporarily blocked."},
    )
    rsps.post(f"{REPO}/issues/7/comments", status=201, json=fixture("comment"))
    assert gh.create_comment(7, "hello").id == 1987654321
    assert clock.sleeps == [60.0]
    assert gh.writes == 2  # a refused write was not performed, so repeating it is safe


@pytest.mark.parametrize(("headers", "expected"), [({"Retry-After": "5"}, [5.0]), ({}, [60.0])])
def test_429_is_a_rate_limit_with_or_without_retry_after(rsps, gh, clock, headers, expected):
    rsps.get(f"{REPO}/issues/7", status=429, headers=headers, json={"message": "Too Many Requests"})
    rsps.get(f"{REPO}/issues/7", json=issue_json(7))
    gh.get_issue(7)
    assert clock.sleeps == expected


def test_primary_limit_waits_until_reset(rsps, gh, clock):
    rsps.get(
        f"{REPO}/issues/7",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0 + 120))},
        json={"message": "API rate limit exceeded for installation ID 42."},
    )
    rsps.get(f"{REPO}/issues/7", json=issue_json(7))
    gh.get_issue(7)
    assert clock.sleeps == [121.0]


def test_primary_limit_beyond_max_wait_raises_rate_limited_without_sleeping(rsps, clock):
    gh = make_client(clock, max_wait=60)
    reset = int(T0 + 1800)
    rsps.get(
        f"{REPO}/issues/7",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        json={"message": "API rate limit exceeded for user ID 1."},
    )
    with pytest.raises(RateLimited) as info:
        gh.get_issue(7)
    assert info.value.retry_at == reset + 1
    assert clock.sleeps == []


def test_exhausted_budget_seen_on_success_waits_before_next_request(rsps, gh, clock):
    rsps.get(
        f"{REPO}/issues/7",
        json=issue_json(7),
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0 + 10))},
    )
    rsps.get(f"{REPO}/issues/8", json=issue_json(8))
    gh.get_issue(7)
    gh.get_issue(8)
    assert clock.sleeps == [11.0]


def test_forbidden_without_rate_limit_is_not_retried(rsps, gh):
    rsps.post(
        f"{REPO}/issues/7/comments", status=403, json={"message": "Resource not accessible by integration"}
    )
    with pytest.raises(Forbidden, match="Resource not accessible by integration"):
        gh.create_comment(7, "x")


# ----- outages


def test_outage_on_reads_backs_off_then_raises_unavailable(rsps, gh, clock):
    for _ in range(4):
        rsps.get(f"{REPO}/issues/7", status=503, json={"message": "Service Unavailable"})
    with pytest.raises(Unavailable, match="503"):
        gh.get_issue(7)
    assert len(clock.sleeps) == 3
    for attempt, slept in enumerate(clock.sleeps):
        cap = 2.0**attempt
        assert cap / 2 <= slept <= cap  # exponential with jitter


def test_connection_refused_on_read_raises_unavailable(rsps, gh):
    for _ in range(4):
        rsps.get(f"{REPO}/issues/7", body=requests.exceptions.ConnectionError("connection reset by peer"))
    with pytest.raises(Unavailable, match="cannot reach GitHub"):
        gh.get_issue(7)


def test_connection_reset_on_comment_raises_ambiguous_write_without_resending(rsps, gh):
    rsps.post(
        f"{REPO}/issues/7/comments", body=requests.exceptions.ConnectionError("connection reset by peer")
    )
    with pytest.raises(AmbiguousWrite):
        gh.create_comment(7, "x")
    assert gh.writes == 1


def test_not_found_and_bad_credentials_translate(rsps, gh):
    rsps.get(f"{REPO}/issues/99", status=404, json={"message": "Not Found"})
    rsps.get(f"{REPO}/issues/98", status=401, json={"message": "Bad credentials"})
    with pytest.raises(NotFound, match="#99"):
        gh.get_issue(99)
    with pytest.raises(Forbidden, match="credentials"):
        gh.get_issue(98)


def test_writes_are_spaced_by_the_write_interval(rsps, clock):
    gh = make_client(clock, write_interval_s=1.0)
    rsps.post(f"{REPO}/issues/7/comments", status=201, json=fixture("comment"))
    rsps.post(f"{REPO}/issues/7/comments", status=201, json=fixture("comment"))
    gh.create_comment(7, "a")
    gh.create_comment(7, "b")
    assert clock.sleeps == [1.0]


# ----- comments


def test_upsert_comment_edits_our_marked_comment(rsps, gh):
    rsps.get(f"{BASE}/user", json={"login": "crashbot-uploader[bot]"})
    theirs = fixture("comment", id=1, user={"login": "mallory"}, body="<!-- crashbot:seen-again -->\nfake")
    ours = fixture("comment", id=2)
    rsps.get(f"{REPO}/issues/7/comments", json=[theirs, ours])
    new_body = "<!-- crashbot:seen-again -->\nSeen again **5** times"
    rsps.patch(
        f"{REPO}/issues/comments/2",
        json=fixture("comment", id=2, body=new_body),
        match=[matchers.json_params_matcher({"body": new_body})],
    )
    comment, created = gh.upsert_comment(7, "<!-- crashbot:seen-again -->", "Seen again **5** times")
    assert (comment.id, created) == (2, False)


def test_upsert_comment_without_ours_creates_it(rsps, gh):
    rsps.get(f"{BASE}/user", json={"login": "crashbot-uploader[bot]"})
    rsps.get(f"{REPO}/issues/7/comments", json=[])
    rsps.post(
        f"{REPO}/issues/7/comments",
        status=201,
        json=fixture("comment", id=3),
        match=[matchers.json_params_matcher({"body": "<!-- m -->\nhello"})],
    )
    assert gh.upsert_comment(7, "<!-- m -->", "hello")[1] is True


# ----- refs, compare


def test_get_ref_sha_present_and_absent(rsps, gh):
    rsps.get(f"{REPO}/git/ref/heads/crashfix/0123456789abcdef", json=fixture("ref"))
    rsps.get(f"{REPO}/git/ref/heads/crashfix/none", status=404, json={"message": "Not Found"})
    assert gh.get_ref_sha("crashfix/0123456789abcdef") == "1" * 40
    assert gh.get_ref_sha("crashfix/none") is None


def test_create_update_delete_ref_send_github_shapes(rsps, gh):
    rsps.post(
        f"{REPO}/git/refs",
        status=201,
        json=fixture("ref"),
        match=[matchers.json_params_matcher({"ref": "refs/heads/crashfix/x", "sha": "1" * 40})],
    )
    rsps.patch(
        f"{REPO}/git/refs/heads/crashfix/x",
        json=fixture("ref"),
        match=[matchers.json_params_matcher({"sha": "2" * 40, "force": True})],
    )
    rsps.delete(f"{REPO}/git/refs/heads/crashfix/x", status=204)
    rsps.delete(f"{REPO}/git/refs/heads/crashfix/x", status=422, json={"message": "Reference does not exist"})
    gh.create_ref("crashfix/x", "1" * 40)
    gh.update_ref("crashfix/x", "2" * 40, force=True)
    assert gh.delete_ref("crashfix/x") is True
    assert gh.delete_ref("crashfix/x") is False


def test_compare_returns_commits_with_login_or_git_name(rsps, gh):
    rsps.get(f"{REPO}/compare/aaaa...bbbb", json=fixture("compare"))
    assert gh.compare("aaaa", "bbbb") == [
        CommitRef("4" * 40, "Core/Maps: guard null map", "janedev"),
        CommitRef("5" * 40, "Scripts: tidy", "Old Timer"),
    ]


# ----- pulls


def test_create_pull_existing_open_pr_is_returned_without_write(rsps, gh):
    rsps.get(
        f"{REPO}/pulls",
        json=[fixture("pull")],
        match=[
            matchers.query_param_matcher(
                {"head": "o:crashfix/0123456789abcdef", "state": "open", "per_page": "100"}
            )
        ],
    )
    pull = gh.create_pull("crashfix/0123456789abcdef", "master", "Fix", "Fixes #7")
    assert (pull.number, pull.head_sha, pull.mergeable) == (9, "1" * 40, None)
    assert gh.writes == 0


def test_ensure_pull_absent_opens_draft(rsps, gh):
    rsps.get(f"{REPO}/pulls", json=[])
    rsps.post(
        f"{REPO}/pulls",
        status=201,
        json=fixture("pull", draft=True),
        match=[
            matchers.json_params_matcher(
                {"head": "crashfix/x", "base": "master", "title": "Fix", "body": "b", "draft": True}
            )
        ],
    )
    pull, created = gh.ensure_pull("crashfix/x", "master", "Fix", "b", draft=True)
    assert created and pull.draft


def test_ensure_pull_already_exists_422_returns_the_existing_one(rsps, gh):
    rsps.get(f"{REPO}/pulls", json=[])
    rsps.post(
        f"{REPO}/pulls",
        status=422,
        json={
            "message": "Validation Failed",
            "errors": [{"message": "A pull request already exists for o:crashfix/x."}],
        },
    )
    rsps.get(f"{REPO}/pulls", json=[fixture("pull")])
    assert gh.ensure_pull("crashfix/x", "master", "Fix", "b") == (PullRef.from_json(fixture("pull")), False)


def test_merge_pull_not_mergeable_raises_conflict(rsps, gh):
    rsps.put(f"{REPO}/pulls/9/merge", status=405, json={"message": "Pull Request is not mergeable"})
    with pytest.raises(Conflict, match="not mergeable"):
        gh.merge_pull(9)


def test_merge_pull_ambiguous_but_merged_reports_success(rsps, gh):
    rsps.put(
        f"{REPO}/pulls/9/merge",
        status=502,
        json={"message": "bad gateway"},
        match=[matchers.json_params_matcher({"merge_method": "squash", "sha": "1" * 40})],
    )
    rsps.get(f"{REPO}/pulls/9", json=fixture("pull", merged=True, state="closed", merge_commit_sha="6" * 40))
    result = gh.merge_pull(9, method="squash", sha="1" * 40)
    assert (result.merged, result.sha) == (True, "6" * 40)


# ----- deployments, identity


def test_deployment_and_status_send_github_shapes(rsps, gh):
    rsps.post(
        f"{REPO}/deployments",
        status=201,
        json=fixture("deployment"),
        match=[
            matchers.json_params_matcher(
                {
                    "ref": "master",
                    "environment": "realm-main",
                    "description": "crash fix for #7",
                    "payload": {"issues": [7]},
                    "auto_merge": False,
                    "required_contexts": [],
                    "transient_environment": False,
                }
            )
        ],
    )
    rsps.post(
        f"{REPO}/deployments/555/statuses",
        status=201,
        json={
            "id": 1,
            "state": "success",
            "description": "live",
            "environment_url": "",
            "log_url": "https://l",
        },
        match=[
            matchers.json_params_matcher({"state": "success", "description": "live", "log_url": "https://l"})
        ],
    )
    rsps.get(f"{REPO}/deployments", json=[fixture("deployment")])
    deployment = gh.create_deployment("master", "realm-main", "crash fix for #7", {"issues": [7]})
    assert (deployment.id, deployment.sha, deployment.payload) == (555, "3" * 40, {"issues": [7]})
    assert gh.create_deployment_status(555, "success", "live", log_url="https://l").state == "success"
    assert [d.id for d in gh.list_deployments("realm-main")] == [555]


def test_token_info_reports_scopes_permissions_and_budget(rsps, gh):
    rsps.get(
        REPO,
        json=fixture("repo"),
        headers={
            "X-OAuth-Scopes": "repo, workflow",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
        },
    )
    rsps.get(f"{BASE}/user", json={"login": "ops"})
    info = gh.token_scopes_or_permissions()
    assert info.scopes == ("repo", "workflow")
    assert info.repo_permissions["push"] is True
    assert (info.login, info.rate_limit, info.rate_remaining) == ("ops", 5000, 4999)


def test_collaborator_permission_unknown_user_is_none(rsps, gh):
    rsps.get(f"{REPO}/collaborators/alice/permission", json={"permission": "write", "role_name": "maintain"})
    rsps.get(f"{REPO}/collaborators/ghost/permission", status=404, json={"message": "Not Found"})
    assert gh.collaborator_permission("alice") == "maintain"
    assert gh.collaborator_permission("ghost") == "none"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/api/v3", True),
        ("http://localhost/api/v3", True),
        ("http://[::1]:9/api/v3", True),
        ("https://api.github.com", False),
        ("https://ghe.example.com/api/v3", False),
        ("http://10.0.0.5/api/v3", False),
    ],
)
def test_is_loopback_only_for_this_machine(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_connect_deferred_checks_credentials_now_but_loads_pygithub_on_first_request() -> None:
    """An idle `crashbot watch` must not carry PyGithub (~17 MB with jwt and cryptography)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from bot.config import GitHubSettings\n"
        "from bot.github import connect\n"
        "c = connect(GitHubSettings(repo='o/r'), env={'CRASHBOT_TOKEN': 't'}, defer=True)\n"
        "print('github' in sys.modules, 'jwt' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    with pytest.raises(ConfigError, match="no GitHub token"):
        connect(GitHubSettings(repo="o/r"), env={}, defer=True)


@responses.activate
def test_connect_deferred_client_works_on_first_request() -> None:
    responses.get(f"{BASE}/repos/o/r", json=fixture("repo"))
    client = connect(GitHubSettings(repo="o/r", api_url=API), env={"CRASHBOT_TOKEN": "t"}, defer=True)
    assert client.repo_info().full_name == "o/r"


# ---------------------------------------------------------------------------------------------------
# start_check: what `crashbot watch` asks before it starts (issue 14)


def test_start_check_app_auth_is_left_to_the_first_upload(tmp_path: Path) -> None:
    """Asking as an App needs a signed JWT (cryptography in the idle watcher), and unauthenticated reads
    of a private repository answer 404: the start check must neither ask nor refuse."""
    settings = GitHubSettings(repo="o/r", api_url="http://127.0.0.1:9", app_id="12", app_installation_id="42")
    check = start_check(settings, env={"CRASHBOT_APP_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----"})
    assert check.reachable and not check.checked


def test_start_check_installation_token_has_no_login_but_passes(standin: StandIn) -> None:
    standin.add_token("ghs_installation", "app", kind="Bot")  # GET /user answers 403, as on GitHub
    check = start_check(
        GitHubSettings(repo=STANDIN_REPO, api_url=standin.api_url), env={"CRASHBOT_TOKEN": "ghs_installation"}
    )
    assert check.reachable and check.checked and check.login == ""


def test_start_check_server_error_is_unreachable_not_a_refusal(standin: StandIn) -> None:
    standin.add_token("ghp_t", "alice")
    standin.inject(Fault.outage(requests=5))
    check = start_check(
        GitHubSettings(repo=STANDIN_REPO, api_url=standin.api_url), env={"CRASHBOT_TOKEN": "ghp_t"}
    )
    assert not check.reachable and check.reason.startswith("HTTP 5")
