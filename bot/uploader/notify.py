"""Discord/Slack incoming-webhook messages: a new crash signature, a regression, a quarantined report.

Optional (``[notify]`` in config; the webhook URL is a secret, read from the env var it names). A message
that cannot be delivered is logged and dropped: a chat outage never holds up the crash queue.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.config import NotifySettings, WebhookKind, secret
from bot.errors import ConfigError

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

TIMEOUT_S = 5.0
DISCORD_MAX_CHARS = 2000
SLACK_MAX_CHARS = 3000  # a section's text limit; plain "text" allows more, but long posts get folded
_ZWSP = "\u200b"


class NoticeKind(enum.StrEnum):
    NEW_SIGNATURE = "new-signature"
    REGRESSION = "regression"
    QUARANTINE = "quarantine"
    UPLOADS_FAILING = "uploads-failing"
    UPLOADS_RECOVERED = "uploads-recovered"


@dataclass(frozen=True)
class Notice:
    """One thing worth telling the server's operators; ``text`` fields are untrusted report text."""

    kind: NoticeKind
    title: str
    url: str = ""
    count: int = 0
    detail: str = ""


_HEADLINES = {
    NoticeKind.NEW_SIGNATURE: "New crash",
    NoticeKind.REGRESSION: "Crash is back (regression, issue reopened)",
    NoticeKind.QUARANTINE: "Crash report could not be read (quarantined)",
    NoticeKind.UPLOADS_FAILING: "Crash uploads are failing",
    NoticeKind.UPLOADS_RECOVERED: "Crash uploads recovered",
}


def _clip(text: str, cap: int) -> str:
    return text if len(text) <= cap else text[: cap - 1] + "…"


def _discord_escape(text: str) -> str:
    """Plain text for Discord: no Markdown, no mention can fire (``allowed_mentions`` also says so)."""
    out = text.replace("\\", "\\\\")
    for ch in "*_~`|>[]()#":
        out = out.replace(ch, "\\" + ch)
    return out.replace("@", "@" + _ZWSP)


def _slack_escape(text: str) -> str:
    """Slack's three control characters (``<!channel>``-style mentions need ``<``), and no bare ``@``."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("@", "@" + _ZWSP)  # in case the app posts with link_names on


def render(notice: Notice, kind: WebhookKind) -> dict[str, Any]:
    """The JSON body for ``kind``'s incoming webhook."""
    headline = _HEADLINES[notice.kind]
    count = f" ({notice.count} occurrence{'s' if notice.count != 1 else ''})" if notice.count else ""
    match kind:
        case WebhookKind.DISCORD:
            lines = [f"**{headline}**{count}: {_discord_escape(_clip(notice.title, 300))}"]
            if notice.detail:
                lines.append(_discord_escape(_clip(notice.detail, 1000)))
            if notice.url:
                lines.append(f"<{notice.url}>")  # <> keeps Discord from unfurling a large embed
            return {
                "content": _clip("\n".join(lines), DISCORD_MAX_CHARS),
                "allowed_mentions": {"parse": []},
            }
        case WebhookKind.SLACK:
            title = _slack_escape(_clip(notice.title, 300))
            if notice.url:
                title = f"<{notice.url}|{title.replace('|', '¦')}>"
            lines = [f"*{headline}*{count}: {title}"]
            if notice.detail:
                lines.append(_slack_escape(_clip(notice.detail, 1000)))
            return {"text": _clip("\n".join(lines), SLACK_MAX_CHARS)}


class Notifier:
    """Posts notices to one incoming webhook; :meth:`send` never raises."""

    def __init__(
        self,
        url: str,
        kind: WebhookKind,
        *,
        session: requests.Session | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        import requests  # on first use: a watcher that never notifies needn't carry it

        self._url = url
        self.kind = kind
        self._session = session or requests.Session()
        self._timeout = timeout_s
        self.sent = 0
        self.failed = 0

    def __repr__(self) -> str:
        # the webhook URL is the credential: never show it
        return f"Notifier(kind={self.kind.value!r}, url='***')"

    def send(self, notice: Notice) -> bool:
        """Deliver ``notice``; False (logged) when the webhook refused it or could not be reached."""
        import requests

        body = render(notice, self.kind)
        try:
            response = self._session.post(self._url, json=body, timeout=self._timeout)
        except requests.RequestException as e:
            self.failed += 1
            logger.warning("%s webhook unreachable (%s); notice dropped", self.kind.value, type(e).__name__)
            return False
        if not 200 <= response.status_code < 300:
            self.failed += 1
            logger.warning(
                "%s webhook answered HTTP %d (%s); notice dropped",
                self.kind.value,
                response.status_code,
                _clip(" ".join(response.text.split()), 200),
            )
            return False
        self.sent += 1
        return True


def from_settings(settings: NotifySettings, env: Mapping[str, str]) -> Notifier | None:
    """The configured notifier, or None when notifications are off or the URL variable is unset."""
    if not settings.webhook_url_env:
        return None
    url = secret(settings.webhook_url_env, env)
    if url is None:
        logger.warning(
            "notify.webhook_url_env names %s, which is not set; notifications are off",
            settings.webhook_url_env,
        )
        return None
    if not url.startswith(("https://", "http://")):
        raise ConfigError(
            f"the webhook URL in {settings.webhook_url_env} must start with https:// "
            "(copy it from the channel's webhook settings)"
        )
    return Notifier(url, settings.kind)
