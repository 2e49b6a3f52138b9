"""Where the Linux kernel writes core files: ``kernel.core_pattern`` read and explained.

``core_pattern`` is either a path template (``/var/crash/core.%e.%p``; relative ones such as the default
``core`` land in the crashing process's working directory) or ``|program args`` (the core is piped to a
helper: systemd-coredump, apport, abrt). crashbot can watch a fixed folder, and can ask ``coredumpctl`` for
cores systemd-coredump keeps; anything else is out of its reach, and ``crashbot doctor`` says how to fix it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CORE_PATTERN_FILE = Path("/proc/sys/kernel/core_pattern")
SYSTEMD_COREDUMP_DIR = Path("/var/lib/systemd/coredump")
# A folder and name that work with crashbot; for the fix text of `crashbot doctor`.
SUGGESTED_PATTERN = "/var/crash/core.%e.%p.%t"

_SPECIFIER = re.compile(r"%.")


class PatternKind(enum.StrEnum):
    FOLDER = "folder"  # an absolute path template whose folder is fixed: crashbot can watch it
    RELATIVE = "relative"  # written into the crashing process's working directory
    TEMPLATED_FOLDER = "templated-folder"  # the folder itself varies (``/var/crash/%e/core``)
    SYSTEMD = "systemd-coredump"  # piped to systemd-coredump: read through coredumpctl
    PIPE = "pipe"  # piped to another helper crashbot cannot read (apport, abrt, a script)


@dataclass(frozen=True)
class CorePattern:
    """``core_pattern`` explained: its kind, the folder cores land in (FOLDER only), a glob matching the
    file names it writes, and the program for a pipe."""

    raw: str
    kind: PatternKind
    directory: Path | None = None
    name_glob: str = "core*"
    program: str | None = None


def _glob(template: str) -> str:
    """``core.%e.%p`` -> ``core.*.*`` (``%%`` is a literal percent), always allowing a ``.PID`` suffix."""
    out = _SPECIFIER.sub(lambda m: "%" if m.group() == "%%" else "*", template)
    out = re.sub(r"\*+", "*", out)
    return out if out.endswith("*") else out + "*"


def parse_core_pattern(text: str) -> CorePattern:
    """Explain one ``core_pattern`` value (as read from ``/proc/sys/kernel/core_pattern``)."""
    raw = text.strip()
    if raw.startswith("|"):
        program = raw[1:].strip().split()[0] if raw[1:].strip() else ""
        kind = PatternKind.SYSTEMD if Path(program).name == "systemd-coredump" else PatternKind.PIPE
        return CorePattern(raw=raw, kind=kind, program=program or None)
    template = raw or "core"
    path = PurePosixPath(template)
    if not path.is_absolute():
        return CorePattern(raw=raw, kind=PatternKind.RELATIVE, name_glob=_glob(path.name))
    folder = str(path.parent)
    if "%" in folder:
        return CorePattern(raw=raw, kind=PatternKind.TEMPLATED_FOLDER, name_glob=_glob(path.name))
    return CorePattern(raw=raw, kind=PatternKind.FOLDER, directory=Path(folder), name_glob=_glob(path.name))


def read_core_pattern(source: Path = CORE_PATTERN_FILE) -> CorePattern | None:
    """This host's ``core_pattern``; None when it cannot be read (not Linux, no /proc)."""
    try:
        return parse_core_pattern(source.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
