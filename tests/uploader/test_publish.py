"""Publisher: a signature's batches -> one issue, counted exactly once, with one edit per update."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reports import BASE_REVISION, signature_id, write_report
from bot.issue import read_payload, render_title
from bot.standin import Fault, StandIn
from bot.uploader.publish import Outcome, Published, web_url_for
from bot.uploader.spool import Batch
from bot.vocabulary import fix_branch, sig_label
from tests.fakes import FakeClock
from tests.gitutil import git
from tests.uploader.rig import HOST, KEY, REPO, Rig, make_rig

SIG = signature_id(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rig(tmp_path: Path, standin: StandIn, clock: FakeClock) -> Iterator[Rig]:
    made = make_rig(tmp_path, standin, clock=clock)
    yield made
    made.close()


def spool_batches(rig: Rig, *occurrences: tuple[int, int], revision: str = BASE_REVISION) -> list[Batch]:
    for sig, n in occurrences:
        rig.intake.take(write_report(rig.crash_dir, sig, n, revision=revision))
    return rig.spool.due_batches()


def spool_and_publish(rig: Rig, *occurrences: tuple[int, int]) -> list[Published]:
    """Intake the reports, then publish each due batch and mark it uploaded, as the service does."""
    results = []
    for batch in spool_batches(rig, *occurrences):
        result = rig.publisher.publish([batch])
        rig.spool.mark_uploaded(batch, result.issue.number)
        results.append(result)
    return results


def test_publish_new_signature_files_one_issue_with_labels_and_a_verified_payload(rig: Rig) -> None:
    [batch] = spool_batches(rig, (0, 0))
    result = rig.publisher.publish([batch])
    assert result.outcome is Outcome.CREATED
    [issue] = rig.issues()
    assert issue["number"] == result.issue.number
    assert {"crash", sig_label(SIG), "crash:access-violation"} <= rig.labels(issue["number"])
    assert issue["title"].startswith("crash: Field::GetUInt32V0")
    payload = read_payload(issue["body"], KEY)
    occ = payload.occurrences
    assert (occ.count, occ.hosts, occ.builds, occ.batches) == (1, (HOST,), (BASE_REVISION,), (batch.id,))
    assert occ.since_comment == 0  # the issue itself told everyone about the first occurrence
    assert payload.signature.id == SIG
    posts = [w.path for w in rig.writes() if w.method == "POST"]
    assert posts.count(f"/repos/{REPO}/issues") == 1


def test_publish_second_report_of_the_same_crash_counts_on_the_same_issue_with_one_edit(
    rig: Rig, clock: FakeClock
) -> None:
    spool_and_publish(rig, (0, 0))
    clock.advance(120)
    before = len(rig.writes())
    [batch] = spool_batches(rig, (0, 1), revision="aaaabbbbcccc")
    result = rig.publisher.publish([batch])
    assert result.outcome is Outcome.UPDATED
    assert len(rig.issues()) == 1
    writes = rig.writes()[before:]
    assert [(w.method, w.path) for w in writes] == [("PATCH", f"/repos/{REPO}/issues/{result.issue.number}")]
    occ = rig.payload(result.issue.number).occurrences
    assert occ.count == 2
    assert occ.builds == (BASE_REVISION, "aaaabbbbcccc")
    assert occ.first_seen < occ.last_seen
    assert len(occ.batches) == 2


def test_publish_the_same_batch_again_writes_nothing(rig: Rig) -> None:
    [batch] = spool_batches(rig, (0, 0))
    first = rig.publisher.publish([batch])
    before = len(rig.writes())
    again = rig.publisher.publish([batch])
    assert again.outcome is Outcome.ALREADY_COUNTED
    assert again.already == (batch.id,)
    assert len(rig.writes()) == before
    assert rig.payload(first.issue.number).occurrences.count == 1


def test_publish_a_retry_holding_old_and_new_batches_counts_only_the_new(rig: Rig) -> None:
    [old] = spool_batches(rig, (0, 0))
    number = rig.publisher.publish([old]).issue.number  # committed, but the spool never heard (kill -9)
    rig.intake.take(write_report(rig.crash_dir, 0, 1))
    batches = rig.spool.due_batches()
    assert {b.id for b in batches} == {old.id, batches[-1].id} and len(batches) == 2
    result = rig.publisher.publish(batches)
    assert result.counted == (batches[-1].id,) and result.already == (old.id,)
    assert rig.payload(number).occurrences.count == 2


def test_publish_closed_issue_that_recurs_is_reopened_as_a_regression_in_one_edit(
    rig: Rig, standin: StandIn
) -> None:
    spool_and_publish(rig, (0, 0))
    number = rig.issues()[0]["number"]
    rig.client.edit_issue(number, state="closed", state_reason="completed")
    before = len(rig.writes())
    [batch] = spool_batches(rig, (0, 1))
    result = rig.publisher.publish([batch])
    assert result.outcome is Outcome.REOPENED
    issue = rig.issue(number)
    assert issue["state"] == "open"
    assert "regression" in rig.labels(number)
    assert rig.payload(number).occurrences.count == 2
    writes = [(w.method, w.path) for w in rig.writes()[before:]]
    patches = [w for w in writes if w[0] == "PATCH"]
    assert patches == [("PATCH", f"/repos/{REPO}/issues/{number}")]
    comments = standin.comments(REPO, number)
    assert len(comments) == 1 and "Seen again **1** time" in comments[0]["body"]


def test_publish_issue_closed_as_not_planned_stays_closed_but_counts(rig: Rig, standin: StandIn) -> None:
    spool_and_publish(rig, (0, 0))
    number = rig.issues()[0]["number"]
    rig.client.edit_issue(number, state="closed", state_reason="not_planned")
    [batch] = spool_batches(rig, (0, 1))
    result = rig.publisher.publish([batch])
    assert result.outcome is Outcome.UPDATED
    issue = rig.issue(number)
    assert (issue["state"], issue["state_reason"]) == ("closed", "not_planned")
    assert "regression" not in rig.labels(number)
    assert rig.payload(number).occurrences.count == 2
    assert standin.comments(REPO, number) == []


def test_publish_prefers_the_open_issue_over_a_closed_one(rig: Rig) -> None:
    label = sig_label(SIG)
    rig.client.create_issue("old report", "closed long ago", ["crash", label])
    rig.client.edit_issue(1, state="closed", state_reason="completed")
    spool_and_publish(rig, (0, 0))  # the closed one has no payload: it is rewritten and reopened ...
    rig.client.create_issue("a human's duplicate", "open", ["crash", label])
    rig.client.edit_issue(1, state="closed", state_reason="completed")
    [batch2] = spool_batches(rig, (0, 1))
    result = rig.publisher.publish([batch2])  # ... and now the open #2 wins
    assert result.issue.number == 2


def test_publish_seen_again_comment_at_most_once_per_interval(
    tmp_path: Path, standin: StandIn, clock: FakeClock
) -> None:
    rig = make_rig(tmp_path, standin, clock=clock, comment_interval_s=3600)
    try:
        spool_and_publish(rig, (0, 0))
        number = rig.issues()[0]["number"]
        clock.advance(1800)
        spool_and_publish(rig, (0, 1))
        assert standin.comments(REPO, number) == []  # within the hour of the issue's creation
        clock.advance(1801)
        spool_and_publish(rig, (0, 2), (0, 3))
        comments = standin.comments(REPO, number)
        assert len(comments) == 1
        assert "Seen again **3** times" in comments[0]["body"] and "**4** in total" in comments[0]["body"]
        clock.advance(60)
        spool_and_publish(rig, (0, 4))
        assert len(standin.comments(REPO, number)) == 1
        occ = rig.payload(number).occurrences
        assert (occ.count, occ.since_comment) == (5, 1)
    finally:
        rig.close()


def test_publish_ambiguous_create_502_after_commit_files_exactly_one_issue(
    rig: Rig, standin: StandIn
) -> None:
    standin.inject(Fault.error_after_commit("POST", f"/repos/{REPO}/issues"))
    [batch] = spool_batches(rig, (0, 0))
    result = rig.publisher.publish([batch])
    assert result.outcome is Outcome.CREATED
    assert len(rig.issues()) == 1
    assert rig.payload(result.issue.number).occurrences.batches == (batch.id,)


def test_publish_issue_with_a_tampered_payload_is_rewritten_from_our_record(rig: Rig) -> None:
    spool_and_publish(rig, (0, 0))
    number = rig.issues()[0]["number"]
    body = rig.issue(number)["body"].replace("crashbot:hmac ", "crashbot:hmac 00")
    rig.client.edit_issue(number, body=body)
    [batch] = spool_batches(rig, (0, 1))
    result = rig.publisher.publish([batch])
    assert result.outcome is Outcome.UPDATED
    assert rig.payload(number).occurrences.count == 1  # the forged count is not trusted


def test_publish_issue_filed_by_another_realm_gains_our_realm_label_in_the_same_edit(
    tmp_path: Path, standin: StandIn, clock: FakeClock
) -> None:
    east = make_rig(tmp_path / "east", standin, clock=clock, realm="East")
    west = make_rig(tmp_path / "west", standin, clock=clock, realm="West")
    try:
        spool_and_publish(east, (0, 0))
        number = east.issues()[0]["number"]
        assert "realm:east" in east.labels(number)
        before = len(west.writes())
        spool_and_publish(west, (0, 1))
        assert {"realm:east", "realm:west"} <= west.labels(number)
        assert west.payload(number).occurrences.realms == ("East", "West")
        assert [w.method for w in west.writes()[before:] if w.path.startswith(f"/repos/{REPO}/issues")] == [
            "PATCH"
        ]
    finally:
        east.close()
        west.close()


def test_publish_title_matches_the_issue_renderer(rig: Rig) -> None:
    [batch] = spool_batches(rig, (2, 0))
    result = rig.publisher.publish([batch])
    from bot.crash import analyse, parse_report

    assert result.issue.title == render_title(analyse(parse_report(batch.reports[0].text)))


def test_publish_rejects_mixed_signatures(rig: Rig) -> None:
    batches = spool_batches(rig, (0, 0), (1, 0))
    with pytest.raises(ValueError, match="one signature"):
        rig.publisher.publish(batches)


@pytest.mark.parametrize(
    ("api_url", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com"),
        ("http://127.0.0.1:5000/api/v3", "http://127.0.0.1:5000"),
    ],
)
def test_web_url_for_api_url(api_url: str, web: str) -> None:
    assert web_url_for(api_url) == web


def test_publish_recurrence_on_a_build_without_the_merged_fix_is_no_regression(
    rig: Rig, standin: StandIn, tmp_path: Path
) -> None:
    """A realm still running the old binary (not redeployed yet) crashing again must not reopen the
    fixed issue as a regression; the same crash on a build that contains the fix must."""
    spool_and_publish(rig, (0, 0))
    [issue] = rig.issues()
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(standin.repo_path(REPO)), str(work))
    (work / "server.cpp").write_text("int main() { return 0; }\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "server v1")
    git(work, "push", "-q", "origin", "HEAD:main")
    old_build = git(work, "rev-parse", "--short=12", "HEAD")
    branch = fix_branch(SIG)
    git(work, "checkout", "-qb", branch)
    (work / "server.cpp").write_text("int main() { return 0; } // null check\n")
    git(work, "commit", "-qam", "Fix the crash")
    git(work, "push", "-q", "origin", branch)
    pull, _ = rig.client.ensure_pull(branch, "main", "Fix crash", f"Fixes #{issue['number']}")
    merged = rig.client.merge_pull(pull.number)
    assert rig.issue(issue["number"])["state"] == "closed"

    [old] = spool_batches(rig, (0, 1), revision=old_build)
    result = rig.publisher.publish([old])
    rig.spool.mark_uploaded(old, result.issue.number)
    assert result.outcome is Outcome.UPDATED
    assert rig.issue(issue["number"])["state"] == "closed"
    assert "regression" not in rig.labels(issue["number"])
    assert rig.payload(issue["number"]).occurrences.count == 2

    [new] = spool_batches(rig, (0, 2), revision=merged.sha[:12])
    assert rig.publisher.publish([new]).outcome is Outcome.REOPENED
    assert "regression" in rig.labels(issue["number"])


def test_publish_new_primary_id_with_a_known_full_id_counts_on_the_existing_issue(rig: Rig) -> None:
    """A frame-rule change that moves the top frames changes the primary id but not the fuller one:
    the crash must still land on its issue, which then carries both ids' labels (Sentry's dual hash)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from bench.reports import report_text
    from bot.crash import analyse, parse_report
    from bot.issue import Occurrences, labels_for, render_body, render_title

    crash = analyse(parse_report(report_text(0, 0)))
    old_id = "0123456789abcdef"
    assert crash.signature.id != old_id
    older = replace(crash, signature=replace(crash.signature, id=old_id))  # same full_id
    occ = Occurrences().record(datetime(2026, 1, 1, tzinfo=UTC), host=HOST, build="e9bcae1fada6")
    body = render_body(older, occ, repo=REPO, server_url="https://github.com", payload_key=KEY)
    issue = rig.client.create_issue(render_title(older), body, list(labels_for(older, realm=None)))

    [batch] = spool_batches(rig, (0, 1))
    result = rig.publisher.publish([batch])

    assert result.issue.number == issue.number and len(rig.issues()) == 1
    assert rig.payload(issue.number).occurrences.count == 2
    assert {sig_label(old_id), sig_label(crash.signature.id)} <= rig.labels(issue.number)


def test_publish_records_each_occurrence_in_the_payload_history(rig: Rig, clock: FakeClock) -> None:
    spool_and_publish(rig, (0, 0))
    clock.advance(120)
    spool_and_publish(rig, (0, 1))
    occ = rig.payload(rig.issue_for(SIG)["number"]).occurrences
    assert occ.dated == occ.count == 2
    assert occ.build_counts == ((BASE_REVISION, 2),)
