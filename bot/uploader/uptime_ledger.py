"""Publish the realm's uptime ledger: one closed issue per realm, edited at most hourly, only on change.

Why an issue of its own per realm (labelled ``crash-uptime``, kept closed so it never crowds the open
issue list) rather than a comment on the dashboard: the dashboard issue has one writer (the workflow's
concurrency group) and may not exist yet, or be deleted and re-created with everything on it; a
realm's ledger has exactly one writer, this uploader, and the dashboard finds all of them with one list
request by label (never search, which lags). Cost: one list request per interval, one edit when the
ledger changed (a server that runs changes it every interval, so at most 24 writes a day per realm),
a create and a close when the issue is missing.

The sessions in the spool are the truth; the issue is re-rendered from them every time, so an issue
deleted or edited by hand is re-created or restored at the next interval. Days before this spool began
watching are taken from the old ledger when its signature verifies (a re-installed host keeps its
history); a ledger whose signature fails is ignored with a log line and overwritten.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Protocol

from bot import ledger as ledgers
from bot import markdown as md
from bot.errors import GitHubError, TrustError
from bot.github import IssueRef
from bot.ledger import Ledger
from bot.uploader.sessions import SessionStore, ledger_of
from bot.vocabulary import UPTIME, UPTIME_BODY, UPTIME_LABEL, LabelSpec

logger = logging.getLogger(__name__)

PUBLISH_INTERVAL_S = 3600.0
_REALM_SAFE_RE = re.compile(r"[^A-Za-z0-9._:-]+")
_TABLE_BUILDS = 10


class LedgerGitHub(Protocol):
    def whoami(self) -> str: ...
    def find_issues(self, labels: Sequence[str], state: str = "all") -> list[IssueRef]: ...
    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> IssueRef: ...
    def edit_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> IssueRef: ...
    def ensure_labels(self, specs: Sequence[LabelSpec]) -> list[str]: ...


def due_at(store: SessionStore, realm: str, interval_s: float) -> float | None:
    """When ``realm``'s next publication is due: an interval after the last one (or attempt), which the
    spool remembers across restarts; the first is an interval after the observer first watched, so a
    watcher restarted often still writes at most once an interval. None: nothing watched yet."""
    last = store.published_at(realm)
    if last is None:
        spans = store.watch_spans(realm)
        last = spans[0][0] if spans else None
    return None if last is None else last + interval_s


def realm_tag(realm: str) -> str:
    """The marker naming ``realm`` in its ledger's body (a safe alphabet: it sits in an HTML comment)."""
    return UPTIME_BODY.render(_REALM_SAFE_RE.sub("_", realm)[:100] or "_")


def title(realm: str) -> str:
    return f"Uptime ledger: {realm}"[:200]


def render(ledger: Ledger, key: bytes) -> str:
    """The issue body: who writes it and why, the hours per build, then the signed block."""
    try:
        today = date.fromisoformat(ledger.updated[:10])
    except ValueError:
        today = date.today()
    week = today - timedelta(days=6)
    end = today + timedelta(days=1)
    rows = [
        f"| {md.inline_code(b, table=True)} | {ledger.hours(week, end, b.__eq__):,.1f} | "
        f"{ledger.hours(date.min, end, b.__eq__):,.1f} |"
        for b in reversed(ledger.builds[-_TABLE_BUILDS:])
    ]
    lines = [
        realm_tag(ledger.realm),
        f"How long the server ran on **{md.escaped(ledger.realm)}**, per build, as crashbot's uploader on "
        f"`{md.escaped(ledger.host)}` recorded it (watching since {ledger.since or 'now'}; updated "
        f"{ledger.updated}). The crash dashboard reads the signed block below as the denominator of crash "
        "rates. This issue is written by the uploader: edits are overwritten, and a deleted one comes back.",
        "",
        f"Total: **{ledger.hours(week, end):,.1f}** hours in the last 7 days, "
        f"**{ledger.hours(date.min, end):,.1f}** in the last {ledgers.HISTORY_DAYS} days.",
        "",
    ]
    if rows:
        lines += ["| Build | Hours, 7 days | Hours, 90 days |", "|---|--:|--:|", *rows, ""]
    return "\n".join([*lines, ledgers.block(ledger, key), ""])


