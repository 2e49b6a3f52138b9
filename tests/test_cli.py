"""The CLI: one error boundary, a parser that imports only the command being run."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.commands import COMMANDS, modules


def _registered_help() -> dict[str, str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    for name in modules():
        importlib.import_module(name).register(sub)
    return {action.dest: action.help or "" for action in sub._choices_actions}


def test_command_table_summaries_match_each_module_s_own_help() -> None:
    """`crashbot --help` shows the table's summaries for commands whose module is not loaded."""
    assert _registered_help() == {name: summary for name, (_, summary) in COMMANDS.items()}


def test_full_parser_registers_every_command() -> None:
    parser = cli.build_parser()
    for name in COMMANDS:
        # each command's own parser (not a stub) accepts --help
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([name, "--help"])
        assert exit_.value.code == 0


@pytest.mark.parametrize("command", ["watch", "parse"])
def test_cli_imports_only_the_command_being_run(command: str) -> None:
    """An idle `crashbot watch` must not carry the fix engines, the deploy room, the demo or PyGithub."""
    probe = (
        "import json, sys\n"
        "from bot import cli\n"
        f"cli.build_parser(['-v', {command!r}, '--help'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('bot.', 'github', 'jwt')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert not {m for m in loaded if m.startswith(("bot.fix", "bot.deploy", "bot.demo", "github", "jwt"))}
    assert COMMANDS[command][0] in loaded


def test_cli_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["no-such-command"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_global_options_before_the_command_are_understood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nstability_s = 0.5\n", encoding="utf-8")
    report = tmp_path / "r.txt"
    report.write_text("junk that is no crash report\n", encoding="utf-8")
    assert cli.main(["--config", str(config), "-v", "parse", str(report)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crashbot: error:") and "Traceback" not in err


def test_cli_invalid_config_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nstability_seconds = 1\n", encoding="utf-8")
    assert cli.main(["--config", str(config), "parse", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "uploader.stability_seconds" in err
