"""Files crashbot reads or writes in a directory that untrusted code can also write (the build
directory, the fix handoff): never through a symlink, never a FIFO or device, never unbounded."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class UnsafeFile(Exception):
    """The path holds something other than a regular file of a sane size."""


def read_regular(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``. A symlink at ``path`` fails to open
    (OSError); a FIFO or device (opened without blocking) or a file over ``limit`` is :class:`UnsafeFile`."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{path} is larger than {limit} bytes")
    return data


def create_fresh(path: Path) -> IO[bytes]:
    """``path`` as a new file of our own, open for writing and reading: whatever was there (a symlink to
    a runner credential, say) is removed first, and ``O_EXCL``/``O_NOFOLLOW`` refuse one planted in
    between, so nothing is ever written or read through it. OSError when that cannot be had."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o600), "w+b")
