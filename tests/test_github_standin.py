"""bot.github end to end against the loopback GitHub stand-in (real HTTP, real PyGithub, injected faults)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.config import GitHubSettings
from bot.crash.model import Crash
from bot.github import AmbiguousWrite, GitHubClient, IssueRef, RateLimited, Unavailable, connect
from bot.issue import Occurrences, labels_for, read_payload, render_body, render_title
from bot.standin import Fault, StandIn
from bot.vocabulary import LABEL_SPECS, SEEN_AGAIN, sig_label
from tests.conftest import StandInSetup
from tests.crashes import make_crash
from tests.fakes import T0, FakeClock

REPO = "acme/worldserver"
KEY = b"signing-key-for-tests"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def standin_setup(clock: FakeClock) -> StandInSetup:
    return StandInSetup(repo=REPO, token="uploader-token", login="crashbot-uploader", clock=clock.time)


def client_for(standin: StandIn, clock: FakeClock, *, max_wait: float = 900.0) -> GitHubClient:
    return connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, max_rate_limit_wait_s=max_wait, timeout_s=5),
        env={"CRASHBOT_TOKEN": "uploader-token"},
        sleep=clock.sleep,
        clock=clock.time,
        rng=random.Random(1),
        write_interval_s=0,
    )


@pytest.fixture
def gh(standin: StandIn, clock: FakeClock) -> GitHubClient:
    return client_for(standin, clock)


def file_crash(gh: GitHubClient) -> tuple[Crash, tuple[IssueRef, bool]]:
    crash = make_crash()
    occ = Occurrences().record(datetime(2024, 5, 1, tzinfo=UTC), host="game1")
    labels = labels_for(crash, realm="main")
    body = render_body(crash, occ, repo=REPO, payload_key=KEY)
    return crash, gh.ensure_issue(sig_label(crash.signature.id), render_title(crash), body, labels)


def test_standin_crash_issue_round_trip_verifies_and_dedups(standin, gh):
    gh.ensure_labels(LABEL_SPECS)
    crash, (issue, created) = file_crash(gh)
    assert created
    assert issue.author == "crashbot-uploader[bot]"
    assert read_payload(gh.get_issue(issue.number).body, KEY).signature == crash.signature
    again, created_again = file_crash(gh)[1]
    assert (again.number, created_again) == (issue.number, False)
    assert len(standin.issues(REPO)) == 1


def test_standin_502_after_commit_files_exactly_one_issue(standin, gh):
    standin.inject(Fault.error_after_commit("POST", "/repos/*/issues"))
    _, (issue, created) = file_crash(gh)
    assert created
    assert [i["number"] for i in standin.issues(REPO)] == [issue.number]


def test_standin_error_before_commit_retries_the_create(standin, gh):
    standin.inject(Fault.error_before_commit("POST", "/repos/*/issues", status=500))
    file_crash(gh)
    assert len(standin.issues(REPO)) == 1
    assert gh.writes == 2


def test_standin_secondary_limit_with_retry_after_is_waited_out(standin, gh, clock):
    standin.inject(Fault.secondary_limit("GET", "/repos/*/issues", retry_after=7))
    assert gh.find_issues(["crash"]) == []
    assert clock.sleeps == [7.0]


def test_standin_primary_limit_beyond_cap_raises_rate_limited(standin, clock):
    gh = client_for(standin, clock, max_wait=30)
    standin.inject(Fault.primary_limit("GET", "/repos/*/issues", reset_in_s=3600))
    with pytest.raises(RateLimited) as info:
        gh.find_issues(["crash"])
    assert info.value.retry_at >= T0 + 3600
    assert clock.sleeps == []


def test_standin_429_without_retry_after_waits_a_minute(standin, gh, clock):
    standin.inject(Fault.too_many_requests("GET", "/repos/*/issues", retry_after=None))
    gh.find_issues(["crash"])
    assert clock.sleeps == [60.0]


def test_standin_outage_raises_unavailable_for_reads(standin, gh):
    standin.inject(Fault.outage(requests=10))
    with pytest.raises(Unavailable):
        gh.repo_info()


def test_standin_dropped_connection_on_comment_is_ambiguous(standin, gh):
    _, (issue, _) = file_crash(gh)
    standin.inject(Fault.outage(requests=1, drop_connection=True, method="POST", path="/repos/*/comments"))
    with pytest.raises((AmbiguousWrite, Unavailable)):
        gh.create_comment(issue.number, "hello")


def test_standin_upsert_comment_keeps_one_comment(standin, gh):
    _, (issue, _) = file_crash(gh)
    gh.upsert_comment(issue.number, SEEN_AGAIN.tag, "seen 2 times")
    comment, created = gh.upsert_comment(issue.number, SEEN_AGAIN.tag, "seen 3 times")
    assert not created
    assert comment.body.endswith("seen 3 times")
    assert len(standin.comments(REPO, issue.number)) == 1


def test_standin_branch_pull_merge_and_deployment(standin, gh):
    info = gh.repo_info()
    base_sha = gh.get_ref_sha(info.default_branch)
    assert base_sha
    assert gh.get_ref_sha("crashfix/none") is None
    gh.create_ref("crashfix/abc", base_sha)
    assert gh.get_ref_sha("crashfix/abc") == base_sha
    assert gh.compare(info.default_branch, "crashfix/abc") == []
    assert gh.delete_ref("crashfix/abc") is True
    assert gh.delete_ref("crashfix/abc") is False
    deployment = gh.create_deployment(info.default_branch, "realm-main", "deploy", {"issues": [1]})
    assert deployment.sha == base_sha
    assert gh.create_deployment_status(deployment.id, "success", "live").state == "success"
    assert [d.id for d in gh.list_deployments("realm-main")] == [deployment.id]


def test_standin_whoami_user_token_is_its_login_and_installation_token_is_unknown(standin, gh, clock):
    standin.add_token("ops-token", "ops")
    user = connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url),
        env={"GITHUB_TOKEN": "ops-token"},
        write_interval_s=0,
    )
    assert user.whoami() == "ops"
    assert gh.whoami() == ""  # a bot token: GET /user is 403, as for an App installation token


def test_standin_collaborator_permission(standin, gh):
    standin.add_token("reader-token", "reader")
    standin.set_permission(REPO, "reader", "read")
    assert gh.collaborator_permission("reader") == "read"


@pytest.fixture
def app_standin(tmp_path):
    """A stand-in that knows a GitHub App, and that App's private key (PEM).

    JWTs carry real timestamps, so this stand-in keeps real time."""
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with StandIn(tmp_path / "gh-app") as standin:
        standin.add_repo(REPO, auto_init=True)
        standin.add_app("12", "42", pem, login="crashbot-app")
        yield standin, pem


def _app_client(standin, pem):
    return connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, app_id="12", app_installation_id="42"),
        env={"CRASHBOT_APP_PRIVATE_KEY": pem},
        write_interval_s=0,
    )


def test_standin_app_auth_files_issue_as_the_app(app_standin):
    standin, pem = app_standin
    _, (issue, created) = file_crash(_app_client(standin, pem))
    assert created
    assert issue.author == "crashbot-app[bot]"


def test_standin_app_installation_token_acts_as_the_app(app_standin):
    """`git push` needs a token; with App auth it is the installation token, which acts as the App."""
    standin, pem = app_standin
    token = _app_client(standin, pem).installation_token()
    as_token = connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url), env={"CRASHBOT_TOKEN": token}, write_interval_s=0
    )
    _, (issue, _) = file_crash(as_token)
    assert token and token != pem
    assert issue.author == "crashbot-app[bot]"


def test_token_client_installation_token_is_the_token_itself(standin, gh):
    assert gh.installation_token() == gh._requester.auth.token
