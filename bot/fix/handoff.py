"""The handoff directory between ``crashbot fix``'s three phases, which a workflow runs as three steps so
that no process running untrusted code ever held a crashbot secret (see README "Security model").

``crashbot.toml``: prepare's configuration, which work and publish load instead of the checkout's (the
work step can write the checkout). One subdirectory per issue (``<dir>/<number>/``) holding:

- ``task.pickle`` (prepare -> work): the engine's task. Only the work phase reads it. Unpickling it there
  is no new risk: that step runs untrusted code anyway and holds nothing but the engine's key.
- ``ticket.json`` (prepare -> publish): what publish may take from prepare (the issue, the signature, the
  base commit, the analysis comment and what the PR body says of the analysis), sealed with an HMAC under
  the signing key, which the work step never holds: a ticket it rewrote or moved to another issue does
  not verify.
- ``attempts.json`` (work -> publish): written by the untrusted step, so read with a size cap, without
  following a symlink, and parsed strictly (:func:`bot.fix.work.attempts_from_json`); the patch in it is
  validated again before anything is published.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.fix.attempts import Task
from bot.fix.report import AnalysisBrief
from bot.safefile import UnsafeFile, read_regular

CONFIG_FILE = "crashbot.toml"  # prepare's configuration, for work and publish (see bot/commands/fix.py)
TASK_FILE = "task.pickle"
TICKET_FILE = "ticket.json"
RESULT_FILE = "attempts.json"
MAX_TICKET_BYTES = 256 * 1024
MAX_RESULT_BYTES = 16 * 1024 * 1024
MAX_ISSUES = 1_000  # a sweep is capped far below this (fix.pending_cap)
_DOMAIN = b"crashbot fix handoff ticket v1\n"  # never the payload HMAC's input: a seal is not a crash
_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class HandoffError(BotError):
    """The handoff directory holds something the trusted side refuses (missing, tampered, malformed)."""


@dataclass(frozen=True)
class Ticket:
    """What ``--phase publish`` takes from ``--phase prepare``, and only under prepare's seal."""

    issue: int
    signature_id: str
    base_sha: str  # the commit the work step patched; publish checks it is on the base branch
    analysis_url: str
    brief: AnalysisBrief
    # the configuration prepare ran with (:func:`config_digest`): the work step could rewrite the
    # checkout's crashbot.toml, which publish reads again, so publish insists on the same one
    config: str = ""
    run: str = ""  # the workflow run (and attempt) of prepare: a ticket from an earlier run is refused


def config_digest(config: Any) -> str:
    """A digest of a whole configuration (frozen dataclasses of plain values), the same in every process
    that loaded the same settings (sets are sorted: string hashing differs between processes)."""
    settings = dataclasses.replace(config, source="") if hasattr(config, "source") else config
    text = json.dumps(_canonical(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_id(env: Mapping[str, str]) -> str:
    """The GitHub Actions run and attempt this process belongs to ("" outside Actions)."""
    run = env.get("GITHUB_RUN_ID", "")
    return f"{run}.{env.get('GITHUB_RUN_ATTEMPT', '')}" if run else ""


def check_binding(ticket: Ticket, *, config: str, run: str) -> None:
    """HandoffError unless ``ticket`` was sealed by a prepare of this run, with this configuration."""
    if ticket.config != config:
        raise HandoffError(
            f"the configuration changed between prepare and publish for #{ticket.issue} (crashbot.toml in "
            "the checkout, rewritten by the work step?); publishing nothing"
        )
    if ticket.run != run:
        raise HandoffError(
            f"the ticket of #{ticket.issue} is from run {ticket.run or '(none)'}, not {run or '(none)'}"
        )


def issue_dir(root: Path, number: int) -> Path:
    return root / str(number)


def prepared_issues(root: Path) -> list[int]:
    """The issues prepare handed over, by their directory names (publish verifies each one again)."""
    if not root.is_dir():
        raise HandoffError(f"the handoff directory {root} does not exist; run --phase prepare first")
    numbers = sorted(
        int(p.name) for p in root.iterdir() if re.fullmatch(r"[1-9][0-9]{0,9}", p.name) and not p.is_symlink()
    )
    return numbers[:MAX_ISSUES]


def write_task(root: Path, task: Task) -> None:
    target = issue_dir(root, task.issue)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    (target / TASK_FILE).write_bytes(pickle.dumps(task))


def read_task(root: Path, number: int) -> Task:
    """The work phase's task (it runs untrusted code anyway; see the module docstring)."""
    data = pickle.loads(_read(issue_dir(root, number) / TASK_FILE, MAX_RESULT_BYTES))  # noqa: S301
    if not isinstance(data, Task) or data.issue != number:
        raise HandoffError(f"{issue_dir(root, number) / TASK_FILE} is not the task of issue #{number}")
    return data


def seal(root: Path, ticket: Ticket, key: bytes) -> None:
    """Write ``ticket`` with its HMAC under ``key`` (the signing key: prepare and publish hold it)."""
    body = asdict(ticket)
    target = issue_dir(root, ticket.issue)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"ticket": body, "mac": _mac(key, body)})
    (target / TICKET_FILE).write_text(text, encoding="utf-8")


