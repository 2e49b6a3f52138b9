"""GitHub REST access: the only module that imports PyGithub; returns crashbot's own frozen types.

PyGithub provides authentication (token or GitHub App installation token, refreshed before expiry), the
HTTP session and ``base_url`` handling (GitHub Enterprise, the loopback stand-in). Every request goes
through :meth:`GitHubClient._send`, the one place that retries:

* urllib3 retries nothing (PyGithub's default ``GithubRetry`` re-sends POST on 5xx, which files a
  duplicate issue when the first POST was committed);
* rate limits (403/429 with ``Retry-After``, ``x-ratelimit-remaining: 0`` or a secondary-limit message)
  are waited out when the wait is at most ``max_rate_limit_wait_s``, else :class:`RateLimited` is raised
  so the caller can spool and come back at ``retry_at``;
* 5xx and connection errors are retried with exponential backoff and jitter for reads and idempotent
  writes; a non-idempotent write whose outcome is unknown raises :class:`AmbiguousWrite`, and the
  idempotent creators (:meth:`GitHubClient.ensure_issue`, :meth:`GitHubClient.ensure_pull`) look again
  before trying once more.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import GitHubSettings
from bot.errors import ConfigError, GitHubError, UsageError

if TYPE_CHECKING:
    import github
    import jwt
    import requests
    import urllib3
    from github import Auth, GithubException
    from github.Requester import Requester


def _load_libraries() -> None:
    """Import PyGithub and its HTTP stack on first use.

    They cost ~30 MB of memory (PyGithub pulls in jwt and cryptography), which an idle ``crashbot
    watch`` waiting for its next crash should not pay; everything here that needs them runs only after
    :func:`connect` (or a :class:`GitHubClient`) has loaded them.
    """
    global github, jwt, requests, urllib3, Auth, GithubException  # noqa: PLW0603
    try:
        import github
        import jwt
        import requests
        import urllib3
        from github import Auth, GithubException
    except Exception as e:  # a broken wheel raises anything at import (DLL load failed, a Rust panic...)
        raise LibraryUnavailable(
            f"PyGithub could not be loaded: {_import_failure(e)} (reinstall crashbot's dependencies)"
        ) from e


def _import_failure(e: Exception) -> str:
    """The failing module and the loader's own words, on one line."""
    text = " ".join(str(e).split()) or type(e).__name__
    name = getattr(e, "name", None)
    return f"{name}: {text}" if name and name not in text else text


logger = logging.getLogger(__name__)
_PIN_ISSUE = "mutation PinIssue($input: PinIssueInput!) { pinIssue(input: $input) { issue { number } } }"

PER_PAGE = 100
WRITE_INTERVAL_S = 1.0  # GitHub: "wait at least one second between" mutative requests
READ_ATTEMPTS = 4
WRITE_ATTEMPTS = 3  # for ensure_issue/ensure_pull: create, look, create again
RATE_LIMIT_RETRIES = 3
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
SECONDARY_WAIT_S = 60.0  # GitHub: without retry-after, "wait for at least one minute"
MAX_ISSUE_BODY_CHARS = 65_536
MAX_ISSUE_TITLE_CHARS = 256
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_LINK_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_WRITE_VERBS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


# ---------------------------------------------------------------------------------------------------
# errors


class NotFound(GitHubError):
    """The repository, issue, ref or object does not exist (or the token cannot see it)."""


class Forbidden(GitHubError):
    """The credentials were rejected (401) or lack a permission (403 that is not a rate limit)."""


class Unauthorized(Forbidden):
    """GitHub rejected the credentials themselves (401): a wrong, expired or revoked token or key."""


