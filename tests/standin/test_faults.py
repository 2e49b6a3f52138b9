"""Injected faults and the rate-limit model, observed through PyGithub and the raw wire."""

from __future__ import annotations

import pytest
import requests
from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException

from bot.standin import Fault, Limits, StandIn, StandInError
from tests.fakes import FakeClock
from tests.standin.conftest import REPO, TOKEN, make_client

ISSUES = f"/repos/{REPO}/issues"


def headers_of(exc: GithubException) -> dict[str, str]:
    assert exc.headers is not None
    return exc.headers


def test_secondary_limit_fault_is_403_with_retry_after(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.secondary_limit("POST", ISSUES, retry_after=17))

    with pytest.raises(RateLimitExceededException) as caught:
        repo.create_issue("t")

    assert caught.value.status == 403
    assert headers_of(caught.value)["retry-after"] == "17"
    assert "secondary rate limit" in caught.value.data["message"]
    assert standin.issues(REPO) == []
    assert repo.create_issue("t").number == 1


def test_secondary_limit_fault_without_retry_after_has_no_header(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.secondary_limit("POST", ISSUES, retry_after=None))

    with pytest.raises(RateLimitExceededException) as caught:
        repo.create_issue("t")

    assert "retry-after" not in headers_of(caught.value)


def test_primary_limit_fault_reports_zero_remaining_and_reset(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.primary_limit(reset_in_s=120))

    with pytest.raises(RateLimitExceededException) as caught:
        repo.get_issues().get_page(0)

    headers = headers_of(caught.value)
    assert caught.value.status == 403
    assert caught.value.data["message"].startswith("API rate limit exceeded for user ID")
    assert headers["x-ratelimit-remaining"] == "0"
    assert int(headers["x-ratelimit-reset"]) >= int(standin.requests[-1].time) + 120


@pytest.mark.parametrize("retry_after", [5, None])
def test_429_fault_with_and_without_retry_after(
    standin: StandIn, gh: Github, retry_after: int | None
) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.too_many_requests("POST", ISSUES, retry_after=retry_after))

    with pytest.raises(GithubException) as caught:
        repo.create_issue("t")

    assert caught.value.status == 429
    assert headers_of(caught.value).get("retry-after") == (str(retry_after) if retry_after else None)


def test_error_after_commit_creates_issue_but_answers_502(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.error_after_commit("POST", ISSUES))

    with pytest.raises(GithubException) as caught:
        repo.create_issue("crash", labels=["sig:abc"])

    assert caught.value.status == 502
    assert [i["title"] for i in standin.issues(REPO)] == ["crash"]
    assert standin.requests[-1].fault == "error-after-commit"


def test_error_after_commit_with_pygithub_default_retry_files_a_duplicate(standin: StandIn) -> None:
    """Why crashbot must make creates idempotent: PyGithub's GithubRetry retries a POST that got a 502."""
    client = Github(
        base_url=standin.api_url,
        auth=Auth.Token(TOKEN),
        retry=GithubRetry(total=2),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    standin.inject(Fault.error_after_commit("POST", ISSUES))

    client.get_repo(REPO).create_issue("crash")

    assert [i["title"] for i in standin.issues(REPO)] == ["crash", "crash"]


@pytest.mark.parametrize("status", [500, 503])
def test_error_before_commit_writes_nothing(standin: StandIn, gh: Github, status: int) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.error_before_commit("POST", ISSUES, status=status))

    with pytest.raises(GithubException) as caught:
        repo.create_issue("t")

    assert caught.value.status == status
    assert standin.issues(REPO) == []


def test_outage_by_request_count_answers_503_then_recovers(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.outage(requests=2))

    statuses = []
    for _ in range(3):
        try:
            repo.get_issues().get_page(0)
            statuses.append(200)
        except GithubException as exc:
            statuses.append(exc.status)

    assert statuses == [503, 503, 200]


def test_outage_by_seconds_lasts_until_clock_passes(timed: StandIn, clock: FakeClock) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    timed.inject(Fault.outage(seconds=30))

    during = [session.get(f"{timed.api_url}/repos/{REPO}").status_code for _ in range(3)]
    clock.advance(31)
    after = session.get(f"{timed.api_url}/repos/{REPO}").status_code

    assert (during, after) == ([503, 503, 503], 200)


