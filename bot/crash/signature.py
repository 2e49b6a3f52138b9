"""Crash signatures: a stable identity per distinct crash, so one crash is one issue however often it happens.

What enters the primary id (``Signature.id``, 16 hex of SHA-256):

* the exception *kind*: Windows codes get their names (``C0000005`` -> ``ACCESS_VIOLATION``), signals stay
  signals (``SIGSEGV``); Windows and Linux kinds are kept apart on purpose, because MSVC and GCC also
  name the same function differently, so merging the kinds would not merge the crashes and would only
  risk lumping distinct ones. Any failed assertion is ``ASSERT`` whatever the platform turned it into
  (``C0000420`` on Windows; on Linux TrinityCore writes to address 0 after printing, so it arrives as
  ``SIGSEGV``; AC/VS may show ``80000003``);
* the normalised assertion condition (whitespace and spacing around operators dropped, numbers, GUIDs and
  addresses replaced), when there is one;
* for a report without any frame whose exception names a throw (the console lines of an uncaught C++
  exception, :mod:`bot.crash.terminate`): the exception's type and ``what()`` text, normalised like a
  condition with quoted names replaced too (:func:`normalize_message`), in the condition's place;
* the normalised names of the top :data:`TOP_FRAMES` meaningful frames (``bot.crash.normalize``); an
  unsymbolised frame contributes ``module+section:offset`` (module-relative, so ASLR does not move it);
  with no symbolised frame but an assertion, the assertion's function stands in.

Never in it: absolute addresses, paths, line numbers (unrelated edits shift them), dates, revision lines.
``full_id`` hashes the same kind and condition with *all* kept (in-app) frames; storing both lets a rule
change that moves the top frames still find the old issue through the other id (Sentry's dual hash).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from bot.crash import signals
from bot.crash.model import Assertion, CrashReport, ExceptionInfo, Format, Signature
from bot.crash.normalize import file_basename, normalize_function, normalize_module, normalize_offset
from bot.crash.rules import FrameView

# Bump when a change to normalisation, lists or this module would regroup existing crashes; stored beside
# every id so old issues can be matched across a migration.
SIGNATURE_VERSION = 1
TOP_FRAMES = 3
ID_HEX = 16
_CONDITION_TEXT_MAX = 80

EXCEPTION_KINDS: dict[str, str] = {
    "C0000005": "ACCESS_VIOLATION",
    "C0000006": "IN_PAGE_ERROR",
    "C0000008": "INVALID_HANDLE",
    "C000001D": "ILLEGAL_INSTRUCTION",
    "C0000025": "NONCONTINUABLE_EXCEPTION",
    "C0000026": "INVALID_DISPOSITION",
    "C000008C": "ARRAY_BOUNDS_EXCEEDED",
    "C000008D": "FLT_DENORMAL_OPERAND",
    "C000008E": "FLT_DIVIDE_BY_ZERO",
    "C0000090": "FLT_INVALID_OPERATION",
    "C0000094": "INT_DIVIDE_BY_ZERO",
    "C0000095": "INT_OVERFLOW",
    "C0000096": "PRIV_INSTRUCTION",
    "C00000FD": "STACK_OVERFLOW",
    "C0000374": "HEAP_CORRUPTION",
    "C0000409": "STACK_BUFFER_OVERRUN",
    "C0000417": "INVALID_CRT_PARAMETER",
    "C0000420": "ASSERT",
    "80000003": "BREAKPOINT",
    "80000004": "SINGLE_STEP",
    "E06D7363": "CPP_EXCEPTION",
}
_SIGNALS = {"SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGKILL", "SIGTERM", "SIGSYS"}
# Numbers read as signals (any other number is an exception code): kept to these so signatures stay put.
_SIGNAL_NUMBERS = frozenset({"11", "6", "7", "8", "4", "5"})

_HEX_CODE = re.compile(r"^(?:0X)?([0-9A-F]{1,8})$")
_GUID = re.compile(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b")
_HEX_NUMBER = re.compile(r"\b0[xX][0-9A-Fa-f]+\b|\b[0-9A-Fa-f]{8,}\b")
_DECIMAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[fFuUlL]*\b")
_SPACE_AROUND_PUNCT = re.compile(r"\s*([^\w\s])\s*")
_SPACES = re.compile(r"\s+")
_QUOTED = re.compile(r"""(?<!\w)(?:'[^'\n]{0,200}'|"[^"\n]{0,200}"|‘[^’\n]{0,200}’)(?!\w)""")
_STD_INLINE_NS = re.compile(r"\bstd::(?:__cxx11|__1|__8)::")


