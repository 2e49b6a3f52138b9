"""``crashbot dashboard``: read the crash issues, fix PRs and deployments; verify fixes; write the page.

The only module of the dashboard that talks to GitHub (through :mod:`bot.github`'s client, passed in).
It finds its issue by the dashboard label (never search), takes only an issue whose body carries its
marker (a label a person put on some other issue is ignored), and writes only when the page changed.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from bot import ledger as ledgers
from bot.dashboard import render as page
from bot.dashboard.model import FixPull, Row, State, loop_figures, ranked
from bot.dashboard.uptime import Deployed, LiveSpan, Recorded, covered_since, hours_live, live_spans
from bot.dashboard.verify import (
    MAX_WAIT_DAYS,
    Basis,
    Evidence,
    Exposure,
    Verdict,
    assess,
    too_rare_comment,
    verified_comment,
)
from bot.errors import TrustError
from bot.github import Comment, DeploymentRef, DeploymentStatusRef, GitHubError, IssueRef, PullRef
from bot.issue import read_payload
from bot.payload import Occurrences, parse_iso_utc
from bot.vocabulary import (
    ANALYSIS,
    CRASH_LABEL,
    DASHBOARD,
    DASHBOARD_BODY,
    DASHBOARD_LABEL,
    DEPLOYED_KIND,
    FIX_BRANCH_PREFIX,
    FIX_DEPLOYED_LABEL,
    FIX_VERIFIED,
    FIX_VERIFIED_LABEL,
    UPTIME_BODY,
    UPTIME_LABEL,
    VERIFIED,
    VERIFY_ESTIMATE,
    LabelSpec,
    branch_from_labels,
    read_deploy_markers,
)

logger = logging.getLogger(__name__)

DEPLOYMENTS_PER_REALM = 20  # the newest deployments read per realm: each costs one status request


class DashboardGitHub(Protocol):
    """The part of :class:`bot.github.GitHubClient` the dashboard uses."""

    def whoami(self) -> str: ...
    def find_issues(self, labels: Sequence[str], state: str = "all") -> list[IssueRef]: ...
    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> IssueRef: ...
    def pin_issue(self, number: int) -> bool: ...
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
    def list_pulls(self, state: str = "all") -> list[PullRef]: ...
    def list_comments(self, number: int) -> list[Comment]: ...
    def upsert_comment(
        self, number: int, tag: str, body: str, *, author: str | None = None
    ) -> tuple[Comment, bool]: ...
    def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]: ...
    def ensure_labels(self, specs: Sequence[LabelSpec]) -> list[str]: ...
    def contains(self, commit: str, build: str) -> bool | None: ...
    def list_deployments(self, environment: str) -> list[DeploymentRef]: ...
    def list_deployment_statuses(self, deployment_id: int) -> list[DeploymentStatusRef]: ...


class Action(enum.StrEnum):
    CREATED = "created"
    EDITED = "edited"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DashboardSettings:
    key: bytes
    environments: tuple[str, ...] = ()  # deploy environments beyond the realms the crashes name
    max_wait_days: float = MAX_WAIT_DAYS


@dataclass(frozen=True)
class Result:
    issue: int
    action: Action
    verified: tuple[int, ...] = ()
    too_rare: tuple[int, ...] = ()
    evidence: dict[int, Evidence] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# reading


def _by_us(author: str, me: str) -> bool:
    """Written by crashbot: by ``me``, or when GitHub won't say who we are (an installation token), by a
    bot account, as :meth:`bot.github.GitHubClient.upsert_comment` decides."""
    return author == me if me else author.endswith("[bot]")


def _occurrences(issue: IssueRef, key: bytes) -> Occurrences | None:
    try:
        return read_payload(issue.body, key).occurrences
    except TrustError as e:
        logger.info("issue #%d: %s; listed without numbers", issue.number, e)
        return None


def _fix_pulls(pulls: Iterable[PullRef]) -> dict[str, FixPull]:
    """The newest crashbot fix PR per fix branch."""
    found: dict[str, FixPull] = {}
    for p in sorted(pulls, key=lambda p: p.number):
        if p.head_ref.startswith(FIX_BRANCH_PREFIX):
            found[p.head_ref] = FixPull(
                p.number,
                p.html_url,
                p.state == "open",
                p.merged,
                p.created_at,
                p.merged_at,
                p.merge_commit_sha or "",
            )
    return found


def _row(issue: IssueRef, key: bytes, pulls: dict[str, FixPull]) -> Row:
    branch = branch_from_labels(issue.labels)
    return Row(
        number=issue.number,
        title=issue.title,
        url=issue.html_url,
        is_open=issue.state == "open",
        labels=issue.labels,
        occurrences=_occurrences(issue, key),
        pull=pulls.get(branch) if branch else None,
    )


def _mark_analysed(client: DashboardGitHub, rows: list[Row], issues: dict[int, IssueRef], me: str) -> None:
    """Tell "analysed" from "new" for the rows the page shows in full (one read each, only when the
    issue has comments at all)."""
    for i, row in enumerate(rows[: page.TOP_ROWS]):
        if row.state is not State.NEW or issues[row.number].comments == 0:
            continue
        comments = client.list_comments(row.number)
        if any(ANALYSIS.in_text(c.body) and _by_us(c.author, me) for c in comments):
            rows[i] = dataclasses.replace(row, analysed=True)


def _spans(client: DashboardGitHub, environments: Iterable[str], now: datetime) -> tuple[LiveSpan, ...]:
    deployed: list[Deployed] = []
    for env in sorted(set(environments)):
        try:
            refs = client.list_deployments(env)[:DEPLOYMENTS_PER_REALM]
            for d in refs:
                states = tuple(s.state for s in client.list_deployment_statuses(d.id))
                deployed.append(Deployed(env, d.sha, parse_iso_utc(d.created_at), states))
        except (GitHubError, ValueError) as e:
            logger.warning("deployments to %s unreadable (%s); rates there are per day", env, e)
    return live_spans(deployed, now)


def _recorded(client: DashboardGitHub, key: bytes) -> tuple[Recorded, tuple[str, ...]]:
    """The uptime ledgers whose signature verifies, and a note for each one that does not (edited by
    hand, forged, another key): those are ignored, and their realm falls back to the deployments."""
    found: list[ledgers.Ledger] = []
    notes: list[str] = []
    for issue in sorted(client.find_issues([UPTIME_LABEL], state="all"), key=lambda i: i.number):
        if not UPTIME_BODY.loose().search(issue.body):
            continue  # a label someone put on another issue
        try:
            found.append(ledgers.read(issue.body, key))
        except TrustError as e:
            logger.warning("uptime ledger #%d ignored: %s", issue.number, e)
            notes.append(f"uptime ledger #{issue.number} ignored: {e}")
    return Recorded.of(found), tuple(notes)


# ---------------------------------------------------------------------------------------------------
# verifying


@dataclass(frozen=True)
class _Deploy:
    at: datetime
    sha: str
    realms: tuple[str, ...]


def _first_deploy(comments: Sequence[Comment], me: str) -> _Deploy | None:
    """When and what crashbot first deployed the fix as, from its own "Deployed in" comments."""
    found: list[tuple[datetime, str, str]] = []
    for c in comments:
        if not _by_us(c.author, me):
            continue
        for realm, sha in read_deploy_markers(DEPLOYED_KIND, c.body):
            try:
                found.append((parse_iso_utc(c.created_at), sha, realm))
            except ValueError:
                continue
    if not found:
        return None
    first = min(found)
    return _Deploy(first[0], first[1], tuple(sorted({r for _, _, r in found})))


def _recorded_exposure(
    recorded: Recorded, occ: Occurrences, deploy: _Deploy, now: datetime, fixed: Callable[[str], bool]
) -> Exposure | None:
    """Recorded uptime before the fix (its first dated day up to the deploy day, as :func:`assess` counts
    crashes) and since (builds containing the fix), when the ledgers of every realm the crash named
    were being recorded from that first day on; None otherwise."""
    first = date.fromisoformat(occ.days[0][0])
    if not recorded.covers(occ.realms, first):
        return None
    deploy_day = deploy.at.date()
    return Exposure(
        hours_before=recorded.hours(first, deploy_day),
        hours_after=recorded.hours(deploy_day, now.date() + timedelta(days=1), build=fixed),
        basis=Basis.UPTIME,
    )


def _exposure(
    uptime: _Uptime, occ: Occurrences, deploy: _Deploy, now: datetime, fixed: Callable[[str], bool]
) -> Exposure:
    """Uptime before and after: recorded when the ledgers cover the crash's history, else estimated
    from the deployments when they cover it, else unknown (wall clock)."""
    if not occ.days:
        return Exposure()
    recorded = _recorded_exposure(uptime.recorded, occ, deploy, now, fixed)
    if recorded is not None:
        return recorded
    spans = uptime.spans
    if not spans:
        return Exposure()
    first = datetime.fromisoformat(occ.days[0][0]).replace(tzinfo=deploy.at.tzinfo)
    since = covered_since(spans)
    if since is None or since > first:
        return Exposure()
    day_start = datetime.combine(deploy.at.date(), datetime.min.time(), tzinfo=deploy.at.tzinfo)
    return Exposure(
        hours_before=hours_live(spans, first, day_start),
        hours_after=hours_live(spans, deploy.at, now, build=fixed),
        basis=Basis.LIVE,
    )


@dataclass(frozen=True)
class _Uptime:
    """Both sources of uptime: the ledgers, and the deployments' live spans for realms without one."""

    recorded: Recorded
    spans: tuple[LiveSpan, ...]
    notes: tuple[str, ...] = ()

    def week(self, now: datetime) -> tuple[float | None, str]:
        """Hours up on the realms in the 7 UTC days to ``now`` (None: unknown), and how they are known."""
        estimated = [s for s in self.spans if s.realm not in self.recorded.realms]
        if not self.recorded.ledgers and not estimated:
            return None, ""
        today = now.date()
        hours = self.recorded.hours(today - timedelta(days=6), today + timedelta(days=1))
        day_start = datetime.combine(today - timedelta(days=6), datetime.min.time(), tzinfo=now.tzinfo)
        hours += hours_live(estimated, day_start, now)
        if not estimated:
            return hours, "hours of uptime"
        if not self.recorded.ledgers:
            return hours, "hours live (estimated from deployments)"
        return hours, "hours of uptime (some realms estimated from deployments)"


