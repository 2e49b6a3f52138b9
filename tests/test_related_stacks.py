"""A sanitizer's free and allocation stacks travel with the crash: issue body, signed payload, fix prompt."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

from bot.crash import analyse, parse_report
from bot.crash.model import Crash, StackRole
from bot.fix.pipeline import crash_text
from bot.issue import read_payload, render_body
from bot.payload import Occurrences, Payload, canonical_json, seal, unseal
from tests.crashes import make_crash

KEY = b"test-signing-key"
ASAN = """\
==18257==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc 0x1 bp 0x2 sp 0x3
READ of size 4 at 0x602000000010 thread T0
    #0 0x56524f413283 in Unit::ReadHealth() /src/server/game/Entities/Unit.cpp:10:25
    #1 0x56524f4132b4 in World::Update(unsigned int) /src/server/game/World/World.cpp:15:5

freed by thread T0 here:
    #0 0x7fb0f04ba3c8 in operator delete(void*, unsigned long) ../../../../src/libsanitizer/asan/asan_new_delete.cpp:164
    #1 0x56524f41323d in Map::Despawn(Unit*) /src/server/game/Maps/Map.cpp:9:35
    #2 0x56524f4132a8 in World::Update(unsigned int) /src/server/game/World/World.cpp:14:5

previously allocated by thread T0 here:
    #0 0x7fb0f04b94c8 in operator new(unsigned long) ../../../../src/libsanitizer/asan/asan_new_delete.cpp:95
    #1 0x56524f4131cb in Map::Spawn() /src/server/game/Maps/Map.cpp:8:35

SUMMARY: AddressSanitizer: heap-use-after-free /src/server/game/Entities/Unit.cpp:10:25 in Unit::ReadHealth()
"""


def asan_crash() -> Crash:
    return analyse(parse_report(ASAN))


def test_issue_body_shows_free_and_allocation_stacks_folded() -> None:
    body = render_body(asan_crash(), Occurrences(count=1), repo="o/r", payload_key=KEY)
    assert "<summary>freed by thread T0 here (3 frames)</summary>" in body
    assert "<summary>previously allocated by thread T0 here (2 frames)</summary>" in body
    assert "#1 Map::Despawn src/server/game/Maps/Map.cpp:9:35" in body
    assert body.index("### Crashing thread") < body.index("freed by thread T0 here")


def test_issue_title_and_kind_label_name_the_sanitizer_error() -> None:
    from bot.issue import labels_for, render_title

    crash = asan_crash()
    assert render_title(crash) == "crash: Unit::ReadHealth (heap-use-after-free)"
    assert "crash:sanitizer" in labels_for(crash, realm=None)


def test_payload_carries_related_stacks_through_seal_and_back() -> None:
    crash = asan_crash()
    payload = Payload.from_crash(crash, Occurrences(count=1))
    restored = unseal(*seal(payload, KEY), KEY)
    assert [s.role for s in restored.related] == [StackRole.FREED, StackRole.ALLOCATED]
    assert restored.related[0].frames[1].function == "Map::Despawn"
    assert restored.related[0].frames[1].column == 35
    assert restored.to_crash().report.related == restored.related


def test_payload_of_a_crash_without_related_stacks_or_columns_has_neither_key() -> None:
    """Other crashes' payloads keep the bytes crashbots sealed before related stacks and columns existed."""
    data = json.loads(Payload.from_crash(make_crash(), Occurrences(count=1)).canonical())
    assert "related" not in data
    assert all("column" not in f for f in data["frames"])


def test_payload_sealed_before_related_stacks_existed_still_reads() -> None:
    old = json.loads(Payload.from_crash(make_crash(), Occurrences(count=1)).canonical())
    b64 = base64.b64encode(canonical_json(old)).decode("ascii")
    _, mac = seal(Payload.from_json(old), KEY)
    assert unseal(b64, mac, KEY).related == ()


def test_payload_fit_trims_related_stacks_with_the_crashing_thread() -> None:
    crash = asan_crash()
    many = crash.frames * 400
    big = dataclasses.replace(crash, frames=many, meaningful=tuple(range(len(many))))
    fitted = Payload.from_crash(big, Occurrences(count=1)).fit(6000)
    assert len(base64.b64encode(fitted.canonical())) <= 6000
    assert any(t.startswith("related:") for t in fitted.trimmed)
    assert all(len(s.frames) <= len(fitted.frames) for s in fitted.related)


def test_issue_body_payload_reads_back_with_related_stacks() -> None:
    body = render_body(asan_crash(), Occurrences(count=1), repo="o/r", payload_key=KEY)
    assert [s.role for s in read_payload(body, KEY).related] == [StackRole.FREED, StackRole.ALLOCATED]


def test_fix_prompt_crash_text_lists_the_free_and_allocation_sites() -> None:
    payload = Payload.from_crash(asan_crash(), Occurrences(count=1))
    text = crash_text(payload)
    assert "freed by thread T0 here (freed stack, innermost first):" in text
    assert re.search(r"#1 Map::Despawn at /src/server/game/Maps/Map\.cpp:9:35", text)
    assert "previously allocated by thread T0 here (allocated stack" in text


def test_issue_body_says_what_the_report_could_not_read() -> None:
    text = "crashbot: note: the core is of 'worldserver' with build-id ab, but '/x' has build-id cd\n" + ASAN
    body = render_body(analyse(parse_report(text)), Occurrences(count=1), repo="o/r", payload_key=KEY)
    assert "> What could not be read:" in body
    assert "> - the core is of 'worldserver' with build-id ab, but '/x' has build-id cd" in body
