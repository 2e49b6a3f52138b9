"""bot.fix.message: a report's message leads to the code that raises it, in a real git checkout holding
code written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import FixSettings
from bot.crash import analyse as conclude
from bot.crash import parse_report
from bot.crash.model import Assertion, CrashReport, ExceptionInfo, Format
from bot.fix.analysis import Analysis, analyse, render_analysis_comment
from bot.fix.context import CodeContext
from bot.fix.locate import Limits
from bot.fix.prompt import build_prompt
from bot.git import Git
from tests.fix.conftest import CommitFn

AUCTION = "src/game/AuctionHouse/AuctionBot.cpp"
AUCTION_CPP = """\
#include "AuctionBot.h"

bool AuctionBotSeller::Initialize()
{
    sLog.outString("Sorting items for the auction bot...");
    for (uint32 id = 0; id < m_maxEntry; ++id)
    {
        ItemPrototype const* proto = GetProto(id);
        switch (proto->Class)
        {
            case ITEM_CLASS_WEAPON:
                break;
            default:
                throw std::domain_error("Unrecognized item prototype class");
        }
    }
    return true;
}
"""
# The message quoted in a comment only: no code raises it here.
LEGACY_CPP = """\
#include "AuctionBot.h"

void AuctionBotBuyer::Reset()
{
    // used to throw "Unrecognized item prototype class" before the seller checked it
    m_items.clear();
}
"""
SPELLS = "src/game/Spells/SpellMgr.cpp"
SPELLS_CPP = """\
#include "SpellMgr.h"

void SpellMgr::Check(uint32 id, uint32 creature)
{
    if (!Exists(id))
        sLog.outError("Unknown spell id %u for creature %u", id, creature);
}

void SpellMgr::Load(uint32 id, uint32 creature)
{
    if (!Exists(id))
        throw std::runtime_error(fmt::format("Unknown spell id {} for creature {}", id, creature));
}
"""
MAPTREE = "src/game/vmap/MapTree.cpp"
MAPTREE_CPP = """\
#include "MapTree.h"

bool StaticMapTree::GetObjectHitPos(float maxDist) const
{
    MANGOS_ASSERT(maxDist <
                  std::numeric_limits<float>::max());
    return Intersect(maxDist);
}
"""
GRID = "src/game/Maps/GridMap.cpp"
GRID_CPP = """\
#include "GridMap.h"

