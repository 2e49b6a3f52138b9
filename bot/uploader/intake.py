"""One crash file -> one spool row: read (capped), hash, skip if known, decode, redact, parse, sign, spool.

Every file is isolated: a report that cannot be read is logged and skipped, one that cannot be parsed is
*quarantined* (kept in the spool with its one-line error, reported once by the upload service) so it
never blocks the queue, and a parser bug on one file never stops the files after it. Only the redacted
text is stored: the original never leaves the file it came in.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import RedactionSettings
from bot.crash import CrashReader, analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Crash
from bot.crash.redact import compile_patterns, redact
from bot.crash.text import decode, read_prefix
from bot.errors import ConfigError
from bot.uploader.spool import Spool, SpooledReport
from bot.uploader.watcher import dump_for

logger = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 500
_PATHS_REMEMBERED = 4096  # recent reports a late .dmp can still be paired with


class Outcome(enum.StrEnum):
    """What intake did with one file."""

    SPOOLED = "spooled"  # new content, parsed and signed: queued for GitHub
    KNOWN = "known"  # the same content was spooled before (whatever became of it)
    QUARANTINED = "quarantined"  # new content that does not parse: kept, never sent as a crash
    UNREADABLE = "unreadable"  # the file could not be read (vanished, locked, a directory, a pipe)


@dataclass(frozen=True)
class IntakeResult:
    path: Path
    outcome: Outcome
    sha256: str | None = None
    signature_id: str | None = None
    error: str | None = None
    report: SpooledReport | None = None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


def _counts_text(counts: dict[str, int]) -> str:
    """Redaction counts as ``kind=n`` pairs, stable order (stored beside the report for the record)."""
    return ",".join(f"{kind}={n}" for kind, n in sorted(counts.items()) if n)


def _plain_crash(text: str, dump_path: str | None = None) -> Crash:
    """The crash as the report says it, without symbols (looked up at call time, so tests can inject)."""
    return analyse(parse_report(text))


class Intake:
    """Takes crash files into the spool; ``on_spooled(report)`` runs after each report is committed."""

    def __init__(
        self,
        spool: Spool,
        *,
        redaction: RedactionSettings,
        max_bytes: int,
        on_spooled: Callable[[SpooledReport], None] | None = None,
        crash_of: CrashReader | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ConfigError(f"uploader.max_report_bytes must be at least 1, got {max_bytes}")
        self._extra = compile_patterns(redaction.extra_patterns)  # RedactionSettings checked them when made
        self._spool = spool
        self._redaction = redaction
        self._max_bytes = max_bytes
        self._on_spooled = on_spooled
        self._crash_of = crash_of or _plain_crash
        # report path -> content hash, so a .dmp that settles after its .txt finds its row
        self._by_path: dict[Path, str] = {}
        self._lock = threading.Lock()

    def take(self, path: Path) -> IntakeResult:
        """Spool ``path`` (see the module docstring); never raises for a bad or vanished file."""
        try:
            data = self._read(path)
        except OSError as e:
            reason = e.strerror or type(e).__name__
            logger.warning("cannot read crash report %s: %s; skipped", path, reason)
            return IntakeResult(path, Outcome.UNREADABLE, error=f"{path}: cannot be read: {reason}")
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._by_path.pop(path, None)
            self._by_path[path] = sha
            while len(self._by_path) > _PATHS_REMEMBERED:
                del self._by_path[next(iter(self._by_path))]
        if self._spool.knows(sha):
            logger.debug("%s: already spooled (sha256 %s)", path, sha[:12])
            return IntakeResult(path, Outcome.KNOWN, sha256=sha)
        return self._spool_new(path, data, sha)

    def take_text(self, path: Path, text: str) -> IntakeResult:
        """Spool a report crashbot wrote itself for ``path`` (a core read through gdb), as :meth:`take`
        spools a file's content; the content hash is the text's, so a core read twice is known."""
        data = text.encode("utf-8", errors="replace")
        sha = hashlib.sha256(data).hexdigest()
        if self._spool.knows(sha):
            logger.debug("%s: already spooled (sha256 %s)", path, sha[:12])
            return IntakeResult(path, Outcome.KNOWN, sha256=sha)
        return self._spool_new(path, data, sha)

    def take_dump(self, dump: Path) -> None:
        """Record a ``.dmp`` that settled after its report; a dump whose report is unseen waits for it
        (:meth:`take` pairs them when the report arrives)."""
        with self._lock:
            sha = next(
                (h for p, h in self._by_path.items() if p.parent == dump.parent and p.stem == dump.stem),
                None,
            )
        if sha is not None and self._spool.knows(sha):
            self._spool.set_dump_path(sha, str(dump))

    def _read(self, path: Path) -> bytes:
        data, cut = read_prefix(path, self._max_bytes)
        if cut:
            logger.warning(
                "%s is larger than uploader.max_report_bytes (%d); only the first %d bytes are used",
                path,
                self._max_bytes,
                self._max_bytes,
            )
        return data

    def _spool_new(self, path: Path, data: bytes, sha: str) -> IntakeResult:
        dump = dump_for(path)
        dump_path = str(dump) if dump is not None else None
        text = decode(data)
        try:
            scrubbed = redact(
                text,
                ip_addresses=self._redaction.ip_addresses,
                emails=self._redaction.emails,
                user_paths=self._redaction.user_paths,
                extra_patterns=self._extra,
            )
        except Exception as e:  # per-file isolation: a redaction bug must not leak the unredacted text
            error = _one_line(f"redaction failed: {type(e).__name__}: {e}")
            logger.error("%s: %s; quarantined without its text", path, error)
            return self._quarantine(
                path, sha=sha, size=len(data), text="", redactions="", dump_path=dump_path, error=error
            )
        redactions = _counts_text(dict(scrubbed.counts))
        failure: str | None
        try:
            crash = self._crash_of(scrubbed.text, dump_path)
        except CrashParseError as e:
            failure = _one_line(str(e)) or "unrecognised crash report"
        except Exception as e:  # per-file isolation: a parser bug quarantines this file, not the queue
            logger.debug("parser failure on %s", path, exc_info=True)
            failure = _one_line(f"internal parser error: {type(e).__name__}: {e}")
        else:
            failure = None
        if failure is not None:
            return self._quarantine(
                path,
                sha=sha,
                size=len(data),
                text=scrubbed.text,
                redactions=redactions,
                dump_path=dump_path,
                error=failure,
            )
        report = self._spool.add(
            sha256=sha,
            path=str(path),
            size=len(data),
            text=scrubbed.text,
            signature_id=crash.signature.id,
            redactions=redactions,
            dump_path=dump_path,
        )
        if report is None:  # another process spooled the same content between knows() and add()
            return IntakeResult(path, Outcome.KNOWN, sha256=sha, signature_id=crash.signature.id)
        logger.info("spooled %s: signature %s (%s)", path, crash.signature.id, crash.signature.text)
        if self._on_spooled is not None:
            self._on_spooled(report)
        return IntakeResult(path, Outcome.SPOOLED, sha256=sha, signature_id=crash.signature.id, report=report)

    def _quarantine(
        self,
        path: Path,
        *,
        sha: str,
        size: int,
        text: str,
        redactions: str,
        dump_path: str | None,
        error: str,
    ) -> IntakeResult:
        report = self._spool.add(
            sha256=sha,
            path=str(path),
            size=size,
            text=text,
            signature_id=None,
            redactions=redactions,
            dump_path=dump_path,
            error=error,
        )
        if report is None:
            return IntakeResult(path, Outcome.KNOWN, sha256=sha)
        logger.warning("quarantined %s: %s", path, error)
        if self._on_spooled is not None:
            self._on_spooled(report)
        return IntakeResult(path, Outcome.QUARANTINED, sha256=sha, error=error, report=report)
