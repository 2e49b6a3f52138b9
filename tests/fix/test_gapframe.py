"""An unnamed frame between two named frames is identified by its neighbours.

Release builds name only exported functions: glibc's ``backtrace_symbols`` prints a static function as
``mangosd(+0x40e800)``, gdb as ``?? ()``, Wheaty as ``section:offset module``, Visual Studio as a bare
address. The function that calls the frame above and is called by the frame below is that frame. The
reports below are those real shapes (tests/fixtures/samples/SOURCES.md for the real one); the C++ is written
for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import FixSettings
from bot.crash import analyse as analyse_crash
from bot.crash import parse_report
from bot.crash.model import Crash, Frame
from bot.fix.analysis import Analysis, analyse, render_analysis_comment
from bot.fix.budget import plan
from bot.fix.gapframe import INFERRED, Gap, find_gaps, in_lambda, internal_linkage
from bot.fix.locate import Limits, call_sites_in
from bot.fix.prompt import build_prompt
from bot.git import Git

from .conftest import CommitFn

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"

# glibc backtrace_symbols under a vMaNGOS assertion line (the shape of vmangos/core#2359)
BACKTRACE = """\
2024-03-01 10:00:00 /srv/core/src/game/Spells/SpellAuras.cpp:5: Error: Assertion in ApplyModifier failed: m_target
2024-03-01 10:00:00 ./server/bin/mangosd(_ZN4Aura13ApplyModifierEb+0x4d) [0x5650ff4c9b8d]
./server/bin/mangosd(+0x40e800) [0x5650ff226800]
./server/bin/mangosd(_ZN4Unit6UpdateEj+0x210) [0x5650ff1d0720]
/lib/x86_64-linux-gnu/libc.so.6(clone+0x43) [0x7eff6fa98353]
"""
# gdb: a frame of the main program without a symbol is `?? ()` with no `from LIB`
GDB = """\
Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.
#0  0x00005555559a1b2c in Aura::ApplyModifier (this=0x0, apply=true) at /srv/core/src/game/Spells/SpellAuras.cpp:5
#1  0x0000555555a01234 in ?? ()
#2  0x0000555555a05678 in Unit::Update (this=0x7fffe0001234, diff=50) at /srv/core/src/game/Entities/Unit.cpp:14
#3  0x00007ffff7894ac3 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442
"""
# Wheaty: a frame without a symbol is `section:offset module`
WHEATY = """\
Exception code: C0000005 ACCESS_VIOLATION
Call stack:
Address   Frame     Function      SourceFile
00007FF6B7526D6E  000000BFE02FEA30  Aura::ApplyModifier+2DE  C:\\srv\\core\\src\\game\\Spells\\SpellAuras.cpp line 5
00007FF6B7286862  000000BFE02FECE0  0001:0000000000285862 C:\\realm\\bin\\worldserver.exe
00007FF6B7286999  000000BFE02FED50  Unit::Update+B2  C:\\srv\\core\\src\\game\\Entities\\Unit.cpp line 14
00007FFE4C6EE8D7  000000A1B21FF810  BaseThreadInitThunk+17
"""
# Visual Studio's Call Stack window: a frame without a symbol is `module!address()`
VISUAL_STUDIO = """\
Unhandled exception at 0x00007FF71F3A1B27 in worldserver.exe: 0xC0000005: Access violation reading location 0x0.

>\tworldserver.exe!Aura::ApplyModifier(bool apply) Line 5\tC++
 \tworldserver.exe!00007ff71f3a9c10()\tUnknown
 \tworldserver.exe!Unit::Update(unsigned int diff) Line 14\tC++
 \tkernel32.dll!00007ffe4c6ee8d7()\tUnknown
