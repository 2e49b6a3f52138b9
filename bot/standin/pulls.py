"""Pull requests and real merges (merge, squash, rebase) performed in the bare repository."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.standin.auth import visible_repo, writable_repo
from bot.standin.gitrepo import Person
from bot.standin.issues import author_association, check_body, check_title
from bot.standin.payloads import Urls, label_json, repo_json, user_json
from bot.standin.refs import commit_json
from bot.standin.routing import Router
from bot.standin.state import Issue, PullInfo, Repo, World, iso, node_id
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

MERGE_METHODS = ("merge", "squash", "rebase")
GITHUB_COMMITTER = ("GitHub", "noreply@github.com")
# GitHub's closing keywords: https://docs.github.com/issues/tracking-your-work-with-issues/linking-a-pull-request-to-an-issue
CLOSING_RE = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<number>\d+)\b",
    re.IGNORECASE,
)


def noreply_person(identity: Identity | None, date: str) -> Person:
    if identity is None:
        return Person(*GITHUB_COMMITTER, date)
    return Person(identity.login, f"{identity.user_id}+{identity.login}@users.noreply.github.com", date)


def closing_references(text: str, repo: Repo) -> list[tuple[str, int]]:
    """(repo full name, issue number) pairs that ``Fixes #N``-style keywords in ``text`` close."""
    found = []
    for match in CLOSING_RE.finditer(text):
        target = match.group("repo") or repo.full_name
        found.append((target.lower(), int(match.group("number"))))
    return found


