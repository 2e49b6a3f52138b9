"""One publisher per spool at a time: an exclusive SQLite lock on a small file beside the spool.

The lock is the operating system's (POSIX advisory locks, Windows ``LockFileEx``, both taken by SQLite),
so it is released when its process ends however it ends, ``kill -9`` and ``TerminateProcess``
included: no pid to check, no lease to expire.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

LOCK_SUFFIX = ".publisher.lock"


def lock_path(spool_path: Path) -> Path:
    return spool_path.with_name(spool_path.name + LOCK_SUFFIX)


@contextlib.contextmanager
def publisher_lock(spool_path: Path) -> Iterator[bool]:
    """Hold the spool's publisher lock for the ``with`` block; yields False (holding nothing) when
    another process holds it. OSError/sqlite3.Error when the lock file cannot be made at all."""
    db = sqlite3.connect(lock_path(spool_path), timeout=0, isolation_level=None)
    try:
        try:
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e):
                raise
            yield False  # another publisher holds it
            return
        yield True
        db.execute("ROLLBACK")
    finally:
        db.close()