"""
# qsort's own frames in libc sit between the comparator and the function that sorted
IN_LIBC = """\
2024-03-01 10:00:00 /srv/core/src/game/Loot/LootMgr.cpp:5: Error: Assertion in CompareItems failed: a
2024-03-01 10:00:00 ./server/bin/mangosd(_Z12CompareItemsPKvS0_+0x1d) [0x5650ff4c9b8d]
/lib/x86_64-linux-gnu/libc.so.6(+0x4a1b2) [0x7eff6fa4a1b2]
./server/bin/mangosd(_ZN7LootMgr9SortItemsEv+0x44) [0x5650ff1d0720]
"""
TWO_UNNAMED = """\
2024-03-01 10:00:00 /srv/core/src/game/Spells/SpellAuras.cpp:5: Error: Assertion in ApplyModifier failed: m_target
2024-03-01 10:00:00 ./server/bin/mangosd(_ZN4Aura13ApplyModifierEb+0x4d) [0x5650ff4c9b8d]
./server/bin/mangosd(+0x40e800) [0x5650ff226800]
./server/bin/mangosd(+0x40e9a0) [0x5650ff2269a0]
./server/bin/mangosd(_ZN4Unit6UpdateEj+0x210) [0x5650ff1d0720]
"""

SPELL_AURAS = """\
#include "SpellAuras.h"

void Aura::ApplyModifier(bool apply)
{
    m_target->ApplyModifier(m_modifier, apply);
}

void Aura::Refresh()
{
    ApplyModifier(false);
    ApplyModifier(true);
}
"""
APPLY_ONLY = SPELL_AURAS.split("void Aura::Refresh", maxsplit=1)[
    0
]  # Aura::ApplyModifier alone: no other caller
SPELL = """\
#include "Spell.h"

void Spell::EffectApplyAura(uint32 effIndex)
{
    m_aura->ApplyModifier(true);
}
"""
UNIT = """\
#include "Unit.h"

namespace
{
    void ReapplyAuras(Unit* unit)
    {
        for (Aura* aura : unit->GetAuras())
            aura->ApplyModifier(true);
    }
}

void Unit::Update(uint32 diff)
{
    m_updateTimer += diff;
    ReapplyAuras(this);
}
"""
UNIT_TWO_HELPERS = """\
#include "Unit.h"

static void ReapplyAuras(Unit* unit)
{
    for (Aura* aura : unit->GetAuras())
        aura->ApplyModifier(true);
}

static void RefreshAuras(Unit* unit)
{
    for (Aura* aura : unit->GetAuras())
        aura->ApplyModifier(false);
}

void Unit::Update(uint32 diff)
{
    RefreshAuras(this);
    ReapplyAuras(this);
}
"""
UNIT_TWO_DEEP = """\
#include "Unit.h"

static void ReapplyAuras(Unit* unit)
{
    for (Aura* aura : unit->GetAuras())
        aura->ApplyModifier(true);
}

static void UpdateAuras(Unit* unit)
{
    ReapplyAuras(unit);
}

void Unit::Update(uint32 diff)
{
    UpdateAuras(this);
}
"""
LOOT = """\
#include "LootMgr.h"

int CompareItems(void const* a, void const* b)
{
    return static_cast<Item const*>(a)->Id - static_cast<Item const*>(b)->Id;
}

static void SortWith(std::vector<Item>& items)
{
    CompareItems(&items[0], &items[1]);
}

