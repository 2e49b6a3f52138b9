"""How long each build ran on each realm: recorded by the uploader, else estimated from Deployments (pure).

Recorded: the uploader of each realm watches its server process and publishes the hours each build ran
per UTC day in a signed ledger (:mod:`bot.ledger`); :class:`Recorded` sums those. That is real process
uptime: a crashed server's restart minutes and a realm stopped by hand count as down.

Estimated, for realms without a ledger (older uploaders, ``uploader.uptime_process = ""``):
``crashbot deploy`` records a Deployment per realm (environment) and sets it to ``success`` once the
server is up; GitHub marks the previous one ``inactive`` then. A build is live on a realm from its
successful deployment until the next one, so these spans are the denominators of crash rates: crashes
per hour live. They are deploy-to-deploy spans, not process uptime: the minutes a crashed server takes
to restart are not subtracted (an undercount of a few minutes per crash, which only makes a rate look
lower), and a realm that was stopped by hand between deploys counts as live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.ledger import Ledger

_LIVE_STATES = frozenset({"success", "inactive"})  # inactive: superseded after it had been live


@dataclass(frozen=True)
class Deployed:
    """One deployment of ``sha`` to ``realm`` created at ``at``; ``states`` are its statuses (any order)."""

    realm: str
    sha: str
    at: datetime
    states: tuple[str, ...]

    @property
    def went_live(self) -> bool:
        return bool(_LIVE_STATES & set(self.states))


@dataclass(frozen=True)
class LiveSpan:
    realm: str
    sha: str
    start: datetime
    end: datetime

    def hours_within(self, start: datetime, end: datetime) -> float:
        """Hours of this span inside ``[start, end)``."""
        overlap = (min(self.end, end) - max(self.start, start)).total_seconds()
        return max(overlap, 0.0) / 3600


def live_spans(deployments: Iterable[Deployed], now: datetime) -> tuple[LiveSpan, ...]:
    """Per realm, each deployment that went live, from its creation until the next live one (or ``now``)."""
    by_realm: dict[str, list[Deployed]] = {}
    for d in deployments:
        if d.went_live:
            by_realm.setdefault(d.realm, []).append(d)
    spans: list[LiveSpan] = []
    for realm, items in sorted(by_realm.items()):
        items.sort(key=lambda d: d.at)
        ends = [d.at for d in items[1:]] + [now]
        spans.extend(
            LiveSpan(realm, d.sha, d.at, end) for d, end in zip(items, ends, strict=True) if end > d.at
        )
    return tuple(spans)


def covered_since(spans: Sequence[LiveSpan]) -> datetime | None:
    """The earliest moment the spans account for (None without spans): before it, uptime is unknown."""
    return min((s.start for s in spans), default=None)


def hours_live(
    spans: Iterable[LiveSpan],
    start: datetime,
    end: datetime,
    *,
    realms: Iterable[str] | None = None,
    build: Callable[[str], bool] | None = None,
) -> float:
    """Hours live in ``[start, end)``, summed over realms (optionally only ``realms``, and only builds for
    which ``build(sha)`` is true)."""
    wanted = set(realms) if realms is not None else None
    return sum(
        s.hours_within(start, end)
        for s in spans
        if (wanted is None or s.realm in wanted) and (build is None or build(s.sha))
    )


def crash_free_hours(spans: Iterable[LiveSpan], start: datetime, end: datetime, crashes: int) -> float:
    """Hours live per crash in ``[start, end)`` ("crash-free hours", Sentry's crash-free sessions turned
    into time); all the hours when there was no crash."""
    hours = hours_live(spans, start, end)
    return hours / crashes if crashes > 0 else hours


@dataclass(frozen=True)
class Recorded:
    """The verified uptime ledgers, one per realm (the newest when a realm has several)."""

    ledgers: tuple[Ledger, ...] = ()

    @classmethod
    def of(cls, ledgers: Iterable[Ledger]) -> Recorded:
        newest: dict[str, Ledger] = {}
        for ledger in ledgers:
            if ledger.up and (ledger.realm not in newest or ledger.updated > newest[ledger.realm].updated):
                newest[ledger.realm] = ledger
        return cls(tuple(newest[r] for r in sorted(newest)))

    @property
    def realms(self) -> tuple[str, ...]:
        return tuple(ledger.realm for ledger in self.ledgers)

    def covers(self, realms: Iterable[str], day: date) -> bool:
        """True when every one of ``realms`` (any realm at all when none is named) has a ledger that was
        already being recorded on ``day``: only then are the hours since ``day`` complete."""
        named = set(realms)
        if not self.ledgers or not named <= set(self.realms):
            return False
        wanted = [ledger for ledger in self.ledgers if not named or ledger.realm in named]
        return all(ledger.covers(day) for ledger in wanted)

    def hours(self, first: date, end: date, *, build: Callable[[str], bool] | None = None) -> float:
        """Hours up on the UTC days ``[first, end)`` summed over the realms (only builds for which
        ``build(revision)`` is true, when given)."""
        return sum(ledger.hours(first, end, build) for ledger in self.ledgers)

    def build_hours(self, first: date, end: date) -> tuple[tuple[str, float], ...]:
        """Hours per build on the days ``[first, end)``, all realms together, the build that ran last
        first (unknown builds left out)."""
        minutes: dict[str, int] = {}
        last: dict[str, str] = {}
        lo, hi = first.isoformat(), end.isoformat()
        for ledger in self.ledgers:
            for build, day, m in ledger.up:
                if build and lo <= day < hi:
                    minutes[build] = minutes.get(build, 0) + m
                    last[build] = max(last.get(build, day), day)
        order = sorted(minutes, key=lambda b: (last[b], b), reverse=True)
        return tuple((b, minutes[b] / 60) for b in order if minutes[b] > 0)