def test_outage_dropping_connections_raises_connection_error(standin: StandIn) -> None:
    standin.inject(Fault.outage(requests=1, drop_connection=True))

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{standin.api_url}/repos/{REPO}", headers={"Authorization": f"token {TOKEN}"})

    assert standin.requests[-1].status == 0
    assert requests.get(f"{standin.api_url}/rate_limit").status_code == 200


def test_validation_fault_is_422_and_writes_nothing(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.validation("POST", ISSUES, message="Validation Failed"))

    with pytest.raises(GithubException) as caught:
        repo.create_issue("t")

    assert (caught.value.status, caught.value.data["message"]) == (422, "Validation Failed")
    assert standin.issues(REPO) == []


def test_fault_only_hits_matching_method_and_path(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.inject(Fault.error_before_commit("POST", f"{ISSUES}/*/comments"))

    issue = repo.create_issue("t")
    with pytest.raises(GithubException):
        issue.create_comment("c")

    assert standin.pending_faults() == []


def test_secondary_limit_model_refuses_81st_create_in_a_minute(timed: StandIn, clock: FakeClock) -> None:
    repo = make_client(timed.api_url).get_repo(REPO)
    for n in range(80):
        repo.create_issue(f"i{n}")

    with pytest.raises(RateLimitExceededException) as caught:
        repo.create_issue("one too many")
    clock.advance(int(headers_of(caught.value)["retry-after"]))
    repo.create_issue("after waiting")

    assert len(timed.issues(REPO)) == 81
    assert 1 <= int(headers_of(caught.value)["retry-after"]) <= 60


def test_secondary_limit_model_refuses_501st_create_in_an_hour(timed: StandIn, clock: FakeClock) -> None:
    timed.limits = Limits(content_per_minute=1000, content_per_hour=5)
    repo = make_client(timed.api_url).get_repo(REPO)
    for n in range(5):
        repo.create_issue(f"i{n}")
        clock.advance(61)

    with pytest.raises(RateLimitExceededException):
        repo.create_issue("sixth")
    clock.advance(3600)

    assert repo.create_issue("later").number == 6


def test_secondary_limit_model_can_be_switched_off(timed: StandIn) -> None:
    timed.limits = Limits(secondary=False, content_per_minute=1)
    repo = make_client(timed.api_url).get_repo(REPO)

    numbers = [repo.create_issue(f"i{n}").number for n in range(3)]

    assert numbers == [1, 2, 3]


def test_primary_budget_runs_out_and_resets_after_an_hour(timed: StandIn, clock: FakeClock) -> None:
    timed.limits = Limits(core_per_hour=3)
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    url = f"{timed.api_url}/repos/{REPO}"

    answers = [session.get(url) for _ in range(4)]
    clock.advance(3600)
    later = session.get(url)

    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].json()["message"].startswith("API rate limit exceeded")
    assert (later.status_code, later.headers["x-ratelimit-remaining"]) == (200, "2")


def test_rate_limit_endpoint_reports_budget_without_spending_it(standin: StandIn, gh: Github) -> None:
    gh.get_repo(REPO)

    first = gh.get_rate_limit().resources.core
    second = gh.get_rate_limit().resources.core

    assert (first.limit, first.remaining, second.remaining) == (5000, 4999, 4999)


def test_recorded_requests_count_writes(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    standin.clear_requests()

    issue = repo.create_issue("t")
    issue.create_comment("c")
    list(repo.get_issues())

    assert [(w.method, w.path) for w in standin.writes()] == [
        ("POST", ISSUES),
        ("POST", f"{ISSUES}/1/comments"),
    ]
    assert all(r.login == "uploader" for r in standin.requests)


def test_search_has_its_own_per_minute_budget(timed: StandIn, clock: FakeClock) -> None:
    timed.limits = Limits(search_per_minute=2)
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    url = f"{timed.api_url}/search/issues"

    answers = [session.get(url, params={"q": f"repo:{REPO}"}) for _ in range(3)]
    core = session.get(f"{timed.api_url}/repos/{REPO}")
    clock.advance(60)
    later = session.get(url, params={"q": f"repo:{REPO}"})

    assert [a.status_code for a in answers] == [200, 200, 403]
    assert {a.headers["x-ratelimit-resource"] for a in answers} == {"search"}
    assert (core.status_code, core.headers["x-ratelimit-resource"]) == (200, "core")
    assert later.status_code == 200


def test_fault_must_apply_to_at_least_one_request() -> None:
    with pytest.raises(StandInError):
        Fault.secondary_limit(times=0)