def exception_kind(report: CrashReport) -> str:
    """The normalised kind of crash (see the module docstring for the mapping and why)."""
    if report.assertion is not None:
        return "ASSERT"
    exc = report.exception
    if exc is None or not exc.code.strip():
        return "UNKNOWN"
    code = exc.code.strip().upper()
    if code in _SIGNALS:
        return code
    if code in _SIGNAL_NUMBERS:
        return signals.name_of(code)
    m = _HEX_CODE.match(code)
    if m:
        hex_code = m.group(1).upper().rjust(8, "0")
        return EXCEPTION_KINDS.get(hex_code, hex_code)
    return re.sub(r"[^A-Z0-9_]+", "_", code).strip("_") or "UNKNOWN"


def normalize_condition(text: str) -> str:
    """An assertion condition reduced to what identifies it: no whitespace differences, no variable numbers.

    ``index < m_valuesCount || PrintIndexError(index , false)`` and
    ``index<m_valuesCount||PrintIndexError(index,false)`` are the same; ``guid 0xF13000…`` and
    ``guid 0xF14000…`` are the same.
    """
    text = _GUID.sub("<guid>", text)
    text = _HEX_NUMBER.sub("<hex>", text)
    text = _DECIMAL.sub("<n>", text)
    text = _SPACE_AROUND_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def normalize_message(text: str) -> str:
    """An exception's message reduced like a condition, with quoted names replaced too: ``cannot open
    'Spell.dbc'`` and ``cannot open 'Map.dbc'`` are one throw (an apostrophe inside a word is no quote)."""
    return normalize_condition(_QUOTED.sub("<str>", text))


def _exception_condition(exc: ExceptionInfo) -> str:
    """What identifies an uncaught exception: its type and message (``std::domain_error: Unrecognized
    item prototype class``), else the terminate message's own kind."""
    thrown = _STD_INLINE_NS.sub("std::", " ".join((exc.thrown_type or "").split()))
    what = " ".join((exc.what or "").split())
    if thrown and what:
        return f"{thrown}: {what}"
    return thrown or what or (exc.name or "")


def _names_a_throw(report: CrashReport, exc: ExceptionInfo) -> bool:
    return report.format is Format.UNCAUGHT or bool(exc.thrown_type or exc.what)


def _condition(assertion: Assertion | None) -> str:
    if assertion is None:
        return ""
    text = assertion.condition or ""
    if not text.strip() and assertion.message:
        text = assertion.message.strip().splitlines()[0] if assertion.message.strip() else ""
    return text


def frame_key(view: FrameView) -> str:
    """One frame's contribution to a signature: its normalised function, else ``module+offset``."""
    if view.name:
        return view.name
    frame = view.frame
    module = view.module or "?"
    if frame.offset:
        return f"{module}+{normalize_offset(frame.offset)}"
    if frame.file:
        return file_basename(frame.file)
    return module


def _fault_key(report: CrashReport) -> str | None:
    exc = report.exception
    if exc is None or not (exc.module or exc.module_offset):
        return None
    module = normalize_module(exc.module) if exc.module else "?"
    if exc.module_offset:
        return f"{module}+{normalize_offset(exc.module_offset)}"
    return module


def _digest(parts: Sequence[str]) -> str:
    payload = "\n".join((f"crashbot-signature/v{SIGNATURE_VERSION}", *parts))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:ID_HEX]


def make_signature(report: CrashReport, meaningful: Sequence[FrameView]) -> Signature:
    """Sign a report given its meaningful frames (innermost first), as chosen by the frame rules."""
    kind = exception_kind(report)
    condition = _condition(report.assertion)
    keys = [frame_key(v) for v in meaningful]
    symbolised = any(v.name for v in meaningful)
    assertion = report.assertion
    if not symbolised and assertion is not None and assertion.function:
        # Module offsets change with every build; the asserting function and condition do not.
        keys = [normalize_function(assertion.function)]
    elif not keys:
        fault = _fault_key(report)
        keys = [fault] if fault else []
    top = keys[:TOP_FRAMES]
    condition_key = normalize_condition(condition) if condition else ""
    exc = report.exception
    if not condition and not keys and exc is not None and _names_a_throw(report, exc):
        # No frame to tell crashes apart (the console lines of an uncaught exception): the throw itself
        # does. Reports with frames keep their ids: the exception text never entered them.
        condition = _exception_condition(exc)
        condition_key = normalize_message(condition)
    head = kind
    if condition:
        shown = " ".join(condition.split())
        if len(shown) > _CONDITION_TEXT_MAX:
            shown = shown[: _CONDITION_TEXT_MAX - 1] + "…"
        head = f"{kind}({shown})"
    text = " | ".join([head, *top]) if top else f"{head} | (no frames)"
    return Signature(
        text=text,
        id=_digest([kind, condition_key, *top]),
        full_id=_digest([kind, condition_key, *keys]),
        version=SIGNATURE_VERSION,
        frames=tuple(top),
    )
