"""``POST /actions/workflows/{workflow_id}/dispatches``: the one Actions endpoint crashbot uses.

The stand-in runs no workflows; it checks a dispatch as GitHub does (the ref exists, the workflow file
exists at that ref and declares ``workflow_dispatch``) and records it, so a test can see that a run was
asked for, and how often.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.standin.auth import writable_repo
from bot.standin.payloads import Urls
from bot.standin.routing import Router
from bot.standin.state import World
from bot.standin.wire import ApiError, Request, Response, not_found, require_string


@dataclass(frozen=True)
class Dispatch:
    workflow: str
    ref: str
    inputs: dict[str, Any]
    actor: str
    at: float


class ActionsApi:
    def __init__(self, world: World, urls: Urls) -> None:
        self.world = world
        self.urls = urls

    def register(self, router: Router) -> None:
        router.add(
            "POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", self.create_dispatch
        )

    def create_dispatch(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        body = request.json_object()
        ref = require_string(body, "ref", "Workflow")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict) or len(inputs) > 25:
            raise ApiError(422, "inputs must be an object of at most 25 properties")
        workflow = str(request.params["workflow_id"])
        if "/" in workflow or workflow.startswith("."):
            raise not_found()
        sha = repo.git.resolve(ref)
        if sha is None:
            raise ApiError(422, f"No ref found for: {ref}")
        shown = repo.git.run("show", f"{sha}:.github/workflows/{workflow}", check=False)
        if shown.returncode != 0:
            raise not_found()
        if "workflow_dispatch" not in shown.stdout:
            raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
        actor = request.actor().login
        repo.dispatches.append(Dispatch(workflow, ref, dict(inputs), actor, self.world.now()))
        if body.get("return_run_details") is True:
            run_id = self.world.new_id()
            return Response(
                200,
                {
                    "workflow_run_id": run_id,
                    "run_url": f"{self.urls.repo(repo)}/actions/runs/{run_id}",
                    "html_url": f"{self.urls.repo_html(repo)}/actions/runs/{run_id}",
                },
            )
        return Response(204, None)
