"""Occurrences remember the hashes of the reports they counted, so the same report sent again from a
fresh spool or another host is recognised (issue 14), within a bounded number of bytes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from bot.payload import MAX_REPORTS, Occurrences, Payload, report_hash, seal, unseal
from tests.crashes import make_crash

KEY = b"k" * 32
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_report_hash_is_a_short_prefix_of_the_sha256() -> None:
    digest = hashlib.sha256(b"report").hexdigest()
    assert report_hash(digest) == digest[:12] and report_hash(digest.upper()) == digest[:12]


def test_occurrences_record_remembers_the_report() -> None:
    occ = Occurrences().record(T0, report="aaa").record(T0, report="bbb")
    assert occ.reports == ("aaa", "bbb") and occ.count == 2


def test_occurrences_keep_only_the_last_reports() -> None:
    occ = Occurrences()
    for i in range(MAX_REPORTS + 10):
        occ = occ.merge(Occurrences(count=1, reports=(f"r{i}",)))
    assert occ.reports == tuple(f"r{i}" for i in range(10, MAX_REPORTS + 10))
    assert occ.count == MAX_REPORTS + 10


def test_payload_with_reports_seals_and_unseals_equal() -> None:
    occ = Occurrences().record(T0, batch="b1", report=report_hash("ab" * 32))
    payload = Payload.from_crash(make_crash(), occ)
    assert unseal(*seal(payload, KEY), KEY) == payload


def test_payload_without_reports_keeps_its_old_shape() -> None:
    """An issue whose payload has no report hashes (filed before them) is sealed byte for byte as before,
    and reads back with none."""
    occ = Occurrences().record(T0, batch="b1")
    assert "reports" not in occ.to_json()
    assert Occurrences.from_json(occ.to_json()).reports == ()


def test_payload_full_of_report_hashes_still_fits_the_budget() -> None:
    occ = Occurrences()
    for i in range(MAX_REPORTS):
        occ = occ.record(T0, report=report_hash(hashlib.sha256(str(i).encode()).hexdigest()))
    payload = Payload.from_crash(make_crash(), occ).fit()
    assert unseal(*seal(payload, KEY), KEY).occurrences.reports == occ.reports
