"""GitHub App authentication against the stand-in, through PyGithub's own AppAuth flow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from github import Auth, Github, GithubException

from bot.standin import StandIn
from tests.standin.conftest import REPO

pytest.importorskip("jwt")
rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")

APP_ID = "123456"
INSTALLATION_ID = 42


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@pytest.fixture(scope="module")
def app_key() -> str:
    return _pem()


@pytest.fixture
def app_standin(standin: StandIn, app_key: str) -> StandIn:
    standin.add_app(APP_ID, str(INSTALLATION_ID), app_key, login="crashbot")
    return standin


def _client(standin: StandIn, key: str) -> Github:
    auth = Auth.AppAuth(APP_ID, key).get_installation_auth(INSTALLATION_ID)
    return Github(
        base_url=standin.api_url,
        auth=auth,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_app_installation_auth_creates_issue_as_bot(app_standin: StandIn, app_key: str) -> None:
    issue = _client(app_standin, app_key).get_repo(REPO).create_issue("crash")

    assert (issue.user.login, issue.user.type) == ("crashbot[bot]", "Bot")
    paths = [(r.method, r.path) for r in app_standin.requests]
    assert ("POST", f"/app/installations/{INSTALLATION_ID}/access_tokens") in paths


def _installation_token(standin: StandIn, key: str) -> str:
    auth = Auth.AppAuth(APP_ID, key).get_installation_auth(INSTALLATION_ID)
    Github(base_url=standin.api_url, auth=auth, retry=None).get_repo(REPO)
    return auth.token


def test_installation_token_is_long_stateless_style(app_standin: StandIn, app_key: str) -> None:
    token = _installation_token(app_standin, app_key)

    assert token.startswith(f"ghs_{APP_ID}_")
    assert len(token) > 400


def test_jwt_signed_by_another_key_is_401(app_standin: StandIn) -> None:
    with pytest.raises(GithubException) as caught:
        _client(app_standin, _pem()).get_repo(REPO)

    assert caught.value.status == 401
    assert not any(r.path.endswith("/access_tokens") and r.status == 201 for r in app_standin.requests)


def test_installation_token_cannot_read_user_endpoint(app_standin: StandIn, app_key: str) -> None:
    token = _installation_token(app_standin, app_key)

    answer = requests.get(f"{app_standin.api_url}/user", headers={"Authorization": f"token {token}"})

    assert (answer.status_code, answer.json()["message"]) == (403, "Resource not accessible by integration")


def test_app_jwt_alone_cannot_read_repository_content(app_standin: StandIn, app_key: str) -> None:
    jwt = Auth.AppAuth(APP_ID, app_key).create_jwt()

    answer = requests.get(
        f"{app_standin.api_url}/repos/{REPO}/issues", headers={"Authorization": f"Bearer {jwt}"}
    )

    assert answer.status_code == 403


def test_expired_installation_token_is_401(tmp_path: Path, app_key: str) -> None:
    now = [time.time()]
    with StandIn(tmp_path / "exp", clock=lambda: now[0]) as server:
        server.add_repo(REPO)
        server.add_app(APP_ID, str(INSTALLATION_ID), app_key, login="crashbot")
        token = _installation_token(server, app_key)
        now[0] += 3601

        answer = requests.get(f"{server.api_url}/repos/{REPO}", headers={"Authorization": f"token {token}"})

    assert (answer.status_code, answer.json()["message"]) == (401, "Bad credentials")
