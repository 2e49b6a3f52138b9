"""Specification of the gdb fragments people paste instead of a whole log: the stop location gdb prints
when a signal stops the program (with or without the signal line, with or without a ``bt`` after it), and
stacks cut off in the middle of a frame (search excerpts, truncated pastes).

The stop-location text has the shape of mod-playerbots#428 (a real report); the cut-off frame is the last
line of the cMaNGOS issue 1922 excerpt (bench/localise/cases/cmangos-1922.txt)."""

from __future__ import annotations

import pytest

from bot.crash import parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Format
from bot.crash.parsers import gdb
from bot.crash.text import clean_lines

SIGNAL = 'Thread 9 "worldserver" received signal SIGSEGV, Segmentation fault.\n'
SWITCH = "[Switching to Thread 0x7fff6b7fe640 (LWP 31337)]\n"
STOP = (
    "PlayerbotAI::FindOilFor (this=0x7fff6b7ea000, weapon=weapon@entry=0x7fff6b7dd300)\n"
    "    at /azerothcore-wotlk-no-change/modules/mod-playerbots/src/PlayerbotAI.cpp:4237\n"
    "4237                oil = FindConsumable(uPriorizedWizardOilIds[i]);\n"
)
PATH = "/azerothcore-wotlk-no-change/modules/mod-playerbots/src/PlayerbotAI.cpp"


def _lines(text: str) -> list[str]:
    return clean_lines(text)


# -- the stop location ---------------------------------------------------------------------------------


def test_stop_location_alone_is_a_one_frame_gdb_report() -> None:
    report = parse_report(STOP)
    assert report.format is Format.GDB
    (thread,) = report.threads
    (frame,) = thread.frames
    assert (frame.function, frame.file, frame.line) == ("PlayerbotAI::FindOilFor", PATH, 4237)
    assert report.exception is None  # no signal line: the report does not say what stopped it
    assert report.extra["source_line"] == "oil = FindConsumable(uPriorizedWizardOilIds[i]);"


def test_stop_location_under_its_signal_line_names_the_signal_and_the_thread() -> None:
    report = parse_report(SIGNAL + SWITCH + STOP)
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("SIGSEGV", "Segmentation fault")
    assert report.crashing_thread is not None
    thread = report.threads[report.crashing_thread]
    assert (thread.id, thread.name, thread.current) == ("9", "worldserver", True)
    assert [(f.function, f.line) for f in thread.frames] == [("PlayerbotAI::FindOilFor", 4237)]
    assert report.extra["source_line"].startswith("oil = FindConsumable(")


def test_stop_location_followed_by_bt_keeps_the_whole_stack() -> None:
    bt = (
        "(gdb) bt\n"
        f"#0  PlayerbotAI::FindOilFor (this=0x7fff6b7ea000, weapon=weapon@entry=0x7fff6b7dd300) at {PATH}:4237\n"
        "#1  0x0000555555a1b2c3 in ImbueWithOilAction::Execute (this=0x7fff852e7110, event=...)\n"
        "    at /azerothcore-wotlk-no-change/modules/mod-playerbots/src/strategy/actions/ImbueAction.cpp:137\n"
    )
    report = parse_report(SIGNAL + SWITCH + STOP + bt)
    assert report.crashing_thread is not None
    frames = report.threads[report.crashing_thread].frames
    assert [f.function for f in frames] == ["PlayerbotAI::FindOilFor", "ImbueWithOilAction::Execute"]
    assert frames[1].line == 137
    assert report.exception is not None and report.exception.code == "SIGSEGV"


def test_stop_location_with_its_arguments_wrapped_over_lines() -> None:
    text = (
        "Map::Update (this=0x7fffd0c0e000, t_diff=50,\n"
        "    s_diff=50) at /srv/ac/src/server/game/Maps/Map.cpp:689\n"
        "689\t        player->Update(s_diff);\n"
    )
    (frame,) = parse_report(text).threads[0].frames
    assert (frame.function, frame.file, frame.line) == (
        "Map::Update",
        "/srv/ac/src/server/game/Maps/Map.cpp",
        689,
    )


