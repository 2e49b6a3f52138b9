"""The crash core's public API: bytes in, a parsed report, then a signed :class:`Crash` out.

``parse_report`` decodes and sniffs; ``analyse`` picks the crashing thread, applies the frame rules, chooses
the top frame and signs; ``crash_to_json`` is the ``crashbot parse --json`` contract (shared/DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from bot.crash.errors import CrashParseError
from bot.crash.model import Assertion, Crash, CrashReport, Decision, Format, TopFrame
from bot.crash.normalize import normalize_function
from bot.crash.rules import DEFAULT_RULES, KEEP, FrameView, Rule, RuleContext, apply_rules
from bot.crash.signature import make_signature
from bot.crash.sniff import parser_for, sniff
from bot.crash.text import MAX_BYTES, clean_lines, decode, written_notes
from bot.crash.threads import choose_crashing_thread

__all__ = ["CrashParseError", "CrashReader", "analyse", "crash_to_json", "parse_report", "plain_crash"]

# How the uploader turns a spooled report's text (and the path of its minidump, if any) into a crash;
# the symbols room offers one that symbolicates first (bot.symbols.service.crash_reader).
CrashReader = Callable[[str, "str | None"], "Crash"]

logger = logging.getLogger(__name__)


def parse_report(data: bytes | str, *, fmt: Format | None = None) -> CrashReport:
    """Decode, clean, sniff (unless ``fmt`` forces a format) and parse one report.

    Raises CrashParseError for empty, binary or unrecognised input, or when the parser finds nothing
    crash-like (no frames, no exception, no assertion).
    """
    if isinstance(data, bytes | bytearray | memoryview):
        text = decode(bytes(data))
    else:
        text = data if len(data) <= MAX_BYTES else data[:MAX_BYTES]
    lines = clean_lines(text)
    del text  # the lines are the only copy kept while parsing a large report
    if not any(line.strip() for line in lines):
        raise CrashParseError("the input is empty: no crash report to read")
    parser = parser_for(fmt) if fmt is not None else sniff(lines)
    report = parser.parse(lines)
    written = written_notes(lines)
    if written:  # crashbot's own remarks on a log it wrote (a core gdb could not read in full)
        report = dataclasses.replace(report, notes=(*written, *report.notes))
    if not any(t.frames for t in report.threads) and report.exception is None and report.assertion is None:
        raise CrashParseError(
            f"read as {parser.format.value} but found no stack frames, exception or assertion in it "
            "(is the report truncated before its call stack?)"
        )
    return report


def _same_function(frame_name: str, assertion_function: str) -> bool:
    """GCC's ``__FUNCTION__`` is unqualified (``GetMap``), MSVC's qualified (``WorldObject::GetMap``)."""
    asserted = normalize_function(assertion_function)
    return bool(asserted) and (frame_name == asserted or frame_name.endswith("::" + asserted))


def _with_assertion_location(view: FrameView, assertion: Assertion | None) -> TopFrame:
    """The frame as a TopFrame; a VS call-stack copy has no file, which the assertion supplies."""
    frame = view.frame
    if (
        frame.file is None
        and assertion is not None
        and assertion.file
        and assertion.function
        and _same_function(view.name, assertion.function)
    ):
        return TopFrame(view.name, assertion.file, frame.line if frame.line is not None else assertion.line)
    return TopFrame(view.name, frame.file, frame.line)


def _top_frame(
    views: Sequence[FrameView], meaningful: Sequence[int], report: CrashReport
) -> tuple[TopFrame | None, Decision]:
    rule = "top-frame"
    kept = [views[i] for i in meaningful]
    if kept and kept[0].name:
        first = kept[0]
        return (
            _with_assertion_location(first, report.assertion),
            Decision(rule, first.index, "top", f"#{first.index} {first.name}: first meaningful frame"),
        )
    symbolised = next((v for v in kept if v.name), None)
    assertion = report.assertion
    if symbolised is None and assertion is not None and (assertion.function or assertion.file):
        function = assertion.function
        return (
            TopFrame(function, assertion.file, assertion.line),
            Decision(rule, None, "top", "no symbolised frame: the assertion's location is the top frame"),
        )
    if symbolised is not None:
        above = symbolised.index - kept[0].index
        return (
            TopFrame(symbolised.name, symbolised.frame.file, symbolised.frame.line),
            Decision(
                rule,
                symbolised.index,
                "top",
                f"#{symbolised.index} {symbolised.name}: first symbolised meaningful frame "
                f"({above} unsymbolised frame(s) above it)",
            ),
        )
    return None, Decision(rule, None, "none", "no symbolised meaningful frame: no top frame")


def analyse(report: CrashReport, *, rules: Sequence[Rule] | None = None) -> Crash:
    """Conclude what ``report`` says: crashing thread, meaningful frames, top frame, signature, and why."""
    choice = choose_crashing_thread(report)
    frames = report.threads[choice.index].frames if choice.index is not None else ()
    views = tuple(FrameView.from_frame(i, f) for i, f in enumerate(frames))
    ctx = RuleContext(report=report, frames=views, fault_index=choice.fault_frame)
    frame_decisions = apply_rules(DEFAULT_RULES if rules is None else rules, ctx)
    meaningful = tuple(d.frame for d in frame_decisions if d.action == KEEP and d.frame is not None)
    top, top_decision = _top_frame(views, meaningful, report)
    signature = make_signature(report, [views[i] for i in meaningful])
    sign_decision = Decision("signature", None, "sign", f"{signature.text} (id {signature.id})")
    return Crash(
        report=report,
        thread_index=choice.index,
        frames=frames,
        meaningful=meaningful,
        top_frame=top,
        signature=signature,
        decisions=(choice.decision, *frame_decisions, top_decision, sign_decision),
    )


def crash_to_json(crash: Crash, *, explain: bool = False) -> dict[str, Any]:
    """The ``crashbot parse --json`` object (shared/DESIGN.md), plus the full id and version.

    With ``explain`` the rules' ``decisions`` are included too.
    """
    report = crash.report
    out: dict[str, Any] = {
        "format": report.format.value,
        # an exception known only by where it happened (cdb's FOLLOWUP_IP, no code) has no kind to show
        "exception": report.exception.to_json() if report.exception and report.exception.code else None,
        "assertion": report.assertion.to_json() if report.assertion else None,
        "revision": report.build.revision,
        "frames": [f.to_json() for f in crash.frames],
        "top_frame": crash.top_frame.to_json() if crash.top_frame else None,
        "signature": crash.signature.text,
        "signature_id": crash.signature.id,
        "signature_full_id": crash.signature.full_id,
        "signature_version": crash.signature.version,
        # stacks printed beside the crashing one (a sanitizer's free and allocation stacks), often the bug
        "related_stacks": [s.to_json() for s in report.related],
    }
    if explain:
        out["decisions"] = [d.to_json() for d in crash.decisions]
    return out


def plain_crash(text: str, dump_path: str | None = None) -> Crash:
    """Parse and analyse ``text`` as it is (the minidump, if any, is not read)."""
    return analyse(parse_report(text))
