"""A crash inside a destructor leads to the other places that delete that class (bot/fix/deletes.py).

The stacks have the shape of real cMaNGOS Wheaty reports (cmangos/issues#979: ``~WorldSession`` under
``~WorldSocket``, fixed in ``World::AddSession_``; #959: ``~Spell`` alone, fixed in ``PetAI::UpdateAI``);
the C++ below is written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import FixSettings
from bot.crash import analyse as analyse_crash
from bot.crash import parse_report
from bot.crash.model import Crash
from bot.fix import budget
from bot.fix.analysis import Analysis, analyse, render_analysis_comment
from bot.fix.deletes import destroyed, find
from bot.fix.locate import Limits, Locator
from bot.fix.prompt import build_prompt
from bot.git import Git

from .conftest import commit_files_dated

DAY, BUILD = 86_400, 1_700_000_000

SESSION_H = """\
class WorldSocket;

class WorldSession
{
    public:
        WorldSession(uint32 id, WorldSocket* sock);
        ~WorldSession();
        uint32 GetAccountId() const { return m_accountId; }
    private:
        WorldSocket* m_socket;
        uint32 m_accountId;
};
"""
SESSION_CPP = """\
#include "WorldSession.h"

WorldSession::~WorldSession()
{
    m_socket->CloseSocket();
}
"""
SOCKET_H = """\
class WorldSession;

class WorldSocket
{
    public:
        ~WorldSocket();
    private:
        WorldSession* m_session;
};
"""
SOCKET_CPP = """\
#include "WorldSocket.h"

WorldSocket::~WorldSocket()
{
    delete m_session;
}
"""
WORLD_H = """\
class WorldSession;

typedef std::unordered_map<uint32, WorldSession*> SessionMap;

class World
{
    public:
        ~World();
        void AddSession(WorldSession* s);
        void KickQueued();
    private:
        SessionMap m_sessions;
        std::list<WorldSession*> m_queued;
};
"""
WORLD_CPP = """\
#include "World.h"

World::~World()
{
    for (auto& entry : m_sessions)
        delete entry.second;
}

void World::AddSession(WorldSession* s)
{
    SessionMap::iterator old = m_sessions.find(s->GetAccountId());
    if (old != m_sessions.end())
        delete old->second;  // the socket that owns it deletes it again
    m_sessions[s->GetAccountId()] = s;
}

void World::KickQueued()
{
    for (std::list<WorldSession*>::iterator it = m_queued.begin(); it != m_queued.end(); ++it)
        delete *it;
    m_queued.clear();
}
"""
# deletes in a file that names WorldSession, none of a WorldSession
MAIL_CPP = """\
#include "WorldSession.h"

void Mail::Send(WorldSession* session, Item* item, void* payload)
{
    delete item;
    delete payload;
    auto found = Lookup(session->GetAccountId());
    delete found;
    delete GetOwner(session);
}

template<class T> void Purge(T* p)
{
    delete p;
}

// delete session; (a comment)
class Holder
{
    Holder(const Holder&) = delete;
};
"""
LOGIN_CPP = """\
#include "WorldSession.h"

void LoginQueue::Reject(uint32 id)
{
    auto* pending = new WorldSession(id, nullptr);
    delete pending;
}

void LoginQueue::Drop(WorldSession *const pending)
{
    delete (pending);
}

void WorldSession::LogoutAndDelete()
{
    delete this;
}
"""

# cmangos/issues#979's shape: the fault in ~WorldSession, called by the delete in ~WorldSocket
DOUBLE_DELETE = """\
Exception code: C0000005 ACCESS_VIOLATION
Fault address: 00000001400E3578 01:00000000000E2578 D:\\srv\\mangosd.exe

