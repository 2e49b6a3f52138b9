"""``StandIn``: a GitHub REST stand-in on loopback that PyGithub reaches through ``base_url``.

One ``ThreadingHTTPServer`` on 127.0.0.1 (port 0), serving under GitHub Enterprise's ``/api/v3`` prefix.
Each request goes: outage faults -> authentication -> injected faults -> primary budget -> secondary
(content-creation) limit -> handler under the world lock -> commit-then-fail faults -> headers -> record.
"""

from __future__ import annotations

import http
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.errors import GitError
from bot.standin.actions import ActionsApi, Dispatch
from bot.standin.auth import AuthApi, authenticate, register_app, register_token
from bot.standin.deployments import DeploymentsApi
from bot.standin.errors import StandInError
from bot.standin.faults import Fault, FaultKind, FaultQueue
from bot.standin.gitrepo import Person
from bot.standin.graphql import GraphqlApi
from bot.standin.issues import IssuesApi, comment_json, issue_json
from bot.standin.limits import (
    Budget,
    Limits,
    RateLimiter,
    is_content_creating,
    primary_limit_error,
    resource_of,
    secondary_limit_error,
)
from bot.standin.payloads import Urls, label_json
from bot.standin.pulls import PullsApi
from bot.standin.refs import RefsApi
from bot.standin.repos import ReposApi
from bot.standin.routing import Router
from bot.standin.state import PERMISSIONS, Clock, World, iso
from bot.standin.wire import WRITE_METHODS, ApiError, Identity, Request, Response, not_found

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"
_REPOSITORIES_RE = re.compile(r"\A/repositories/(?P<id>[0-9]+)(?P<rest>/.*)?\Z")
_STANDARD_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "x-github-api-version-selected": "2022-11-28",
    "x-github-media-type": "github.v3; format=json",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in answered (or dropped: ``status`` 0), for asserting write counts and rates."""

    method: str
    path: str  # under the API prefix, without the query
    query: Mapping[str, list[str]]
    status: int
    time: float
    is_write: bool
    login: str | None = None
    body: Any = None
    fault: str | None = None  # the injected fault that answered, if any
    request_id: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # response headers


@dataclass
class _Exchange:
    """One request as the stand-in reads it, and what it learns while answering (for the record)."""

    method: str
    path: str
    relative: str
    query: dict[str, list[str]]
    authorization: str | None
    now: float
    request_id: str
    identity: Identity | None = None
    budget: Budget | None = None
    body: Any = None
    fault: str | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _request_id() -> str:
    h = uuid.uuid4().hex.upper()
    return f"{h[0:4]}:{h[4:8]}:{h[8:14]}:{h[14:20]}:{h[20:28]}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], standin: StandIn) -> None:
        self.standin = standin
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; with Nagle on, keep-alive clients stall ~40 ms each
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        answer = self.server.standin.handle(self.command, self.path, self.headers.get("Authorization"), raw)
        if answer is None:
            # an injected dropped connection: close without a status line
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = _serve
    do_POST = _serve
    do_PATCH = _serve
    do_PUT = _serve
    do_DELETE = _serve
    do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("stand-in %s " + format, self.address_string(), *args)


class StandIn:
    """A local GitHub: context manager that serves the REST API on loopback until closed."""

    def __init__(
        self,
        root: Path,
        *,
        limits: Limits | None = None,
        clock: Clock = time.time,
        host: str = "127.0.0.1",
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.world = World(clock=clock)
        self._limiter = RateLimiter(limits or Limits(), clock)
        self._faults = FaultQueue()
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._server = _Server((host, 0), self)
        bound_host, port = self._server.server_address[:2]
        self.web_url = f"http://{bound_host!s}:{port}"
        self.api_url = f"{self.web_url}{API_PREFIX}"
        self.urls = Urls(self.api_url, self.web_url)
        self._pulls = PullsApi(self.world, self.urls)
        self._issues = IssuesApi(
            self.world,
            self.urls,
            search_lag_s=self._limiter.limits.search_lag_s,
            before_read=self._pulls.sync,
        )
        self._deployments = DeploymentsApi(self.world, self.urls)
        self._router = Router()
        for api in (
            ReposApi(self.world, self.urls, self._limiter),
            AuthApi(self.world, self.urls),
            self._issues,
            self._pulls,
            RefsApi(self.world, self.urls),
            self._deployments,
            ActionsApi(self.world, self.urls),
            GraphqlApi(self.world),
        ):
            api.register(self._router)
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> StandIn:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="standin", daemon=True
            )
            self._thread.start()
            logger.debug("stand-in serving %s", self.api_url)
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- setup --------------------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self._limiter.limits

    @limits.setter
    def limits(self, value: Limits) -> None:
        self._limiter.limits = value
        self._issues.search_lag_s = value.search_lag_s

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        bare_path: Path | None = None,
        private: bool = True,
        auto_init: bool = False,
    ) -> Path:
        """Create (or adopt) the bare repo behind ``full_name``; returns its path, usable as a git remote.

        ``auto_init`` commits a README on the default branch, like GitHub's "Initialize this repository".
        """
        owner, _, name = full_name.partition("/")
        path = Path(bare_path) if bare_path is not None else self.root / "repos" / owner / f"{name}.git"
        with self.world.lock:
            repo = self.world.add_repo(full_name, path, default_branch=default_branch, private=private)
            if auto_init and repo.git.resolve(f"refs/heads/{default_branch}") is None:
                date = iso(self.world.now()) or ""
                sha = repo.git.initial_commit(
                    "Initial commit\n", author=Person("GitHub", "noreply@github.com", date)
                )
                repo.git.create_ref(f"refs/heads/{default_branch}", sha)
            return repo.git.path

    def add_token(self, token: str, login: str, *, kind: str = "User") -> None:
        """Accept ``token`` as ``login``; ``kind="Bot"`` makes the login ``<login>[bot]`` like an App's."""
        with self.world.lock:
            register_token(self.world, token, login, kind)

    def add_app(self, app_id: str, installation_id: str, private_key_pem: str, *, login: str) -> None:
        """Register a GitHub App: its RS256 JWTs are verified, its installation mints ``ghs_`` tokens."""
        with self.world.lock:
            register_app(self.world, str(app_id), str(installation_id), private_key_pem, login)

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role on the repo (none|read|triage|write|maintain|admin); the default is admin."""
        if permission not in PERMISSIONS:
            raise StandInError(f"permission {permission!r} is not one of {', '.join(PERMISSIONS)}")
        with self.world.lock:
            self.world.known_repo(full_name).permissions[login.lower()] = permission

    def set_visibility(self, full_name: str, *, private: bool) -> None:
        """Make the repo private or public (on a public one anyone signed in reads and comments)."""
        with self.world.lock:
            self.world.known_repo(full_name).private = private

    def inject(self, fault: Fault) -> None:
        """Queue ``fault`` for the next matching request(s)."""
        self._faults.add(fault, self.world.now())

    def pending_faults(self) -> list[Fault]:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    def clear_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    # -- inspection (the same JSON the API serves) --------------------------------------------------

    def writes(self) -> list[RecordedRequest]:
        with self._requests_lock:
            return [r for r in self.requests if r.is_write]

    def repo_path(self, full_name: str) -> Path:
        with self.world.lock:
            return self.world.known_repo(full_name).git.path

    def pinned(self, repo: str) -> list[int]:
        """The issues pinned on ``repo`` (GraphQL ``pinIssue``), in the order they were pinned."""
        with self.world.lock:
            return list(self.world.known_repo(repo).pinned)

    def issues(self, repo: str) -> list[dict[str, Any]]:
        """Every issue and pull request of ``repo`` (PRs carry ``pull_request``), by number."""
        with self.world.lock:
            found = self.world.known_repo(repo)
            self._pulls.sync(found)
            return [issue_json(self.world, self.urls, found, found.issues[n]) for n in sorted(found.issues)]

    def delete_issue(self, repo: str, number: int) -> None:
        """Delete issue ``number`` as an admin can (GitHub's UI or GraphQL ``deleteIssue``; REST has no
        endpoint): it vanishes from every list, and its number is never given out again."""
        with self.world.lock:
            found = self.world.known_repo(repo)
            found.issue(number)
            del found.issues[number]
            found.deleted.add(number)

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        with self.world.lock:
            found = self.world.known_repo(repo)
            self._pulls.sync(found)
            return [
                self._pulls.pull_json(found, issue, detail=True)
                for _, issue in sorted(found.issues.items())
                if issue.pull is not None
            ]

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.world.lock:
            found = self.world.known_repo(repo)
            issue = found.issues.get(number)
            if issue is None:
                raise StandInError(f"{repo} has no issue #{number}; known: {sorted(found.issues)}")
            return [comment_json(self.world, self.urls, found, c) for c in issue.comments]

    def labels(self, repo: str) -> list[dict[str, Any]]:
        with self.world.lock:
            found = self.world.known_repo(repo)
            return [label_json(self.urls, found, label) for label in found.labels.values()]

    def dispatches(self, repo: str) -> list[Dispatch]:
        """The workflow_dispatch requests ``repo`` accepted, oldest first."""
        with self.world.lock:
            return list(self.world.known_repo(repo).dispatches)

    def deployments(self, repo: str) -> list[dict[str, Any]]:
        """Deployments newest first, each with its ``statuses`` (newest first) inlined."""
        with self.world.lock:
            found = self.world.known_repo(repo)
            answer = []
            for deployment in reversed(found.deployments):
                body = self._deployments.deployment_json(found, deployment)
                body["statuses"] = [
                    self._deployments.status_json(found, deployment, s) for s in reversed(deployment.statuses)
                ]
                answer.append(body)
            return answer

    # -- the request pipeline -----------------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> _Answer | None:
        """Answer one HTTP request; None means drop the connection without answering."""
        now = self.world.now()
        request_id = _request_id()
        split = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        path = split.path
        if path == GRAPHQL_PATH:  # GitHub Enterprise's GraphQL endpoint sits beside /api/v3
            relative = "/graphql"
        else:
            relative = (path[len(API_PREFIX) :].rstrip("/") or "/") if path.startswith(API_PREFIX) else path
        seen = _Exchange(method, path, relative, query, authorization, now, request_id)
        try:
            answered = self._respond(seen, raw)
            if answered is None:
                return None
            response = answered
        except ApiError as exc:
            response = exc.response()
        except GitError as exc:
            logger.exception("stand-in git failure on %s %s", method, relative)
            response = ApiError(500, f"Server Error: {exc}").response()
        identity, budget, body, fault_name = seen.identity, seen.budget, seen.body, seen.fault
        if budget is None:
            budget = self._limiter.peek(identity, resource_of(relative))
        headers = {
            **_STANDARD_HEADERS,
            **budget.headers(),
            "x-github-request-id": request_id,
            **response.headers,
        }
        if response.body is None:
            headers.pop("Content-Type")
        self._record(
            RecordedRequest(
                method=method,
                path=relative,
                query=query,
                status=response.status,
                time=now,
                is_write=method in WRITE_METHODS,
                login=identity.login if identity is not None else None,
                body=body,
                fault=fault_name,
                request_id=request_id,
                headers=headers,
            )
        )
        return _Answer(response.status, headers, response.encoded())

    def _respond(self, seen: _Exchange, raw: bytes) -> Response | None:
        """The response to one request (planned faults and limits included); None means drop the connection.
        What it learns on the way (who asked, the budget, the body, a fault) goes on ``seen`` even when it
        raises, because the request is recorded either way."""
        method, relative, now = seen.method, seen.relative, seen.now
        if not (seen.path in (API_PREFIX, GRAPHQL_PATH) or seen.path.startswith(f"{API_PREFIX}/")):
            raise not_found()
        outage = self._faults.take_outage(method, relative, now)
        if outage is not None:
            seen.fault = outage.kind.value
            if outage.drop_connection:
                self._record(
                    RecordedRequest(
                        method, relative, seen.query, 0, now, method in WRITE_METHODS, fault=seen.fault
                    )
                )
                return None
            raise ApiError(outage.effective_status, http.HTTPStatus(outage.effective_status).phrase)
        seen.body = _parse_body(raw)
        with self.world.lock:
            identity = seen.identity = authenticate(self.world, seen.authorization)
        if identity is None and method in WRITE_METHODS:
            raise ApiError(401, "Requires authentication")
        resource = resource_of(relative)
        spent = False
        if relative == "/rate_limit":
            budget = seen.budget = self._limiter.peek(identity, resource)
        else:
            budget, spent = self._limiter.charge(identity, resource)
            seen.budget = budget
        fault = self._faults.take_before(method, relative, now)
        if fault is not None:
            seen.fault = fault.kind.value
            raise self._fault_error(fault, identity, budget, seen.request_id, now)
        if spent:
            raise primary_limit_error(identity, budget, seen.request_id)
        if is_content_creating(method, relative):
            wait = self._limiter.admit_content(identity)
            if wait is not None:
                raise secondary_limit_error(seen.request_id, wait)
        response = self._route(method, relative, seen.query, seen.body, identity)
        if 200 <= response.status < 300:
            after = self._faults.take_after(method, relative, now)
            if after is not None:
                seen.fault = after.kind.value
                logger.debug(
                    "stand-in committed %s %s, answering %d", method, relative, after.effective_status
                )
                response = ApiError(after.effective_status, "Server Error").response()
        return response

    def _route(
        self, method: str, relative: str, query: dict[str, list[str]], body: Any, identity: Identity | None
    ) -> Response:
        with self.world.lock:
            routed = self._rewrite(relative)
            # HEAD answers what GET would, without the body (the handler strips it)
            match = self._router.match("GET" if method == "HEAD" else method, routed)
            if match is None:
                raise not_found()
            route, params = match
            return route.handler(Request(method, routed, query, body, identity, params))

    def _rewrite(self, relative: str) -> str:
        """``/repositories/{id}/...`` (the form GitHub's Link headers use) becomes ``/repos/{o}/{r}/...``."""
        found = _REPOSITORIES_RE.match(relative)
        if found is None:
            return relative
        repo = self.world.repo_by_id(int(found.group("id")))
        return f"/repos/{repo.full_name}{found.group('rest') or ''}"

    def _fault_error(
        self, fault: Fault, identity: Identity | None, budget: Budget, request_id: str, now: float
    ) -> ApiError:
        status = fault.effective_status
        match fault.kind:
            case FaultKind.SECONDARY_LIMIT | FaultKind.TOO_MANY_REQUESTS:
                return secondary_limit_error(request_id, fault.retry_after, status=status)
            case FaultKind.PRIMARY_LIMIT:
                exhausted = Budget(budget.resource, budget.limit, budget.limit, int(now) + fault.reset_in_s)
                return primary_limit_error(identity, exhausted, request_id)
            case FaultKind.VALIDATION:
                return ApiError(
                    status,
                    fault.message,
                    errors=[{"resource": "Request", "code": "custom", "message": fault.message}],
                )
            case FaultKind.ERROR_BEFORE_COMMIT | FaultKind.ERROR_AFTER_COMMIT | FaultKind.OUTAGE:
                phrase = "Server Error" if status == 500 else http.HTTPStatus(status).phrase
                return ApiError(status, phrase)

    def _record(self, entry: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(entry)


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "Problems parsing JSON") from exc
