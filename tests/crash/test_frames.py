"""Fast Frame construction: the same frozen Frame as the dataclass constructor builds, field for field."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from bot.crash import frames
from bot.crash.frames import FRAME_FIELDS, new_frame
from bot.crash.model import Frame

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


def test_new_frame_fast_path_is_active_for_the_current_frame_model() -> None:
    """If Frame's fields or slots change, new_frame silently falls back to the slow constructor; this
    test makes that visible instead."""
    assert tuple(f.name for f in dataclasses.fields(Frame)) == FRAME_FIELDS
    assert frames._SETTERS is not None


@pytest.mark.parametrize(
    "values",
    [FIELDS, dict.fromkeys(FRAME_FIELDS) | {"inline": False, "raw": ""}],
    ids=["every-field", "empty"],
)
def test_new_frame_equals_constructed_frame_in_every_respect(values: dict[str, object]) -> None:
    fast = new_frame(**values)  # type: ignore[arg-type]
    slow = Frame(**values)  # type: ignore[arg-type]
    assert type(fast) is Frame
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == values
    assert fast.to_json() == slow.to_json()


def test_new_frame_result_is_frozen_and_replaceable() -> None:
    frame = new_frame(**FIELDS)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.line = 1  # type: ignore[misc]
    assert dataclasses.replace(frame, line=1).line == 1
    assert pickle.loads(pickle.dumps(frame)) == frame
