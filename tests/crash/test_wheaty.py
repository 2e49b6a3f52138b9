"""WheatyExceptionReport parser: real samples, one fixture per known trap, and hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.limits import MAX_REPORT_FRAMES, MAX_THREAD_FRAMES
from bot.crash.model import CrashReport, Format
from bot.crash.parsers import wheaty
from bot.crash.parsers.wheaty import build_from_revision
from bot.crash.text import clean_lines, decode
from tests.crash.contract import assert_reads_or_refuses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = FIXTURES / "samples"
OWN = FIXTURES / "crash" / "wheaty"

WHEATY_SAMPLES = [
    "ac-issue-13275.txt",
    "ac-mod-transmog-issue-52.txt",
    "ac-mod-transmog-issue-52-part2.txt",
    "cmangos-issue-946.txt",
    "cmangos-issue-948.txt",
    "mod-playerbots-issue-1184.txt",
    "moon-7d14957a32df-20251031-115858-head5000.txt",
    "tcbots-issue-57.txt",
    "tcbots-issue-57-part2.txt",
]
OTHER_SAMPLES = [
    "ac-issue-14340-cdb.txt",
    "ac-issue-2216.txt",
    "ac-issue-4981.txt",
    "ac-issue-818-cdb.txt",
    "mod-playerbots-issue-2618.txt",
    "mod-playerbots-issue-2618-part2.txt",
    "moon-7d14957a32df-20251031-115858-cdb-stacktext.txt",
    "tc-issue-15704.txt",
]


def lines_of(path: Path) -> list[str]:
    return clean_lines(decode(path.read_bytes()))


def parse_file(path: Path) -> CrashReport:
    return wheaty.parse(lines_of(path))


def functions(report: CrashReport, thread: int) -> list[str | None]:
    return [f.function for f in report.threads[thread].frames]


# -- real samples --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WHEATY_SAMPLES)
def test_sniff_wheaty_sample_is_confident(name: str) -> None:
    assert wheaty.sniff(lines_of(SAMPLES / name)) >= 80


@pytest.mark.parametrize("name", OTHER_SAMPLES)
def test_sniff_other_format_sample_is_not_wheaty(name: str) -> None:
    assert wheaty.sniff(lines_of(SAMPLES / name)) < 25


def test_a_single_frame_line_pasted_alone_is_read_as_wheaty() -> None:
    # mod-playerbots PR #624: one frame line with its source, nothing else
    lines = lines_of(SAMPLES / "mod-playerbots-pr-624.txt")
    assert wheaty.sniff(lines) >= 25
    report = parse_report((SAMPLES / "mod-playerbots-pr-624.txt").read_bytes())
    frame = report.threads[0].frames[0]
    assert (frame.function, frame.line) == ("FirebombSpreadAction::Execute", 58)
    assert frame.file is not None and frame.file.endswith("NexusActions.cpp")
    # a frame line without its source stays below the threshold on its own (it could be anything's)
    assert wheaty.sniff(["00007FF7750C05ED  00000028A47FEA10  FirebombSpreadAction::Execute+1AD"]) < 25


@pytest.mark.parametrize(
    ("name", "code", "exception_name"),
    [
        ("ac-issue-13275.txt", "C0000420", "An assertion failure has occurred."),
        ("ac-mod-transmog-issue-52.txt", "C0000005", "ACCESS_VIOLATION"),
        ("cmangos-issue-948.txt", "C0000005", "ACCESS_VIOLATION"),
        ("tcbots-issue-57.txt", "C0000420", "Ein Assertionsfehler ist aufgetreten."),
        ("moon-7d14957a32df-20251031-115858-head5000.txt", "C0000005", "ACCESS_VIOLATION"),
    ],
)
def test_parse_sample_exception_code_and_localised_name(name: str, code: str, exception_name: str) -> None:
    report = parse_file(SAMPLES / name)
    assert report.format is Format.WHEATY
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == (code, exception_name)


def test_parse_ac_boxed_assertion_sample_fills_every_field() -> None:
    report = parse_file(SAMPLES / "ac-issue-13275.txt")
    assert report.assertion is not None
    assert report.assertion.file == r"E:\github\azerothcore-wotlk\src\server\game\Entities\Object\Object.cpp"
    assert report.assertion.line == 319
    assert report.assertion.function == "Object::GetFloatValue"
    assert report.assertion.condition == "index < m_valuesCount || PrintIndexError(index, false)"
    assert report.assertion.message is not None
    assert report.assertion.message.startswith("MapID: 571")
    assert report.assertion.message.endswith("Class: 2")


def test_parse_tc_plain_assertion_sample_keeps_debug_info_until_fault_address() -> None:
    report = parse_file(SAMPLES / "tcbots-issue-57.txt")
    assert report.assertion is not None
    assert report.assertion.file == r"F:\MeinServer\Trinity\src\server\game\Entities\Object\Object.h"
    assert report.assertion.line == 399
    assert report.assertion.function == "WorldObject::GetMap"
    assert report.assertion.condition == "m_currMap"
    message = report.assertion.message or ""
    assert "MoveSpline" in message
    assert message.endswith("SpawnId: 15000321")
    assert "Fault address" not in message
    assert report.exception is not None
    assert report.exception.address == "0x00007ff62812acd9"
    assert report.exception.module_offset == "01:00000000004f9cd9"


def test_parse_leading_space_before_revision_still_reads_build() -> None:
    report = parse_file(SAMPLES / "ac-issue-13275.txt")
    assert report.build.revision == "be423a91b535"
    assert report.build.product == "AzerothCore"
    assert report.build.configuration == "Release"
    assert report.environment.crashed_at == "2022-10-03T19:56"


def test_parse_unsymbolised_frames_give_module_basename_and_section_offset() -> None:
    report = parse_file(SAMPLES / "ac-mod-transmog-issue-52.txt")
    frame = report.threads[0].frames[0]
    assert frame.function is None
    assert frame.module == "new_worldserver.exe"
    assert frame.offset == "0001:000000000015b4a8"
    assert frame.address == "0x00007ff7a69bc4a8"
    assert report.exception is not None
    assert report.exception.module == "new_worldserver.exe"
    assert report.build.revision is None  # "unknown"
    assert report.crashing_thread == 0


def test_parse_x86_sample_reads_8_hex_columns_and_cut_path() -> None:
    report = parse_file(SAMPLES / "cmangos-issue-948.txt")
    frames = report.threads[0].frames
    assert frames[0].function == "WorldObject::IsInMap"
    assert (frames[0].file, frames[0].line) == (r"d:\mangos-wotlk-master\src\game\object.h", 541)
    assert frames[0].address == "0x004c6c3f"
    assert frames[-1].function == "Creature::Update"
    assert frames[-1].line is None
    assert report.build.revision is None  # "Revision: * * *"
    assert any("truncated" in note for note in report.notes)


def test_parse_stack_only_excerpt_has_handler_frames_and_no_header() -> None:
    report = parse_file(SAMPLES / "cmangos-issue-946.txt")
    names = functions(report, 0)
    assert names[names.index("KiUserExceptionDispatcher") + 1] == "CreatureAI::SendAIEventAround"
    assert report.exception is None
    assert any("stack-only" in note for note in report.notes)


def test_parse_excerpt_starting_mid_block_makes_no_crashing_claim() -> None:
    report = parse_file(SAMPLES / "tcbots-issue-57-part2.txt")
    assert report.crashing_thread is None
    assert functions(report, 1)[4] == "std::_Winerror_message"


def test_parse_empty_exception_context_block_is_kept_empty() -> None:
    report = parse_file(SAMPLES / "moon-7d14957a32df-20251031-115858-head5000.txt")
    assert report.threads[0].frames == ()
    assert report.crashing_thread is None
    assert report.build.revision == "7d14957a32df"
    assert report.build.dirty is True
    assert report.build.platform == "Windows, AMD64"
    inline = [f for f in report.threads[2].frames if f.inline]
    assert [f.function for f in inline][:1] == ["boost::asio::io_context::run"]


def test_parse_stl_frames_keep_msvc_template_names() -> None:
    report = parse_file(SAMPLES / "mod-playerbots-issue-1184.txt")
    assert functions(report, 0)[:4] == [
        "memmove",
        "std::_Copy_memmove<Player * *,Player * *>",
        "std::vector<Player *,std::allocator<Player *> >::_Emplace_reallocate<Player * const &>",
        "LineFormation::GetLocationInternal",
    ]


# -- own fixtures, one per trap --------------------------------------------------------------------------


def test_parse_tc_new_report_reads_inline_frames_threads_and_skips_locals() -> None:
    report = parse_file(OWN / "tc-new-x64-inline-locals.txt")
    assert len(report.threads) == 5  # the locals section repeats four stacks: none become threads
    assert report.crashing_thread == 0
    crash = report.threads[0].frames
    assert crash[0].inline and crash[0].function == "ObjectGuid::GetRawValue"
    assert not crash[1].inline and crash[1].function == "Unit::GetTarget"
    assert crash[0].address == crash[1].address == "0x00007ff6a1b2c3d4"
    assert crash[2].function == "`BotMgr::_teleportBot'::`2'::<lambda_1>::operator()"
    assert crash[2].line == 1243
    assert crash[4].function == "Player::AddSpellMod"  # decorated export name
    assert crash[4].offset == "0x56"
    assert report.build.platform == "Windows, AMD64"
    assert report.build.configuration == "RelWithDebInfo"
    assert report.environment.os == "Microsoft Windows 11 Pro"
    assert report.environment.crashed_at == "2024-11-07T03:05"
    assert "locals section skipped" in report.notes


def test_parse_garbage_frames_are_kept_without_function_or_module() -> None:
    report = parse_file(OWN / "tc-new-x64-inline-locals.txt")
    garbage = report.threads[4].frames[1]
    assert (garbage.function, garbage.module) == (None, None)
    assert garbage.offset == "0000:0000000000000000"


def test_parse_ac_assert_report_keeps_handler_thread_repeat_and_box_fields() -> None:
    report = parse_file(OWN / "ac-assert-handler-thread.txt")
    assert report.assertion is not None
    assert report.assertion.condition == "unitTarget->IsInWorld()"
    assert report.assertion.function == "Spell::EffectSchoolDMG"
    assert report.assertion.line == 412
    assert "Spell 12345" in (report.assertion.message or "")
    assert "Skeletal Runesmith" in (report.assertion.message or "")
    assert len(report.threads) == 3
    repeat = functions(report, 2)
    assert repeat[0] == "ZwGetContextThread"
    assert repeat[repeat.index("RaiseException") :] == functions(report, 0)
    assert report.build.dirty is True
    assert report.environment.cpu == "AMD Ryzen 7 5800X 8-Core Processor"
    assert report.environment.os == "Windows 10 Professional (Version 10.0, Build 19045)"


def test_parse_cmangos_header_reads_40_hex_build_date_and_memory_in_mb() -> None:
    report = parse_file(OWN / "cmangos-x86-mb.txt")
    assert report.build.revision == "2c4b9e0d1f8a7c6b5a4938271605f4e3d2c1b0a9"
    assert report.build.date == "2026-02-26T22:14:03"
    assert report.environment.memory_kb == 16303 * 1024
    assert report.environment.crashed_at == "2026-02-28T17:27"
    frames = report.threads[0].frames
    assert frames[3].module == "mangosd.exe"
    assert frames[3].offset == "0001:0054b003"
    assert report.exception is not None
    assert report.exception.module_offset == "01:0063e1c7"


def test_parse_mixed_line_endings_assertion_and_2012_revision() -> None:
    report = parse_file(OWN / "tc2012-x86-mixed-eol.txt")
    assert report.assertion is not None
    assert report.assertion.condition == "args.Validate()"
    assert report.assertion.function == "Movement::MoveSplineInit::Launch"
    assert report.build.revision == "b16fe0bb0a32"
    assert report.build.dirty is True
    assert (report.build.platform, report.build.configuration) == ("Win32", "Debug")
    assert report.build.date == "2012-08-04 13:09:11 +0300"


def test_parse_stack_overflow_with_empty_first_block_has_no_crashing_thread() -> None:
    report = parse_file(OWN / "stack-overflow-empty.txt")
    assert report.exception is not None
    assert report.exception.name == "STACK_OVERFLOW"
    assert report.threads[0].frames == ()
    assert report.crashing_thread is None
    assert report.environment.cpu is None  # <unknown>
    assert report.environment.os is None  # "*** Operation System:" fallback
    assert (report.build.revision, report.build.dirty) == ("9a9cd6e45ffa", True)  # "hash +" form


def test_parse_unnamed_cpp_exception_and_null_call_fault() -> None:
    report = parse_file(OWN / "cpp-exception-null-call.txt")
    assert report.exception is not None
    assert (report.exception.code, report.exception.name) == ("E06D7363", None)
    assert report.exception.address == "0x0000000000000000"
    assert report.exception.module is None
    assert report.exception.module_offset is None  # CCCCCCCC:CCCC… is uninitialised memory


def test_parse_collapsed_whitespace_splits_symbol_and_source() -> None:
    report = parse_file(OWN / "collapsed-whitespace.txt")
    frames = report.threads[0].frames
    assert frames[0].function == "Field::GetUInt32"
    assert (
        frames[0].file
        == r"D:\Program Files (x86)\trinity\baserobot_git\src\server\database\Database\Field.cpp"
    )
    assert frames[0].line == 119
    assert frames[2].function == "std::operator+<char,std::char_traits<char>,std::allocator<char> >"
    assert frames[2].offset == "0x54"
    assert frames[4].module == "worldserver.exe"
    assert report.exception is not None
    assert report.exception.module == "worldserver.exe"


def test_parse_appended_second_report_reads_only_the_first() -> None:
    report = parse_file(OWN / "ac-two-reports.txt")
    assert report.exception is not None
    assert report.exception.code == "E06D7363"
    assert "Unit::RemoveAura" not in [f.function for t in report.threads for f in t.frames]
    assert any("second report" in note for note in report.notes)


def test_parse_cut_inside_source_keeps_path_prefix_and_notes_truncation() -> None:
    report = parse_file(OWN / "truncated-midline.txt")
    frames = report.threads[0].frames
    assert (frames[0].file, frames[0].line) == (
        r"C:\tc\src\server\scripts\Northrend\Naxxramas\boss_gothik.cpp",
        None,
    )
    assert frames[1].function == "Unit::DealDamage"
    assert any("truncated" in note for note in report.notes)


def test_parse_blank_line_after_every_frame_keeps_one_block() -> None:
    report = parse_file(SAMPLES / "ac-mod-transmog-issue-52-part2.txt")
    assert len(report.threads[0].frames) == 16
    assert report.threads[1].frames == ()  # a "Call stack:" cut after its first character of header


# -- revision lines --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "revision", "dirty", "branch", "platform", "configuration"),
    [
        (
            "TrinityCore rev. e9bcae1fada6 2018-12-09 16:07:38 +0100 (master branch) (Win64, RelWithDebInfo, Static)",
            "e9bcae1fada6",
            False,
            "master",
            "Win64",
            "RelWithDebInfo",
        ),
        (
            "TrinityCore rev. 9a9cd6e45ffa + 2016-01-29 21:44:12 +0100 (6.x branch) (Win64, Release)",
            "9a9cd6e45ffa",
            True,
            "6.x",
            "Win64",
            "Release",
        ),
        (
            "SkyFire 5.x.x rev. 0123456789ab+ 2014-01-01 00:00:00 +0000 (master branch) (Win32, Debug)",
            "0123456789ab",
            True,
            "master",
            "Win32",
            "Debug",
        ),
        ("OregonCore Rev: 551 Hash: 3f2e1d0c (Win32, Release)", "3f2e1d0c", False, None, "Win32", "Release"),
        ("* * *", None, False, None, None, None),
        ("", None, False, None, None, None),
    ],
)
def test_build_from_revision_forms(
    text: str,
    revision: str | None,
    dirty: bool,
    branch: str | None,
    platform: str | None,
    configuration: str | None,
) -> None:
    build = build_from_revision(text)
    assert (build.revision, build.dirty, build.branch, build.platform, build.configuration) == (
        revision,
        dirty,
        branch,
        platform,
        configuration,
    )


def test_build_from_revision_product_is_fork_name() -> None:
    assert build_from_revision("Firelands rev. 0123456789ab 2015-01-01 00:00:00 +0000").product == "Firelands"


# -- errors and hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "hello world\nthis is not a crash", "Registers:\nRAX:0000000000000000", "Fault address:  nothing"],
)
def test_parse_text_without_wheaty_parts_raises_one_line_error(text: str) -> None:
    with pytest.raises(CrashParseError) as info:
        wheaty.parse(clean_lines(text))
    assert "\n" not in str(info.value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=120), max_size=40))
def test_parse_arbitrary_lines_raises_only_crash_parse_error(lines: list[str]) -> None:
    try:
        report = wheaty.parse(lines)
    except CrashParseError:
        return
    assert report.format is Format.WHEATY


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=40))
def test_sniff_arbitrary_lines_stays_in_range(lines: list[str]) -> None:
    assert 0 <= wheaty.sniff(lines) <= 100


HEX = "0123456789abcdefABCDEF"
# Characters real frame lines hold, plus the ones the two readings treat specially (``+``, ``?``, `` line``).
NAME_CHARS = HEX + "xyz:_<>(),*&`'?@$ +[]"
PATH_CHARS = HEX + "\\/:._- +"


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=size, max_size=size)


@st.composite
def frame_lines(draw: st.DrawFn) -> str:
    """Lines shaped like a Wheaty frame (both shapes), with the damage and odd characters pastes bring."""
    width = draw(st.sampled_from([8, 16]))
    gap = draw(st.sampled_from(["  ", "  ", "  ", " ", "\t", "   "]))  # mostly undamaged
    head = draw(_hex(width)) + gap + draw(_hex(draw(st.sampled_from([width, 8, 16])))) + gap
    head += draw(st.sampled_from(["", "[inline] ", "[inline]  ", "[inline]"]))
    if draw(st.booleans()):
        body = draw(_hex(4)) + ":" + draw(_hex(draw(st.sampled_from([8, 16]))))
        if draw(st.booleans()):
            body += draw(st.sampled_from([" ", " ", "  "])) + draw(st.text(PATH_CHARS, max_size=40))
    else:
        body = (
            draw(st.text(NAME_CHARS, min_size=1, max_size=40))
            + "+"
            + draw(st.text(HEX, min_size=1, max_size=5))
        )
        if draw(st.booleans()):
            body += draw(st.sampled_from(["  ", "  ", " "])) + draw(
                st.text(PATH_CHARS, min_size=1, max_size=40)
            )
            body += draw(st.sampled_from([" line ", " line ", " line", " "])) + draw(
                st.text("0123456789", max_size=4)
            )
    return (head + body).rstrip()


def read_fast(line: str) -> bool:
    """Whether the parser reads ``line`` on its fast path (the two-match reading of undamaged lines)."""
    columns = wheaty._FAST_COLUMNS.match(line)
    return columns is not None and wheaty._FAST_SITE.fullmatch(columns["rest"]) is not None


@settings(max_examples=1500, deadline=None)
@given(frame_lines())
def test_parser_frame_for_any_frame_line_is_the_general_readings_frame(line: str) -> None:
    """The fast reading of undamaged frame lines exists only for speed: whichever way the parser reads a
    line, its Frame is the general reading's, field for field."""
    expected = wheaty._frame(line)
    assume(expected is not None)
    report = wheaty.parse(["Call stack:", line, "", "Call stack:", line])
    assert report.threads[0].frames == (expected,)
    assert report.threads[1].frames == (expected,)  # the second time from the per-report site cache


