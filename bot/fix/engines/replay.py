"""The ``replay`` engine: answers with a recorded diff (or ``ABSTAIN:``) from a file; used by the demo and
for re-running a known fix through validation and the build."""

from __future__ import annotations

from pathlib import Path

from bot.config import FixSettings
from bot.errors import ConfigError
from bot.fix.engines.base import EngineContext, Proposal, Usage, parse_answer


class ReplayEngine:
    name = "replay"

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: FixSettings) -> ReplayEngine:
        if not settings.replay_patch:
            raise ConfigError("fix.replay_patch is empty: engine 'replay' needs the path of a recorded diff")
        path = Path(settings.replay_patch).expanduser()
        if not path.is_file():
            raise ConfigError(f"fix.replay_patch {str(path)!r} does not exist; record a diff there first")
        return cls(path)

    def propose(self, ctx: EngineContext) -> Proposal:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"fix.replay_patch {str(self.path)!r} cannot be read: {e}") from e
        return parse_answer(text, model=f"replay:{self.path.name}", usage=Usage())