void LootMgr::SortItems()
{
    std::qsort(m_items.data(), m_items.size(), sizeof(Item), CompareItems);
    SortWith(m_items);
}
"""


def _crash(text: str) -> Crash:
    return analyse_crash(parse_report(text.encode()))


def _analyse(git: Git, text: str, **kw: object) -> Analysis:
    return analyse(_crash(text), git, FixSettings(), **kw)  # type: ignore[arg-type]


def _inferred(a: Analysis) -> list[tuple[int | None, str | None, str]]:
    return [(m.index, m.function, m.path) for m in a.frames if m.how.startswith(INFERRED)]


@pytest.mark.parametrize(
    ("shape", "text", "exported_only"),
    [
        ("glibc backtrace_symbols", BACKTRACE, True),  # names exported functions only
        ("gdb ?? ()", GDB, False),
        ("Wheaty section:offset", WHEATY, False),
        ("Visual Studio bare address", VISUAL_STUDIO, False),
    ],
)
def test_an_unnamed_frame_between_named_ones_is_found_in_every_report_shape(
    shape: str, text: str, exported_only: bool
) -> None:
    crash = _crash(text)
    gaps, notes = find_gaps(crash.frames, crash.meaningful, plan(crash).guessed)
    assert gaps == [Gap(1, "Aura::ApplyModifier", "Unit::Update", exported_only)], shape
    assert notes == []


def test_a_static_function_between_two_named_frames_is_named_by_its_neighbours(
    git_repo: Git, commit: CommitFn
) -> None:
    commit(
        {
            "src/game/Spells/SpellAuras.cpp": SPELL_AURAS,
            "src/game/Spells/Spell.cpp": SPELL,
            "src/game/Entities/Unit.cpp": UNIT,
        }
    )
    a = _analyse(git_repo, BACKTRACE)
    # three functions call Aura::ApplyModifier; only ReapplyAuras is called by Unit::Update
    assert _inferred(a) == [(1, "ReapplyAuras", "src/game/Entities/Unit.cpp")]
    inferred = next(m for m in a.frames if m.index == 1)
    assert inferred.how == (
        "inferred from neighbours: frame #1 has no name; it calls Aura::ApplyModifier and is called by "
        "Unit::Update"
    )
    assert (
        "frame #1 has no name; it calls Aura::ApplyModifier (frame #0) and is called by Unit::Update "
        "(frame #2): probably ReapplyAuras" in a.notes
    )
    shown = a.contexts[-1]
    assert (shown.path, shown.function, shown.line) == ("src/game/Entities/Unit.cpp", "ReapplyAuras", 8)
    assert shown.note == (
        "frame #1 has no name in the report; inferred from neighbours: probably ReapplyAuras, calling "
        "Aura::ApplyModifier"
    )  # a range-for's body is no lambda
    # the inference comes after the frames the report names: it displaces none of them
    assert [m.function for m in a.frames] == [
        "ApplyModifier",
        "Aura::ApplyModifier",
        "Unit::Update",
        "ReapplyAuras",
    ]


def test_two_candidates_called_by_the_caller_are_shown_as_ambiguous(git_repo: Git, commit: CommitFn) -> None:
    commit({"src/game/Spells/SpellAuras.cpp": SPELL_AURAS, "src/game/Entities/Unit.cpp": UNIT_TWO_HELPERS})
    a = _analyse(git_repo, GDB)
    assert _inferred(a) == []  # no single answer: no frame is claimed
    assert (
        "frame #1 has no name; it calls Aura::ApplyModifier (frame #0) and is called by Unit::Update "
        "(frame #2): ambiguous, 2 functions call Aura::ApplyModifier and are called by Unit::Update; "
        "showing 2: ReapplyAuras, RefreshAuras" in a.notes
    )
    candidates = [(c.function, c.note) for c in a.contexts if "no name in the report" in c.note]
    assert candidates == [
        (
            "ReapplyAuras",
            "frame #1 has no name in the report; candidate 1 of 2 (inferred from neighbours): calls "
            "Aura::ApplyModifier here",
        ),
        (
            "RefreshAuras",
            "frame #1 has no name in the report; candidate 2 of 2 (inferred from neighbours): calls "
            "Aura::ApplyModifier here",
        ),
    ]


UNIT_STATIC_AND_METHOD = """\
#include "Unit.h"

static void ReapplyAuras(Unit* unit)
{
    for (Aura* aura : unit->GetAuras())
        aura->ApplyModifier(true);
}

