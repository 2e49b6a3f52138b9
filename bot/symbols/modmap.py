"""Where each module was loaded, read from the module map a gdb log may carry: ``info proc mappings``
rows or ``/proc/PID/maps`` lines. gdb's ``#3 0x… in ?? ()`` frames need it to become module offsets.

TrinityCore's crashreport.gdb prints no mappings; without them, ``??`` frames stay unresolved and the
note says so (add ``info proc mappings`` to the gdb script).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# gdb's ``info proc mappings``: Start Addr, End Addr, Size, Offset, [Perms,] objfile
_GDB_ROW = re.compile(
    r"^\s*0x(?P<start>[0-9a-f]+)\s+0x(?P<end>[0-9a-f]+)\s+0x[0-9a-f]+\s+0x(?P<offset>[0-9a-f]+)"
    r"(?:\s+[r-][w-][x-][ps])?\s+(?P<path>/\S.*?)\s*$"
)
# /proc/PID/maps: start-end perms offset dev inode path
_MAPS_ROW = re.compile(
    r"^\s*(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+)\s+[r-][w-][x-][ps]\s+(?P<offset>[0-9a-f]+)\s+"
    r"[0-9a-f]+:[0-9a-f]+\s+\d+\s+(?P<path>/\S.*?)\s*$"
)
MAX_LINE = 4096


@dataclass(frozen=True)
class Mapped:
    path: str
    base: int  # where file offset 0 is mapped
    start: int
    end: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ModuleMap:
    modules: tuple[Mapped, ...]

    def find(self, address: int) -> Mapped | None:
        return next((m for m in self.modules if m.start <= address < m.end), None)


def read_module_map(lines: Iterable[str]) -> ModuleMap | None:
    """The modules a report's mapping lines describe (one entry per file: lowest base, whole span);
    None when the report has none."""
    spans: dict[str, tuple[int, int, int]] = {}
    for line in lines:
        if len(line) > MAX_LINE or ("0x" not in line and "-" not in line):
            continue
        m = _GDB_ROW.match(line) or _MAPS_ROW.match(line)
        if m is None:
            continue
        start, end, offset = int(m["start"], 16), int(m["end"], 16), int(m["offset"], 16)
        path = m["path"].removesuffix(" (deleted)")
        base, low, high = spans.get(path, (start - offset, start, end))
        spans[path] = (min(base, start - offset), min(low, start), max(high, end))
    if not spans:
        return None
    return ModuleMap(tuple(Mapped(p, b, lo, hi) for p, (b, lo, hi) in spans.items()))
