"""Specification of the shared assertion-block parser: every real shape of a TC/AC assert."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash.assertion import find_assertion, normalise_function, parse_assertion
from bot.crash.model import Assertion
from bot.crash.text import clean_lines, decode

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
ASSERTS = Path(__file__).resolve().parent.parent / "fixtures" / "crash" / "assert"


def _lines(text: str) -> list[str]:
    return clean_lines(text)


def _sample(name: str) -> list[str]:
    return clean_lines(decode((SAMPLES / name).read_bytes()))


TC_LINUX = """\
 0x0000000000000000 Type: None Low: 0)]

/home/TrinityCore/src/server/game/Movement/Spline/MoveSpline.cpp:253 in _updateState ASSERTION FAILED:
  minimal_diff >= 0
Segmentation fault
root@wowpandora:/home/root/core/bin#
"""

AC_MODERN_BOX = (ASSERTS / "ac-linux-box-assert.txt").read_text(encoding="utf-8")

AC_ABORT_BOX = (ASSERTS / "ac-linux-box-abort.txt").read_text(encoding="utf-8")

MACHINE_TRANSLATED = """\
D:\\Core\\src\\server\\game\\Maps\\Map.h: 853 in Map :: GetRespawnMapForType ASSERTION FAILED:
  type == SPAWN_TYPE_CREATURE || type == SPAWN_TYPE_GAMEOBJECT
"""

ACE_ERA = """\
2012-12-11 18:35:05 ERROR:
........\\Core\\src\\server\\shared\\Database\\MySQLConnection.cpp:198 in MySQLConnection::Execute ASSERTION FAILED:
  m_mStmt
