"""Conformance: every operation of shared/reference/github-openapi-subset.json the stand-in implements answers
with the documented success status and the subset's key fields, present and of the documented type.

The field lists come from the subset file itself; this module only says how to call each operation.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bot.standin import StandIn
from tests.conftest import FIXTURES
from tests.gitutil import git
from tests.standin.conftest import REPO, TOKEN, commit_in_bare

# a verbatim copy of shared/reference/github-openapi-subset.json, so CI outside this workspace has it
SUBSET = FIXTURES / "github" / "openapi-subset.json"

NOT_IMPLEMENTED = {
    # the stand-in runs no Actions workflows, so there is nothing a dispatch could start
    ("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"),
}


@dataclass
class World:
    """A small populated repo: issue #1 with a comment and label, pull #2 (topic -> main, "Fixes #1")."""

    standin: StandIn
    http: requests.Session
    comment_id: int
    topic_sha: str
    main_sha: str

    @property
    def repo_url(self) -> str:
        return f"{self.standin.api_url}/repos/{REPO}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(f"{self.repo_url}{path}", params=params)

    def send(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.repo_url}{path}", json=body)


@pytest.fixture
def world(standin: StandIn, http: requests.Session) -> World:
    issue = http.post(
        f"{standin.api_url}/repos/{REPO}/issues",
        json={"title": "crash", "body": "stack", "labels": ["crash"]},
    ).json()
    comment = http.post(f"{issue['url']}/comments", json={"body": "seen again"}).json()
    bare = standin.repo_path(REPO)
    topic = commit_in_bare(bare, "topic", "fix.txt", "fix\n", "Fix the crash")
    commit_in_bare(bare, "topic2", "fix2.txt", "fix2\n", "Another fix")
    http.post(
        f"{standin.api_url}/repos/{REPO}/pulls",
        json={"head": "topic", "base": "main", "title": "Fix crash", "body": "Fixes #1"},
    ).raise_for_status()
    return World(standin, http, comment["id"], topic, git(bare, "rev-parse", "refs/heads/main"))


def _merge_then_check(w: World) -> requests.Response:
    w.send("PUT", "/pulls/2/merge", {"merge_method": "merge"}).raise_for_status()
    return w.get("/pulls/2/merge")


def _patch_ref(w: World) -> requests.Response:
    w.send("POST", "/git/refs", {"ref": "refs/heads/moving", "sha": w.main_sha}).raise_for_status()
    return w.send("PATCH", "/git/refs/heads/moving", {"sha": w.topic_sha})


def _delete_ref(w: World) -> requests.Response:
    w.send("POST", "/git/refs", {"ref": "refs/heads/doomed", "sha": w.topic_sha}).raise_for_status()
    return w.send("DELETE", "/git/refs/heads/doomed")


def _delete_label(w: World) -> requests.Response:
    w.send("POST", "/issues/1/labels", {"labels": ["temp"]}).raise_for_status()
    return w.send("DELETE", "/issues/1/labels/temp")


