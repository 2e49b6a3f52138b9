"""``--json`` shapes of signature, doctor and fix (upload and deploy: in their own CLI tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.results import fix_document
from bot.fix.report import FixResult, Outcome
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "ac-issue-13275.txt"


def test_signature_json_lists_every_file_with_its_signature_or_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.txt"

    code = main(["signature", "--json", str(SAMPLE), str(missing)])

    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 2
    assert (result["version"], result["command"]) == (1, "signature")
    ok, bad = result["results"]
    assert ok["file"] == str(SAMPLE) and ok["error"] is None
    assert len(ok["signature_id"]) == 16 and "Object::GetFloatValue" in ok["signature"]
    assert bad == {"file": str(missing), "signature_id": None, "signature": None, "error": bad["error"]}
    assert "no such file" in bad["error"]
    assert captured.err.count("\n") == 1  # the error line on stderr, as without --json


def test_signature_json_agrees_with_the_human_line(capsys: pytest.CaptureFixture[str]) -> None:
    main(["signature", str(SAMPLE)])
    line = capsys.readouterr().out.strip()
    main(["signature", "--json", str(SAMPLE)])
    (entry,) = json.loads(capsys.readouterr().out)["results"]

    assert line == f"{entry['signature_id']}  {entry['signature']}  {SAMPLE}"


def test_doctor_json_has_every_row_and_the_same_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "crashbot.toml"
    config.write_text('[github]\nrepo = "o/r"\n', encoding="utf-8")
    argv = ["--config", str(config), "doctor", "--skip-network"]

    table_code = main(argv)
    table = capsys.readouterr().out.splitlines()
    json_code = main([*argv, "--json"])
    result = json.loads(capsys.readouterr().out)

    assert json_code == table_code
    assert (result["version"], result["command"]) == (1, "doctor")
    assert result["ok"] is (json_code == 0)
    assert [c["name"] for c in result["checks"]] == [row.split("  ")[0] for row in table[1:-2]]
    assert {c["status"] for c in result["checks"]} <= {"OK", "WARN", "FAIL", "SKIP"}
    assert sum(result["counts"].values()) == len(result["checks"])
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in result["checks"])


def test_fix_json_shape() -> None:
    done = FixResult(
        issue=7,
        outcome=Outcome.PR_OPENED,
        reason="built",
        signature_id="7b749bc4b3ddac32",
        branch="crashfix/7b749bc4b3ddac32",
        pull_number=8,
        pull_url="https://github.com/o/r/pull/8",
        engine="replay",
        tokens=12,
        total_s=1.23456,
    )
    (row,) = json.loads(fix_document([done]))["results"]

    assert row == {
        "issue": 7,
        "outcome": Outcome.PR_OPENED.value,
        "reason": "built",
        "signature_id": "7b749bc4b3ddac32",
        "branch": "crashfix/7b749bc4b3ddac32",
        "pull_number": 8,
        "pull_url": "https://github.com/o/r/pull/8",
        "engine": "replay",
        "model": None,
        "tokens": 12,
        "attempts": 0,
        "total_s": 1.235,
        "engine_s": 0.0,
        "build_s": 0.0,
    }
