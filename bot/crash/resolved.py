"""Put resolved frames in place of unresolved ones: the crash core's side of symbolication.

The symbols room (:mod:`bot.symbols`) finds debug files and asks a symbolizer; what it learns comes back
here as a mapping from each unresolved :class:`Frame` (as the parser made it) to the frames it stands for,
innermost inlined call first. This module only rebuilds the report: data in, data out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bot.crash.model import Crash, CrashReport, Frame, Signature, Thread

SYMBOLS_NOTE_KEY = "symbols"
# The minidump's modules that matter (the faulting one, then those on the crashing stack), one a line:
# ``name<TAB>version<TAB>timestamp<TAB>pdb<TAB>pdb key`` (empty fields when unknown); the issue folds them.
DUMP_MODULES_KEY = "dump_modules"
# Modules a report names with their PE time stamp but no minidump (Windows' own fault records), one a
# line: ``name<TAB>TIMESTAMP`` (8 upper-case hex). The symbols room finds that build's image by it.
IMAGE_STAMPS_KEY = "image_stamps"


def with_resolved_frames(
    report: CrashReport, resolved: Mapping[Frame, Sequence[Frame]], *, notes: Sequence[str] = ()
) -> CrashReport:
    """``report`` with every frame found in ``resolved`` replaced by its frames (several for inlined
    calls). ``notes`` (why some frames stay unresolved, and what to do) go to ``extra["symbols"]``,
    one per line, where the issue renders them."""
    threads = tuple(_thread(t, resolved) for t in report.threads) if resolved else report.threads
    extra = dict(report.extra)
    if notes:
        extra[SYMBOLS_NOTE_KEY] = "\n".join(dict.fromkeys(notes))
    return dataclasses.replace(report, threads=threads, extra=extra)


def _thread(thread: Thread, resolved: Mapping[Frame, Sequence[Frame]]) -> Thread:
    if not any(f in resolved for f in thread.frames):
        return thread
    frames: list[Frame] = []
    for frame in thread.frames:
        frames.extend(resolved.get(frame) or (frame,))
    return dataclasses.replace(thread, frames=tuple(frames))


def with_alias(crash: Crash, alias: Signature) -> Crash:
    """``crash`` remembering the signature it had before symbolication, so the same crash on the same
    build is one issue whether or not its frames could be resolved (see ``Signature.aliases``)."""
    sig = crash.signature
    if alias.id == sig.id:
        return crash
    aliases = tuple(dict.fromkeys((*sig.aliases, alias.id, *alias.aliases)))
    return dataclasses.replace(crash, signature=dataclasses.replace(sig, aliases=aliases))
