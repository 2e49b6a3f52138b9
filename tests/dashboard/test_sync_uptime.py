"""``crashbot dashboard`` with the uploaders' uptime ledgers on the stand-in: rates per hour of uptime,
fixes verified on the hours builds containing them actually ran, forged ledgers ignored with a note."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.dashboard.sync import Action, sync
from bot.github import GitHubClient
from bot.ledger import Ledger
from bot.payload import iso_utc
from bot.standin import StandIn
from bot.uploader.processes import ServerProcess
from bot.uploader.sessions import SessionStore
from bot.uploader.uptime_ledger import LedgerPublisher, render
from bot.vocabulary import FIX_DEPLOYED_LABEL, FIX_VERIFIED_LABEL, UPTIME_LABEL, VERIFIED, deploy_marker
from tests.dashboard.test_sync import SETTINGS, file_crash, history
from tests.uploader.rig import KEY, REPO

OLD = "8b1aa4b0d4ee"  # the build the crash history was recorded on (tests.dashboard.test_sync.history)


def publish_ledger(gh: GitHubClient, ledger: Ledger, key: bytes = KEY) -> int:
    """A ledger issue as the uploader writes it (bot.uploader.uptime_ledger.render)."""
    return gh.create_issue(f"Uptime ledger: {ledger.realm}", render(ledger, key), [UPTIME_LABEL]).number


def deployed_fix(standin: StandIn, gh: GitHubClient, number: int) -> tuple[str, datetime]:
    """Deploy the stand-in repository's HEAD as the fix of crash ``number``: (its sha, when)."""
    head = subprocess.run(
        ["git", "-C", str(standin.repo_path(REPO)), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    gh.create_comment(number, deploy_marker("deployed", "main", head).tag + "\nDeployed in " + head)
    gh.add_labels(number, [FIX_DEPLOYED_LABEL])
    gh.edit_issue(number, state="closed")
    at = datetime.fromisoformat(gh.list_comments(number)[-1].created_at.replace("Z", "+00:00"))
    return head, at


def day(moment: datetime, offset: int) -> str:
    return (moment.date() + timedelta(days=offset)).isoformat()


def test_a_fix_is_verified_on_the_hours_builds_containing_it_actually_ran(
    standin: StandIn, gh: GitHubClient
) -> None:
    # 24 crashes on each of the two days before the deploy day, while the server ran 6 h a day (the
    # ledger): λ = 48 / 12 h = 4 per hour. Since the deploy the fixed build ran 1.5 h: λt = 6,
    # P(0) = e^-6 = 0.25 % < 1 %. On the wall clock (3 h since the deploy at 1 per hour) it would still
    # be waiting: e^-3 = 5 %.
    number = file_crash(gh, 1, history((2, 24), (1, 24)))
    fix, deployed = deployed_fix(standin, gh, number)
    publish_ledger(
        gh,
        Ledger(
            "main",
            "game1",
            since=day(deployed, -3),
            updated=iso_utc(deployed),
            up=(
                (OLD, day(deployed, -2), 360),
                (OLD, day(deployed, -1), 360),
                (fix[:12], day(deployed, 0), 90),
            ),
        ),
    )
    result = sync(gh, SETTINGS, now=deployed + timedelta(hours=3))
    assert result.verified == (number,)
    e = result.evidence[number]
    assert (e.basis.value, e.hours_before, e.hours_after) == ("hours of uptime", 12.0, 1.5)
    assert e.p_zero == pytest.approx(0.002479, abs=1e-6)
    assert FIX_VERIFIED_LABEL in gh.get_issue(number).labels
    [comment] = [c for c in gh.list_comments(number) if VERIFIED.in_text(c.body)]
    assert "**48** crash(es) in 12.0 hours of uptime" in comment.body
    assert "**0** crashes in 1.5 hours of uptime on builds containing the fix" in comment.body


def test_without_a_ledger_covering_the_history_the_evidence_says_wall_clock(
    standin: StandIn, gh: GitHubClient
) -> None:
    number = file_crash(gh, 1, history((2, 24), (1, 24)))
    _, deployed = deployed_fix(standin, gh, number)
    # this uploader began recording only yesterday: the day before, its uptime is unknown
    publish_ledger(
        gh,
        Ledger("main", "game1", day(deployed, -1), "2026-01-01T00:00:00Z", ((OLD, day(deployed, -1), 360),)),
    )
    result = sync(gh, SETTINGS, now=deployed + timedelta(hours=3))
    e = result.evidence[number]
    assert (e.basis.value, e.hours_before, e.verdict.value) == ("hours of wall clock", 48.0, "waiting")


def test_a_forged_ledger_is_ignored_with_a_note_on_the_page(standin: StandIn, gh: GitHubClient) -> None:
    number = file_crash(gh, 1, history((2, 24), (1, 24)))
    fix, deployed = deployed_fix(standin, gh, number)
    # someone without the key "proves" the fix with a ledger of a thousand silent hours
    forged = Ledger(
        "main",
        "game1",
        day(deployed, -3),
        "2026-01-01T00:00:00Z",
        ((OLD, day(deployed, -2), 60), (fix[:12], day(deployed, 0), 1440)),
    )
    ledger_issue = publish_ledger(gh, forged, key=b"a-key-that-is-not-the-uploaders-key")
    result = sync(gh, SETTINGS, now=deployed + timedelta(hours=3))
    assert result.verified == ()
    assert result.evidence[number].basis.value == "hours of wall clock"
    page = gh.get_issue(result.issue).body
    assert f"uptime ledger #{ledger_issue} ignored: uptime ledger signature does not verify" in page


def test_the_page_shows_rates_per_hour_of_uptime_from_a_ledger_the_uploader_published(
    standin: StandIn, gh: GitHubClient, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    file_crash(gh, 1, history((1, 3), (0, 1), build="cccccccccccc"))
    store = SessionStore(tmp_path / "spool.sqlite3")
    start = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    store.begin_watch("main", start.timestamp())
    store.open("main", ServerProcess(7, start, ""), "cccccccccccc", start.timestamp())
    [session] = store.open_sessions("main")
    end = start + timedelta(hours=40)  # 24 h yesterday and 16 h today (the test may run before 16:00)
    store.alive([session.id], end.timestamp())
    LedgerPublisher(gh, store, key=KEY, realm="main", host="game1").publish(end.timestamp())
    store.close()
    result = sync(gh, SETTINGS, now=max(now, end))
    page = gh.get_issue(result.issue).body
    assert "**4** crash(es) in the 7 days" in page
    assert "**40** hours of uptime on the realms: 10.0 crash-free hours per crash" in page
    assert "## Crash rate per build, per hour of uptime" in page
    assert "| `cccccccccccc` | 40.0 | 4 | 10.00 | 10.0 |" in page


def test_a_page_from_a_ledger_is_rewritten_only_when_it_changed(standin: StandIn, gh: GitHubClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    file_crash(gh, 1, history((0, 1)))
    publish_ledger(gh, Ledger("main", "game1", day(now, -1), iso_utc(now), ((OLD, day(now, 0), 60),)))
    assert sync(gh, SETTINGS, now=now).action is Action.CREATED
    assert sync(gh, SETTINGS, now=now).action is Action.UNCHANGED
    newer = iso_utc(now + timedelta(minutes=5))
    publish_ledger(gh, Ledger("main", "game1", day(now, -1), newer, ((OLD, day(now, 0), 120),)))
    assert sync(gh, SETTINGS, now=now).action is Action.EDITED
