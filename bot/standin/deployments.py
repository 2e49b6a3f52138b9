"""Deployments and deployment statuses, including GitHub's ``auto_merge`` and ``auto_inactive`` behaviour."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from bot.standin.auth import visible_repo, writable_repo
from bot.standin.gitrepo import Person
from bot.standin.payloads import Urls, user_json
from bot.standin.routing import Router
from bot.standin.state import Deployment, DeploymentStatus, Repo, World, iso, node_id
from bot.standin.wire import (
    ApiError,
    Request,
    Response,
    not_found,
    page_response,
    require_string,
    validation_failed,
)

logger = logging.getLogger(__name__)

STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
MAX_STATUS_DESCRIPTION_CHARS = 140


class DeploymentsApi:
    """``/deployments`` and ``/deployments/{id}/statuses`` of one stand-in."""

    def __init__(self, world: World, urls: Urls) -> None:
        self.world = world
        self.urls = urls

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/deployments"
        router.add("GET", base, self.list_deployments)
        router.add("POST", base, self.create_deployment)
        router.add("GET", f"{base}/{{deployment_id:int}}", self.get_deployment)
        router.add("GET", f"{base}/{{deployment_id:int}}/statuses", self.list_statuses)
        router.add("POST", f"{base}/{{deployment_id:int}}/statuses", self.create_status)
        router.add("GET", f"{base}/{{deployment_id:int}}/statuses/{{status_id:int}}", self.get_status)

    def _url(self, repo: Repo, deployment: Deployment) -> str:
        return f"{self.urls.repo(repo)}/deployments/{deployment.id}"

    def deployment_json(self, repo: Repo, deployment: Deployment) -> dict[str, Any]:
        url = self._url(repo, deployment)
        return {
            "url": url,
            "id": deployment.id,
            "node_id": deployment.node_id,
            "task": deployment.task,
            "original_environment": deployment.original_environment,
            "environment": deployment.environment,
            "description": deployment.description,
            "created_at": iso(deployment.created_at),
            "updated_at": iso(deployment.updated_at),
            "statuses_url": f"{url}/statuses",
            "repository_url": self.urls.repo(repo),
            "creator": user_json(self.urls, deployment.creator),
            "sha": deployment.sha,
            "ref": deployment.ref,
            "payload": deployment.payload,
            "transient_environment": deployment.transient_environment,
            "production_environment": deployment.production_environment,
            "performed_via_github_app": None,
        }

    def status_json(self, repo: Repo, deployment: Deployment, status: DeploymentStatus) -> dict[str, Any]:
        url = self._url(repo, deployment)
        return {
            "url": f"{url}/statuses/{status.id}",
            "id": status.id,
            "node_id": status.node_id,
            "state": status.state,
            "creator": user_json(self.urls, status.creator),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.updated_at),
            "deployment_url": url,
            "repository_url": self.urls.repo(repo),
            "environment_url": status.environment_url,
            "log_url": status.log_url,
            "performed_via_github_app": None,
        }

    def _deployment(self, repo: Repo, request: Request) -> Deployment:
        wanted = int(request.params["deployment_id"])
        for deployment in repo.deployments:
            if deployment.id == wanted:
                return deployment
        raise not_found()

    def create_deployment(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        actor = request.actor()
        body = request.json_object()
        ref = require_string(body, "ref", "Deployment")
        sha = repo.git.resolve(ref)
        if sha is None:
            raise ApiError(422, f"No ref found for: {ref}")
        required = body.get("required_contexts")
        if required is not None and not isinstance(required, list):
            raise validation_failed("Deployment", "required_contexts", "invalid")
        if required:
            # the stand-in records no commit statuses, so any named context is still pending
            raise ApiError(
                409,
                f"Conflict: Commit status checks failed for {ref}.",
                errors=[
                    {
                        "contexts": [{"context": str(c), "state": "pending"} for c in required],
                        "resource": "Deployment",
                        "field": "required_contexts",
                        "code": "invalid",
                    }
                ],
            )
        if body.get("auto_merge", True) is not False:
            merged = self._auto_merge(repo, ref, actor.login)
            if merged is not None:
                return merged
        environment = require_string(body, "environment", "Deployment", required=False) or "production"
        payload = body.get("payload", {})
        if isinstance(payload, str):
            # GitHub keeps a non-JSON string payload as the string
            with contextlib.suppress(ValueError):
                payload = json.loads(payload) if payload else {}
        production = body.get("production_environment")
        now = self.world.now()
        deployment_id = self.world.new_id()
        deployment = Deployment(
            id=deployment_id,
            node_id=node_id("DE", deployment_id),
            sha=sha,
            ref=ref,
            task=require_string(body, "task", "Deployment", required=False) or "deploy",
            payload=payload,
            environment=environment,
            original_environment=environment,
            description=require_string(body, "description", "Deployment", required=False),
            creator=actor,
            created_at=now,
            updated_at=now,
            transient_environment=body.get("transient_environment") is True,
            production_environment=production
            if isinstance(production, bool)
            else environment == "production",
        )
        repo.deployments.append(deployment)
        return Response(201, self.deployment_json(repo, deployment))

    def _auto_merge(self, repo: Repo, ref: str, login: str) -> Response | None:
        """GitHub merges the default branch into a behind topic branch before deploying it (202)."""
        git = repo.git
        topic = git.resolve(f"refs/heads/{ref}")
        default = git.resolve(f"refs/heads/{repo.default_branch}")
        if topic is None or default is None or ref == repo.default_branch or git.is_ancestor(default, topic):
            return None
        result = git.merge_trees(topic, default)
        if result.tree is None:
            raise ApiError(409, f"Conflict merging {repo.default_branch} into {ref}.")
        date = iso(self.world.now()) or ""
        person = Person("GitHub", "noreply@github.com", date)
        message = f"Merge branch '{repo.default_branch}' into {ref}"
        merged = git.commit_tree(result.tree, [topic, default], message, author=person, committer=person)
        if not git.update_ref(f"refs/heads/{ref}", merged, topic):
            raise ApiError(409, f"Conflict merging {repo.default_branch} into {ref}.")
        logger.debug("stand-in auto-merged %s into %s for %s", repo.default_branch, ref, login)
        return Response(202, {"message": f"Auto-merged {repo.default_branch} into {ref} on deployment."})

    def list_deployments(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        found = list(reversed(repo.deployments))
        for name in ("sha", "ref", "task", "environment"):
            wanted = request.arg(name)
            if wanted:
                found = [d for d in found if getattr(d, name) == wanted]
        return page_response(
            [self.deployment_json(repo, d) for d in found], request, self.urls.list_url(repo, "/deployments")
        )

    def get_deployment(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        return Response(200, self.deployment_json(repo, self._deployment(repo, request)))

    def create_status(self, request: Request) -> Response:
        repo = writable_repo(self.world, request)
        actor = request.actor()
        deployment = self._deployment(repo, request)
        body = request.json_object()
        state = require_string(body, "state", "DeploymentStatus")
        if state not in STATES:
            raise validation_failed("DeploymentStatus", "state", "invalid")
        description = require_string(body, "description", "DeploymentStatus", required=False) or ""
        if len(description) > MAX_STATUS_DESCRIPTION_CHARS:
            raise validation_failed(
                "DeploymentStatus",
                "description",
                "custom",
                f"description is too long (maximum is {MAX_STATUS_DESCRIPTION_CHARS} characters)",
            )
        target_url = require_string(body, "target_url", "DeploymentStatus", required=False) or ""
        log_url = require_string(body, "log_url", "DeploymentStatus", required=False) or target_url
        environment = require_string(body, "environment", "DeploymentStatus", required=False)
        if environment:
            deployment.environment = environment
        now = self.world.now()
        status_id = self.world.new_id()
        status = DeploymentStatus(
            id=status_id,
            node_id=node_id("DES", status_id),
            state=state,
            creator=actor,
            description=description,
            environment=deployment.environment,
            target_url=target_url,
            log_url=log_url,
            environment_url=require_string(body, "environment_url", "DeploymentStatus", required=False) or "",
            created_at=now,
            updated_at=now,
        )
        deployment.statuses.append(status)
        deployment.updated_at = now
        if state == "success" and body.get("auto_inactive", True) is not False:
            self._deactivate_others(repo, deployment, actor_status=status)
        return Response(201, self.status_json(repo, deployment, status))

    def _deactivate_others(self, repo: Repo, current: Deployment, *, actor_status: DeploymentStatus) -> None:
        """auto_inactive: earlier non-transient deployments in the environment whose last state is success
        get an ``inactive`` status, as GitHub adds them."""
        for other in repo.deployments:
            if other is current or other.environment != current.environment or other.transient_environment:
                continue
            if not other.statuses or other.statuses[-1].state != "success":
                continue
            status_id = self.world.new_id()
            other.statuses.append(
                DeploymentStatus(
                    id=status_id,
                    node_id=node_id("DES", status_id),
                    state="inactive",
                    creator=actor_status.creator,
                    description="",
                    environment=other.environment,
                    target_url="",
                    log_url="",
                    environment_url="",
                    created_at=actor_status.created_at,
                    updated_at=actor_status.created_at,
                )
            )

    def list_statuses(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        deployment = self._deployment(repo, request)
        statuses = list(reversed(deployment.statuses))
        return page_response(
            [self.status_json(repo, deployment, s) for s in statuses],
            request,
            self.urls.list_url(repo, f"/deployments/{deployment.id}/statuses"),
        )

    def get_status(self, request: Request) -> Response:
        repo = visible_repo(self.world, request)
        deployment = self._deployment(repo, request)
        wanted = int(request.params["status_id"])
        for status in deployment.statuses:
            if status.id == wanted:
                return Response(200, self.status_json(repo, deployment, status))
        raise not_found()
