"""The GitHub deploy reporter: Deployment statuses per outcome, the fixed-issue range, idempotent comments."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import DeploySettings
from bot.deploy.github_reporter import (
    GitHubDeployReporter,
    candidate_issues,
    closing_references,
    environment_name,
    fixed_issues,
    pull_number,
)
from bot.deploy.pipeline import DeployMode, DeployOutcome, DeployStatus
from bot.errors import GitHubError
from bot.github import (
    Comment,
    CommitRef,
    DeploymentRef,
    DeploymentStatusRef,
    IssueRef,
    NotFound,
    PullRef,
)
from bot.vocabulary import FIX_DEPLOYED, LabelSpec, deploy_marker

REPO = "acme/worldserver"
BASE, HEAD = "a" * 40, "f" * 40


def commit(sha: str, message: str) -> CommitRef:
    return CommitRef(sha=sha, message=message, author="dev")


def pull(
    number: int, body: str, *, merge_sha: str | None, merged: bool = True, title: str = "fix"
) -> PullRef:
    return PullRef(
        number=number,
        state="closed",
        merged=merged,
        head_ref=f"crashfix/{number}",
        head_sha="1" * 40,
        base_ref="main",
        html_url=f"https://github.test/{REPO}/pull/{number}",
        author="crashbot[bot]",
        body=body,
        labels=(),
        title=title,
        merge_commit_sha=merge_sha,
    )


def issue(number: int, labels: Sequence[str] = ("crash",), *, is_pull: bool = False) -> IssueRef:
    return IssueRef(
        number=number,
        title=f"Crash {number}",
        body="",
        state="closed",
        state_reason="completed",
        labels=tuple(labels),
        author="uploader",
        html_url=f"https://github.test/{REPO}/issues/{number}",
        created_at="",
        updated_at="",
        comments=0,
        is_pull=is_pull,
    )


@dataclass
class FakeGitHub:
    """Records what the reporter asks of ``GitHubClient``; only the methods it may use exist."""

    repo: str = REPO
    commits: dict[tuple[str, str], list[CommitRef]] = field(default_factory=dict)
    pulls: dict[int, PullRef] = field(default_factory=dict)
    issues: dict[int, IssueRef] = field(default_factory=dict)
    deployments: list[DeploymentRef] = field(default_factory=list)
    statuses: dict[int, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    comments: dict[int, list[Comment]] = field(default_factory=dict)
    labels: dict[int, list[str]] = field(default_factory=dict)
    repo_labels: list[str] = field(default_factory=list)
    removed: list[tuple[int, str]] = field(default_factory=list)
    edits: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    fail_create_deployment: bool = False
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def create_deployment(
        self, ref: str, environment: str, description: str, payload: Mapping[str, Any] | None = None
    ) -> DeploymentRef:
        if self.fail_create_deployment:
            raise GitHubError("create deployment: HTTP 502")
        ref_ = DeploymentRef(next(self.ids), ref, ref, environment, description, "", dict(payload or {}))
        self.deployments.append(ref_)
        return ref_

    def create_deployment_status(
        self,
        deployment_id: int,
        state: str,
        description: str,
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> DeploymentStatusRef:
        assert len(description) <= 140
        self.statuses.setdefault(deployment_id, []).append((state, description, log_url))
        return DeploymentStatusRef(next(self.ids), state, description, environment_url or "", log_url or "")

    def compare(self, base: str, head: str) -> list[CommitRef]:
        return self.commits[(base, head)]

    def get_pull(self, number: int) -> PullRef:
        if number not in self.pulls:
            raise NotFound(f"read PR #{number}: Not Found")
        return self.pulls[number]

    def get_issue(self, number: int) -> IssueRef:
        if number not in self.issues:
            raise NotFound(f"read issue #{number}: Not Found")
        return self.issues[number]

    def upsert_comment(
        self, number: int, tag: str, body: str, *, author: str | None = None
    ) -> tuple[Comment, bool]:
        text = f"{tag}\n{body}"
        existing = self.comments.setdefault(number, [])
        for i, c in enumerate(existing):
            if tag in c.body:
                existing[i] = Comment(c.id, text, "crashbot[bot]", "", "")
                return existing[i], False
        made = Comment(next(self.ids), text, "crashbot[bot]", "", "")
        existing.append(made)
        return made, True

    def ensure_labels(self, specs: Sequence[LabelSpec]) -> list[str]:
        new = [s.name for s in specs if s.name not in self.repo_labels]
        self.repo_labels.extend(new)
        return new

    def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]:
        have = self.labels.setdefault(number, [])
        have.extend(label for label in labels if label not in have)
        return tuple(have)

    def remove_label(self, number: int, label: str) -> None:
        self.removed.append((number, label))

    def ensure_issue(
        self, dedup_label: str, title: str, body: str, labels: Sequence[str]
    ) -> tuple[IssueRef, bool]:
        for existing in self.issues.values():
            if dedup_label in existing.labels:
                return existing, False
        number = 100 + len(self.issues)
        made = replace(issue(number, labels), title=title, body=body, state="open", state_reason=None)
        self.issues[number] = made
        return made, True

    def edit_issue(self, number: int, **changes: Any) -> IssueRef:
        self.edits.append((number, changes))
        self.issues[number] = replace(self.issues[number], **{k: v for k, v in changes.items() if v})
        return self.issues[number]

    def states(self, deployment: int = 1) -> list[str]:
        return [s for s, _, _ in self.statuses.get(deployment, [])]


SETTINGS = DeploySettings(realm="blackrock", install_dir="/srv/wow")
SHAS = {"r1": BASE, "r2": HEAD}


def reporter(gh: FakeGitHub, settings: DeploySettings = SETTINGS, run_url: str = "") -> GitHubDeployReporter:
    return GitHubDeployReporter(gh, settings, release_sha=SHAS.get, run_url=run_url)


def outcome(status: DeployStatus, *, mode: DeployMode = DeployMode.DEPLOY, sha: str = HEAD) -> DeployOutcome:
    live = {
        DeployStatus.SUCCEEDED: "r2",
        DeployStatus.ROLLED_BACK: "r1",
        DeployStatus.FAILED: None,
        DeployStatus.ABORTED: "r1",
    }[status]
    return DeployOutcome(
        status, mode, sha, f"the reason ({status.value})", release="r2", previous="r1", live=live
    )


def fixed_range(gh: FakeGitHub) -> None:
    """#7 closed by merged PR #12 (merge commit), #8 by a squash commit of PR #13, #9 in a plain commit."""
    gh.commits[(BASE, HEAD)] = [
        commit("b" * 40, "Fix null player in whisper\n\nFixes #7 in the commit too"),
        commit("c" * 40, "Merge pull request #12 from acme/crashfix/abc\n\nFix null player"),
        commit("d" * 40, "Guard the aura list (#13)\n\n* Guard the aura list"),
        commit("e" * 40, "Tidy logging, resolves #9"),
    ]
    gh.pulls[12] = pull(12, "Fixes #7\n\nCrash signature abc.", merge_sha="c" * 40)
    gh.pulls[13] = pull(13, "Closes: #8", merge_sha="d" * 40)
    gh.issues.update({7: issue(7), 8: issue(8), 9: issue(9)})