float GridMap::Far() const
{
    return std::numeric_limits<float>::max();
}
"""


def _uncaught(thrown: str, what: str) -> str:
    return f"terminate called after throwing an instance of '{thrown}'\n  what():  {what}\nAborted (core dumped)\n"


def _analyse(git_repo: Git, text: str) -> Analysis:
    return analyse(conclude(parse_report(text)), git_repo, FixSettings())


def _found(a: Analysis) -> list[CodeContext]:
    return [c for c in a.contexts if "found by searching the checkout" in c.note]


@pytest.fixture
def tree(commit: CommitFn) -> None:
    commit(
        {
            AUCTION: AUCTION_CPP,
            "src/game/AuctionHouse/AuctionLegacy.cpp": LEGACY_CPP,
            SPELLS: SPELLS_CPP,
            MAPTREE: MAPTREE_CPP,
            GRID: GRID_CPP,
        }
    )


@pytest.mark.usefixtures("tree")
class TestMessageLeadsToCode:
    def test_a_throw_site_is_found_by_its_message_with_its_function(self, git_repo: Git) -> None:
        a = _analyse(git_repo, _uncaught("std::domain_error", "Unrecognized item prototype class"))
        (ctx,) = _found(a)
        assert (ctx.path, ctx.line, ctx.function) == (AUCTION, 14, "AuctionBotSeller::Initialize")
        assert ctx.note.startswith('the message "Unrecognized item prototype class" is thrown here (throw)')
        assert a.contexts[0] == ctx  # no frame: the message's site is the first code shown

    def test_a_message_in_a_comment_is_not_a_site(self, git_repo: Git) -> None:
        a = _analyse(git_repo, _uncaught("std::domain_error", "Unrecognized item prototype class"))
        assert all(c.path != "src/game/AuctionHouse/AuctionLegacy.cpp" for c in a.contexts)

    def test_a_message_made_from_a_format_string_is_found_throw_before_log(self, git_repo: Git) -> None:
        a = _analyse(git_repo, _uncaught("std::runtime_error", "Unknown spell id 12345 for creature 99"))
        found = _found(a)
        assert [(c.function, c.line) for c in found] == [("SpellMgr::Load", 12), ("SpellMgr::Check", 6)]
        assert "thrown here (throw)" in found[0].note and "logged here (log call)" in found[1].note

    def test_a_message_whose_variable_part_is_a_word_is_found_by_its_fixed_half(
        self, git_repo: Git, commit: CommitFn
    ) -> None:
        commit(
            {
                "src/game/Entities/Creature.cpp": (
                    "void Creature::LoadLoot()\n{\n"
                    '    throw std::runtime_error(fmt::format("Creature {} has a loot template that is missing", n));\n'
                    "}\n"
                )
            }
        )
        a = _analyse(
            git_repo, _uncaught("std::runtime_error", "Creature Hogger has a loot template that is missing")
        )
        assert [c.function for c in _found(a)] == ["Creature::LoadLoot"]

    def test_the_last_console_line_leads_to_where_the_server_was(self, git_repo: Git) -> None:
        a = _analyse(
            git_repo, "Sorting items for the auction bot...\n" + _uncaught("std::bad_alloc", "std::bad_alloc")
        )
        (ctx,) = _found(a)
        assert ctx.function == "AuctionBotSeller::Initialize"
        assert "logged here (log call) (the last line the server printed)" in ctx.note

    def test_an_assertion_expression_finds_its_assert_line_when_the_report_names_no_file(
        self, git_repo: Git
    ) -> None:
        report = CrashReport(
            format=Format.ASSERT_LOG,
            assertion=Assertion(condition="maxDist < std::numeric_limits<float>::max()"),
        )
        a = analyse(conclude(report), git_repo, FixSettings())
        (ctx,) = _found(a)
        assert (ctx.path, ctx.line, ctx.function) == (MAPTREE, 5, "StaticMapTree::GetObjectHitPos")
        assert ctx.note.startswith(
            'the assertion "maxDist < std::numeric_limits<float>::max()" is asserted here'
        )

    def test_a_short_assertion_expression_is_searched_as_its_assert_call(
        self, git_repo: Git, commit: CommitFn
    ) -> None:
        """``m_currMap`` alone is in every file that uses the map; ``ASSERT(m_currMap)`` is where it is checked."""
        commit(
            {
                "src/game/Entities/Object.cpp": (
                    "Map* WorldObject::GetMap() const\n{\n    MANGOS_ASSERT(m_currMap);\n    return m_currMap;\n}\n"
                ),
                "src/game/Entities/Unit.cpp": "void Unit::Move()\n{\n    m_currMap->Relocate(this);\n}\n",
            }
        )
        report = CrashReport(format=Format.VMANGOS_LOG, assertion=Assertion(condition="m_currMap"))
        a = analyse(conclude(report), git_repo, FixSettings())
        assert [(c.path, c.line, c.function) for c in _found(a)] == [
            ("src/game/Entities/Object.cpp", 3, "WorldObject::GetMap")
        ]

    def test_the_same_check_in_other_functions_gives_way_to_the_function_the_report_names(
        self, git_repo: Git, commit: CommitFn
    ) -> None:
        commit(
            {
                "src/game/Entities/Object.cpp": (
                    "Map* WorldObject::GetMap() const\n{\n    MANGOS_ASSERT(m_currMap);\n    return m_currMap;\n}\n"
                    "\nvoid WorldObject::SetMap(Map* map)\n{\n    MANGOS_ASSERT(m_currMap);\n    m_currMap = map;\n}\n"
                ),
            }
        )
        report = CrashReport(
            format=Format.VMANGOS_LOG, assertion=Assertion(condition="m_currMap", function="SetMap")
        )
        a = analyse(conclude(report), git_repo, FixSettings())
        assert [c.function for c in _found(a)] == ["WorldObject::SetMap"]

    def test_a_sentence_where_the_condition_would_be_is_searched_as_a_message(
        self, git_repo: Git, commit: CommitFn
    ) -> None:
        """TrinityCore's ``ERROR:`` prints its text in the condition's place; parentheses do not make it code."""
        commit(
            {
                "src/game/Guilds/Guild.cpp": (
                    "void Guild::Load()\n{\n"
                    '    WPError(m_id, "Guild (id %u) has no leader in the database", m_id);\n'
                    "}\n"
                )
            }
        )
        report = CrashReport(
            format=Format.ASSERT_LOG,
            assertion=Assertion(condition="Guild (id 42) has no leader in the database"),
        )
        a = analyse(conclude(report), git_repo, FixSettings())
        assert [(c.function, c.line) for c in _found(a)] == [("Guild::Load", 3)]
        assert "is asserted here (ASSERT)" in _found(a)[0].note

    def test_a_site_already_shown_by_a_frame_is_a_note_not_a_second_copy(self, git_repo: Git) -> None:
        gdb = (
            _uncaught("std::domain_error", "Unrecognized item prototype class")
            + 'Thread 1 "mangosd" received signal SIGABRT, Aborted.\n'
            + "#0  0x00005555 in AuctionBotSeller::Initialize (this=0x1) at /build/src/game/AuctionHouse/"
            + "AuctionBot.cpp:14\n"
        )
        a = _analyse(git_repo, gdb)
        assert [c.function for c in a.contexts] == ["AuctionBotSeller::Initialize"]
        assert any(
            "is thrown here (throw): " + AUCTION + ":14, in a function shown above" in n for n in a.notes
        )


class TestMessagesThatLeadNowhere:
    def test_an_ambiguous_message_shows_three_sites_and_says_how_many_matched(
        self, git_repo: Git, commit: CommitFn
    ) -> None:
        commit(
            {
                f"src/game/Handlers/Handler{i}.cpp": (
                    f'void Handler{i}::Read()\n{{\n    throw std::runtime_error("Player data is corrupt");\n}}\n'
                )
                for i in range(5)
            }
        )
        a = _analyse(git_repo, _uncaught("std::runtime_error", "Player data is corrupt"))
        assert len(_found(a)) == 3
        assert any(
            '"Player data is corrupt" matches 5 places in 5 files; showing the 3 likeliest' in n
            for n in a.notes
        )

    def test_files_past_the_read_limit_are_left_with_a_note(self, git_repo: Git, commit: CommitFn) -> None:
        commit(
            {
                f"src/game/Handlers/Handler{i}.cpp": (
                    f'void Handler{i}::Read()\n{{\n    throw std::runtime_error("Player data is corrupt");\n}}\n'
                )
                for i in range(5)
            }
        )
        crash = conclude(parse_report(_uncaught("std::runtime_error", "Player data is corrupt")))
        a = analyse(crash, git_repo, FixSettings(), limits=Limits(max_files=2))
        assert len(_found(a)) == 2
        assert any('"Player data is corrupt" is in 5 files; read the first 2' in n for n in a.notes)

    def test_a_message_in_too_many_files_leads_nowhere_and_says_so(
        self, git_repo: Git, commit: CommitFn
    ) -> None:
        commit(
            {
                f"src/game/Db/Table{i}.cpp": f'void Table{i}::Load()\n{{\n    Error("Invalid database entry found");\n}}\n'
                for i in range(41)
            }
        )
        a = _analyse(git_repo, _uncaught("std::runtime_error", "Invalid database entry found"))
        assert _found(a) == []
        assert any("appears in 41 files: too common to lead anywhere" in n for n in a.notes)

    def test_a_message_too_short_is_not_searched(self, git_repo: Git, commit: CommitFn) -> None:
        commit({AUCTION: AUCTION_CPP})
        a = _analyse(git_repo, _uncaught("std::invalid_argument", "stoi"))
        assert _found(a) == []
        assert any('the message "stoi" is too short to search for' in n for n in a.notes)

    def test_a_library_s_message_is_in_no_source_and_says_so(self, git_repo: Git, commit: CommitFn) -> None:
        commit({AUCTION: AUCTION_CPP})
        a = _analyse(
            git_repo,
            _uncaught("std::out_of_range", "vector::_M_range_check: __n (which is 5) >= this->size()"),
        )
        assert _found(a) == []
        assert any("is in none of the checkout's C/C++ string literals" in n for n in a.notes)

    @pytest.mark.parametrize(
        ("what", "said"),
        [
            ("'" * 100_000, "is too short to search for"),  # quoted runs are variable parts
            ('"%{}\\' * 20_000, "is too short to search for"),  # characters a source writes escaped
            ("1" * 50_000 + " x" * 50_000, "is too short to search for"),  # only its first 500 are read
            ("spell " * 50_000, "is in none of the checkout's"),  # searched for 500 characters of it
            ("Unrecognized item prototype class " * 30_000, "is in none of the checkout's"),
        ],
    )
    def test_a_hostile_message_is_searched_or_skipped_with_a_short_note(
        self, git_repo: Git, commit: CommitFn, what: str, said: str
    ) -> None:
        commit({AUCTION: AUCTION_CPP})
        report = CrashReport(format=Format.UNCAUGHT, exception=ExceptionInfo("SIGABRT", what=what))
        a = analyse(conclude(report), git_repo, FixSettings())
        assert _found(a) == []
        (note,) = [n for n in a.notes if said in n]
        assert len(note) < 200  # the note quotes the message cut short


@pytest.mark.usefixtures("tree")
class TestTheFoundSiteReachesTheEngine:
    TEXT = _uncaught("std::domain_error", "Unrecognized item prototype class")

    def test_the_analysis_comment_shows_the_site_and_its_code(self, git_repo: Git) -> None:
        comment = render_analysis_comment(_analyse(git_repo, self.TEXT))
        assert "AuctionBotSeller::Initialize" in comment
        assert 'the message "Unrecognized item prototype class" is thrown here (throw)' in comment
        assert 'throw std::domain_error("Unrecognized item prototype class");' in comment
        assert "std::domain_error: Unrecognized item prototype class" in comment  # the exception fact

    def test_the_prompt_shows_the_site_and_its_code(self, git_repo: Git) -> None:
        prompt = build_prompt(
            _analyse(git_repo, self.TEXT), crash_text=self.TEXT, allowed_paths=("src/",), max_changed_lines=20
        )
        assert f"## {AUCTION} — AuctionBotSeller::Initialize (the message" in prompt.user
        assert 'throw std::domain_error("Unrecognized item prototype class");' in prompt.user

    def test_analyze_json_lists_the_site_as_a_context(
        self, git_repo: Git, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        report = tmp_path / "console.txt"
        report.write_text("Sorting items for the auction bot...\n" + self.TEXT, encoding="utf-8")
        assert main(["analyze", str(report), "--source", str(git_repo.repo), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        first = data["contexts"][0]
        assert (first["path"], first["function"], first["line"]) == (
            AUCTION,
            "AuctionBotSeller::Initialize",
            14,
        )
        assert "thrown here (throw)" in first["note"]
