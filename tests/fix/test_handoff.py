"""bot.fix.handoff: what ``--phase publish`` takes from the handoff directory, which the untrusted work step
could have rewritten. A ticket holds only under prepare's seal; a result is read as a bounded regular file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Config, FixSettings
from bot.fix import handoff
from bot.fix.handoff import (
    MAX_RESULT_BYTES,
    HandoffError,
    Ticket,
    check_binding,
    config_digest,
    issue_dir,
    prepared_issues,
    read_result,
    run_id,
    seal,
    unseal,
)
from bot.fix.report import AnalysisBrief

KEY = b"a-signing-key-of-at-least-thirty-two-bytes"
TICKET = Ticket(
    issue=7,
    signature_id="7b749bc4b3ddac32",
    base_sha="a" * 40,
    analysis_url="https://github.example/acme/w/issues/7#issuecomment-1",
    brief=AnalysisBrief(
        "ChatHandler::SendWhisper", "src/ChatHandler.cpp:42", "abcdef1234", "Speed up", False
    ),
)


def test_seal_and_unseal_round_trip(tmp_path: Path) -> None:
    seal(tmp_path, TICKET, KEY)

    assert unseal(tmp_path, 7, KEY) == TICKET
    assert prepared_issues(tmp_path) == [7]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_sha", "b" * 40),
        ("analysis_url", "https://evil.example/phish"),
        ("signature_id", "0000000000000000"),
        ("issue", 8),
    ],
)
def test_unseal_refuses_any_rewritten_field(tmp_path: Path, field: str, value: object) -> None:
    seal(tmp_path, TICKET, KEY)
    path = issue_dir(tmp_path, 7) / "ticket.json"
    sealed = json.loads(path.read_text(encoding="utf-8"))
    sealed["ticket"][field] = value
    path.write_text(json.dumps(sealed), encoding="utf-8")

    with pytest.raises(HandoffError, match="does not verify"):
        unseal(tmp_path, 7, KEY)


def test_unseal_refuses_a_ticket_resealed_without_the_signing_key(tmp_path: Path) -> None:
    seal(tmp_path, replace(TICKET, base_sha="b" * 40), b"the-work-step-s-guess-of-a-key-0123456789")

    with pytest.raises(HandoffError, match="does not verify"):
        unseal(tmp_path, 7, KEY)


def test_unseal_refuses_another_issue_s_ticket_moved_over(tmp_path: Path) -> None:
    """Both tickets are genuine; the one in #9's directory is #7's."""
    seal(tmp_path, TICKET, KEY)
    seal(tmp_path, replace(TICKET, issue=9), KEY)
    (issue_dir(tmp_path, 7) / "ticket.json").replace(issue_dir(tmp_path, 9) / "ticket.json")

    with pytest.raises(HandoffError, match="sealed for issue #7, not #9"):
        unseal(tmp_path, 9, KEY)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"ticket": [], "mac": "x"}', b'{"ticket": {}, "mac": 1}', b"\xff\xfe{"],
)
def test_unseal_refuses_junk_in_one_line(tmp_path: Path, data: bytes) -> None:
    issue_dir(tmp_path, 7).mkdir()
    (issue_dir(tmp_path, 7) / "ticket.json").write_bytes(data)

    with pytest.raises(HandoffError) as raised:
        unseal(tmp_path, 7, KEY)
    assert "\n" not in str(raised.value)


def test_unseal_checks_the_shape_after_the_seal(tmp_path: Path) -> None:
    """A sealed body of the wrong shape (a bug, never an attacker without the key) is still refused."""
    issue_dir(tmp_path, 7).mkdir()
    body = {"issue": 7, "signature_id": "s", "base_sha": "not-a-sha", "analysis_url": "", "brief": {}}
    text = json.dumps({"ticket": body, "mac": handoff._mac(KEY, body)})
    (issue_dir(tmp_path, 7) / "ticket.json").write_text(text, encoding="utf-8")

    with pytest.raises(HandoffError, match="unexpected shape"):
        unseal(tmp_path, 7, KEY)


def test_read_result_never_follows_a_symlink(tmp_path: Path) -> None:
    secret = tmp_path / "signing.key"
    secret.write_text("the-signing-key", encoding="utf-8")
    issue_dir(tmp_path, 7).mkdir()
    (issue_dir(tmp_path, 7) / "attempts.json").symlink_to(secret)

    with pytest.raises(HandoffError, match="cannot read") as raised:
        read_result(tmp_path, 7)
    assert "the-signing-key" not in str(raised.value)


def test_read_result_refuses_an_issue_directory_that_is_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "attempts.json").write_text("{}", encoding="utf-8")
    (tmp_path / "7").symlink_to(elsewhere)

    with pytest.raises(HandoffError, match="symlink"):
        read_result(tmp_path, 7)
    assert prepared_issues(tmp_path) == []  # nor is it listed


def test_read_result_refuses_a_fifo_and_anything_larger_than_the_cap(tmp_path: Path) -> None:
    issue_dir(tmp_path, 7).mkdir()
    os.mkfifo(issue_dir(tmp_path, 7) / "attempts.json")
    with pytest.raises(HandoffError, match="not a regular file"):
        read_result(tmp_path, 7)

    issue_dir(tmp_path, 8).mkdir()
    (issue_dir(tmp_path, 8) / "attempts.json").write_bytes(b" " * (MAX_RESULT_BYTES + 1))
    with pytest.raises(HandoffError, match="larger than"):
        read_result(tmp_path, 8)


def test_prepared_issues_lists_only_issue_numbers_in_order(tmp_path: Path) -> None:
    for name in ("12", "3", "0", "007", "-1", "x", "99999999999"):
        (tmp_path / name).mkdir()

    assert prepared_issues(tmp_path) == [3, 12]


def test_prepared_issues_without_the_directory_says_to_run_prepare(tmp_path: Path) -> None:
    with pytest.raises(HandoffError, match="run --phase prepare first"):
        prepared_issues(tmp_path / "missing")


def test_check_binding_refuses_another_configuration_or_another_run() -> None:
    ticket = replace(TICKET, config="c1", run="123.1")

    check_binding(ticket, config="c1", run="123.1")
    with pytest.raises(HandoffError, match="configuration changed"):
        check_binding(ticket, config="c2", run="123.1")
    with pytest.raises(HandoffError, match=r"from run 123\.1, not 124\.1"):
        check_binding(ticket, config="c1", run="124.1")


def test_run_id_is_the_workflow_run_and_attempt() -> None:
    assert run_id({"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2"}) == "42.2"
    assert run_id({}) == ""


_DIGEST = (
    "from bot.config import Config, FixSettings; from bot.fix.handoff import config_digest; "
    "print(config_digest(Config(fix=FixSettings(allowed_paths=('src/', 'dep/', 'sql/')))))"
)


def test_config_digest_is_the_same_in_every_process_and_differs_with_any_setting() -> None:
    """prepare and publish are different processes: string hashing (set order) differs between them."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }

    assert len(digests) == 1
    assert digests == {config_digest(Config(fix=FixSettings(allowed_paths=("src/", "dep/", "sql/"))))}
    assert config_digest(Config(fix=FixSettings(allowed_paths=("src/", ".github/")))) not in digests