# ------------------------------------------------------------------------------------------------
# pure parts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fixes #12", [12]),
        ("fixed #3, closes #4 and resolves #5", [3, 4, 5]),
        ("Close #1\nCLOSED #2\nResolve #3\nfix #4", [1, 2, 3, 4]),
        ("Fixes: #6", [6]),
        ("Fixes acme/worldserver#7", [7]),
        ("Fixes ACME/WorldServer#7", [7]),
        ("Fixes other/repo#7", []),
        ("Fixes #7 and fixes #7 again", [7]),
        ("See #12; prefixes #3; fixes#4", []),
        ("Fixes issue 12", []),
    ],
)
def test_closing_references_reads_github_keywords_for_this_repo_only(text: str, expected: list[int]) -> None:
    assert closing_references(text, REPO) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Merge pull request #12 from acme/crashfix/abc\n\nFix", 12),
        ("Guard the aura list (#13)\n\n* Guard", 13),
        ("Guard the aura list (#13)  ", 13),
        ("Refer to (#13) in the middle of a subject", None),
        ("Plain commit\n\nMerge pull request #12 from x/y", None),
        ("Merge branch 'main' into crashfix/abc", None),
    ],
)
def test_pull_number_reads_merge_and_squash_subjects(message: str, expected: int | None) -> None:
    assert pull_number(message) == expected


