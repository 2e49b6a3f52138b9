"""The signed crash payload: canonical JSON, HMAC seal, deterministic trimming, strict reading."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.crash.model import ExceptionInfo, Frame
from bot.errors import TrustError
from bot.payload import Occurrences, Payload, canonical_json, seal, unseal
from tests.crashes import make_crash

KEY = b"test-signing-key"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def payload(**kwargs: Any) -> Payload:
    return Payload.from_crash(make_crash(**kwargs), Occurrences().record(T0, host="game1"))


def test_canonical_json_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": ["ü", None]}) == '{"a":["ü",null],"b":1}'.encode()


def test_seal_then_unseal_returns_equal_payload():
    p = payload()
    assert unseal(*seal(p, KEY), KEY) == p


def test_unseal_wrong_key_raises_trust_error():
    with pytest.raises(TrustError, match="does not verify"):
        unseal(*seal(payload(), KEY), b"another-key")


def test_unseal_flipped_payload_byte_raises_trust_error():
    b64, mac = seal(payload(), KEY)
    data = bytearray(base64.b64decode(b64))
    data[10] ^= 0x01
    with pytest.raises(TrustError):
        unseal(base64.b64encode(bytes(data)).decode(), mac, KEY)


def test_unseal_signed_but_not_canonical_raises_trust_error():
    pretty = json.dumps(payload().to_json(), indent=2).encode()
    mac = hmac.new(KEY, b"crashbot:payload:v1\n" + pretty, hashlib.sha256).hexdigest()
    with pytest.raises(TrustError, match="canonical"):
        unseal(base64.b64encode(pretty).decode(), mac, KEY)


def test_unseal_signed_with_wrong_shape_raises_trust_error_naming_field():
    bad = payload().to_json()
    bad["frames_total"] = "many"
    data = canonical_json(bad)
    mac = hmac.new(KEY, b"crashbot:payload:v1\n" + data, hashlib.sha256).hexdigest()
    with pytest.raises(TrustError, match="frames_total"):
        unseal(base64.b64encode(data).decode(), mac, KEY)


def test_from_json_future_version_raises_trust_error():
    data = payload().to_json()
    data["v"] = 2
    with pytest.raises(TrustError, match="version 2"):
        Payload.from_json(data)


def test_seal_empty_key_raises_trust_error():
    with pytest.raises(TrustError, match="signing key is empty"):
        seal(payload(), b"")


def test_from_crash_lone_surrogate_becomes_replacement_character():
    p = payload(frames=(Frame(function="bad\udc80name", module="w.exe"),), meaningful=(0,))
    assert p.frames[0].function == "bad\ufffdname"
    assert unseal(*seal(p, KEY), KEY) == p


def test_fit_small_payload_is_unchanged():
    p = payload()
    assert p.fit(30_000) is p
    assert p.trimmed == ()


def test_fit_many_frames_keeps_innermost_prefix_and_records_it():
    frames = tuple(
        Frame(function=f"Fn{i}::Call", module="w.exe", file=f"src/f{i}.cpp", line=i) for i in range(5000)
    )
    p = payload(frames=frames, meaningful=tuple(range(5000)))
    fitted = p.fit(30_000)
    assert len(base64.b64encode(fitted.canonical())) <= 30_000
    kept = len(fitted.frames)
    assert 16 <= kept < 5000
    assert fitted.frames == p.frames[:kept]
    assert fitted.meaningful == tuple(range(kept))
    assert fitted.frames_total == 5000
    assert fitted.trimmed == (f"frames:{kept}/5000",)


def test_fit_is_deterministic():
    frames = tuple(Frame(function="F" * (i % 700 + 1), module="w.exe") for i in range(800))
    p = payload(frames=frames, meaningful=tuple(range(800)))
    assert p.fit(20_000) == p.fit(20_000)


def test_fit_huge_strings_caps_strings_rather_than_dropping_all_frames():
    frames = tuple(Frame(function="X" * 20_000 + str(i), module="w.exe") for i in range(40))
    p = payload(frames=frames, meaningful=tuple(range(40)))
    fitted = p.fit(30_000)
    assert len(base64.b64encode(fitted.canonical())) <= 30_000
    assert len(fitted.frames) >= 16
    assert any(note.startswith("strings:") for note in fitted.trimmed)
    assert all(len(f.function or "") <= 2048 for f in fitted.frames)


def test_occurrences_record_tracks_first_last_and_unique_hosts():
    occ = Occurrences().record(T0, host="a", realm="r1", build="abc")
    occ = occ.record(datetime(2024, 5, 2, tzinfo=UTC), host="b", build="abc")
    occ = occ.record(datetime(2024, 4, 30, tzinfo=UTC), host="a", count=3)
    assert occ.count == 5
    assert occ.first_seen == "2024-04-30T00:00:00Z"
    assert occ.last_seen == "2024-05-02T00:00:00Z"
    assert occ.hosts == ("b", "a")
    assert occ.builds == ("abc",)
    assert occ.realms == ("r1",)


def test_occurrences_lists_keep_the_most_recent_twenty():
    occ = Occurrences()
    for i in range(30):
        occ = occ.record(T0, host=f"h{i}")
    assert occ.hosts == tuple(f"h{i}" for i in range(10, 30))


def test_occurrences_mark_commented_resets_since_comment():
    occ = Occurrences().record(T0, count=4)
    assert occ.since_comment == 4
    occ = occ.mark_commented(T0).record(T0, count=2)
    assert occ.since_comment == 2
    assert occ.last_comment_at == "2024-05-01T12:00:00Z"


def test_occurrences_json_round_trip():
    occ = Occurrences().record(T0, host="h", realm="r", build="b").mark_commented(T0)
    assert Occurrences.from_json(occ.to_json()) == occ


def test_payload_to_crash_is_the_inverse_of_from_crash_for_what_the_issue_carries():
    """The runner rebuilds the crash from the issue alone: signing it again gives the same payload."""
    crash = make_crash()
    payload = Payload.from_crash(crash, Occurrences())
    rebuilt = payload.to_crash()
    assert Payload.from_crash(rebuilt, Occurrences()) == payload
    assert rebuilt.thread is not None and rebuilt.thread.frames == payload.frames
    assert rebuilt.signature == crash.signature and rebuilt.top_frame == crash.top_frame


def test_an_uncaught_exception_s_type_and_what_travel_in_the_payload():
    """The runner searches the checkout for what() (bot.fix.message): it must reach the issue's payload."""
    thrown = ExceptionInfo("SIGABRT", "uncaught exception", thrown_type="std::domain_error", what="Bad class")
    sealed = Payload.from_crash(make_crash(exception=thrown), Occurrences())
    assert sealed.to_json()["exception"]["type"] == "std::domain_error"
    rebuilt = Payload.from_json(json.loads(canonical_json(sealed.to_json())))
    assert rebuilt.exception == thrown


