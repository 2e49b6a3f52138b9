"""Issues, their labels and comments, and issue search (with optional index lag), as GitHub serves them."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.standin.auth import visible_repo, writable_repo
from bot.standin.payloads import Urls, label_json, user_json
from bot.standin.routing import Router
from bot.standin.state import PERMISSIONS, Comment, Issue, Label, Repo, World, iso, node_id, parse_iso
from bot.standin.wire import (
    ApiError,
    Identity,
    Request,
    Response,
    not_found,
    page_response,
    require_string,
    validation_failed,
)

logger = logging.getLogger(__name__)

MAX_BODY_CHARS = 65_536
MAX_TITLE_CHARS = 256
MAX_LABEL_NAME_CHARS = 50
MAX_LABEL_DESCRIPTION_CHARS = 100
DEFAULT_LABEL_COLOR = "ededed"
_COLOR_RE = re.compile(r"\A[0-9a-fA-F]{6}\Z")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")


def author_association(world: World, repo: Repo, user: Identity) -> str:
    """OWNER for the repo owner, NONE for bots, COLLABORATOR for explicit grants, MEMBER for token holders."""
    if user.login.lower() == repo.owner.login.lower():
        return "OWNER"
    if user.kind == "Bot":
        return "NONE"
    explicit = repo.permissions.get(user.login.lower())
    if explicit is not None:
        return "COLLABORATOR" if PERMISSIONS.index(explicit) >= PERMISSIONS.index("read") else "NONE"
    return "MEMBER"


def reactions_json(url: str) -> dict[str, Any]:
    counts = dict.fromkeys(("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"), 0)
    return {"url": f"{url}/reactions", "total_count": 0, **counts}


def issue_json(world: World, urls: Urls, repo: Repo, issue: Issue) -> dict[str, Any]:
    """The issue object; a pull request's issue half carries the ``pull_request`` key, as on GitHub."""
    url = urls.issue(repo, issue.number)
    kind = "pull" if issue.pull is not None else "issues"
    body: dict[str, Any] = {
        "url": url,
        "repository_url": urls.repo(repo),
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{urls.repo_html(repo)}/{kind}/{issue.number}",
        "id": issue.id,
        "node_id": issue.node_id,
        "number": issue.number,
        "title": issue.title,
        "user": user_json(urls, issue.user),
        "labels": [label_json(urls, repo, label) for label in issue.labels],
        "state": issue.state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": len(issue.comments),
        "created_at": iso(issue.created_at),
        "updated_at": iso(issue.updated_at),
        "closed_at": iso(issue.closed_at),
        "author_association": author_association(world, repo, issue.user),
        "type": None,
        "active_lock_reason": None,
        "body": issue.body,
        "closed_by": user_json(urls, issue.closed_by) if issue.closed_by is not None else None,
        "reactions": reactions_json(url),
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "state_reason": issue.state_reason,
    }
    if issue.pull is not None:
        pull_url = urls.pull(repo, issue.number)
        html = f"{urls.repo_html(repo)}/pull/{issue.number}"
        body["draft"] = issue.pull.draft
        body["pull_request"] = {
            "url": pull_url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": iso(issue.pull.merged_at),
        }
    return body


def comment_json(world: World, urls: Urls, repo: Repo, comment: Comment) -> dict[str, Any]:
    url = f"{urls.repo(repo)}/issues/comments/{comment.id}"
    issue = repo.issues[comment.issue_number]
    kind = "pull" if issue.pull is not None else "issues"
    return {
        "url": url,
        "html_url": f"{urls.repo_html(repo)}/{kind}/{comment.issue_number}#issuecomment-{comment.id}",
        "issue_url": urls.issue(repo, comment.issue_number),
        "id": comment.id,
        "node_id": comment.node_id,
        "user": user_json(urls, comment.user),
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "author_association": author_association(world, repo, comment.user),
        "body": comment.body,
        "reactions": reactions_json(url),
        "performed_via_github_app": None,
    }


def check_body(body: str | None, resource: str) -> None:
    if body is not None and len(body) > MAX_BODY_CHARS:
        raise validation_failed(
            resource, "body", "custom", f"body is too long (maximum is {MAX_BODY_CHARS} characters)"
        )


