"""The uploader's systemd unit: hardened, and its secrets arrive through LoadCredential=."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.uploader.supervisor import SERVICE_STOP_TIMEOUT_S
from tests.conftest import REPO_ROOT

UNIT = REPO_ROOT / "runner-setup" / "crashbot-watch.service"
INSTALL_SH = REPO_ROOT / "runner-setup" / "install-uploader.sh"
SECRETS = ("CRASHBOT_TOKEN", "CRASHBOT_APP_PRIVATE_KEY", "CRASHBOT_SIGNING_KEY")


def _settings(text: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", text, flags=re.MULTILINE)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_is_rated_at_most_2_0_by_systemd_analyze_security(tmp_path: Path) -> None:
    copy = tmp_path / UNIT.name  # --offline reads the file as given; a copy keeps the name
    copy.write_text(UNIT.read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def test_secrets_come_as_credentials_never_as_environment() -> None:
    text = UNIT.read_text(encoding="utf-8")
    loaded = dict(item.split(":", 1) for item in _settings(text, "LoadCredential"))
    assert loaded == {name: f"/etc/crashbot/credentials/{name}" for name in SECRETS}
    assert _settings(text, "Environment") == []
    assert _settings(text, "EnvironmentFile") == []


def test_the_installer_creates_every_credential_the_unit_loads(tmp_path: Path) -> None:
    """systemd refuses to start a unit whose LoadCredential= file is missing, so each must exist."""
    wheel = tmp_path / "crashbot-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    result = subprocess.run(
        ["bash", str(INSTALL_SH), "--dry-run", "--spec", str(wheel), "o/r", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    for name in SECRETS:
        assert f"install -m 600 -o root -g root /dev/null /etc/crashbot/credentials/{name}" in result.stdout


def test_the_stop_timeout_is_the_one_crashbot_watch_stops_within() -> None:
    """crashbot watch caps its wait for the publisher to fit this (systemd does not tell a service its
    stop timeout: no such variable in systemd.exec's list), so the two must not drift apart."""
    assert _settings(UNIT.read_text(encoding="utf-8"), "TimeoutStopSec") == [f"{SERVICE_STOP_TIMEOUT_S:g}"]