class _Contains:
    """``client.contains`` cached per (fix, build); unknown counts as "not containing the fix"."""

    def __init__(self, client: DashboardGitHub) -> None:
        self._client = client
        self._seen: dict[tuple[str, str], bool] = {}

    def __call__(self, fix: str, build: str) -> bool:
        if (fix, build) not in self._seen:
            self._seen[fix, build] = self._client.contains(fix, build) is True
        return self._seen[fix, build]


def _evidence_line(e: Evidence) -> str:
    rate = f"{e.rate_per_hour:.3g}/h before ({e.crashes_before} in {e.hours_before:,.0f} {e.basis.value})"
    match e.verdict:
        case Verdict.VERIFIED:
            return f"{rate}; 0 in {e.hours_after:,.1f} h since: P(0) = {e.p_zero:.2%}"
        case Verdict.WAITING:
            left = max(e.hours_needed - e.hours_after, 0)
            return f"{rate}; 0 in {e.hours_after:,.1f} h since: P(0) = {e.p_zero:.1%}, {left:,.1f} h to go"
        case Verdict.TOO_RARE:
            return f"{rate}; too rare: about {e.days_needed:,.0f} days to verify"
        case Verdict.REGRESSED:
            return f"{e.crashes_after} crash(es) on builds containing the fix"
        case Verdict.NO_HISTORY:
            return "no dated crash before the fix: nothing to compare with"


