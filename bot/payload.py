"""The signed crash record: what an issue body carries for machines, sealed with HMAC-SHA256.

Format (version 1). The payload is a JSON object (see :meth:`Payload.to_json`) serialised canonically:
sorted keys, no whitespace, UTF-8, non-ASCII characters kept as themselves. The seal is

    mac = HMAC-SHA256(key, b"crashbot:payload:v1\\n" + canonical_bytes)

(the prefix separates this use of the key from any other). An issue body carries two HTML comments, which
GitHub does not display:

    <!-- crashbot:payload v1 <standard base64 of canonical_bytes> -->
    <!-- crashbot:hmac <64 lower-case hex digits of mac> -->

Verification recomputes the mac over the decoded bytes, compares in constant time, then insists the bytes
are canonical (re-serialising the parsed object gives the same bytes), so each payload has exactly one
valid encoding. This module is pure: no I/O; the key is passed in by the caller.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.crash.model import (
    Assertion,
    Build,
    Crash,
    CrashReport,
    ExceptionInfo,
    Format,
    Frame,
    RelatedStack,
    Signature,
    StackRole,
    Thread,
    TopFrame,
)
from bot.errors import TrustError

PAYLOAD_VERSION = 1
_MAC_PREFIX = b"crashbot:payload:v1\n"
MAX_LIST_ENTRIES = 20  # hosts/realms/builds kept per signature (most recent last)
MAX_BATCHES = 50  # uploader batch ids remembered per signature: a retried batch is recognised, not re-counted
# Occurrence history (the dashboard's trends and fix verification read it): per-day counts (UTC) for the
# last HISTORY_DAYS days before the newest recorded day, and per-build counts for the last
# MAX_LIST_ENTRIES builds. 90 day buckets + 20 builds cost at most ~2.5 KB of the payload budget.
HISTORY_DAYS = 90
# report content hashes remembered per signature: the same report sent again from another spool or host
# is recognised, not re-counted (a few KB of the payload at most)
MAX_REPORTS = 256
REPORT_HASH_CHARS = 12  # 48 bits of the report's SHA-256: no collision among 256 but by astronomical chance
# A sealed payload (base64) never exceeds this many characters, leaving over half of GitHub's 65,536 for
# the human-readable part of the issue body.
PAYLOAD_MAX_B64_CHARS = 30_000
_STRING_CAPS: tuple[int | None, ...] = (None, 2048, 512, 128)
_MIN_FRAMES_KEPT = 16  # prefer capping long strings to dropping frames below this many
MAX_RELATED_STACKS = 4  # a sanitizer's free, allocation, ... stacks carried per crash
MAX_RELATED_FRAMES = 24  # frames kept per related stack (the top ones name the culprit)
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def report_hash(sha256: str) -> str:
    """The short form of a report's SHA-256 (hex) that an issue's payload remembers."""
    return sha256[:REPORT_HASH_CHARS].lower()


def iso_utc(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DDTHH:MM:SSZ``; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(_ISO_FORMAT)


def parse_iso_utc(text: str) -> datetime:
    """The inverse of :func:`iso_utc` (also accepts ``+00:00`` offsets); raises ValueError when malformed."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def scrub(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD: GitHub stores UTF-8, which cannot hold them."""
    return _SURROGATE_RE.sub("\ufffd", text)