def test_stop_location_in_a_library_with_an_address_and_no_arguments() -> None:
    report = parse_report(
        "Program received signal SIGABRT, Aborted.\n"
        "0x00007ffff7a42e97 in __GI_raise (sig=sig@entry=6)\n"
        "    at ../sysdeps/unix/sysv/linux/raise.c:51\n"
        "51\t../sysdeps/unix/sysv/linux/raise.c: No such file or directory.\n"
    )
    (frame,) = report.threads[0].frames
    assert (frame.function, frame.address, frame.line) == ("__GI_raise", "0x00007ffff7a42e97", 51)
    assert report.exception is not None and report.exception.code == "SIGABRT"


def test_sniff_is_sure_of_a_stop_location_and_surer_with_the_echoed_line() -> None:
    without_echo = _lines(STOP.rsplit("\n", 2)[0])
    assert gdb.sniff(without_echo) == 60
    assert gdb.sniff(_lines(STOP)) == 70
    assert gdb.sniff(_lines(SIGNAL + STOP)) >= 85


@pytest.mark.parametrize(
    "prose",
    [
        # words before the parenthesis: a sentence, not a function
        "The server crashes (see the log below)\n    at Player.cpp:12\n",
        # a function name, but the parenthesis holds words, not gdb's name=value arguments
        "Player::Update (called from the map thread)\n    at src/game/Player.cpp:12\n",
        "It happens in Player::Update (this is my guess) at Player.cpp:12\n",
        # an 'at file:line' without the frame line above it
        "Build fails at CMakeLists.txt:12\n",
        "    at x.cpp:12\n",
        # a name and arguments, but nothing says where
        "Player::Update (this=0x1, diff=50)\nand then it crashed\n",
        "Player::Update (this=0x1, diff=50) at the moment\n",
    ],
)
def test_prose_mentioning_a_file_and_line_is_not_a_crash(prose: str) -> None:
    assert gdb.sniff(_lines(prose)) < 25
    with pytest.raises(CrashParseError):
        parse_report(prose)


def test_a_stop_location_shape_inside_bt_full_locals_is_not_a_second_stop() -> None:
    text = (
        "#0  0x0000555555a1b2c3 in Unit::Kill (this=0x0) at /src/Unit.cpp:5\n"
        "        victim = 0x0\n"
        "#1  0x0000555555a1b2c4 in Spell::Cast (this=0x1) at /src/Spell.cpp:6\n"
    )
    report = parse_report(text)
    assert [f.function for f in report.threads[0].frames] == ["Unit::Kill", "Spell::Cast"]
    assert "source_line" not in report.extra


# -- frames cut off --------------------------------------------------------------------------------------


def _last_frame_and_notes(text: str) -> tuple[object, tuple[str, ...]]:
    report = gdb.parse(_lines(text))
    return report.threads[0].frames[-1], report.notes


HEAD = "(gdb) bt\n#0  0x00007efc0170fd7f in raise () from /usr/lib/libc.so.6\n"


def test_frame_cut_in_its_arguments_keeps_its_function_and_says_so() -> None:
    text = HEAD + (
        "#1  0x0000555b118ffe30 in __gnu_cxx::new_allocator<std::_List_node<NPCFlags> >::deallocate (this=0x"
    )
    report = gdb.parse(_lines(text))
    frames = report.threads[0].frames
    assert len(frames) == 2
    assert frames[1].function == "__gnu_cxx::new_allocator<std::_List_node<NPCFlags> >::deallocate"
    assert frames[1].address == "0x0000555b118ffe30"
    assert "truncated: the text ends inside frame #1: its arguments are cut off; its function is kept" in (
        report.notes
    )


def test_the_real_excerpt_ending_inside_frame_5_keeps_all_six_frames() -> None:
    from pathlib import Path

    case = Path(__file__).resolve().parents[2] / "bench" / "localise" / "cases" / "cmangos-1922.txt"
    report = parse_report(case.read_bytes())
    frames = report.threads[0].frames
    assert [f.function for f in frames][-2:] == [
        "_int_free",
        "__gnu_cxx::new_allocator<std::_List_node<NPCFlags> >::deallocate",
    ]
    assert any(n.startswith("truncated: the text ends inside frame #5") for n in report.notes)


