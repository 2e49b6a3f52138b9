"""Map a source path printed on another machine (``E:\\ac\\src\\...``, ``/home/u/tc/src/...``) to a file
in this checkout: configured prefix maps first, then the longest unique path-suffix match."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.git import Git

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolved:
    """A checkout path (forward slashes, repository-relative) and how it was found."""

    path: str
    how: str


@dataclass(frozen=True)
class Unresolved:
    """Why a path could not be mapped (shown to humans in the analysis)."""

    reason: str


def split_path(path: str) -> list[str]:
    """Components of a Windows or POSIX path, without drive, root, ``.`` or ``..`` parts."""
    text = path.strip().strip('"').replace("\\", "/")
    text = re.sub(r"^[A-Za-z]:", "", text)  # drive letter
    text = re.sub(r"^//[^/]+/[^/]+", "", text)  # UNC share
    return [p for p in text.split("/") if p and p not in (".", "..")]


class SourceMap:
    """Resolves foreign paths against the checkout's tracked files (``git ls-files``)."""

    def __init__(self, files: Iterable[str], prefix_map: Mapping[str, str] | None = None) -> None:
        self._files = sorted(set(files))
        self._by_folded = {f.casefold(): f for f in self._files}
        self._by_name: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
        for f in self._files:
            parts = [p.casefold() for p in f.split("/")]
            self._by_name[parts[-1]].append((f, parts))
        # longest prefix first, so "E:/ac/modules" beats "E:/ac"
        self._prefixes = sorted(
            ((split_path(k), _normalise_target(v)) for k, v in (prefix_map or {}).items()),
            key=lambda kv: -len(kv[0]),
        )

    @classmethod
    def from_git(cls, git: Git, prefix_map: Mapping[str, str] | None = None) -> SourceMap:
        return cls(git.ls_files(), prefix_map)

    def resolve(self, path: str | None) -> Resolved | None:
        """The checkout file for ``path``, or None (the reason is logged; :meth:`lookup` returns it)."""
        result = self.lookup(path)
        if isinstance(result, Unresolved):
            logger.debug("cannot map %r: %s", path, result.reason)
            return None
        return result

    def lookup(self, path: str | None) -> Resolved | Unresolved:
        """Like :meth:`resolve`, but say why when there is no answer."""
        if not path or not path.strip():
            return Unresolved("the frame has no source path")
        parts = split_path(path)
        if not parts:
            return Unresolved(f"{path!r} has no file name")
        folded = [p.casefold() for p in parts]
        prefix_note = ""
        for prefix, target in self._prefixes:
            folded_prefix = [p.casefold() for p in prefix]
            if prefix and folded[: len(prefix)] == folded_prefix:
                candidate = "/".join([*target, *parts[len(prefix) :]])
                real = self._by_folded.get(candidate.casefold())
                if real is not None:
                    return Resolved(real, f"prefix map {'/'.join(prefix)!r} -> {'/'.join(target) or '.'!r}")
                prefix_note = f"; prefix map gave {candidate!r}, which is not tracked"
                break
        candidates = self._by_name.get(folded[-1], [])
        if not candidates:
            return Unresolved(f"no tracked file is named {parts[-1]!r}{prefix_note}")
        scored = sorted(((_common_suffix(folded, c_parts), f) for f, c_parts in candidates), reverse=True)
        best_len = scored[0][0]
        best = [f for n, f in scored if n == best_len]
        if len(best) > 1:
            shown = ", ".join(best[:4]) + (" …" if len(best) > 4 else "")
            return Unresolved(
                f"{len(best)} tracked files end with {'/'.join(parts[-best_len:])!r} ({shown}); "
                f"add a fix.path_prefix_map entry{prefix_note}"
            )
        how = (
            "file name only (unique in the checkout)"
            if best_len == 1
            else f"path suffix match ({best_len} components)"
        )
        return Resolved(best[0], how)


def _normalise_target(target: str) -> list[str]:
    return [p for p in target.replace("\\", "/").split("/") if p and p != "."]


def _common_suffix(a: list[str], b: list[str]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n
