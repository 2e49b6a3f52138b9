"""Who is calling and what they may do: tokens, GitHub App JWTs, installation tokens, repo access checks."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from typing import Any

from bot.standin.errors import StandInError
from bot.standin.payloads import Urls, user_json
from bot.standin.routing import Router
from bot.standin.state import PERMISSIONS, App, Repo, World, iso
from bot.standin.wire import ApiError, Identity, Request, Response, not_found

logger = logging.getLogger(__name__)

INSTALLATION_TOKEN_TTL_S = 3600
# GitHub refuses App JWTs that live longer than ten minutes
MAX_JWT_LIFETIME_S = 600
CLOCK_SKEW_S = 60
INSTALLATION_PERMISSIONS = {
    "contents": "write",
    "deployments": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}

try:
    import jwt as _jwt
except ImportError:  # PyJWT comes with PyGithub; without it JWT signatures cannot be checked
    _jwt = None  # type: ignore[assignment]


def bot_login(login: str) -> str:
    return login if login.endswith("[bot]") else f"{login}[bot]"


def bad_credentials() -> ApiError:
    return ApiError(401, "Bad credentials")


def authenticate(world: World, header: str | None) -> Identity | None:
    """The identity behind an ``Authorization`` header; None when absent; 401 when unknown or expired."""
    if not header:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() not in ("token", "bearer") or not credential:
        raise bad_credentials()
    if credential.count(".") == 2 and world.apps:
        return _verify_app_jwt(world, credential)
    identity = world.tokens.get(credential)
    if identity is None:
        raise bad_credentials()
    expiry = world.token_expiry.get(credential)
    if expiry is not None and world.now() >= expiry:
        raise bad_credentials()
    return identity


def _verify_app_jwt(world: World, token: str) -> Identity:
    claims = _jwt_claims(token)
    app = world.apps.get(str(claims.get("iss")))
    if app is None:
        raise ApiError(401, "A JSON web token could not be decoded")
    if _jwt is not None and app.public_key_pem:
        try:
            # expiry is checked below against the stand-in's clock, which tests may move
            _jwt.decode(
                token,
                app.public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
        except _jwt.PyJWTError as exc:
            raise ApiError(401, f"A JSON web token could not be decoded ({exc})") from exc
    now = world.now()
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise ApiError(401, "'Issued at' and 'Expiration time' claims are required in the JWT")
    if expires <= now:
        raise ApiError(
            401, "'Expiration time' claim ('exp') must be a numeric value representing the future time"
        )
    if issued > now + CLOCK_SKEW_S or expires - issued > MAX_JWT_LIFETIME_S:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    return Identity(
        login=app.login, user_id=world.user(app.login, kind="Bot").user_id, kind="Bot", app_id=app.app_id
    )


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError) as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    if not isinstance(claims, dict):
        raise ApiError(401, "A JSON web token could not be decoded")
    return claims


def public_key_of(private_key_pem: str) -> str:
    """The PEM public key of an App's private key; without ``cryptography``, JWTs go unverified."""
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return ""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise StandInError(
            f"App private key is not an unencrypted PEM key ({exc}); pass the App's .pem text"
        ) from exc
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def forbidden_for(identity: Identity) -> ApiError:
    """GitHub's wording depends on the kind of credential that lacked the permission."""
    if identity.kind == "Bot":
        return ApiError(403, "Resource not accessible by integration")
    return ApiError(403, "Resource not accessible by personal access token")


def visible_repo(world: World, request: Request) -> Repo:
    """The request's repo; 404 if absent or hidden from the caller (GitHub hides private repos)."""
    repo = world.repo(request.params["owner"], request.params["repo"])
    if request.identity is not None and request.identity.is_app_jwt:
        # an App's JWT only reaches /app endpoints and the installation lookup
        raise forbidden_for(request.identity)
    if world.permission(repo, request.identity) == "none":
        raise not_found()
    return repo


def writable_repo(world: World, request: Request, *, role: str = "write") -> Repo:
    """The request's repo when the caller holds at least ``role`` on it, else 403 like GitHub."""
    repo = visible_repo(world, request)
    actor = request.actor()
    if PERMISSIONS.index(world.permission(repo, actor)) < PERMISSIONS.index(role):
        raise forbidden_for(actor)
    return repo