@pytest.mark.parametrize(
    ("last", "function", "what"),
    [
        ("#1  0x00007efc016fa672 in ?? (", None, "its arguments are cut off"),
        (
            "#1  0x0000555b118ffe30 in __gnu_cxx::new_allocator<std::_List_no",
            "__gnu_cxx::new_allocator<std::_List_no",
            "its function name is cut off",
        ),
        ("#1  0x00007efc016fa672 in abort () from /usr/li", "abort", "its module path is cut off"),
        ("#1  0x00007efc016fa672 in abort () fro", "abort", "its source path or module is cut off"),
        (
            "#1  0x00007efc016fa672 in Unit::Kill (this=0x1) at /src/game/Un",
            "Unit::Kill",
            "its source path is cut off",
        ),
        (
            "#1  0x00007efc016fa672 in Unit::Kill (this=0x1)\n    at /src/game/Un",
            "Unit::Kill",
            "its source path is cut off",
        ),
        (
            "#1  0x00007efc016fa672 in __gnu_cxx::__verbose_terminate_handler() ()\n  from /usr/lib/x86_64-linux-",
            "__gnu_cxx::__verbose_terminate_handler",
            "its module path is cut off",
        ),
        ("#1  0x00007efc016f", None, "only part of its address is left"),
    ],
)
def test_frame_cut_anywhere_is_kept_as_far_as_it_goes_with_a_note(
    last: str, function: str | None, what: str
) -> None:
    report = gdb.parse(_lines(HEAD + last))
    frames = report.threads[0].frames
    assert len(frames) == 2
    assert frames[1].function == function
    assert any(n.startswith(f"truncated: the text ends inside frame #1: {what}") for n in report.notes)


def test_partial_address_is_dropped_not_taken_for_a_function() -> None:
    frame, _ = _last_frame_and_notes(HEAD + "#1  0x00007efc016f")
    assert frame.function is None  # type: ignore[attr-defined]
    assert frame.address is None  # type: ignore[attr-defined]


def test_a_whole_last_frame_gets_no_truncation_note() -> None:
    report = gdb.parse(_lines(HEAD + "#1  0x00007efc016fa672 in abort () from /usr/lib/libc.so.6\n\n"))
    assert not any(n.startswith("truncated") for n in report.notes)


def test_an_unclosed_argument_list_before_more_frames_is_not_called_truncation() -> None:
    text = (
        HEAD
        + "#1  0x1 in A::f (this=0x1, name=<error reading variable name (Ca\n#2  0x2 in B::g () at /b.cpp:2\n"
    )
    report = gdb.parse(_lines(text))
    assert [f.function for f in report.threads[0].frames] == ["raise", "A::f", "B::g"]
    assert not any(n.startswith("truncated") for n in report.notes)


# -- hostile input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "A (a=" * 200_000,  # one 1 MB line shaped like the start of a stop location
        "Foo (this=0x1,\n" * 20_000,  # argument lists that never close, each a wrap candidate
        ("Foo (this=0x1)\n    at " + "x" * 10_000 + ".cpp:1\n") * 50,
        "#5  0x0000555b118ffe30 in " + "std::list<" * 100_000,
        "\x00\x01\x02 (a=\ufffd\n" * 1000,
    ],
)
def test_hostile_fragments_end_in_a_report_or_one_clear_error(text: str) -> None:
    lines = _lines(text)
    assert 0 <= gdb.sniff(lines) <= 100
    try:
        parse_report(text)
    except CrashParseError as e:
        assert "\n" not in str(e)


def test_stop_location_in_a_foreign_encoding_still_reads() -> None:
    data = STOP.replace("oil = ", "öl = ").encode("latin-1")
    report = parse_report(data)
    assert report.threads[0].frames[0].function == "PlayerbotAI::FindOilFor"


def test_stop_location_in_utf16_reads() -> None:
    report = parse_report(("\ufeff" + STOP).encode("utf-16-le"))
    assert report.threads[0].frames[0].line == 4237
