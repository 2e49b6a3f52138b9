"""The typed config: defaults, TOML overlay, one-line errors, and which variables hold secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import config as config_mod
from bot.errors import ConfigError


def test_config_defaults_without_a_file(tmp_path: Path) -> None:
    config = config_mod.load(None, env={})
    assert config.uploader.writes_per_minute == 60 and config.fix.engine == "none" and config.source == ""


def test_config_file_overlays_defaults_and_names_its_source(tmp_path: Path) -> None:
    path = tmp_path / "crashbot.toml"
    path.write_text('[github]\nrepo = "acme/realm"\n[deploy.soap]\nport = 7879\n', encoding="utf-8")
    config = config_mod.load(path, env={})
    assert (config.github.repo, config.deploy.soap.port, config.source) == ("acme/realm", 7879, str(path))


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[uploader]\nstability = 1\n", "uploader.stability"),
        ('[uploader]\nwrites_per_minute = "60"\n', "uploader.writes_per_minute"),
        ("[fix]\nmax_attempts = true\n", "fix.max_attempts"),
        ("[deploy.soap]\nport = [1]\n", "deploy.soap.port"),
        (
            "[deploy]\nsystemd_user = true\nsystemd_sudo = true\n",
            "deploy.systemd_user and deploy.systemd_sudo",
        ),
        ('[deploy]\nsystemd_sudo = "yes"\n', "deploy.systemd_sudo"),
        ("[uploader]\nuptime_poll_s = 0.1\n", "uploader.uptime_poll_s must be at least 1"),
        ("[uploader]\nuptime_publish_interval_s = 5\n", "uptime_publish_interval_s at least 60"),
        ("not toml at all = = =\n", "not valid TOML"),
    ],
)
def test_config_invalid_file_is_one_error_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "crashbot.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        config_mod.load(path, env={})
    assert "\n" not in error.value.diagnostic()


def test_secret_env_names_lists_every_variable_the_config_names_as_secret(tmp_path: Path) -> None:
    path = tmp_path / "crashbot.toml"
    path.write_text(
        '[signing]\nkey_env = "REALM_HMAC"\n[fix]\napi_key_env = "LLM_KEY"\n'
        '[notify]\nwebhook_url_env = "DISCORD_HOOK"\n',
        encoding="utf-8",
    )
    names = config_mod.secret_env_names(config_mod.load(path, env={}))
    assert {"REALM_HMAC", "LLM_KEY", "DISCORD_HOOK", "CRASHBOT_TOKEN", "GITHUB_TOKEN"} <= names
    assert {"CRASHBOT_APP_PRIVATE_KEY", "CRASHBOT_SOAP_PASSWORD", "CRASHBOT_RA_PASSWORD"} <= names
    assert "" not in names


def test_a_retired_setting_loads_with_one_warning_line_and_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fix.push_remote is retired (branches go to the API's clone_url); a crashbot.toml that still sets it
    is an old one, not a mistake: it loads."""
    path = tmp_path / "crashbot.toml"
    path.write_text('[fix]\npush_remote = "origin"\nbase_branch = "master"\n', encoding="utf-8")

    config = config_mod.load(path, env={})

    assert config.fix.base_branch == "master"
    assert not hasattr(config.fix, "push_remote")
    [record] = caplog.records
    assert record.levelname == "WARNING" and "\n" not in record.getMessage()
    assert record.getMessage().startswith("config key 'fix.push_remote' is no longer used (")


def test_a_retired_name_in_another_section_is_still_an_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "crashbot.toml"
    path.write_text('[deploy]\npush_remote = "origin"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'deploy\.push_remote' is not a crashbot setting"):
        config_mod.load(path, env={})
