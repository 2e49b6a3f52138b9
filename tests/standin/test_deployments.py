"""Deployments and their statuses on the stand-in."""

from __future__ import annotations

import pytest
import requests
from github import Github, GithubException

from bot.standin import StandIn
from tests.standin.conftest import LOGIN, REPO, Clone


def test_create_deployment_resolves_ref_to_sha_and_keeps_payload(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    main = repo.get_branch("main").commit.sha

    deployment = repo.create_deployment(
        "main",
        environment="realm-main",
        description="crash fix",
        payload={"issues": [1]},
        required_contexts=[],
    )

    assert (deployment.sha, deployment.ref, deployment.environment, deployment.task) == (
        main,
        "main",
        "realm-main",
        "deploy",
    )
    assert deployment.payload == {"issues": [1]}
    assert (deployment.creator.login, deployment.production_environment) == (LOGIN, False)


def test_create_deployment_unknown_ref_is_422(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).create_deployment("no-such-branch", required_contexts=[])

    assert caught.value.status == 422


def test_create_deployment_with_required_contexts_is_409_without_statuses(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).create_deployment("main", required_contexts=["ci/build"])

    assert caught.value.status == 409


def test_list_deployments_newest_first_and_filtered_by_environment(gh: Github) -> None:
    repo = gh.get_repo(REPO)
    first = repo.create_deployment("main", environment="production", required_contexts=[])
    repo.create_deployment("main", environment="staging", required_contexts=[])
    third = repo.create_deployment("main", environment="production", required_contexts=[])

    ids = [d.id for d in repo.get_deployments(environment="production")]

    assert ids == [third.id, first.id]


def test_deployment_statuses_are_listed_newest_first_with_urls(gh: Github) -> None:
    deployment = gh.get_repo(REPO).create_deployment("main", required_contexts=[])

    deployment.create_status("in_progress", description="stopping worldserver")
    deployment.create_status(
        "success",
        description="healthy",
        environment_url="http://game.example",
        target_url="http://runner.example/log",
    )

    statuses = list(deployment.get_statuses())
    assert [s.state for s in statuses] == ["success", "in_progress"]
    assert (statuses[0].environment_url, statuses[0].target_url, statuses[0].description) == (
        "http://game.example",
        "http://runner.example/log",
        "healthy",
    )


def test_deployment_status_unknown_state_is_422(standin: StandIn, http: requests.Session) -> None:
    created = http.post(
        f"{standin.api_url}/repos/{REPO}/deployments", json={"ref": "main", "required_contexts": []}
    ).json()

    answer = http.post(f"{created['url']}/statuses", json={"state": "exploded"})
    logged = http.post(
        f"{created['url']}/statuses", json={"state": "failure", "log_url": "http://runner/log"}
    )

    assert answer.status_code == 422
    assert (logged.status_code, logged.json()["log_url"], logged.json()["target_url"]) == (
        201,
        "http://runner/log",
        "",
    )


def test_success_status_marks_earlier_successful_deployment_inactive(standin: StandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    old = repo.create_deployment("main", required_contexts=[])
    old.create_status("success")
    new = repo.create_deployment("main", required_contexts=[])

    new.create_status("success")

    assert [s.state for s in old.get_statuses()] == ["inactive", "success"]
    assert [s["state"] for s in standin.deployments(REPO)[0]["statuses"]] == ["success"]


def test_deploying_behind_branch_auto_merges_default_branch_with_202(
    standin: StandIn, http: requests.Session, clone: Clone
) -> None:
    clone.checkout("topic", new=True)
    clone.commit("topic.txt", "t\n", "topic")
    clone.push("topic")
    clone.checkout("main")
    clone.commit("main.txt", "m\n", "main moves")
    clone.push("main")

    answer = http.post(f"{standin.api_url}/repos/{REPO}/deployments", json={"ref": "topic"})
    again = http.post(f"{standin.api_url}/repos/{REPO}/deployments", json={"ref": "topic"})

    assert (answer.status_code, answer.json()["message"]) == (
        202,
        "Auto-merged main into topic on deployment.",
    )
    assert again.status_code == 201