@dataclass
class _Verifier:
    client: DashboardGitHub
    settings: DashboardSettings
    me: str
    uptime: _Uptime
    now: datetime
    contains: _Contains
    evidence: dict[int, Evidence] = field(default_factory=dict)
    deploys: dict[int, datetime] = field(default_factory=dict)
    verified: list[int] = field(default_factory=list)
    too_rare: list[int] = field(default_factory=list)

    def check(self, row: Row) -> None:
        """Read when the fix of a ``fix-deployed`` crash went live; verify it unless it already is."""
        occ = row.occurrences
        if occ is None or FIX_DEPLOYED_LABEL not in row.labels:
            return
        deploy = _first_deploy(self.client.list_comments(row.number), self.me)
        if deploy is None:
            return
        self.deploys[row.number] = deploy.at
        if FIX_VERIFIED_LABEL in row.labels:
            return
        fix = row.pull.merge_sha if row.pull is not None and row.pull.merge_sha else deploy.sha
        after = sum(n for build, n in occ.build_counts if self.contains(fix, build))
        exposure = _exposure(self.uptime, occ, deploy, self.now, lambda sha: self.contains(fix, sha))
        e = assess(
            occ,
            deployed_at=deploy.at,
            now=self.now,
            crashes_after=after,
            exposure=exposure,
            max_wait_days=self.settings.max_wait_days,
        )
        self.evidence[row.number] = e
        if e.verdict is Verdict.VERIFIED:
            fix_name = f"PR #{row.pull.number}" if row.pull else deploy.sha[:10]
            body = verified_comment(e, fix=fix_name, realms=", ".join(deploy.realms))
            self.client.upsert_comment(row.number, VERIFIED.tag, body, author=self.me)
            self.client.ensure_labels([FIX_VERIFIED])
            self.client.add_labels(row.number, [FIX_VERIFIED_LABEL])
            self.verified.append(row.number)
        elif e.verdict is Verdict.TOO_RARE:
            self.client.upsert_comment(row.number, VERIFY_ESTIMATE.tag, too_rare_comment(e), author=self.me)
            self.too_rare.append(row.number)


# ---------------------------------------------------------------------------------------------------
# writing


def _ours(issue: IssueRef, me: str) -> bool:
    return DASHBOARD_BODY.in_text(issue.body) and _by_us(issue.author, me)


