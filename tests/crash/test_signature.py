"""Signatures: what enters the id, what never does, and the readable text."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.crash import analyse
from bot.crash.model import Assertion, Build, CrashReport, ExceptionInfo, Format, Frame, Signature, Thread
from bot.crash.signature import SIGNATURE_VERSION, exception_kind, normalize_condition

AV = ExceptionInfo("C0000005", "ACCESS_VIOLATION", address="0x00007ff774dae0de")


def report(
    *names: str,
    exc: ExceptionInfo | None = AV,
    assertion: Assertion | None = None,
    base: int = 0x7FF774DAE000,
    root: str = "D:\\build\\",
    line_shift: int = 0,
) -> CrashReport:
    frames = tuple(
        Frame(
            function=name,
            file=f"{root}src\\server\\game\\File{i}.cpp",
            line=100 + i + line_shift,
            offset="0x2e",
            address=f"0x{base + 0x100 * i:016x}",
        )
        for i, name in enumerate(names)
    )
    if exc is not None and exc.address:
        exc = replace(exc, address=frames[0].address if frames else exc.address)
    return CrashReport(
        format=Format.WHEATY,
        threads=(Thread(frames=frames),),
        exception=exc,
        assertion=assertion,
        crashing_thread=0,
    )


STACK = ("Field::GetUInt32", "ResultSet::NextRow", "Player::LoadFromDB", "WorldSession::HandlePlayerLogin")


def sign(r: CrashReport) -> Signature:
    return analyse(r).signature


def test_signature_text_is_kind_and_top_three_frames() -> None:
    sig = sign(report(*STACK))
    assert sig.text == "ACCESS_VIOLATION | Field::GetUInt32 | ResultSet::NextRow | Player::LoadFromDB"
    assert re.fullmatch(r"[0-9a-f]{16}", sig.id)
    assert re.fullmatch(r"[0-9a-f]{16}", sig.full_id)
    assert sig.version == SIGNATURE_VERSION
    assert sig.frames == STACK[:3]


def test_signature_id_ignores_aslr_paths_lines_and_build() -> None:
    a = report(*STACK)
    b = replace(
        report(*STACK, base=0x7FF600000000, root="C:\\x\\y\\", line_shift=7),
        build=Build(revision="deadbeef1234", raw="TrinityCore rev. deadbeef1234 2024-01-01"),
    )
    assert sign(a).id == sign(b).id
    assert sign(a).full_id == sign(b).full_id


def test_signature_full_id_sees_deeper_frames_primary_does_not() -> None:
    a, b = sign(report(*STACK)), sign(report(*STACK[:3], "Other::Caller"))
    assert a.id == b.id
    assert a.full_id != b.full_id


@pytest.mark.parametrize(
    "other",
    [
        report("Field::GetUInt64", *STACK[1:]),
        report(*STACK, exc=ExceptionInfo("C00000FD", "STACK_OVERFLOW", address="0x1")),
        report(*STACK, exc=ExceptionInfo("SIGSEGV")),
        report(STACK[1], STACK[0], *STACK[2:]),
    ],
    ids=["other-top-function", "other-kind", "linux-kind", "swapped-order"],
)
def test_signature_distinct_crashes_get_distinct_ids(other: CrashReport) -> None:
    assert sign(other).id != sign(report(*STACK)).id


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("C0000005", "ACCESS_VIOLATION"),
        ("c0000005", "ACCESS_VIOLATION"),
        ("0xC00000FD", "STACK_OVERFLOW"),
        ("E06D7363", "CPP_EXCEPTION"),
        ("80000003", "BREAKPOINT"),
        ("SIGSEGV", "SIGSEGV"),
        ("sigabrt", "SIGABRT"),
        ("11", "SIGSEGV"),
        ("C1234567", "C1234567"),
    ],
)
def test_exception_kind_codes_normalised(code: str, kind: str) -> None:
    assert exception_kind(CrashReport(format=Format.WHEATY, exception=ExceptionInfo(code))) == kind


def test_exception_kind_any_assertion_is_assert_on_every_platform() -> None:
    a = Assertion(condition="m_currMap", function="WorldObject::GetMap")
    for code in ("C0000420", "SIGSEGV", "80000003"):
        r = CrashReport(format=Format.WHEATY, exception=ExceptionInfo(code), assertion=a)
        assert exception_kind(r) == "ASSERT"
    assert exception_kind(CrashReport(format=Format.GDB)) == "UNKNOWN"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "index < m_valuesCount || PrintIndexError(index, false)",
            "index<m_valuesCount||PrintIndexError( index , false )",
        ),
        ("guid == 0xF130011174000108", "guid == 0xF130000000000005"),
        ("count < 5", "count < 17"),
        ("id != 6f0b1d2e-1111-2222-3333-444455556666", "id != 00000000-aaaa-bbbb-cccc-ddddeeeeffff"),
        ("x\n   >=\t0", "x >= 0"),
    ],
)
def test_normalize_condition_variable_parts_do_not_matter(a: str, b: str) -> None:
    assert normalize_condition(a) == normalize_condition(b)


def test_normalize_condition_identifiers_with_digits_survive() -> None:
    assert normalize_condition("m_uint32Values != nullptr") == "m_uint32Values!=nullptr"
    assert normalize_condition("a < b") != normalize_condition("a > b")


def test_signature_assertion_condition_enters_id_and_text() -> None:
    a = Assertion(condition="m_currMap", file="Object.h", line=399, function="WorldObject::GetMap")
    frames = ("RaiseException", "Trinity::Assert", "WorldObject::GetMap", "Unit::Update")
    sig = sign(report(*frames, assertion=a))
    assert sig.text == "ASSERT(m_currMap) | WorldObject::GetMap | Unit::Update"
    other = sign(report(*frames, assertion=replace(a, condition="m_currMap && IsInWorld()")))
    assert other.id != sig.id


def test_signature_assert_without_symbols_uses_assertion_function_not_offsets() -> None:
    """tcbots-issue-57: only module offsets, which move with every build; the assertion does not."""
    a = Assertion(condition="m_currMap", file="F:\\x\\Object.h", line=399, function="WorldObject::GetMap")

    def unsymbolised(base: int) -> CrashReport:
        frames = tuple(Frame(module="worldserver.exe", offset=f"0001:{base + i:016x}") for i in range(4))
        return CrashReport(
            format=Format.WHEATY,
            threads=(Thread(frames=frames),),
            assertion=a,
            exception=ExceptionInfo("C0000420"),
        )

    one, two = sign(unsymbolised(0x4F9CD9)), sign(unsymbolised(0x123456))
    assert one.id == two.id
    assert one.text == "ASSERT(m_currMap) | WorldObject::GetMap"


def test_signature_unsymbolised_frames_use_module_relative_offsets() -> None:
    frames = (
        Frame(module="new_worldserver.exe", offset="0001:000000000015B4A8", address="0x00007ff7a69bc4a8"),
        Frame(module="new_worldserver.exe", offset="0001:00000000005034F2", address="0x00007ff7a6d644f2"),
    )
    exc = ExceptionInfo("C0000005", address="00007FF7A69BC4A8")
    sig = sign(CrashReport(format=Format.WHEATY, threads=(Thread(frames=frames),), exception=exc))
    assert sig.text == "ACCESS_VIOLATION | new_worldserver.exe+1:15b4a8 | new_worldserver.exe+1:5034f2"


def test_signature_no_frames_falls_back_to_fault_module_offset() -> None:
    exc = ExceptionInfo(
        "C0000005", address="0x1", module="D:\\a\\worldserver.exe", module_offset="01:00000000004F9CD9"
    )
    sig = sign(CrashReport(format=Format.WHEATY, exception=exc))
    assert sig.text == "ACCESS_VIOLATION | worldserver.exe+1:4f9cd9"


def test_signature_nothing_at_all_still_signs() -> None:
    sig = sign(CrashReport(format=Format.WHEATY, exception=ExceptionInfo("C00000FD", "STACK_OVERFLOW")))
    assert sig.text == "STACK_OVERFLOW | (no frames)"


def test_signature_long_condition_text_is_shortened_but_id_uses_all_of_it() -> None:
    long = "a" * 200
    a = sign(report("Unit::Kill", assertion=Assertion(condition=long + " && x")))
    b = sign(report("Unit::Kill", assertion=Assertion(condition=long + " && y")))
    assert len(a.text) < 150
    assert a.id != b.id