@pytest.mark.parametrize(
    "line",
    [
        "0094C003  00000000  0001:0054B003 C:\\m.exe\r",
        "0094C003  00000000  0001:0054B003 C:\\m.exe  ",
        "00007FF6A1B2002E  000000C1E2FFF5D0  memset+20\n98",
        "00007FF6A1B2002E  000000C1E2FFF5D0  Foo\nBar+20",
        "00007FF6A1B2002E  000000C1E2FFF5D0  Unit::Kill+20 \t",
    ],
    ids=["cr", "trailing-spaces", "newline-after", "newline-inside", "trailing-tab"],
)
def test_parser_frame_for_lines_that_skipped_clean_lines_is_the_general_readings_frame(line: str) -> None:
    """parse() is also called with lines that were not cleaned (line ends, trailing blanks left in)."""
    expected = wheaty._frame(line)
    assert expected is not None
    assert wheaty.parse(["Call stack:", line]).threads[0].frames == (expected,)


@pytest.mark.parametrize(
    "line",
    [
        "00007FF77FCEFCA3  000000AB65BFFCD0  0001:000000000003ECA3 C:\\Users\\SV\\bin\\worldserver.exe",
        "00007FF77FCEFCA3  000000AB65BFFCD0  0000:0000000000000000",
        "00717C67  32353A84  [inline] 0001:00546C67 C:/srv/worldserver.exe",
        "00007FF6581F2647  000000F6AC53F470  World::Update+937  C:\\TC\\src\\World.cpp line 2363",
        "00007FFE59CC2274  000000F6AC53F350  ZwDelayExecution+14",
        "00007FF6578B6EC3  000000F6ACBFF5A0  [inline] main::__l55::<lambda_4>::operator()+8  C:\\Main.cpp line 290",
        "00007FF6578B6EC3  000000F6ACBFF5A0  ?AddSpellMod@Player@@QEAAXPEAUSpellModifier@@_N@Z+1F",
    ],
)
def test_parser_reads_the_usual_frame_lines_on_its_fast_path(line: str) -> None:
    assert read_fast(line)
    assert wheaty.parse(["Call stack:", line]).threads[0].frames == (wheaty._frame(line),)