def unseal(root: Path, number: int, key: bytes) -> Ticket:
    """Issue ``number``'s ticket, only if its seal verifies and it names that issue; HandoffError else."""
    path = issue_dir(root, number) / TICKET_FILE
    try:
        data = json.loads(_read(path, MAX_TICKET_BYTES).decode("utf-8"))
        body, mac = data["ticket"], data["mac"]
        if not isinstance(body, dict) or not isinstance(mac, str):
            raise TypeError("not a sealed ticket")
    except (ValueError, KeyError, TypeError) as e:
        raise HandoffError(f"{path} is not a sealed ticket ({type(e).__name__})") from e
    if not hmac.compare_digest(_mac(key, body), mac):
        raise HandoffError(f"{path} does not verify: it was not written by --phase prepare, or was changed")
    ticket = _ticket(body)
    if ticket.issue != number:
        raise HandoffError(f"{path} is sealed for issue #{ticket.issue}, not #{number}")
    return ticket


def write_result(root: Path, number: int, text: str) -> None:
    (issue_dir(root, number) / RESULT_FILE).write_text(text, encoding="utf-8")


def read_result(root: Path, number: int) -> str:
    """``attempts.json`` as text: a regular file (never followed through a symlink), at most
    :data:`MAX_RESULT_BYTES`, UTF-8."""
    path = issue_dir(root, number) / RESULT_FILE
    try:
        return _read(path, MAX_RESULT_BYTES).decode("utf-8")
    except UnicodeDecodeError as e:
        raise HandoffError(f"{path} is not UTF-8 text") from e


def _read(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``, refusing symlinks (at the file and at its
    issue directory), devices and FIFOs, and anything larger."""
    if path.parent.is_symlink():
        raise HandoffError(f"{path.parent} is a symlink; the handoff directory was tampered with")
    try:
        return read_regular(path, limit)
    except UnsafeFile as e:
        raise HandoffError(str(e)) from e
    except OSError as e:
        raise HandoffError(f"cannot read {path}: {e.strerror or e}") from e


def _mac(key: bytes, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return hmac.new(key, _DOMAIN + canonical, hashlib.sha256).hexdigest()


def _ticket(body: dict[str, Any]) -> Ticket:
    try:
        brief = body["brief"]
        ticket = Ticket(
            issue=_typed(body["issue"], int),
            signature_id=_typed(body["signature_id"], str),
            base_sha=_typed(body["base_sha"], str),
            analysis_url=_typed(body["analysis_url"], str),
            brief=AnalysisBrief(
                top_function=_optional(brief["top_function"]),
                top_where=_optional(brief["top_where"]),
                suspect_short=_optional(brief["suspect_short"]),
                suspect_summary=_typed(brief["suspect_summary"], str),
                perhaps_fixed=_typed(brief["perhaps_fixed"], bool),
            ),
            config=_typed(body["config"], str),
            run=_typed(body["run"], str),
        )
    except (KeyError, TypeError) as e:
        raise HandoffError(f"a sealed ticket of an unexpected shape ({type(e).__name__}: {e})") from e
    if not _SHA_RE.fullmatch(ticket.base_sha):
        raise HandoffError("a sealed ticket without a full base commit sha")
    return ticket


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # a Path, say


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _typed(value, str)
