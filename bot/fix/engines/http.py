"""JSON-over-HTTPS for the API engines: timeouts, retries with exponential backoff on 429/5xx and
connection errors, honouring Retry-After, and error messages that never carry the API key."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from bot.fix.engines.base import EngineError, Sleep

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})  # 529: Anthropic "overloaded"
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 60.0
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer than this is not worth holding a runner for


def post_json(
    session: requests.Session,
    url: str,
    *,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout_s: float,
    max_retries: int,
    sleep: Sleep,
    what: str,
    params: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """POST ``payload`` and return the decoded JSON object; raise EngineError naming ``what`` on failure."""
    attempt = 0
    while True:
        try:
            response = session.post(
                url, json=dict(payload), headers=dict(headers), params=params, timeout=timeout_s
            )
        except (requests.ConnectionError, requests.Timeout) as e:
            if attempt >= max_retries:
                raise EngineError(
                    f"{what} at {url} is unreachable after {attempt + 1} tries: {_scrub(str(e), secrets)}"
                ) from e
            delay = backoff(attempt)
            logger.warning("%s unreachable (%s); retrying in %.0fs", what, type(e).__name__, delay)
            sleep(delay)
            attempt += 1
            continue
        status = response.status_code
        if status in RETRY_STATUSES and attempt < max_retries:
            wait = retry_after(response.headers)
            if wait is not None and wait > MAX_RETRY_AFTER_S:
                raise EngineError(
                    f"{what} answered HTTP {status} and asks to wait {wait:.0f}s; retry the fix later"
                )
            delay = wait if wait is not None else backoff(attempt)
            logger.warning("%s answered HTTP %s; retrying in %.1fs", what, status, delay)
            sleep(delay)
            attempt += 1
            continue
        if status >= 400:
            raise EngineError(
                f"{what} answered HTTP {status}: {_scrub(error_message(response), secrets)}"
                + (" (check the API key and fix.api_key_env)" if status in (401, 403) else "")
            )
        try:
            data = response.json()
        except ValueError as e:
            raise EngineError(f"{what} answered HTTP {status} with a body that is not JSON") from e
        if not isinstance(data, dict):
            raise EngineError(f"{what} answered with JSON that is not an object")
        return data


def backoff(attempt: int) -> float:
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2**attempt)))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP
    date); None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_message(response: requests.Response) -> str:
    """The API's own error text (Anthropic and OpenAI both use ``{"error": {"message": ...}}``)."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            kind = f"{err.get('type')}: " if err.get("type") else ""
            return f"{kind}{err['message']}"[:300]
        if isinstance(err, str):
            return err[:300]
        if data.get("message"):
            return str(data["message"])[:300]
    return str(data)[:300]


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text
