"""GitHub Actions workflow commands: log groups and error/warning annotations, only inside a workflow.

Outside Actions (``GITHUB_ACTIONS`` unset) nothing here changes the output. The escaping follows the
workflow-commands rules: in a message ``%``, ``\\r`` and ``\\n`` become ``%25``, ``%0D`` and ``%0A``, so a
multi-line message stays one annotation and text cannot end the command early.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

ACTIONS_ENV = "GITHUB_ACTIONS"


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get(ACTIONS_ENV) == "true"


def escape(message: str) -> str:
    """A message as a workflow command's data."""
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation(kind: str, message: str) -> str:
    """``::error::message`` / ``::warning::message`` (one line)."""
    return f"::{kind}::{escape(message)}"


@contextlib.contextmanager
def group(title: str, env: Mapping[str, str], *, stream: TextIO | None = None) -> Iterator[None]:
    """Fold what is printed inside into a collapsible log group (``::group::`` ... ``::endgroup::``)."""
    if not in_actions(env):
        yield
        return
    out = stream or sys.stdout
    out.write(f"::group::{escape(title)}\n")
    out.flush()
    try:
        yield
    finally:
        out.write("::endgroup::\n")
        out.flush()


class AnnotationFormatter(logging.Formatter):
    """Log records of WARNING and above as annotations (shown on the run's summary page); others as is."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.ERROR:
            return annotation("error", text)
        if record.levelno >= logging.WARNING:
            return annotation("warning", text)
        return text
