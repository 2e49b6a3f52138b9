"""Meaningful-frame rules: one class per rule, then the ordered list over whole stacks."""

from __future__ import annotations

import re

import pytest

from bot.crash.model import CrashReport, Decision, Format, Frame
from bot.crash.rules import (
    DEFAULT_RULES,
    KEEP,
    SKIP,
    AboveFault,
    AssertionHelpers,
    FrameView,
    GarbageFrames,
    HandlerFrames,
    OsFrames,
    PathPatterns,
    RuleContext,
    RuntimeFrames,
    ServerCode,
    _read_list,
    apply_rules,
    siglists,
)


def ctx_for(*frames: Frame, fault_index: int | None = None) -> RuleContext:
    views = tuple(FrameView.from_frame(i, f) for i, f in enumerate(frames))
    return RuleContext(report=CrashReport(format=Format.WHEATY), frames=views, fault_index=fault_index)


def verdicts(decisions: list[Decision] | tuple[Decision, ...]) -> dict[int, str]:
    return {d.frame: d.action for d in decisions if d.frame is not None}


def fn(name: str, **kw: object) -> Frame:
    return Frame(function=name, **kw)  # type: ignore[arg-type]


class TestHandlerFrames:
    def test_handler_frames_everything_down_to_last_handler_is_skipped(self) -> None:
        ctx = ctx_for(
            fn("NtGetContextThread"),
            fn("WheatyExceptionReport::printTracesForAllThreads"),
            fn("UnhandledExceptionFilter"),
            fn("memset"),
            fn("__C_specific_handler"),
            fn("KiUserExceptionDispatcher"),
            fn("CreatureAI::SendAIEventAround"),
        )
        assert verdicts(HandlerFrames().apply(ctx.frames, ctx)) == {i: SKIP for i in range(6)}

    def test_handler_frames_none_present_decides_nothing(self) -> None:
        ctx = ctx_for(fn("Unit::Kill"), fn("Map::Update"))
        assert HandlerFrames().apply(ctx.frames, ctx) == []

    def test_handler_frames_gdb_signal_marker_is_a_handler(self) -> None:
        ctx = ctx_for(
            fn("Trinity::AbortHandler"), fn("<signal handler called>"), fn("raise"), fn("Unit::Kill")
        )
        assert verdicts(HandlerFrames().apply(ctx.frames, ctx)) == {0: SKIP, 1: SKIP}


class TestAboveFault:
    def test_above_fault_frames_above_fault_frame_skipped(self) -> None:
        ctx = ctx_for(fn("RaiseException"), fn("Trinity::Assert"), fn("WorldObject::GetMap"), fault_index=2)
        assert verdicts(AboveFault().apply(ctx.frames, ctx)) == {0: SKIP, 1: SKIP}

    def test_above_fault_fault_at_top_decides_nothing(self) -> None:
        ctx = ctx_for(fn("Unit::Kill"), fault_index=0)
        assert AboveFault().apply(ctx.frames, ctx) == []


class TestGarbageFrames:
    def test_garbage_frames_empty_module_zero_offset_skipped(self) -> None:
        ctx = ctx_for(Frame(offset="0000:0000000000000000", raw="0000:0000000000000000 "), fn("??"), Frame())
        assert verdicts(GarbageFrames().apply(ctx.frames, ctx)) == {0: SKIP, 1: SKIP, 2: SKIP}

    def test_garbage_frames_unsymbolised_server_frame_is_not_garbage(self) -> None:
        ctx = ctx_for(Frame(module="worldserver.exe", offset="0001:000000000015b4a8"))
        assert GarbageFrames().apply(ctx.frames, ctx) == []


