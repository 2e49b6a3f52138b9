"""The Windows uploader service (runner-setup/Install-CrashbotUploader.ps1), checked at the level of the
commands it runs: there is no Windows or PowerShell here, so the script itself has never run.

What can be checked for real is what it shares with crashbot: the credential names it writes, the
arguments it gives `crashbot watch`, and the pattern it reads crashbot.toml's auth choice with.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot import init
from bot.cli import build_parser
from bot.config import Config
from bot.uploader.supervisor import SERVICE_STOP_TIMEOUT_S
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "runner-setup" / "Install-CrashbotUploader.ps1"
TEXT = SCRIPT.read_text(encoding="utf-8")


def _single_quoted_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r"\s*'([^']+)'", TEXT)
    assert match, f"{SCRIPT.name} lost {marker}"
    return match.group(1)


def test_the_service_runs_under_its_own_virtual_account() -> None:
    assert '$account = "NT SERVICE\\$ServiceName"' in TEXT
    assert "sc.exe config $ServiceName obj= $account" in TEXT


def test_the_service_restarts_on_failure() -> None:
    match = re.search(r"sc\.exe failure \$ServiceName reset= (\d+) actions= (\S+)", TEXT)
    assert match
    actions = match.group(2).split("/")
    assert actions[0::2] == ["restart", "restart", "restart"]
    assert [int(ms) for ms in actions[1::2]] == sorted(int(ms) for ms in actions[1::2])


def test_its_folder_lives_under_programdata_with_an_explicit_acl() -> None:
    assert "$data = Join-Path $env:ProgramData 'crashbot'" in TEXT
    for folder in ("$data", "$credentials"):
        assert re.search(rf"icacls {re.escape(folder)} /inheritance:r /grant:r 'SYSTEM:", TEXT), folder
    # the service may change files in its folder but only read its credentials and the crash folders
    assert '"${account}:(OI)(CI)M"' in TEXT
    assert '"${account}:(OI)(CI)R"' in TEXT and '"${account}:(OI)(CI)RX"' in TEXT


def test_the_watch_command_it_registers_is_one_crashbot_accepts() -> None:
    match = re.search(r'\$arguments = "(.*)"\n', TEXT)
    assert match
    template = match.group(1).replace('`"', '"')
    argv = (
        template.replace("$Config", r"C:\crashbot\crashbot.toml")
        .replace("$(Join-Path $logs 'watch.log')", r"C:\ProgramData\crashbot\logs\watch.log")
        .replace("$quoted", r'"D:\WoW\Crashes"')
    )
    words = [w.strip('"') for w in re.findall(r'"[^"]*"|\S+', argv)]
    args = build_parser(words).parse_args(words)
    assert args.command == "watch"
    assert args.log_file == r"C:\ProgramData\crashbot\logs\watch.log"
    assert args.dirs == [r"D:\WoW\Crashes"]


def test_secrets_reach_crashbot_through_its_credentials_folder() -> None:
    assert '<env name="CREDENTIALS_DIRECTORY" value="$(& $esc $credentials)"/>' in TEXT
    written = set(re.findall(r"Write-Credential '([A-Z_]+)'", TEXT))
    github, signing = Config().github, Config().signing
    assert written == {github.token_env[0], github.app_private_key_env, signing.key_env}


@pytest.mark.parametrize(("app_id", "uses_app"), [('""', False), ('"123456"', True), ("123456", True)])
def test_it_reads_the_auth_choice_from_crashbot_toml_as_crashbot_does(
    app_id: str, uses_app: bool, tmp_path: Path
) -> None:
    """The auth mismatch of issue 14: App ids in crashbot.toml but only a token stored. The installer
    requires -AppPrivateKeyFile exactly when the config it is given selects App auth."""
    text = init.render_config(
        init.RepoFacts(repo="o/r", default_branch="main", has_modules=False, crash_dirs=())
    )
    text = text.replace('app_id = ""', f"app_id = {app_id}").replace(
        'app_installation_id = ""', 'app_installation_id = "42"'
    )
    pattern = _single_quoted_after("-Pattern")  # Select-String: case-insensitive, per line, like (?im)
    found = any(re.search(pattern, line, re.IGNORECASE) for line in text.splitlines())
    assert found is uses_app
    assert bool(tomllib.loads(text)["github"]["app_id"]) is uses_app


def test_it_says_that_it_never_ran() -> None:
    assert "NEVER RUN" in TEXT


def test_it_replaces_the_old_scheduled_task_so_two_uploaders_never_race() -> None:
    removal = TEXT.index("Unregister-ScheduledTask -TaskName $ServiceName")
    install = TEXT.index("& $wrapper install")
    assert removal < install


def test_wrapper_stop_timeout_is_the_one_crashbot_watch_stops_within() -> None:
    """WinSW sends Ctrl+C, then kills the process after <stoptimeout>: crashbot watch's capped wait for its
    publisher must fit, as under systemd."""
    assert re.findall(r"<stoptimeout>([^<]*)</stoptimeout>", TEXT) == [f"{SERVICE_STOP_TIMEOUT_S:g} sec"]
