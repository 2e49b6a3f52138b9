"""``POST /api/graphql`` for the one GraphQL operation crashbot sends: the ``pinIssue`` mutation (GitHub's
REST API cannot pin an issue). GraphQL answers HTTP 200 with an ``errors`` list for a refused operation,
as GitHub does: ``NOT_FOUND`` for an unknown node, ``FORBIDDEN`` without write access, ``UNPROCESSABLE``
when the repository already pins three issues. Any other query is answered as unsupported."""

from __future__ import annotations

import re
from typing import Any

from bot.standin.routing import Router
from bot.standin.state import PERMISSIONS, Issue, Repo, World
from bot.standin.wire import ApiError, Request, Response

MAX_PINNED = 3  # GitHub pins at most three issues per repository
_PIN_RE = re.compile(r"^\s*mutation\b[^{]*\{\s*pinIssue\s*\(\s*input\s*:\s*\$input\s*\)", re.S)


def _error(kind: str, message: str) -> Response:
    return Response(200, {"data": None, "errors": [{"type": kind, "message": message}]})


class GraphqlApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def register(self, router: Router) -> None:
        router.add("POST", "/graphql", self.query)

    def query(self, request: Request) -> Response:
        body = request.json_object()
        text = body.get("query")
        if not isinstance(text, str) or not _PIN_RE.match(text):
            raise ApiError(400, "the stand-in answers only the pinIssue mutation")
        variables = body.get("variables")
        node = variables.get("input", {}).get("issueId") if isinstance(variables, dict) else None
        found = self._issue(node) if isinstance(node, str) else None
        if found is None:
            return _error("NOT_FOUND", f"Could not resolve to a node with the global id of '{node}'")
        repo, issue = found
        actor = request.actor()
        if PERMISSIONS.index(self.world.permission(repo, actor)) < PERMISSIONS.index("write"):
            return _error("FORBIDDEN", f"{actor.login} does not have permission to pin issues")
        if issue.number not in repo.pinned:
            if len(repo.pinned) >= MAX_PINNED:
                return _error("UNPROCESSABLE", "Repository already has the maximum number of pinned issues")
            repo.pinned.append(issue.number)
        data: dict[str, Any] = {"pinIssue": {"issue": {"number": issue.number, "isPinned": True}}}
        return Response(200, {"data": data})

    def _issue(self, node: str) -> tuple[Repo, Issue] | None:
        for repo in self.world.repos.values():
            for issue in repo.issues.values():
                if issue.node_id == node and issue.pull is None:
                    return repo, issue
        return None
