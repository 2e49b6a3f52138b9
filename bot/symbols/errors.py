"""The symbols room's exceptions."""

from __future__ import annotations

from bot.errors import BotError


class SymbolError(BotError):
    """A debug file, store or dump could not be read or used; the message names the file and why."""
