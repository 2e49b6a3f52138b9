"""The stand-in's world: repositories, issues, pulls, labels, comments, deployments, identities.

These records are mutable on purpose (they are the server's database), unlike the project's domain objects;
every read and write happens under ``World.lock`` so the API is read-after-write consistent.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.standin.errors import StandInError
from bot.standin.gitrepo import GitRepo
from bot.standin.wire import ApiError, Identity, not_found

Clock = Callable[[], float]

# the labels GitHub puts into every new repository (name, color, description)
DEFAULT_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")


def iso(epoch: float | None) -> str | None:
    """GitHub's timestamp format: UTC, whole seconds, ``Z`` suffix."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float | None:
    """Epoch seconds from an ISO 8601 timestamp (``Z`` or offset), or None if it is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def node_id(prefix: str, number: int) -> str:
    """An opaque global node id in GitHub's current ``<TYPE>_<base64>`` style."""
    raw = base64.urlsafe_b64encode(number.to_bytes(8, "big")).decode("ascii").rstrip("=")
    return f"{prefix}_kwDO{raw}"


@dataclass
class Label:
    id: int
    node_id: str
    name: str
    color: str
    description: str | None
    default: bool = False


@dataclass
class Comment:
    id: int
    node_id: str
    issue_number: int
    body: str
    user: Identity
    created_at: float
    updated_at: float


@dataclass
class PullInfo:
    """What a pull request adds to its issue record; head/base shas are re-read from git while open."""

    id: int
    node_id: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool
    maintainer_can_modify: bool = True
    merged_at: float | None = None
    merged_by: Identity | None = None
    merge_commit_sha: str | None = None

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Issue:
    """An issue, or a pull request's issue half (``pull`` set): they share one number space."""

    id: int
    node_id: str
    number: int
    title: str
    body: str | None
    user: Identity
    created_at: float
    updated_at: float
    labels: list[Label] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: float | None = None
    closed_by: Identity | None = None
    comments: list[Comment] = field(default_factory=list)
    pull: PullInfo | None = None

    def close(self, actor: Identity, now: float, reason: str | None) -> None:
        if self.state == "closed":
            return
        self.state = "closed"
        self.state_reason = reason
        self.closed_at = now
        self.closed_by = actor
        self.updated_at = now

    def reopen(self, now: float) -> None:
        if self.state == "open":
            return
        self.state = "open"
        self.state_reason = "reopened"
        self.closed_at = None
        self.closed_by = None
        self.updated_at = now


@dataclass
class DeploymentStatus:
    id: int
    node_id: str
    state: str
    creator: Identity
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    created_at: float
    updated_at: float


@dataclass
class Deployment:
    id: int
    node_id: str
    sha: str
    ref: str
    task: str
    payload: Any
    environment: str
    original_environment: str
    description: str | None
    creator: Identity
    created_at: float
    updated_at: float
    transient_environment: bool
    production_environment: bool
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    node_id: str
    owner: Identity
    name: str
    default_branch: str
    private: bool
    git: GitRepo
    created_at: float
    labels: dict[str, Label] = field(default_factory=dict)  # keyed by lower-cased name
    issues: dict[int, Issue] = field(default_factory=dict)
    deployments: list[Deployment] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> none|read|...|admin
    deleted: set[int] = field(default_factory=set)  # issue numbers an admin deleted (never reused)
    pinned: list[int] = field(default_factory=list)  # issue numbers pinned through GraphQL (at most 3)
    dispatches: list[Any] = field(default_factory=list)  # workflow_dispatch requests (bot.standin.actions)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def next_number(self) -> int:
        return max((*self.issues, *self.deleted), default=0) + 1

    def issue(self, number: int) -> Issue:
        found = self.issues.get(number)
        if found is None:
            # GitHub answers a deleted issue with 410 Gone ("This issue was deleted")
            raise ApiError(410, "This issue was deleted") if number in self.deleted else not_found()
        return found

    def pull(self, number: int) -> Issue:
        found = self.issues.get(number)
        if found is None or found.pull is None:
            raise not_found()
        return found


@dataclass
class App:
    """A GitHub App the stand-in knows: its key verifies JWTs, its installations mint tokens."""

    app_id: str
    login: str  # the bot's login, "<slug>[bot]"
    public_key_pem: str
    installations: set[str] = field(default_factory=set)


@dataclass
class World:
    """Everything the server knows, plus the clock and lock every handler uses."""

    clock: Clock = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    repos: dict[str, Repo] = field(default_factory=dict)  # keyed by lower-cased full name
    users: dict[str, Identity] = field(default_factory=dict)  # keyed by lower-cased login
    tokens: dict[str, Identity] = field(default_factory=dict)
    token_expiry: dict[str, float] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_001))

    def new_id(self) -> int:
        """Ids are unique across all object kinds, which is stricter than GitHub and harmless."""
        return next(self._ids)

    def now(self) -> float:
        return self.clock()

    def user(self, login: str, *, kind: str = "User") -> Identity:
        """The identity for ``login``, registering it on first sight so ids stay stable."""
        key = login.lower()
        found = self.users.get(key)
        if found is None:
            found = Identity(login=login, user_id=self.new_id(), kind=kind)
            self.users[key] = found
        return found

    def repo(self, owner: str, name: str) -> Repo:
        found = self.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise not_found()
        return found

    def repo_by_id(self, repo_id: int) -> Repo:
        for repo in self.repos.values():
            if repo.id == repo_id:
                return repo
        raise not_found()

    def known_repo(self, full_name: str) -> Repo:
        """A repo by full name for the Python API; unknown names are a setup mistake, said plainly."""
        found = self.repos.get(full_name.lower())
        if found is None:
            known = ", ".join(sorted(r.full_name for r in self.repos.values())) or "none"
            raise StandInError(f"stand-in has no repo {full_name!r} (known: {known}); call add_repo first")
        return found

    def add_repo(self, full_name: str, path: Path, *, default_branch: str, private: bool) -> Repo:
        owner_login, _, name = full_name.partition("/")
        if not owner_login or not name or "/" in name:
            raise StandInError(f"repo name {full_name!r} is not OWNER/NAME; pass e.g. 'acme/worldserver'")
        existing = self.repos.get(full_name.lower())
        if existing is not None:
            return existing
        repo_id = self.new_id()
        repo = Repo(
            id=repo_id,
            node_id=node_id("R", repo_id),
            owner=self.user(owner_login, kind="Organization"),
            name=name,
            default_branch=default_branch,
            private=private,
            git=GitRepo.init_bare(path, default_branch),
            created_at=self.now(),
        )
        for label_name, color, description in DEFAULT_LABELS:
            label_id = self.new_id()
            repo.labels[label_name] = Label(
                label_id, node_id("LA", label_id), label_name, color, description, True
            )
        self.repos[full_name.lower()] = repo
        return repo

    def permission(self, repo: Repo, identity: Identity | None) -> str:
        """The identity's role on the repo: an explicit grant, else admin (token holders own the repo)."""
        if identity is None:
            return "none" if repo.private else "read"
        granted = repo.permissions.get(identity.login.lower(), "admin")
        if granted == "none" and not repo.private:
            return "read"  # anyone may read a public repository and comment on its issues
        return granted

    def can_push(self, repo: Repo, identity: Identity | None) -> bool:
        return PERMISSIONS.index(self.permission(repo, identity)) >= PERMISSIONS.index("write")