[0x333208]
[0xa6d7]
ACE_Thread_Adapter::invoke_i()+0x88 [0x0]
ACE_Thread_Adapter::invoke()+0x83 [0x0]
"""

CASES: list[tuple[str, str, Assertion | None]] = [
    (
        "tc_linux_console",
        TC_LINUX,
        Assertion(
            condition="minimal_diff >= 0",
            file="/home/TrinityCore/src/server/game/Movement/Spline/MoveSpline.cpp",
            line=253,
            function="_updateState",
        ),
    ),
    (
        "ac_modern_box",
        AC_MODERN_BOX,
        Assertion(
            condition="m_caster",
            file="/azerothcore/src/server/game/Spells/Spell.cpp",
            line=3741,
            function="Spell::_cast",
            message="Caster of spell 133 is gone\nMapID: 0 X: 1 Y: 2\nName: Someone",
        ),
    ),
    (
        "ac_abort_box_has_no_condition",
        AC_ABORT_BOX,
        Assertion(
            file="/src/server/worldserver/Main.cpp",
            line=581,
            function="FreezeDetector::Handler",
            message="World Thread hangs for 60012 ms, forcing a crash!",
        ),
    ),
    (
        "machine_translated_spacing",
        MACHINE_TRANSLATED,
        Assertion(
            condition="type == SPAWN_TYPE_CREATURE || type == SPAWN_TYPE_GAMEOBJECT",
            file="D:\\Core\\src\\server\\game\\Maps\\Map.h",
            line=853,
            function="Map::GetRespawnMapForType",
        ),
    ),
    (
        "ace_era_log_prefix_and_backtrace",
        ACE_ERA,
        Assertion(
            condition="m_mStmt",
            file="........\\Core\\src\\server\\shared\\Database\\MySQLConnection.cpp",
            line=198,
            function="MySQLConnection::Execute",
        ),
    ),
    (
        "unindented_condition_then_ace_frames",
        "c:\\src\\server\\game\\World\\World.cpp:3029 in World::ShutdownMsg ASSERTION FAILED:\n"
        "False\n[0x22afa]\nACE_OS_Thread_Adapter::invoke()+0xa1 [0x0]\n",
        Assertion(
            condition="False",
            file="c:\\src\\server\\game\\World\\World.cpp",
            line=3029,
            function="World::ShutdownMsg",
        ),
    ),
    (
        "fatal_error_message",
        "\n/src/game/World.cpp:100 in World::LoadConfig FATAL ERROR:\nBad config value 42\n",
        Assertion(
            file="/src/game/World.cpp", line=100, function="World::LoadConfig", message="Bad config value 42"
        ),
    ),
    (
        "error_text_takes_condition_slot",
        "\n/src/db/Field.cpp:9 in GetUInt32 ERROR:\n  wrong type\n",
        Assertion(condition="wrong type", file="/src/db/Field.cpp", line=9, function="GetUInt32"),
    ),
    (
        "aborted_dot_has_nothing_after",
        "\nC:\\tc\\src\\Main.cpp:77 in main ABORTED.\nsome later log line\n",
        Assertion(file="C:\\tc\\src\\Main.cpp", line=77, function="main"),
    ),
    (
        "aborted_colon_carries_message",
        "\n/src/Main.cpp:581 in FreezeDetector::Handler ABORTED:\nWorld Thread hangs for 60012 ms, forcing a crash!\n",
        Assertion(
            file="/src/Main.cpp",
            line=581,
            function="FreezeDetector::Handler",
            message="World Thread hangs for 60012 ms, forcing a crash!",
        ),
    ),
    (
        "caught_signal",
        "some log\nCaught signal 6\nAborted (core dumped)\n",
        Assertion(message="Caught signal 6"),
    ),
    (
        "assert_preferred_over_caught_signal",
        "Caught signal 6\n/src/a.cpp:1 in f ASSERTION FAILED:\n  x\n",
        Assertion(condition="x", file="/src/a.cpp", line=1, function="f"),
    ),
    ("warning_is_not_a_crash", "\n/src/a.cpp:1 in f WARNING:\n  x\n", None),
    ("no_assertion", "hello\nworld\n", None),
    ("truncated_header", "/src/a.cpp:1 in f ASSERTION FAI", None),
    (
        "truncated_after_header",
        "/src/a.cpp:12 in f ASSERTION FAILED:",
        Assertion(file="/src/a.cpp", line=12, function="f"),
    ),
    (
        "timestamped_log_lines_end_message",
        "/src/a.cpp:12 in f ASSERTION FAILED:\n  ptr\nextra info\n2024-01-01 12:00:00 Next log line\n",
        Assertion(condition="ptr", file="/src/a.cpp", line=12, function="f", message="extra info"),
    ),
    (
        "every_line_log_prefixed",
        "2024-01-01 12:00:00 /src/a.cpp:12 in f ASSERTION FAILED:\n2024-01-01 12:00:00   ptr\n"
        "2024-01-01 12:00:00 GUID: 5\n",
        Assertion(condition="ptr", file="/src/a.cpp", line=12, function="f", message="GUID: 5"),
    ),
    (
        "blank_line_after_every_line",
        "/src/a.cpp:12 in f ASSERTION FAILED:\n\n  ptr\n\nGUID: 5\n\n",
        Assertion(condition="ptr", file="/src/a.cpp", line=12, function="f", message="GUID: 5"),
    ),
    (
        "gdb_output_ends_message",
        '/src/a.cpp:12 in f ASSERTION FAILED:\n  ptr\n\nThread 3 "worldserver" received signal SIGSEGV, '
        "Segmentation fault.\n",
        Assertion(condition="ptr", file="/src/a.cpp", line=12, function="f"),
    ),
    (
        "windows_path_with_spaces",
        "D:\\Program Files (x86)\\tc\\src\\Unit.cpp:42 in Unit::Kill ASSERTION FAILED:\n  victim\n"
        "Fault address:  00007FF62812ACD9 01:00000000004F9CD9 worldserver.exe\n",
        Assertion(
            condition="victim",
            file="D:\\Program Files (x86)\\tc\\src\\Unit.cpp",
            line=42,
            function="Unit::Kill",
        ),
    ),
    (
        "ac_box_truncated_inside_debug_info",
        "#------------#\n# Location 'a.cpp:5'\n# Function 'F'\n# Condition 'c'\n# Debug info: 'MapID: 1\nGUI",
        Assertion(condition="c", file="a.cpp", line=5, function="F", message="MapID: 1\nGUI"),
    ),
    (
        "ac_box_without_message_or_debug_info",
        "#----#\n# Location 'a.cpp:5'\n# Function 'F'\n# Condition 'it != end()'\n#----#\n",
        Assertion(condition="it != end()", file="a.cpp", line=5, function="F"),
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_assertion_shapes_read_fields(text: str, expected: Assertion | None) -> None:
    assert parse_assertion(_lines(text)) == expected


def test_parse_assertion_tc_sample_reads_gcc_unqualified_function() -> None:
    assertion = parse_assertion(_sample("tc-issue-15704.txt"))
    assert assertion is not None
    assert (assertion.function, assertion.line, assertion.condition) == (
        "_updateState",
        253,
        "minimal_diff >= 0",
    )
    assert assertion.file is not None and assertion.file.endswith("MoveSpline.cpp")
    assert assertion.message is None


def test_parse_assertion_ac_wheaty_sample_reads_box_and_multiline_debug_info() -> None:
    assertion = parse_assertion(_sample("ac-issue-13275.txt"))
    assert assertion is not None
    assert assertion.line == 319
    assert assertion.function == "Object::GetFloatValue"
    assert assertion.condition == "index < m_valuesCount || PrintIndexError(index, false)"
    assert assertion.file == "E:\\github\\azerothcore-wotlk\\src\\server\\game\\Entities\\Object\\Object.cpp"
    assert assertion.message is not None
    assert assertion.message.startswith("MapID: 571")
    assert assertion.message.endswith("Class: 2")
    assert "Name: Anaprox" in assertion.message


def test_parse_assertion_tc_wheaty_sample_keeps_debug_info_until_fault_address() -> None:
    lines = _sample("tcbots-issue-57.txt")
    block = find_assertion(lines)
    assert block is not None
    assertion = block.assertion
    assert (assertion.function, assertion.line, assertion.condition) == (
        "WorldObject::GetMap",
        399,
        "m_currMap",
    )
    assert assertion.message is not None
    assert assertion.message.splitlines()[0].startswith("MapID: 533")
    assert assertion.message.splitlines()[-1].startswith("AIName:")
    assert "Fault address" not in assertion.message
    assert lines[block.end + 1].startswith("Fault address:")


def test_parse_assertion_console_sample_stops_before_call_stack_html() -> None:
    assertion = parse_assertion(_sample("ac-issue-4981.txt"))
    assert assertion == Assertion(
        condition="res > 0",
        file="E:\\azerothcore-wotlk\\src\\common\\Cryptography\\BigNumber.cpp",
        line=191,
        function="BigNumber::GetBytes",
        message="Buffer of size 0 is too small to hold bignum with 0 bytes.",
    )


def test_find_assertion_block_range_covers_header_to_last_message_line() -> None:
    block = find_assertion(_lines(TC_LINUX))
    assert block is not None
    assert (block.start, block.end) == (2, 4)


def test_find_assertion_ac_box_starts_at_box_edge() -> None:
    block = find_assertion(_lines(AC_MODERN_BOX))
    assert block is not None
    assert block.start == 1
    assert _lines(AC_MODERN_BOX)[block.end].startswith("Segmentation fault")


def test_parse_assertion_message_is_bounded_on_endless_text() -> None:
    lines = ["/src/a.cpp:1 in f ASSERTION FAILED:", "  cond", *(f"line {i}" for i in range(100_000))]
    assertion = parse_assertion(lines)
    assert assertion is not None
    assert assertion.message is not None
    assert len(assertion.message.splitlines()) < 1000


def test_parse_assertion_two_megabyte_line_returns_none() -> None:
    line = "a:1 in " * 300_000 + "x" * 100
    assert parse_assertion([line, "(" * 2_000_000]) is None


def test_parse_assertion_second_assertion_is_not_message_of_first() -> None:
    text = "/a.cpp:1 in f ASSERTION FAILED:\n  x\n/b.cpp:2 in g ASSERTION FAILED:\n  y\n"
    assert parse_assertion(_lines(text)) == Assertion(condition="x", file="/a.cpp", line=1, function="f")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Map :: GetRespawnMapForType", "Map::GetRespawnMapForType"), (" A ::B:: C ", "A::B::C"), ("f", "f")],
)
def test_normalise_function_spacing_collapsed(raw: str, expected: str) -> None:
    assert normalise_function(raw) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=40))
def test_parse_assertion_arbitrary_lines_never_raises(lines: list[str]) -> None:
    result = parse_assertion(lines)
    assert result is None or isinstance(result, Assertion)


_ALPHABET = st.sampled_from(
    [
        "#",
        "-",
        "'",
        ":",
        " ",
        "\n",
        "in",
        "ASSERTION FAILED",
        "ERROR",
        "# Location '",
        "a.cpp",
        "12",
        "::",
        ">> ",
        "Caught signal ",
        "ABORTED.",
        "`",
        "2024-01-01 12:00:00 ",
        "Assertion message: ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=80))
def test_parse_assertion_assert_shaped_noise_never_raises(parts: list[str]) -> None:
    result = parse_assertion(_lines("".join(parts)))
    assert result is None or isinstance(result, Assertion)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=4000), st.text(max_size=5)
)
def test_parse_assertion_truncated_and_spliced_samples_never_raise(cut: int, splice: int, junk: str) -> None:
    for name in ("ac-issue-13275.txt", "tcbots-issue-57.txt", "tc-issue-15704.txt"):
        text = decode((SAMPLES / name).read_bytes())
        damaged = text[: splice % (len(text) + 1)] + junk + text[splice % (len(text) + 1) : cut + splice]
        result = parse_assertion(clean_lines(damaged))
        assert result is None or isinstance(result, Assertion)


def test_assert_fixture_files_all_parse() -> None:
    """Every console-assert fixture in tests/fixtures/crash/assert holds one readable assertion."""
    for path in sorted(ASSERTS.glob("*.txt")):
        assertion = parse_assertion(clean_lines(decode(path.read_bytes())))
        assert assertion is not None, path.name
        assert assertion.line is not None or assertion.message, path.name


@pytest.mark.parametrize(
    ("line", "function"),
    [
        ("/src/a.cpp:12 in Map::Update ASSERTION FAILED:", "Map::Update"),
        ("/src/a.cpp:12 in   Map::Update \t ASSERTION FAILED:", "Map::Update"),
        ("/src/a.cpp:12 in Map :: Update (int) ASSERTION FAILED:", "Map::Update (int)"),
    ],
)
def test_tc_location_function_runs_to_the_last_non_space(line: str, function: str) -> None:
    found = find_assertion([line, "  cond"])
    assert found is not None and found.assertion.function == function


@pytest.mark.timeout(30)
def test_error_lines_padded_with_spaces_are_read_in_linear_time() -> None:
    """Regression: the location pattern's lazy function rescanned the trailing spaces from each of its
    characters, 0.1 s for each 4 KB ``file:line in F <spaces> x ERROR.`` line (which then reads as no
    block): 49 s to parse 1,000 of them, half an hour at the 128 MB input limit."""
    lines = ["a:1 in b" + " " * 4000 + "c ERROR."] * 1000
    assert find_assertion(lines) is None


@pytest.mark.parametrize(
    ("prompt", "ends"),
    [
        ("tc@wow:~/server/bin$ ./worldserver", True),
        ("root@host:/srv# ", True),
        ("@@host:~$", True),
        ("see user@example.com: it crashed $5", False),  # a ``$`` not followed by a space or the end
        ("mail me at user@example.com", False),
    ],
)
def test_a_shell_prompt_ends_the_assertion_message(prompt: str, ends: bool) -> None:
    found = find_assertion(["/src/a.cpp:1 in F ASSERTION FAILED:", "  cond", "the message", prompt, "more"])
    assert found is not None
    assert (found.assertion.message == "the message") is ends


@pytest.mark.timeout(30)
def test_message_lines_of_at_signs_and_colons_are_read_in_linear_time() -> None:
    """Regression: the shell-prompt pattern ``\\S+@\\S+:.*[#$]`` let each ``@`` and each ``:`` of a line be
    the split point: cubic, 28 s for one 4 KB line of ``d@:`` under an assertion."""
    lines = ["/src/a.cpp:1 in F ASSERTION FAILED:", "  cond", *["d@:" * 1365 + "-"] * 10]
    found = find_assertion(lines)
    assert found is not None and found.assertion.message is not None
    assert found.assertion.message.count("d@:d@:") > 1000
