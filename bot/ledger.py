"""The uptime ledger: how long each build ran on one realm, per UTC day, signed like a crash payload (pure).

The uploader watches the realm's server process (:mod:`bot.uploader.sessions`) and publishes this ledger
in one closed issue per realm, labelled :data:`bot.vocabulary.UPTIME_LABEL`; the dashboard reads it as
the denominator of crash rates. Format (version 1): a JSON object serialised canonically (sorted keys,
no whitespace, UTF-8), sealed as

    mac = HMAC-SHA256(key, b"crashbot:uptime:v1\\n" + canonical_bytes)

with its own prefix, so a crash payload can never pass for a ledger nor the reverse. The body carries

    <!-- crashbot:uptime v1 <standard base64 of canonical_bytes> -->
    <!-- crashbot:uptime-hmac <64 lower-case hex digits of mac> -->

Minutes are whole numbers (canonical JSON has no float ambiguity). ``up`` holds minutes per (build,
UTC day) the server process ran, ``watched`` minutes per day the observer itself was running: a day
watched for less than 1,440 minutes has gaps where uptime is unknown (counted as not up). Bounded:
:data:`HISTORY_DAYS` days before the newest day, :data:`MAX_BUILDS` builds, :data:`MAX_ENTRIES` entries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.errors import TrustError
from bot.payload import canonical_json

LEDGER_VERSION = 1
HISTORY_DAYS = 90
MAX_BUILDS = 20
MAX_ENTRIES = 600  # (build, day) pairs: ~20 KB of base64 at most, a third of an issue body
MINUTES_PER_DAY = 1440
UNKNOWN_BUILD = ""  # a process whose revision could not be read: counted for the realm, not per build
_MAC_PREFIX = b"crashbot:uptime:v1\n"
_BUILD_RE = re.compile(r"[0-9a-f]{4,40}")
_LINE_RE = re.compile(r"^<!-- crashbot:uptime v(\d+) ([A-Za-z0-9+/=]+) -->$", re.MULTILINE)
_HMAC_RE = re.compile(r"^<!-- crashbot:uptime-hmac ([0-9a-fA-F]{64}) -->$", re.MULTILINE)
_ANY_LINE_RE = re.compile(r"<!--\s*crashbot:uptime\s+v")
_ANY_HMAC_RE = re.compile(r"<!--\s*crashbot:uptime-hmac\b")

Entry = tuple[str, str, int]  # (build, ISO day, minutes)


@dataclass(frozen=True)
class Ledger:
    """One realm's recorded uptime. ``since`` is the first UTC day the observer watched (ISO date)."""

    realm: str
    host: str
    since: str
    updated: str  # ISO-8601 UTC of the last change
    up: tuple[Entry, ...] = ()
    watched: tuple[tuple[str, int], ...] = ()

    def hours(self, first: date, end: date, build: Callable[[str], bool] | None = None) -> float:
        """Hours up on the days ``[first, end)``, only builds for which ``build(revision)`` is true when
        given (an unknown build never matches a filter)."""
        lo, hi = first.isoformat(), end.isoformat()
        minutes = sum(
            m for b, d, m in self.up if lo <= d < hi and (build is None or (b != UNKNOWN_BUILD and build(b)))
        )
        return minutes / 60

    def watched_hours(self, first: date, end: date) -> float:
        lo, hi = first.isoformat(), end.isoformat()
        return sum(m for d, m in self.watched if lo <= d < hi) / 60

    @property
    def builds(self) -> tuple[str, ...]:
        """The builds with recorded uptime, the most recently run last."""
        last: dict[str, str] = {}
        for b, d, _ in self.up:
            if b != UNKNOWN_BUILD:
                last[b] = max(last.get(b, d), d)
        return tuple(sorted(last, key=lambda b: (last[b], b)))

    def covers(self, day: date) -> bool:
        """True when the observer was already watching on ``day``."""
        return bool(self.since) and self.since <= day.isoformat()

    def to_json(self) -> dict[str, Any]:
        return {
            "v": LEDGER_VERSION,
            "realm": self.realm,
            "host": self.host,
            "since": self.since,
            "updated": self.updated,
            "up": [list(e) for e in self.up],
            "watched": [list(w) for w in self.watched],
        }

    @classmethod
    def from_json(cls, data: Any) -> Ledger:
        if not isinstance(data, Mapping) or data.get("v") != LEDGER_VERSION:
            raise TrustError("uptime ledger is not a version 1 object")
        try:
            up = tuple(_entry(e) for e in data["up"])
            watched = tuple((_day(d), _minutes(m)) for d, m in data["watched"])
            texts = [data[k] for k in ("realm", "host", "since", "updated")]
        except (KeyError, TypeError, ValueError) as e:
            raise TrustError(f"uptime ledger is malformed ({type(e).__name__}: {e})") from None
        if not all(isinstance(t, str) for t in texts):
            raise TrustError("uptime ledger names are not strings")
        realm, host, since, updated = texts
        try:
            since = _day(since) if since else ""
        except ValueError:
            raise TrustError(f"uptime ledger 'since' {since!r} is not a day") from None
        return cls(realm, host, since, updated, up, watched)


