"""Fast Frame/Thread construction: the same frozen objects the dataclass constructors build, field for field."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass

import pytest

from bot.crash import frames
from bot.crash.frames import FRAME_FIELDS, THREAD_FIELDS, frame_of, new_frame, thread_of
from bot.crash.model import Frame, Thread

FIELDS = {
    "function": "Player::Update",
    "module": "worldserver.exe",
    "file": r"D:\build\src\Player.cpp",
    "line": 812,
    "offset": "0x2e",
    "address": "0x00007ff6a1b2002e",
    "inline": True,
    "raw": "00007FF6A1B2002E  000000C1E2FFF5D0  [inline] Player::Update+2E  D:\\build\\src\\Player.cpp line 812",
}


def test_fast_construction_is_active_for_the_current_model() -> None:
    """If Frame's or Thread's fields or slots change, construction silently falls back to the slow
    constructors; this test makes that visible instead."""
    assert tuple(f.name for f in dataclasses.fields(Frame)) == FRAME_FIELDS
    assert tuple(f.name for f in dataclasses.fields(Thread)) == THREAD_FIELDS
    assert frames.fast_construction()


def assert_same_object(fast: object, slow: object) -> None:
    assert type(fast) is type(slow)
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)  # type: ignore[call-overload]
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert copy.deepcopy(fast) == slow
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast, dataclasses.fields(fast)[0].name, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [FIELDS, dict.fromkeys(FRAME_FIELDS) | {"inline": False, "raw": ""}],
    ids=["every-field", "empty"],
)
def test_built_frame_is_the_constructed_frame_in_every_respect(values: dict[str, object]) -> None:
    slow = Frame(**values)  # type: ignore[arg-type]
    assert_same_object(new_frame(**values), slow)  # type: ignore[arg-type]
    assert_same_object(frame_of(*values.values()), slow)  # type: ignore[arg-type]
    assert slow.to_json() == new_frame(**values).to_json()  # type: ignore[arg-type]


def test_built_thread_is_the_constructed_thread_in_every_respect() -> None:
    stack = (Frame(**FIELDS), Frame(function="main"))  # type: ignore[arg-type]
    assert_same_object(thread_of(stack), Thread(frames=stack))
    assert thread_of(()) == Thread()


def test_built_objects_stay_replaceable_and_frozen() -> None:
    frame = new_frame(**FIELDS)  # type: ignore[arg-type]
    assert dataclasses.replace(frame, line=1).line == 1
    with pytest.raises(AttributeError):
        object.__getattribute__(frame, "__dict__")  # slots only: no per-object dict was added


def test_a_model_class_that_changed_shape_gets_its_ordinary_constructor() -> None:
    """The twin is used only while it matches the model; anything else falls back to the constructor."""

    @dataclass(frozen=True, slots=True)
    class Grown:  # one field more than the twin knows
        frames: tuple[Frame, ...] = ()
        id: str | None = None
        name: str | None = None
        current: bool = False
        section: str = ""
        state: str = ""

    @dataclass(frozen=True)
    class Unslotted:
        frames: tuple[Frame, ...] = ()
        id: str | None = None
        name: str | None = None
        current: bool = False
        section: str = ""

    @dataclass(frozen=True, slots=True)
    class PostInit:
        frames: tuple[Frame, ...] = ()
        id: str | None = None
        name: str | None = None
        current: bool = False
        section: str = ""

        def __post_init__(self) -> None:
            pass

    assert frames._matches(Thread, frames._ThreadTwin, THREAD_FIELDS)
    for changed in (Grown, Unslotted, PostInit):
        assert not frames._matches(changed, frames._ThreadTwin, THREAD_FIELDS), changed.__name__


def test_the_fallback_constructor_passes_fields_by_name_when_a_field_was_inserted() -> None:
    """Positional values must never shift into the wrong field if the model changes shape."""

    @dataclass(frozen=True, slots=True)
    class Moved:  # ``state`` inserted before the fields the twin knows
        state: str = "kept"
        frames: tuple[Frame, ...] = ()
        id: str | None = None
        name: str | None = None
        current: bool = False
        section: str = ""

    build = frames._constructor(Moved, frames._ThreadTwin, THREAD_FIELDS, ())
    built = build((), "7", "MapUpdater", True, "backtrace")
    assert built == Moved(frames=(), id="7", name="MapUpdater", current=True, section="backtrace")
