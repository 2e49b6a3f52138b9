"""bot.fix.usertypes: a stack of library frames only, whose template arguments name the application's own
types, leads to the code that changes containers of them.

The crash texts have the shape of real gdb backtraces of a double free in a ``std::list`` (cMaNGOS issue
1922: libc's ``_int_free`` under ``new_allocator<_List_node<T>>::deallocate``, cut off inside that frame);
the C++ below is written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import FixSettings
from bot.crash import analyse as analyse_crash
from bot.crash import parse_report
from bot.crash.model import Crash, Frame
from bot.fix.analysis import analyse, render_analysis_comment
from bot.fix.locate import Limits
from bot.fix.prompt import build_prompt
from bot.fix.usertypes import Family, TypeLead, is_library, user_types
from bot.git import Git
from tests.fix.conftest import CommitFn

# -- which types the library frames name ---------------------------------------------------------------


def _lib(function: str, module: str | None = None) -> Frame:
    return Frame(function=function, module=module)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "__gnu_cxx::new_allocator<std::_List_node<NPCFlags> >::deallocate",
            [("NPCFlags", Family.LIST, "free")],
        ),
        (
            "std::_Rb_tree<unsigned int, std::pair<unsigned int const, Player*>, "
            "std::_Select1st<std::pair<unsigned int const, Player*> >, std::less<unsigned int>, "
            "std::allocator<std::pair<unsigned int const, Player*> > >::_M_erase",
            [("Player", Family.TREE, "free")],
        ),
        (
            "void std::vector<Unit*, std::allocator<Unit*> >::_M_realloc_insert<Unit* const&>",
            [("Unit", Family.VECTOR, "add to")],
        ),
        (  # MSVC spelling (no spaces between template arguments), a struct keyword, a namespace
            "std::list<struct Loot::Item *,std::allocator<struct Loot::Item *> >::erase",
            [("Loot::Item", Family.LIST, "free")],
        ),
        ("std::function<void (Player*)>::operator()", [("Player", None, "use")]),
        (
            "std::_Hashtable<ObjectGuid, std::pair<ObjectGuid const, Creature*>, "
            "std::allocator<std::pair<ObjectGuid const, Creature*> > >::clear",
            [("ObjectGuid", Family.HASH, "free"), ("Creature", Family.HASH, "free")],
        ),
    ],
)
def test_user_types_named_in_library_template_arguments(
    function: str, expected: list[tuple[str, Family | None, str]]
) -> None:
    leads = user_types([_lib(function)])
    assert [(t.type, t.family, t.verb) for t in leads] == expected


@pytest.mark.parametrize(
    "function",
    [
        "std::_Sp_counted_base<(__gnu_cxx::_Lock_policy)2>::_M_release",
        "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_dispose",
        "std::vector<unsigned int, std::allocator<unsigned int> >::_M_default_append",
        "std::map<uint32, std::vector<int64> >::operator[]",
        "std::_Function_handler<void (), Player::Update(unsigned int)::{lambda()#1}>::_M_invoke",
        "_int_free",
        "malloc_printerr",
    ],
)
def test_std_only_and_builtin_template_arguments_name_no_user_type(function: str) -> None:
    assert user_types([_lib(function)]) == []


def test_application_frames_are_not_read_for_types() -> None:
    """Only library frames: an application template's arguments are the application's own business, and
    its frame maps (or not) by its own path."""
    assert user_types([Frame(function="Acore::ObjectUpdater::Visit<Creature>", module="worldserver")]) == []
    assert is_library(Frame(function="raise", module="libc.so.6"))
    assert is_library(Frame(function="?? ", module="libstdc++.so.6"))
    assert not is_library(Frame(function="Unit::Kill", module="worldserver"))


def test_the_innermost_frame_names_a_type_first_and_each_type_once() -> None:
    frames = [
        _lib("_int_free", "libc.so.6"),
        _lib("__gnu_cxx::new_allocator<std::_List_node<Aura*> >::deallocate"),
        _lib("std::__cxx11::_List_base<Aura*, std::allocator<Aura*> >::_M_clear"),
        _lib("std::vector<Spell*, std::allocator<Spell*> >::~vector"),
    ]
    assert [t.type for t in user_types(frames)] == ["Aura", "Spell"]
    assert user_types(frames)[0] == TypeLead(
        "Aura", Family.LIST, "__gnu_cxx::new_allocator<std::_List_node<Aura*> >::deallocate", "free"
    )


# -- following a type through a checkout ---------------------------------------------------------------

BOT_H = """\
#include <list>

enum NpcRole { ROLE_VENDOR = 1, ROLE_TRAINER = 2 };