class TestAssertionHelpers:
    def test_assertion_helpers_assert_plumbing_skipped(self) -> None:
        names = [
            "Trinity::Assert(char const*, int, char const*, char const*, char const*, ...)",
            "acore::Assert",
            "Acore::Abort",
            "_wassert",
            "abort",
            "raise",
            "__pthread_kill_implementation",
            "RaiseException",
        ]
        ctx = ctx_for(*(fn(n) for n in names), fn("Unit::DealDamage"))
        assert verdicts(AssertionHelpers().apply(ctx.frames, ctx)) == {i: SKIP for i in range(len(names))}


class TestOsFrames:
    def test_os_frames_system_modules_skipped_case_insensitively(self) -> None:
        ctx = ctx_for(
            Frame(module="KERNELBASE.dll", offset="0x1a06d"),
            Frame(module="ntdll", function="RtlUserThreadStart"),
            fn("foo", module="/lib/x86_64-linux-gnu/libc.so.6"),
            fn("bar", module="libstdc++.so.6"),
            Frame(module="worldserver.exe", offset="0001:10"),
        )
        assert verdicts(OsFrames().apply(ctx.frames, ctx)) == {0: SKIP, 1: SKIP, 2: SKIP, 3: SKIP}

    def test_os_frames_module_less_os_exports_skipped(self) -> None:
        ctx = ctx_for(
            fn("BaseThreadInitThunk"), fn("ZwWaitForAlertByThreadId"), fn("_o_exp"), fn("World::Update")
        )
        assert verdicts(OsFrames().apply(ctx.frames, ctx)) == {0: SKIP, 1: SKIP, 2: SKIP}


class TestRuntimeFrames:
    def test_runtime_frames_crt_and_stl_skipped(self) -> None:
        ctx = ctx_for(
            fn("memmove"),
            fn("std::_Copy_memmove<Player * *,Player * *>"),
            fn("malloc"),
            fn("operator new(unsigned long)"),
            fn("__cxa_throw"),
            fn("LineFormation::GetLocationInternal"),
        )
        assert verdicts(RuntimeFrames().apply(ctx.frames, ctx)) == {i: SKIP for i in range(5)}

    def test_runtime_frames_code_from_compiler_headers_skipped(self) -> None:
        msvc = r"C:\Program Files\Microsoft Visual Studio\2022\Community\VC\Tools\MSVC\14.37.32822\include\xutility"
        gcc = "/usr/bin/../lib/gcc/x86_64-linux-gnu/13/../../../../include/c++/13/bits/std_function.h"
        ctx = ctx_for(
            fn("Helper::inlined", file=msvc, line=4536),
            fn("Another::inlined", file=gcc, line=591),
            fn("Server::code", file=r"D:\src\server\game\Unit.cpp", line=1),
        )
        assert verdicts(RuntimeFrames().apply(ctx.frames, ctx)) == {0: SKIP, 1: SKIP}


class TestServerCode:
    def test_server_code_keeps_rest_first_named_as_top(self) -> None:
        ctx = ctx_for(fn("Unit::Kill"), Frame(module="worldserver.exe", offset="0001:10"))
        decisions = ServerCode().apply(ctx.frames, ctx)
        assert verdicts(decisions) == {0: KEEP, 1: KEEP}
        assert "first frame in the server's own code" in decisions[0].reason