def day_of(moment: datetime) -> date:
    """The UTC calendar day of ``moment`` (a naive datetime is taken to be UTC already)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


Counts = tuple[tuple[str, int], ...]


def _add_days(mine: Counts, other: Counts) -> Counts:
    """Both day histories added up, sorted by day, keeping the :data:`HISTORY_DAYS` days up to the newest."""
    total: dict[str, int] = dict(mine)
    for day, n in other:
        total[day] = total.get(day, 0) + n
    if not total:
        return ()
    newest = date.fromisoformat(max(total))
    oldest = (newest - timedelta(days=HISTORY_DAYS - 1)).isoformat()
    return tuple((d, n) for d, n in sorted(total.items()) if d >= oldest and n > 0)


def _add_builds(mine: Counts, other: Counts, keep: int = MAX_LIST_ENTRIES) -> Counts:
    """Both per-build counts added up; a build counted again moves to the end; the last ``keep`` stay."""
    total: dict[str, int] = dict(mine)
    for build, n in other:
        total[build] = total.pop(build, 0) + n
    return tuple(total.items())[-keep:]


def _fold(existing: tuple[str, ...], new: Iterable[str], keep: int = MAX_LIST_ENTRIES) -> tuple[str, ...]:
    """Unique values in first-seen order, a re-seen value moving to the end, keeping the last ``keep``."""
    values = list(existing)
    for value in new:
        if not value:
            continue
        if value in values:
            values.remove(value)
        values.append(value)
    return tuple(values[-keep:])


@dataclass(frozen=True)
class Occurrences:
    """How often one signature has been seen, where, and when crashbot last told the issue about it.

    Times are ISO-8601 UTC strings (``2024-05-01T12:00:00Z``, empty when unknown). ``commented_count`` is
    ``count`` as of ``last_comment_at``, so ``count - commented_count`` is "seen again since we last said".
    ``batches`` holds the ids of the last :data:`MAX_BATCHES` uploader batches counted here, so a batch
    retried after a kill or an ambiguous 5xx is recognised instead of being counted twice. ``reports``
    holds the short content hashes (:func:`report_hash`) of the last :data:`MAX_REPORTS` reports counted,
    so the same report uploaded again from a fresh spool or another host is not counted twice either.

    ``days`` (``("2024-05-01", 3)``, oldest first, bounded by :data:`HISTORY_DAYS`) and ``build_counts``
    (per build, the last :data:`MAX_LIST_ENTRIES` builds) are the history; a payload sealed by an older
    uploader has none, so ``count`` may exceed the sum of ``days``: those occurrences have no known day.
    """

    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    hosts: tuple[str, ...] = ()
    realms: tuple[str, ...] = ()
    builds: tuple[str, ...] = ()
    last_comment_at: str = ""
    commented_count: int = 0
    batches: tuple[str, ...] = ()
    days: Counts = ()
    build_counts: Counts = ()
    reports: tuple[str, ...] = ()

    def record(
        self,
        at: datetime,
        *,
        host: str | None = None,
        realm: str | None = None,
        build: str | None = None,
        count: int = 1,
        batch: str | None = None,
        report: str | None = None,
    ) -> Occurrences:
        """These occurrences plus ``count`` new crashes seen at ``at`` on ``host``/``realm``/``build``,
        sent in uploader batch ``batch``."""
        seen = iso_utc(at)
        return self.merge(
            Occurrences(
                count=count,
                first_seen=seen,
                last_seen=seen,
                hosts=(host,) if host else (),
                realms=(realm,) if realm else (),
                builds=(build,) if build else (),
                batches=(batch,) if batch else (),
                days=((day_of(at).isoformat(), count),) if count > 0 else (),
                build_counts=((build, count),) if build and count > 0 else (),
                reports=(report,) if report else (),
            )
        )

    def merge(self, other: Occurrences) -> Occurrences:
        """Both sets of occurrences folded together (counts add; the later comment bookkeeping wins)."""
        firsts = [t for t in (self.first_seen, other.first_seen) if t]
        lasts = [t for t in (self.last_seen, other.last_seen) if t]
        mine_newer = self.last_comment_at >= other.last_comment_at
        return Occurrences(
            count=self.count + other.count,
            first_seen=min(firsts, default=""),
            last_seen=max(lasts, default=""),
            hosts=_fold(self.hosts, other.hosts),
            realms=_fold(self.realms, other.realms),
            builds=_fold(self.builds, other.builds),
            last_comment_at=self.last_comment_at if mine_newer else other.last_comment_at,
            commented_count=self.commented_count if mine_newer else other.commented_count,
            batches=_fold(self.batches, other.batches, MAX_BATCHES),
            days=_add_days(self.days, other.days),
            build_counts=_add_builds(self.build_counts, other.build_counts),
            reports=_fold(self.reports, other.reports, MAX_REPORTS),
        )

    def mark_commented(self, at: datetime) -> Occurrences:
        """These occurrences after telling the issue about all of them at ``at`` (a comment, or the
        issue's creation)."""
        return dataclasses.replace(self, last_comment_at=iso_utc(at), commented_count=self.count)

    @property
    def since_comment(self) -> int:
        """Occurrences not yet reported in a comment."""
        return max(self.count - self.commented_count, 0)

    @property
    def dated(self) -> int:
        """Occurrences whose day is known (the rest predate the history or fell out of its window)."""
        return sum(n for _, n in self.days)

    def on_day(self, day: date) -> int:
        return dict(self.days).get(day.isoformat(), 0)

    def daily(self, end: date, n_days: int) -> tuple[int, ...]:
        """Counts per day for the ``n_days`` days ending with ``end`` (oldest first)."""
        counts = dict(self.days)
        start = end - timedelta(days=n_days - 1)
        return tuple(counts.get((start + timedelta(days=i)).isoformat(), 0) for i in range(n_days))

    def to_json(self) -> dict[str, Any]:
        history: dict[str, Any] = {}
        if self.days or self.build_counts:  # absent when empty: older readers' bytes stay as they were
            history["history"] = {"days": dict(self.days), "builds": [list(b) for b in self.build_counts]}
        return history | {
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "hosts": list(self.hosts),
            "realms": list(self.realms),
            "builds": list(self.builds),
            "last_comment_at": self.last_comment_at,
            "commented_count": self.commented_count,
            "batches": list(self.batches),
            **({"reports": list(self.reports)} if self.reports else {}),
        }

    @classmethod
    def from_json(cls, data: Any) -> Occurrences:
        d = _Reader(data, "occurrences")
        return cls(
            count=d.whole("count"),
            first_seen=d.text("first_seen"),
            last_seen=d.text("last_seen"),
            hosts=d.texts("hosts"),
            realms=d.texts("realms"),
            builds=d.texts("builds"),
            last_comment_at=d.text("last_comment_at"),
            commented_count=d.whole("commented_count"),
            # absent in payloads sealed before batch ids were recorded
            batches=d.texts("batches") if d.has("batches") else (),
            # absent in payloads sealed before the history was recorded
            days=_history_days(d.obj("history")) if d.has("history") else (),
            build_counts=d.obj("history").pairs("builds") if d.has("history") else (),
            # absent in payloads sealed before report hashes were recorded
            reports=d.texts("reports")[-MAX_REPORTS:] if d.has("reports") else (),
        )


def _history_days(history: _Reader) -> Counts:
    days = history.counts("days")
    for day, _ in days:
        try:
            date.fromisoformat(day)
        except ValueError as e:
            raise TrustError(f"crash payload history has a malformed day {day[:40]!r}") from e
    return tuple(sorted(days))


@dataclass(frozen=True)
class Payload:
    """The machine-readable crash record embedded (signed) in an issue body.

    ``frames`` are the crashing thread's frames (innermost first, without ``raw`` text) and ``meaningful``
    indexes into them. ``frames_total`` is how many frames the crash had before any trimming and
    ``trimmed`` names what :meth:`fit` cut to stay within the size budget (empty when exact).
    ``related`` are the stacks printed beside the crashing one (a sanitizer's free and allocation stacks),
    at most :data:`MAX_RELATED_STACKS` of :data:`MAX_RELATED_FRAMES` frames; the key is written only when
    there are some (as a frame's ``column``), so other crashes' payloads keep the bytes older crashbots
    sealed, and an older crashbot reads the new keys as absent.
    """

    format: Format
    signature: Signature
    exception: ExceptionInfo | None
    assertion: Assertion | None
    build: Build
    top_frame: TopFrame | None
    frames: tuple[Frame, ...]
    meaningful: tuple[int, ...]
    frames_total: int
    occurrences: Occurrences
    trimmed: tuple[str, ...] = ()
    version: int = PAYLOAD_VERSION
    related: tuple[RelatedStack, ...] = ()

    @classmethod
    def from_crash(cls, crash: Crash, occurrences: Occurrences) -> Payload:
        """The exact record of ``crash`` (strings made storable: lone surrogates become U+FFFD)."""
        report = crash.report
        payload = cls(
            format=report.format,
            signature=crash.signature,
            exception=report.exception,
            assertion=report.assertion,
            build=report.build,
            top_frame=crash.top_frame,
            frames=tuple(dataclasses.replace(f, raw="") for f in crash.frames),
            meaningful=tuple(i for i in crash.meaningful if 0 <= i < len(crash.frames)),
            frames_total=len(crash.frames),
            occurrences=occurrences,
            related=tuple(
                RelatedStack(
                    s.role,
                    s.title,
                    tuple(dataclasses.replace(f, raw="") for f in s.frames[:MAX_RELATED_FRAMES]),
                )
                for s in report.related[:MAX_RELATED_STACKS]
            ),
        )
        # Round-trip through JSON with scrubbing so the object equals what a reader will get back.
        return cls.from_json(_map_strings(payload.to_json(), scrub))

    def to_crash(self) -> Crash:
        """The crash as far as the issue carries it (the inverse of :meth:`from_crash`): the crashing
        thread's frames, exception, assertion, build and signature; other threads and the raw report
        stay on the game host."""
        report = CrashReport(
            format=self.format,
            threads=(Thread(frames=self.frames, current=True),),
            exception=self.exception,
            assertion=self.assertion,
            build=self.build,
            crashing_thread=0,
            related=self.related,
        )
        return Crash(
            report=report,
            thread_index=0,
            frames=self.frames,
            meaningful=self.meaningful,
            top_frame=self.top_frame,
            signature=self.signature,
        )

    def to_json(self) -> dict[str, Any]:
        sig = self.signature
        exc = self.exception
        out: dict[str, Any] = {
            "v": self.version,
            "format": self.format.value,
            "signature": {
                "text": sig.text,
                "id": sig.id,
                "full_id": sig.full_id,
                "version": sig.version,
                "frames": list(sig.frames),
                **({"aliases": list(sig.aliases)} if sig.aliases else {}),
            },
            "exception": None
            if exc is None
            else {
                "code": exc.code,
                "name": exc.name,
                "address": exc.address,
                "module": exc.module,
                "module_offset": exc.module_offset,
                # absent unless known, so payloads of every other crash seal exactly as before
                **({"type": exc.thrown_type} if exc.thrown_type is not None else {}),
                **({"what": exc.what} if exc.what is not None else {}),
            },
            "assertion": None if self.assertion is None else self.assertion.to_json(),
            "build": dataclasses.asdict(self.build),
            "top_frame": None if self.top_frame is None else self.top_frame.to_json(),
            "frames": [_frame_json(f) for f in self.frames],
            "meaningful": list(self.meaningful),
            "frames_total": self.frames_total,
            "occurrences": self.occurrences.to_json(),
            "trimmed": list(self.trimmed),
        }
        if self.related:
            out["related"] = [
                {"role": s.role.value, "title": s.title, "frames": [_frame_json(f) for f in s.frames]}
                for s in self.related
            ]
        return out

    @classmethod
    def from_json(cls, data: Any) -> Payload:
        """Rebuild a payload from :meth:`to_json` output; raise TrustError when the shape is wrong."""
        d = _Reader(data, "payload")
        version = d.whole("v")
        if version != PAYLOAD_VERSION:
            raise TrustError(f"crash payload version {version} is not understood (this crashbot reads v1)")
        try:
            fmt = Format(d.text("format"))
        except ValueError as e:
            raise TrustError(f"crash payload has an unknown format {d.raw('format')!r}") from e
        s = d.obj("signature")
        exc = d.opt_obj("exception")
        asr = d.opt_obj("assertion")
        b = d.obj("build")
        top = d.opt_obj("top_frame")
        return cls(
            format=fmt,
            signature=Signature(
                text=s.text("text"),
                id=s.text("id"),
                full_id=s.text("full_id"),
                version=s.whole("version"),
                frames=s.texts("frames"),
                # absent in payloads sealed before symbolication kept the unresolved id
                aliases=s.texts("aliases") if s.has("aliases") else (),
            ),
            exception=None
            if exc is None
            else ExceptionInfo(
                code=exc.text("code"),
                name=exc.opt_text("name"),
                address=exc.opt_text("address"),
                module=exc.opt_text("module"),
                module_offset=exc.opt_text("module_offset"),
                thrown_type=exc.opt_text("type") if exc.has("type") else None,
                what=exc.opt_text("what") if exc.has("what") else None,
            ),
            assertion=None
            if asr is None
            else Assertion(
                condition=asr.opt_text("condition"),
                file=asr.opt_text("file"),
                line=asr.opt_whole("line"),
                function=asr.opt_text("function"),
                message=asr.opt_text("message"),
            ),
            build=Build(
                revision=b.opt_text("revision"),
                dirty=b.flag("dirty"),
                product=b.opt_text("product"),
                branch=b.opt_text("branch"),
                platform=b.opt_text("platform"),
                configuration=b.opt_text("configuration"),
                date=b.opt_text("date"),
                raw=b.opt_text("raw"),
                executable=b.opt_text("executable"),
            ),
            top_frame=None
            if top is None
            else TopFrame(
                function=top.opt_text("function"), file=top.opt_text("file"), line=top.opt_whole("line")
            ),
            frames=tuple(_frame_from(r) for r in d.objs("frames")),
            meaningful=d.wholes("meaningful"),
            frames_total=d.whole("frames_total"),
            occurrences=Occurrences.from_json(d.raw("occurrences")),
            trimmed=d.texts("trimmed"),
            version=version,
            # absent in payloads of crashes with no related stacks, and in all sealed before they existed
            related=tuple(_related_from(r) for r in d.objs("related")) if d.has("related") else (),
        )

    def canonical(self) -> bytes:
        """The canonical serialisation the seal covers."""
        return canonical_json(self.to_json())

    def fit(self, max_b64_chars: int = PAYLOAD_MAX_B64_CHARS) -> Payload:
        """This payload, trimmed deterministically until its base64 form has at most ``max_b64_chars``.

        Frames are dropped from the outer end first (innermost frames matter most); when even
        :data:`_MIN_FRAMES_KEPT` frames don't fit, every string is capped at decreasing lengths. What was
        cut is recorded in ``trimmed``.
        """
        if _b64_len(self.canonical()) <= max_b64_chars:
            return self
        best: Payload | None = None
        for cap in _STRING_CAPS:
            keep = _max_frames(self, cap, max_b64_chars)
            if keep is None:
                continue
            best = self._trimmed(cap, keep)
            if keep >= min(len(self.frames), _MIN_FRAMES_KEPT):
                return best
        if best is not None:
            return best
        raise TrustError(
            f"crash payload cannot be trimmed to {max_b64_chars} base64 characters "
            f"(signature {self.signature.id!r}); raise the budget"
        )

    def _trimmed(self, cap: int | None, keep: int) -> Payload:
        notes = list(self.trimmed)
        if keep < len(self.frames):
            notes.append(f"frames:{keep}/{self.frames_total}")
        if cap is not None:
            notes.append(f"strings:{cap}")
        related = self.related
        if keep < len(self.frames) and related:
            # the crashing thread is cut: the related stacks go down to as many frames, or go
            related = tuple(dataclasses.replace(s, frames=s.frames[:keep]) for s in related) if keep else ()
            notes.append(f"related:{keep}")
        base = dataclasses.replace(
            self,
            frames=self.frames[:keep],
            meaningful=tuple(i for i in self.meaningful if i < keep),
            trimmed=tuple(notes),
            related=related,
        )
        if cap is None:
            return base
        capped = _map_strings(base.to_json(), lambda s: _cap(s, cap))
        capped["trimmed"] = list(notes)  # the notes themselves are never capped
        return Payload.from_json(capped)


def _frame_json(frame: Frame) -> dict[str, Any]:
    """A frame as the payload carries it: ``column`` only when the report printed one, so payloads of
    crashes without columns keep the bytes crashbots before columns sealed."""
    out = frame.to_json()
    if out["column"] is None:
        del out["column"]
    return out


def _frame_from(r: _Reader) -> Frame:
    return Frame(
        function=r.opt_text("function"),
        module=r.opt_text("module"),
        file=r.opt_text("file"),
        line=r.opt_whole("line"),
        offset=r.opt_text("offset"),
        address=r.opt_text("address"),
        inline=r.flag("inline"),
        column=r.opt_whole("column") if r.has("column") else None,  # absent before columns were kept
    )


def _related_from(r: _Reader) -> RelatedStack:
    try:
        role = StackRole(r.text("role"))
    except ValueError as e:
        raise TrustError(f"crash payload has an unknown related-stack role {r.raw('role')!r}") from e
    return RelatedStack(
        role=role, title=r.text("title"), frames=tuple(_frame_from(f) for f in r.objs("frames"))
    )


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (non-ASCII kept literal)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64_len(data: bytes) -> int:
    return 4 * ((len(data) + 2) // 3)


def _cap(text: str, cap: int) -> str:
    return text if len(text) <= cap else text[: cap - 1] + "…"


def _map_strings(value: Any, fn: Any) -> Any:
    """``value`` (parsed JSON) with ``fn`` applied to every string value (not to keys)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def _max_frames(payload: Payload, cap: int | None, max_b64_chars: int) -> int | None:
    """The largest frame count that fits with strings capped at ``cap`` (None if not even zero fits)."""

    def fits(keep: int) -> bool:
        return _b64_len(payload._trimmed(cap, keep).canonical()) <= max_b64_chars

    if not fits(0):
        return None
    lo, hi = 0, len(payload.frames)
    while lo < hi:  # invariant: fits(lo)
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def seal(payload: Payload, key: bytes) -> tuple[str, str]:
    """``(base64 text, hex mac)`` for ``payload`` under ``key``."""
    _check_key(key)
    data = payload.canonical()
    return base64.b64encode(data).decode("ascii"), _mac(key, data)


def unseal(b64_text: str, mac_hex: str, key: bytes) -> Payload:
    """The payload sealed as ``(b64_text, mac_hex)``; raise TrustError unless the mac verifies."""
    _check_key(key)
    try:
        data = base64.b64decode(b64_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise TrustError("crash payload is not valid base64 (the issue body was altered)") from e
    # bytes, not str: compare_digest raises TypeError for non-ASCII str (a lookalike digit in an edit)
    if not hmac.compare_digest(_mac(key, data).encode("ascii"), mac_hex.lower().encode("utf-8")):
        raise TrustError(
            "crash payload signature does not verify: the body was altered or signed with another key "
            "(check the signing key env var)"
        )
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise TrustError("crash payload is signed but is not UTF-8 JSON") from e
    if canonical_json(parsed) != data:
        raise TrustError("crash payload is signed but not in canonical form")
    return Payload.from_json(parsed)


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, _MAC_PREFIX + data, hashlib.sha256).hexdigest()


def _check_key(key: bytes) -> None:
    if not key:
        raise TrustError("the crash payload signing key is empty (set the env var named by signing.key_env)")


class _Reader:
    """Typed access to one JSON object; any mismatch is a TrustError naming the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise TrustError(f"crash payload field {where!r} is not an object")
        self._data = data
        self._where = where

    def _fail(self, key: str, expected: str) -> TrustError:
        return TrustError(f"crash payload field '{self._where}.{key}' is not {expected}")

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str) -> Any:
        if key not in self._data:
            raise TrustError(f"crash payload field '{self._where}.{key}' is missing")
        return self._data[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.raw(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, "a string or null")
        return value

    def whole(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "a whole number")
        return value

    def opt_whole(self, key: str) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "a whole number or null")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def _list(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values = self._list(key)
        if not all(isinstance(v, str) for v in values):
            raise self._fail(key, "a list of strings")
        return tuple(values)

    def wholes(self, key: str) -> tuple[int, ...]:
        values = self._list(key)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self._fail(key, "a list of whole numbers")
        return tuple(values)

    def counts(self, key: str) -> tuple[tuple[str, int], ...]:
        """An object of whole numbers ≥ 0, in its stored order."""
        value = self.raw(key)
        if not isinstance(value, Mapping) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value.values()
        ):
            raise self._fail(key, "an object of whole numbers")
        return tuple((str(k), int(n)) for k, n in value.items())

    def pairs(self, key: str) -> tuple[tuple[str, int], ...]:
        """A list of ``[text, whole number ≥ 0]`` pairs, in order."""
        values = self._list(key)
        if not all(
            isinstance(v, list)
            and len(v) == 2
            and isinstance(v[0], str)
            and isinstance(v[1], int)
            and not isinstance(v[1], bool)
            and v[1] >= 0
            for v in values
        ):
            raise self._fail(key, "a list of [text, count] pairs")
        return tuple((v[0], v[1]) for v in values)

    def obj(self, key: str) -> _Reader:
        return _Reader(self.raw(key), f"{self._where}.{key}")

    def opt_obj(self, key: str) -> _Reader | None:
        value = self.raw(key)
        return None if value is None else _Reader(value, f"{self._where}.{key}")

    def objs(self, key: str) -> tuple[_Reader, ...]:
        return tuple(_Reader(v, f"{self._where}.{key}[{i}]") for i, v in enumerate(self._list(key)))
