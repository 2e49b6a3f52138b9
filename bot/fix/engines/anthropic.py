"""The Anthropic Messages API as a fix engine (``POST /v1/messages`` over requests)."""

from __future__ import annotations

import logging
from typing import Any

import requests

from bot.config import FixSettings
from bot.fix.engines.base import (
    Abstain,
    EngineContext,
    EngineError,
    Proposal,
    Sleep,
    Usage,
    output_allowance,
    parse_answer,
)
from bot.fix.engines.http import post_json

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"


class AnthropicEngine:
    """Sends the prompt as one user message with the instructions as ``system``."""

    name = "anthropic"

    def __init__(
        self, settings: FixSettings, *, api_key: str, session: requests.Session, sleep: Sleep
    ) -> None:
        self._settings = settings
        self._key = api_key
        self._session = session
        self._sleep = sleep
        self.url = (settings.base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"

    def __repr__(self) -> str:
        return f"AnthropicEngine(url={self.url!r}, model={self._settings.model!r}, api_key=***)"

    def propose(self, ctx: EngineContext) -> Proposal:
        model = self._settings.model
        allowance = output_allowance(self._settings, ctx)
        if isinstance(allowance, str):
            return Abstain(allowance, model, Usage())
        payload = {
            "model": model,
            "max_tokens": allowance,
            "system": ctx.prompt.system,
            "messages": [{"role": "user", "content": ctx.prompt.user}],
        }
        headers = {
            "x-api-key": self._key,
            "anthropic-version": self._settings.api_version or DEFAULT_VERSION,
            "content-type": "application/json",
        }
        logger.info("asking %s (%s) for a fix, attempt %d", self.url, model, ctx.attempt)
        data = post_json(
            self._session,
            self.url,
            payload=payload,
            headers=headers,
            timeout_s=self._settings.engine_timeout_s,
            max_retries=self._settings.engine_max_retries,
            sleep=self._sleep,
            what="the Anthropic API",
            secrets=(self._key,),
        )
        return _proposal(data, model)


def _proposal(data: dict[str, Any], model: str) -> Proposal:
    content = data.get("content")
    if not isinstance(content, list):
        raise EngineError("the Anthropic API answered without a 'content' list")
    text = "".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    raw = data.get("usage")
    raw_usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    usage = Usage(
        input_tokens=int(raw_usage.get("input_tokens") or 0)
        + int(raw_usage.get("cache_creation_input_tokens") or 0)
        + int(raw_usage.get("cache_read_input_tokens") or 0),
        output_tokens=int(raw_usage.get("output_tokens") or 0),
    )
    answered_by = str(data.get("model") or model)
    return parse_answer(text, model=answered_by, usage=usage, cut_off=data.get("stop_reason") == "max_tokens")