def test_a_payload_without_a_thrown_exception_has_exactly_the_keys_it_always_had():
    """Payloads of every other crash seal byte for byte as before: no ``type``/``what`` keys."""
    exception = payload(exception=ExceptionInfo("C0000005", "ACCESS_VIOLATION")).to_json()["exception"]
    assert set(exception) == {"code", "name", "address", "module", "module_offset"}


def test_unseal_non_ascii_mac_raises_trust_error_not_type_error():
    """hmac.compare_digest refuses non-ASCII str with TypeError, which no caller expects: an edited
    body with a lookalike digit in the mac must be 'not trusted', not a crash of the sweep."""
    b64, mac = seal(Payload.from_crash(make_crash(), Occurrences()), b"k")
    with pytest.raises(TrustError):
        unseal(b64, mac[:-1] + "\u0661", b"k")  # ARABIC-INDIC DIGIT ONE


def test_signature_aliases_round_trip_and_old_payloads_read_without_them():
    """Issue 12: a symbolicated crash carries its unresolved signature id; payloads sealed before that
    have no ``aliases`` key and still read."""
    crash = make_crash()
    aliased = dataclasses.replace(
        crash, signature=dataclasses.replace(crash.signature, aliases=("feedface00000000",))
    )
    p = Payload.from_crash(aliased, Occurrences().record(T0, host="game1"))
    assert unseal(*seal(p, KEY), KEY).signature.aliases == ("feedface00000000",)

    plain = payload()
    assert "aliases" not in plain.to_json()["signature"]
    assert Payload.from_json(plain.to_json()).signature.aliases == ()
