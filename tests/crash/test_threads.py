"""Crashing-thread choice: by evidence (fault address, the report's word, handler frames), not position."""

from __future__ import annotations

from bot.crash.model import CrashReport, ExceptionInfo, Format, Frame, Thread
from bot.crash.threads import choose_crashing_thread, fault_frame_index

AV = "C0000005"


def wheaty(
    *threads: Thread,
    address: str | None = None,
    module_offset: str | None = None,
    module: str | None = None,
    crashing: int | None = 0,
) -> CrashReport:
    exc = ExceptionInfo(AV, "ACCESS_VIOLATION", address=address, module=module, module_offset=module_offset)
    return CrashReport(format=Format.WHEATY, threads=threads, exception=exc, crashing_thread=crashing)


def at(name: str, address: str) -> Frame:
    return Frame(function=name, address=address)


IDLE = Thread(frames=(at("ZwDelayExecution", "0x7ffe59cc2274"), at("World::Update", "0x7ff6581f2647")))
HANDLER = Thread(
    frames=(
        at("NtGetContextThread", "0x1"),
        at("WheatyExceptionReport::GenerateExceptionReport", "0x2"),
        at("UnhandledExceptionFilter", "0x3"),
        at("KiUserExceptionDispatcher", "0x4"),
        at("Player::Update", "0x00007ff65911fb20"),
        at("Map::Update", "0x5"),
    )
)
CLEAN = Thread(frames=HANDLER.frames[4:])


def test_choose_fault_address_beats_position() -> None:
    """Real TC-master report: the exception-context block is empty and the crashing thread comes fifth."""
    report = wheaty(Thread(), IDLE, IDLE, IDLE, HANDLER, address="00007FF65911FB20")
    choice = choose_crashing_thread(report)
    assert choice.index == 4
    assert choice.fault_frame == 4
    assert "fault address" in choice.decision.reason
    assert "empty" in choice.decision.reason


def test_choose_ac_duplicate_thread_picks_clean_walk() -> None:
    """AC prints the crashing thread twice; the clean walk (fault at the top) wins, whatever its position."""
    first = choose_crashing_thread(wheaty(CLEAN, IDLE, HANDLER, address="0x00007ff65911fb20"))
    last = choose_crashing_thread(wheaty(HANDLER, IDLE, CLEAN, address="0x00007ff65911fb20", crashing=0))
    assert (first.index, first.fault_frame) == (0, 0)
    assert (last.index, last.fault_frame) == (2, 0)


def test_choose_module_offset_matches_unsymbolised_frame() -> None:
    thread = Thread(
        frames=(
            Frame(module="new_worldserver.exe", offset="0001:00000000005034f2"),
            Frame(module="new_worldserver.exe", offset="0001:000000000015b4a8"),
        )
    )
    report = wheaty(
        IDLE,
        thread,
        module="D:\\wow\\new_worldserver.exe",
        module_offset="01:000000000015B4A8",
        crashing=None,
    )
    choice = choose_crashing_thread(report)
    assert (choice.index, choice.fault_frame) == (1, 1)


def test_choose_module_offset_of_other_module_does_not_match() -> None:
    thread = Thread(frames=(Frame(module="other.dll", offset="0001:000000000015b4a8"),))
    report = wheaty(thread, module="worldserver.exe", module_offset="01:000000000015B4A8")
    assert fault_frame_index(report, thread) is None


def test_choose_report_word_when_no_fault_match() -> None:
    report = CrashReport(format=Format.GDB, threads=(IDLE, CLEAN), crashing_thread=1)
    choice = choose_crashing_thread(report)
    assert choice.index == 1
    assert "report says" in choice.decision.reason


def test_choose_empty_declared_thread_falls_through_to_handler_evidence() -> None:
    report = wheaty(Thread(), IDLE, HANDLER, address="0xdeadbeef")
    choice = choose_crashing_thread(report)
    assert choice.index == 2
    assert "crash handler" in choice.decision.reason
    assert "no frames" in choice.decision.reason


def test_choose_current_mark_used_when_report_names_no_thread() -> None:
    current = Thread(frames=CLEAN.frames, current=True, id="10")
    report = CrashReport(format=Format.GDB, threads=(IDLE, current))
    assert choose_crashing_thread(report).index == 1


def test_choose_no_evidence_guesses_first_busy_thread_and_says_so() -> None:
    report = CrashReport(format=Format.WHEATY, threads=(Thread(), IDLE, CLEAN))
    choice = choose_crashing_thread(report)
    assert choice.index == 2
    assert "guess" in choice.decision.reason
    assert "idle" in choice.decision.reason


def test_choose_only_idle_threads_guesses_first() -> None:
    report = CrashReport(format=Format.WHEATY, threads=(IDLE, IDLE))
    assert choose_crashing_thread(report).index == 0


def test_choose_fault_address_in_no_printed_thread_picks_none() -> None:
    """moon-…-head5000: the crashing thread was cut off; signing the main thread would merge unrelated crashes."""
    report = wheaty(Thread(), IDLE, CLEAN, address="00007FF600000000", crashing=None)
    choice = choose_crashing_thread(report)
    assert choice.index is None
    assert "no printed thread holds the fault address" in choice.decision.reason


def test_choose_no_frames_anywhere_is_none() -> None:
    choice = choose_crashing_thread(CrashReport(format=Format.ASSERT_LOG))
    assert choice.index is None
    assert choice.fault_frame is None


def test_choose_unparseable_addresses_are_ignored() -> None:
    thread = Thread(frames=(Frame(function="f", address="zz"),))
    report = wheaty(thread, address="not-hex", crashing=None)
    assert choose_crashing_thread(report).index == 0
