"""The engine registry: builds the engine ``fix.engine`` names (``anthropic``, ``openai``, ``command``,
``replay``, ``none``) from the settings and the keys in the environment."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import assert_never

import requests

from bot.config import FixEngine, FixSettings, secret
from bot.errors import ConfigError
from bot.fix.engines.anthropic import AnthropicEngine
from bot.fix.engines.base import Engine, EngineContext, EngineError, Proposal, Sleep
from bot.fix.engines.command import CommandEngine
from bot.fix.engines.none import NoneEngine
from bot.fix.engines.openai import OpenAIEngine
from bot.fix.engines.replay import ReplayEngine


def make_engine(
    settings: FixSettings,
    *,
    env: Mapping[str, str],
    sleep: Sleep = time.sleep,
    session: requests.Session | None = None,
) -> Engine:
    """The engine ``settings.engine`` names, configured from ``settings`` and keys read from ``env``."""
    name = settings.engine
    if name is FixEngine.NONE:
        return NoneEngine()
    if name is FixEngine.REPLAY:
        return ReplayEngine.from_settings(settings)
    if name is FixEngine.COMMAND:
        return CommandEngine.from_settings(settings, env=env)
    if not settings.model:
        example = (
            "claude-sonnet-4-5"
            if name is FixEngine.ANTHROPIC
            else "gpt-4.1 (or your Azure deployment / Ollama model)"
        )
        raise ConfigError(f"fix.model is empty: engine {name.value!r} needs a model name, e.g. {example}")
    key = secret(settings.api_key_env, env)
    http = session or requests.Session()
    if name is FixEngine.ANTHROPIC:
        if key is None:
            raise ConfigError(_missing_key(settings, "anthropic"))
        return AnthropicEngine(settings, api_key=key, session=http, sleep=sleep)
    if name is FixEngine.OPENAI:
        if key is None and not settings.base_url:
            raise ConfigError(
                _missing_key(settings, "openai") + " (only a local server via fix.base_url may go without)"
            )
        return OpenAIEngine(settings, api_key=key, session=http, sleep=sleep)
    assert_never(name)


def _missing_key(settings: FixSettings, name: str) -> str:
    if not settings.api_key_env:
        return f"engine {name!r} needs an API key: set fix.api_key_env to the name of the variable holding it"
    return f"engine {name!r} needs an API key: environment variable {settings.api_key_env!r} is not set"


class EngineElsewhere:
    """The engine as ``crashbot fix --phase prepare`` and ``--phase publish`` know it: by name, for what
    they post. Only ``--phase work`` calls an engine (it is the one step holding the engine's key)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def propose(self, ctx: EngineContext) -> Proposal:
        raise EngineError(f"the {self.name} engine runs in `crashbot fix --phase work`, not in this phase")


def engine_elsewhere(settings: FixSettings) -> Engine:
    """:class:`EngineElsewhere` for the engine ``settings.engine`` names."""
    return EngineElsewhere(settings.engine.value)
