"""``crashbot dashboard`` against the loopback stand-in: one issue, written only on change, fixes verified."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from bot.dashboard.sync import Action, DashboardSettings, sync
from bot.github import GitHubClient
from bot.issue import labels_for, read_payload, render_body, render_title
from bot.payload import Occurrences
from bot.standin import Fault, Limits, StandIn
from bot.vocabulary import (
    ANALYSIS,
    DASHBOARD_LABEL,
    FIX_DEPLOYED_LABEL,
    FIX_VERIFIED_LABEL,
    VERIFIED,
    deploy_marker,
)
from tests.conftest import UPLOADER_LOGIN
from tests.crashes import make_crash
from tests.uploader.rig import KEY, REPO, TOKEN

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = DashboardSettings(key=KEY)


def file_crash(gh: GitHubClient, n: int, occ: Occurrences, *, realm: str | None = "main") -> int:
    crash = make_crash(signature_id=f"{n:016x}")
    body = render_body(crash, occ, repo=REPO, payload_key=KEY)
    return gh.create_issue(render_title(crash) + f" {n}", body, labels_for(crash, realm=realm)).number


def history(*days_ago_counts: tuple[int, int], build: str = "8b1aa4b0d4ee") -> Occurrences:
    occ = Occurrences()
    for days_ago, count in days_ago_counts:
        occ = occ.record(NOW - timedelta(days=days_ago), realm="main", build=build, count=count)
    return occ


def dashboards(standin: StandIn) -> list[dict]:
    return [
        i
        for i in standin.issues(REPO)
        if DASHBOARD_LABEL in {label["name"] for label in i["labels"]} and i["state"] == "open"
    ]


def writes(standin: StandIn) -> list[tuple[str, str]]:
    return [(w.method, w.path) for w in standin.writes() if w.status != 0]


def test_three_runs_leave_one_dashboard_issue_written_once(standin: StandIn, gh: GitHubClient) -> None:
    file_crash(gh, 1, history((0, 2)))
    results = [sync(gh, SETTINGS, now=NOW) for _ in range(3)]
    assert [r.action for r in results] == [Action.CREATED, Action.UNCHANGED, Action.UNCHANGED]
    [dash] = dashboards(standin)
    assert dash["number"] == results[0].issue
    assert dash["title"] == "Crash dashboard"


def test_an_unchanged_page_costs_no_write_and_a_new_crash_costs_one_edit(
    standin: StandIn, gh: GitHubClient
) -> None:
    number = file_crash(gh, 1, history((0, 2)))
    sync(gh, SETTINGS, now=NOW)
    standin.clear_requests()
    sync(gh, SETTINGS, now=NOW)
    assert writes(standin) == []

    issue = gh.get_issue(number)
    occ = read_payload(issue.body, KEY).occurrences.record(NOW, realm="main", build="8b1aa4b0d4ee")
    gh.edit_issue(
        number, body=render_body(make_crash(signature_id=f"{1:016x}"), occ, repo=REPO, payload_key=KEY)
    )
    standin.clear_requests()
    result = sync(gh, SETTINGS, now=NOW)
    assert result.action is Action.EDITED
    assert writes(standin) == [("PATCH", f"/repos/{REPO}/issues/{result.issue}")]
    assert "| 3 | 3 |" in gh.get_issue(result.issue).body


def test_rows_are_ranked_by_the_last_seven_days_not_the_total(standin: StandIn, gh: GitHubClient) -> None:
    old_storm = file_crash(gh, 1, history((30, 500), (8, 10)))  # 510 in total, none this week
    steady = file_crash(gh, 2, history((1, 3), (2, 3)))  # 6 this week
    burst = file_crash(gh, 3, history((0, 9)))  # 9 today
    result = sync(gh, SETTINGS, now=NOW)
    body = gh.get_issue(result.issue).body
    order = [body.index(f"[#{n}](") for n in (burst, steady, old_storm)]
    assert order == sorted(order)
    assert "**3** open crash signature(s); **15** crash(es) in the 7 days" in body


def test_a_deleted_dashboard_is_recreated(standin: StandIn, gh: GitHubClient) -> None:
    file_crash(gh, 1, history((0, 1)))
    first = sync(gh, SETTINGS, now=NOW)
    standin.delete_issue(REPO, first.issue)
    second = sync(gh, SETTINGS, now=NOW)
    assert second.action is Action.CREATED and second.issue != first.issue
    assert len(dashboards(standin)) == 1


def test_an_edited_or_closed_dashboard_is_restored(standin: StandIn, gh: GitHubClient) -> None:
    file_crash(gh, 1, history((0, 1)))
    first = sync(gh, SETTINGS, now=NOW)
    original = gh.get_issue(first.issue).body
    gh.edit_issue(first.issue, body=original + "\n\nsomeone's note", state="closed")
    again = sync(gh, SETTINGS, now=NOW)
    assert (again.issue, again.action) == (first.issue, Action.EDITED)
    restored = gh.get_issue(first.issue)
    assert (restored.state, restored.body) == ("open", original)


def test_a_human_labelled_issue_is_not_taken_for_the_dashboard(standin: StandIn, gh: GitHubClient) -> None:
    file_crash(gh, 1, history((0, 1)))
    other = gh.create_issue("Roadmap", "our plans", [DASHBOARD_LABEL])
    result = sync(gh, SETTINGS, now=NOW)
    assert result.action is Action.CREATED and result.issue != other.number
    assert gh.get_issue(other.number).body == "our plans"


def test_payloads_without_history_or_unreadable_are_listed_without_trends(
    standin: StandIn, gh: GitHubClient
) -> None:
    old = file_crash(
        gh, 1, Occurrences(count=12, first_seen="2024-01-01T00:00:00Z", last_seen="2024-02-01T00:00:00Z")
    )
    tampered = file_crash(gh, 2, history((0, 1)))
    body = gh.get_issue(tampered).body
    gh.edit_issue(tampered, body=body.replace("crashbot:hmac ", "crashbot:hmac 00"))
    result = sync(gh, SETTINGS, now=NOW)
    page = gh.get_issue(result.issue).body
    assert f"[#{old}](" in page and "| 0 | 12 |" in page
    assert f"[#{tampered}](" in page and "payload unreadable" in page


def test_a_deployed_fix_is_verified_after_a_significant_silence(standin: StandIn, gh: GitHubClient) -> None:
    # 24 crashes on each of the two days before the deploy day: λ = 48 / 48 h = 1 per hour. The deploy
    # comment is written "now" (the stand-in's clock); five silent hours later P(0) = e^-5 = 0.67 %.
    number = file_crash(gh, 1, history((2, 24), (1, 24)))
    sha = "0" * 39 + "1"
    gh.create_comment(number, deploy_marker("deployed", "main", sha).tag + "\nDeployed in " + sha)
    gh.add_labels(number, [FIX_DEPLOYED_LABEL])
    gh.edit_issue(number, state="closed")
    deployed = datetime.fromisoformat(gh.list_comments(number)[-1].created_at.replace("Z", "+00:00"))

    early = sync(gh, SETTINGS, now=deployed + timedelta(hours=4))
    assert early.verified == ()
    assert "h to go" in gh.get_issue(early.issue).body

    late = sync(gh, SETTINGS, now=deployed + timedelta(hours=5))
    assert late.verified == (number,)
    assert FIX_VERIFIED_LABEL in gh.get_issue(number).labels
    [comment] = [c for c in gh.list_comments(number) if VERIFIED.in_text(c.body)]
    assert "**48** crash(es) in 48.0 hours of wall clock" in comment.body
    assert "**0.67%** < 1%" in comment.body
    assert "| **verified** |" in gh.get_issue(late.issue).body

    standin.clear_requests()
    sync(gh, SETTINGS, now=deployed + timedelta(hours=6))
    assert not any("/labels" in path or "/comments" in path for _, path in writes(standin))


def test_a_crash_on_a_build_with_the_fix_is_not_verified(standin: StandIn, gh: GitHubClient) -> None:
    head = subprocess.run(
        ["git", "-C", str(standin.repo_path(REPO)), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    sha = head.stdout.strip()  # the deployed fix; the crash's build is that very commit
    number = file_crash(gh, 1, history((2, 24), (1, 24), build=sha[:12]))
    gh.create_comment(number, deploy_marker("deployed", "main", sha).tag + "\nDeployed in " + sha)
    gh.add_labels(number, [FIX_DEPLOYED_LABEL])
    result = sync(gh, SETTINGS, now=NOW + timedelta(days=3))
    assert result.verified == ()
    assert "crash(es) on builds containing the fix" in gh.get_issue(result.issue).body
    assert FIX_VERIFIED_LABEL not in gh.get_issue(number).labels


@pytest.mark.slow
def test_a_thousand_signatures_on_the_stand_in_fit_in_one_body(standin: StandIn, gh: GitHubClient) -> None:
    standin.limits = Limits(secondary=False, core_per_hour=100_000)  # filing 1,000 issues is the setup
    for n in range(1, 1001):
        file_crash(gh, n, history((n % 9, 1 + n % 4)), realm=None)
    result = sync(gh, SETTINGS, now=NOW)
    body = gh.get_issue(result.issue).body
    assert len(body) < 65_536
    assert "**1000** open crash signature(s)" in body
    assert "<summary>975 more open signature(s)</summary>" in body
    assert sync(gh, SETTINGS, now=NOW).action is Action.UNCHANGED


def test_a_crash_with_crashbots_analysis_comment_is_analysed(standin: StandIn, gh: GitHubClient) -> None:
    analysed = file_crash(gh, 1, history((0, 2)))
    fresh = file_crash(gh, 2, history((0, 1)))
    gh.create_comment(analysed, ANALYSIS.tag + "\n### Crash analysis")
    gh.create_comment(fresh, "a person's comment that mentions no marker")
    body = gh.get_issue(sync(gh, SETTINGS, now=NOW).issue).body
    row = {
        n: next(line for line in body.splitlines() if line.startswith(f"| [#{n}]("))
        for n in (analysed, fresh)
    }
    assert row[analysed].endswith("| **analysed** |") and row[fresh].endswith("| **new** |")


def test_an_issue_whose_fix_cannot_be_assessed_still_leaves_a_current_page(
    standin: StandIn, gh: GitHubClient
) -> None:
    number = file_crash(gh, 1, history((2, 24), (1, 24)))
    gh.add_labels(number, [FIX_DEPLOYED_LABEL])
    standin.inject(Fault.validation("GET", f"/repos/{REPO}/issues/{number}/comments*"))
    result = sync(gh, SETTINGS, now=NOW)
    assert result.action is Action.CREATED and result.verified == ()
    assert "not assessed" in gh.get_issue(result.issue).body


def test_a_new_dashboard_is_pinned_once_through_graphql(standin: StandIn, gh: GitHubClient) -> None:
    file_crash(gh, 1, history((0, 2)))
    first = sync(gh, SETTINGS, now=NOW)
    assert standin.pinned(REPO) == [first.issue]
    standin.clear_requests()
    assert sync(gh, SETTINGS, now=NOW).action is Action.UNCHANGED
    assert writes(standin) == []  # a page already there is not pinned again (a person may have unpinned it)


def test_a_refused_pin_still_leaves_a_current_dashboard_and_says_to_pin_it_by_hand(
    standin: StandIn, gh: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    others = [gh.create_issue(f"note {n}", "text", []).number for n in range(3)]
    assert all(gh.pin_issue(n) for n in others)
    file_crash(gh, 1, history((0, 2)))
    result = sync(gh, SETTINGS, now=NOW)
    assert result.action is Action.CREATED
    assert standin.pinned(REPO) == others  # GitHub pins at most three issues per repository
    assert "did not pin" in caplog.text and "pin it by hand" in caplog.text


def test_pinning_needs_write_access_and_is_refused_without_it(standin: StandIn, gh: GitHubClient) -> None:
    number = gh.create_issue("note", "text", []).number
    standin.set_permission(REPO, f"{UPLOADER_LOGIN}[bot]", "triage")  # the uploader token is a Bot's
    assert gh.pin_issue(number) is False
    assert standin.pinned(REPO) == []


def test_the_stand_in_answers_only_the_pin_mutation(standin: StandIn) -> None:
    import requests

    answer = requests.post(
        standin.api_url.removesuffix("/v3") + "/graphql",
        json={"query": "query { viewer { login } }"},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 400