def test_candidate_issues_takes_merged_pulls_in_range_and_commit_messages() -> None:
    commits = [
        commit("c" * 40, "Merge pull request #12 from acme/crashfix/abc"),
        commit("d" * 40, "Merge pull request #14 from acme/crashfix/def"),
        commit("e" * 40, "Merge pull request #15 from acme/crashfix/ghi"),
        commit("9" * 40, "Direct push, fixes #30"),
    ]
    pulls = {
        12: pull(12, "Fixes #20", merge_sha="c" * 40),
        14: pull(14, "Fixes #21", merge_sha="7" * 40),  # its merge commit is not in the range
        15: pull(15, "Fixes #22", merge_sha=None, merged=False),  # closed unmerged
    }
    assert candidate_issues(commits, pulls, REPO) == {20: "#12", 30: "9" * 12}


def test_environment_name_prefers_environment_then_realm_then_production() -> None:
    assert environment_name(DeploySettings(environment="prod-eu", realm="blackrock")) == "prod-eu"
    assert environment_name(DeploySettings(realm="blackrock")) == "blackrock"
    assert environment_name(DeploySettings()) == "production"


# ------------------------------------------------------------------------------------------------
# fixed_issues over the client


def test_fixed_issues_keeps_only_crash_labelled_issues_that_exist() -> None:
    gh = FakeGitHub()
    gh.commits[(BASE, HEAD)] = [
        commit("c" * 40, "Merge pull request #12 from acme/crashfix/abc"),
        commit("d" * 40, "Merge pull request #99 from acme/gone"),  # a PR the API no longer has
    ]
    gh.pulls[12] = pull(12, "Fixes #7, fixes #8, fixes #10, fixes #11", merge_sha="c" * 40)
    gh.issues.update({7: issue(7), 8: issue(8, ["enhancement"]), 10: issue(10, is_pull=True)})

    found = fixed_issues(gh, base=BASE, head=HEAD)

    assert [(i.number, i.via) for i in found] == [(7, "#12")]


def test_fixed_issues_of_an_empty_range_is_empty() -> None:
    gh = FakeGitHub()
    gh.commits[(HEAD, HEAD)] = []
    assert fixed_issues(gh, base=HEAD, head=HEAD) == []


# ------------------------------------------------------------------------------------------------
# the reporter


def test_reporter_success_comments_once_per_fixed_issue_and_labels_it() -> None:
    gh = FakeGitHub()
    fixed_range(gh)
    rep = reporter(gh, run_url="https://github.test/acme/worldserver/actions/runs/5")

    rep.started(sha=HEAD, release="r2", previous="r1")
    rep.succeeded(outcome(DeployStatus.SUCCEEDED))

    deployment = gh.deployments[0]
    assert (deployment.ref, deployment.environment) == (HEAD, "blackrock")
    assert deployment.payload["previous_sha"] == BASE and deployment.payload["release"] == "r2"
    assert gh.states(deployment.id) == ["in_progress", "success"]
    assert all(log == "https://github.test/acme/worldserver/actions/runs/5" for *_, log in gh.statuses[1])
    assert sorted(gh.comments) == [7, 8, 9]
    for number in (7, 8, 9):
        [only] = gh.comments[number]
        assert f"Deployed in {HEAD} to blackrock" in only.body
        assert deploy_marker("deployed", "blackrock", HEAD).tag in only.body
        assert gh.labels[number] == [FIX_DEPLOYED.name]
    assert "(#12)" in gh.comments[7][0].body and "(#13)" in gh.comments[8][0].body
    assert gh.repo_labels == ["fix-deployed"]
    assert [i.number for i in rep.told] == [7, 8, 9]


