"""The runner's side of symbolication (``crashbot fix``): where the uploader's host had no store, the
runner resolves the crash an issue carries and updates the issue before the fix engine reads it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from bot.config import RedactionSettings, SymbolsSettings
from bot.crash import analyse
from bot.crash.model import Crash
from bot.crash.resolved import with_alias
from bot.github import GitHubClient, IssueRef
from bot.issue import render_body, sig_label
from bot.payload import Payload
from bot.symbols.locate import StoreLocator
from bot.symbols.resolve import symbolicate
from bot.symbols.service import scrubber
from bot.symbols.store import SymbolStore
from bot.symbols.symbolizer import find_symbolizer

logger = logging.getLogger(__name__)

Symbolicator = Callable[[IssueRef, Payload], Crash | None]


def issue_symbolicator(
    settings: SymbolsSettings,
    *,
    client: GitHubClient,
    key: bytes,
    server_url: str,
    redaction: RedactionSettings | None = None,
) -> Symbolicator:
    """The runner's side (``crashbot fix``): resolve the crash an issue carries from the store and, when
    anything resolved, rewrite the issue (body and payload re-sealed, the resolved ``sig:`` label added
    beside the unresolved one, which stays as alias). Returns the resolved crash, or None."""
    locator = StoreLocator(SymbolStore(Path(settings.store)))
    scrub = scrubber(redaction or RedactionSettings())

    def resolve(issue: IssueRef, payload: Payload) -> Crash | None:
        crash = payload.to_crash()
        result = symbolicate(
            crash.report,
            locator,
            symbolizer=find_symbolizer(settings.symbolizer),
            timeout_s=settings.timeout_s,
            scrub=scrub,
        )
        for note in result.notes:
            logger.info("issue #%d: symbols: %s", issue.number, note)
        if not result.resolved:
            return None
        resolved = with_alias(analyse(result.report), crash.signature)
        body = render_body(
            resolved,
            payload.occurrences,
            repo=client.repo,
            server_url=server_url,
            payload_key=key,
            replacing=issue.body,  # the environment, modules and other threads only the host's report had
        )
        labels = list(dict.fromkeys([*issue.labels, sig_label(resolved.signature.id)]))
        client.edit_issue(issue.number, body=body, labels=labels)
        logger.info(
            "issue #%d: %d frame(s) symbolicated; now %s",
            issue.number,
            result.resolved,
            resolved.signature.id,
        )
        return resolved

    return resolve