class ValidationFailed(GitHubError):
    """GitHub refused the request as invalid (422); ``codes`` holds its error codes."""

    def __init__(self, message: str, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.codes = codes

    @property
    def already_exists(self) -> bool:
        return "already_exists" in self.codes


class Conflict(GitHubError):
    """The request conflicts with the current state (409, or 405 "not mergeable")."""


class RateLimited(GitHubError):
    """A rate limit would make us wait longer than allowed; try again at ``retry_at`` (epoch seconds)."""

    def __init__(self, message: str, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class Unavailable(GitHubError):
    """GitHub did not answer usefully (5xx, timeout, connection failure) after retries; try later."""


class LibraryUnavailable(GitHubError):
    """PyGithub or a library under it (jwt, cryptography, requests) failed to import: nothing can be sent
    until the installation is repaired; reports stay spooled."""


class AmbiguousWrite(Unavailable):
    """A write was sent but its outcome is unknown (5xx/timeout/reset after sending): look before retrying."""


TRANSIENT_ERRORS: tuple[type[GitHubError], ...] = (RateLimited, Unavailable)


# ---------------------------------------------------------------------------------------------------
# our types


class NewLabel(Protocol):
    """What creating a repository label takes (crashbot's specs: :class:`bot.vocabulary.LabelSpec`)."""

    @property
    def name(self) -> str: ...

    @property
    def color(self) -> str: ...  # 6 hex digits, no ``#``

    @property
    def description(self) -> str: ...


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, Mapping) else ""


def _labels(items: Any) -> tuple[str, ...]:
    return tuple(str(x.get("name", "")) if isinstance(x, Mapping) else str(x) for x in items or ())


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    default_branch: str
    private: bool
    html_url: str
    clone_url: str = ""  # where git fetches and pushes it (https://…/owner/name.git on GitHub)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RepoInfo:
        return cls(
            full_name=str(d.get("full_name", "")),
            default_branch=str(d.get("default_branch") or "main"),
            private=bool(d.get("private", False)),
            html_url=str(d.get("html_url", "")),
            clone_url=str(d.get("clone_url") or ""),
        )


@dataclass(frozen=True)
class IssueRef:
    number: int
    title: str
    body: str
    state: str
    state_reason: str | None
    labels: tuple[str, ...]
    author: str
    html_url: str
    created_at: str
    updated_at: str
    comments: int
    is_pull: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> IssueRef:
        return cls(
            number=int(d["number"]),
            title=str(d.get("title") or ""),
            body=str(d.get("body") or ""),
            state=str(d.get("state") or "open"),
            state_reason=d.get("state_reason"),
            labels=_labels(d.get("labels")),
            author=_login(d.get("user")),
            html_url=str(d.get("html_url") or ""),
            created_at=str(d.get("created_at") or ""),
            updated_at=str(d.get("updated_at") or ""),
            comments=int(d.get("comments") or 0),
            is_pull="pull_request" in d,
        )


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    html_url: str
    created_at: str
    # the author's role on the repository: OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIMER, NONE…
    author_association: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Comment:
        return cls(
            id=int(d["id"]),
            body=str(d.get("body") or ""),
            author=_login(d.get("user")),
            html_url=str(d.get("html_url") or ""),
            created_at=str(d.get("created_at") or ""),
            author_association=str(d.get("author_association") or ""),
        )


@dataclass(frozen=True)
class PullRef:
    number: int
    state: str
    merged: bool
    head_ref: str
    head_sha: str
    base_ref: str
    html_url: str
    author: str
    body: str
    labels: tuple[str, ...]
    title: str = ""
    draft: bool = False
    merge_commit_sha: str | None = None
    mergeable: bool | None = None  # None while GitHub is still computing it
    created_at: str = ""
    merged_at: str = ""
    closed_at: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PullRef:
        head = d.get("head") or {}
        base = d.get("base") or {}
        return cls(
            number=int(d["number"]),
            state=str(d.get("state") or "open"),
            merged=bool(d.get("merged") or d.get("merged_at")),
            head_ref=str(head.get("ref") or ""),
            head_sha=str(head.get("sha") or ""),
            base_ref=str(base.get("ref") or ""),
            html_url=str(d.get("html_url") or ""),
            author=_login(d.get("user")),
            body=str(d.get("body") or ""),
            labels=_labels(d.get("labels")),
            title=str(d.get("title") or ""),
            draft=bool(d.get("draft", False)),
            merge_commit_sha=d.get("merge_commit_sha"),
            mergeable=d.get("mergeable"),
            created_at=str(d.get("created_at") or ""),
            merged_at=str(d.get("merged_at") or ""),
            closed_at=str(d.get("closed_at") or ""),
        )


@dataclass(frozen=True)
class MergeResult:
    sha: str
    merged: bool
    message: str


@dataclass(frozen=True)
class CommitRef:
    sha: str
    message: str
    author: str  # the GitHub login when known, else the git author name

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CommitRef:
        commit = d.get("commit") or {}
        git_author = commit.get("author") or {}
        return cls(
            sha=str(d.get("sha") or ""),
            message=str(commit.get("message") or ""),
            author=_login(d.get("author")) or str(git_author.get("name") or ""),
        )


@dataclass(frozen=True)
class DeploymentRef:
    id: int
    sha: str
    ref: str
    environment: str
    description: str = ""
    created_at: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DeploymentRef:
        payload = d.get("payload")
        if isinstance(payload, str):  # GitHub returns the payload as given: object or JSON string
            try:
                payload = json.loads(payload) if payload else {}
            except ValueError:
                payload = {"text": payload}
        return cls(
            id=int(d["id"]),
            sha=str(d.get("sha") or ""),
            ref=str(d.get("ref") or ""),
            environment=str(d.get("environment") or ""),
            description=str(d.get("description") or ""),
            created_at=str(d.get("created_at") or ""),
            payload=dict(payload) if isinstance(payload, Mapping) else {},
        )


@dataclass(frozen=True)
class DeploymentStatusRef:
    id: int
    state: str
    description: str
    environment_url: str
    log_url: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DeploymentStatusRef:
        return cls(
            id=int(d["id"]),
            state=str(d.get("state") or ""),
            description=str(d.get("description") or ""),
            environment_url=str(d.get("environment_url") or ""),
            log_url=str(d.get("log_url") or ""),
        )


@dataclass(frozen=True)
class TokenInfo:
    """What ``crashbot doctor`` can learn about the credentials without changing anything."""

    kind: str  # "token" or "app"
    login: str
    scopes: tuple[str, ...] | None  # classic PAT scopes (x-oauth-scopes); None when GitHub doesn't say
    repo_permissions: Mapping[str, bool]  # from the repository's "permissions" (user tokens)
    rate_limit: int | None
    rate_remaining: int | None


# ---------------------------------------------------------------------------------------------------
# connect


def _no_retry() -> urllib3.Retry:
    """urllib3 retries nothing; :meth:`GitHubClient._send` decides (see the module docstring)."""
    return urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0, raise_on_status=False)


def _check_credentials(settings: GitHubSettings, env: Mapping[str, str]) -> tuple[str, str]:
    """Which credentials the settings select, checked without PyGithub: ``("app", pem)`` for GitHub App
    auth, ``("token", token)`` otherwise; ConfigError (one line) when they are missing or half-set."""
    if settings.app_auth:  # both ids present and numeric: GitHubSettings checks that when it is made
        return "app", _app_private_key(settings, env)
    for name in settings.token_env:
        token = env.get(name)
        if token:
            return "token", token
    names = " or ".join(settings.token_env) or "(none configured)"
    raise ConfigError(
        f"no GitHub token: set {names}, or configure GitHub App auth "
        "(github.app_id, github.app_installation_id and a private key)"
    )


def _auth(settings: GitHubSettings, env: Mapping[str, str]) -> tuple[Auth.Auth, Auth.AppAuth | None]:
    kind, credential = _check_credentials(settings, env)
    if kind == "token":
        return Auth.Token(credential), None
    app_auth = Auth.AppAuth(settings.app_id, credential)
    try:
        app_auth.create_jwt()
    except (jwt.PyJWTError, ValueError, TypeError) as e:
        raise ConfigError(
            f"the GitHub App private key cannot sign a JWT ({type(e).__name__}); "
            "check github.app_private_key_file or the env var named by github.app_private_key_env"
        ) from e
    return app_auth.get_installation_auth(int(settings.app_installation_id)), app_auth


