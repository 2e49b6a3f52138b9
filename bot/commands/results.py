"""``--json``: the machine-readable results of ``signature``, ``doctor``, ``upload``, ``fix`` and ``deploy``.

Each is one JSON object on stdout, ``{"version": 1, "command": NAME, ...}``; the human lines are not
printed, errors still go to stderr as one line each, and the exit code is the same. The shapes (kept by
tests/commands/test_json_results.py; a change that is not an addition bumps ``version``):

- signature: ``results``: ``[{file, signature_id, signature, error}]`` (``error`` null, or the message
  with the other two null)
- doctor: ``ok`` (no FAIL), ``counts`` ``{OK, WARN, FAIL, SKIP}``, ``checks``: ``[{name, status, detail,
  fix}]``
- upload: ``results``: ``[{file, status, issue, error}]`` with status one of ``filed``, ``counted``,
  ``reopened``, ``already-counted``, ``spooled``, ``already-spooled``, ``quarantined``, ``unreadable``,
  ``not-read``; ``uploaded``, ``spooled``, ``bad`` (counts) and ``interrupted``
- fix: ``results``: ``[{issue, outcome, reason, signature_id, branch, pull_number, pull_url, engine,
  model, tokens, attempts, total_s, engine_s, build_s}]``
- deploy: ``status``, ``mode``, ``sha``, ``reason``, ``release``, ``previous``, ``live``, ``forced``,
  ``steps``: ``[{name, ok, duration_s, detail}]``, ``stop`` (null or ``{method, forced, command}``),
  ``health`` (null or ``{ok, reason, ready_after_s}``), ``notes``
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the heavy rooms are imported only by the commands that run them
    from bot.deploy.pipeline import DeployOutcome
    from bot.doctor import CheckResult
    from bot.fix.report import FixResult

VERSION = 1


def document(command: str, **fields: Any) -> str:
    """The one JSON object a command prints for ``--json``."""
    return json.dumps({"version": VERSION, "command": command, **fields}, indent=2, ensure_ascii=False)


def signature_entry(
    file: str, *, signature_id: str = "", signature: str = "", error: str = ""
) -> dict[str, Any]:
    return {
        "file": file,
        "signature_id": signature_id or None,
        "signature": signature or None,
        "error": error or None,
    }


def doctor_document(results: Sequence[CheckResult]) -> str:
    counts = {status: 0 for status in ("OK", "WARN", "FAIL", "SKIP")}
    for r in results:
        counts[str(r.status)] += 1
    checks = [{"name": r.name, "status": str(r.status), "detail": r.detail, "fix": r.fix} for r in results]
    return document("doctor", ok=counts["FAIL"] == 0, counts=counts, checks=checks)


def fix_document(results: Iterable[FixResult]) -> str:
    rows = [
        {
            "issue": r.issue,
            "outcome": r.outcome.value,
            "reason": r.reason,
            "signature_id": r.signature_id or None,
            "branch": r.branch or None,
            "pull_number": r.pull_number,
            "pull_url": r.pull_url or None,
            "engine": r.engine or None,
            "model": r.model or None,
            "tokens": r.tokens,
            "attempts": len(r.attempts),
            "total_s": round(r.total_s, 3),
            "engine_s": round(r.engine_s, 3),
            "build_s": round(r.build_s, 3),
        }
        for r in results
    ]
    return document("fix", results=rows)


def deploy_document(outcome: DeployOutcome) -> str:
    stop = outcome.stop
    health = outcome.health
    return document(
        "deploy",
        status=outcome.status.value,
        mode=outcome.mode.value,
        sha=outcome.sha or None,
        reason=outcome.reason,
        release=outcome.release,
        previous=outcome.previous,
        live=outcome.live,
        forced=outcome.forced,
        steps=[
            {"name": s.name, "ok": s.ok, "duration_s": round(s.duration_s, 3), "detail": s.detail}
            for s in outcome.steps
        ],
        stop=None
        if stop is None
        else {"method": str(stop.method), "forced": stop.forced, "command": stop.command},
        health=None
        if health is None
        else {"ok": health.ok, "reason": health.reason, "ready_after_s": health.ready_after_s},
        notes=list(outcome.notes),
    )


def upload_document(rows: Sequence[Mapping[str, Any]], *, uploaded: int, spooled: int, bad: int,
                    interrupted: bool) -> str:  # fmt: skip
    return document(
        "upload", results=list(rows), uploaded=uploaded, spooled=spooled, bad=bad, interrupted=interrupted
    )
