"""OpenAI-compatible chat completions as a fix engine: OpenAI, Azure OpenAI, and local servers
(Ollama, llama.cpp, vLLM) through ``fix.base_url``."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.config import FixSettings
from bot.fix.engines.base import (
    Abstain,
    EngineContext,
    EngineError,
    Proposal,
    Sleep,
    Usage,
    estimate_tokens,
    output_allowance,
    parse_answer,
)
from bot.fix.engines.http import post_json

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
AZURE_API_VERSION = "2024-10-21"  # the GA data-plane version for deployment-style URLs
_AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")


def is_azure(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host.endswith(_AZURE_HOSTS)


class OpenAIEngine:
    """``POST {base_url}/chat/completions`` with a system and a user message."""

    name = "openai"

    def __init__(
        self, settings: FixSettings, *, api_key: str | None, session: requests.Session, sleep: Sleep
    ) -> None:
        self._settings = settings
        self._key = api_key
        self._session = session
        self._sleep = sleep
        base = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.url = base + "/chat/completions"
        self.azure = is_azure(base)
        self.params: dict[str, str] = {}
        # Azure's deployment URLs need api-version; its newer /openai/v1 surface does not
        if self.azure and "/openai/v1" not in urlsplit(base).path and "api-version" not in base:
            self.params["api-version"] = settings.api_version or AZURE_API_VERSION
        # api.openai.com and Azure renamed the limit; local servers still read max_tokens
        self._limit_key = "max_completion_tokens" if self.azure or not settings.base_url else "max_tokens"

    def __repr__(self) -> str:
        return f"OpenAIEngine(url={self.url!r}, model={self._settings.model!r}, api_key=***)"

    def propose(self, ctx: EngineContext) -> Proposal:
        model = self._settings.model
        allowance = output_allowance(self._settings, ctx)
        if isinstance(allowance, str):
            return Abstain(allowance, model, Usage())
        payload = {
            "model": model,
            "messages": [
                {"role": "system", "content": ctx.prompt.system},
                {"role": "user", "content": ctx.prompt.user},
            ],
            self._limit_key: allowance,
        }
        headers = {"content-type": "application/json"}
        if self._key and self.azure:
            headers["api-key"] = self._key
        elif self._key:
            headers["authorization"] = f"Bearer {self._key}"
        logger.info("asking %s (%s) for a fix, attempt %d", self.url, model, ctx.attempt)
        data = post_json(
            self._session,
            self.url,
            payload=payload,
            headers=headers,
            params=self.params or None,
            timeout_s=self._settings.engine_timeout_s,
            max_retries=self._settings.engine_max_retries,
            sleep=self._sleep,
            what="the OpenAI-compatible API",
            secrets=(self._key or "",),
        )
        return _proposal(data, model, ctx)


def _proposal(data: dict[str, Any], model: str, ctx: EngineContext) -> Proposal:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise EngineError("the OpenAI-compatible API answered without choices")
    choice = choices[0]
    raw_message = choice.get("message")
    message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
    text = str(message.get("content") or "")
    raw_usage = data.get("usage")
    if isinstance(raw_usage, dict) and raw_usage:
        usage = Usage(int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0))
    else:
        # some local servers report nothing; estimate so the per-issue ceiling still means something
        usage = Usage(estimate_tokens(ctx.prompt.system + ctx.prompt.user), estimate_tokens(text))
    answered_by = str(data.get("model") or model)
    return parse_answer(text, model=answered_by, usage=usage, cut_off=choice.get("finish_reason") == "length")