class BotAI
{
public:
    typedef std::list<enum NpcRole> RoleList;
    void WantRole(NpcRole role);
    Creature* FindNearby();
private:
    RoleList m_wanted;
};
"""
BOT_CPP = """\
#include "BotAI.h"

void BotAI::WantRole(NpcRole role)
{
    m_wanted.push_back(role);
}

Creature* BotAI::FindNearby()
{
    Creature* found = nullptr;
    for (std::list<enum NpcRole>::iterator itr = m_wanted.begin(); itr != m_wanted.end(); itr = m_wanted.erase(itr))
    {
        if (*itr == ROLE_VENDOR)
            m_wanted.erase(itr);
    }
    return found;
}
"""
REPORT_CPP = """\
#include "BotAI.h"

// Reads a list of roles; never changes one.
uint32 CountRoles(std::list<NpcRole> const& roles)
{
    return uint32(roles.size());
}
"""
VENDOR_CPP = """\
#include <vector>

// A vector of roles is another container: the allocator frames free a list.
void ShuffleRoles(std::vector<NpcRole>& roles)
{
    roles.clear();
}
"""
# gdb's backtrace of a double free in a std::list<NpcRole>, cut off inside the allocator frame.
DOUBLE_FREE = """\
(gdb) bt
#0  0x00007efc0170fd7f in raise () from /usr/lib/libc.so.6
#1  0x00007efc016fa672 in abort () from /usr/lib/libc.so.6
#2  0x00007efc01752878 in __libc_message () from /usr/lib/libc.so.6
#3  0x00007efc0175918a in malloc_printerr () from /usr/lib/libc.so.6
#4  0x00007efc0175a97c in _int_free () from /usr/lib/libc.so.6
#5  0x0000555b118ffe30 in __gnu_cxx::new_allocator<std::_List_node<NpcRole> >::deallocate (this=0x
"""
STD_ONLY = """\
(gdb) bt
#0  0x00007efc0170fd7f in raise () from /usr/lib/libc.so.6
#1  0x00007efc016fa672 in abort () from /usr/lib/libc.so.6
#2  0x00007efc0175a97c in _int_free () from /usr/lib/libc.so.6
#3  0x0000555b118ffe30 in std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_dispose (this=0x7f)
#4  0x0000555b118ffe31 in std::_Sp_counted_base<(__gnu_cxx::_Lock_policy)2>::_M_release (this=0x7f)
"""


def _crash(text: str) -> Crash:
    return analyse_crash(parse_report(text))


@pytest.fixture
def bots(git_repo: Git, commit: CommitFn) -> Git:
    commit(
        {
            "src/game/Bots/BotAI.h": BOT_H,
            "src/game/Bots/BotAI.cpp": BOT_CPP,
            "src/game/Reports/RoleReport.cpp": REPORT_CPP,
            "src/game/Vendors/VendorRoles.cpp": VENDOR_CPP,
        }
    )
    return git_repo


def test_a_list_erased_in_a_loop_is_found_from_the_allocator_frame(bots: Git) -> None:
    analysis = analyse(_crash(DOUBLE_FREE), bots, FixSettings())
    assert analysis.frames == ()  # nothing maps: every frame is libc or libstdc++
    shown = [(c.path, c.function) for c in analysis.contexts]
    # the function that erases from the list first, then the one that adds to it; the read-only use
    # comes last and the vector of the same type (another container) not at all
    assert shown == [
        ("src/game/Bots/BotAI.cpp", "BotAI::FindNearby"),
        ("src/game/Bots/BotAI.cpp", "BotAI::WantRole"),
        ("src/game/Reports/RoleReport.cpp", "CountRoles"),
    ]
    first = analysis.contexts[0]
    assert "m_wanted.erase(itr)" in first.text
    assert first.note.startswith(
        "no frame maps; the library frames free a std::list of NpcRole; it is used here"
    )
    lead = next(n for n in analysis.notes if "library frames free a std::list of NpcRole" in n)
    assert "__gnu_cxx::new_allocator<std::_List_node<NpcRole> >::deallocate" in lead
    assert "in 3 files" in lead and "showing 3, best first: src/game/Bots/BotAI.cpp:" in lead
    assert not any("VendorRoles.cpp" in c.path for c in analysis.contexts)
    # a use in a parameter list shows the whole function, the parameter's line marked
    assert "4 > uint32 CountRoles(std::list<NpcRole> const& roles)" in analysis.contexts[2].text


def test_the_lead_reaches_the_comment_and_the_prompt(bots: Git) -> None:
    analysis = analyse(_crash(DOUBLE_FREE), bots, FixSettings())
    comment = render_analysis_comment(analysis)
    assert "BotAI::FindNearby" in comment
    assert "the library frames free a std::list of NpcRole" in comment
    assert "m_wanted.erase(itr);" in comment
    prompt = build_prompt(
        analysis, crash_text=DOUBLE_FREE, allowed_paths=["src/"], max_changed_lines=40
    ).as_text()
    assert "## src/game/Bots/BotAI.cpp — BotAI::FindNearby (no frame maps; the library frames free" in prompt
    assert prompt.index("BotAI::FindNearby") < prompt.index("# Crash report")


def test_crashbot_analyze_json_carries_the_lead(
    bots: Git, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "crash.txt"
    report.write_text(DOUBLE_FREE, encoding="utf-8")
    code = main(["analyze", str(report), "--source", str(bots.repo), "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert data["frames"] == []
    first = data["contexts"][0]
    assert (first["path"], first["function"]) == ("src/game/Bots/BotAI.cpp", "BotAI::FindNearby")
    assert "library frames free a std::list of NpcRole" in first["note"]
    assert any("library frames free a std::list of NpcRole" in n for n in data["notes"])


def test_std_only_template_arguments_lead_nowhere(bots: Git) -> None:
    analysis = analyse(_crash(STD_ONLY), bots, FixSettings())
    assert analysis.contexts == ()
    assert not any("library frames" in n for n in analysis.notes)
    assert "no frame of the crashing thread maps to a file in this checkout" in analysis.notes


def test_no_lead_when_a_frame_maps(bots: Git) -> None:
    """The stack's own code comes first: the lead is for stacks that show none."""
    text = DOUBLE_FREE.replace(
        "#5  0x0000555b118ffe30 in __gnu_cxx",
        "#5  0x0000555b118ffe20 in BotAI::WantRole (this=0x1, role=ROLE_VENDOR) at /build/src/game/Bots/BotAI.cpp:5\n"
        "#6  0x0000555b118ffe30 in __gnu_cxx",
    )
    analysis = analyse(_crash(text), bots, FixSettings())
    assert [c.function for c in analysis.contexts] == ["BotAI::WantRole"]
    assert not any("library frames" in n for n in analysis.notes)