class PullsApi:
    """``/pulls`` endpoints; a pull request's number, labels and comments live on its issue record."""

    def __init__(self, world: World, urls: Urls) -> None:
        self.world = world
        self.urls = urls

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/pulls"
        router.add("GET", base, self.list_pulls)
        router.add("POST", base, self.create_pull)
        router.add("GET", f"{base}/{{number:int}}", self.get_pull)
        router.add("PATCH", f"{base}/{{number:int}}", self.edit_pull)
        router.add("GET", f"{base}/{{number:int}}/merge", self.is_merged)
        router.add("PUT", f"{base}/{{number:int}}/merge", self.merge)
        router.add("GET", f"{base}/{{number:int}}/commits", self.list_commits)

    # -- keeping pulls in step with git -------------------------------------------------------------

    def sync(self, repo: Repo) -> None:
        """Re-read open pulls' branches: pushes move head.sha, a deleted head closes the pull, and a head
        already contained in its base (pushed by hand) marks it merged, as GitHub does."""
        for issue in repo.issues.values():
            pull = issue.pull
            if pull is None or issue.state != "open":
                continue
            head = repo.git.resolve(f"refs/heads/{pull.head_ref}")
            base = repo.git.resolve(f"refs/heads/{pull.base_ref}")
            now = self.world.now()
            if head is None:
                issue.close(issue.user, now, None)
                continue
            pull.head_sha = head
            if base is None:
                continue
            pull.base_sha = base
            if repo.git.is_ancestor(head, base) and pull.merge_commit_sha is None:
                pull.merged_at = now
                pull.merge_commit_sha = base
                issue.close(issue.user, now, None)

    # -- rendering ----------------------------------------------------------------------------------

    def _side(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner.login}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": user_json(self.urls, repo.owner),
            "repo": repo_json(self.urls, repo, permission=None, pushed_at=None),
        }

    def pull_json(
        self, repo: Repo, issue: Issue, *, detail: bool, compute_mergeable: bool = True
    ) -> dict[str, Any]:
        pull = issue.pull
        assert pull is not None
        url = self.urls.pull(repo, issue.number)
        html = f"{self.urls.repo_html(repo)}/pull/{issue.number}"
        issue_url = self.urls.issue(repo, issue.number)
        body: dict[str, Any] = {
            "url": url,
            "id": pull.id,
            "node_id": pull.node_id,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.urls.repo(repo)}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{self.urls.repo(repo)}/statuses/{pull.head_sha}",
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": user_json(self.urls, issue.user),
            "body": issue.body,
            "labels": [label_json(self.urls, repo, label) for label in issue.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "merged_at": iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._side(repo, pull.head_ref, pull.head_sha),
            "base": self._side(repo, pull.base_ref, pull.base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{self.urls.repo(repo)}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{self.urls.repo(repo)}/statuses/{pull.head_sha}"},
            },
            "author_association": author_association(self.world, repo, issue.user),
            "auto_merge": None,
            "draft": pull.draft,
        }
        if detail:
            body.update(self._detail(repo, issue, pull, compute_mergeable=compute_mergeable))
        return body

    def _detail(self, repo: Repo, issue: Issue, pull: PullInfo, *, compute_mergeable: bool) -> dict[str, Any]:
        mergeable: bool | None = None
        state = "unknown"
        # GitHub computes mergeability in the background: a freshly written pull reads null/unknown
        if compute_mergeable and issue.state == "open":
            result = repo.git.merge_trees(pull.base_sha, pull.head_sha)
            mergeable = result.tree is not None
            state = "draft" if pull.draft else ("clean" if mergeable else "dirty")
        merge_base = repo.git.merge_base(pull.base_sha, pull.head_sha)
        commits = len(repo.git.commits_between(pull.base_sha, pull.head_sha))
        changes = repo.git.diff_files(merge_base, pull.head_sha) if merge_base else []
        return {
            "merged": pull.merged,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": state,
            "merged_by": user_json(self.urls, pull.merged_by) if pull.merged_by is not None else None,
            "comments": len(issue.comments),
            "review_comments": 0,
            "maintainer_can_modify": pull.maintainer_can_modify,
            "commits": commits,
            "additions": sum(c.additions for c in changes),
            "deletions": sum(c.deletions for c in changes),
            "changed_files": len(changes),
        }

    # -- endpoints ----------------------------------------------------------------------------------

    def _head_ref(self, repo: Repo, head: str) -> str:
        owner, sep, ref = head.partition(":")
        if not sep:
            return head
        if owner.lower() != repo.owner.login.lower():
            # forks are not modelled: a head in another account cannot exist here
            raise validation_failed("PullRequest", "head", "invalid")
        return ref

    def create_pull(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        actor = request.actor()
        body = request.json_object()
        head_raw = require_string(body, "head", "PullRequest")
        base_ref = require_string(body, "base", "PullRequest")
        title = require_string(body, "title", "PullRequest")
        check_title(title, "PullRequest")
        text = require_string(body, "body", "PullRequest", required=False)
        check_body(text, "PullRequest")
        head_ref = self._head_ref(repo, head_raw)
        self.sync(repo)
        head = repo.git.resolve(f"refs/heads/{head_ref}")
        base = repo.git.resolve(f"refs/heads/{base_ref}")
        if head is None:
            raise validation_failed("PullRequest", "head", "invalid")
        if base is None:
            raise validation_failed("PullRequest", "base", "invalid")
        for other in repo.issues.values():
            if (
                other.pull is not None
                and other.state == "open"
                and other.pull.head_ref == head_ref
                and other.pull.base_ref == base_ref
            ):
                raise validation_failed(
                    "PullRequest",
                    None,
                    "custom",
                    f"A pull request already exists for {repo.owner.login}:{head_ref}.",
                )
        ahead, _ = repo.git.ahead_behind(base, head)
        if ahead == 0:
            raise validation_failed(
                "PullRequest", None, "custom", f"No commits between {base_ref} and {head_ref}"
            )
        now = self.world.now()
        issue_id, pull_id = self.world.new_id(), self.world.new_id()
        issue = Issue(
            id=issue_id,
            node_id=node_id("I", issue_id),
            number=repo.next_number(),
            title=title,
            body=text,
            user=actor,
            created_at=now,
            updated_at=now,
            pull=PullInfo(
                id=pull_id,
                node_id=node_id("PR", pull_id),
                head_ref=head_ref,
                head_sha=head,
                base_ref=base_ref,
                base_sha=base,
                draft=body.get("draft") is True,
                maintainer_can_modify=body.get("maintainer_can_modify") is not False,
            ),
        )
        repo.issues[issue.number] = issue
        payload = self.pull_json(repo, issue, detail=True, compute_mergeable=False)
        return Response(201, payload, {"Location": payload["url"]})

    def list_pulls(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        self.sync(repo)
        state = request.arg("state") or "open"
        if state not in ("open", "closed", "all"):
            raise validation_failed("PullRequest", "state", "invalid")
        pulls = [i for i in repo.issues.values() if i.pull is not None and state in ("all", i.state)]
        head = request.arg("head")
        if head:
            owner, sep, ref = head.partition(":")
            if sep:
                pulls = [
                    i
                    for i in pulls
                    if owner.lower() == repo.owner.login.lower()
                    and i.pull is not None
                    and i.pull.head_ref == ref
                ]
        base = request.arg("base")
        if base:
            pulls = [i for i in pulls if i.pull is not None and i.pull.base_ref == base]
        sort = request.arg("sort") or "created"
        key = "updated_at" if sort in ("updated", "long-running") else "created_at"
        reverse = (request.arg("direction") or "desc") != "asc"
        pulls.sort(key=lambda i: (getattr(i, key), i.number), reverse=reverse)
        return page_response(
            [self.pull_json(repo, i, detail=False) for i in pulls],
            request,
            self.urls.list_url(repo, "/pulls"),
        )

    def _pull(self, repo: Repo, request: Request) -> tuple[Issue, PullInfo]:
        """The pull request the path's ``{number}`` names (404 for none, or a plain issue), its repository's
        pulls first brought in step with git."""
        self.sync(repo)
        issue = repo.pull(int(request.params["number"]))
        assert issue.pull is not None  # Repo.pull answers 404 for an issue without one
        return issue, issue.pull

    def get_pull(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        issue, _ = self._pull(repo, request)
        return Response(200, self.pull_json(repo, issue, detail=True))

    def edit_pull(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        actor = request.actor()
        issue, pull = self._pull(repo, request)
        body = request.json_object()
        title = require_string(body, "title", "PullRequest", required=False)
        if title is not None:
            check_title(title, "PullRequest")
        text = require_string(body, "body", "PullRequest", required=False) if "body" in body else issue.body
        check_body(text, "PullRequest")
        base_ref = require_string(body, "base", "PullRequest", required=False)
        base_sha = repo.git.resolve(f"refs/heads/{base_ref}") if base_ref is not None else pull.base_sha
        if base_sha is None:
            raise validation_failed("PullRequest", "base", "invalid")
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise validation_failed("PullRequest", "state", "invalid")
        if (
            state == "open"
            and issue.state == "closed"
            and (pull.merged or repo.git.resolve(f"refs/heads/{pull.head_ref}") is None)
        ):
            raise validation_failed(
                "PullRequest",
                "state",
                "custom",
                "state cannot be changed. The pull request cannot be reopened.",
            )
        now = self.world.now()
        if title is not None:
            issue.title = title
        issue.body = text
        if base_ref is not None:
            pull.base_ref, pull.base_sha = base_ref, base_sha
        if state == "closed":
            issue.close(actor, now, None)
        elif state == "open" and issue.state == "closed":
            issue.reopen(now)
            issue.state_reason = None
        issue.updated_at = now
        return Response(200, self.pull_json(repo, issue, detail=True, compute_mergeable=False))

    def list_commits(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        issue, pull = self._pull(repo, request)
        commits = repo.git.commits_between(pull.base_sha, pull.head_sha) if not pull.merged else []
        return page_response(
            [commit_json(self.urls, repo, c, with_files=False) for c in commits],
            request,
            self.urls.list_url(repo, f"/pulls/{issue.number}/commits"),
        )

    def is_merged(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        _issue, pull = self._pull(repo, request)
        if not pull.merged:
            raise not_found()
        return Response(204)

    def merge(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        actor = request.actor()
        issue, pull = self._pull(repo, request)
        body = request.json_object()
        method = body.get("merge_method") or "merge"
        if method not in MERGE_METHODS:
            raise validation_failed("PullRequest", "merge_method", "invalid")
        if issue.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        if pull.draft:
            raise ApiError(405, "Pull Request is still a draft")
        expected = body.get("sha")
        if expected is not None and expected != pull.head_sha:
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        title = require_string(body, "commit_title", "PullRequest", required=False)
        message = require_string(body, "commit_message", "PullRequest", required=False)
        now = self.world.now()
        date = iso(now) or ""
        author = noreply_person(actor, date)
        committer = noreply_person(None, date)
        new_sha = self._merge_commit(
            repo, issue=issue, method=method, title=title, message=message, author=author, committer=committer
        )
        if not repo.git.update_ref(f"refs/heads/{pull.base_ref}", new_sha, pull.base_sha):
            raise ApiError(409, "Base branch was modified. Review and try the merge again.")
        pull.merged_at = now
        pull.merged_by = actor
        pull.merge_commit_sha = new_sha
        issue.close(actor, now, None)
        if pull.base_ref == repo.default_branch:
            self._close_referenced(repo, issue, actor, now)
        logger.debug("stand-in merged %s#%d by %s into %s", repo.full_name, issue.number, method, new_sha)
        return Response(200, {"sha": new_sha, "merged": True, "message": "Pull Request successfully merged"})

    def _merge_commit(
        self,
        repo: Repo,
        *,
        issue: Issue,
        method: str,
        title: str | None,
        message: str | None,
        author: Person,
        committer: Person,
    ) -> str:
        pull = issue.pull
        assert pull is not None
        git = repo.git
        if method == "rebase":
            current = pull.base_sha
            for commit in git.commits_between(pull.base_sha, pull.head_sha):
                result = git.cherry_pick_tree(current, commit.sha)
                if result.tree is None:
                    raise ApiError(405, "This branch can't be rebased")
                current = git.commit_tree(
                    result.tree, [current], commit.message, author=commit.author, committer=committer
                )
            return current
        result = git.merge_trees(pull.base_sha, pull.head_sha)
        if result.tree is None:
            raise ApiError(405, "Pull Request is not mergeable")
        if method == "squash":
            commits = git.commits_between(pull.base_sha, pull.head_sha)
            default_message = "\n\n".join(f"* {c.message.strip()}" for c in commits)
            subject = title or f"{issue.title} (#{issue.number})"
            text = f"{subject}\n\n{message if message is not None else default_message}"
            squash_author = noreply_person(issue.user, author.date)
            return git.commit_tree(
                result.tree, [pull.base_sha], text, author=squash_author, committer=committer
            )
        default_title = f"Merge pull request #{issue.number} from {repo.owner.login}/{pull.head_ref}"
        text = f"{title or default_title}\n\n{message if message is not None else issue.title}"
        return git.commit_tree(
            result.tree, [pull.base_sha, pull.head_sha], text, author=author, committer=committer
        )

    def _close_referenced(self, repo: Repo, issue: Issue, actor: Identity, now: float) -> None:
        """Close issues named by closing keywords in the pull's body and commits (default branch only)."""
        pull = issue.pull
        assert pull is not None
        texts = [issue.body or ""]
        if pull.merge_commit_sha is not None:
            texts += [c.message for c in repo.git.commits_between(pull.base_sha, pull.head_sha)]
        for full_name, number in closing_references("\n".join(texts), repo):
            target_repo = self.world.repos.get(full_name)
            target = target_repo.issues.get(number) if target_repo is not None else None
            if target is None or target.pull is not None or target.state != "open":
                continue
            target.close(actor, now, "completed")
            logger.debug("stand-in closed %s#%d via %s#%d", full_name, number, repo.full_name, issue.number)
