"""The environment is read once, by ``bot.cli``, and passed down: a domain function given an ``env``
uses that mapping and never falls back to ``os.environ``. Each test sets a variable in the process
environment and passes a mapping that says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.build.runner import run_logged, user_cache_dir
from bot.config import DeploySettings, GitHubSettings, NotifySettings
from bot.deploy.backends import make_commander
from bot.errors import ConfigError
from bot.git import Git
from bot.github import connect
from bot.uploader.notify import from_settings
from bot.uploader.spool import default_spool_path

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="XDG paths are the POSIX branch")


def test_git_runs_with_the_env_it_was_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "From Os Environ")
    env = {**os.environ, "GIT_AUTHOR_NAME": "Given Env", "GIT_AUTHOR_EMAIL": "given@example.com"}
    assert Git(tmp_path, env=env).run("var", "GIT_AUTHOR_IDENT").startswith("Given Env <given@example.com>")


@posix_only
def test_user_cache_dir_reads_the_env_it_was_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "from-os-environ"))
    assert user_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "given")}) == tmp_path / "given"


@posix_only
def test_default_spool_path_reads_the_env_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/from-os-environ")
    assert default_spool_path({"STATE_DIRECTORY": "/given"}) == Path("/given/spool.sqlite3")


def test_build_commands_run_with_the_env_they_were_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRASHBOT_ENV_PROBE", "from-os-environ")
    env = {**os.environ, "CRASHBOT_ENV_PROBE": "given"}
    script = "import os; print('probe=' + os.environ.get('CRASHBOT_ENV_PROBE', 'unset'))"
    with (tmp_path / "build.log").open("w+b") as log:
        result = run_logged([sys.executable, "-c", script], cwd=tmp_path, log=log, timeout_s=60, env=env)
    assert result.returncode == 0
    assert "probe=given" in (tmp_path / "build.log").read_text()


def test_connect_takes_the_token_only_from_the_env_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHBOT_TOKEN", "from-os-environ")
    with pytest.raises(ConfigError, match="no GitHub token"):
        connect(GitHubSettings(repo="o/r"), env={}, defer=True)


def test_console_credentials_come_only_from_the_env_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHBOT_SOAP_USER", "gm")
    monkeypatch.setenv("CRASHBOT_SOAP_PASSWORD", "from-os-environ")
    with pytest.raises(ConfigError, match="SOAP credentials missing"):
        make_commander(DeploySettings(), {})


def test_notify_webhook_url_comes_only_from_the_env_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHBOT_HOOK", "https://from-os-environ.example/hook")
    assert from_settings(NotifySettings(webhook_url_env="CRASHBOT_HOOK"), {}) is None