def _day(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError("day is not text")
    return date.fromisoformat(text).isoformat()


def _minutes(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MINUTES_PER_DAY:
        raise ValueError(f"minutes {value!r} are not 0..1440")
    return value


def _entry(raw: Any) -> Entry:
    build, day, minutes = raw
    if not isinstance(build, str) or (build and not _BUILD_RE.fullmatch(build)):
        raise ValueError(f"build {build!r} is not a revision")
    return build, _day(day), _minutes(minutes)


def bounded(
    up: Mapping[tuple[str, str], int], watched: Mapping[str, int]
) -> tuple[tuple[Entry, ...], tuple[tuple[str, int], ...]]:
    """The entries kept: the :data:`HISTORY_DAYS` days up to the newest, the :data:`MAX_BUILDS` builds
    run most recently, the newest :data:`MAX_ENTRIES` entries; minutes capped at a day's."""
    days = [d for _, d in up] + list(watched)
    if not days:
        return (), ()
    oldest = (date.fromisoformat(max(days)) - timedelta(days=HISTORY_DAYS - 1)).isoformat()
    kept = {(b, d): min(m, MINUTES_PER_DAY) for (b, d), m in up.items() if d >= oldest and m > 0}
    last: dict[str, str] = {}
    for b, d in kept:
        last[b] = max(last.get(b, d), d)
    builds = set(sorted(last, key=lambda b: (last[b], b))[-MAX_BUILDS:])
    entries = sorted(((b, d, m) for (b, d), m in kept.items() if b in builds), key=lambda e: (e[1], e[0]))
    watch = tuple(sorted((d, min(m, MINUTES_PER_DAY)) for d, m in watched.items() if d >= oldest and m > 0))
    return tuple(entries[-MAX_ENTRIES:]), watch


def minutes_per_day(start: datetime, end: datetime) -> dict[str, int]:
    """The UTC days ``[start, end)`` touches, with the whole minutes of it on each."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    found: dict[str, int] = {}
    cursor = start
    while cursor < end:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        stop = min(midnight, end)
        found[cursor.date().isoformat()] = int((stop - cursor).total_seconds() // 60)
        cursor = stop
    return {d: m for d, m in found.items() if m > 0}


def add_spans(
    totals: dict[tuple[str, str], int], spans: Iterable[tuple[str, datetime, datetime]]
) -> dict[tuple[str, str], int]:
    """``totals`` plus the minutes per (build, day) of each ``(build, start, end)`` span."""
    for build, start, end in spans:
        for day, minutes in minutes_per_day(start, end).items():
            totals[build, day] = totals.get((build, day), 0) + minutes
    return totals


# ---------------------------------------------------------------------------------------------------
# sealing


def seal(ledger: Ledger, key: bytes) -> tuple[str, str]:
    """``(base64 text, hex mac)`` of ``ledger`` under ``key``."""
    _check_key(key)
    data = canonical_json(ledger.to_json())
    return base64.b64encode(data).decode("ascii"), _mac(key, data)


def block(ledger: Ledger, key: bytes) -> str:
    """The two hidden lines an issue body carries."""
    b64, mac = seal(ledger, key)
    return f"<!-- crashbot:uptime v{LEDGER_VERSION} {b64} -->\n<!-- crashbot:uptime-hmac {mac} -->"


def read(body: str, key: bytes) -> Ledger:
    """The verified ledger in an issue body; TrustError when missing, doubled, edited or another key's."""
    _check_key(key)
    lines, macs = _LINE_RE.findall(body), _HMAC_RE.findall(body)
    if not lines or not macs:
        raise TrustError("no signed uptime ledger in the body (edited, or not written by crashbot)")
    if len(_ANY_LINE_RE.findall(body)) != 1 or len(_ANY_HMAC_RE.findall(body)) != 1:
        raise TrustError("more than one uptime ledger in the body; refusing to guess")
    version, b64 = lines[0]
    if int(version) != LEDGER_VERSION:
        raise TrustError(f"uptime ledger version {version} is not understood (this crashbot reads v1)")
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except binascii.Error:
        raise TrustError("uptime ledger is not valid base64 (the body was altered)") from None
    if not hmac.compare_digest(_mac(key, data).encode("ascii"), macs[0].lower().encode("ascii")):
        raise TrustError(
            "uptime ledger signature does not verify: the body was altered or signed with another key"
        )
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TrustError("uptime ledger is signed but is not UTF-8 JSON") from None
    if canonical_json(parsed) != data:
        raise TrustError("uptime ledger is signed but not in canonical form")
    return Ledger.from_json(parsed)


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, _MAC_PREFIX + data, hashlib.sha256).hexdigest()


def _check_key(key: bytes) -> None:
    if not key:
        raise TrustError("the signing key is empty (set the env var named by signing.key_env)")