def check_title(title: str, resource: str) -> None:
    if not title.strip():
        raise validation_failed(resource, "title", "missing_field")
    if len(title) > MAX_TITLE_CHARS:
        raise validation_failed(
            resource, "title", "custom", f"title is too long (maximum is {MAX_TITLE_CHARS} characters)"
        )


def label_names(value: Any) -> list[str]:
    """Label names from a request: a list of strings or of ``{"name": ...}`` objects."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ApiError(422, f"Invalid request.\n\nFor 'properties/labels', {value!r} is not an array.")
    names: list[str] = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise ApiError(422, f"Invalid request.\n\nFor 'items', {item!r} is not a string.")
        names.append(name)
    return names


def resolve_labels(world: World, repo: Repo, names: Iterable[str]) -> list[Label]:
    """The labels named, creating missing ones as GitHub does; names match case-insensitively."""
    labels: list[Label] = []
    for raw in names:
        name = raw.strip()
        if not name:
            raise validation_failed("Label", "name", "missing_field")
        if len(name) > MAX_LABEL_NAME_CHARS:
            raise validation_failed(
                "Label", "name", "custom", f"name is too long (maximum is {MAX_LABEL_NAME_CHARS} characters)"
            )
        existing = repo.labels.get(name.lower())
        if existing is None:
            label_id = world.new_id()
            existing = Label(label_id, node_id("LA", label_id), name, DEFAULT_LABEL_COLOR, None)
            repo.labels[name.lower()] = existing
        if existing not in labels:
            labels.append(existing)
    return labels


class IssuesApi:
    """Issue, comment and label endpoints of one stand-in."""

    def __init__(
        self,
        world: World,
        urls: Urls,
        *,
        search_lag_s: float = 0.0,
        before_read: Callable[[Repo], None] | None = None,
    ) -> None:
        self.world = world
        self.urls = urls
        self.search_lag_s = search_lag_s
        # pulls re-read their branches first, so a PR's issue half shows the state git implies
        self._before_read = before_read or (lambda repo: None)

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        router.add("GET", f"{base}/issues", self.list_issues)
        router.add("POST", f"{base}/issues", self.create_issue)
        router.add("GET", f"{base}/issues/comments/{{comment_id:int}}", self.get_comment)
        router.add("PATCH", f"{base}/issues/comments/{{comment_id:int}}", self.edit_comment)
        router.add("GET", f"{base}/issues/{{number:int}}", self.get_issue)
        router.add("PATCH", f"{base}/issues/{{number:int}}", self.edit_issue)
        router.add("GET", f"{base}/issues/{{number:int}}/comments", self.list_comments)
        router.add("POST", f"{base}/issues/{{number:int}}/comments", self.create_comment)
        router.add("GET", f"{base}/issues/{{number:int}}/labels", self.list_issue_labels)
        router.add("POST", f"{base}/issues/{{number:int}}/labels", self.add_labels)
        router.add("PUT", f"{base}/issues/{{number:int}}/labels", self.set_labels)
        router.add("DELETE", f"{base}/issues/{{number:int}}/labels", self.clear_labels)
        router.add("DELETE", f"{base}/issues/{{number:int}}/labels/{{name}}", self.remove_label)
        router.add("GET", f"{base}/labels", self.list_labels)
        router.add("POST", f"{base}/labels", self.create_label)
        router.add("GET", f"{base}/labels/{{name}}", self.get_label)
        router.add("GET", "/search/issues", self.search_issues)

    def _json(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        return issue_json(self.world, self.urls, repo, issue)

    # -- issues -------------------------------------------------------------------------------------

    def create_issue(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="read")
        actor = request.actor()
        body = request.json_object()
        title = require_string(body, "title", "Issue")
        check_title(title, "Issue")
        text = require_string(body, "body", "Issue", required=False)
        check_body(text, "Issue")
        names = label_names(body.get("labels"))
        # only users with push access can set labels; GitHub drops them silently otherwise
        labels = resolve_labels(self.world, repo, names) if self.world.can_push(repo, actor) else []
        now = self.world.now()
        issue_id = self.world.new_id()
        issue = Issue(
            id=issue_id,
            node_id=node_id("I", issue_id),
            number=repo.next_number(),
            title=title,
            body=text,
            user=actor,
            created_at=now,
            updated_at=now,
            labels=labels,
        )
        repo.issues[issue.number] = issue
        logger.debug("stand-in issue %s#%d created", repo.full_name, issue.number)
        return Response(201, self._json(repo, issue), {"Location": self.urls.issue(repo, issue.number)})

    def get_issue(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        self._before_read(repo)
        return Response(200, self._json(repo, repo.issue(int(request.params["number"]))))

    def edit_issue(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="read")
        actor = request.actor()
        issue = repo.issue(int(request.params["number"]))
        if issue.user != actor and not self.world.can_push(repo, actor):
            raise ApiError(403, "Must have push access to edit this issue")
        body = request.json_object()
        now = self.world.now()
        changes: dict[str, Any] = {}
        if "title" in body:
            title = require_string(body, "title", "Issue")
            check_title(title, "Issue")
            changes["title"] = title
        if "body" in body:
            text = require_string(body, "body", "Issue", required=False)
            check_body(text, "Issue")
            changes["body"] = text
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise validation_failed("Issue", "state", "invalid")
        if state == "open" and issue.pull is not None and issue.pull.merged:
            raise validation_failed(
                "Issue", "state", "custom", "state cannot be changed. The pull request cannot be reopened."
            )
        reason = body.get("state_reason")
        if reason is not None and reason not in STATE_REASONS:
            raise validation_failed("Issue", "state_reason", "invalid")
        labels = None
        if "labels" in body and self.world.can_push(repo, actor):
            labels = resolve_labels(self.world, repo, label_names(body["labels"]))
        # validation passed: apply every change or none
        for key, value in changes.items():
            setattr(issue, key, value)
        if labels is not None:
            issue.labels = labels
        if state == "closed":
            issue.close(actor, now, reason or "completed")
        elif state == "open":
            issue.reopen(now)
        elif reason is not None and issue.state == "closed":
            issue.state_reason = reason
        issue.updated_at = now
        return Response(200, self._json(repo, issue))

    def list_issues(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        self._before_read(repo)
        items = filter_issues(list(repo.issues.values()), request)
        return page_response(
            [self._json(repo, issue) for issue in items], request, self.urls.list_url(repo, "/issues")
        )

    # -- comments -----------------------------------------------------------------------------------

    def list_comments(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        number = int(request.params["number"])
        issue = repo.issue(number)
        comments = sorted(issue.comments, key=lambda c: c.id)
        since_raw = request.arg("since")
        if since_raw:
            since = _since(since_raw)
            comments = [c for c in comments if c.updated_at >= since]
        return page_response(
            [comment_json(self.world, self.urls, repo, c) for c in comments],
            request,
            self.urls.list_url(repo, f"/issues/{number}/comments"),
        )

    def create_comment(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="read")
        issue = repo.issue(int(request.params["number"]))
        text = require_string(request.json_object(), "body", "IssueComment")
        if not text.strip():
            raise validation_failed("IssueComment", "body", "missing_field")
        check_body(text, "IssueComment")
        now = self.world.now()
        comment_id = self.world.new_id()
        comment = Comment(
            comment_id, node_id("IC", comment_id), issue.number, text, request.actor(), now, now
        )
        issue.comments.append(comment)
        issue.updated_at = now
        payload = comment_json(self.world, self.urls, repo, comment)
        return Response(201, payload, {"Location": payload["url"]})

    def _find_comment(self, repo: Repo, comment_id: int) -> Comment:
        for issue in repo.issues.values():
            for comment in issue.comments:
                if comment.id == comment_id:
                    return comment
        raise not_found()

    def get_comment(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        comment = self._find_comment(repo, int(request.params["comment_id"]))
        return Response(200, comment_json(self.world, self.urls, repo, comment))

    def edit_comment(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="read")
        actor = request.actor()
        comment = self._find_comment(repo, int(request.params["comment_id"]))
        if comment.user != actor and not self.world.can_push(repo, actor):
            raise ApiError(403, "Must have push access to edit this comment")
        text = require_string(request.json_object(), "body", "IssueComment")
        check_body(text, "IssueComment")
        comment.body = text
        comment.updated_at = self.world.now()
        return Response(200, comment_json(self.world, self.urls, repo, comment))

    # -- labels -------------------------------------------------------------------------------------

    def _labels_answer(self, repo: Repo, issue: Issue) -> Response:
        return Response(200, [label_json(self.urls, repo, label) for label in issue.labels])

    def list_issue_labels(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        issue = repo.issue(int(request.params["number"]))
        return self._labels_answer(repo, issue)

    def _labels_body(self, request: Request) -> list[str]:
        body = request.body
        # both {"labels": [...]} and a bare array are accepted by GitHub
        if isinstance(body, dict):
            return label_names(body.get("labels"))
        return label_names(body)

    def add_labels(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="triage")
        issue = repo.issue(int(request.params["number"]))
        added = resolve_labels(self.world, repo, self._labels_body(request))
        issue.labels.extend(label for label in added if label not in issue.labels)
        issue.updated_at = self.world.now()
        return self._labels_answer(repo, issue)

    def set_labels(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="triage")
        issue = repo.issue(int(request.params["number"]))
        issue.labels = resolve_labels(self.world, repo, self._labels_body(request))
        issue.updated_at = self.world.now()
        return self._labels_answer(repo, issue)

    def clear_labels(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="triage")
        issue = repo.issue(int(request.params["number"]))
        issue.labels = []
        issue.updated_at = self.world.now()
        return Response(204)

    def remove_label(self, request: Request) -> Response:
        repo = writable_repo(self.world, request, role="triage")
        issue = repo.issue(int(request.params["number"]))
        name = request.params["name"].lower()
        remaining = [label for label in issue.labels if label.name.lower() != name]
        if len(remaining) == len(issue.labels):
            raise ApiError(404, "Label does not exist")
        issue.labels = remaining
        issue.updated_at = self.world.now()
        return self._labels_answer(repo, issue)

    def list_labels(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        labels = sorted(repo.labels.values(), key=lambda label: label.id)
        return page_response(
            [label_json(self.urls, repo, label) for label in labels],
            request,
            self.urls.list_url(repo, "/labels"),
        )

    def get_label(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        label = repo.labels.get(request.params["name"].lower())
        if label is None:
            raise not_found()
        return Response(200, label_json(self.urls, repo, label))

    def create_label(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        body = request.json_object()
        name = require_string(body, "name", "Label")
        color = (require_string(body, "color", "Label", required=False) or DEFAULT_LABEL_COLOR).lstrip("#")
        description = require_string(body, "description", "Label", required=False)
        if not _COLOR_RE.match(color):
            raise validation_failed("Label", "color", "invalid")
        if description is not None and len(description) > MAX_LABEL_DESCRIPTION_CHARS:
            raise validation_failed(
                "Label",
                "description",
                "custom",
                f"description is too long (maximum is {MAX_LABEL_DESCRIPTION_CHARS} characters)",
            )
        if name.strip().lower() in repo.labels:
            raise validation_failed("Label", "name", "already_exists")
        (label,) = resolve_labels(self.world, repo, [name])
        label.color = color.lower()
        label.description = description
        return Response(
            201, label_json(self.urls, repo, label), {"Location": self.urls.label(repo, label.name)}
        )

    # -- search -------------------------------------------------------------------------------------

    def search_issues(self, request: Request) -> Response:
        query = request.arg("q")
        if not query:
            raise validation_failed("Search", "q", "missing")
        search = SearchQuery.parse(query)
        cutoff = self.world.now() - self.search_lag_s
        items: list[tuple[Repo, Issue]] = []
        for repo in self.world.repos.values():
            if self.world.permission(repo, request.identity) == "none":
                continue
            self._before_read(repo)
            for issue in repo.issues.values():
                # the index is eventually consistent: new issues surface only after the lag
                if issue.created_at <= cutoff and search.matches(repo, issue):
                    items.append((repo, issue))
        key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}.get(
            request.arg("sort") or "", "created_at"
        )
        reverse = (request.arg("order") or "desc") != "asc"
        items.sort(key=lambda pair: (_sort_value(pair[1], key), pair[1].id), reverse=reverse)
        page = page_response(
            [{**self._json(repo, issue), "score": 1.0} for repo, issue in items],
            request,
            f"{self.urls.api}/search/issues",
        )
        return Response(
            200,
            {"total_count": len(items), "incomplete_results": False, "items": page.body},
            page.headers,
        )


def _sort_value(issue: Issue, key: str) -> float:
    if key == "comments":
        return float(len(issue.comments))
    value: float = getattr(issue, key)
    return value


def _since(raw: str) -> float:
    since = parse_iso(raw)
    if since is None:
        raise validation_failed("Issue", "since", "invalid", f"since is not an ISO 8601 timestamp: {raw}")
    return since


def filter_issues(issues: Sequence[Issue], request: Request) -> list[Issue]:
    """Apply the list-issues query (state, labels AND, creator, since, sort, direction)."""
    state = request.arg("state") or "open"
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", "state", "invalid")
    selected = [i for i in issues if state in ("all", i.state)]
    wanted = [name.strip().lower() for name in (request.arg("labels") or "").split(",") if name.strip()]
    if wanted:
        selected = [i for i in selected if set(wanted) <= {label.name.lower() for label in i.labels}]
    creator = request.arg("creator")
    if creator:
        selected = [i for i in selected if i.user.login.lower() == creator.lower()]
    since_raw = request.arg("since")
    if since_raw:
        since = _since(since_raw)
        selected = [i for i in selected if i.updated_at >= since]
    sort = request.arg("sort") or "created"
    key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}.get(sort)
    if key is None:
        raise validation_failed("Issue", "sort", "invalid")
    reverse = (request.arg("direction") or "desc") != "asc"
    selected.sort(key=lambda i: (_sort_value(i, key), i.number), reverse=reverse)
    return selected


class SearchQuery:
    """The subset of GitHub's issue search syntax crashbot-style queries use."""

    def __init__(self) -> None:
        self.repos: set[str] = set()
        self.labels: list[str] = []
        self.state: str | None = None
        self.kind: str | None = None  # issue | pr
        self.author: str | None = None
        self.terms: list[str] = []

    @classmethod
    def parse(cls, text: str) -> SearchQuery:
        query = cls()
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            raise validation_failed("Search", "q", "invalid", f"unbalanced quotes in {text!r}") from exc
        for token in tokens:
            qualifier, sep, value = token.partition(":")
            qualifier = qualifier.lower()
            if not sep:
                query.terms.append(token.lower())
            elif qualifier == "repo":
                query.repos.add(value.lower())
            elif qualifier == "label":
                query.labels.append(value.lower())
            elif qualifier in ("is", "state", "type"):
                query._flag(value.lower())
            elif qualifier == "author":
                query.author = value.lower()
            elif qualifier == "in":
                continue  # title and body are always searched
            else:
                logger.warning("stand-in search ignores qualifier %r", token)
        return query

    def _flag(self, value: str) -> None:
        if value in ("open", "closed"):
            self.state = value
        elif value in ("issue", "issues"):
            self.kind = "issue"
        elif value in ("pr", "pull-request", "pull_request"):
            self.kind = "pr"

    def matches(self, repo: Repo, issue: Issue) -> bool:
        if self.repos and repo.full_name.lower() not in self.repos:
            return False
        if self.state is not None and issue.state != self.state:
            return False
        if self.kind == "issue" and issue.pull is not None:
            return False
        if self.kind == "pr" and issue.pull is None:
            return False
        if self.author is not None and issue.user.login.lower() != self.author:
            return False
        names = {label.name.lower() for label in issue.labels}
        if any(label not in names for label in self.labels):
            return False
        haystack = f"{issue.title}\n{issue.body or ''}".lower()
        return all(term in haystack for term in self.terms)