def test_a_type_in_no_container_of_the_checkout_says_so(git_repo: Git, commit: CommitFn) -> None:
    commit({"src/game/Other.cpp": "void Other() {}\n"})
    analysis = analyse(_crash(DOUBLE_FREE), git_repo, FixSettings())
    assert analysis.contexts == ()
    assert any(
        n.endswith("but no use of a container of NpcRole was found in the checkout") for n in analysis.notes
    )


def test_a_type_used_in_300_files_is_read_within_the_limits_and_says_so(
    git_repo: Git, commit: CommitFn
) -> None:
    files = {
        f"src/game/Widgets/Widget{i:03}.cpp": (
            f"void Tick{i:03}(std::list<NpcRole>& roles)\n{{\n    roles.pop_front();\n}}\n"
        )
        for i in range(300)
    }
    commit(files)
    analysis = analyse(_crash(DOUBLE_FREE), git_repo, FixSettings(), limits=Limits(max_files=25))
    assert (
        "containers of NpcRole: 300 files may hold them; read the first 25 (sources first)" in analysis.notes
    )
    assert len(analysis.contexts) == 3
    lead = next(n for n in analysis.notes if "library frames free a std::list of NpcRole" in n)
    assert "25 uses in 25 files" in lead and "showing 3" in lead
    # the parameter each function declares is its own: it is not followed through the tree
    assert not any("changes to roles" in n for n in analysis.notes)


def test_a_spent_search_budget_stops_with_a_note(bots: Git) -> None:
    analysis = analyse(_crash(DOUBLE_FREE), bots, FixSettings(), limits=Limits(total_s=0.0))
    assert analysis.contexts == ()
    assert any(n.startswith("search time (0 s) spent") for n in analysis.notes)


def test_hostile_names_and_lines_cost_little_and_find_nothing_false(git_repo: Git, commit: CommitFn) -> None:
    commit(
        {
            "src/game/Generated.cpp": "static int t[] = {" + "std::list<" * 200_000 + "NpcRole>;\n",
            "src/game/Bots/BotAI.cpp": BOT_CPP,
        }
    )
    hostile = _lib("std::list<" * 100_000 + "NpcRole" + ">" * 50_000 + "::erase")
    assert [t.type for t in user_types([hostile])] == []  # cut at the bound: no whole argument is left
    analysis = analyse(_crash(DOUBLE_FREE), git_repo, FixSettings())
    assert [c.path for c in analysis.contexts] == ["src/game/Bots/BotAI.cpp"]
