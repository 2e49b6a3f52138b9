"""Git data endpoints (refs, branches, commits, compare) answered from the real bare repository."""

from __future__ import annotations

import logging
from typing import Any

from bot.standin.auth import visible_repo, writable_repo
from bot.standin.gitrepo import Commit, FileChange, Person, RefEntry
from bot.standin.payloads import Urls, quote
from bot.standin.routing import Router
from bot.standin.state import Repo, World, iso, node_id, parse_iso
from bot.standin.wire import ApiError, Request, Response, not_found, page_response, require_string

logger = logging.getLogger(__name__)


def _iso_utc(git_date: str) -> str:
    """git's ``%aI`` (with offset) in GitHub's ``...Z`` form."""
    return iso(parse_iso(git_date)) or git_date


def person_json(person: Person) -> dict[str, str]:
    return {"name": person.name, "email": person.email, "date": _iso_utc(person.date)}


def git_commit_json(urls: Urls, repo: Repo, commit: Commit) -> dict[str, Any]:
    """The inner ``commit`` object of a REST commit (git's view of it)."""
    return {
        "author": person_json(commit.author),
        "committer": person_json(commit.committer),
        "message": commit.message.rstrip("\n"),
        "tree": {"sha": commit.tree, "url": f"{urls.repo(repo)}/git/trees/{commit.tree}"},
        "url": urls.git_commit(repo, commit.sha),
        "comment_count": 0,
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


def file_json(urls: Urls, repo: Repo, change: FileChange, sha: str, patch: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sha": sha,
        "filename": change.filename,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": f"{urls.repo_html(repo)}/blob/{sha}/{change.filename}",
        "raw_url": f"{urls.repo_html(repo)}/raw/{sha}/{change.filename}",
        "contents_url": f"{urls.repo(repo)}/contents/{change.filename}?ref={sha}",
    }
    if patch is not None:
        body["patch"] = patch
    if change.previous_filename is not None:
        body["previous_filename"] = change.previous_filename
    return body


def commit_json(urls: Urls, repo: Repo, commit: Commit, *, with_files: bool) -> dict[str, Any]:
    """A REST commit; authors are null because the stand-in does not map emails to accounts."""
    html = f"{urls.repo_html(repo)}/commit/{commit.sha}"
    body: dict[str, Any] = {
        "sha": commit.sha,
        "node_id": node_id("C", int(commit.sha[:15], 16)),
        "commit": git_commit_json(urls, repo, commit),
        "url": urls.commit(repo, commit.sha),
        "html_url": html,
        "comments_url": f"{urls.commit(repo, commit.sha)}/comments",
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": urls.commit(repo, p), "html_url": f"{urls.repo_html(repo)}/commit/{p}"}
            for p in commit.parents
        ],
    }
    if with_files:
        base = commit.parents[0] if commit.parents else None
        changes = repo.git.diff_files(base, commit.sha)
        additions = sum(c.additions for c in changes)
        deletions = sum(c.deletions for c in changes)
        body["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
        body["files"] = [
            file_json(
                urls, repo, c, commit.sha, repo.git.patch(base or _empty_tree(repo), commit.sha, c.filename)
            )
            for c in changes
        ]
    return body


def _empty_tree(repo: Repo) -> str:
    return repo.git.run("hash-object", "-t", "tree", "--stdin", input_text="").stdout.strip()


def ref_json(urls: Urls, repo: Repo, entry: RefEntry) -> dict[str, Any]:
    kind = "tags" if entry.object_type == "tag" else "commits"
    return {
        "ref": entry.name,
        "node_id": node_id("REF", int(entry.sha[:15], 16)),
        "url": f"{urls.repo(repo)}/git/{quote_ref(entry.name)}",
        "object": {
            "sha": entry.sha,
            "type": entry.object_type,
            "url": f"{urls.repo(repo)}/git/{kind}/{entry.sha}",
        },
    }


def quote_ref(name: str) -> str:
    return "/".join(quote(part) for part in name.split("/"))


def branch_json(urls: Urls, repo: Repo, name: str, commit: Commit) -> dict[str, Any]:
    branch_url = f"{urls.repo(repo)}/branches/{quote_ref(name)}"
    return {
        "name": name,
        "commit": commit_json(urls, repo, commit, with_files=False),
        "_links": {"self": branch_url, "html": f"{urls.repo_html(repo)}/tree/{quote_ref(name)}"},
        "protected": False,
        "protection": {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        },
        "protection_url": f"{branch_url}/protection",
    }


def _well_formed(ref: str) -> bool:
    parts = ref.split("/")
    return ref.startswith("refs/") and len(parts) >= 3 and all(parts) and ".." not in ref


class RefsApi:
    """``/git/ref(s)``, ``/branches``, ``/commits`` and ``/compare`` of one stand-in."""

    def __init__(self, world: World, urls: Urls) -> None:
        self.world = world
        self.urls = urls

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        router.add("GET", f"{base}/git/ref/{{ref:path}}", self.get_ref)
        router.add("GET", f"{base}/git/refs", self.list_refs)
        router.add("GET", f"{base}/git/refs/{{ref:path}}", self.list_refs)
        router.add("GET", f"{base}/git/matching-refs/{{ref:path}}", self.matching_refs)
        router.add("POST", f"{base}/git/refs", self.create_ref)
        router.add("PATCH", f"{base}/git/refs/{{ref:path}}", self.update_ref)
        router.add("DELETE", f"{base}/git/refs/{{ref:path}}", self.delete_ref)
        router.add("GET", f"{base}/branches", self.list_branches)
        router.add("GET", f"{base}/branches/{{branch:path}}", self.get_branch)
        router.add("GET", f"{base}/commits/{{sha:path}}", self.get_commit)
        router.add("GET", f"{base}/compare/{{basehead:path}}", self.compare)

    def get_ref(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        entry = repo.git.ref(f"refs/{request.params['ref']}")
        if entry is None:
            raise not_found()
        return Response(200, ref_json(self.urls, repo, entry))

    def list_refs(self, request: Request) -> Response:
        # the legacy /git/refs/{prefix} form lists by prefix, like matching-refs, and 404s when empty
        repo = visible_repo(self.world, request)
        prefix = f"refs/{request.params['ref']}" if "ref" in request.params else "refs/"
        entries = repo.git.refs(prefix)
        if "ref" in request.params and not entries:
            raise not_found()
        return Response(200, [ref_json(self.urls, repo, e) for e in entries])

    def matching_refs(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        entries = repo.git.refs(f"refs/{request.params['ref']}")
        return Response(200, [ref_json(self.urls, repo, e) for e in entries])

    def create_ref(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        body = request.json_object()
        ref = require_string(body, "ref", "Reference")
        sha = require_string(body, "sha", "Reference")
        if not _well_formed(ref):
            raise ApiError(422, f"{ref} is not a valid ref name.")
        target = repo.git.resolve(sha) if len(sha) == 40 else None
        if target is None:
            raise ApiError(422, "Object does not exist")
        if not repo.git.create_ref(ref, target):
            raise ApiError(422, "Reference already exists")
        entry = repo.git.ref(ref)
        assert entry is not None
        return Response(
            201, ref_json(self.urls, repo, entry), {"Location": ref_json(self.urls, repo, entry)["url"]}
        )

    def update_ref(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        name = f"refs/{request.params['ref']}"
        body = request.json_object()
        sha = require_string(body, "sha", "Reference")
        force = body.get("force") is True
        current = repo.git.ref(name)
        if current is None:
            raise ApiError(422, "Reference does not exist")
        target = repo.git.resolve(sha) if len(sha) == 40 else None
        if target is None:
            raise ApiError(422, "Object does not exist")
        if not force and not repo.git.is_ancestor(current.sha, target):
            raise ApiError(422, "Update is not a fast forward")
        if not repo.git.update_ref(name, target, current.sha):
            raise ApiError(409, "Reference update failed: the ref moved while updating; retry")
        entry = repo.git.ref(name)
        assert entry is not None
        return Response(200, ref_json(self.urls, repo, entry))

    def delete_ref(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        name = f"refs/{request.params['ref']}"
        if name == f"refs/heads/{repo.default_branch}":
            raise ApiError(422, "Cannot delete the default branch")
        if repo.git.ref(name) is None or not repo.git.delete_ref(name):
            raise ApiError(422, "Reference does not exist")
        return Response(204)

    def list_branches(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        answer = []
        for entry in repo.git.refs("refs/heads/"):
            name = entry.name.removeprefix("refs/heads/")
            answer.append(
                {
                    "name": name,
                    "commit": {"sha": entry.sha, "url": self.urls.commit(repo, entry.sha)},
                    "protected": False,
                }
            )
        return page_response(answer, request, self.urls.list_url(repo, "/branches"))

    def get_branch(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        name = request.params["branch"]
        entry = repo.git.ref(f"refs/heads/{name}")
        if entry is None:
            raise ApiError(404, "Branch not found")
        return Response(200, branch_json(self.urls, repo, name, repo.git.commit(entry.sha)))

    def get_commit(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        sha = repo.git.resolve(request.params["sha"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {request.params['sha']}")
        return Response(200, commit_json(self.urls, repo, repo.git.commit(sha), with_files=True))

    def compare(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        basehead = request.params["basehead"]
        if "..." not in basehead:
            raise not_found()
        base_name, _, head_name = basehead.partition("...")
        base, head = repo.git.resolve(base_name), repo.git.resolve(head_name)
        if base is None or head is None:
            raise not_found()
        merge_base = repo.git.merge_base(base, head)
        if merge_base is None:
            raise ApiError(404, f"No common ancestor between {base_name} and {head_name}.")
        ahead, behind = repo.git.ahead_behind(base, head)
        status = (
            "identical"
            if ahead == behind == 0
            else "diverged"
            if ahead and behind
            else "ahead"
            if ahead
            else "behind"
        )
        commits = repo.git.commits_between(base, head)
        changes = repo.git.diff_files(merge_base, head)
        html = f"{self.urls.repo_html(repo)}/compare/{basehead}"
        owner = repo.owner.login
        body = {
            "url": f"{self.urls.repo(repo)}/compare/{basehead}",
            "html_url": html,
            "permalink_url": f"{self.urls.repo_html(repo)}/compare/{owner}:{base[:7]}...{owner}:{head[:7]}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": commit_json(self.urls, repo, repo.git.commit(base), with_files=False),
            "merge_base_commit": commit_json(self.urls, repo, repo.git.commit(merge_base), with_files=False),
            "status": status,
            "ahead_by": ahead,
            "behind_by": behind,
            "total_commits": len(commits),
            "commits": [commit_json(self.urls, repo, c, with_files=False) for c in commits],
            "files": [
                file_json(self.urls, repo, c, head, repo.git.patch(merge_base, head, c.filename))
                for c in changes
            ],
        }
        return Response(200, body)
