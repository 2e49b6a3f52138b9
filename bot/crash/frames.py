"""Construction of the crash model's most numerous objects, Frame and Thread, at a fraction of the cost.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (1.3 µs for
:class:`~bot.crash.model.Frame`'s eight fields), which made object creation the largest single cost of
reading a typical 30 KB report (~300 frames in ~80 threads). Both classes have ``__slots__`` and nothing
to run after ``__init__``, so here each is built as an instance of a twin class with the same slots whose
plain ``__init__`` stores every field and then makes the instance the frozen class (``__class__``
assignment, which CPython allows exactly between classes with the same slot layout). The result is the
object the constructor builds -- type, fields, equality, hash, repr, pickling -- in a quarter of the time,
and frozen from then on.

Should a model class ever change shape (a field added, reordered or renamed, its slots dropped, a
``__post_init__`` grown), its twin no longer matches and the ordinary constructor is used instead; that is
checked once at import, and tests/crash/test_frames.py fails when it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar, cast

from bot.crash.model import Frame, Thread

__all__ = ["FRAME_FIELDS", "THREAD_FIELDS", "fast_construction", "frame_of", "new_frame", "thread_of"]

_Model = TypeVar("_Model")

# The field order of the twins' __init__ (and of frame_of's and thread_of's parameters).
FRAME_FIELDS = ("function", "module", "file", "line", "offset", "address", "inline", "raw", "column")
THREAD_FIELDS = ("frames", "id", "name", "current", "section")


class _FrameTwin:
    __slots__ = FRAME_FIELDS

    def __init__(  # noqa: PLR0917 - positional on purpose: this is the per-frame-line call
        self,
        function: str | None,
        module: str | None,
        file: str | None,
        line: int | None,
        offset: str | None,
        address: str | None,
        inline: bool,
        raw: str,
        column: int | None = None,
    ) -> None:
        self.function = function
        self.module = module
        self.file = file
        self.line = line
        self.offset = offset
        self.address = address
        self.inline = inline
        self.raw = raw
        self.column = column
        self.__class__ = Frame  # type: ignore[assignment]


class _ThreadTwin:
    __slots__ = THREAD_FIELDS

    def __init__(
        self,
        frames: tuple[Frame, ...],
        id: str | None = None,
        name: str | None = None,
        current: bool = False,
        section: str = "",
    ) -> None:
        self.frames = frames
        self.id = id
        self.name = name
        self.current = current
        self.section = section
        self.__class__ = Thread  # type: ignore[assignment]


def _matches(model: type, twin: type, names: tuple[str, ...]) -> bool:
    """Whether ``twin`` builds ``model`` exactly: same fields in the same order, same slots, no post-init."""
    if tuple(f.name for f in fields(model)) != names or getattr(model, "__slots__", None) != names:
        return False
    if hasattr(model, "__post_init__") or model.__bases__ != (object,):
        return False
    return getattr(twin, "__slots__", None) == names


def _constructor(
    model: type[_Model], twin: type, names: tuple[str, ...], *sample: object
) -> Callable[..., _Model]:
    """``twin`` if it builds ``model`` exactly (checked on one built from ``sample``), else ``model`` called
    by keyword, so a field added or moved in the model can never receive another field's value."""
    if _matches(model, twin, names):
        try:
            built: object = twin(*sample)
            if type(built) is model:
                return cast("Callable[..., _Model]", twin)
        except TypeError:  # "object layout differs": the twin cannot become the model class
            pass

    def by_keyword(*values: object) -> _Model:
        # trailing fields with defaults (Frame.column) may be left out, as the twins allow
        return model(**dict(zip(names[: len(values)], values, strict=True)))

    return by_keyword


_FRAME = _constructor(Frame, _FrameTwin, FRAME_FIELDS, None, None, None, None, None, None, False, "")
_THREAD = _constructor(Thread, _ThreadTwin, THREAD_FIELDS, ())


def fast_construction() -> bool:
    """Whether both twins are in use (False means a model class changed shape and the constructors run)."""
    frame_twin: object = _FrameTwin
    thread_twin: object = _ThreadTwin
    return _FRAME is frame_twin and _THREAD is thread_twin


# ``frame_of(function, module, file, line, offset, address, inline, raw)``: a Frame, built fast. Positional
# (FRAME_FIELDS order) and bound straight to the constructor, because it is the per-frame-line call of a
# Wheaty report, where even one extra Python call per frame showed in the time.
frame_of: Callable[
    [str | None, str | None, str | None, int | None, str | None, str | None, bool, str], Frame
] = _FRAME


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
    column: int | None = None,
) -> Frame:
    """``Frame(function=…, module=…, …)``, built fast; every field but ``column`` is given (no defaults to
    forget; few formats print a column)."""
    return _FRAME(function, module, file, line, offset, address, inline, raw, column)


def thread_of(frames: tuple[Frame, ...]) -> Thread:
    """``Thread(frames=frames)``, built fast (a Wheaty report prints one block per thread, ~80 of them)."""
    return _THREAD(frames)
