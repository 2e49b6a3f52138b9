"""Fix engines: one protocol (prompt in, a proposed diff or an abstention out; ``base``) and the registry
that builds the configured one (``anthropic``, ``openai``, ``command``, ``replay``, ``none``; ``registry``).
The engines import ``base`` only, so the registry's imports of them make no cycle."""

from __future__ import annotations

from bot.fix.engines.base import (
    CHARS_PER_TOKEN,
    ENGINES,
    MAX_REASONING_CHARS,
    MIN_OUTPUT_TOKENS,
    Abstain,
    Engine,
    EngineContext,
    EngineError,
    Patch,
    Proposal,
    Sleep,
    Usage,
    estimate_tokens,
    extract_diff,
    looks_like_diff,
    output_allowance,
    parse_answer,
)
from bot.fix.engines.registry import engine_elsewhere, make_engine

__all__ = [
    "CHARS_PER_TOKEN",
    "ENGINES",
    "MAX_REASONING_CHARS",
    "MIN_OUTPUT_TOKENS",
    "Abstain",
    "Engine",
    "EngineContext",
    "EngineError",
    "Patch",
    "Proposal",
    "Sleep",
    "Usage",
    "engine_elsewhere",
    "estimate_tokens",
    "extract_diff",
    "looks_like_diff",
    "make_engine",
    "output_allowance",
    "parse_answer",
]