def _app_private_key(settings: GitHubSettings, env: Mapping[str, str]) -> str:
    if settings.app_private_key_file:
        path = Path(settings.app_private_key_file)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the GitHub App private key file {str(path)!r}: {e}") from e
    key = env.get(settings.app_private_key_env) if settings.app_private_key_env else None
    if not key:
        name = settings.app_private_key_env or "CRASHBOT_APP_PRIVATE_KEY"
        raise ConfigError(
            "GitHub App auth needs a private key (github.app_id is set, so the App is used, not a token): "
            f"set github.app_private_key_file, the env var {name}, or put the .pem in the credentials "
            f"folder as {name} (Install-CrashbotUploader.ps1 -AppPrivateKeyFile; install-uploader.sh "
            f"/etc/crashbot/credentials/{name})"
        )
    return key


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(
    settings: GitHubSettings,
    *,
    env: Mapping[str, str],
    repo: str | None = None,
    api_url: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    write_interval_s: float | None = None,
    defer: bool = False,
) -> GitHubClient:
    """A client for ``repo`` (default ``settings.repo``) at ``api_url`` (default ``settings.api_url``).

    Credentials: the first non-empty env var named in ``settings.token_env``, or GitHub App auth when
    ``app_id``/``app_installation_id`` are set. ``sleep``/``clock``/``rng`` are injectable for tests;
    ``write_interval_s`` spaces writes; by default 1 s (GitHub's best-practice advice for mutative
    requests), and none against a loopback API such as the local stand-in.

    Everything that can be checked without PyGithub is checked now (repository, URL, credentials
    present). With ``defer`` PyGithub itself is loaded on the first request: an idle ``crashbot watch``
    stays small until a crash arrives (a GitHub App key that cannot sign surfaces then, as ConfigError).
    """
    full_name = (repo or settings.repo).strip()
    if not _REPO_RE.fullmatch(full_name):
        raise ConfigError(f"GitHub repository must be OWNER/NAME (--repo or github.repo), got {full_name!r}")
    base_url = (api_url or settings.api_url or "https://api.github.com").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"GitHub API URL must start with http:// or https://, got {base_url!r}")
    kind, _ = _check_credentials(settings, env)

    def session() -> _Session:
        _load_libraries()
        auth, app_auth = _auth(settings, env)
        gh = github.Github(
            auth=auth,
            base_url=base_url,
            timeout=max(1, math.ceil(settings.timeout_s)),
            per_page=PER_PAGE,
            retry=_no_retry(),
            # PyGithub's own throttle sleeps with the real clock; ours (write_interval_s) is injectable.
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        return _Session(gh, app_auth)

    client = GitHubClient(
        session,
        full_name,
        base_url=base_url,
        auth_kind=kind,
        max_rate_limit_wait_s=settings.max_rate_limit_wait_s,
        sleep=sleep,
        clock=clock,
        rng=rng,
        write_interval_s=(
            write_interval_s
            if write_interval_s is not None
            else (0.0 if is_loopback(base_url) else WRITE_INTERVAL_S)
        ),
    )
    if not defer:
        client.open()
    return client


@dataclass(frozen=True)
class _Session:
    """The PyGithub side of a client: made on first use when :func:`connect` was asked to defer."""

    gh: github.Github
    app_auth: Auth.AppAuth | None


# ---------------------------------------------------------------------------------------------------
# the client


def _message(data: Any) -> str:
    if isinstance(data, Mapping):
        return str(data.get("message") or "")
    return ""


def _error_codes(data: Any) -> tuple[str, ...]:
    if not isinstance(data, Mapping):
        return ()
    codes = []
    for err in data.get("errors") or ():
        if isinstance(err, Mapping):
            codes.append(str(err.get("code") or err.get("message") or ""))
        else:
            codes.append(str(err))
    return tuple(c for c in codes if c)


def _is_secondary(message: str) -> bool:
    text = message.lower()
    return (
        "secondary rate limit" in text
        or text.endswith("please retry your request again later.")
        or text.endswith("please wait a few minutes before you try again.")
    )


def _never_sent(error: requests.RequestException) -> bool:
    """True when the request cannot have reached GitHub (so even a POST may be retried)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = error.args[0] if error.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(
            inner, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
        )
    return False


class GitHubClient:
    """One repository on one GitHub (or Enterprise, or the stand-in), with crashbot's retry policy."""

    def __init__(
        self,
        session: Callable[[], _Session],
        repo: str,
        *,
        base_url: str,
        auth_kind: str = "token",
        max_rate_limit_wait_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        write_interval_s: float = WRITE_INTERVAL_S,
    ) -> None:
        self._make_session = session
        self._session: _Session | None = None
        self._base_path = urllib.parse.urlsplit(base_url).path.rstrip("/")
        self.repo = repo
        self._owner = repo.split("/", 1)[0]
        self._prefix = "/repos/" + "/".join(urllib.parse.quote(p, safe="") for p in repo.split("/", 1))
        self._auth_kind = auth_kind
        self._max_wait = max_rate_limit_wait_s
        self._sleep = sleep
        self._clock = clock
        # jitter only spreads retries out; it needs no cryptographic strength
        self._rng = rng or random.Random()  # noqa: S311
        self._write_interval = write_interval_s
        self._last_write: float | None = None
        self._login: str | None = None
        self.writes = 0  # write requests sent (storm control and benchmarks read this)
        self.requests = 0  # all requests sent
        self.rate_remaining: int | None = None
        self.rate_reset: float | None = None

    def __repr__(self) -> str:
        return f"GitHubClient(repo={self.repo!r}, auth={self._auth_kind!r})"

    def open(self) -> None:
        """Load PyGithub and build the authenticated session now (else on the first request)."""
        if self._session is None:
            self._session = self._make_session()

    @property
    def _requester(self) -> Requester:
        self.open()
        assert self._session is not None
        return self._session.gh.requester

    @property
    def _app_auth(self) -> Auth.AppAuth | None:
        self.open()
        assert self._session is not None
        return self._session.app_auth

    # ----- the one place that talks HTTP

    def _send(
        self,
        verb: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = False,
        what: str = "",
    ) -> tuple[dict[str, Any], Any]:
        """One REST call with crashbot's retry policy; returns (lower-cased headers, parsed JSON)."""
        write = verb in _WRITE_VERBS
        safe = not write or idempotent
        what = what or f"{verb} {path}"
        # Load PyGithub before the try below: its ``except GithubException`` needs the name bound.
        self.open()
        attempt = 0
        limited = 0
        while True:
            self._respect_known_limit(what)
            if write:
                self._space_writes()
            self.requests += 1
            if write:
                self.writes += 1
                self._last_write = self._clock()
            try:
                headers, data = self._requester.requestJsonAndCheck(
                    verb, path, parameters=dict(params) if params else None, input=body
                )
            except GithubException as e:
                hdrs = {str(k).lower(): str(v) for k, v in (e.headers or {}).items()}
                self._note_rate(hdrs)
                message = _message(e.data)
                retry_at = self._rate_limit_retry_at(e.status, hdrs, message, limited)
                if retry_at is not None:
                    limited += 1
                    self._wait_for_limit(retry_at, limited, what, e)
                    continue
                if e.status >= 500:
                    if safe and attempt + 1 < READ_ATTEMPTS:
                        self._backoff(attempt, what, f"HTTP {e.status}")
                        attempt += 1
                        continue
                    if not safe:
                        raise AmbiguousWrite(
                            f"{what}: GitHub answered HTTP {e.status}; the write may or may not have happened"
                        ) from e
                    raise Unavailable(
                        f"{what}: GitHub answered HTTP {e.status} {attempt + 1} times; try again later"
                    ) from e
                raise self._translate(e, what, message) from e
            except requests.RequestException as e:
                sent = not _never_sent(e)
                if (safe or not sent) and attempt + 1 < READ_ATTEMPTS:
                    self._backoff(attempt, what, type(e).__name__)
                    attempt += 1
                    continue
                if sent and not safe:
                    raise AmbiguousWrite(
                        f"{what}: {type(e).__name__} after sending; the write may or may not have happened"
                    ) from e
                raise Unavailable(
                    f"{what}: cannot reach GitHub ({type(e).__name__}) after {attempt + 1} attempts; "
                    "check the network or --api-url"
                ) from e
            except json.JSONDecodeError as e:
                raise Unavailable(f"{what}: GitHub returned malformed JSON") from e
            self._note_rate({str(k).lower(): str(v) for k, v in headers.items()})
            return headers, data

    def _translate(self, e: GithubException, what: str, message: str) -> GitHubError:
        status = e.status
        detail = f": {message}" if message else ""
        if status == 401:
            return Unauthorized(f"{what}: GitHub rejected the credentials (401{detail}); check the token")
        if status == 403:
            return Forbidden(f"{what}: forbidden (403{detail}); check the token's permissions on {self.repo}")
        if status == 404:
            return NotFound(f"{what}: not found (404); check {self.repo} and the token's access")
        if status == 422:
            codes = _error_codes(e.data)
            extra = f" [{', '.join(codes)}]" if codes else ""
            return ValidationFailed(f"{what}: GitHub refused it as invalid (422{detail}){extra}", codes)
        if status in (405, 409):
            return Conflict(f"{what}: conflict ({status}{detail})")
        return GitHubError(f"{what}: GitHub answered HTTP {status}{detail}")

    def _rate_limit_retry_at(
        self, status: int, hdrs: Mapping[str, str], message: str, limited: int
    ) -> float | None:
        """When to retry a rate-limited response (epoch seconds), or None if it is not a rate limit."""
        remaining_zero = hdrs.get("x-ratelimit-remaining") == "0"
        secondary = _is_secondary(message)
        primary = message.lower().startswith("api rate limit exceeded")
        if status == 429 or (
            status == 403 and ("retry-after" in hdrs or remaining_zero or secondary or primary)
        ):
            now = self._clock()
            retry_after = _parse_retry_after(hdrs.get("retry-after"), now)
            if retry_after is not None:
                return retry_after
            reset = _float(hdrs.get("x-ratelimit-reset"))
            if remaining_zero and reset is not None:
                return max(reset + 1.0, now)
            return now + SECONDARY_WAIT_S * (2**limited)
        return None

    def _wait_for_limit(self, retry_at: float, limited: int, what: str, e: Exception) -> None:
        wait = max(retry_at - self._clock(), 0.0)
        if wait > self._max_wait or limited > RATE_LIMIT_RETRIES:
            raise RateLimited(
                f"{what}: rate limited by GitHub for {wait:.0f}s (until epoch {retry_at:.0f}); "
                "spooling and retrying later",
                retry_at,
            ) from e
        logger.warning("%s: rate limited; waiting %.0fs", what, wait)
        self._sleep(wait)

    def _respect_known_limit(self, what: str) -> None:
        """Don't spend a request we know will be refused: the last response said 0 remaining."""
        if self.rate_remaining != 0 or self.rate_reset is None:
            return
        if self.rate_reset <= self._clock():
            self.rate_remaining = None
            return
        wait = self.rate_reset + 1.0 - self._clock()
        if wait > self._max_wait:
            raise RateLimited(
                f"{what}: primary rate limit exhausted until reset; spooling", self.rate_reset + 1.0
            )
        self._sleep(wait)
        self.rate_remaining = None

    def _space_writes(self) -> None:
        if self._last_write is None or self._write_interval <= 0:
            return
        wait = self._last_write + self._write_interval - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _backoff(self, attempt: int, what: str, why: str) -> None:
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2**attempt))
        delay = delay / 2 + self._rng.random() * delay / 2
        logger.info("%s: %s; retrying in %.1fs", what, why, delay)
        self._sleep(delay)

    def _note_rate(self, hdrs: Mapping[str, str]) -> None:
        remaining = hdrs.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.rate_remaining = int(remaining)
            self.rate_reset = _float(hdrs.get("x-ratelimit-reset"))

    def _get(self, path: str, params: Mapping[str, Any] | None = None, what: str = "") -> Any:
        return self._send("GET", path, params=params, what=what)[1]

    def _get_all(self, path: str, params: Mapping[str, Any] | None = None, what: str = "") -> list[Any]:
        """Every item of a paginated list, following ``Link: rel="next"``."""
        query = {"per_page": PER_PAGE, **(params or {})}
        items: list[Any] = []
        url: str | None = path
        pages = 0
        while url is not None:
            headers, data = self._send("GET", url, params=query, what=what)
            if isinstance(data, Mapping):  # e.g. compare: {"commits": [...]}
                data = data.get("commits") or []
            items.extend(data or [])
            pages += 1
            url = _next_link(headers.get("link"), self._base_path)
            query = {}  # the next link carries the whole query
            if pages > 1000:  # 100,000 items: something is wrong with the server's links
                raise Unavailable(f"{what or path}: more than 1000 pages; stopping")
        return items

    # ----- repository and identity

    def repo_info(self) -> RepoInfo:
        return RepoInfo.from_json(self._get(self._prefix, what=f"read repository {self.repo}"))

    def installation_token(self) -> str:
        """A token ``git push`` can send over HTTPS as this client's identity.

        With GitHub App auth: the installation token PyGithub mints (and refreshes before it expires),
        so the fix branch is pushed by the App and its PR starts CI. With a token: that token. The
        value is a secret: callers put it only into a child process's environment.
        """
        auth = self._requester.auth
        if isinstance(auth, Auth.AppInstallationAuth):
            try:
                return auth.token
            except GithubException as e:
                raise self._translate(e, "mint a GitHub App installation token", _message(e.data)) from e
            except requests.RequestException as e:
                raise Unavailable(
                    f"mint a GitHub App installation token: cannot reach GitHub ({type(e).__name__})"
                ) from e
        if isinstance(auth, Auth.Token):
            return auth.token
        raise ConfigError("this GitHub client has no token to push with (configure a token or App auth)")

    def whoami(self) -> str:
        """The login this client acts as (``<app-slug>[bot]`` for a GitHub App); cached.

        Empty when GitHub won't say: an installation token handed in as a plain token (as
        ``actions/create-github-app-token`` does) gets 403 from ``GET /user``.
        """
        if self._login is not None:
            return self._login
        if self._app_auth is not None:
            requester = self._requester.withAuth(self._app_auth)
            try:
                _, data = requester.requestJsonAndCheck("GET", "/app")
            except GithubException as e:
                raise self._translate(e, "read the GitHub App", _message(e.data)) from e
            except requests.RequestException as e:
                raise Unavailable(f"read the GitHub App: cannot reach GitHub ({type(e).__name__})") from e
            self._login = f"{data.get('slug', '')}[bot]"
        else:
            try:
                self._login = _login(self._get("/user", what="read the authenticated user"))
            except Forbidden:
                self._login = ""
        return self._login

    def collaborator_permission(self, login: str) -> str:
        """``admin``, ``maintain``, ``write``, ``triage``, ``read`` or ``none``."""
        path = f"{self._prefix}/collaborators/{urllib.parse.quote(login, safe='')}/permission"
        try:
            data = self._get(path, what=f"read {login}'s permission")
        except NotFound:
            return "none"
        return str(data.get("role_name") or data.get("permission") or "none")

    def token_scopes_or_permissions(self) -> TokenInfo:
        """What the credentials can do, as far as GitHub says (one GET of the repository)."""
        headers, data = self._send("GET", self._prefix, what=f"read repository {self.repo}")
        scopes_header = headers.get("x-oauth-scopes")
        scopes = (
            None if scopes_header is None else tuple(s.strip() for s in scopes_header.split(",") if s.strip())
        )
        perms = data.get("permissions") if isinstance(data, Mapping) else None
        try:
            login = self.whoami()
        except Forbidden:
            login = ""
        return TokenInfo(
            kind=self._auth_kind,
            login=login,
            scopes=scopes,
            repo_permissions={str(k): bool(v) for k, v in (perms or {}).items()},
            rate_limit=_int(headers.get("x-ratelimit-limit")),
            rate_remaining=_int(headers.get("x-ratelimit-remaining")),
        )

    # ----- issues

    def find_issues(self, labels: Sequence[str], state: str = "all") -> list[IssueRef]:
        """Issues (not pull requests) carrying every label in ``labels``: the list API, never search,
        because search lags behind writes and dedup through it files duplicates."""
        for label in labels:
            if "," in label:
                raise UsageError(f"label {label!r} contains a comma; the issues list API cannot filter on it")
        items = self._get_all(
            f"{self._prefix}/issues",
            {"labels": ",".join(labels), "state": state},
            what=f"list issues labelled {','.join(labels)}",
        )
        return [IssueRef.from_json(d) for d in items if "pull_request" not in d]

    def get_issue(self, number: int) -> IssueRef:
        return IssueRef.from_json(
            self._get(f"{self._prefix}/issues/{int(number)}", what=f"read issue #{number}")
        )

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> IssueRef:
        """One POST; not idempotent (see :meth:`ensure_issue`)."""
        _check_text(title, body)
        _, data = self._send(
            "POST",
            f"{self._prefix}/issues",
            body={"title": title, "body": body, "labels": list(labels)},
            what=f"create issue {title[:60]!r}",
        )
        issue = IssueRef.from_json(data)
        missing = set(labels) - set(issue.labels)
        if missing:
            # GitHub silently drops labels when the token lacks push/triage access; dedup by label then
            # breaks and every crash would file a new issue, so stop here.
            raise Forbidden(
                f"issue #{issue.number} was created without labels {sorted(missing)}: the token needs "
                f"issues write and push (or triage) access to {self.repo} to set labels"
            )
        return issue

    def pin_issue(self, number: int) -> bool:
        """Pin issue ``number`` to the repository's issue list, through GraphQL's ``pinIssue`` (REST cannot
        pin). False, with one log line, when GitHub refuses: a repository pins at most three issues, and the
        token needs write access."""
        _, issue = self._send("GET", f"{self._prefix}/issues/{number}", what=f"read issue #{number}")
        node = issue.get("node_id") if isinstance(issue, dict) else None
        if not isinstance(node, str) or not node:
            logger.warning("cannot pin #%d: GitHub gave no node id for it; pin it by hand", number)
            return False
        _, data = self._send(
            "POST",
            self._requester.graphql_url,
            body={"query": _PIN_ISSUE, "variables": {"input": {"issueId": node}}},
            idempotent=True,  # pinning a pinned issue changes nothing
            what=f"pin issue #{number}",
        )
        errors = data.get("errors") if isinstance(data, dict) else None
        if errors:
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            reason = str(first.get("message") or first.get("type") or "refused")[:200]
            logger.warning("GitHub did not pin #%d (%s); pin it by hand", number, reason)
            return False
        return True

    def _find_by_label(self, label: str) -> IssueRef | None:
        found = self.find_issues([label], state="all")
        if not found:
            return None
        open_ = sorted((i for i in found if i.state == "open"), key=lambda i: i.number)
        if open_:
            if len(open_) > 1:
                logger.warning(
                    "%d open issues carry %s (%s); using #%d",
                    len(open_),
                    label,
                    ", ".join(f"#{i.number}" for i in open_),
                    open_[0].number,
                )
            return open_[0]
        return max(found, key=lambda i: i.number)

    def ensure_issue(
        self, dedup_label: str, title: str, body: str, labels: Sequence[str]
    ) -> tuple[IssueRef, bool]:
        """The issue carrying ``dedup_label`` (the open one with the lowest number, else the newest
        closed one, which the caller may reopen), or a new one; ``created`` says which.

        When a create's outcome is unknown (5xx, timeout), the label is looked up again first and the
        create is repeated only when the issue is truly absent, so a committed POST is never doubled.
        """
        existing = self._find_by_label(dedup_label)
        if existing is not None:
            return existing, False
        all_labels = list(dict.fromkeys([*labels, dedup_label]))
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return self.create_issue(title, body, all_labels), True
            except AmbiguousWrite as e:
                logger.warning("%s; looking before retrying", e)
                self._backoff(attempt, "create issue", "ambiguous outcome")
                found = self._find_by_label(dedup_label)
                if found is not None:
                    return found, True
                if attempt + 1 == WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def edit_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> IssueRef:
        """PATCH the given fields (``labels`` replaces the whole set); idempotent, so retried on 5xx."""
        if title is not None or body is not None:
            _check_text(title or "x", body or "")
        fields: dict[str, Any] = {
            k: v
            for k, v in (("title", title), ("body", body), ("state", state), ("state_reason", state_reason))
            if v is not None
        }
        if labels is not None:
            fields["labels"] = list(labels)
        if not fields:
            return self.get_issue(number)
        _, data = self._send(
            "PATCH",
            f"{self._prefix}/issues/{int(number)}",
            body=fields,
            idempotent=True,
            what=f"edit issue #{number}",
        )
        issue = IssueRef.from_json(data)
        if body is not None and issue.body.replace("\r\n", "\n") != body.replace("\r\n", "\n"):
            # GitHub has been seen to keep the old body silently when a new one is too large.
            logger.warning("issue #%d: GitHub did not store the new body as sent", number)
        return issue

    def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]:
        """Add labels (existing ones stay); returns the issue's labels afterwards."""
        _, data = self._send(
            "POST",
            f"{self._prefix}/issues/{int(number)}/labels",
            body={"labels": list(labels)},
            idempotent=True,
            what=f"label issue #{number}",
        )
        return _labels(data)

    def remove_label(self, number: int, label: str) -> None:
        """Remove one label; a label the issue doesn't carry is fine."""
        try:
            self._send(
                "DELETE",
                f"{self._prefix}/issues/{int(number)}/labels/{urllib.parse.quote(label, safe='')}",
                idempotent=True,
                what=f"unlabel issue #{number}",
            )
        except NotFound:
            return

    def list_labels(self) -> list[str]:
        """The repository's label names (all pages)."""
        items = self._get_all(f"{self._prefix}/labels", what="list repository labels")
        return [str(d.get("name", "")) for d in items if isinstance(d, Mapping)]

    def ensure_labels(self, specs: Sequence[NewLabel]) -> list[str]:
        """Create the repository labels in ``specs`` that don't exist yet; returns the names created."""
        existing = {name.lower() for name in self.list_labels()}
        created = []
        for spec in specs:
            if spec.name.lower() in existing:
                continue
            try:
                self._send(
                    "POST",
                    f"{self._prefix}/labels",
                    body={"name": spec.name, "color": spec.color, "description": spec.description[:100]},
                    idempotent=True,  # a repeat is refused as already_exists, which is fine
                    what=f"create label {spec.name!r}",
                )
            except ValidationFailed as e:
                if not e.already_exists:
                    raise
                continue
            created.append(spec.name)
        return created

    # ----- comments

    def list_comments(self, number: int) -> list[Comment]:
        items = self._get_all(
            f"{self._prefix}/issues/{int(number)}/comments", what=f"list comments on #{number}"
        )
        return [Comment.from_json(d) for d in items]

    def create_comment(self, number: int, body: str) -> Comment:
        _check_text("x", body)
        _, data = self._send(
            "POST",
            f"{self._prefix}/issues/{int(number)}/comments",
            body={"body": body},
            what=f"comment on #{number}",
        )
        return Comment.from_json(data)

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        _check_text("x", body)
        _, data = self._send(
            "PATCH",
            f"{self._prefix}/issues/comments/{int(comment_id)}",
            body={"body": body},
            idempotent=True,
            what=f"edit comment {comment_id}",
        )
        return Comment.from_json(data)

    def upsert_comment(
        self, number: int, tag: str, body: str, *, author: str | None = None
    ) -> tuple[Comment, bool]:
        """Edit our comment on ``number`` that contains ``tag`` (the latest one), else create it; returns
        (comment, created). ``body`` gets the tag line prepended when it lacks it. crashbot's tags are
        invisible HTML comments (:class:`bot.vocabulary.Marker`); this module knows none of them.

        "Our" means written by ``author`` (default :meth:`whoami`); when that is unknown, by any bot
        account, so a human who pastes the tag never has their comment taken over.
        """
        text = body if tag in body else f"{tag}\n{body}"
        me = author if author is not None else self.whoami()

        def ours(c: Comment) -> bool:
            return tag in c.body and (c.author == me if me else c.author.endswith("[bot]"))

        mine = [c for c in self.list_comments(number) if ours(c)]
        if mine:
            current = mine[-1]
            if current.body == text:
                return current, False
            return self.edit_comment(current.id, text), False
        return self.create_comment(number, text), True

    # ----- git refs

    def _ref_path(self, branch: str) -> str:
        return f"{self._prefix}/git/refs/heads/{urllib.parse.quote(branch, safe='/')}"

    def get_ref_sha(self, branch: str) -> str | None:
        path = f"{self._prefix}/git/ref/heads/{urllib.parse.quote(branch, safe='/')}"
        try:
            data = self._get(path, what=f"read branch {branch!r}")
        except NotFound:
            return None
        if isinstance(data, list):  # old GitHub Enterprise answers with prefix matches
            data = next((d for d in data if d.get("ref") == f"refs/heads/{branch}"), None)
            if data is None:
                return None
        return str((data.get("object") or {}).get("sha") or "") or None

    def create_ref(self, branch: str, sha: str) -> None:
        self._send(
            "POST",
            f"{self._prefix}/git/refs",
            body={"ref": f"refs/heads/{branch}", "sha": sha},
            what=f"create branch {branch!r}",
        )

    def update_ref(self, branch: str, sha: str, force: bool = False) -> None:
        self._send(
            "PATCH",
            self._ref_path(branch),
            body={"sha": sha, "force": force},
            idempotent=True,
            what=f"move branch {branch!r}",
        )

    def delete_ref(self, branch: str) -> bool:
        """Delete a branch; False when it did not exist."""
        try:
            self._send("DELETE", self._ref_path(branch), idempotent=True, what=f"delete branch {branch!r}")
        except (NotFound, ValidationFailed):  # 422 "Reference does not exist"
            return False
        return True

    def compare(self, base: str, head: str) -> list[CommitRef]:
        """Commits reachable from ``head`` but not ``base``, oldest first."""
        spec = f"{urllib.parse.quote(base, safe='/')}...{urllib.parse.quote(head, safe='/')}"
        items = self._get_all(f"{self._prefix}/compare/{spec}", what=f"compare {base}...{head}")
        return [CommitRef.from_json(d) for d in items]

    def contains(self, commit: str, build: str) -> bool | None:
        """Whether the history of ``build`` (a commit; a short sha will do) includes ``commit``.

        None when GitHub cannot tell: one of them is unknown to the repository (a local or dirty build,
        a commit never pushed) or the two share no history.
        """
        spec = f"{urllib.parse.quote(commit, safe='')}...{urllib.parse.quote(build, safe='')}"
        try:
            data = self._get(f"{self._prefix}/compare/{spec}", {"per_page": 1}, what=f"compare {spec}")
        except (NotFound, ValidationFailed):
            return None
        status = str(data.get("status") or "") if isinstance(data, Mapping) else ""
        if status in ("ahead", "identical"):
            return True
        if status in ("behind", "diverged"):
            return False
        return None

    # ----- pull requests

    def find_pulls(self, head_branch: str, state: str = "all") -> list[PullRef]:
        items = self._get_all(
            f"{self._prefix}/pulls",
            {"head": f"{self._owner}:{head_branch}", "state": state},
            what=f"list pull requests from {head_branch!r}",
        )
        return [PullRef.from_json(d) for d in items]

    def list_pulls(self, state: str = "all") -> list[PullRef]:
        """Every pull request of the repository in ``state`` (all pages, newest first)."""
        items = self._get_all(f"{self._prefix}/pulls", {"state": state}, what=f"list {state} pull requests")
        return [PullRef.from_json(d) for d in items]

    def get_pull(self, number: int) -> PullRef:
        return PullRef.from_json(self._get(f"{self._prefix}/pulls/{int(number)}", what=f"read PR #{number}"))

    def ensure_pull(
        self, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> tuple[PullRef, bool]:
        """The open PR from ``head``, or a new one; (pull, created). Safe to repeat (see ensure_issue)."""
        for pull in self.find_pulls(head, state="open"):
            return pull, False
        _check_text(title, body)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                _, data = self._send(
                    "POST",
                    f"{self._prefix}/pulls",
                    body={"head": head, "base": base, "title": title, "body": body, "draft": draft},
                    what=f"open PR from {head!r}",
                )
                return PullRef.from_json(data), True
            except ValidationFailed as e:
                # "A pull request already exists for owner:head": someone (or our lost response) beat us
                found = self.find_pulls(head, state="open")
                if found:
                    return found[0], False
                raise e
            except AmbiguousWrite as e:
                logger.warning("%s; looking before retrying", e)
                self._backoff(attempt, "open PR", "ambiguous outcome")
                found = self.find_pulls(head, state="open")
                if found:
                    return found[0], True
                if attempt + 1 == WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool = False) -> PullRef:
        """Idempotent: returns the open PR from ``head`` if there is one."""
        return self.ensure_pull(head, base, title, body, draft=draft)[0]

    def edit_pull(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        base: str | None = None,
    ) -> PullRef:
        fields = {
            k: v
            for k, v in (("title", title), ("body", body), ("state", state), ("base", base))
            if v is not None
        }
        if body is not None:
            _check_text(title or "x", body)
        _, data = self._send(
            "PATCH",
            f"{self._prefix}/pulls/{int(number)}",
            body=fields,
            idempotent=True,
            what=f"edit PR #{number}",
        )
        return PullRef.from_json(data)

    def merge_pull(self, number: int, method: str = "merge", sha: str | None = None) -> MergeResult:
        """Merge (``merge``, ``squash`` or ``rebase``); ``sha`` guards against a moved head (409)."""
        body: dict[str, Any] = {"merge_method": method}
        if sha:
            body["sha"] = sha
        try:
            _, data = self._send(
                "PUT", f"{self._prefix}/pulls/{int(number)}/merge", body=body, what=f"merge PR #{number}"
            )
        except AmbiguousWrite:
            pull = self.get_pull(number)
            if pull.merged:
                return MergeResult(sha=pull.merge_commit_sha or "", merged=True, message="merged")
            raise
        return MergeResult(
            sha=str(data.get("sha") or ""),
            merged=bool(data.get("merged")),
            message=str(data.get("message") or ""),
        )

    # ----- actions

    def dispatch_workflow(self, workflow: str, ref: str, inputs: Mapping[str, str] | None = None) -> None:
        """Ask GitHub to run ``workflow`` (a file name under .github/workflows, or its id) on ``ref``."""
        self._send(
            "POST",
            f"{self._prefix}/actions/workflows/{urllib.parse.quote(workflow, safe='')}/dispatches",
            body={"ref": ref, "inputs": dict(inputs or {})},
            what=f"dispatch workflow {workflow!r} on {ref!r}",
        )

    # ----- deployments

    def create_deployment(
        self, ref: str, environment: str, description: str, payload: Mapping[str, Any] | None = None
    ) -> DeploymentRef:
        """A deployment of ``ref`` that neither merges the default branch in nor waits for checks."""
        _, data = self._send(
            "POST",
            f"{self._prefix}/deployments",
            body={
                "ref": ref,
                "environment": environment,
                "description": description[:140],
                "payload": dict(payload or {}),
                "auto_merge": False,
                "required_contexts": [],
                "transient_environment": False,
            },
            what=f"create deployment of {ref!r} to {environment!r}",
        )
        return DeploymentRef.from_json(data)

    def create_deployment_status(
        self,
        deployment_id: int,
        state: str,
        description: str,
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> DeploymentStatusRef:
        """``state``: error, failure, inactive, in_progress, queued, pending or success."""
        body: dict[str, Any] = {"state": state, "description": description[:140]}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        _, data = self._send(
            "POST",
            f"{self._prefix}/deployments/{int(deployment_id)}/statuses",
            body=body,
            what=f"set deployment {deployment_id} to {state}",
        )
        return DeploymentStatusRef.from_json(data)

    def list_deployment_statuses(self, deployment_id: int) -> list[DeploymentStatusRef]:
        """The statuses of one deployment, newest first."""
        items = self._get_all(
            f"{self._prefix}/deployments/{int(deployment_id)}/statuses",
            what=f"list statuses of deployment {deployment_id}",
        )
        return [DeploymentStatusRef.from_json(d) for d in items]

    def list_deployments(self, environment: str) -> list[DeploymentRef]:
        """Deployments to ``environment``, newest first."""
        items = self._get_all(
            f"{self._prefix}/deployments",
            {"environment": environment},
            what=f"list deployments to {environment!r}",
        )
        return [DeploymentRef.from_json(d) for d in items]


# ---------------------------------------------------------------------------------------------------
# helpers


def _check_text(title: str, body: str) -> None:
    if not title.strip():
        raise ValidationFailed("an issue or PR title cannot be empty")
    if len(title) > MAX_ISSUE_TITLE_CHARS:
        raise ValidationFailed(f"title is {len(title)} characters; GitHub allows {MAX_ISSUE_TITLE_CHARS}")
    if len(body) > MAX_ISSUE_BODY_CHARS:
        raise ValidationFailed(
            f"body is {len(body)} characters; GitHub allows {MAX_ISSUE_BODY_CHARS} (render it shorter)"
        )


def _next_link(link: str | None, base_path: str) -> str | None:
    """The ``rel="next"`` URL as a path relative to the API base (``/repos/...?page=2``)."""
    if not link:
        return None
    match = _LINK_NEXT_RE.search(link)
    if match is None:
        return None
    # Keep path and query only: PyGithub prefixes its own base URL, so a server that spells its host
    # differently (an explicit :443, a proxy) can neither break the request nor send it elsewhere.
    parts = urllib.parse.urlsplit(match.group(1))
    path = parts.path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return urllib.parse.urlunsplit(("", "", path, parts.query, ""))


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as an absolute time: delta-seconds or an HTTP date."""
    if value is None:
        return None
    seconds = _float(value.strip())
    if seconds is not None:
        return now + max(seconds, 0.0)
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------
# the start check of ``crashbot watch``: plain urllib, so an idle watcher never loads PyGithub


@dataclass(frozen=True)
class StartCheck:
    """What GitHub said at start: ``login`` the identity ("" when GitHub would not say),
    ``reachable`` False when GitHub could not be reached (the watcher starts anyway and spools)."""

    reachable: bool
    login: str = ""
    reason: str = ""  # why it was not reachable
    checked: bool = True  # False: App auth, not asked at start


def start_check(
    settings: GitHubSettings,
    *,
    env: Mapping[str, str],
    repo: str | None = None,
    api_url: str | None = None,
    timeout_s: float = 10.0,
) -> StartCheck:
    """Check the credentials and the repository with two reads; ConfigError (one line naming the fix)
    on GitHub's definitive no (401, 403, 404), a StartCheck with ``reachable`` False when GitHub is
    merely unreachable (refused, timeout, 5xx)."""
    import urllib.error
    import urllib.request

    full_name = (repo or settings.repo).strip()
    base_url = (api_url or settings.api_url or "https://api.github.com").rstrip("/")
    kind, credential = _check_credentials(settings, env)
    if kind == "app":
        # asking as the App needs a signed JWT, i.e. cryptography in the idle watcher: its
        # credentials are checked by the first upload instead
        return StartCheck(reachable=True, checked=False)
    headers = {
        "Accept": "application/vnd.github+json",
        "User-Agent": "crashbot",
        "Authorization": f"Bearer {credential}",
    }

    def get(path: str) -> Any:
        request = urllib.request.Request(base_url + path, headers=headers)  # noqa: S310 (http(s) checked)
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    try:
        get(f"/repos/{full_name}")  # first: its 401/403/404 is the definitive answer
        login = _start_login(get)
    except urllib.error.HTTPError as e:
        rate_limited = e.code in (403, 429) and e.headers.get("x-ratelimit-remaining") == "0"
        if e.code in (401, 403, 404) and not rate_limited:
            raise ConfigError(_refusal(e.code, full_name, settings)) from None
        return StartCheck(reachable=False, reason=f"HTTP {e.code}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        return StartCheck(reachable=False, reason=str(getattr(e, "reason", e)) or type(e).__name__)
    return StartCheck(reachable=True, login=login)


def _start_login(get: Callable[[str], Any]) -> str:
    """The token's login; "" for an installation token handed in as a plain token (403 on /user)."""
    import urllib.error

    try:
        return str(get("/user").get("login", ""))
    except urllib.error.HTTPError as e:
        if e.code == 403:
            return ""
        raise


def _refusal(code: int, full_name: str, settings: GitHubSettings) -> str:
    """GitHub's definitive no to the token at start, as one line naming the fix."""
    if code == 401:
        names = " or ".join(settings.token_env)
        return f"GitHub refused the token (401): revoked, expired or mistyped; set a valid one in {names}"
    if code == 404:
        return (
            f"repository {full_name} not found (404): check --repo or github.repo, and that the token sees it"
        )
    return (
        f"GitHub forbids the token access to {full_name} (403): give it Issues read/write on the repository"
    )
