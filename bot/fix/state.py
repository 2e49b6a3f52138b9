"""What crashbot already did for a crash signature (its PRs and their records) and what that allows now.

Pure: GitHub and git answers in, decisions out. The labels, markers and branch names a run leaves for its
reruns are :mod:`bot.vocabulary`; the record here is the one a fix PR's body keeps (:class:`FixRecord`):
the builds the crash had been seen on when the PR was last written.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.fix.analysis import PreviousAttempt
from bot.github import IssueRef, PullRef
from bot.vocabulary import CRASH_LABEL, FIX_RECORD, HANDLED_LABEL

_FIX_RECORD_RE = FIX_RECORD.pattern(r"([A-Za-z0-9+/=]+)")
_MAX_RECORDED_BUILDS = 20

# (build, recorded build) -> True when ``build`` contains ``recorded`` and more, False when not, None when
# either is unknown to the repository
Descends = Callable[[str, str], bool | None]


# -- the record in the PR body -------------------------------------------------------------------------


@dataclass(frozen=True)
class FixRecord:
    """What a fix PR remembers: its signature and the builds the crash had been seen on when the PR
    was last written (a human closing it unmerged means "not for these builds")."""

    signature_id: str
    builds: tuple[str, ...]

    def render(self) -> str:
        data = json.dumps(
            {"sig": self.signature_id, "builds": list(self.builds[-_MAX_RECORDED_BUILDS:])},
            sort_keys=True,
            separators=(",", ":"),
        )
        # base64: build strings come from crash reports and must not be able to close the comment
        return FIX_RECORD.render(base64.b64encode(data.encode("utf-8")).decode("ascii"))

    @classmethod
    def read(cls, body: str) -> FixRecord | None:
        """The record in a PR body; None when absent or unreadable (a PR body is editable by people)."""
        match = _FIX_RECORD_RE.search(body or "")
        if match is None:
            return None
        try:
            data = json.loads(base64.b64decode(match[1], validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sig"), str):
            return None
        builds = data.get("builds")
        if not isinstance(builds, list) or not all(isinstance(b, str) for b in builds):
            return None
        return cls(data["sig"], tuple(builds))


def current_builds(occurrence_builds: Sequence[str], crash_revision: str | None) -> tuple[str, ...]:
    """Every build the crash is known on: the occurrences' builds and the signed report's own revision."""
    found = [*occurrence_builds, *([crash_revision] if crash_revision else [])]
    return tuple(dict.fromkeys(b for b in found if b))


def newer_builds(recorded: Sequence[str], current: Sequence[str], descends: Descends) -> tuple[str, ...]:
    """The builds in ``current`` that provably contain one of ``recorded`` plus later commits.

    A build the repository cannot place (a fork, a local commit, a free-form build id) does not count:
    old binaries keep crashing after a fix is closed or merged, and treating them as regressions is the
    complaint users of other crash trackers raise most (see shared/reference/anchors.md, fact 5).
    """
    found = []
    for build in current:
        if build in recorded:
            continue
        if any(descends(build, old) for old in recorded):
            found.append(build)
    return tuple(found)


# -- what the PRs of this signature allow --------------------------------------------------------------


@dataclass(frozen=True)
class Prior:
    """The signature's PR history as far as this run is concerned."""

    open_pull: PullRef | None
    blocked: str | None  # why a new fix must not be attempted; None = go ahead
    previous: tuple[PreviousAttempt, ...]
    note: str = ""  # why an earlier refusal no longer holds


def prior(pulls: Sequence[PullRef], builds: Sequence[str], descends: Descends) -> Prior:
    """Decide from the PRs of the fix branch (any state) whether to attempt a fix now.

    An open PR is updated. Otherwise the newest closed PR rules: merged means the fix is in; closed
    unmerged means a person said no. Either way retry only when the crash shows up on a build that
    contains that decision (the merge commit, or a build newer than those the PR was made for).
    """
    ordered = sorted(pulls, key=lambda p: p.number)
    previous = tuple(
        PreviousAttempt(
            number=p.number,
            outcome="PR merged" if p.merged else "PR closed unmerged",
            summary=f"#{p.number}",
            url=p.html_url or None,
        )
        for p in ordered
        if p.state != "open"
    )
    open_pull = next((p for p in reversed(ordered) if p.state == "open"), None)
    if open_pull is not None:
        return Prior(open_pull, None, previous)
    if not ordered:
        return Prior(None, None, previous)
    last = ordered[-1]
    if last.merged:
        recorded: tuple[str, ...] = tuple(s for s in (last.merge_commit_sha,) if s)
        what = f"PR #{last.number} was merged"
    else:
        record = FixRecord.read(last.body)
        recorded = record.builds if record else ()
        what = f"PR #{last.number} was closed unmerged"
    newer = newer_builds(recorded, builds, descends)
    if newer:
        return Prior(None, None, previous, note=f"{what}, but the crash recurred on newer build {newer[0]}")
    shown = ", ".join(recorded[-3:]) or "an unrecorded build"
    return Prior(
        None,
        f"{what}; waiting until this crash recurs on a build newer than {shown} "
        f"(reopen #{last.number} to have crashbot update it now)",
        previous,
    )


# -- the sweep ---------------------------------------------------------------------------------------


def unhandled(issues: Iterable[IssueRef], *, uploader: str) -> list[IssueRef]:
    """Open crash issues from the uploader that no run has concluded yet, oldest first.

    Issues from anyone else are left out here so they cannot crowd out real ones in the sweep; the
    trust gate still checks every issue that is picked.
    """
    who = uploader.strip().casefold()
    picked = [
        i
        for i in issues
        if not i.is_pull
        and i.state == "open"
        and CRASH_LABEL in i.labels
        and HANDLED_LABEL not in i.labels
        and i.author.casefold() == who
    ]
    return sorted(picked, key=lambda i: i.number)
