"""The repository object and ``GET /rate_limit``."""

from __future__ import annotations

from bot.standin.auth import visible_repo
from bot.standin.limits import RateLimiter
from bot.standin.payloads import Urls, repo_json
from bot.standin.routing import Router
from bot.standin.state import World, parse_iso
from bot.standin.wire import Request, Response


class ReposApi:
    """``GET /repos/{o}/{r}`` and the rate-limit status endpoint."""

    def __init__(self, world: World, urls: Urls, limiter: RateLimiter) -> None:
        self.world = world
        self.urls = urls
        self.limiter = limiter

    def register(self, router: Router) -> None:
        router.add("GET", "/repos/{owner}/{repo}", self.get_repo)
        router.add("GET", "/rate_limit", self.rate_limit)

    def get_repo(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        heads = repo.git.refs("refs/heads/")
        pushed = None
        if heads:
            # pushed_at follows the newest branch tip, so a git push is visible here too
            dates = [parse_iso(repo.git.commit(entry.sha).committer.date) for entry in heads]
            pushed = max((d for d in dates if d is not None), default=None)
        permission = self.world.permission(repo, request.identity) if request.identity is not None else None
        return Response(200, repo_json(self.urls, repo, permission=permission, pushed_at=pushed))

    def rate_limit(self, request: Request) -> Response:
        core = self.limiter.peek(request.identity, "core").as_json()
        search = self.limiter.peek(request.identity, "search").as_json()
        resources = {"core": core, "search": search}
        for name, limit in (("graphql", 5000), ("integration_manifest", 5000), ("code_search", 10)):
            resources[name] = {
                "limit": limit,
                "used": 0,
                "remaining": limit,
                "reset": core["reset"],
                "resource": name,
            }
        return Response(200, {"resources": resources, "rate": core})
