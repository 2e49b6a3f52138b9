"""What the loader refuses, and how it says so: closed sets are enums, every section checks itself when
it is made (from the file, from code, or from a CLI overlay), and a misspelt key or value names the
nearest valid one."""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from pathlib import Path

import pytest

from bot import config as config_mod
from bot.config import (
    Backend,
    Config,
    ControlKind,
    DeploySettings,
    FixEngine,
    FixSettings,
    GitHubSettings,
    NotifySettings,
    RaSettings,
    RedactionSettings,
    UploaderSettings,
    WebhookKind,
)
from bot.errors import ConfigError


def load_text(tmp_path: Path, toml: str) -> Config:
    path = tmp_path / "crashbot.toml"
    path.write_text(toml, encoding="utf-8")
    return config_mod.load(path, env={})


# -- closed sets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (Backend, ["process", "systemd", "windows-service"]),
        (ControlKind, ["soap", "ra", "none"]),
        (FixEngine, ["anthropic", "openai", "command", "replay", "none"]),
        (WebhookKind, ["discord", "slack"]),
    ],
)
def test_closed_set_enum_values_are_the_documented_strings(kind: type[enum.Enum], values: list[str]) -> None:
    assert [m.value for m in kind] == values


def test_config_defaults_are_enum_members() -> None:
    config = Config()
    assert config.deploy.backend is Backend.PROCESS
    assert config.deploy.control is ControlKind.SOAP
    assert config.fix.engine is FixEngine.NONE
    assert config.notify.kind is WebhookKind.DISCORD