CALLS: dict[tuple[str, str], Callable[[World], requests.Response]] = {
    ("GET", "/repos/{owner}/{repo}"): lambda w: w.get(""),
    ("POST", "/repos/{owner}/{repo}/issues"): lambda w: w.send(
        "POST", "/issues", {"title": "new", "labels": ["x"]}
    ),
    ("GET", "/repos/{owner}/{repo}/issues"): lambda w: w.get("/issues", state="all"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"): lambda w: w.get("/issues/2"),
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"): lambda w: w.send(
        "PATCH", "/issues/1", {"state": "closed", "state_reason": "completed"}
    ),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): lambda w: w.get("/issues/1/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): lambda w: w.send(
        "POST", "/issues/1/comments", {"body": "more"}
    ),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"): lambda w: w.send(
        "PATCH", f"/issues/comments/{w.comment_id}", {"body": "edited"}
    ),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): lambda w: w.send(
        "POST", "/issues/1/labels", {"labels": ["more"]}
    ),
    ("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): lambda w: w.send(
        "PUT", "/issues/1/labels", {"labels": ["only"]}
    ),
    ("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"): _delete_label,
    ("GET", "/repos/{owner}/{repo}/labels/{name}"): lambda w: w.get("/labels/crash"),
    ("POST", "/repos/{owner}/{repo}/labels"): lambda w: w.send(
        "POST", "/labels", {"name": "sig:abc", "color": "b60205", "description": "signature"}
    ),
    ("GET", "/search/issues"): lambda w: w.http.get(
        f"{w.standin.api_url}/search/issues", params={"q": f"repo:{REPO} is:pr"}
    ),
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}"): lambda w: w.get("/git/ref/heads/main"),
    ("POST", "/repos/{owner}/{repo}/git/refs"): lambda w: w.send(
        "POST", "/git/refs", {"ref": "refs/heads/new", "sha": w.topic_sha}
    ),
    ("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}"): _patch_ref,
    ("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}"): _delete_ref,
    ("GET", "/repos/{owner}/{repo}/branches/{branch}"): lambda w: w.get("/branches/main"),
    ("POST", "/repos/{owner}/{repo}/pulls"): lambda w: w.send(
        "POST", "/pulls", {"head": "topic2", "base": "main", "title": "Second", "body": "b", "draft": True}
    ),
    ("GET", "/repos/{owner}/{repo}/pulls"): lambda w: w.get("/pulls", state="all"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"): lambda w: w.get("/pulls/2"),
    ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}"): lambda w: w.send(
        "PATCH", "/pulls/2", {"title": "Renamed", "body": "Fixes #1"}
    ),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"): _merge_then_check,
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"): lambda w: w.send(
        "PUT", "/pulls/2/merge", {"merge_method": "squash", "sha": w.topic_sha}
    ),
    ("GET", "/rate_limit"): lambda w: w.http.get(f"{w.standin.api_url}/rate_limit"),
}


# -- reading the subset's type notation ("string enum['a', 'b'] (nullable) (required)") ------------------


@dataclass(frozen=True)
class FieldSpec:
    types: tuple[str, ...]
    required: bool
    nullable: bool
    enum: tuple[str, ...] | None


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def parse_spec(text: str) -> FieldSpec:
    required = "(required)" in text
    nullable = "(nullable)" in text
    core = text.replace("(required)", "").replace("(nullable)", "").strip()
    enum = None
    found = re.search(r"enum\[(.*?)\]", core)
    if found is not None:
        enum = tuple(ast.literal_eval(f"[{found.group(1)}]"))
        core = core[: found.start()].strip()
    if core.startswith("array<"):
        types: tuple[str, ...] = ("array",)
    else:
        head = re.match(r"[a-z]+(?:\s*\|\s*[a-z]+)*", core)
        assert head is not None, f"unreadable type {text!r} in the subset"
        types = tuple(t.strip() for t in head.group(0).split("|"))
    return FieldSpec(types, required, nullable, enum)


def check_fields(where: str, body: Any, fields: dict[str, str], *, all_required: bool) -> list[str]:
    """Problems with ``body`` against ``fields``; ``all_required`` for lists that carry no (required) marks."""
    if not isinstance(body, dict):
        return [f"{where}: expected an object, got {type(body).__name__}"]
    problems = []
    for name, text in fields.items():
        spec = parse_spec(text)
        if name not in body:
            if spec.required or all_required:
                problems.append(f"{where}.{name}: missing")
            continue
        value = body[name]
        if value is None:
            if not spec.nullable:
                problems.append(f"{where}.{name}: null but not nullable")
            continue
        allowed = tuple(t for kind in spec.types for t in _PYTHON_TYPES[kind])
        is_bool = isinstance(value, bool)
        if not isinstance(value, allowed) or (is_bool and "boolean" not in spec.types):
            problems.append(f"{where}.{name}: {value!r} is not {'|'.join(spec.types)}")
        elif spec.enum is not None and value not in spec.enum:
            problems.append(f"{where}.{name}: {value!r} not in {spec.enum}")
    return problems