def test_reporter_drops_the_stale_open_pr_mark_of_a_deployed_fix() -> None:
    """The fix pipeline marks an issue ``crash-fix-pr`` while its PR is open; once deployed it is merged."""
    gh = FakeGitHub()
    fixed_range(gh)
    gh.issues[7] = issue(7, ("crash", "crash-fix-pr"))
    rep = reporter(gh)
    rep.started(sha=HEAD, release="r2", previous="r1")
    rep.succeeded(outcome(DeployStatus.SUCCEEDED))
    assert gh.removed == [(7, "crash-fix-pr")]


def test_reporter_rerun_of_the_same_sha_edits_instead_of_repeating_comments() -> None:
    gh = FakeGitHub()
    fixed_range(gh)
    for _ in range(2):
        rep = reporter(gh)
        rep.started(sha=HEAD, release="r2", previous="r1")
        rep.succeeded(outcome(DeployStatus.SUCCEEDED))
    assert all(len(gh.comments[n]) == 1 for n in (7, 8, 9))
    assert gh.labels[7] == ["fix-deployed"]


def test_reporter_rollback_is_a_failure_status_and_tells_no_issue() -> None:
    gh = FakeGitHub()
    fixed_range(gh)
    rep = reporter(gh)
    rep.started(sha=HEAD, release="r2", previous="r1")
    rep.rolled_back(outcome(DeployStatus.ROLLED_BACK))
    assert gh.states() == ["in_progress", "failure"]
    assert "rolled back to r1" in gh.statuses[1][-1][1]
    assert gh.comments == {} and gh.labels == {}


def test_reporter_failed_rollback_is_an_error_status_and_a_loud_comment_on_each_issue() -> None:
    gh = FakeGitHub()
    fixed_range(gh)
    rep = reporter(gh)
    rep.started(sha=HEAD, release="r2", previous="r1")
    rep.failed_loudly(outcome(DeployStatus.FAILED))
    assert gh.states() == ["in_progress", "error"]
    assert gh.statuses[1][-1][1].startswith("REALM MAY BE DOWN")
    for number in (7, 8, 9):
        [only] = gh.comments[number]
        assert "the realm may be down" in only.body and "the reason (failed)" in only.body
    assert gh.labels == {}  # the fix is not live


def test_reporter_failed_rollback_with_no_fix_in_range_opens_one_realm_down_issue() -> None:
    """A realm left down must be said on an issue even when no crash issue names the deploy."""
    gh = FakeGitHub()
    gh.commits[(BASE, HEAD)] = [commit("f" * 40, "Refactor the config loader")]
    rep = reporter(gh)
    rep.started(sha=HEAD, release="r2", previous="r1")
    rep.failed_loudly(outcome(DeployStatus.FAILED))
    [down] = [i for i in gh.issues.values() if "realm-down:blackrock" in i.labels]
    assert down.state == "open" and "blackrock may be down" in down.title
    assert "the realm may be down" in down.body and "the reason (failed)" in down.body
    assert "realm-down:blackrock" in gh.repo_labels

    # it happens again after someone closed the issue: the same issue is reopened and told
    gh.issues[down.number] = replace(down, state="closed", state_reason="completed")
    rep2 = reporter(gh)
    rep2.started(sha=HEAD, release="r2", previous="r1")
    rep2.failed_loudly(outcome(DeployStatus.FAILED))
    assert [i.number for i in gh.issues.values() if "realm-down:blackrock" in i.labels] == [down.number]
    assert gh.issues[down.number].state == "open"
    assert any("may be down" in c.body for c in gh.comments[down.number])


