"""The uptime ledger's format: sealed and read back, bounded, and refused when edited or forged."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from bot import ledger as ledgers
from bot.errors import TrustError
from bot.issue import render_body
from bot.ledger import Ledger, add_spans, bounded, minutes_per_day
from bot.payload import Occurrences
from tests.crashes import make_crash

KEY = b"ledger-test-signing-key-32-bytes-long!"
LEDGER = Ledger(
    realm="main",
    host="game1",
    since="2026-12-01",
    updated="2026-12-03T10:00:00Z",
    up=(("3f2a1b4c5d6e", "2026-12-01", 600), ("3f2a1b4c5d6e", "2026-12-02", 1440), ("", "2026-12-03", 30)),
    watched=(("2026-12-01", 600), ("2026-12-02", 1440), ("2026-12-03", 600)),
)


def test_a_sealed_ledger_reads_back_the_same_from_an_issue_body() -> None:
    body = "some text a person sees\n\n" + ledgers.block(LEDGER, KEY) + "\n"
    assert ledgers.read(body, KEY) == LEDGER


def test_hours_sum_the_days_asked_for_and_an_unknown_build_never_matches_a_build_filter() -> None:
    assert LEDGER.hours(date(2026, 12, 1), date(2026, 12, 4)) == (600 + 1440 + 30) / 60
    assert LEDGER.hours(date(2026, 12, 2), date(2026, 12, 3)) == 24
    assert LEDGER.hours(date(2026, 12, 1), date(2026, 12, 4), lambda b: True) == (600 + 1440) / 60
    assert LEDGER.watched_hours(date(2026, 12, 3), date(2026, 12, 4)) == 10
    assert LEDGER.covers(date(2026, 12, 1)) and not LEDGER.covers(date(2026, 11, 30))


def _reseal_data(body: str, change: str, to: str) -> str:
    """``body`` with its ledger's JSON changed but its MAC kept: what a hand edit of the numbers gives."""
    line = next(x for x in body.splitlines() if x.startswith("<!-- crashbot:uptime v1 "))
    b64 = line.split()[3]
    data = base64.b64decode(b64).decode().replace(change, to)
    return body.replace(b64, base64.b64encode(data.encode()).decode())


def test_edited_forged_or_foreign_ledgers_are_refused_with_a_reason() -> None:
    body = ledgers.block(LEDGER, KEY)
    with pytest.raises(TrustError, match="does not verify"):
        ledgers.read(_reseal_data(body, '"2026-12-02",1440', '"2026-12-02",1000'), KEY)
    with pytest.raises(TrustError, match="does not verify"):
        ledgers.read(body, b"another-key-another-key-another-key")
    with pytest.raises(TrustError, match="no signed uptime ledger"):
        ledgers.read("a body a person rewrote", KEY)
    with pytest.raises(TrustError, match="more than one"):
        ledgers.read(body + "\n" + body, KEY)


def test_a_crash_payload_never_passes_for_a_ledger() -> None:
    crash_body = render_body(make_crash(), Occurrences(count=1), repo="acme/ws", payload_key=KEY)
    crash_b64 = next(x for x in crash_body.splitlines() if x.startswith("<!-- crashbot:payload v1 ")).split()[
        3
    ]
    crash_mac = next(x for x in crash_body.splitlines() if x.startswith("<!-- crashbot:hmac ")).split()[2]
    disguised = f"<!-- crashbot:uptime v1 {crash_b64} -->\n<!-- crashbot:uptime-hmac {crash_mac} -->"
    with pytest.raises(TrustError, match="does not verify"):  # its own MAC prefix: another use of the key
        ledgers.read(disguised, KEY)


def test_a_signed_ledger_with_impossible_minutes_is_refused() -> None:
    bad = {**LEDGER.to_json(), "up": [["3f2a1b4c5d6e", "2026-12-01", 2000]]}
    data = json.dumps(bad, sort_keys=True, separators=(",", ":")).encode()
    body = (
        f"<!-- crashbot:uptime v1 {base64.b64encode(data).decode()} -->\n"
        f"<!-- crashbot:uptime-hmac {ledgers._mac(KEY, data)} -->"
    )
    with pytest.raises(TrustError, match="malformed"):
        ledgers.read(body, KEY)


def test_minutes_are_split_at_utc_midnight() -> None:
    start = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    end = datetime(2026, 12, 3, 0, 15, tzinfo=UTC)
    assert minutes_per_day(start, end) == {"2026-12-01": 30, "2026-12-02": 1440, "2026-12-03": 15}
    totals = add_spans({}, [("a" * 12, start, end), ("a" * 12, end, end.replace(minute=45))])
    assert totals[("a" * 12, "2026-12-03")] == 45


def test_the_ledger_is_bounded_in_days_builds_and_entries() -> None:
    up = {
        (f"{b:012x}", f"2026-{m:02d}-{d:02d}"): 60
        for b in range(30)
        for m in (9, 10, 11)
        for d in range(1, 29)
    }
    entries, watched = bounded(up, {"2026-11-28": 2000, "2026-01-01": 10})
    builds = {b for b, _, _ in entries}
    days = sorted({d for _, d, _ in entries})
    assert len(builds) == ledgers.MAX_BUILDS and len(entries) <= ledgers.MAX_ENTRIES
    assert days[-1] == "2026-11-28" and days[0] >= "2026-08-31"
    assert watched == (("2026-11-28", 1440),)  # capped at a day; the old day fell out of the history
    sealed = ledgers.block(Ledger("main", "h", "2026-01-01", "2026-11-28T00:00:00Z", entries, watched), KEY)
    assert len(sealed) < 30_000  # well under a third of an issue body
