"""The signed payload carries each signature's occurrence history: per UTC day and per build, bounded."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.errors import TrustError
from bot.issue import render_body
from bot.markdown import sparkline
from bot.payload import HISTORY_DAYS, MAX_LIST_ENTRIES, Occurrences, Payload, canonical_json, seal, unseal
from tests.crashes import make_crash

KEY = b"test-signing-key"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _sealed_by_hand(data: dict) -> tuple[str, str]:
    raw = canonical_json(data)
    mac = hmac.new(KEY, b"crashbot:payload:v1\n" + raw, hashlib.sha256).hexdigest()
    return base64.b64encode(raw).decode("ascii"), mac


def test_record_buckets_by_utc_day_whatever_the_clock_zone() -> None:
    # 23:30 at UTC-2 is 01:30 UTC the next day
    late = datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    occ = Occurrences().record(T0, count=2).record(late)
    assert occ.days == (("2024-05-01", 2), ("2024-05-02", 1))
    assert occ.dated == occ.count == 3


def test_merge_adds_day_by_day_and_build_by_build() -> None:
    a = Occurrences().record(T0, build="aaa", count=2)
    b = Occurrences().record(T0, build="bbb").record(T0 + timedelta(days=1), build="aaa")
    occ = a.merge(b)
    assert occ.days == (("2024-05-01", 3), ("2024-05-02", 1))
    assert occ.build_counts == (("bbb", 1), ("aaa", 3))  # re-counted build moves to the end
    assert occ.count == 4


def test_history_keeps_only_the_last_ninety_days_before_the_newest() -> None:
    occ = Occurrences()
    for i in range(HISTORY_DAYS + 5):
        occ = occ.record(T0 + timedelta(days=i))
    assert len(occ.days) == HISTORY_DAYS
    assert occ.days[0][0] == (T0 + timedelta(days=5)).date().isoformat()
    assert occ.count == HISTORY_DAYS + 5  # the total never forgets
    assert occ.dated == HISTORY_DAYS


def test_history_keeps_the_counts_of_the_last_twenty_builds() -> None:
    occ = Occurrences()
    for i in range(MAX_LIST_ENTRIES + 3):
        occ = occ.record(T0, build=f"b{i}")
    assert [b for b, _ in occ.build_counts] == [f"b{i}" for i in range(3, MAX_LIST_ENTRIES + 3)]


def test_daily_fills_quiet_days_with_zero() -> None:
    occ = Occurrences().record(T0, count=4).record(T0 + timedelta(days=2))
    assert occ.daily(date(2024, 5, 3), 5) == (0, 0, 4, 0, 1)


def test_history_round_trips_through_the_seal_in_build_order() -> None:
    occ = Occurrences().record(T0, build="zzz").record(T0, build="aaa")
    payload = Payload.from_crash(make_crash(), occ)
    read = unseal(*seal(payload, KEY), KEY)
    assert read == payload
    assert read.occurrences.build_counts == (("zzz", 1), ("aaa", 1))


def test_payload_sealed_before_history_existed_verifies_with_an_empty_history() -> None:
    payload = Payload.from_crash(make_crash(), Occurrences().record(T0, build="abc"))
    old = payload.to_json()
    del old["occurrences"]["history"]
    read = unseal(*_sealed_by_hand(old), KEY)
    assert read.occurrences.days == () and read.occurrences.build_counts == ()
    assert read.occurrences.count == 1 and read.occurrences.dated == 0


def test_occurrences_without_history_serialise_without_the_key() -> None:
    """Older uploaders and readers see exactly the bytes they always saw."""
    assert "history" not in Occurrences(count=3).to_json()


@pytest.mark.parametrize(
    "history",
    [
        {"days": {"not-a-day": 1}, "builds": []},
        {"days": {"2024-05-01": -1}, "builds": []},
        {"days": {"2024-05-01": True}, "builds": []},
        {"days": {}, "builds": [["abc"]]},
        {"days": {}, "builds": "abc"},
        [],
    ],
)
def test_malformed_history_is_a_trust_error(history: object) -> None:
    data = Payload.from_crash(make_crash(), Occurrences().record(T0)).to_json()
    data["occurrences"]["history"] = history
    with pytest.raises(TrustError):
        unseal(*_sealed_by_hand(data), KEY)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], ""),
        ([0, 0, 0], "▁▁▁"),
        ([0, 1, 7], "▁▂█"),  # 1 of 7 is one step up: a single crash never looks like a quiet day
        ([2, 4, 8], "▃▅█"),  # 2*7/8 = 1.75 -> 2 -> ▃; 4*7/8 = 3.5 -> 4 -> ▅
    ],
)
def test_sparkline_scales_to_the_largest_value(values: list[int], expected: str) -> None:
    assert sparkline(values) == expected


def test_issue_occurrences_row_shows_a_thirty_day_sparkline() -> None:
    occ = Occurrences().record(T0 - timedelta(days=29), count=7).record(T0)
    body = render_body(make_crash(), occ, repo="o/r", payload_key=KEY)
    row = next(line for line in body.splitlines() if line.startswith("| Occurrences"))
    assert f"`█{'▁' * 28}▂`" in row
    assert "2024-04-02 … 2024-05-01" in row


def test_issue_occurrences_row_without_history_is_the_bare_count() -> None:
    body = render_body(make_crash(), Occurrences(count=5), repo="o/r", payload_key=KEY)
    assert "| Occurrences | 5 |" in body
