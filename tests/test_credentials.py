"""Secrets handed over as files ($CREDENTIALS_DIRECTORY): systemd's LoadCredential= and the Windows service."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import GitHubSettings
from bot.credentials import MAX_CREDENTIAL_BYTES, read_credentials, with_credentials
from bot.errors import ConfigError
from bot.github import connect


def test_a_credential_file_fills_an_unset_variable(tmp_path: Path) -> None:
    (tmp_path / "CRASHBOT_TOKEN").write_text("ghp_fromfile\n", encoding="utf-8")
    env = with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path), "PATH": "/bin"})
    assert env["CRASHBOT_TOKEN"] == "ghp_fromfile"
    assert env["PATH"] == "/bin"


def test_a_set_variable_wins_over_its_credential_file(tmp_path: Path) -> None:
    (tmp_path / "CRASHBOT_TOKEN").write_text("from-file", encoding="utf-8")
    env = with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path), "CRASHBOT_TOKEN": "from-env"})
    assert env["CRASHBOT_TOKEN"] == "from-env"


def test_an_empty_credential_file_means_unused(tmp_path: Path) -> None:
    """install-uploader.sh creates every credential file the unit loads; the unused ones stay empty."""
    (tmp_path / "CRASHBOT_APP_PRIVATE_KEY").write_text("", encoding="utf-8")
    assert "CRASHBOT_APP_PRIVATE_KEY" not in with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_without_a_credentials_directory_the_environment_is_unchanged() -> None:
    assert with_credentials({"A": "1"}) == {"A": "1"}


def test_a_multiline_pem_keeps_its_lines_and_loses_only_the_last_newline(tmp_path: Path) -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"
    (tmp_path / "KEY").write_text(pem + "\r\n", encoding="utf-8", newline="")
    assert read_credentials(tmp_path) == {"KEY": pem}


def test_bad_files_are_skipped_with_a_warning_and_the_good_ones_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "GOOD").write_text("ok", encoding="utf-8")
    (tmp_path / "BINARY").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "HUGE").write_bytes(b"x" * (MAX_CREDENTIAL_BYTES + 1))
    (tmp_path / "not-a-name.txt").write_text("ignored", encoding="utf-8")
    (tmp_path / "SUBDIR").mkdir()
    with caplog.at_level(logging.WARNING):
        assert read_credentials(tmp_path) == {"GOOD": "ok"}
    assert "BINARY" in caplog.text and "HUGE" in caplog.text


def test_a_missing_credentials_directory_is_a_warning_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path / "gone")}) == {
            "CREDENTIALS_DIRECTORY": str(tmp_path / "gone")
        }
    assert "credentials folder" in caplog.text


def test_app_auth_reads_its_private_key_from_the_credentials_folder(tmp_path: Path) -> None:
    """The auth mismatch of issue 14: App ids in crashbot.toml, and the key stored where the service reads
    it, not as CRASHBOT_TOKEN. An unusable key gets as far as signing (so it was found)."""
    (tmp_path / "CRASHBOT_APP_PRIVATE_KEY").write_text("not a pem", encoding="utf-8")
    env = with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path), "CRASHBOT_TOKEN": "ghp_x"})
    settings = GitHubSettings(repo="o/r", app_id="12", app_installation_id="42")
    with pytest.raises(ConfigError, match="cannot sign a JWT"):
        connect(settings, env=env)


def test_app_ids_with_only_a_token_stored_say_where_the_key_goes() -> None:
    settings = GitHubSettings(repo="o/r", app_id="12", app_installation_id="42")
    with pytest.raises(ConfigError) as raised:
        connect(settings, env={"CRASHBOT_TOKEN": "ghp_x"})
    message = str(raised.value)
    assert "\n" not in message
    assert "github.app_id is set" in message
    assert "-AppPrivateKeyFile" in message and "/etc/crashbot/credentials/CRASHBOT_APP_PRIVATE_KEY" in message


def test_the_cli_reads_secrets_from_the_credentials_folder(tmp_path: Path) -> None:
    """End to end through `crashbot doctor`: the signing key comes from a credential file."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "CRASHBOT_SIGNING_KEY").write_text("k" * 64 + "\n", encoding="utf-8")
    config = tmp_path / "crashbot.toml"
    config.write_text('[github]\nrepo = "o/r"\n', encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "doctor"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    row = next(line for line in result.stdout.splitlines() if line.startswith("signing key"))
    assert row.split()[2] == "OK", result.stdout
    assert "k" * 64 not in result.stdout + result.stderr


def test_the_publisher_process_gets_the_credentials_folder_not_the_secrets_read_from_it(
    tmp_path: Path,
) -> None:
    """``crashbot watch`` starts its publisher with its environment: a secret it read from
    ``$CREDENTIALS_DIRECTORY`` must not travel in that environment (``/proc/PID/environ``); the publisher
    reads the folder itself. A variable set in the environment itself stays as it is."""
    from bot.credentials import without_credentials
    from bot.uploader.supervisor import child_environment

    folder = tmp_path / "credentials"
    folder.mkdir()
    (folder / "CRASHBOT_TOKEN").write_text("ghp_from_a_file\n")
    (folder / "CRASHBOT_SIGNING_KEY").write_text("key-from-a-file")
    base = {"CREDENTIALS_DIRECTORY": str(folder), "CRASHBOT_SIGNING_KEY": "key-set-by-hand", "PATH": "/bin"}
    env = with_credentials(base)
    assert env["CRASHBOT_TOKEN"] == "ghp_from_a_file"
    child = child_environment(env)
    assert "CRASHBOT_TOKEN" not in child
    assert child["CRASHBOT_SIGNING_KEY"] == "key-set-by-hand"
    assert child["CREDENTIALS_DIRECTORY"] == str(folder) and child["PATH"] == "/bin"
    assert with_credentials(child) == {**env, "PYTHONPATH": child["PYTHONPATH"]}  # the child gets it all back
    assert without_credentials({"PATH": "/bin"}) == {"PATH": "/bin"}
