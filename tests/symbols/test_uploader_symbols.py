"""The signature rule end to end on the stand-in: the same crash on the same build is one issue whether
or not the uploader could symbolicate it, in either order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.artefacts import WindowsBuild, wheaty_report
from bot.config import SymbolsSettings
from bot.crash import analyse, parse_report
from bot.issue import sig_label
from bot.standin import StandIn
from bot.symbols.service import crash_reader
from bot.symbols.store import SymbolStore
from tests.uploader.rig import Rig, make_rig

REVISION = "3c5e0d7a91b2"


@pytest.fixture
def store(tmp_path: Path, windows_build: WindowsBuild) -> SymbolStore:
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(windows_build.exe, release)
    shutil.copy(windows_build.pdb, release)
    store = SymbolStore(tmp_path / "store")
    store.add(release, revision=REVISION)
    return store


def _rig(tmp: Path, standin: StandIn, store: SymbolStore | None) -> Rig:
    reader = crash_reader(SymbolsSettings(store=str(store.root)), env={}) if store is not None else None
    return make_rig(tmp, standin, crash_of=reader)


def _file(rig: Rig, build: WindowsBuild, n: int) -> int:
    report = rig.crash_dir / f"{REVISION}_worldserver.exe_[2026_3_14_21_47_{n}].txt"
    text = wheaty_report(build, [0x63, 0x4C, 0x9], revision=REVISION).replace("Time 21:47", f"Time 21:{n}")
    report.write_text(text)
    rig.intake.take(report)
    numbers = []
    for batch in rig.spool.due_batches():
        published = rig.publisher.publish([batch])
        rig.spool.mark_uploaded(batch, published.issue.number)
        numbers.append(published.issue.number)
    assert len(numbers) == 1
    return numbers[0]


def test_unresolved_first_then_symbolicated_counts_on_the_same_issue(
    tmp_path: Path, standin: StandIn, store: SymbolStore, windows_build: WindowsBuild
) -> None:
    unresolved_id = analyse(parse_report(wheaty_report(windows_build, [0x63, 0x4C, 0x9]))).signature.id
    plain = _rig(tmp_path / "plain", standin, None)
    first = _file(plain, windows_build, 1)
    assert "### Symbols missing" in plain.issue(first)["body"]
    assert "crashbot symbols add" in plain.issue(first)["body"]

    resolving = _rig(tmp_path / "resolving", standin, store)
    second = _file(resolving, windows_build, 2)

    assert second == first and len(resolving.issues()) == 1
    payload = resolving.payload(first)
    assert payload.signature.aliases == (unresolved_id,)
    assert payload.occurrences.count == 2
    assert payload.top_frame is not None and payload.top_frame.function == "ReadMapId"
    assert {sig_label(payload.signature.id), sig_label(unresolved_id)} <= resolving.labels(first)
    assert "### Symbols missing" not in resolving.issue(first)["body"]
    plain.close()
    resolving.close()


def test_symbolicated_first_then_unresolved_counts_on_the_same_issue(
    tmp_path: Path, standin: StandIn, store: SymbolStore, windows_build: WindowsBuild
) -> None:
    resolving = _rig(tmp_path / "resolving", standin, store)
    first = _file(resolving, windows_build, 1)
    assert len(resolving.payload(first).signature.aliases) == 1

    plain = _rig(tmp_path / "plain", standin, None)  # another realm's uploader, without the store
    second = _file(plain, windows_build, 2)

    assert second == first and len(plain.issues()) == 1
    assert plain.payload(first).occurrences.count == 2
    # the issue keeps showing the symbolicated crash rather than the bare report that came second
    top = plain.payload(first).top_frame
    assert top is not None and top.function == "ReadMapId"
    assert "### Symbols missing" not in plain.issue(first)["body"]
    assert "### Environment" in plain.issue(first)["body"]  # the host's part of the body it showed
    plain.close()
    resolving.close()
