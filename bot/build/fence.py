"""The fence for text that leaves the fix side: every diagnostic, log tail, agent output, engine reasoning
and abstain reason crashbot posts to GitHub or feeds back to the engine passes through here.

Untrusted code produced that text (a build or test of an engine-written patch, a coding agent). So it is
redacted (:func:`bot.crash.redact.redact`), every known secret value is masked exactly (the values of the
variables the configuration names as secrets, registered once by the command that loaded them),
diagnostics about files outside the workspace are dropped, and everything is capped in size.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.build.diagnostics import Diagnostic
from bot.crash.redact import redact

MASK = "[REDACTED:known-secret]"
MIN_SECRET_CHARS = 8  # shorter values would mask ordinary words; the redactor's shapes still apply
DEFAULT_LIMIT = 20_000


class _Registry:
    """The secret values this process holds, longest first (one per process: see :func:`remember`)."""

    values: tuple[str, ...] = ()


_REGISTRY = _Registry()


@dataclass(frozen=True)
class Fenced:
    """Text after the fence, and whether anything was masked or cut (for a log line)."""

    text: str
    masked: int
    cut: bool


def remember(values: Iterable[str | None]) -> None:
    """Register the secret values this process holds (called where the command loads them), with the
    encodings they travel in: base64 (an HTTP Basic header, a git extraheader) and URL-quoted."""
    found: set[str] = set(_REGISTRY.values)
    for value in values:
        if not value or len(value) < MIN_SECRET_CHARS:
            continue
        for form in _forms(value):
            found.add(form)
    _REGISTRY.values = tuple(sorted(found, key=len, reverse=True))  # longest first: a value in another


def forget() -> None:
    """Drop every registered value (tests; a long-lived process between configurations)."""
    _REGISTRY.values = ()


def known() -> tuple[str, ...]:
    return _REGISTRY.values


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a registered secret value (a patch that does is refused: it would be
    committed to the branch)."""
    return any(value in text for value in _REGISTRY.values)


def text(value: str, *, limit: int = DEFAULT_LIMIT, keep: str = "tail") -> Fenced:
    """``value`` redacted, registered secrets masked and cut to ``limit`` characters (keeping the head
    or the tail, where a build log's error is)."""
    out = redact(value).text
    masked = 0
    for secret in _REGISTRY.values:
        if secret in out:
            masked += out.count(secret)
            out = out.replace(secret, MASK)
    cut = len(out) > limit
    if cut:
        out = ("…" + out[-(limit - 1) :]) if keep == "tail" else (out[: limit - 1] + "…")
    return Fenced(out, masked, cut)


def mask(value: str) -> str:
    """``value`` with every registered secret masked exactly, and nothing else changed (a patch stays a
    patch): for text handed to a process that does not know the value, e.g. the work step's result."""
    for secret in _REGISTRY.values:
        value = value.replace(secret, MASK)
    return value


def post(value: str, *, limit: int = DEFAULT_LIMIT, keep: str = "tail") -> str:
    """:func:`text`, just the text."""
    return text(value, limit=limit, keep=keep).text


def diagnostics(found: Sequence[Diagnostic], *, limit: int = 2_000) -> tuple[Diagnostic, ...]:
    """``found`` without diagnostics about files outside the workspace (an absolute path or ``..`` left
    after :func:`bot.build.diagnostics.relative_to`), each message fenced and capped."""
    kept = []
    for d in found:
        if d.file and _outside(d.file):
            continue
        kept.append(
            Diagnostic(
                post(d.file, limit=400) if d.file else None,
                d.line,
                d.column,
                d.severity,
                d.code,
                post(d.message, limit=limit, keep="head"),
            )
        )
    return tuple(kept)


def _outside(file: str) -> bool:
    norm = file.replace("\\", "/")
    if norm.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", norm):
        return True
    return any(part == ".." for part in norm.split("/"))


def _forms(value: str) -> list[str]:
    raw = value.encode("utf-8")
    forms = [value, value.strip(), urllib.parse.quote(value, safe=""), base64.b64encode(raw).decode("ascii")]
    # a PEM key travels line by line: each long line of it is a secret on its own
    forms += [line.strip() for line in value.splitlines() if len(line.strip()) >= 16 and "-----" not in line]
    for user in ("x-access-token:", "x-access-token:".upper(), ":"):
        forms.append(base64.b64encode(user.encode() + raw).decode("ascii"))
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_SECRET_CHARS]