Call stack:
Address Frame Function SourceFile
00000001400E3578 000000001446FDC0 WorldSession::~WorldSession+78 c:\\srv\\src\\game\\worldsession.cpp line 5
0000000140254799 000000001446FE00 WorldSocket::~WorldSocket+39 c:\\srv\\src\\game\\worldsocket.cpp line 5
"""


def _old_tree(repo: Path, **extra: str) -> None:
    """The tree, committed long before HEAD (no file of it changed recently)."""
    commit_files_dated(repo, _tree(**extra), BUILD - 400 * DAY)
    commit_files_dated(repo, {"README": "build\n"}, BUILD)


def _tree(**extra: str) -> dict[str, str]:
    return {
        "src/game/WorldSession.h": SESSION_H,
        "src/game/WorldSession.cpp": SESSION_CPP,
        "src/game/WorldSocket.h": SOCKET_H,
        "src/game/WorldSocket.cpp": SOCKET_CPP,
        "src/game/World.h": WORLD_H,
        "src/game/World.cpp": WORLD_CPP,
        "src/game/Mail.cpp": MAIL_CPP,
        **extra,
    }


def _crash(text: str) -> Crash:
    return analyse_crash(parse_report(text.encode()))


def _analyse(git_repo: Git, text: str = DOUBLE_DELETE, **kw: object) -> Analysis:
    return analyse(_crash(text), git_repo, FixSettings(), **kw)  # type: ignore[arg-type]


def _deleting(a: Analysis) -> list[tuple[str, str | None, int]]:
    return [(c.path, c.function, c.line) for c in a.contexts if "deletes a" in c.note]


def _sites(git_repo: Git, text: str = DOUBLE_DELETE) -> list[tuple[str, str | None, int]]:
    """Every other delete site :func:`find` claims, without ranking or the analysis around it."""
    target = destroyed(budget.plan(_crash(text)))
    assert target is not None
    files = git_repo.ls_files()
    found = find(target, Locator(git_repo, files), files, notes=[])
    return [(s.path, s.caller, s.line) for s in sorted(found, key=lambda s: (s.path, s.line))]


def test_the_other_deletes_of_the_destroyed_class_are_found_and_the_one_on_the_stack_is_not(
    git_repo: Git,
) -> None:
    _old_tree(git_repo.repo, **{"src/game/Login.cpp": LOGIN_CPP})
    # `auto* v = new X`, a `X *const` parameter, `delete this` in a member of X, a range-for over a map of
    # pointers, a map's element through a typedef'd iterator, a list's element through an iterator;
    # ~WorldSocket's `delete m_session` is the stack's own
    assert _sites(git_repo) == [
        ("src/game/Login.cpp", "LoginQueue::Reject", 6),
        ("src/game/Login.cpp", "LoginQueue::Drop", 11),
        ("src/game/Login.cpp", "WorldSession::LogoutAndDelete", 16),
        ("src/game/World.cpp", "World::~World", 6),
        ("src/game/World.cpp", "World::AddSession", 13),
        ("src/game/World.cpp", "World::KickQueued", 20),
    ]
    a = _analyse(git_repo)
    assert [c.function for c in a.contexts][:2] == [
        "WorldSession::~WorldSession",
        "WorldSocket::~WorldSocket",
    ]
    assert _deleting(a) == [  # the best three, after the stack's own code
        ("src/game/Login.cpp", "LoginQueue::Reject", 6),
        ("src/game/Login.cpp", "LoginQueue::Drop", 11),
        ("src/game/Login.cpp", "WorldSession::LogoutAndDelete", 16),
    ]
    assert a.contexts[2].note == (
        "deletes a WorldSession (the crash is inside ~WorldSession: deleted twice, or deleted while still in use?)"
    )
    assert (
        "the crash is inside ~WorldSession: a WorldSession is deleted at 6 places in 6 functions the stack "
        "does not show (deleted twice, or while still in use?)" in a.notes
    )


def test_a_recently_changed_delete_site_is_shown_first(git_repo: Git) -> None:
    zone = "void Zone::Evict(WorldSession* s)\n{\n    delete s;\n}\n"
    _old_tree(git_repo.repo, **{"src/game/Zone.cpp": zone})
    commit_files_dated(git_repo.repo, {"src/game/Zone.cpp": zone + "// eviction tuned\n"}, BUILD + 60)
    found = _deleting(_analyse(git_repo))
    # Zone.cpp sorts after World.cpp, and is first by nothing but its recent change
    assert found == [
        ("src/game/Zone.cpp", "Zone::Evict", 3),
        ("src/game/World.cpp", "World::~World", 6),
        ("src/game/World.cpp", "World::AddSession", 13),
    ]
    a = _analyse(git_repo)
    assert a.contexts[2].note.startswith("changed recently; deletes a WorldSession")
    assert not any(c.note.startswith("changed recently") for c in a.contexts[3:])


def test_a_delete_whose_operand_type_cannot_be_told_is_not_claimed(git_repo: Git) -> None:
    # Mail.cpp names WorldSession and deletes an Item*, a void*, an `auto` from a lookup, a call's
    # result and a template's T*; a comment and `= delete` are not deletes
    commit_files_dated(git_repo.repo, _tree(), BUILD)
    assert not any(path == "src/game/Mail.cpp" for path, _, _ in _sites(git_repo))


def test_a_member_declared_in_the_classs_header_is_followed(git_repo: Git) -> None:
    # the crash is in ~WorldSession under World::AddSession: ~WorldSocket's `delete m_session` (a member
    # its header declares) is one of the other places, and AddSession's own delete is the stack's
    stack = DOUBLE_DELETE.replace(
        "WorldSocket::~WorldSocket+39 c:\\srv\\src\\game\\worldsocket.cpp line 5",
        "World::AddSession+39 c:\\srv\\src\\game\\world.cpp line 13",
    )
    commit_files_dated(git_repo.repo, _tree(), BUILD)
    found = _sites(git_repo, stack)
    assert ("src/game/WorldSocket.cpp", "WorldSocket::~WorldSocket", 5) in found
    assert not any(function == "World::AddSession" for _, function, _ in found)


def test_msvcs_scalar_deleting_destructor_names_the_class(git_repo: Git) -> None:
    stack = DOUBLE_DELETE.replace(
        "WorldSession::~WorldSession+78", "WorldSession::`scalar deleting destructor'+14"
    )
    crash = _crash(stack)
    found = destroyed(budget.plan(crash))
    assert found is not None and found.cls == "WorldSession"
    assert found.caller == "WorldSocket::~WorldSocket"


@pytest.mark.parametrize(
    "top",
    [
        "std::vector<Spell *,std::allocator<Spell *> >::~vector<Spell *,std::allocator<Spell *> >+20",
        "std::_List_base<Spell*, std::allocator<Spell*> >::~_List_base+12",
        "boost::asio::basic_socket<tcp>::~basic_socket+8",
    ],
)
def test_a_library_destructor_leads_nowhere(git_repo: Git, top: str) -> None:
    commit_files_dated(git_repo.repo, _tree(), BUILD)
    stack = DOUBLE_DELETE.replace("WorldSession::~WorldSession+78", top)
    stack = stack.replace("WorldSocket::~WorldSocket+39", "World::AddSession+39")
    a = _analyse(git_repo, stack)
    assert destroyed(budget.plan(_crash(stack))) is None
    assert _deleting(a) == []
    assert not any("deleted" in n for n in a.notes)


def test_below_a_library_destructor_the_applications_destructor_is_the_lead() -> None:
    stack = DOUBLE_DELETE.replace(
        "WorldSession::~WorldSession+78", "std::_List_base<Spell*, std::allocator<Spell*> >::~_List_base+12"
    )
    found = destroyed(budget.plan(_crash(stack)))
    assert found is not None and found.cls == "WorldSocket"


def test_a_destructor_deep_in_the_stack_leads_nowhere() -> None:
    stack = DOUBLE_DELETE.replace(
        "0000000140254799 000000001446FE00 WorldSocket::~WorldSocket+39 c:\\srv\\src\\game\\worldsocket.cpp line 5",
        "0000000140254799 000000001446FE00 World::AddSession+39 c:\\srv\\src\\game\\world.cpp line 13\n"
        "0000000140254800 000000001446FE10 World::KickQueued+39 c:\\srv\\src\\game\\world.cpp line 20\n"
        "0000000140254801 000000001446FE20 WorldSocket::~WorldSocket+39 c:\\srv\\src\\game\\worldsocket.cpp line 5",
    ).replace(
        "WorldSession::~WorldSession+78 c:\\srv\\src\\game\\worldsession.cpp line 5",
        "Map::Update+78 c:\\srv\\src\\game\\map.cpp line 5",
    )
    assert destroyed(budget.plan(_crash(stack))) is None


def test_a_class_deleted_in_many_files_costs_bounded_reading_and_says_so(git_repo: Git) -> None:
    files = {
        f"src/game/spells/Handler{i:02}.cpp": (
            f"void Handler{i:02}::Cast(Spell* spell)\n{{\n    spell->prepare();\n    delete spell;\n}}\n"
        )
        for i in range(40)
    }
    files["src/game/Spell.cpp"] = "Spell::~Spell()\n{\n    m_targets.clear();\n}\n"
    commit_files_dated(git_repo.repo, files, BUILD)
    stack = (
        "Exception code: C0000005 ACCESS_VIOLATION\nCall stack:\nAddress Frame Function SourceFile\n"
        "000000014039E740  0000000007A9FAF0  Spell::~Spell+40  j:\\srv\\src\\game\\spell.cpp line 3\n"
    )
    a = _analyse(git_repo, stack, limits=Limits(max_files=4))
    assert len(_deleting(a)) == 3
    assert any(
        n.startswith("40 files name Spell and delete something; searched the 16 likeliest") for n in a.notes
    )
    assert any(n.startswith("16 files may delete a Spell; read the 4 likeliest") for n in a.notes)
    assert any("a Spell is deleted at 4 places in 4 functions" in n for n in a.notes)


def test_hostile_names_and_lines_cost_linear_work_and_never_a_traceback(git_repo: Git) -> None:
    long_line = "    delete " + "m_session->" * 20_000 + "x\n"
    nested = "    WorldSession" + " *" * 20_000 + "\n"
    tree = _tree(**{"src/game/Junk.cpp": "void Junk::Run()\n{\n" + long_line + nested + "}\n"})
    commit_files_dated(git_repo.repo, tree, BUILD)
    hostile = [
        "::".join(["A"] * 30_000) + "::~A+4",
        "WorldSession.*::~WorldSession.*+4",
        "(" * 10_000 + "WorldSession::~WorldSession+4",
        "WorldSession::`scalar deleting destructor" + "'" * 10_000,
        "::".join(["W"] * 30_000) + "::`vector deleting destructor'+4",
    ]
    for name in hostile:
        a = _analyse(git_repo, DOUBLE_DELETE.replace("WorldSession::~WorldSession+78", name))
        assert all("Junk" not in c.path for c in a.contexts)
    a = _analyse(git_repo)
    assert ("src/game/World.cpp", "World::AddSession", 13) in _deleting(a)


def test_the_comment_the_prompt_and_the_json_show_the_delete_sites(
    git_repo: Git, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _old_tree(git_repo.repo)
    a = _analyse(git_repo)
    comment = render_analysis_comment(a)
    assert "<code>World::AddSession</code>" in comment
    assert "deletes a WorldSession (the crash is inside ~WorldSession" in comment
    assert "a WorldSession is deleted at 3 places" in comment
    prompt = build_prompt(a, crash_text=DOUBLE_DELETE, allowed_paths=("src/",), max_changed_lines=40).user
    assert "## src/game/World.cpp — World::AddSession (deletes a WorldSession (the crash is inside" in prompt
    assert "delete old->second;" in prompt
    report = tmp_path / "crash.txt"
    report.write_text(DOUBLE_DELETE, encoding="utf-8")
    code = main(["analyze", str(report), "--source", str(git_repo.repo), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert ("src/game/World.cpp", "World::AddSession") in [
        (c["path"], c["function"]) for c in data["contexts"] if c["note"].startswith("deletes a WorldSession")
    ]
    assert any("a WorldSession is deleted at 3 places" in n for n in data["notes"])


SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"


def _sample_plan(name: str) -> budget.Plan:
    return budget.plan(analyse_crash(parse_report((SAMPLES / name).read_bytes())))


def test_a_real_std_string_destructor_at_the_top_leads_nowhere() -> None:
    # azerothcore#2216: std::basic_string<...>::~basic_string() in libstdc++ under a handler
    assert destroyed(_sample_plan("ac-issue-2216.txt")) is None


def test_a_real_destructor_third_in_the_stack_is_too_deep_to_lead() -> None:
    # a cdb stack: EventDispatcher::UnsubscribeAll <- CombatStateManager::OnShutdown <- ~CombatStateManager;
    # the fault is in what the destructor calls, not in a second delete of it
    plan = _sample_plan("moon-7d14957a32df-20251031-115858-cdb-stacktext.txt")
    assert plan.candidates[2].frame.function == "Playerbot::CombatStateManager::~CombatStateManager"
    assert destroyed(plan) is None
