"""``--log-file``: a size-rotated log file for the long-running uploader (a Windows service has no stderr
anyone reads; on Linux journald already keeps stderr, so there it is optional)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from bot.errors import ConfigError

MAX_BYTES = 10 * 1024 * 1024  # per file
BACKUPS = 5  # watch.log.1 ... watch.log.5: at most ~60 MB on disk
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def attach(path: Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> logging.Handler:
    """Send the root logger's records at INFO and above (or lower, with ``-vv``) to ``path`` too, rotating
    by size; what reaches stderr does not change.

    The folder must exist (the installer makes it with its ACL; creating it here would make it with
    default permissions). ConfigError, one line, when the file cannot be opened.
    """
    if not path.parent.is_dir():
        raise ConfigError(f"--log-file {str(path)!r}: folder {str(path.parent)!r} does not exist; create it")
    try:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=False
        )
    except OSError as e:
        raise ConfigError(
            f"--log-file {str(path)!r} cannot be opened: {e.strerror or e}; pass a writable file"
        ) from None
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    if root.level > logging.INFO or root.level == logging.NOTSET:
        for existing in root.handlers:  # keep stderr as quiet as -v/-q asked
            existing.setLevel(max(existing.level, root.level))
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    return handler