REAL_REPORTS = [SAMPLES / name for name in WHEATY_SAMPLES] + sorted(OWN.glob("*.txt"))


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(REAL_REPORTS),
    cut=st.integers(min_value=0, max_value=25_000),
    junk=st.text(max_size=30),
    at=st.integers(min_value=0, max_value=25_000),
)
def test_parse_truncated_or_mutated_real_report_raises_only_crash_parse_error(
    path: Path, cut: int, junk: str, at: int
) -> None:
    text = decode(path.read_bytes())[:cut]
    at = min(at, len(text))
    mutated = text[:at] + junk + text[at:]
    lines = clean_lines(mutated)
    assert_reads_or_refuses(wheaty, lines)


HOSTILE_LINES = [
    " " * 2_000_000,
    "+A" * 1_000_000,
    "0000000000000000  0000000000000000  " + "A+" * 1_000_000,
    "0000000000000000  0000000000000000  " + "a " * 1_000_000,
    "0000000000000000  0000000000000000  " + "x+1  " * 400_000,
    "0000000000000000  0000000000000000  " + "a  " * 700_000,
    "0000000000000000  0000000000000000  " + "+1 C:" * 400_000,
    "00000000  00000000  " + "0001:" * 400_000,
    "Revision: " + "rev. " * 400_000,
    "Revision: " + "(" * 1_000_000,
    "Fault address:  " + "0" * 2_000_000,
    "Exception code: " + "C" * 2_000_000,
    "Date " + "1:" * 1_000_000,
    "F" * 2_000_000,
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=lambda line: repr(line[:24]))
def test_parse_two_megabyte_single_line_finishes(line: str) -> None:
    """Catastrophic backtracking would hang here; the suite's timeout turns that into a failure."""
    lines = ["Call stack:", line, "Revision: x", line]
    assert_reads_or_refuses(wheaty, lines)


