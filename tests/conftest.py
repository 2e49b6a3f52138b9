"""Shared fixtures. Fakes of *our* interfaces live here; real git, SQLite and HTTP are used elsewhere.

``standin`` is the one GitHub stand-in fixture: a running ``bot.standin.StandIn`` holding one repository
and one token, closed after the test. A module or conftest that needs another repository, token, clock,
rate limits or faults overrides ``standin_setup``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.standin import Fault, Limits, StandIn

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SAMPLES = FIXTURES / "samples"

REPO = "acme/worldserver"
UPLOADER_TOKEN = "uploader-token"
UPLOADER_LOGIN = "crashbot-uploader"


@dataclass(frozen=True)
class StandInSetup:
    """What a test's stand-in serves: ``repo`` (initialised with a README), ``token`` accepted as
    ``login`` (``kind="Bot"``: ``<login>[bot]``, like the uploader's App), and optionally a clock, GitHub's
    limits, faults queued from the start, and ``server``, a ``StandIn`` subclass (or partial) to run."""

    repo: str = REPO
    token: str = UPLOADER_TOKEN
    login: str = UPLOADER_LOGIN
    kind: str = "Bot"
    clock: Callable[[], float] | None = None
    limits: Limits | None = None
    faults: tuple[Fault, ...] = ()
    server: Callable[..., StandIn] = StandIn


def start_standin(root: Path, setup: StandInSetup | None = None) -> StandIn:
    """A started stand-in serving ``setup`` (default: the uploader's repository and token) from ``root``;
    the caller closes it."""
    setup = setup or StandInSetup()
    options: dict[str, Any] = {}
    if setup.clock is not None:
        options["clock"] = setup.clock
    if setup.limits is not None:
        options["limits"] = setup.limits
    server = setup.server(root, **options).start()
    server.add_repo(setup.repo, auto_init=True)
    server.add_token(setup.token, setup.login, kind=setup.kind)
    for fault in setup.faults:
        server.inject(fault)
    return server


@pytest.fixture
def standin_setup() -> StandInSetup:
    return StandInSetup()


@pytest.fixture
def standin(tmp_path: Path, standin_setup: StandInSetup) -> Iterator[StandIn]:
    server = start_standin(tmp_path / "standin", standin_setup)
    yield server
    server.close()


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES
