"""Secrets handed over as files: systemd's ``LoadCredential=`` and the Windows service's credentials folder.

A service should not carry its secrets in its environment (``/proc/PID/environ``, the unit file, the
service's registry key). systemd puts each credential in ``$CREDENTIALS_DIRECTORY/<ID>``, readable only
by the service; the Windows installer sets ``CREDENTIALS_DIRECTORY`` to a folder only the service account
can read. crashbot names every secret by an environment variable (``CRASHBOT_TOKEN``, ...): a file of
that name in the folder is used when the variable itself is unset or empty, so every place that asks
``env`` for a secret gets it without knowing where it came from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"  # systemd's name; the Windows service sets the same variable
MAX_CREDENTIAL_BYTES = 64 * 1024  # a PEM key is ~1.7 KB; anything this big is not a credential
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_credentials(directory: Path) -> dict[str, str]:
    """The credentials in ``directory``: file name -> text (one trailing newline dropped).

    Files whose names are not variable names, too big, unreadable or not UTF-8 are skipped with a
    warning naming the file: one bad file must not hide the others.
    """
    found: dict[str, str] = {}
    try:
        entries = sorted(directory.iterdir())
    except OSError as e:
        logger.warning("cannot read the credentials folder %s: %s", directory, e.strerror or e)
        return found
    for path in entries:
        if not _NAME_RE.fullmatch(path.name) or not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_CREDENTIAL_BYTES:
                logger.warning("credential %s is over %d bytes; ignored", path, MAX_CREDENTIAL_BYTES)
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            logger.warning("cannot read credential %s: %s; ignored", path, e)
            continue
        found[path.name] = text.removesuffix("\n").removesuffix("\r")
    return found


def with_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus the credentials of ``$CREDENTIALS_DIRECTORY`` for every variable it leaves unset or
    empty; a variable that is set always wins."""
    merged = dict(env)
    directory = env.get(CREDENTIALS_ENV)
    if not directory:
        return merged
    for name, value in read_credentials(Path(directory)).items():
        if value and not merged.get(name):
            merged[name] = value
    return merged


def without_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` minus the values :func:`with_credentials` took from ``$CREDENTIALS_DIRECTORY``: the
    environment for a child process that reads the folder itself, so a secret handed over as a file is
    not put in a process environment (``/proc/PID/environ``) on the way."""
    stripped = dict(env)
    directory = env.get(CREDENTIALS_ENV)
    if not directory:
        return stripped
    for name, value in read_credentials(Path(directory)).items():
        if stripped.get(name) == value:
            del stripped[name]
    return stripped