def with_history(ours: Ledger, old: Ledger) -> Ledger:
    """``ours`` plus the days ``old`` knew before ``ours`` began watching (same realm)."""
    if not ours.since or not old.since or old.since >= ours.since:
        return ours
    up = {(b, d): m for b, d, m in old.up if d < ours.since}
    up.update({(b, d): m for b, d, m in ours.up})
    watched = {d: m for d, m in old.watched if d < ours.since} | dict(ours.watched)
    entries, watch = ledgers.bounded(up, watched)
    return Ledger(ours.realm, ours.host, old.since, ours.updated, entries, watch)


def _same(a: Ledger, b: Ledger) -> bool:
    """Equal but for the update time (which alone is no reason to write)."""
    return (a.realm, a.host, a.since, a.up, a.watched) == (b.realm, b.host, b.since, b.up, b.watched)


class LedgerPublisher:
    """``maybe_publish()`` writes ``realm``'s ledger when ``interval_s`` passed since the last attempt."""

    def __init__(
        self,
        client: LedgerGitHub,
        store: SessionStore,
        *,
        key: bytes,
        realm: str,
        host: str,
        interval_s: float = PUBLISH_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._store = store
        self._key = key
        self._realm = realm
        self._host = host
        self._interval_s = interval_s
        self._clock = clock
        self._quiet = False

    def due_at(self) -> float | None:
        return due_at(self._store, self._realm, self._interval_s)

    def maybe_publish(self) -> bool:
        """True when the ledger issue was written now; a failure is logged and waits an interval too."""
        now = self._clock()
        due = self.due_at()
        if due is None or now < due:
            return False
        self._store.set_published_at(self._realm, now)
        if not self._store.sessions(self._realm):  # never a server seen: publish no "0 hours up"
            if not self._quiet:
                logger.warning(
                    "uptime of %s: no server process seen yet (check uploader.uptime_process); "
                    "nothing published, the dashboard keeps its deployment-based estimate",
                    self._realm,
                )
            self._quiet = True
            return False
        try:
            return self.publish(now)
        except GitHubError as e:
            logger.warning("uptime ledger of %s not published (%s); next try in an interval", self._realm, e)
            return False

    def publish(self, now: float) -> bool:
        """Bring the realm's ledger issue up to date; True when it wrote."""
        ours = ledger_of(self._store, self._realm, self._host, now)
        current = self._find()
        old = self._verified(current) if current is not None else None
        if old is not None:
            ours = with_history(ours, old)
            if _same(ours, old) and current is not None and current.state == "closed":
                return False
        body = render(ours, self._key)
        if current is None:
            self._client.ensure_labels([UPTIME])
            created = self._client.create_issue(title(self._realm), body, [UPTIME_LABEL])
            self._client.edit_issue(created.number, state="closed", state_reason="completed")
            logger.info("created the uptime ledger of %s: #%d", self._realm, created.number)
            return True
        self._client.edit_issue(
            current.number,
            body=body,
            title=title(self._realm) if current.title != title(self._realm) else None,
            state="closed" if current.state != "closed" else None,
        )
        return True

    def _find(self) -> IssueRef | None:
        """This realm's ledger issue written by us: the oldest such, if several."""
        me = self._client.whoami()
        tag = realm_tag(self._realm)
        mine = [
            i
            for i in self._client.find_issues([UPTIME_LABEL], state="all")
            if tag in i.body and (i.author == me if me else i.author.endswith("[bot]"))
        ]
        return min(mine, key=lambda i: i.number) if mine else None

    def _verified(self, issue: IssueRef) -> Ledger | None:
        try:
            found = ledgers.read(issue.body, self._key)
        except TrustError as e:
            logger.warning("uptime ledger #%d of %s ignored and rewritten: %s", issue.number, self._realm, e)
            return None
        return found if found.realm == self._realm else None
