"""Spooled batches of one signature -> its GitHub issue, counted exactly once.

The issue is found through the issues list API by its ``sig:<id>`` label (never search, which lags), the
open one preferred. Its signed payload remembers the batch ids it absorbed, so a batch retried after a
``kill -9`` or an ambiguous 5xx is recognised and only marked uploaded. Otherwise the batches' occurrences
are merged and the body rewritten in ONE edit, which also reopens a closed issue with ``regression``
(unless it was closed as not planned or as a duplicate). A new signature files one issue through
:meth:`GitHubClient.ensure_issue`, which looks again before repeating a create whose outcome was unknown.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.crash import CrashReader, plain_crash
from bot.crash.errors import CrashParseError
from bot.crash.model import Crash
from bot.errors import GitHubError, TrustError
from bot.github import GitHubClient, IssueRef
from bot.issue import (
    Occurrences,
    labels_for,
    read_payload,
    render_body,
    render_seen_again,
    render_title,
    should_comment,
)
from bot.payload import Payload, report_hash
from bot.uploader.spool import Batch, SpooledReport
from bot.vocabulary import (
    CRASH_LABEL,
    REGRESSION_LABEL,
    fix_branch,
    is_sig_label,
    label_spec,
    realm_label,
    sig_label,
)

logger = logging.getLogger(__name__)

# A closed issue stays closed when a maintainer said the crash is not worth fixing (or tracked elsewhere).
_STAYS_CLOSED = frozenset({"not_planned", "duplicate"})
# Batches merged into one edit: the payload remembers 50 ids, and every id of an edit must still be
# there when that edit is retried, or a batch would be counted twice.
MAX_BATCHES_PER_EDIT = 40
_BUILD_CHARS = 12


class Outcome(enum.StrEnum):
    CREATED = "created"  # a new issue for a new signature
    UPDATED = "updated"  # counted on the existing issue
    REOPENED = "reopened"  # counted, and a closed issue reopened as a regression
    ALREADY_COUNTED = "already-counted"  # the issue's payload already held every batch: no write


@dataclass(frozen=True)
class Published:
    issue: IssueRef
    outcome: Outcome
    counted: tuple[str, ...]  # batch ids this call added to the issue
    already: tuple[str, ...]  # batch ids the issue held before (retries)
    commented: bool = False
    batches: tuple[Batch, ...] = field(default=(), repr=False)  # every batch now on the issue


@dataclass(frozen=True)
class PublishSettings:
    """What the issue text needs besides the crash: where, who, and the key that seals the payload."""

    key: bytes = field(repr=False)
    host: str
    realm: str | None = None
    server_url: str = "https://github.com"  # for source links in the body
    comment_interval_s: float = 3600.0


class PublishError(GitHubError):
    """The batch cannot be published as it is (its stored report no longer parses to its signature)."""


def web_url_for(api_url: str) -> str:
    """The web address matching a REST API base URL (github.com, GitHub Enterprise, the stand-in)."""
    base = api_url.rstrip("/")
    if base in ("https://api.github.com", "http://api.github.com"):
        return "https://github.com"
    if base.endswith("/api/v3"):
        return base[: -len("/api/v3")]
    return base


def _pick(found: Sequence[IssueRef]) -> IssueRef | None:
    """The open issue with the lowest number, else the newest closed one."""
    open_ = [i for i in found if i.state == "open"]
    if open_:
        if len(open_) > 1:
            logger.warning(
                "%d open issues carry the same signature label (%s); counting on #%d",
                len(open_),
                ", ".join(f"#{i.number}" for i in open_),
                min(i.number for i in open_),
            )
        return min(open_, key=lambda i: i.number)
    return max(found, key=lambda i: i.number, default=None)


def _iso_time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Publisher:
    """Publishes batches through one client; the clock is injectable for the storm tests."""

    def __init__(
        self,
        client: GitHubClient,
        settings: PublishSettings,
        *,
        clock: Callable[[], float] = time.time,
        crash_of: CrashReader | None = None,
    ) -> None:
        self._client = client
        self._crash_of = crash_of or plain_crash
        self._settings = settings
        self._clock = clock
        self._labels_ready: set[str] = set()
        # parsed reports of the publish in progress only: a parsed report can weigh megabytes
        self._crashes: dict[int, Crash | None] = {}

    # -- labels ---------------------------------------------------------------------------------------

    def _ensure_labels(self, names: Sequence[str]) -> None:
        """Create crashbot's labels (colour, description) the first time this process uses them; GitHub
        would otherwise create them bare. ``sig:`` labels are left to GitHub: one write less per crash."""
        wanted = [n for n in names if n not in self._labels_ready and not is_sig_label(n)]
        if not wanted:
            return
        specs = [label_spec(n) for n in wanted]
        created = self._client.ensure_labels(specs)
        if created:
            logger.info("created labels: %s", ", ".join(created))
        self._labels_ready.update(wanted)

    # -- crashes from the spool -----------------------------------------------------------------------

    def _crash(self, report: SpooledReport) -> Crash | None:
        if report.id not in self._crashes:
            try:
                crash: Crash | None = self._crash_of(report.text, report.dump_path)
            except CrashParseError as e:
                logger.warning("spooled report %d (%s) no longer parses: %s", report.id, report.path, e)
                crash = None
            self._crashes[report.id] = crash
        return self._crashes[report.id]

    def _representative(self, signature_id: str, reports: Sequence[SpooledReport]) -> Crash:
        """The newest report's crash (the body shows the latest build); it must sign as the batch did."""
        for report in sorted(reports, key=lambda r: (r.received_at, r.id), reverse=True):
            crash = self._crash(report)
            # symbolicated since it was spooled (its dump settled, the store gained the build): the batch's
            # id is then the crash's alias
            if crash is not None and signature_id in (crash.signature.id, *crash.signature.aliases):
                return crash
        raise PublishError(
            f"none of the {len(reports)} spooled report(s) of signature {signature_id} parses to that "
            "signature any more (was crashbot upgraded with a new signature version?); they stay spooled"
        )

    def _occurrences(self, batches: Sequence[Batch], counted: Iterable[str] = ()) -> Occurrences:
        """The occurrences ``batches`` add, leaving out reports whose hash is in ``counted`` (already on
        the issue, from this spool or another) and any report twice."""
        occ = Occurrences()
        seen = set(counted)
        for batch in batches:
            for report in batch.reports:
                digest = report_hash(report.sha256)
                if digest in seen:
                    continue
                seen.add(digest)
                crash = self._crash(report)
                revision = crash.report.build.revision if crash is not None else None
                occ = occ.record(
                    _iso_time(report.received_at),
                    host=self._settings.host or None,
                    realm=self._settings.realm or None,
                    build=revision[:_BUILD_CHARS] if revision else None,
                    batch=batch.id,
                    report=digest,
                )
        return occ

    # -- publishing -----------------------------------------------------------------------------------

    def find(self, signature_id: str) -> IssueRef | None:
        return _pick(self._client.find_issues([sig_label(signature_id)], state="all"))

    def publish(self, batches: Sequence[Batch]) -> Published:
        """Put ``batches`` (all of one signature) on the signature's issue, each counted exactly once."""
        if not batches:
            raise ValueError("publish needs at least one batch")
        signature_id = batches[0].signature_id
        if any(b.signature_id != signature_id for b in batches):
            raise ValueError("publish takes batches of one signature at a time")
        if len(batches) > MAX_BATCHES_PER_EDIT:
            raise ValueError(f"at most {MAX_BATCHES_PER_EDIT} batches per edit, got {len(batches)}")
        reports = [r for b in batches for r in b.reports]
        try:
            crash = self._representative(signature_id, reports)
            existing = self.find(signature_id) or self._find_by_alias(crash) or self._find_by_full_id(crash)
            if existing is None:
                return self._create(crash, batches)
            return self._update(existing, crash, batches)
        finally:
            self._crashes.clear()

    def _create(self, crash: Crash, batches: Sequence[Batch]) -> Published:
        settings = self._settings
        now = _iso_time(self._clock())
        occ = self._occurrences(batches).mark_commented(now)
        body = render_body(
            crash, occ, repo=self._client.repo, server_url=settings.server_url, payload_key=settings.key
        )
        labels = labels_for(crash, realm=settings.realm or None)
        self._ensure_labels(labels)
        issue, created = self._client.ensure_issue(
            sig_label(crash.signature.id), render_title(crash), body, labels
        )
        ids = tuple(b.id for b in batches)
        if created and self._holds(issue, ids):
            logger.info("filed #%d for %s (%d occurrence(s))", issue.number, crash.signature.id, occ.count)
            return Published(issue, Outcome.CREATED, counted=ids, already=(), batches=tuple(batches))
        # Someone else's issue (another realm's uploader won the race, or a lost response was
        # answered by an issue we did not write): count on it like on any existing issue.
        return self._update(issue, crash, batches)

    def _find_by_alias(self, crash: Crash) -> IssueRef | None:
        """The issue of the unresolved signature this crash had before symbolication (issue 12): the same
        crash on the same build is one issue whether or not its frames could be resolved."""
        for alias in crash.signature.aliases:
            found = self.find(alias)
            if found is not None:
                logger.info(
                    "%s was filed as %s before symbolication: counting there", crash.signature.id, alias
                )
                return found
        return None

    def _find_by_full_id(self, crash: Crash) -> IssueRef | None:
        """The crash issue whose signed payload has this crash's fuller id, when none carries its
        primary ``sig:`` label: a change of the frame rules (or of how many top frames sign) that moves
        the primary id must not split an issue (Sentry's dual hash). Runs only for a new primary id."""
        wanted = crash.signature.full_id
        found: list[IssueRef] = []
        for issue in self._client.find_issues([CRASH_LABEL], state="all"):
            try:
                payload = read_payload(issue.body, self._settings.key)
            except TrustError:
                continue
            if payload.signature.full_id == wanted:
                found.append(issue)
        match = _pick(found)
        if match is not None:
            logger.info(
                "no issue is labelled %s, but #%d has the same full signature %s: counting there",
                sig_label(crash.signature.id),
                match.number,
                wanted,
            )
        return match

    def _regressed(self, crash: Crash, issue: IssueRef) -> bool:
        """Whether a closed issue's crash came back on a build that already had the fix.

        A binary built before crashbot's fix was merged (the realm not yet redeployed, another realm
        still on an old build) crashing again is no regression: the occurrence is counted and the issue
        stays closed. When the fix or the build is unknown to GitHub (closed by hand, a local build),
        nothing can be told apart and the issue is reopened, as before.
        """
        build = crash.report.build.revision
        if not build:
            return True
        fixes = [
            p.merge_commit_sha
            for p in self._client.find_pulls(fix_branch(crash.signature.id), state="closed")
            if p.merged and p.merge_commit_sha
        ]
        if not fixes:
            return True
        verdicts = [self._client.contains(sha, build) for sha in fixes]
        if any(v is False for v in verdicts) and not any(verdicts):
            logger.info(
                "issue #%d: build %s predates its merged fix; counted, left closed", issue.number, build
            )
            return False
        return True

    def _holds(self, issue: IssueRef, ids: Sequence[str]) -> bool:
        try:
            payload = read_payload(issue.body, self._settings.key)
        except TrustError:
            return False
        return all(i in payload.occurrences.batches for i in ids)

    def _update(self, issue: IssueRef, crash: Crash, batches: Sequence[Batch]) -> Published:
        settings = self._settings
        existing: Payload | None = None
        try:
            existing = read_payload(issue.body, settings.key)
            current = existing.occurrences
        except TrustError as e:
            # Not ours, edited by hand, or signed with another key: the body is rebuilt from our record
            # and the count starts again from what this uploader knows.
            logger.warning("issue #%d: %s; rewriting its body and count", issue.number, e)
            current = Occurrences()
        shown = crash
        if existing is not None and crash.signature.id in existing.signature.aliases:
            # a host without the symbol store reported a crash this issue already shows symbolicated
            shown = existing.to_crash()
        already = tuple(b.id for b in batches if b.id in current.batches)
        fresh = [b for b in batches if b.id not in current.batches]
        added = self._occurrences(fresh, current.reports)
        if not added.count:  # every report is on the issue already: a retried batch, or another spool's
            held = tuple(b.id for b in batches)
            logger.info(
                "issue #%d already counts every report of batch(es) %s", issue.number, ", ".join(held)
            )
            return Published(issue, Outcome.ALREADY_COUNTED, counted=(), already=held, batches=tuple(batches))
        now = _iso_time(self._clock())
        occ = current.merge(added)
        closed = issue.state == "closed"
        reopen = closed and (issue.state_reason or "") not in _STAYS_CLOSED and self._regressed(crash, issue)
        comment = reopen or (not closed and should_comment(occ, now, settings.comment_interval_s))
        comment_body = render_seen_again(occ) if comment else ""
        if comment:
            occ = occ.mark_commented(now)
        body = render_body(
            shown,
            occ,
            repo=self._client.repo,
            server_url=settings.server_url,
            payload_key=settings.key,
            replacing=issue.body if shown is not crash else "",  # from its payload: keep the host's parts
        )
        labels = list(issue.labels)
        realm = realm_label(settings.realm) if settings.realm else None
        # found through its full id: it gets this primary id's label too, so the next lookup is direct
        sigs = (sig_label(crash.signature.id), *(sig_label(a) for a in crash.signature.aliases))
        for wanted in (REGRESSION_LABEL if reopen else None, realm, *sigs):
            if wanted and wanted not in labels:
                labels.append(wanted)
        if labels != list(issue.labels):
            self._ensure_labels([n for n in labels if n not in issue.labels])
        # One PATCH: body, and when needed the reopening and the labels (the whole set, as GitHub wants).
        edited = self._client.edit_issue(
            issue.number,
            body=body,
            state="open" if reopen else None,
            state_reason="reopened" if reopen else None,
            labels=labels if labels != list(issue.labels) else None,
        )
        if comment:
            # after the edit: a kill between the two loses one comment, never doubles the count
            self._client.create_comment(issue.number, comment_body)
        counted = tuple(b.id for b in fresh)
        outcome = Outcome.REOPENED if reopen else Outcome.UPDATED
        logger.info(
            "#%d %s: %d occurrence(s) in total%s",
            issue.number,
            "reopened as a regression" if reopen else "updated",
            occ.count,
            " (commented)" if comment else "",
        )
        return Published(
            edited, outcome, counted=counted, already=already, commented=comment, batches=tuple(batches)
        )