def big_report() -> list[str]:
    """A ~5 MB report: the TC-new fixture with its locals section repeated until it is that large."""
    lines = lines_of(OWN / "tc-new-x64-inline-locals.txt")
    start = lines.index("Local Variables And Parameters") + 1
    locals_section = lines[start:]
    size = sum(len(line) + 2 for line in lines)
    repeats = max(1, (5_000_000 - size) // sum(len(line) + 2 for line in locals_section))
    return lines + locals_section * repeats


def test_parse_five_megabyte_report_gives_same_threads_as_small_one() -> None:
    big = big_report()
    assert sum(len(line) for line in big) > 4_500_000
    small = parse_file(OWN / "tc-new-x64-inline-locals.txt")
    assert wheaty.parse(big).threads == small.threads


def test_parse_uncaught_cpp_exception_text_and_symbol_handler_error_are_kept() -> None:
    lines = [
        "Exception code: E06D7363 Unhandled C++ exception",
        "Fault address:  00007FF7A69BC4A8 01:000000000015B4A8 C:\\wow\\worldserver.exe",
        "----",
        "SYMBOL HANDLER ERROR (THIS IS NOT THE CRASH ERROR)",
        "----",
        "Uncaught C++ exception info: invalid unordered_map<K, T> key",
        "",
        "Call stack:",
        "Address   Frame     Function      SourceFile",
        "00007FF7A69BC4A8  000000DDD2EFF760  0001:000000000015B4A8 C:\\wow\\worldserver.exe",
    ]
    report = wheaty.parse(lines)
    assert report.exception is not None
    assert report.exception.name == "Unhandled C++ exception"
    assert report.extra["uncaught_exception"] == "invalid unordered_map<K, T> key"
    assert any("symbol handler" in note for note in report.notes)


def test_parse_symbol_handler_error_on_a_locals_header_line_is_a_note_not_the_end_of_the_report() -> None:
    report = wheaty.parse(
        [
            "Exception code: C0000005 ACCESS_VIOLATION",
            "Local Variables And Parameters SYMBOL HANDLER ERROR",
            "Call stack:",
            "00007FF6A1C0FFEE  000000C1E2FFF620  Player::LoadFromDB+2E1",
        ]
    )
    assert [f.function for f in report.threads[0].frames] == ["Player::LoadFromDB"]
    assert "symbol handler error reported by the crashing process" in report.notes


def test_parse_non_decimal_digits_in_numbers_are_text_not_a_traceback() -> None:
    """Regression: ``str.isdigit`` accepts ``²``, which ``int`` refuses, so a superscript where Wheaty
    prints a line number or processor count raised ValueError out of the parser."""
    lines = [
        "Number Of Processors: ²",
        "Exception code: C0000005 ACCESS_VIOLATION",
        "Call stack:",
        "00007FF6A1B2002E  000000C1E2FFF5D0  Field::GetUInt32+2E  D:\\src\\Field.cpp line 1²",
        "00007FF6A1B2102E  000000C1E2FFF5F0  ResultSet::NextRow+2E  D:\\src\\QueryResult.cpp line ١٢",
    ]
    report = wheaty.parse(lines)
    assert report.environment.cpu_count is None
    first, second = report.threads[0].frames
    assert (first.function, first.file, first.line) == (
        "Field::GetUInt32",
        "D:\\src\\Field.cpp line 1²",
        None,
    )
    assert (second.file, second.line) == ("D:\\src\\QueryResult.cpp", 12)  # Arabic-Indic digits are decimal


@pytest.mark.parametrize(
    "cut",
    ["00007FF6A1B2102E", "00007FF6A1B2102E  000000C1E2", "0040F1C7"],
    ids=["pc-only", "pc-and-part-of-fp", "x86-pc-only"],
)
def test_parse_frame_line_cut_to_its_address_is_kept_as_address_only_frame(cut: str) -> None:
    """Regression: a copy that stopped right after a frame's program counter lost that frame, although
    the address alone can still match the fault address (mod-playerbots-issue-1184 ends this way)."""
    lines = [
        "Call stack:",
        "Address   Frame     Function      SourceFile",
        "00007FF6A1B2002E  000000C1E2FFF5D0  Field::GetUInt32+2E  D:\\src\\Field.cpp line 119",
        cut,
    ]
    frames = wheaty.parse(lines).threads[0].frames
    assert len(frames) == 2
    pc = cut.split(maxsplit=1)[0].lower()
    assert (frames[1].address, frames[1].function, frames[1].module, frames[1].raw) == (
        f"0x{pc}",
        None,
        None,
        cut,
    )
    assert any("truncated" in note for note in wheaty.parse(lines).notes)


def test_parse_sample_cut_inside_last_frame_keeps_its_address() -> None:
    report = parse_file(SAMPLES / "mod-playerbots-issue-1184.txt")
    last = report.threads[-1].frames[-1]
    assert (last.address, last.function, last.raw) == (
        "0x00007ff68529813b",
        None,
        "00007FF68529813B  000000E3CB",
    )


def test_analyse_fault_address_on_a_cut_frame_chooses_its_thread() -> None:
    text = "\r\n".join(
        [
            "Exception code: C0000005 ACCESS_VIOLATION",
            "Fault address:  00007FF6A1B2102E 01:000000000000202E D:\\bin\\worldserver.exe",
            "Call stack:",
            "00007FFB3C7A7344  000000C1E2FFFC00  ZwWaitForSingleObject+14",
            "Call stack:",
            "00007FF6A1B2002E  000000C1E2FFF5D0  Field::GetUInt32+2E  D:\\src\\Field.cpp line 119",
            "00007FF6A1B2102E",
        ]
    )
    crash = analyse(parse_report(text))
    assert crash.thread_index == 1
    assert crash.decisions[0].reason.startswith("thread 1 has the fault address at frame #1")


def _deep_stack(threads: int, depth: int) -> list[str]:
    lines = ["Exception code: C0000005 ACCESS_VIOLATION"]
    for t in range(threads):
        lines += ["Call stack:", "Address   Frame     Function      SourceFile"]
        lines += [
            f"{0x7FF6A1B20000 + t * 0x100000 + d:016X}  000000C1E2FFF5D0  Recurse::Step+2E  D:\\src\\Recurse.cpp line 7"
            for d in range(depth)
        ]
    return lines


def test_parse_stack_deeper_than_the_thread_limit_keeps_its_top_and_says_so() -> None:
    lines = _deep_stack(1, MAX_THREAD_FRAMES + 5)
    lines[3] = "00007FF6A1B2002E  000000C1E2FFF5D0  Unit::DealDamage+2E  D:\\src\\Unit.cpp line 812"
    report = wheaty.parse(lines)
    frames = report.threads[0].frames
    assert len(frames) == MAX_THREAD_FRAMES
    assert frames[0].function == "Unit::DealDamage"
    assert any(note.startswith("truncated: 5 frame(s) past the limits") for note in report.notes)


def test_parse_report_past_the_report_frame_limit_drops_later_threads_frames() -> None:
    threads = MAX_REPORT_FRAMES // MAX_THREAD_FRAMES + 1
    report = wheaty.parse(_deep_stack(threads, MAX_THREAD_FRAMES))
    assert sum(len(t.frames) for t in report.threads) == MAX_REPORT_FRAMES
    assert report.threads[-1].frames == ()
    assert any(note.startswith(f"truncated: {MAX_THREAD_FRAMES} frame(s)") for note in report.notes)
