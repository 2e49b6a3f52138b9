"""Find the debug files a module needs: in a folder of debug files (a release or a build output) or in
the symbol store. Every miss comes back with the reason, worded as what the operator can do about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.symbols.errors import SymbolError
from bot.symbols.identity import CodeView, Kind
from bot.symbols.store import DebugFile, SymbolStore, identify, scan

PE_SUFFIXES = (".exe", ".dll")


@dataclass(frozen=True)
class Found:
    """A located file, or None with the reason it was not found."""

    file: DebugFile | None
    reason: str = ""


def same_module(name: str, module: str) -> bool:
    """cdb names modules without extension (``worldserver``), Wheaty with (``worldserver.exe``)."""
    name, module = name.lower(), module.lower()
    return name == module or any(name == module + s for s in PE_SUFFIXES)


def windows_basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


class Locator(Protocol):
    """Where debug files come from; ``describe`` names it in notes."""

    def describe(self) -> str: ...

    def image(self, module: str, *, revision: str | None, key: str | None, stamp: str | None = None) -> Found:
        """The image of ``module``: by its symbol-store ``key`` (a minidump's), else by its PE time
        ``stamp`` alone (a fault record's), else by the build ``revision``."""
        ...

    def pdb(self, codeview: CodeView) -> Found: ...

    def elf(self, module: str, *, revision: str | None) -> Found: ...


def _elf_named(files: Sequence[DebugFile], module: str) -> list[DebugFile]:
    """An ELF module's debug file: the unstripped binary of that name, or ``name.debug``."""
    return [f for f in files if f.kind is Kind.ELF and f.name in (module, module + ".debug")]


def _pdb_miss(codeview: CodeView, others: Sequence[DebugFile], where: str) -> Found:
    name = windows_basename(codeview.pdb_name)
    if others:
        keys = ", ".join(sorted({o.key for o in others})[:3])
        return Found(
            None,
            f"{name} in {where} does not match the image (it has {keys}, the image wants "
            f"{codeview.key}): it is from another build; ship the .pdb of this build",
        )
    return Found(
        None,
        f"no {name} with GUID {codeview.guid} age {codeview.age} in {where}: ship the .pdb "
        "next to the executable, or add the build with `crashbot symbols add`",
    )


class FolderLocator:
    """The debug files under one folder, scanned once (``crashbot parse --symbols DIR``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        result = scan(folder)
        self.files = result.files
        self.notes = result.notes

    def describe(self) -> str:
        return str(self.folder)

    def image(self, module: str, *, revision: str | None, key: str | None, stamp: str | None = None) -> Found:
        named = [f for f in self.files if f.kind is Kind.PE and same_module(f.name, module)]
        if not named:
            return Found(None, f"no {module} in {self.folder}")
        if key is None and stamp is not None:
            stamped = [f for f in named if f.key.startswith(stamp.upper())]
            if not stamped:
                return Found(
                    None,
                    f"{module} in {self.folder} is another build (time stamp {named[0].key[:8]}, the crash "
                    f"ran {stamp.upper()})",
                )
            return Found(stamped[0])
        if key is not None:
            exact = [f for f in named if f.key == key]
            if not exact:
                return Found(
                    None,
                    f"{module} in {self.folder} is another build (image {named[0].key}, the crash ran {key})",
                )
            return Found(exact[0])
        return Found(named[0])

    def pdb(self, codeview: CodeView) -> Found:
        name = windows_basename(codeview.pdb_name).lower()
        named = [f for f in self.files if f.kind is Kind.PDB and f.name == name]
        exact = [f for f in named if f.key == codeview.key]
        return Found(exact[0]) if exact else _pdb_miss(codeview, named, str(self.folder))

    def elf(self, module: str, *, revision: str | None) -> Found:
        named = _elf_named(self.files, module)
        return Found(named[0]) if named else Found(None, f"no {module} with a GNU build-id in {self.folder}")


class StoreLocator:
    """The symbol store: by the image's own key when a minidump gives it, else by the build revision."""

    def __init__(self, store: SymbolStore) -> None:
        self.store = store
        self.unreadable = ""  # why the last lookup's stored file could not be read

    def describe(self) -> str:
        return f"the symbol store {self.store.root}"

    def _identify(self, path: Path) -> DebugFile | None:
        try:
            return identify(path)
        except SymbolError as e:
            self.unreadable = str(e)
            return None

    def _missing(self, what: str) -> Found:
        damaged = f" (unreadable: {self.unreadable})" if self.unreadable else ""
        return Found(None, f"{what}{damaged}")

    def image(self, module: str, *, revision: str | None, key: str | None, stamp: str | None = None) -> Found:
        self.unreadable = ""
        if key is not None:
            for name in (module, *(module + s for s in PE_SUFFIXES)):
                path = self.store.path(name, key)
                if path is not None:
                    found = self._identify(path)
                    if found is not None:
                        return Found(found)
        if key is None and stamp is not None:
            return self._image_with_stamp(module, stamp, revision)
        if not revision:
            return Found(
                None,
                f"the report names no build revision and no image key for {module}, so "
                f"{self.describe()} cannot tell which build's files to use",
            )
        files = self.store.for_revision(revision)
        if not files:
            return Found(
                None,
                f"no release {revision[:12]} in {self.describe()}: add its build with "
                f"`crashbot symbols add DIR --revision {revision[:12]}` (deploys add theirs)",
            )
        for path in files:
            if path.parent.parent.name == path.name and same_module(path.name, module):
                found = self._identify(path)
                if found is not None and found.kind is Kind.PE:
                    return Found(found)
        return self._missing(f"release {revision[:12]} in {self.describe()} has no {module}")

    def _image_with_stamp(self, module: str, stamp: str, revision: str | None) -> Found:
        """The stored image of ``module`` linked at ``stamp``; a miss says how to add that build."""
        for name in (module, *(module + s for s in PE_SUFFIXES)):
            for path in self.store.paths_with_stamp(name, stamp):
                found = self._identify(path)
                if found is not None and found.kind is Kind.PE:
                    return Found(found)
        if revision:
            return self.image(module, revision=revision, key=None)
        return self._missing(
            f"no {module} with PE time stamp {stamp.upper()} in {self.describe()}: add the build that "
            "crashed with `crashbot symbols add DIR --revision <hash>` (deploys add theirs)"
        )

    def pdb(self, codeview: CodeView) -> Found:
        self.unreadable = ""
        name = windows_basename(codeview.pdb_name)
        path = self.store.path(name, codeview.key)
        found = self._identify(path) if path is not None else None
        if found is not None and found.key == codeview.key:
            return Found(found)
        if path is not None and self.unreadable:
            return self._missing(f"{name} {codeview.key} in {self.describe()} cannot be used")
        return _pdb_miss(codeview, (), self.describe())

    def elf(self, module: str, *, revision: str | None) -> Found:
        self.unreadable = ""
        release = self.store.release(revision) if revision else None
        if release is None:
            why = (
                f"no release {revision[:12]}"
                if revision
                else "the report names no build revision, so no release"
            )
            return Found(None, f"{why} in {self.describe()} for {module}")
        for rel, name in release.names.items():
            if name in (module, module + ".debug"):
                found = self._identify(self.store.root / rel)
                if found is not None:
                    return Found(found)
        return self._missing(f"release {release.revision[:12]} in {self.describe()} has no {module}")
