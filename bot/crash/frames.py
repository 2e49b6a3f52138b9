"""Frame construction for the parsers' per-line loops, at a fraction of the frozen dataclass's cost.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (about 1.3 µs for
:class:`~bot.crash.model.Frame`'s eight fields), which made object creation the largest single cost of
reading a typical 30 KB report (~300 frames). Frame has ``__slots__``, so :func:`new_frame` writes the
slots directly through their descriptors: the same object, equal and identical in every field, in about
half the time. Should Frame ever gain a field, lose its slots or grow a ``__post_init__``, the module
falls back to the ordinary constructor (checked once at import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from bot.crash.model import Frame

__all__ = ["frame_of", "new_frame"]

# The field order new_frame's parameters follow; the fast path is used only while Frame matches it.
FRAME_FIELDS = ("function", "module", "file", "line", "offset", "address", "inline", "raw")


def _slot_setters() -> tuple[Callable[[Frame, object], None], ...] | None:
    if tuple(f.name for f in fields(Frame)) != FRAME_FIELDS or hasattr(Frame, "__post_init__"):
        return None
    if getattr(Frame, "__slots__", None) != FRAME_FIELDS:
        return None
    return tuple(Frame.__dict__[name].__set__ for name in FRAME_FIELDS)


_SETTERS = _slot_setters()
_new = object.__new__


def frame_of(  # noqa: PLR0917 - positional on purpose: this is the per-frame-line call
    function: str | None,
    module: str | None,
    file: str | None,
    line: int | None,
    offset: str | None,
    address: str | None,
    inline: bool,
    raw: str,
    /,
) -> Frame:
    """:func:`new_frame` with positional arguments in :data:`FRAME_FIELDS` order, for the hottest loop (a
    Wheaty report's frame lines), where keyword passing was a tenth of the cost of a frame."""
    if _SETTERS is None:
        return Frame(function, module, file, line, offset, address, inline, raw)
    frame: Frame = _new(Frame)
    set_function, set_module, set_file, set_line, set_offset, set_address, set_inline, set_raw = _SETTERS
    set_function(frame, function)
    set_module(frame, module)
    set_file(frame, file)
    set_line(frame, line)
    set_offset(frame, offset)
    set_address(frame, address)
    set_inline(frame, inline)
    set_raw(frame, raw)
    return frame


def new_frame(
    *,
    function: str | None,
    module: str | None,
    file: str | None,
    line: int | None,
    offset: str | None,
    address: str | None,
    inline: bool,
    raw: str,
) -> Frame:
    """``Frame(function=…, module=…, …)``, built faster; every field is given (no defaults to forget)."""
    return frame_of(function, module, file, line, offset, address, inline, raw)
