"""Method + path-template routing for the stand-in (``/repos/{owner}/{repo}/issues/{number:int}``)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from bot.standin.wire import Request, Response

Handler = Callable[[Request], Response]

# {name} matches one path segment, {name:int} digits, {name:path} the rest of the path (git refs, branches)
_PLACEHOLDER = re.compile(r"\{(\w+)(?::(int|path))?\}")
_KIND_PATTERNS = {None: r"[^/]+", "int": r"[0-9]+", "path": r".+"}


@dataclass(frozen=True)
class Route:
    """One endpoint: a method, a compiled template, and the function answering it."""

    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


def compile_template(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        parts.append(f"(?P<{match.group(1)}>{_KIND_PATTERNS[match.group(2)]})")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts) + r"\Z")


class Router:
    """An ordered route table; the first template that matches wins, as in most web frameworks."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        self._routes.append(Route(method, template, compile_template(template), handler))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and its decoded path parameters, or None (GitHub answers 404 for both cases)."""
        for route in self._routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found is not None:
                params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                return route, params
        return None

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)
