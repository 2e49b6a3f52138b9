"""Occurrences remember the uploader batches they absorbed, so a retried batch is never counted twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from bot.payload import MAX_BATCHES, Occurrences, Payload, canonical_json, seal, unseal
from tests.crashes import make_crash

KEY = b"test-signing-key"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_occurrences_record_with_batch_remembers_the_batch_id() -> None:
    occ = Occurrences().record(T0, count=3, batch="b1").record(T0, batch="b2")
    assert occ.batches == ("b1", "b2")
    assert occ.count == 4


def test_occurrences_merge_keeps_the_last_fifty_batch_ids_in_order() -> None:
    occ = Occurrences()
    for i in range(MAX_BATCHES + 10):
        occ = occ.merge(Occurrences(count=1, batches=(f"b{i}",)))
    assert occ.batches == tuple(f"b{i}" for i in range(10, MAX_BATCHES + 10))
    assert occ.count == MAX_BATCHES + 10


def test_occurrences_merge_same_batch_twice_lists_it_once() -> None:
    occ = Occurrences(batches=("a", "b")).merge(Occurrences(batches=("a",)))
    assert occ.batches == ("b", "a")


def test_occurrences_mark_commented_keeps_batch_ids() -> None:
    occ = Occurrences().record(T0, batch="b1").mark_commented(T0)
    assert occ.batches == ("b1",)


def test_occurrences_json_round_trip_with_batches() -> None:
    occ = Occurrences().record(T0, host="h", batch="b1").record(T0, batch="b2").mark_commented(T0)
    assert occ.to_json()["batches"] == ["b1", "b2"]
    assert Occurrences.from_json(occ.to_json()) == occ


def test_payload_with_batches_seals_and_unseals_equal() -> None:
    payload = Payload.from_crash(make_crash(), Occurrences().record(T0, batch="0123abcd"))
    assert unseal(*seal(payload, KEY), KEY) == payload


def test_payload_sealed_before_batches_existed_reads_with_no_batches() -> None:
    """Issues filed before batch ids were recorded carry no ``batches`` key; they must still verify."""
    payload = Payload.from_crash(make_crash(), Occurrences().record(T0))
    old = payload.to_json()
    del old["occurrences"]["batches"]
    b64, _ = seal(payload, KEY)  # the new shape always lists batches ...
    data = canonical_json(old)  # the old shape, sealed the way seal() does it
    old_mac = hmac.new(KEY, b"crashbot:payload:v1\n" + data, hashlib.sha256).hexdigest()
    read = unseal(base64.b64encode(data).decode("ascii"), old_mac, KEY)
    assert read.occurrences.batches == ()
    assert read.occurrences.count == 1
    assert json.loads(base64.b64decode(b64))["occurrences"]["batches"] == []
