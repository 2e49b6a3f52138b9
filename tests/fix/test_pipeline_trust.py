"""The trust gate: only issues the uploader opened, with a payload whose HMAC verifies and whose sig:
label is the issue's own, get any attention; everything else gets one log line and not one write."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ConfigError, TrustError
from bot.fix.pipeline import fix_issue, verify
from bot.fix.report import Outcome
from bot.github import IssueRef
from bot.vocabulary import sig_label
from tests.fix.pipeline_world import FIX_DIFF, KEY, SIG, UPLOADER, ScriptedEngine, World, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


def _assert_ignored(
    world: World, number: int, caplog: pytest.LogCaptureFixture, engine: ScriptedEngine
) -> None:
    runs = world.build_dir / "runs.txt"
    built_before = runs.read_text() if runs.exists() else ""
    world.standin.clear_requests()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot"):
        result = fix_issue(world.run(engine), number)
    assert result.outcome is Outcome.UNTRUSTED
    assert world.standin.writes() == []
    assert engine.asked == []
    lines = [r for r in caplog.records if r.name.startswith("bot.fix")]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert (runs.read_text() if runs.exists() else "") == built_before


def test_trust_issue_opened_by_someone_else_with_a_copied_signed_body_is_ignored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    genuine = world.file_issue()
    forged = world.file_issue(client=world.client("mallory-token"), body=genuine.body)

    _assert_ignored(world, forged.number, caplog, ScriptedEngine([FIX_DIFF]))

    assert "not by the uploader" in caplog.records[-1].getMessage()


def test_trust_uploader_issue_with_tampered_payload_is_ignored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    issue = world.file_issue()
    # flip one character inside the sealed base64: the HMAC no longer verifies
    start = issue.body.index("crashbot:payload v1 ") + len("crashbot:payload v1 ") + 10
    flipped = "A" if issue.body[start] != "A" else "B"
    world.uploader.edit_issue(issue.number, body=issue.body[:start] + flipped + issue.body[start + 1 :])

    _assert_ignored(world, issue.number, caplog, ScriptedEngine([FIX_DIFF]))

    assert "does not verify" in caplog.records[-1].getMessage() or "base64" in caplog.records[-1].getMessage()


def test_trust_signed_payload_copied_into_an_issue_of_another_signature_is_ignored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    genuine = world.file_issue()
    copy = world.file_issue(body=genuine.body, labels=["crash", sig_label("0ther0000000")])

    _assert_ignored(world, copy.number, caplog, ScriptedEngine([FIX_DIFF]))

    assert "copied from another issue" in caplog.records[-1].getMessage()


def test_trust_issue_without_payload_is_ignored(world: World, caplog: pytest.LogCaptureFixture) -> None:
    issue = world.file_issue(body="worldserver crashed, please fix\n<!-- crashbot:payload v1 -->")

    _assert_ignored(world, issue.number, caplog, ScriptedEngine([FIX_DIFF]))


def test_trust_pull_request_number_is_ignored(world: World, caplog: pytest.LogCaptureFixture) -> None:
    issue = world.file_issue()
    opened = fix_issue(world.run(ScriptedEngine([FIX_DIFF])), issue.number)
    assert opened.pull_number is not None

    _assert_ignored(world, opened.pull_number, caplog, ScriptedEngine([FIX_DIFF]))


def test_trust_payload_signed_with_another_key_is_ignored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    issue = world.file_issue()
    engine = ScriptedEngine([FIX_DIFF])
    world.standin.clear_requests()
    run = dataclasses.replace(world.run(engine), key=b"another-key")

    with caplog.at_level(logging.INFO, logger="bot"):
        result = fix_issue(run, issue.number)

    assert result.outcome is Outcome.UNTRUSTED
    assert world.standin.writes() == [] and engine.asked == []


# -- verify() on its own ------------------------------------------------------------------------------


def _issue(author: str, body: str, labels: tuple[str, ...]) -> IssueRef:
    return IssueRef(7, "crash", body, "open", None, labels, author, "", "", "", 0, False)


def test_verify_compares_the_uploader_login_case_insensitively(world: World) -> None:
    issue = world.file_issue()

    payload = verify(_issue("CrashBot-Uploader[BOT]", issue.body, issue.labels), uploader=UPLOADER, key=KEY)

    assert payload.signature.id == SIG


def test_verify_a_login_that_only_contains_the_uploader_is_refused(world: World) -> None:
    issue = world.file_issue()

    with pytest.raises(TrustError, match="not by the uploader"):
        verify(_issue("crashbot-uploader[bot]-fan", issue.body, issue.labels), uploader=UPLOADER, key=KEY)


def test_verify_without_a_configured_uploader_is_a_config_error(world: World) -> None:
    issue = world.file_issue()

    with pytest.raises(ConfigError, match="uploader_login"):
        verify(_issue(UPLOADER, issue.body, issue.labels), uploader="  ", key=KEY)