def test_config_file_closed_set_values_load_as_members_ignoring_case_and_blanks(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        '[deploy]\nbackend = "systemd"\ncontrol = "RA"\n[fix]\nengine = " Anthropic "\n'
        '[notify]\nkind = "Slack"\n',
    )
    assert config.deploy.backend is Backend.SYSTEMD
    assert config.deploy.control is ControlKind.RA
    assert config.fix.engine is FixEngine.ANTHROPIC
    assert config.notify.kind is WebhookKind.SLACK


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[deploy]\nbackend = "sytemd"\n',
            "deploy.backend 'sytemd' is unknown, not one of process, systemd, "
            "windows-service (did you mean 'systemd'?)",
        ),
        (
            '[deploy]\ncontrol = "sopa"\n',
            "deploy.control 'sopa' is unknown, not one of soap, ra, none (did you mean 'soap'?)",
        ),
        ('[fix]\nengine = "antropic"\n', "(did you mean 'anthropic'?)"),
        ('[notify]\nkind = "slak"\n', "(did you mean 'slack'?)"),
    ],
)
def test_config_misspelt_value_names_the_nearest_valid_one(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_text(tmp_path, toml)
    assert message in error.value.diagnostic()
    assert "\n" not in error.value.diagnostic()


def test_config_unknown_value_far_from_any_lists_the_choices_without_a_guess(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_text(tmp_path, '[notify]\nkind = "teams"\n')
    assert error.value.diagnostic().endswith("notify.kind 'teams' is unknown, not one of discord, slack")


def test_config_closed_set_value_of_the_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'deploy\.backend': expected a string, got 3"):
        load_text(tmp_path, "[deploy]\nbackend = 3\n")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[deploy]\nbakend = "systemd"\n',
            "config key 'deploy.bakend' is not a crashbot setting (did you mean 'deploy.backend'?)",
        ),
        ("[deplyo]\nrealm = 'x'\n", "config key 'deplyo' is not a crashbot setting (did you mean 'deploy'?)"),
        (
            "[deploy.sopa]\nport = 1\n",
            "config key 'deploy.sopa' is not a crashbot setting (did you mean 'deploy.soap'?)",
        ),
        ("[uploader]\nzzz = 1\n", "config key 'uploader.zzz' is not a crashbot setting (check the spelling)"),
    ],
)
def test_config_misspelt_key_names_the_nearest_setting(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_text(tmp_path, toml)
    assert error.value.diagnostic().endswith(message)


def test_config_source_is_not_a_setting_a_file_may_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'source' is not a crashbot setting"):
        load_text(tmp_path, 'source = "elsewhere"\n')


def test_settings_made_in_code_or_by_an_overlay_are_checked_too() -> None:
    assert FixSettings(engine="replay").engine is FixEngine.REPLAY  # type: ignore[arg-type]
    config = config_mod.overlay(Config(), "fix", engine="command")
    assert config.fix.engine is FixEngine.COMMAND
    with pytest.raises(ConfigError, match=r"fix\.engine 'gpt' is unknown"):
        config_mod.overlay(Config(), "fix", engine="gpt")
    with pytest.raises(ConfigError, match=r"deploy\.backend 'docker'"):
        dataclasses.replace(DeploySettings(), backend="docker")  # type: ignore[arg-type]  # a raw string, checked when the settings are made


# -- each section's own checks, at load ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "reason", "match"),
    [
        (-1, "x", "must be >= 0"),
        (60, "3 minutes to patch", "reads as an exit code"),
        (60, "x" * 201, "under 200"),
    ],
)
def test_deploy_settings_reject_a_shutdown_the_server_would_misread(
    delay: int, reason: str, match: str
) -> None:
    """Moved from ``shutdown_command``: the server reads a leading number as the exit code."""
    with pytest.raises(ConfigError, match=match):
        DeploySettings(shutdown_delay_s=delay, shutdown_reason=reason)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[uploader]\nedit_interval_s = -1.0\n", "uploader.edit_interval_s must be 0 or more"),
        ("[uploader]\nwrites_per_minute = 0\n", "uploader.writes_per_minute and uploader.writes_per_hour"),
        ("[uploader]\nwrites_per_hour = 0\n", "must be at least 1"),
        ("[uploader]\npatterns = []\n", "uploader.patterns is empty"),
        ("[uploader]\nmax_report_bytes = 0\n", "uploader.max_report_bytes must be at least 1"),
        ('[redaction]\nextra_patterns = ["(["]\n', "redaction.extra_patterns"),
        ("[deploy]\nshutdown_delay_s = -5\n", "deploy.shutdown_delay_s must be >= 0"),
        ('[deploy]\nshutdown_reason = "10 minutes"\n', "reads as an exit code"),
        ('[deploy]\nready_regex = "(unclosed"\n', "deploy.ready_regex '(unclosed' is not a valid regular"),
        ('[deploy.ra]\nprompt_regex = "["\n', "deploy.ra.prompt_regex"),
        ('[github]\napp_id = "12"\n', "needs both github.app_id and github.app_installation_id"),
        ('[github]\napp_id = "12"\napp_installation_id = "x"\n', "app_installation_id must be a number"),
        ('[github]\napi_url = "ftp://example.com"\n', "github.api_url"),
    ],
)
def test_config_section_checks_run_at_load(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load_text(tmp_path, toml)
    assert "\n" not in error.value.diagnostic()


@pytest.mark.parametrize(
    "make",
    [
        lambda: UploaderSettings(patterns=()),
        lambda: RedactionSettings(extra_patterns=("([",)),
        lambda: RaSettings(prompt_regex="("),
        lambda: GitHubSettings(app_installation_id="7"),
        lambda: NotifySettings(kind="teams"),  # type: ignore[arg-type]
    ],
)
def test_section_checks_hold_for_settings_made_in_code(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


def test_trusted_uploader_is_the_one_uploader_login_check() -> None:
    assert GitHubSettings(uploader_login="  crash-uploader[bot] ").trusted_uploader() == "crash-uploader[bot]"
    with pytest.raises(ConfigError, match=r"github\.uploader_login is empty"):
        GitHubSettings(uploader_login="  ").trusted_uploader()


# -- the environment is passed down, never read behind the caller's back ------------------------------


def test_load_reads_crashbot_config_from_the_env_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "given.toml"
    given.write_text('[github]\nrepo = "given/repo"\n', encoding="utf-8")
    process = tmp_path / "process.toml"
    process.write_text('[github]\nrepo = "process/repo"\n', encoding="utf-8")
    monkeypatch.setenv(config_mod.CONFIG_ENV, str(process))
    monkeypatch.chdir(tmp_path)

    assert config_mod.load(None, env={config_mod.CONFIG_ENV: str(given)}).github.repo == "given/repo"
    assert config_mod.load(None, env={}).source == ""  # no ./crashbot.toml; $CRASHBOT_CONFIG not consulted


def test_secret_reads_only_the_env_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHBOT_TEST_SECRET", "from-the-process")
    assert config_mod.secret("CRASHBOT_TEST_SECRET", {}) is None
    assert config_mod.secret("CRASHBOT_TEST_SECRET", {"CRASHBOT_TEST_SECRET": "given"}) == "given"
    assert os.environ["CRASHBOT_TEST_SECRET"] == "from-the-process"


@pytest.mark.parametrize(
    "table",
    [{"deploy": {"control": "x" * 1_000_000}}, {"deploy": {"y" * 1_000_000: 1}}],
    ids=["huge-value", "huge-key"],
)
def test_config_hostile_huge_key_or_value_is_one_short_line(table: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as error:
        config_mod.from_mapping(table)
    message = error.value.diagnostic()
    assert "\n" not in message and len(message) < 300
    assert "deploy." in message
