"""Shared fixtures. Fakes of *our* interfaces live here; real git, SQLite and HTTP are used elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SAMPLES = FIXTURES / "samples"


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES
