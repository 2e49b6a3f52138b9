"""A ``DeployReporter`` backed by GitHub: a Deployment with statuses, and the crash issues it fixes told.

The Deployment (environment = ``deploy.environment``, else the realm, else ``production``) goes
``in_progress`` when the server is about to be stopped, then ``success``, ``failure`` (rolled back:
the previous release runs) or ``error`` (the rollback failed too: the realm may be down). A build
that fails before the server is touched is a ``failure`` with "nothing changed".

After a successful deploy every crash issue closed by a change in the deployed range (the release
live before this run .. this sha) gets one comment "deployed in <sha> to <realm>" and the label
``fix-deployed``. A comment carries an invisible marker per realm and sha, so a rerun edits it
instead of adding another.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import DeploySettings
from bot.deploy.pipeline import DeployMode, DeployOutcome
from bot.errors import GitHubError
from bot.github import Comment, CommitRef, DeploymentRef, DeploymentStatusRef, IssueRef, NotFound, PullRef
from bot.vocabulary import (
    CRASH_LABEL,
    DEPLOY_FAILED_KIND,
    DEPLOYED_KIND,
    FIX_DEPLOYED,
    OPEN_PR_LABEL,
    LabelSpec,
    deploy_marker,
    realm_down_label,
)

logger = logging.getLogger(__name__)

DEFAULT_ENVIRONMENT = "production"
MAX_DESCRIPTION = 140  # GitHub refuses longer deployment (status) descriptions
SHORT_SHA = 12

# GitHub's closing keywords ("Fixes #12", "closes: owner/repo#12"); see
# https://docs.github.com/issues/tracking-your-work-with-issues/linking-a-pull-request-to-an-issue
CLOSING_RE = re.compile(
    r"""\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)   # the keyword, any tense
        \s*:?\s+
        (?:(?P<repo>[\w.-]+/[\w.-]+))?                 # another repository, optionally
        \#(?P<number>\d+)\b""",
    re.IGNORECASE | re.VERBOSE,
)
# The subject GitHub writes for a merge commit, and the "(#12)" it appends to a squash commit's subject
MERGE_SUBJECT_RE = re.compile(r"^Merge pull request #(?P<number>\d+) from \S+")
SQUASH_SUBJECT_RE = re.compile(r"\(#(?P<number>\d+)\)\s*$")


class DeployGitHub(Protocol):
    """The part of ``bot.github.GitHubClient`` the reporter uses (a test fake implements just this)."""

    repo: str

    def create_deployment(
        self, ref: str, environment: str, description: str, payload: Mapping[str, Any] | None = None
    ) -> DeploymentRef: ...

    def create_deployment_status(
        self,
        deployment_id: int,
        state: str,
        description: str,
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> DeploymentStatusRef: ...

    def compare(self, base: str, head: str) -> list[CommitRef]: ...

    def get_pull(self, number: int) -> PullRef: ...

    def get_issue(self, number: int) -> IssueRef: ...

    def upsert_comment(
        self, number: int, tag: str, body: str, *, author: str | None = None
    ) -> tuple[Comment, bool]: ...

    def ensure_labels(self, specs: Sequence[LabelSpec]) -> list[str]: ...

    def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]: ...

    def remove_label(self, number: int, label: str) -> None: ...

    def ensure_issue(
        self, dedup_label: str, title: str, body: str, labels: Sequence[str]
    ) -> tuple[IssueRef, bool]: ...

    def edit_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> IssueRef: ...


@dataclass(frozen=True)
class FixedIssue:
    """A crash issue whose fix is in the deployed range, and the change that closed it."""

    number: int
    title: str
    html_url: str
    via: str  # "#12" for a pull request, else the commit's short sha
    labels: tuple[str, ...] = ()


def environment_name(settings: DeploySettings) -> str:
    """The GitHub environment a realm deploys to."""
    return settings.environment or settings.realm or DEFAULT_ENVIRONMENT


def closing_references(text: str, repo: str) -> list[int]:
    """Issue numbers in ``repo`` that closing keywords in ``text`` name, in order, without repeats."""
    found: list[int] = []
    for match in CLOSING_RE.finditer(text):
        other = match.group("repo")
        if other is not None and other.lower() != repo.lower():
            continue
        number = int(match.group("number"))
        if number not in found:
            found.append(number)
    return found


def pull_number(message: str) -> int | None:
    """The pull request a merge or squash commit came from, going by the subject GitHub gives it."""
    subject = message.split("\n", 1)[0].strip()
    match = MERGE_SUBJECT_RE.match(subject) or SQUASH_SUBJECT_RE.search(subject)
    return int(match.group("number")) if match else None


def candidate_issues(commits: Iterable[CommitRef], pulls: Mapping[int, PullRef], repo: str) -> dict[int, str]:
    """Issue number -> the change that closes it, for the deployed ``commits`` (pure).

    A pull request counts when one of the commits is its merge (or squash) commit and it is merged;
    its body and title are read. A commit's own message counts too (direct pushes, rebase merges).
    """
    shas = {c.sha for c in commits}
    found: dict[int, str] = {}
    for commit in commits:  # pull requests first: "#12" says more than a commit sha
        number = pull_number(commit.message)
        pull = pulls.get(number) if number is not None else None
        if pull is None or not pull.merged:
            continue
        if pull.merge_commit_sha and pull.merge_commit_sha not in shas:
            continue
        for issue in closing_references(f"{pull.title}\n{pull.body}", repo):
            found.setdefault(issue, f"#{pull.number}")
    for commit in commits:
        for issue in closing_references(commit.message, repo):
            found.setdefault(issue, commit.sha[:SHORT_SHA])
    return found


def fixed_issues(client: DeployGitHub, *, base: str, head: str) -> list[FixedIssue]:
    """Crash issues closed by the changes in ``base..head`` (pull requests and commit messages)."""
    commits = client.compare(base, head)
    pulls: dict[int, PullRef] = {}
    for commit in commits:
        number = pull_number(commit.message)
        if number is None or number in pulls:
            continue
        try:
            pulls[number] = client.get_pull(number)
        except NotFound:
            logger.info("commit %s names pull request #%d, which does not exist", commit.sha[:12], number)
    issues = []
    for number, via in sorted(candidate_issues(commits, pulls, client.repo).items()):
        try:
            issue = client.get_issue(number)
        except NotFound:
            logger.info("%s closes #%d, which does not exist; skipped", via, number)
            continue
        if issue.is_pull or CRASH_LABEL not in issue.labels:
            continue
        issues.append(FixedIssue(issue.number, issue.title, issue.html_url, via, issue.labels))
    return issues


def deployed_comment(issue: FixedIssue, *, sha: str, realm: str, release: str, run_url: str = "") -> str:
    run = f" ([deploy run]({run_url}))" if run_url else ""
    return (
        f"Deployed in {sha} to {realm}{run}.\n\n"
        f"The fix ({issue.via}) is live in release `{release}`: a crash with this signature from a build "
        f"at or after {sha[:SHORT_SHA]} means the fix did not cure it."
    )


def failed_comment(issue: FixedIssue, *, sha: str, realm: str, reason: str, run_url: str = "") -> str:
    run = f" See the [deploy run]({run_url})." if run_url else ""
    return (
        f"**Deploying {sha} to {realm} failed, and so did the rollback: the realm may be down.**\n\n"
        f"The fix ({issue.via}) is not live. {reason}\n\nSomeone needs to look at the server now.{run}"
    )


def realm_down_comment(*, sha: str, realm: str, reason: str, run_url: str = "") -> str:
    run = f" See the [deploy run]({run_url})." if run_url else ""
    return (
        f"**Deploying {sha} to {realm} failed, and so did the rollback: the realm may be down.**\n\n"
        f"{reason}\n\nSomeone needs to look at the server now.{run}"
    )


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


class GitHubDeployReporter:
    """Reports one deploy run to GitHub. Each method may raise ``GitHubError``; the pipeline records
    that as a note and carries on, so GitHub being down never leaves a half-done deploy."""

    def __init__(
        self,
        client: DeployGitHub,
        settings: DeploySettings,
        *,
        release_sha: Callable[[str], str | None],
        run_url: str = "",
    ) -> None:
        """``release_sha`` maps a release name to its commit (``Releases.get``), so the range of
        fixes starts at the release that was live before this run."""
        self.client = client
        self.settings = settings
        self.environment = environment_name(settings)
        self.realm = settings.realm or self.environment
        self.run_url = run_url
        self._release_sha = release_sha
        self.deployment: DeploymentRef | None = None
        self.base: str | None = None  # the sha live before this run
        self.told: list[FixedIssue] = []  # issues commented on by this run

    def started(self, *, sha: str, release: str, previous: str | None) -> None:
        self.base = self._release_sha(previous) if previous else None
        payload = {
            "realm": self.realm,
            "release": release,
            "previous_release": previous or "",
            "previous_sha": self.base or "",
        }
        self.deployment = self.client.create_deployment(
            sha, self.environment, _clip(f"crashbot: {release} to {self.realm}"), payload
        )
        self._status("in_progress", f"stopping the server to make {release} live")

    def succeeded(self, outcome: DeployOutcome) -> None:
        what = "rolled back to" if outcome.mode is DeployMode.ROLLBACK else "live:"
        status_error: GitHubError | None = None
        try:
            self._status("success", f"{what} {outcome.live or outcome.release}")
        except GitHubError as e:  # the fix is live all the same: its issues still hear about it
            status_error = e
        if outcome.mode is DeployMode.DEPLOY:
            self._tell_fixed(outcome)
        if status_error is not None:
            raise status_error

    def _tell_fixed(self, outcome: DeployOutcome) -> None:
        if self.base is None:
            logger.info("no release was live before %s: no deployed range, so no issue is told", outcome.sha)
            return
        issues = fixed_issues(self.client, base=self.base, head=outcome.sha)
        if issues:
            self.client.ensure_labels([FIX_DEPLOYED])
        for issue in issues:
            body = deployed_comment(
                issue, sha=outcome.sha, realm=self.realm, release=outcome.release or "", run_url=self.run_url
            )
            self.client.upsert_comment(
                issue.number, deploy_marker(DEPLOYED_KIND, self.realm, outcome.sha).tag, body
            )
            self.client.add_labels(issue.number, [FIX_DEPLOYED.name])
            if OPEN_PR_LABEL in issue.labels:  # its PR is merged: the fix pipeline's "PR open" mark is stale
                self.client.remove_label(issue.number, OPEN_PR_LABEL)
            self.told.append(issue)
        logger.info("told %d fixed crash issue(s) about %s", len(issues), outcome.sha[:SHORT_SHA])

    def rolled_back(self, outcome: DeployOutcome) -> None:
        self._status("failure", f"rolled back to {outcome.live}: {outcome.reason}")

    def failed_loudly(self, outcome: DeployOutcome) -> None:
        status_error: GitHubError | None = None
        try:
            self._status("error", f"REALM MAY BE DOWN: {outcome.reason}")
        except GitHubError as e:  # the issue comments are the louder half: still try them
            status_error = e
        if self.base is not None and outcome.sha:
            for issue in fixed_issues(self.client, base=self.base, head=outcome.sha):
                body = failed_comment(
                    issue, sha=outcome.sha, realm=self.realm, reason=outcome.reason, run_url=self.run_url
                )
                self.client.upsert_comment(
                    issue.number, deploy_marker(DEPLOY_FAILED_KIND, self.realm, outcome.sha).tag, body
                )
                self.told.append(issue)
        if not self.told:
            self._realm_down_issue(outcome)
        if status_error is not None:
            raise status_error

    def _realm_down_issue(self, outcome: DeployOutcome) -> None:
        """No crash issue names this deploy, yet a realm left down must be said on an issue: one
        standing issue per realm, found by its label, reopened when it happens again."""
        spec = realm_down_label(self.realm)
        self.client.ensure_labels([spec])
        body = realm_down_comment(
            sha=outcome.sha or "(no commit)", realm=self.realm, reason=outcome.reason, run_url=self.run_url
        )
        issue, created = self.client.ensure_issue(
            spec.name, f"crashbot: realm {self.realm} may be down after a failed deploy", body, [spec.name]
        )
        if not created:
            if issue.state == "closed":
                self.client.edit_issue(issue.number, state="open", state_reason="reopened")
            self.client.upsert_comment(
                issue.number, deploy_marker(DEPLOY_FAILED_KIND, self.realm, outcome.sha or "none").tag, body
            )
        logger.error("realm %s may be down: told issue #%d", self.realm, issue.number)

    def aborted(self, outcome: DeployOutcome) -> None:
        if not outcome.sha:  # a --rollback with nothing to roll back to: there is no commit to name
            return
        self.deployment = self.client.create_deployment(
            outcome.sha, self.environment, _clip(f"crashbot: {outcome.sha[:SHORT_SHA]} to {self.realm}")
        )
        self._status("failure", outcome.reason)

    def _status(self, state: str, description: str) -> None:
        if self.deployment is None:
            raise GitHubError(
                f"no deployment to set to {state!r}: creating it failed earlier; see the previous warning"
            )
        self.client.create_deployment_status(
            self.deployment.id, state, _clip(description), log_url=self.run_url or None
        )
