"""JSON shapes shared by several endpoints (users, repositories, labels) and the URLs inside them.

Every URL points back at the stand-in with the same scheme, host and port as ``api_url``, so PyGithub
follows them exactly as it follows GitHub Enterprise's.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from bot.standin.state import PERMISSIONS, Label, Repo, iso, node_id
from bot.standin.wire import Identity


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


@dataclass(frozen=True)
class Urls:
    """URL builders: ``api`` is the REST root (``http://127.0.0.1:PORT/api/v3``), ``web`` the html root."""

    api: str
    web: str

    def repo(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repo_html(self, repo: Repo) -> str:
        return f"{self.web}/{repo.full_name}"

    def user(self, login: str) -> str:
        return f"{self.api}/users/{quote(login)}"

    def label(self, repo: Repo, name: str) -> str:
        return f"{self.repo(repo)}/labels/{quote(name)}"

    def issue(self, repo: Repo, number: int) -> str:
        return f"{self.repo(repo)}/issues/{number}"

    def pull(self, repo: Repo, number: int) -> str:
        return f"{self.repo(repo)}/pulls/{number}"

    def commit(self, repo: Repo, sha: str) -> str:
        return f"{self.repo(repo)}/commits/{sha}"

    def git_commit(self, repo: Repo, sha: str) -> str:
        return f"{self.repo(repo)}/git/commits/{sha}"

    def list_url(self, repo: Repo, suffix: str) -> str:
        """Where GitHub points ``Link`` headers of repo lists: the stable ``/repositories/{id}`` form."""
        return f"{self.api}/repositories/{repo.id}{suffix}"


def user_json(urls: Urls, identity: Identity) -> dict[str, Any]:
    login = identity.login
    base = urls.user(login)
    return {
        "login": login,
        "id": identity.user_id,
        "node_id": _user_node_id(identity),
        "avatar_url": f"{urls.web}/avatars/u/{identity.user_id}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{urls.web}/{quote(login)}"
        if identity.kind != "Bot"
        else f"{urls.web}/apps/{quote(login)}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": identity.kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def _user_node_id(identity: Identity) -> str:
    prefix = {"Bot": "BOT", "Organization": "O"}.get(identity.kind, "U")
    return node_id(prefix, identity.user_id)


def label_json(urls: Urls, repo: Repo, label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "node_id": label.node_id,
        "url": urls.label(repo, label.name),
        "name": label.name,
        "color": label.color,
        "default": label.default,
        "description": label.description,
    }


def permissions_json(permission: str) -> dict[str, bool]:
    rank = PERMISSIONS.index(permission)
    return {
        "admin": rank >= PERMISSIONS.index("admin"),
        "maintain": rank >= PERMISSIONS.index("maintain"),
        "push": rank >= PERMISSIONS.index("write"),
        "triage": rank >= PERMISSIONS.index("triage"),
        "pull": rank >= PERMISSIONS.index("read"),
    }


def repo_json(urls: Urls, repo: Repo, *, permission: str | None, pushed_at: float | None) -> dict[str, Any]:
    """The full repository object (``GET /repos/{o}/{r}``); ``permission`` None omits ``permissions``."""
    api = urls.repo(repo)
    html = urls.repo_html(repo)
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": repo.node_id,
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user_json(urls, repo.owner),
        "html_url": html,
        "description": None,
        "fork": False,
        "url": api,
    }
    for key, suffix in _REPO_URL_TEMPLATES:
        body[key] = api + suffix
    body.update(
        {
            "created_at": iso(repo.created_at),
            "updated_at": iso(pushed_at or repo.created_at),
            "pushed_at": iso(pushed_at or repo.created_at),
            "git_url": f"git://{urllib.parse.urlparse(urls.web).netloc}/{repo.full_name}.git",
            "ssh_url": f"git@{urllib.parse.urlparse(urls.web).hostname}:{repo.full_name}.git",
            # the stand-in serves no git protocol: clone_url is the real bare repo, so clones just work
            "clone_url": repo.git.path.resolve().as_uri(),
            "svn_url": html,
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": "C++",
            "has_issues": True,
            "has_projects": False,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": sum(1 for i in repo.issues.values() if i.state == "open"),
            "watchers": 0,
            "default_branch": repo.default_branch,
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "delete_branch_on_merge": False,
            "network_count": 0,
            "subscribers_count": 0,
        }
    )
    if permission is not None:
        body["permissions"] = permissions_json(permission)
    return body


_REPO_URL_TEMPLATES = (
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
)
