"""The backend registry: which ServerControl and which console client the deploy settings name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import ControlKind, DeploySettings
from bot.deploy.backends import make_commander, make_control
from bot.deploy.process import ProcessControl
from bot.deploy.ra import RaClient
from bot.deploy.releases import Releases
from bot.deploy.soap import SoapClient
from bot.deploy.systemd import SystemdControl
from bot.deploy.winservice import WindowsServiceControl
from bot.errors import ConfigError
from tests.deploy.conftest import RecordingRunner

SETTINGS = DeploySettings(shutdown_delay_s=30, stop_timeout_s=60.0)


def test_make_commander_soap_reads_credentials_from_the_named_env_vars() -> None:
    channel = make_commander(SETTINGS, {"CRASHBOT_SOAP_USER": "gm", "CRASHBOT_SOAP_PASSWORD": "pw"})
    assert isinstance(channel, SoapClient)
    assert channel.url == "http://127.0.0.1:7878/" and channel.urn == "urn:TC"


def test_make_commander_ra_builds_an_ra_client() -> None:
    settings = dataclasses.replace(SETTINGS, control=ControlKind.RA)
    channel = make_commander(settings, {"CRASHBOT_RA_USER": "gm", "CRASHBOT_RA_PASSWORD": "pw"})
    assert isinstance(channel, RaClient) and channel.port == 3443


def test_make_commander_missing_secret_names_the_env_var() -> None:
    with pytest.raises(ConfigError, match="set CRASHBOT_SOAP_PASSWORD"):
        make_commander(SETTINGS, {"CRASHBOT_SOAP_USER": "gm"})


def test_make_commander_none_and_unknown() -> None:
    assert make_commander(dataclasses.replace(SETTINGS, control=ControlKind.NONE), {}) is None
    # an unknown control never reaches the registry: the settings refuse it when they are made
    with pytest.raises(ConfigError, match="not one of soap, ra, none"):
        make_commander(dataclasses.replace(SETTINGS, control="telnet"), {})  # type: ignore[arg-type]  # a raw string, checked when the settings are made


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("process", ProcessControl), ("systemd", SystemdControl), ("windows-service", WindowsServiceControl)],
)
def test_make_control_picks_the_configured_backend(tmp_path: Path, backend: str, kind: type) -> None:
    control = make_control(
        dataclasses.replace(SETTINGS, backend=backend),  # type: ignore[arg-type]  # a raw string, checked when the settings are made
        releases=Releases(tmp_path),
        env={},
        runner=RecordingRunner(),
    )
    assert isinstance(control, kind)


def test_make_control_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.backend 'docker'"):
        make_control(dataclasses.replace(SETTINGS, backend="docker"), releases=Releases(tmp_path), env={})  # type: ignore[arg-type]  # a raw string, checked when the settings are made


def test_deploy_systemd_sudo_reaches_the_systemd_backend(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.add(("sudo", "-n", "systemctl", "start", "worldserver"), "")
    settings = dataclasses.replace(SETTINGS, backend="systemd", service_name="worldserver", systemd_sudo=True)  # type: ignore[arg-type]  # a raw string, checked when the settings are made
    make_control(settings, releases=Releases(tmp_path), env={}, runner=runner).start()
    assert runner.calls == [("sudo", "-n", "systemctl", "start", "worldserver")]
