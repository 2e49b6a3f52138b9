"""The ``none`` engine: analysis only, never a fix."""

from __future__ import annotations

from bot.fix.engines.base import Abstain, EngineContext, Proposal, Usage


class NoneEngine:
    name = "none"

    def propose(self, ctx: EngineContext) -> Proposal:
        return Abstain(
            "fix.engine is 'none': crashbot posts the analysis only and proposes no fix", "none", Usage()
        )