void Unit::Update(uint32 diff)
{
    m_aura->Refresh();
    ReapplyAuras(this);
}
"""


def test_backtrace_symbols_cannot_name_a_static_function_so_of_two_candidates_the_static_one_is_it(
    git_repo: Git, commit: CommitFn
) -> None:
    # Unit::Update calls both Aura::Refresh and ReapplyAuras, and both call Aura::ApplyModifier; but a build
    # whose backtrace_symbols names Aura::ApplyModifier exports its methods: the unnamed frame is the static
    commit(
        {"src/game/Spells/SpellAuras.cpp": SPELL_AURAS, "src/game/Entities/Unit.cpp": UNIT_STATIC_AND_METHOD}
    )
    a = _analyse(git_repo, BACKTRACE)
    assert _inferred(a) == [(1, "ReapplyAuras", "src/game/Entities/Unit.cpp")]
    assert (
        "frame #1 has no name; it calls Aura::ApplyModifier (frame #0) and is called by Unit::Update "
        "(frame #2): probably ReapplyAuras (of 2 candidates, the only one with internal linkage: static, in "
        "an anonymous namespace or a lambda, which backtrace_symbols cannot name)" in a.notes
    )
    # gdb names static functions when it has symbols: there `?? ()` says nothing about linkage
    b = _analyse(git_repo, GDB)
    assert _inferred(b) == []
    assert any(
        n.endswith(
            "ambiguous, 2 functions call Aura::ApplyModifier and are called by Unit::Update; showing 2: ReapplyAuras, Aura::Refresh"
        )
        for n in b.notes
    )


def test_a_callee_with_500_callers_costs_bounded_work_and_says_so(git_repo: Git, commit: CommitFn) -> None:
    # 500 callers in the caller's own directory, all sorting before Unit.cpp
    files = {
        f"src/game/Entities/AuraScript{i}.cpp": f"void AuraScript{i}::Run()\n{{\n    m_aura->ApplyModifier(true);\n}}\n"
        for i in range(500)
    }
    commit({**files, "src/game/Spells/SpellAuras.cpp": SPELL_AURAS, "src/game/Entities/Unit.cpp": UNIT})
    a = _analyse(git_repo, WHEATY, limits=Limits(max_files=20))
    assert "'ApplyModifier' is called from 502 files; read the 20 nearest the stack" in a.notes
    # the caller's own file is read whatever the bound: a static function lives beside its caller
    assert _inferred(a) == [(1, "ReapplyAuras", "src/game/Entities/Unit.cpp")]
    assert (
        "frame #1 has no name; it calls Aura::ApplyModifier (frame #0) and is called by Unit::Update "
        "(frame #2): probably ReapplyAuras (among the files read: the search for callers of "
        "Aura::ApplyModifier was cut short)" in a.notes
    )
    assert sum("no name in the report" in c.note for c in a.contexts) == 1


def test_many_candidates_nothing_narrows_are_counted_not_shown(git_repo: Git, commit: CommitFn) -> None:
    files = {
        f"src/game/Entities/AuraScript{i}.cpp": f"void AuraScript{i}::Run()\n{{\n    m_aura->ApplyModifier(true);\n}}\n"
        for i in range(500)
    }
    commit(
        {**files, "src/game/Spells/SpellAuras.cpp": SPELL_AURAS, "src/game/Entities/Unit.cpp": UNIT_TWO_DEEP}
    )
    a = _analyse(git_repo, TWO_UNNAMED, limits=Limits(max_files=20))  # frame #1 has no named caller
    assert (
        "frame #1 has no name; it calls Aura::ApplyModifier (frame #0): ambiguous, 20 functions call "
        "Aura::ApplyModifier among the files read (the search was cut short); none shown" in a.notes
    )
    assert _inferred(a) == []
    assert not any("no name in the report" in c.note for c in a.contexts)


def test_an_unnamed_frame_in_libc_is_not_inferred(git_repo: Git, commit: CommitFn) -> None:
    # qsort's frame in libc.so.6 calls the comparator; SortWith also calls it, and LootMgr::SortItems
    # calls SortWith: were the libc frame taken for the server's, SortWith would be a false answer
    commit({"src/game/Loot/LootMgr.cpp": LOOT})
    crash = _crash(IN_LIBC)
    assert find_gaps(crash.frames, crash.meaningful, plan(crash).guessed) == ([], [])
    a = analyse(crash, git_repo, FixSettings())
    assert _inferred(a) == []
    assert not any("no name" in n for n in a.notes)
    assert not any("no name" in c.note for c in a.contexts)


def test_of_consecutive_unnamed_frames_only_the_one_below_a_named_callee_is_inferred(
    git_repo: Git, commit: CommitFn
) -> None:
    commit({"src/game/Spells/SpellAuras.cpp": SPELL_AURAS, "src/game/Entities/Unit.cpp": UNIT_TWO_DEEP})
    a = _analyse(git_repo, TWO_UNNAMED)
    assert (
        "frame #2 has no name either: only #1, next to a named callee, is inferred from its neighbours; "
        "the unnamed frames below it are not guessed at" in a.notes
    )
    # frame #1 has no named caller to confirm it: Aura::Refresh also calls Aura::ApplyModifier
    assert _inferred(a) == []
    assert any(
        n.startswith("frame #1 has no name; it calls Aura::ApplyModifier (frame #0): ambiguous, 2 functions")
        for n in a.notes
    )
    # frame #2 (UpdateAuras, in truth) is not guessed at
    assert not any(m.index == 2 for m in a.frames)
    assert not any("frame #2 has no name in the report" in c.note for c in a.contexts)


def test_the_only_caller_of_the_callee_is_the_answer_without_a_named_caller(
    git_repo: Git, commit: CommitFn
) -> None:
    commit({"src/game/Entities/Unit.cpp": UNIT_TWO_DEEP, "src/game/Spells/SpellAuras.cpp": APPLY_ONLY})
    a = _analyse(git_repo, TWO_UNNAMED)
    assert _inferred(a) == [(1, "ReapplyAuras", "src/game/Entities/Unit.cpp")]
    assert (
        "frame #1 has no name; it calls Aura::ApplyModifier (frame #0): probably ReapplyAuras (the only "
        "function found that calls Aura::ApplyModifier)" in a.notes
    )


def test_an_inferred_frame_is_never_the_top_frame(git_repo: Git, commit: CommitFn) -> None:
    # nothing the report names is in this checkout; only the unnamed frame's callee has a caller here
    commit({"src/game/Entities/Unit.cpp": UNIT.replace("Unit::Update", "Unit::Tick")})
    a = _analyse(git_repo, BACKTRACE)
    assert _inferred(a) == [(1, "ReapplyAuras", "src/game/Entities/Unit.cpp")]
    assert a.top is None
    assert "no frame of the crashing thread maps to a file in this checkout" in a.notes


# vmangos/core#2359, the real report: `mangosd(+0x40e800)` between ChatHandler::ExecuteCommand and
# World::Update. The fix (vmangos 6dea13cad) changed ChatHandler::ParseCommands, whose lambda calls
# ExecuteCommand and which World::Update reaches through ProcessCliCommands (inlined: no frame of its own).
CHAT = """\
#include "Chat.h"