def _write(client: DashboardGitHub, body: str, me: str) -> tuple[int, Action]:
    """Create, reopen or edit the one dashboard issue; no write when its body is already ``body``."""
    mine = sorted(
        (i for i in client.find_issues([DASHBOARD_LABEL], state="all") if _ours(i, me)),
        key=lambda i: (i.state != "open", i.number),
    )
    if not mine:
        client.ensure_labels([DASHBOARD])
        created = client.create_issue(page.TITLE, body, [DASHBOARD_LABEL])
        logger.info("created the crash dashboard #%d", created.number)
        client.pin_issue(created.number)  # once, when created: a person may unpin it and that stays so
        return created.number, Action.CREATED
    current = mine[0]
    if current.state == "open" and current.body.replace("\r\n", "\n") == body:
        return current.number, Action.UNCHANGED
    client.edit_issue(
        current.number,
        body=body,
        title=page.TITLE if current.title != page.TITLE else None,
        state="open" if current.state != "open" else None,
    )
    return current.number, Action.EDITED


def sync(client: DashboardGitHub, settings: DashboardSettings, *, now: datetime) -> Result:
    """Verify what can be verified, then bring the dashboard issue up to date."""
    me = client.whoami()
    issues = {i.number: i for i in client.find_issues([CRASH_LABEL], state="all")}
    issues = {n: i for n, i in issues.items() if DASHBOARD_LABEL not in i.labels}
    pulls = client.list_pulls("all")
    fix_pulls = _fix_pulls(pulls)
    rows = [_row(i, settings.key, fix_pulls) for i in issues.values()]
    realms = {r for row in rows if row.occurrences for r in row.occurrences.realms}
    recorded, notes = _recorded(client, settings.key)
    unrecorded = {*realms, *settings.environments} - set(recorded.realms)
    uptime = _Uptime(recorded, _spans(client, unrecorded, now) if unrecorded else (), notes)
    verifier = _Verifier(client, settings, me, uptime, now, _Contains(client))
    for row in rows:
        try:
            verifier.check(row)
        except GitHubError as e:  # per-crash isolation: one unreadable issue never stops the page
            logger.warning("issue #%d: fix not assessed this time: %s", row.number, e)
    rows = [_relabelled(r, verifier.verified) for r in rows]
    today = now.date()
    open_rows = ranked([r for r in rows if r.is_open], today)
    _mark_analysed(client, open_rows, issues, me)
    fixed = [r for r in rows if r.state in (State.DEPLOYED, State.VERIFIED)]
    figures = loop_figures(
        rows,
        issue_created={n: i.created_at for n, i in issues.items()},
        deployed_at=verifier.deploys,
        closed_unmerged=sum(
            1
            for p in pulls
            if p.head_ref.startswith(FIX_BRANCH_PREFIX) and p.state == "closed" and not p.merged
        ),
    )
    week_hours, week_basis = uptime.week(now)
    inputs = page.Inputs(
        today=today,
        figures=figures,
        evidence=_evidence_lines(fixed, verifier.evidence),
        week_hours_live=week_hours,
        week_basis=week_basis,
        build_rates=_build_rates(recorded, rows, today),
        uptime_notes=notes,
    )
    number, action = _write(client, page.render(open_rows, fixed, inputs), me)
    return Result(number, action, tuple(verifier.verified), tuple(verifier.too_rare), verifier.evidence)


def _relabelled(row: Row, verified: Sequence[int]) -> Row:
    if row.number not in verified:
        return row
    return dataclasses.replace(row, labels=(*row.labels, FIX_VERIFIED_LABEL))


def _evidence_lines(fixed: Sequence[Row], evidence: dict[int, Evidence]) -> dict[int, str]:
    lines = {n: _evidence_line(e) for n, e in evidence.items()}
    for row in fixed:
        if row.number not in lines:
            lines[row.number] = (
                "verified (the numbers are on the issue)"
                if row.state is State.VERIFIED
                else "not assessed: no readable history, or no crashbot deploy comment"
            )
    return lines


def _build_rates(recorded: Recorded, rows: Sequence[Row], today: date) -> tuple[page.BuildRate, ...]:
    """Per build with recorded uptime in the last :data:`bot.ledger.HISTORY_DAYS` days: its hours and
    its crashes (every signature's count on that build), newest builds first."""
    if not recorded.ledgers:
        return ()
    hours = recorded.build_hours(today - timedelta(days=ledgers.HISTORY_DAYS - 1), today + timedelta(days=1))
    crashes: dict[str, int] = {}
    for row in rows:
        for build, n in row.occurrences.build_counts if row.occurrences else ():
            crashes[build] = crashes.get(build, 0) + n
    return tuple(page.BuildRate(b, h, crashes.get(b, 0)) for b, h in hours[: page.CHART_BUILDS])