class TestApplyRules:
    def test_apply_rules_stl_stack_of_playerbots_1184_keeps_server_frames(self) -> None:
        ctx = ctx_for(
            fn("memmove"),
            fn("std::_Copy_memmove<Player * *,Player * *>"),
            fn("std::vector<Player *,std::allocator<Player *> >::_Emplace_reallocate<Player * const &>"),
            fn("LineFormation::GetLocationInternal"),
            fn("MoveAheadFormation::GetLocation"),
            fn("BaseThreadInitThunk"),
        )
        decisions = apply_rules(DEFAULT_RULES, ctx)
        assert verdicts(decisions) == {0: SKIP, 1: SKIP, 2: SKIP, 3: KEEP, 4: KEEP, 5: SKIP}
        assert len(decisions) == 6  # exactly one decision per frame

    def test_apply_rules_first_decision_wins(self) -> None:
        ctx = ctx_for(fn("KiUserExceptionDispatcher"), fn("Unit::Kill"))
        decisions = apply_rules(DEFAULT_RULES, ctx)
        assert [d.rule for d in decisions] == ["handler-frames", "server-code"]

    def test_apply_rules_broken_rule_is_recorded_not_raised(self) -> None:
        class Broken:
            """A rule with a bug."""

            name = "broken"

            def apply(self, frames, ctx):
                raise RuntimeError("boom")

        ctx = ctx_for(fn("Unit::Kill"))
        decisions = apply_rules([Broken(), ServerCode()], ctx)
        assert decisions[0] == Decision("broken", None, "error", "RuntimeError: boom")
        assert verdicts(decisions) == {0: KEEP}

    def test_apply_rules_every_rule_has_name_and_docstring(self) -> None:
        for rule in DEFAULT_RULES:
            assert rule.name
            assert (type(rule).__doc__ or "").strip()


def test_siglists_load_once_and_compile() -> None:
    assert siglists() is siglists()
    assert siglists().os_modules.fullmatch("ntdll.dll")


def test_path_patterns_entry_anchored_in_one_branch_only_keeps_its_meaning() -> None:
    patterns = PathPatterns.of([r"^\./nptl/|/vendor/", "/boost/"])
    assert patterns.search("/src/vendor/lib.h")
    assert patterns.search("./nptl/pthread_create.c")
    assert not patterns.search("/src/./nptl/x.c")


@pytest.mark.parametrize(
    "path",
    [
        "C:/Program Files/Microsoft Visual Studio/2022/Community/VC/Tools/MSVC/14.38.33130/include/xmemory",
        "D:/a/_work/1/s/src/vctools/crt/vcstartup/src/startup/exe_common.inl",
        "C:/libs/boost_1_89_0-bin-msvc-all-32-64/boost_1_89_0/boost/asio/impl/io_context.ipp",
        "./nptl/pthread_create.c",
        "../sysdeps/unix/sysv/linux/raise.c",
        "/build/glibc/./nptl/pthread_create.c",  # ``^./nptl`` is anchored: not in the middle of a path
        "/usr/include/c++/13/bits/stl_vector.h",
        "/home/steam/src/server/game/Entities/Player/Player.cpp",
        "D:/build/TrinityCore/src/server/game/Entities/Unit/Unit.cpp",
        "",
    ],
)
def test_include_dirs_split_by_anchoring_matches_as_one_alternation_would(path: str) -> None:
    """PathPatterns tries ``^`` entries at the start only (for speed); what matches must not change."""
    entries = _read_list("include_dirs")
    one_alternation = re.compile("|".join(f"(?:{e})" for e in entries), re.IGNORECASE)
    assert siglists().include_dirs.search(path) == (one_alternation.search(path) is not None)


def test_apply_rules_linux_assert_through_glibc_keeps_the_asserting_function() -> None:
    ctx = ctx_for(
        fn("__pthread_kill_implementation", file="./nptl/pthread_kill.c", line=44),
        fn("__pthread_kill_internal", file="./nptl/pthread_kill.c", line=78),
        fn("__GI___pthread_kill", file="./nptl/pthread_kill.c", line=89),
        fn("__GI_raise", file="../sysdeps/posix/raise.c", line=26),
        fn("__GI_abort", file="./stdlib/abort.c", line=79),
        fn("Trinity::Assert(char const*, int, char const*, std::string, char const*)"),
        fn(
            "Unit::DealDamage(Unit*, Unit*, unsigned int, CleanDamage const*)", file="/src/Unit.cpp", line=812
        ),
    )
    decisions = apply_rules(DEFAULT_RULES, ctx)
    assert [d.frame for d in decisions if d.action == KEEP] == [6]