def _operations() -> list[dict[str, Any]]:
    return list(json.loads(SUBSET.read_text(encoding="utf-8"))["operations"])


def _success_status(operation: dict[str, Any]) -> int:
    declared = operation.get("success_status")
    if declared:
        return int(declared)
    return min(int(code) for code in operation["responses"] if code.startswith("2"))


def _ids() -> Iterator[Any]:
    for operation in _operations():
        key = (operation["method"], operation["path"])
        if key in NOT_IMPLEMENTED:
            continue
        yield pytest.param(operation, id=f"{operation['method']} {operation['path']}")


def test_conformance_every_subset_operation_is_called_or_declared_unimplemented() -> None:
    keys = {(op["method"], op["path"]) for op in _operations()}

    assert keys == set(CALLS) | NOT_IMPLEMENTED


@pytest.mark.parametrize("operation", list(_ids()))
def test_conformance_operation_answers_documented_status_and_key_fields(
    world: World, operation: dict[str, Any]
) -> None:
    answer = CALLS[(operation["method"], operation["path"])](world)

    assert answer.status_code == _success_status(operation), answer.text
    assert str(answer.status_code) in operation["responses"]
    response = operation.get("response")
    if response is None:
        assert answer.content == b""
        return
    body = answer.json()
    problems: list[str] = []
    if response["shape"] == "array":
        assert isinstance(body, list) and body, f"expected a non-empty array, got {body!r}"
        elements = body
    else:
        elements = [body]
    for index, element in enumerate(elements):
        where = f"[{index}]"
        if "key_fields" in response:
            problems += check_fields(where, element, response["key_fields"], all_required=False)
        if "fields" in response:
            problems += check_fields(where, element, response["fields"], all_required=True)
        for item_index, item in enumerate(element.get("items", []) if "items_key_fields" in response else []):
            problems += check_fields(
                f"{where}.items[{item_index}]", item, response["items_key_fields"], all_required=True
            )
        for side in ("head", "base") if "head_base_fields" in response else ():
            problems += check_fields(
                f"{where}.{side}", element.get(side), response["head_base_fields"], all_required=True
            )
        if "object_fields" in response:
            problems += check_fields(
                f"{where}.object", element.get("object"), response["object_fields"], all_required=True
            )
    if "items_key_fields" in response:
        assert body["items"], "search returned no items to check"
    assert problems == []


def test_conformance_spec_parser_reads_the_subset_notation() -> None:
    spec = parse_spec("string enum['completed', 'reopened'] (nullable)")

    assert spec == FieldSpec(("string",), required=False, nullable=True, enum=("completed", "reopened"))
    assert parse_spec("integer | string (required)").types == ("integer", "string")
    assert parse_spec("array<object | string> (required)").types == ("array",)
    assert check_fields("x", {"a": True}, {"a": "integer (required)"}, all_required=False) == [
        "x.a: True is not integer"
    ]
    assert check_fields("x", {}, {"a": "string"}, all_required=True) == ["x.a: missing"]


def test_conformance_error_shapes_match_github(standin: StandIn, http: requests.Session) -> None:
    missing = http.get(f"{standin.api_url}/repos/{REPO}/issues/999")
    invalid = http.post(f"{standin.api_url}/repos/{REPO}/issues", json={})
    bad_json = http.post(
        f"{standin.api_url}/repos/{REPO}/issues", data="{nope", headers={"Content-Type": "application/json"}
    )

    assert missing.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }
    assert set(invalid.json()) == {"message", "errors", "documentation_url", "status"}
    assert (bad_json.status_code, bad_json.json()["message"]) == (400, "Problems parsing JSON")
    assert TOKEN  # the session above authenticated with the fixture token
