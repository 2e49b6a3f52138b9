"""The dashboard tests' stand-in and a client of it (no pacing, no real sleeping)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import GitHubSettings
from bot.github import GitHubClient, connect
from bot.standin import StandIn
from tests.conftest import start_standin
from tests.uploader.rig import REPO, TOKEN


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    server = start_standin(tmp_path / "gh")
    yield server
    server.close()


@pytest.fixture
def gh(standin: StandIn) -> GitHubClient:
    return connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, timeout_s=5),
        env={"CRASHBOT_TOKEN": TOKEN},
        sleep=lambda _s: None,
        rng=random.Random(7),
        write_interval_s=0,
    )
