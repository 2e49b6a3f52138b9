"""Errors raised by the pure crash core (kept inside the package: it imports nothing outside itself)."""

from __future__ import annotations


class CrashParseError(ValueError):
    """The input is not a crash report crashbot can read (the CLI maps this to exit code 2)."""
