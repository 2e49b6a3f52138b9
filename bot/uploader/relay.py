"""Log records across a process boundary: the publisher process writes them to its stderr, one a line,
and ``crashbot watch`` logs them as its own, so one log (stderr, ``--log-file``) tells the whole story.

A line is ``LEVEL<TAB>LOGGER<TAB>MESSAGE`` with the message's own line breaks escaped. Anything else on
the stream (a crash of the interpreter itself, a library printing) is relayed as a warning.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TextIO

FALLBACK_LOGGER = "bot.uploader.publisher"


@dataclass(frozen=True)
class Relayed:
    level: int
    logger: str
    message: str


class RelayHandler(logging.Handler):
    """Writes each record as one relay line to ``stream`` (default: whatever ``sys.stderr`` is then)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.levelno <= logging.DEBUG:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            stream = self._stream or sys.stderr
            stream.write(encode(Relayed(record.levelno, record.name, message)))
            stream.flush()
        except Exception:  # logging must never take the publisher down (a closed pipe: the watcher is gone)
            self.handleError(record)


def encode(record: Relayed) -> str:
    escaped = record.message.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return f"{record.level}\t{record.logger}\t{escaped}\n"


def decode(line: str) -> Relayed:
    """The record a relay line carries; a line that is not one becomes a warning carrying it whole."""
    text = line.rstrip("\r\n")
    parts = text.split("\t", 2)
    if len(parts) == 3 and parts[0].isdigit() and parts[1]:
        message = _unescape(parts[2])
        return Relayed(min(int(parts[0]), logging.CRITICAL), parts[1], message)
    return Relayed(logging.WARNING, FALLBACK_LOGGER, f"publisher process: {text}")


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(nxt, "\\" + nxt))
    return "".join(out)


def log(record: Relayed) -> None:
    """Log a relayed record in this process, under its own logger name and level."""
    logging.getLogger(record.logger).log(record.level, "%s", record.message)
