"""The runner's side: ``crashbot fix`` resolves the bare frames an issue carries from the store, and the
issue it rewrites still verifies (same uploader, re-sealed payload, both ``sig:`` labels)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.artefacts import WindowsBuild, wheaty_report
from bot.config import SymbolsSettings
from bot.fix.pipeline import verify
from bot.issue import sig_label
from bot.standin import StandIn
from bot.symbols.runner import issue_symbolicator
from bot.symbols.store import SymbolStore
from tests.uploader.rig import KEY, make_rig

REVISION = "3c5e0d7a91b2"


def test_fix_resolves_the_issue_crash_and_rewrites_a_verifiable_issue(
    tmp_path: Path, standin: StandIn, windows_build: WindowsBuild
) -> None:
    rig = make_rig(tmp_path / "host", standin)  # the game host has no store
    report = rig.crash_dir / f"{REVISION}_worldserver.exe_[2026_3_14_21_47_1].txt"
    report.write_text(wheaty_report(windows_build, [0x63, 0x4C, 0x9], revision=REVISION))
    rig.intake.take(report)
    (batch,) = rig.spool.due_batches()
    number = rig.publisher.publish([batch]).issue.number
    issue = rig.client.get_issue(number)
    before = verify(issue, uploader=issue.author, key=KEY)
    assert before.top_frame is None

    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(windows_build.exe, release)
    shutil.copy(windows_build.pdb, release)
    store = SymbolStore(tmp_path / "store")
    store.add(release, revision=REVISION)
    resolve = issue_symbolicator(
        SymbolsSettings(store=str(store.root)), client=rig.client, key=KEY, server_url=standin.web_url
    )

    crash = resolve(issue, before)

    assert crash is not None and crash.top_frame is not None and crash.top_frame.function == "ReadMapId"
    after_issue = rig.client.get_issue(number)
    after = verify(after_issue, uploader=issue.author, key=KEY)
    assert after.signature.id == crash.signature.id
    assert after.signature.aliases == (before.signature.id,)
    assert {sig_label(before.signature.id), sig_label(after.signature.id)} <= set(after_issue.labels)
    assert after.occurrences == before.occurrences
    # what only the host's report had (the payload carries the crashing thread alone) is still shown
    host_only = ("### Environment",)
    assert [h for h in host_only if h in issue.body] == list(host_only)
    assert [h for h in host_only if h in after_issue.body] == list(host_only)
    rig.close()


def test_fix_without_the_build_in_the_store_leaves_the_issue_alone(
    tmp_path: Path, standin: StandIn, windows_build: WindowsBuild
) -> None:
    rig = make_rig(tmp_path / "host", standin)
    report = rig.crash_dir / f"{REVISION}_worldserver.exe_[2026_3_14_21_47_1].txt"
    report.write_text(wheaty_report(windows_build, [0x63], revision=REVISION))
    rig.intake.take(report)
    (batch,) = rig.spool.due_batches()
    number = rig.publisher.publish([batch]).issue.number
    issue = rig.client.get_issue(number)
    writes = len(rig.writes())
    resolve = issue_symbolicator(
        SymbolsSettings(store=str(tmp_path / "empty-store")),
        client=rig.client,
        key=KEY,
        server_url=standin.web_url,
    )

    assert resolve(issue, verify(issue, uploader=issue.author, key=KEY)) is None
    assert len(rig.writes()) == writes
    rig.close()