class AuthApi:
    """``/user``, the App installation lookup, installation tokens, and collaborator permissions."""

    def __init__(self, world: World, urls: Urls) -> None:
        self.world = world
        self.urls = urls

    def register(self, router: Router) -> None:
        router.add("GET", "/user", self.get_user)
        router.add("GET", "/users/{username}", self.get_named_user)
        router.add("GET", "/repos/{owner}/{repo}/installation", self.get_repo_installation)
        router.add("POST", "/app/installations/{installation_id}/access_tokens", self.create_access_token)
        router.add("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", self.get_permission)

    def get_user(self, request: Request) -> Response:
        actor = request.actor()
        if actor.kind == "Bot":
            raise forbidden_for(actor)
        body = user_json(self.urls, actor)
        body.update({"name": actor.login, "email": None, "created_at": iso(0), "updated_at": iso(0)})
        return Response(200, body)

    def get_named_user(self, request: Request) -> Response:
        user = self.world.users.get(request.params["username"].lower())
        if user is None:
            raise not_found()
        body = user_json(self.urls, user)
        body.update({"name": None, "created_at": iso(0), "updated_at": iso(0)})
        return Response(200, body)

    def _app_of(self, request: Request) -> App:
        actor = request.actor()
        if not actor.is_app_jwt or actor.app_id is None:
            raise ApiError(
                401,
                "A JSON web token could not be decoded",
                documentation_url="https://docs.github.com/rest/apps/apps",
            )
        return self.world.apps[actor.app_id]

    def get_repo_installation(self, request: Request) -> Response:
        app = self._app_of(request)
        repo = self.world.repo(request.params["owner"], request.params["repo"])
        if not app.installations:
            raise not_found()
        installation_id = sorted(app.installations)[0]
        return Response(200, self._installation_json(app, installation_id, repo))

    def _installation_json(self, app: App, installation_id: str, repo: Repo) -> dict[str, Any]:
        return {
            "id": int(installation_id) if installation_id.isdigit() else installation_id,
            "account": user_json(self.urls, repo.owner),
            "repository_selection": "selected",
            "access_tokens_url": f"{self.urls.api}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.urls.api}/installation/repositories",
            "html_url": f"{self.urls.web}/settings/installations/{installation_id}",
            "app_id": int(app.app_id) if app.app_id.isdigit() else app.app_id,
            "app_slug": app.login.removesuffix("[bot]"),
            "target_id": repo.owner.user_id,
            "target_type": repo.owner.kind,
            "permissions": dict(INSTALLATION_PERMISSIONS),
            "events": ["issues", "issue_comment", "pull_request", "push"],
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.created_at),
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def create_access_token(self, request: Request) -> Response:
        app = self._app_of(request)
        installation_id = request.params["installation_id"]
        if installation_id not in app.installations:
            raise not_found()
        # GitHub's stateless installation tokens are ~520 characters: never assume 40
        token = f"ghs_{app.app_id}_{secrets.token_urlsafe(372)}"
        expires = self.world.now() + INSTALLATION_TOKEN_TTL_S
        identity = Identity(
            login=app.login,
            user_id=self.world.user(app.login, kind="Bot").user_id,
            kind="Bot",
            app_id=app.app_id,
            installation_id=installation_id,
        )
        self.world.tokens[token] = identity
        self.world.token_expiry[token] = expires
        body = request.json_object()
        permissions = body.get("permissions") or dict(INSTALLATION_PERMISSIONS)
        return Response(
            201,
            {
                "token": token,
                "expires_at": iso(expires),
                "permissions": permissions,
                "repository_selection": "selected",
            },
        )

    def get_permission(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        login = request.params["username"]
        user = self.world.users.get(login.lower())
        if user is None:
            raise not_found()
        holds_token = any(identity.login.lower() == login.lower() for identity in self.world.tokens.values())
        permission = repo.permissions.get(login.lower(), "admin" if holds_token else "none")
        # the legacy "permission" field folds maintain into write and triage into read
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        return Response(
            200,
            {"permission": legacy, "role_name": permission, "user": user_json(self.urls, user)},
        )


def register_app(world: World, app_id: str, installation_id: str, private_key_pem: str, login: str) -> None:
    app = world.apps.get(app_id)
    if app is None:
        app = App(app_id=app_id, login=bot_login(login), public_key_pem=public_key_of(private_key_pem))
        world.apps[app_id] = app
        world.user(app.login, kind="Bot")
    app.installations.add(installation_id)


def register_token(world: World, token: str, login: str, kind: str) -> None:
    if kind not in ("User", "Bot"):
        raise StandInError(f"token kind {kind!r} is not User or Bot; pass kind='User' or kind='Bot'")
    if not token:
        raise StandInError("an empty token cannot authenticate; pass a non-empty string")
    final_login = bot_login(login) if kind == "Bot" else login
    world.tokens[token] = world.user(final_login, kind=kind)
    logger.debug("stand-in token registered for %s", final_login)
