"""Session fixtures: the Windows build, a second build whose PDB does not match, and Wine's minidump."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.artefacts import (
    WINDOWS_TOOLS,
    WindowsBuild,
    WineCrash,
    build_windows,
    missing,
    wine64,
    wine_crash,
)


@pytest.fixture(scope="session")
def artefact_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest's cache folder (builds and Wine's dump survive between runs), else a fresh folder."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("crashbot-symbols")
    return Path(cache.mkdir("crashbot-symbols"))


@pytest.fixture(scope="session")
def windows_build(artefact_cache: Path) -> WindowsBuild:
    absent = missing(WINDOWS_TOOLS)
    if absent:
        pytest.skip(
            f"{', '.join(absent)} not installed (runner-setup/dev-setup.sh installs clang, lld, llvm)"
        )
    return build_windows(artefact_cache)


@pytest.fixture(scope="session")
def other_build(artefact_cache: Path, windows_build: WindowsBuild) -> WindowsBuild:
    return build_windows(artefact_cache, variant=1)


@pytest.fixture(scope="session")
def wine_dump(artefact_cache: Path, windows_build: WindowsBuild) -> WineCrash:
    wine = wine64()
    if wine is None:
        pytest.skip("wine64 not installed (runner-setup/dev-setup.sh installs Debian's wine64)")
    return wine_crash(artefact_cache, windows_build, wine)
