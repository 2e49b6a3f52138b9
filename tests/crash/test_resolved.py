"""The crash core's side of symbolication: resolved frames replace unresolved ones, nothing else moves,
and a symbolicated crash remembers the signature it had before (issue 12)."""

from __future__ import annotations

import dataclasses

from bot.crash import analyse
from bot.crash.model import CrashReport, ExceptionInfo, Format, Frame, Thread
from bot.crash.resolved import SYMBOLS_NOTE_KEY, with_alias, with_resolved_frames

BARE = Frame(module="worldserver.exe", offset="0001:0000000000000063", address="0x0000000140001063", raw="a")
BARE2 = Frame(module="worldserver.exe", offset="0001:000000000000004c", address="0x000000014000104c", raw="b")
KNOWN = Frame(function="BaseThreadInitThunk", module="kernel32.dll", raw="c")


def _report() -> CrashReport:
    return CrashReport(
        format=Format.WHEATY,
        threads=(Thread(frames=(BARE, BARE2, KNOWN), current=True), Thread(frames=(KNOWN,))),
        exception=ExceptionInfo(code="C0000005", name="ACCESS_VIOLATION"),
        crashing_thread=0,
    )


def _named(frame: Frame, function: str, line: int, *, inline: bool = False) -> Frame:
    return dataclasses.replace(frame, function=function, file="D:\\src\\Object.cpp", line=line, inline=inline)


def test_one_unresolved_frame_becomes_its_inlined_calls_then_its_function() -> None:
    resolved = {BARE: (_named(BARE, "ReadMapId", 4, inline=True), _named(BARE, "WorldObject::GetMapId", 8))}

    report = with_resolved_frames(_report(), resolved)

    names = [f.function for f in report.threads[0].frames]
    assert names == ["ReadMapId", "WorldObject::GetMapId", None, "BaseThreadInitThunk"]
    assert report.threads[1] == _report().threads[1]  # a thread without bare frames is unchanged


def test_nothing_resolved_leaves_the_report_equal_and_notes_go_to_extra() -> None:
    report = with_resolved_frames(_report(), {}, notes=("no worldserver.pdb", "no worldserver.pdb", "x"))

    assert report.threads == _report().threads
    assert report.extra[SYMBOLS_NOTE_KEY] == "no worldserver.pdb\nx"


def test_symbolicated_crash_keeps_the_unresolved_signature_as_its_alias() -> None:
    before = analyse(_report())
    after = analyse(with_resolved_frames(_report(), {BARE: (_named(BARE, "WorldObject::GetMapId", 8),)}))

    aliased = with_alias(after, before.signature)

    assert aliased.signature.id == after.signature.id != before.signature.id
    assert aliased.signature.aliases == (before.signature.id,)
    assert with_alias(before, before.signature) is before  # nothing resolved: no alias of itself
