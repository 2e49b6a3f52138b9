"""Webhook notices: Discord/Slack bodies that cannot ping anyone, delivered over real loopback HTTP,
and failures that are logged, never raised."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from bot.config import NotifySettings
from bot.errors import ConfigError
from bot.uploader.notify import Notice, NoticeKind, Notifier, WebhookKind, from_settings, render
from tests.uploader.rig import WebhookSink

NEW = Notice(
    NoticeKind.NEW_SIGNATURE, "#7 crash: Unit::GetMap (EXCEPTION_ACCESS_VIOLATION)", "https://x/7", 3
)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink()
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_notifier_discord_posts_content_with_mentions_disabled(sink: WebhookSink) -> None:
    assert sink.notifier(WebhookKind.DISCORD).send(NEW) is True
    [body] = sink.bodies
    assert body["allowed_mentions"] == {"parse": []}
    assert body["content"].startswith("**New crash** (3 occurrences): ")
    assert "<https://x/7>" in body["content"]


def test_notifier_slack_posts_text_with_a_link(sink: WebhookSink) -> None:
    assert sink.notifier(WebhookKind.SLACK).send(NEW) is True
    [body] = sink.bodies
    assert body == {
        "text": "*New crash* (3 occurrences): <https://x/7|#7 crash: Unit::GetMap (EXCEPTION_ACCESS_VIOLATION)>"
    }


@pytest.mark.parametrize("kind", list(WebhookKind))
def test_render_untrusted_report_text_cannot_mention_anyone(kind: WebhookKind) -> None:
    hostile = Notice(NoticeKind.QUARANTINE, "x", detail="@everyone <!channel> <@123> [click](http://evil)")
    body = render(hostile, kind)
    text = body.get("content") or body["text"]
    assert "@everyone" not in text and "<!channel>" not in text and "<@123>" not in text
    if kind is WebhookKind.DISCORD:  # Slack's mrkdwn has no [text](url) links at all
        assert "](http://evil)" not in text


def test_render_discord_message_fits_discords_2000_characters() -> None:
    body = render(Notice(NoticeKind.QUARANTINE, "t" * 5000, detail="d" * 5000), WebhookKind.DISCORD)
    assert len(body["content"]) <= 2000


def test_notifier_webhook_error_is_logged_not_raised(
    sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.status = 500
    notifier = sink.notifier()
    assert notifier.send(NEW) is False
    assert (notifier.sent, notifier.failed) == (0, 1)
    assert "answered HTTP 500" in caplog.text


def test_notifier_unreachable_webhook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(closed_port_url(), WebhookKind.DISCORD, timeout_s=2)
    assert notifier.send(NEW) is False
    assert "unreachable" in caplog.text


def test_notifier_repr_hides_the_webhook_url() -> None:
    assert "secret" not in repr(Notifier("https://discord.com/api/webhooks/1/secret", WebhookKind.DISCORD))


def test_from_settings_off_without_a_variable_name() -> None:
    assert from_settings(NotifySettings(), env={}) is None


def test_from_settings_unset_variable_disables_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert from_settings(NotifySettings(webhook_url_env="HOOK"), env={}) is None
    assert "HOOK" in caplog.text


def test_from_settings_reads_the_url_from_the_named_variable(sink: WebhookSink) -> None:
    notifier = from_settings(NotifySettings(webhook_url_env="HOOK", kind="Slack"), env={"HOOK": sink.url})  # type: ignore[arg-type]  # a raw string, checked when the settings are made
    assert notifier is not None and notifier.kind is WebhookKind.SLACK
    assert notifier.send(NEW)


@pytest.mark.parametrize(
    ("settings", "env", "message"),
    [
        (lambda: NotifySettings(webhook_url_env="HOOK", kind="teams"), {"HOOK": "https://x"}, "notify.kind"),  # type: ignore[arg-type]  # a raw string, checked when the settings are made
        (
            lambda: NotifySettings(webhook_url_env="HOOK"),
            {"HOOK": "discord.com/x"},
            "must start with https://",
        ),
    ],
)
def test_from_settings_bad_values_are_config_errors(
    settings: Callable[[], NotifySettings], env: dict[str, str], message: str
) -> None:
    """The settings are made inside the check: an unknown kind is refused as NotifySettings is made."""
    with pytest.raises(ConfigError, match=message):
        from_settings(settings(), env=env)