def test_reporter_failed_loudly_still_comments_when_the_deployment_could_not_be_created() -> None:
    gh = FakeGitHub(fail_create_deployment=True)
    fixed_range(gh)
    rep = reporter(gh)
    with pytest.raises(GitHubError):
        rep.started(sha=HEAD, release="r2", previous="r1")
    with pytest.raises(GitHubError, match="no deployment"):
        rep.failed_loudly(outcome(DeployStatus.FAILED))
    assert sorted(gh.comments) == [7, 8, 9]


def test_reporter_success_still_tells_issues_when_the_deployment_could_not_be_created() -> None:
    gh = FakeGitHub(fail_create_deployment=True)
    fixed_range(gh)
    rep = reporter(gh)
    with pytest.raises(GitHubError):
        rep.started(sha=HEAD, release="r2", previous="r1")
    with pytest.raises(GitHubError, match="no deployment"):
        rep.succeeded(outcome(DeployStatus.SUCCEEDED))
    assert sorted(gh.comments) == [7, 8, 9] and gh.labels[7] == ["fix-deployed"]


def test_reporter_first_deploy_has_no_range_and_tells_no_issue() -> None:
    gh = FakeGitHub()
    rep = reporter(gh)
    rep.started(sha=HEAD, release="r2", previous=None)
    rep.succeeded(outcome(DeployStatus.SUCCEEDED))
    assert gh.states() == ["in_progress", "success"]
    assert gh.comments == {}


def test_reporter_rollback_mode_success_names_the_release_and_tells_no_issue() -> None:
    gh = FakeGitHub()
    fixed_range(gh)
    rep = reporter(gh)
    rep.started(sha=BASE, release="r1", previous="r2")
    rep.succeeded(outcome(DeployStatus.SUCCEEDED, mode=DeployMode.ROLLBACK, sha=BASE))
    assert gh.deployments[0].ref == BASE
    assert gh.states() == ["in_progress", "success"] and "rolled back to" in gh.statuses[1][-1][1]
    assert gh.comments == {}


def test_reporter_aborted_build_records_a_failed_deployment_without_touching_issues() -> None:
    gh = FakeGitHub()
    fixed_range(gh)
    rep = reporter(gh)
    rep.aborted(outcome(DeployStatus.ABORTED))
    assert gh.deployments[0].ref == HEAD
    assert gh.states() == ["failure"]
    assert gh.comments == {}


def test_reporter_aborted_rollback_without_a_commit_records_nothing() -> None:
    gh = FakeGitHub()
    reporter(gh).aborted(outcome(DeployStatus.ABORTED, mode=DeployMode.ROLLBACK, sha=""))
    assert gh.deployments == []


def test_reporter_clips_long_reasons_to_githubs_description_limit(tmp_path: Path) -> None:
    gh = FakeGitHub()
    rep = reporter(gh)
    rep.started(sha=HEAD, release="r2", previous="r1")
    long = DeployOutcome(DeployStatus.ROLLED_BACK, DeployMode.DEPLOY, HEAD, "x " * 400, live="r1")
    rep.rolled_back(long)  # the fake asserts <= 140 chars
    assert gh.statuses[1][-1][1].endswith("…")


def test_reporter_environment_from_settings_reaches_the_deployment() -> None:
    gh = FakeGitHub()
    rep = reporter(gh, DeploySettings(realm="blackrock", environment="eu-prod"))
    rep.started(sha=HEAD, release="r2", previous=None)
    assert gh.deployments[0].environment == "eu-prod"
    assert gh.deployments[0].payload["realm"] == "blackrock"
