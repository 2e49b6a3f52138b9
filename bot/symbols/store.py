"""The release symbol store: a plain folder in the layout symbol servers and debuginfod use, plus an index.

Layout under ``root`` (Windows tools read it as a symbol path, ``srv*<root>``; gdb reads the ``.build-id``
part as a ``debug-file-directory``)::

    worldserver.pdb/<GUID><AGE>/worldserver.pdb
    worldserver.exe/<TIMESTAMP><SIZEOFIMAGE>/worldserver.exe
    .build-id/ab/cdef0123….debug
    index.json          which files each build revision brought, when, and how big

A file's place depends only on its identity, so adding the same build twice stores it once; the index
records every revision that brought it, and ``prune`` removes a file once no kept revision needs it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.symbols.errors import SymbolError
from bot.symbols.identity import (
    HEADER_BYTES,
    Kind,
    PdbInfo,
    PeImage,
    kind_of,
    read_build_id,
    read_elf_load_vaddr,
    read_head,
    read_pdb,
    read_pe_file,
)

logger = logging.getLogger(__name__)

INDEX_NAME = "index.json"
INDEX_VERSION = 1
# Files worth a look when importing a folder: Windows images and PDBs by extension, ELF files by magic.
_PE_SUFFIXES = (".exe", ".dll")
_MAX_SCAN_FILES = 20_000


@dataclass(frozen=True)
class DebugFile:
    """One identified debug file: what it is, its symbol-store key and where it sits."""

    kind: Kind
    name: str  # the file name the store keys it under (lower-cased for PE/PDB lookups)
    key: str  # <TIMESTAMP><SIZE>, <GUID><AGE> or the build-id
    path: Path
    pe: PeImage | None = None
    load_vaddr: int = 0  # ELF: the lowest PT_LOAD address minus its file offset (0 for PIE)

    @property
    def relative(self) -> str:
        if self.kind is Kind.ELF:
            return f".build-id/{self.key[:2]}/{self.key[2:]}.debug"
        return f"{self.name}/{self.key}/{self.name}"


@dataclass(frozen=True)
class Release:
    revision: str
    added_at: float
    files: tuple[str, ...]  # store-relative paths
    names: Mapping[str, str] = field(default_factory=dict)  # .build-id path -> the ELF's file name


@dataclass(frozen=True)
class ScanResult:
    files: tuple[DebugFile, ...]
    notes: tuple[str, ...] = ()


def identify(path: Path) -> DebugFile | None:
    """The debug identity of ``path``, or None when it is not a PE, PDB or ELF with a build-id.

    Raises SymbolError when it looks like one but cannot be read (permission, truncation)."""
    kind = kind_of(read_head(path, 32))
    if kind is None:  # most files of a build folder: decided from 32 bytes
        return None
    head = read_head(path, HEADER_BYTES)
    if kind is Kind.PE:
        pe = read_pe_file(path, head)
        return DebugFile(Kind.PE, path.name.lower(), pe.key, path, pe)
    if kind is Kind.PDB:
        info: PdbInfo = read_pdb(path)
        return DebugFile(Kind.PDB, path.name.lower(), info.key, path)
    if kind is Kind.ELF:
        build_id = read_build_id(head, str(path))
        if not build_id:
            return None
        return DebugFile(Kind.ELF, path.name, build_id, path, load_vaddr=read_elf_load_vaddr(head, str(path)))
    return None


def _candidates(folder: Path) -> Iterator[Path]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder, onerror=None):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            count += 1
            if count > _MAX_SCAN_FILES:
                return
            yield Path(dirpath, name)


def scan(folder: Path) -> ScanResult:
    """Every debug file under ``folder`` (a release or build output); unreadable files become notes."""
    if not folder.is_dir():
        raise SymbolError(f"{folder}: not a folder of debug files")
    found: list[DebugFile] = []
    notes: list[str] = []
    for path in _candidates(folder):
        lower = path.name.lower()
        if not (lower.endswith((*_PE_SUFFIXES, ".pdb", ".debug")) or "." not in path.name or ".so" in lower):
            continue
        try:
            if path.is_symlink() or not path.is_file():
                continue
            debug = identify(path)
        except SymbolError as e:
            notes.append(str(e))
            continue
        if debug is not None:
            found.append(debug)
    return ScanResult(tuple(found), tuple(notes))


@dataclass
class _Index:
    releases: list[Release] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "version": INDEX_VERSION,
            "releases": [
                {"revision": r.revision, "added_at": r.added_at, "files": list(r.files)}
                for r in self.releases
            ],
        }


class SymbolStore:
    """The store at ``root``. Reads never fail on a damaged index: they say so and find nothing."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def _load(self) -> _Index:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            releases = [
                Release(
                    str(r["revision"]),
                    float(r["added_at"]),
                    tuple(str(f) for f in r["files"]),
                    {str(k): str(v) for k, v in dict(r.get("names", {})).items()},
                )
                for r in data["releases"]
            ]
        except FileNotFoundError:
            return _Index()
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SymbolError(
                f"{self.index_path}: the symbol store's index cannot be read ({e}); "
                "move it away and re-add the builds with `crashbot symbols add`"
            ) from None
        return _Index(releases)

    def _save(self, index: _Index) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(index.to_json(), indent=1), encoding="utf-8")
            os.replace(tmp, self.index_path)
        except OSError as e:
            raise SymbolError(f"{self.index_path}: cannot be written: {e.strerror or e}") from None

    def releases(self) -> tuple[Release, ...]:
        return tuple(self._load().releases)

    def add(
        self, folder: Path, *, revision: str, clock: float | None = None
    ) -> tuple[Release, tuple[str, ...]]:
        """Copy the debug files under ``folder`` into the store as ``revision``; returns the release and
        the notes about files that could not be read."""
        result = scan(folder)
        if not result.files:
            raise SymbolError(
                f"{folder}: no .exe/.dll/.pdb or ELF file with a build-id found; nothing stored"
            )
        stored: list[str] = []
        names: dict[str, str] = {}
        for debug in result.files:
            if debug.kind is Kind.ELF:
                names[debug.relative] = debug.name
            target = self.root / debug.relative
            if not target.exists():
                tmp = target.with_name(target.name + ".part")
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(debug.path, tmp)
                    os.replace(tmp, target)
                except OSError as e:
                    raise SymbolError(f"cannot store {debug.path} as {target}: {e.strerror or e}") from None
            stored.append(debug.relative)
        index = self._load()
        release = Release(
            revision, time.time() if clock is None else clock, tuple(sorted(set(stored))), names
        )
        index.releases = [r for r in index.releases if r.revision != revision] + [release]
        self._save(index)
        return release, result.notes

    def size(self, relative: Sequence[str] | None = None) -> int:
        paths = relative if relative is not None else [p for r in self.releases() for p in r.files]
        total = 0
        for rel in set(paths):
            try:
                total += (self.root / rel).stat().st_size
            except OSError:
                continue
        return total

    def prune(self, *, keep_releases: int, max_bytes: int = 0) -> tuple[Release, ...]:
        """Drop the oldest releases beyond ``keep_releases`` (and then while the store is over ``max_bytes``,
        0 = no cap; the newest release is always kept); delete files no kept release uses."""
        index = self._load()
        ordered = sorted(index.releases, key=lambda r: r.added_at)
        dropped: list[Release] = []
        while len(ordered) > max(keep_releases, 1):
            dropped.append(ordered.pop(0))
        while max_bytes and len(ordered) > 1 and self.size([f for r in ordered for f in r.files]) > max_bytes:
            dropped.append(ordered.pop(0))
        if not dropped:
            return ()
        kept = {f for r in ordered for f in r.files}
        for rel in {f for r in dropped for f in r.files} - kept:
            path = self.root / rel
            try:
                path.unlink(missing_ok=True)
                for parent in (path.parent, path.parent.parent):
                    if parent != self.root and not any(parent.iterdir()):
                        parent.rmdir()
            except OSError as e:
                logger.warning("symbol store: cannot remove %s: %s", path, e.strerror or e)
        index.releases = ordered
        self._save(index)
        return tuple(dropped)

    # -- lookups ----------------------------------------------------------------------------------------

    def path(self, name: str, key: str) -> Path | None:
        candidate = self.root / name.lower() / key / name.lower()
        return candidate if candidate.is_file() else None

    def paths_with_stamp(self, name: str, stamp: str) -> tuple[Path, ...]:
        """The stored images of ``name`` whose key starts with the PE time stamp ``stamp`` (8 upper-case
        hex digits): a fault record names the time stamp but not the image size, the key's second half."""
        folder = self.root / name.lower()
        try:
            keys = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        except OSError:
            return ()
        found = (folder / key / name.lower() for key in keys if key.upper().startswith(stamp.upper()))
        return tuple(path for path in found if path.is_file())

    def build_id_path(self, build_id: str) -> Path | None:
        candidate = self.root / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug"
        return candidate if candidate.is_file() else None

    def release(self, revision: str) -> Release | None:
        """The newest release of ``revision`` (a report's hash, full or abbreviated to 7+ digits)."""
        wanted = revision.lower()
        if len(wanted) < 7:
            return None
        for release in reversed(self.releases()):
            have = release.revision.lower()
            if have.startswith(wanted) or wanted.startswith(have):
                return release
        return None

    def for_revision(self, revision: str) -> tuple[Path, ...]:
        """The files a revision brought."""
        release = self.release(revision)
        return tuple(self.root / f for f in release.files) if release else ()
