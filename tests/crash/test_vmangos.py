"""vMaNGOS's own crash log (the real samples' truth is in tests/fixtures/samples/truth.json)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse
from bot.crash.errors import CrashParseError
from bot.crash.parsers import vmangos
from tests.crash.contract import assert_reads_or_refuses

ASSERT = "2019-07-02 19:36:14 /src/game/Objects/Object.cpp:1989: Error: Assertion in GetMap failed: m_currMap"


def test_vmangos_linux_frames_are_demangled_with_module_and_offset() -> None:
    report = vmangos.parse([ASSERT, "2019-07-02 19:36:14 ./mangosd(_ZN4Unit6UpdateEjj+0x49a) [0x97e7ca]"])
    (frame,) = report.threads[0].frames
    assert (frame.function, frame.module, frame.offset, frame.address) == (
        "Unit::Update",
        "mangosd",
        "0x49a",
        "0x97e7ca",
    )
    assert report.environment.crashed_at == "2019-07-02 19:36:14"


def test_vmangos_assertion_is_the_crash_kind_and_its_condition_signs() -> None:
    crash = analyse(vmangos.parse([ASSERT, "./mangosd(_ZN4Unit6UpdateEjj+0x49a) [0x97e7ca]"]))
    assert crash.report.assertion is not None
    assert (crash.report.assertion.function, crash.report.assertion.line) == ("GetMap", 1989)
    assert crash.signature.text == "ASSERT(m_currMap) | Unit::Update"


def test_vmangos_assertion_without_backtrace_is_read_with_a_note() -> None:
    report = vmangos.parse([ASSERT, "2019-07-02 19:36:15 error loading dbghelp.dll"])
    assert report.threads == ()
    assert report.notes == ("no backtrace after the assertion line (vMaNGOS prints one only when it can)",)


def test_vmangos_log_without_assertion_is_refused_with_one_line() -> None:
    with pytest.raises(CrashParseError, match="no vMaNGOS assertion line"):
        vmangos.parse(["./mangosd(_ZN4Unit6UpdateEjj+0x49a) [0x97e7ca]"])


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [ASSERT],
        [ASSERT, "(" * 5000 + " [0x1]"],
        [ASSERT, "a" * 100_000 + "(+0x1) [0x2]"],
        ["x:1: Error: Assertion in " + "f" * 10_000 + " failed: " + "c" * 10_000],
    ],
)
def test_vmangos_hostile_input_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(vmangos, lines)


_VMANGOS_WORDS = st.sampled_from(
    [
        ASSERT,
        "2019-07-02 19:36:14 ",
        "./mangosd(",
        "_ZN4Unit6UpdateEjj",
        "+0x49a",
        ") ",
        "[0x97e7ca]",
        "(",
        "+",
        "CATCH Exception 'ASSERT'",
        "",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_VMANGOS_WORDS, max_size=6).map("".join), max_size=30))
def test_vmangos_word_soup_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(vmangos, lines)
