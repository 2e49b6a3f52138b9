"""The project's exception hierarchy; ``bot.cli`` turns these into one-line diagnostics and exit codes."""

from __future__ import annotations


class BotError(Exception):
    """An expected failure with a message a user can act on (exit code 1)."""

    exit_code = 1

    def diagnostic(self) -> str:
        """One line: what failed, the value, and the next step where there is one."""
        text = " ".join(str(self).split())
        return text or type(self).__name__


class UsageError(BotError):
    """The command line or the input given to it cannot be used (exit code 2)."""

    exit_code = 2


class ConfigError(BotError):
    """``crashbot.toml`` (or a CLI overlay) is invalid; the message names the key."""

    exit_code = 2


class GitHubError(BotError):
    """GitHub (or the stand-in) refused or failed a request after retries."""


class GitError(BotError):
    """A git command failed; the message carries git's own last line."""


class TrustError(BotError):
    """An issue or payload is not from the configured uploader or its signature does not verify."""