void ChatHandler::ExecuteCommand(char const* text)
{
    ChatCommand* command = FindCommand(text);
    if (command)
        (this->*(command->Handler))(text);
}

bool ChatHandler::ParseCommands(char const* text)
{
    if (m_session)
    {
        sWorld.AddMessage([text](World* world) { ChatHandler(world).ExecuteCommand(text); });
        return true;
    }
    ExecuteCommand(text);
    return true;
}
"""
WORLD = """\
#include "World.h"

void World::ProcessCliCommands()
{
    while (CliCommand* command = m_queue.next())
        CliHandler(command->account).ParseCommands(command->text);
}

void World::Update(uint32 diff)
{
    m_updateTime += diff;
    ProcessCliCommands();
}
"""
PARTYBOT = """\
#include "Chat.h"

bool ChatHandler::HandlePartyBotAddCommand(char* args)
{
    Player* player = m_session->GetPlayer();
    return player->GetMap() != nullptr;
}
"""


def _chat_tree(commit: CommitFn) -> None:
    commit(
        {
            "src/game/Chat/Chat.cpp": CHAT,
            "src/game/World.cpp": WORLD,
            "src/game/PlayerBots/PartyBotCommands.cpp": PARTYBOT,
            "src/game/Objects/Object.cpp": "Map* WorldObject::GetMap() const\n{\n    return m_currMap;\n}\n",
        }
    )


def test_a_real_release_backtrace_names_the_function_the_fix_changed(git_repo: Git, commit: CommitFn) -> None:
    _chat_tree(commit)
    crash = analyse_crash(parse_report((SAMPLES / "vmangos-issue-2359.txt").read_bytes()))
    a = analyse(crash, git_repo, FixSettings())
    assert _inferred(a) == [(2, "ChatHandler::ParseCommands", "src/game/Chat/Chat.cpp")]
    assert (
        "frame #2 has no name; it calls ChatHandler::ExecuteCommand (frame #1) and is called by World::Update "
        "(frame #3): probably ChatHandler::ParseCommands (World::Update calls it through ProcessCliCommands, "
        "perhaps inlined there)" in a.notes
    )
    shown = a.contexts[-1]
    assert (shown.function, shown.line) == ("ChatHandler::ParseCommands", 14)  # the lambda's call

    comment = render_analysis_comment(a)
    assert (
        "| 2 | `ChatHandler::ParseCommands` | no name | `src/game/Chat/Chat.cpp:14` inferred from neighbours"
        in (comment)
    )
    assert "probably ChatHandler::ParseCommands, calling ChatHandler::ExecuteCommand" in comment

    prompt = build_prompt(a, crash_text="(report)", allowed_paths=["src/"], max_changed_lines=20).user
    assert (
        "frame 2: ChatHandler::ParseCommands at src/game/Chat/Chat.cpp:14 (no name in the report: inferred "
        "from its neighbours, check it)" in prompt
    )
    assert (
        "## src/game/Chat/Chat.cpp — ChatHandler::ParseCommands (frame #2 has no name in the report; inferred "
        "from neighbours: probably ChatHandler::ParseCommands, calling ChatHandler::ExecuteCommand; the call is "
        "inside a lambda, which has no name either)" in prompt
    )


def test_crashbot_analyze_json_marks_the_inferred_frame_and_carries_its_code(
    git_repo: Git, commit: CommitFn, capsys: pytest.CaptureFixture[str]
) -> None:
    _chat_tree(commit)
    report = str(SAMPLES / "vmangos-issue-2359.txt")
    assert main(["analyze", report, "--source", str(git_repo.repo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    inferred = [f for f in data["frames"] if f["how"].startswith("inferred from neighbours")]
    assert [(f["index"], f["function"], f["path"], f["line"]) for f in inferred] == [
        (2, "ChatHandler::ParseCommands", "src/game/Chat/Chat.cpp", 14)
    ]
    assert data["frames"][-1] == inferred[0]  # after every frame the report names
    assert {
        "path": "src/game/Chat/Chat.cpp",
        "function": "ChatHandler::ParseCommands",
        "start": 10,
        "end": 19,
        "line": 14,
        "note": "frame #2 has no name in the report; inferred from neighbours: probably "
        "ChatHandler::ParseCommands, calling ChatHandler::ExecuteCommand; the call is inside a lambda, which has "
        "no name either",
    } in data["contexts"]
    assert any(
        n.startswith("frame #2 has no name; it calls ChatHandler::ExecuteCommand") for n in data["notes"]
    )


def test_the_frame_plan_leaves_unnamed_frames_to_the_neighbours_and_keeps_guesses_as_names() -> None:
    crash = analyse_crash(parse_report((SAMPLES / "vmangos-issue-2359.txt").read_bytes()))
    p = plan(crash)
    # the unnamed frame takes no slot, yet it is still among the crash's frames for gapframe to read
    assert [c.index for c in p.candidates] == [None, 0, 1, 3, 4]
    assert crash.frames[2].function is None and crash.frames[2].offset == "0x40e800"
    # its module offset, larger than any function, does not make the named frames nearest-symbol guesses
    assert p.guessed == frozenset()
    assert find_gaps(crash.frames, crash.meaningful, p.guessed)[0] == [
        Gap(2, "ChatHandler::ExecuteCommand", "World::Update", exported_only=True)
    ]


def test_nearest_symbol_guesses_are_names_not_gaps_and_never_neighbours() -> None:
    # vmangos/core#273: a Windows build without its .pdb names every frame after the nearest export
    crash = analyse_crash(parse_report((SAMPLES / "vmangos-issue-273.txt").read_bytes()))
    guessed = plan(crash).guessed
    assert guessed and find_gaps(crash.frames, crash.meaningful, guessed) == ([], [])
    # an unnamed frame under a guessed name is not inferred from that name
    frames = [
        Frame(function="ChatHandler::HandleRunTestCommand", module="mangosd.exe", offset="0xdd81"),
        Frame(module="mangosd.exe", offset="0x1a06d", address="0x21a06d"),
        Frame(function="Map::Update", module="mangosd.exe", offset="0x263"),
    ]
    assert find_gaps(frames, [0, 1, 2], frozenset({0, 2})) == ([], [])
    assert find_gaps(frames, [0, 1, 2], frozenset({2})) == (
        [Gap(1, "ChatHandler::HandleRunTestCommand", None)],
        [],
    )


def test_a_top_frame_without_a_name_is_said_to_be_beyond_inference() -> None:
    frames = [
        Frame(module="worldserver.exe", offset="0001:0000000000285862"),
        Frame(function="Unit::Update", module="worldserver.exe", offset="0xb2"),
    ]
    gaps, notes = find_gaps(frames, [0, 1], frozenset())
    assert gaps == []
    assert notes == [
        "frame #0 has no name and no named callee above: not inferred (only an unnamed frame whose callee "
        "is named can be identified by its neighbours)"
    ]


def test_hostile_frames_are_read_in_linear_time_and_named_briefly(git_repo: Git, commit: CommitFn) -> None:
    commit({"src/game/Entities/Unit.cpp": UNIT})
    long = 200_000
    hostile = "Aura::" + "A" * long
    frames = (
        Frame(function=hostile, module="mangosd", offset="0x4d"),
        Frame(function=" " * long + "?" * long + " " * long, module="mangosd", offset="0" * long + "1"),
        Frame(function="Unit::Update", module="mangosd", offset="0x210"),
        Frame(module="mangosd", offset="0" * long),  # a null program counter: nowhere
        Frame(function="<unknown>", module="mangosd", address="0x" + "f" * long),
    )
    crash = _crash(BACKTRACE)
    crash = Crash(crash.report, crash.thread_index, frames, (0, 1, 2, 3, 4), None, crash.signature)
    gaps, notes = find_gaps(crash.frames, crash.meaningful, frozenset())
    assert gaps == [Gap(1, hostile, "Unit::Update")]
    assert notes == []  # frames #3 and #4 have no named callee and no named caller: nothing to say
    a = analyse(crash, git_repo, FixSettings())
    assert _inferred(a) == []
    gap_notes = [n for n in a.notes if n.startswith("frame #1 has no name")]
    assert gap_notes and all(len(n) < 1_000 for n in gap_notes)  # a name is cut, never pasted whole


@pytest.mark.parametrize(
    ("code", "inside"),
    [
        ("void F()\n{\n    Post([this](World* world)\n    {\n        Run(world);\n    });\n}\n", True),
        ("void F()\n{\n    auto g = [&]() mutable -> bool {\n        return Run(1);\n    };\n}\n", True),
        ("void F()\n{\n    Post([guid] {\n        Run(guid);\n    });\n}\n", True),
        ("void F()\n{\n    if (m_list[i])\n    {\n        Run(i);\n    }\n}\n", False),
        ("void F()\n{\n    int a[] = {\n        Run(1),\n    };\n}\n", False),
        ("[[nodiscard]] bool F()\n{\n    x = y[1];\n    {\n        return Run(2);\n    }\n}\n", False),
    ],
)
def test_a_call_site_inside_a_lambda_is_told_from_one_inside_a_block(code: str, inside: bool) -> None:
    line = next(n for n, text in enumerate(code.split("\n"), start=1) if "Run(" in text)
    assert in_lambda(code, line) is inside


@pytest.mark.parametrize(
    ("code", "internal"),
    [
        ("static void Reapply(Unit* unit)\n{\n    Run(unit);\n}\n", True),
        ("namespace\n{\n    void Reapply(Unit* unit)\n    {\n        Run(unit);\n    }\n}\n", True),
        ("void Unit::Update()\n{\n    Post([this]() { Run(this); });\n}\n", True),
        ("void Reapply(Unit* unit)\n{\n    Run(unit);\n}\n", False),
        ("void Unit::Reapply()\n{\n    Run(this);\n}\n", False),
        ("class Unit\n{\n    static void Reapply(Unit* unit)\n    {\n        Run(unit);\n    }\n};\n", False),
        ("namespace Game\n{\n    void Reapply(Unit* unit)\n    {\n        Run(unit);\n    }\n}\n", False),
    ],
)
def test_internal_linkage_is_a_static_free_function_an_anonymous_namespace_or_a_lambda(
    code: str, internal: bool
) -> None:
    site = call_sites_in(code, "src/x.cpp", "Run")[0]
    assert internal_linkage(code, site) is internal


def test_an_unnamed_frame_in_another_module_than_its_callee_is_not_the_servers() -> None:
    # a library the OS list does not know (here ACE) still is not the server: its module differs
    frames = [
        Frame(
            function="WorldRunnable::run", module="mangosd", offset="0x93", raw="./mangosd(_ZN13W+0x93) [0x1]"
        ),
        Frame(module="libACE-6.5.so", offset="0x1a06d", raw="/usr/lib/libACE-6.5.so(+0x1a06d) [0x7f01]"),
        Frame(function="ACE_Thread_Adapter::invoke", module="libACE-6.5.so", offset="0x4d", raw=""),
    ]
    assert find_gaps(frames, [0, 1, 2], frozenset()) == ([], [])
    same = [
        frames[0],
        Frame(module="mangosd", offset="0x40e800", raw="./mangosd(+0x40e800) [0x2]"),
        frames[2],
    ]
    assert find_gaps(same, [0, 1, 2], frozenset()) == (
        [Gap(1, "WorldRunnable::run", "ACE_Thread_Adapter::invoke", exported_only=True)],
        [],
    )
