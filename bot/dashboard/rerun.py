"""Rerun ``crashbot fix`` from a dashboard checkbox, for a person GitHub says may write (the gate).

The dashboard lists each open "no fix" crash of its top rows as an unticked box carrying an invisible
``<!-- crashbot:rerun N -->``. Ticking one edits the dashboard issue; the ``issues: edited`` event
carries the sender, the new body and the body before the edit. Only boxes ticked *by that edit* count
(a box someone else ticked earlier is not this sender's request), only when the API says the sender
has write, maintain or admin permission, and only for open crash issues. Each accepted box dispatches
the crash-fix workflow for its issue; then the dashboard workflow is dispatched, whose next page shows
every box unticked again. This module never writes the dashboard: its one writer stays the workflow's
concurrency group.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from bot.github import IssueRef, RepoInfo
from bot.vocabulary import CRASH_LABEL, RERUN

logger = logging.getLogger(__name__)

WRITERS = frozenset({"write", "maintain", "admin"})
FIX_WORKFLOW = "crash-fix.yml"  # the caller `crashbot init` writes; its dispatch input is `issue`
DASHBOARD_WORKFLOW = "crash-dashboard.yml"
MAX_RERUNS = 10  # per edit: one edit cannot start a storm of builds
_TICKED_RE = re.compile(r"^\s*[-*] \[[xX]\] .*" + RERUN.pattern(r"(\d{1,10})").pattern, re.MULTILINE)


class RerunGitHub(Protocol):
    def whoami(self) -> str: ...
    def collaborator_permission(self, login: str) -> str: ...
    def get_issue(self, number: int) -> IssueRef: ...
    def repo_info(self) -> RepoInfo: ...
    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str] | None = None) -> None: ...


def ticked(body: str) -> tuple[int, ...]:
    """The issue numbers whose box is ticked in ``body``, in order, each once."""
    return tuple(dict.fromkeys(int(m.group(1)) for m in _TICKED_RE.finditer(body)))


def newly_ticked(before: str, after: str) -> tuple[int, ...]:
    """Boxes ticked in ``after`` that were not ticked in ``before``: what one edit asked for."""
    old = set(ticked(before))
    return tuple(n for n in ticked(after) if n not in old)


@dataclass(frozen=True)
class RerunResult:
    started: tuple[int, ...] = ()
    refused: str = ""  # why nothing was started, when nothing was


def request_reruns(client: RerunGitHub, *, sender: str, before: str, after: str) -> RerunResult:
    """Start crash-fix runs for the boxes ``sender`` ticked, when the API says ``sender`` may write."""
    wanted = newly_ticked(before, after)
    if not wanted:
        return RerunResult(refused="the edit ticked no rerun box")
    if not sender or sender == client.whoami() or sender.endswith("[bot]"):
        return RerunResult(refused=f"the edit was made by {sender or 'nobody'!r}, not a person")
    permission = client.collaborator_permission(sender)
    if permission not in WRITERS:
        logger.warning("%s (permission %s) ticked rerun boxes; only writers may rerun", sender, permission)
        return RerunResult(refused=f"{sender} has {permission} permission; rerunning a fix needs write")
    ref = client.repo_info().default_branch
    started = [n for n in wanted[:MAX_RERUNS] if _is_open_crash(client, n)]
    for number in started:
        client.dispatch_workflow(FIX_WORKFLOW, ref, {"issue": str(number)})
        logger.info("%s asked to rerun the fix of #%d: crash-fix dispatched", sender, number)
    client.dispatch_workflow(DASHBOARD_WORKFLOW, ref)  # its next page shows the boxes unticked
    return RerunResult(started=tuple(started))


def _is_open_crash(client: RerunGitHub, number: int) -> bool:
    issue = client.get_issue(number)
    return issue.state == "open" and not issue.is_pull and CRASH_LABEL in issue.labels
