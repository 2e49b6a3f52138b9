"""The stand-in's HTTP vocabulary: parsed requests, responses, GitHub-shaped errors and pagination."""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from bot.standin.errors import StandInError

DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

T = TypeVar("T")


@dataclass(frozen=True)
class Identity:
    """Who a request authenticated as; ``app_id`` is set for an App's JWT (not an installation token)."""

    login: str
    user_id: int
    kind: str = "User"  # User | Bot | Organization
    app_id: str | None = None
    installation_id: str | None = None

    @property
    def is_app_jwt(self) -> bool:
        return self.app_id is not None and self.installation_id is None


@dataclass(frozen=True)
class Request:
    """One parsed API request; ``path`` is relative to the API prefix (``/repos/o/r/issues``)."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    body: Any
    identity: Identity | None
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name`` (GitHub, like Rails, keeps the last one)."""
        values = self.query.get(name)
        return values[-1] if values else default

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body is ``{}``."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self.body

    def actor(self) -> Identity:
        """The authenticated identity; anonymous writes were refused earlier, so this guards handlers."""
        if self.identity is None:
            raise ApiError(401, "Requires authentication")
        return self.identity


@dataclass(frozen=True)
class Response:
    """What a handler answers; ``body`` None means no content (204)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


class ApiError(StandInError):
    """A GitHub-shaped error answer raised from inside a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        documentation_url: str = DOCS,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.documentation_url = documentation_url

    def response(self) -> Response:
        return Response(
            self.status,
            error_body(
                self.status, self.message, errors=self.errors, documentation_url=self.documentation_url
            ),
            self.headers,
        )


def error_body(
    status: int,
    message: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    documentation_url: str = DOCS,
) -> dict[str, Any]:
    """GitHub's error shape; since 2024 the body repeats the status as a string."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = list(errors)
    body["documentation_url"] = documentation_url
    body["status"] = str(status)
    return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(
    resource: str, field_name: str | None, code: str, message: str | None = None
) -> ApiError:
    """422 "Validation Failed" with one entry in ``errors``, as GitHub reports bad fields."""
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field_name is not None:
        error["field"] = field_name
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])


@overload
def require_string(
    body: Mapping[str, Any], name: str, resource: str, *, required: Literal[True] = True
) -> str: ...


@overload
def require_string(
    body: Mapping[str, Any], name: str, resource: str, *, required: Literal[False]
) -> str | None: ...


def require_string(body: Mapping[str, Any], name: str, resource: str, *, required: bool = True) -> str | None:
    """Read a string field; missing-and-required or the wrong type is a 422 like GitHub's."""
    value = body.get(name)
    if value is None:
        if required:
            raise validation_failed(resource, name, "missing_field")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError(
            422, f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(value)} is not a string."
        )
    return str(value)


@dataclass(frozen=True)
class Page:
    """One page of a list answer and its RFC 5988 ``Link`` header (empty when everything fits)."""

    items: list[Any]
    link: str


def paginate(items: Sequence[T], request: Request, self_url: str) -> Page:
    """One page of ``items``; ``Link`` rels in GitHub's order: prev, next, last, first."""
    per_page = _int_arg(request, "per_page", DEFAULT_PER_PAGE)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, _int_arg(request, "page", 1))
    last = max(1, math.ceil(len(items) / per_page))
    start = (page - 1) * per_page
    chunk = list(items[start : start + per_page])
    rels: list[tuple[str, int]] = []
    if page > 1:
        rels.append(("prev", min(page - 1, last)))
    if page < last:
        rels.append(("next", page + 1))
        rels.append(("last", last))
    if page > 1:
        rels.append(("first", 1))
    link = ", ".join(f'<{_page_url(self_url, request, number)}>; rel="{rel}"' for rel, number in rels)
    return Page(chunk, link)


def page_response(items: Sequence[Any], request: Request, self_url: str) -> Response:
    page = paginate(items, request, self_url)
    headers = {"Link": page.link} if page.link else {}
    return Response(200, page.items, headers)


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        # GitHub ignores a non-numeric page/per_page rather than failing the request
        return default


def _page_url(self_url: str, request: Request, page: int) -> str:
    pairs = [(k, v) for k, values in request.query.items() if k != "page" for v in values]
    pairs.append(("page", str(page)))
    return f"{self_url}?{urllib.parse.urlencode(pairs)}"
