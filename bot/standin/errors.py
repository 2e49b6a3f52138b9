"""Exceptions of the GitHub stand-in."""

from __future__ import annotations

from bot.errors import BotError


class StandInError(BotError):
    """The stand-in was set up wrongly (unknown repo, bad key) or refused a request internally."""
