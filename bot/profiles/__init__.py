"""Core profiles: each server core's own defaults for ``crashbot init``, one data file per core.

The values (SOAP namespace, executable, ready line, RA prompt, crash folder, fix paths, build target) live
in ``bot/profiles/<core>.toml``, each with a comment naming the core's source file it was read from. This
module reads them and recognises a checkout by its marker paths.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Core(StrEnum):
    """The cores crashbot has a profile for (``crashbot init --core``)."""

    TRINITYCORE = "trinitycore"
    AZEROTHCORE = "azerothcore"
    CMANGOS = "cmangos"
    VMANGOS = "vmangos"


# Checked in this order; each core's markers are specific enough that at most one matches a real tree.
DETECTION_ORDER = (Core.AZEROTHCORE, Core.TRINITYCORE, Core.CMANGOS, Core.VMANGOS)
FALLBACK = Core.TRINITYCORE  # crashbot's built-in defaults are TrinityCore's
MODULES_DIR = "modules"  # AzerothCore's module folder: one sub-folder per module


@dataclass(frozen=True)
class Profile:
    """One core's defaults, as its data file gives them."""

    core: Core
    name: str
    markers: tuple[str, ...]  # relative paths that all exist in a checkout of this core
    executable: str
    service_name: str
    build_target: str
    ready_regex: str
    ready_port: int
    soap_urn: str
    ra_prompt_regex: str
    crash_dir_name: str
    allowed_paths: tuple[str, ...]
    source_paths: tuple[str, ...]

    @classmethod
    def from_toml(cls, core: Core, text: str) -> Profile:
        data = tomllib.loads(text)
        strings = ("name", "executable", "service_name", "build_target", "ready_regex", "soap_urn",
                   "ra_prompt_regex", "crash_dir_name")  # fmt: skip
        lists = ("markers", "allowed_paths", "source_paths")
        expected = {*strings, *lists, "ready_port"}
        if set(data) != expected:
            raise ValueError(f"profile {core}: keys {sorted(set(data) ^ expected)} missing or unknown")
        for key in (*strings, *lists):
            value = data[key]
            ok = isinstance(value, str) if key in strings else all(isinstance(v, str) for v in value)
            if not ok or not value:
                raise ValueError(f"profile {core}: {key} must be a non-empty string or list of strings")
        re.compile(data["ready_regex"])
        re.compile(data["ra_prompt_regex"])
        values = {key: tuple(data[key]) for key in lists} | {key: data[key] for key in strings}
        return cls(core=core, ready_port=int(data["ready_port"]), **values)

    def matches(self, repo_dir: Path) -> bool:
        return all((repo_dir / marker).exists() for marker in self.markers)


def load(core: Core) -> Profile:
    """The profile shipped for ``core`` (package data; a broken one is a packaging bug: ValueError)."""
    text = importlib.resources.files(__package__).joinpath(f"{core.value}.toml").read_text(encoding="utf-8")
    return Profile.from_toml(core, text)


def detect(repo_dir: Path) -> Profile | None:
    """The profile of the core checked out at ``repo_dir``, or None when no profile's markers match."""
    for core in DETECTION_ORDER:
        profile = load(core)
        if profile.matches(repo_dir):
            return profile
    return None


def modules(repo_dir: Path) -> tuple[str, ...]:
    """The modules under ``modules/`` (AzerothCore's ``modules/mod-playerbots`` ...), sorted."""
    folder = repo_dir / MODULES_DIR
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
