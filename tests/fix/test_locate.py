"""Finding functions by name: definitions for frames without a path, anchoring, call sites, bounds."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from bot.config import FixSettings
from bot.crash import analyse as analyse_crash
from bot.crash import parse_report
from bot.crash.model import Frame
from bot.fix.analysis import analyse, epoch_of
from bot.fix.blame import commit_time, recent_commits
from bot.fix.budget import Plan, is_machinery, is_trivial, plan
from bot.fix.locate import Limits, Locator, definitions_in_text, rank_callers, sibling_paths, split_name
from bot.git import Git

from .conftest import CommitFn, commit_files_dated

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"

UNIT_H = """\
#pragma once
class Unit : public WorldObject
{
    public:
        Unit* GetVictim() const { return m_victim; }
        bool IsAlive() const
        {
            return m_deathState == ALIVE;
        }
        void Kill(Unit* victim);
        void Kill(Unit* victim, bool durabilityLoss);
};
"""

UNIT_CPP = """\
#include "Unit.h"

void Unit::Kill(Unit* victim)
{
    victim->SetHealth(0);
}

void Unit::Kill(Unit* victim, bool durabilityLoss)
{
    Kill(victim);
}

template <class T>
T* Unit::Find(uint32 id) const
{
    return nullptr;
}
"""

CALLER_CPP = """\
#include "Unit.h"

void Spell::EffectInstakill()
{
    // Kill( in a comment is not a call
    m_caster->Kill(unitTarget);
}
"""


def test_split_name_drops_templates_parameters_and_displacement() -> None:
    assert split_name("Unit::Kill") == (("Unit",), "Kill")
    assert split_name("DBCStorage<MapEntry>::LookupEntry(unsigned int)+0x1f") == (
        ("DBCStorage",),
        "LookupEntry",
    )
    assert split_name("`World::StartBGQueueThread'::`2'::<lambda_1>::operator()") is None
    assert split_name("0x00007ff6") is None


def test_definitions_are_found_out_of_line_inline_in_a_class_body_and_as_templates() -> None:
    assert [d[:2] for d in definitions_in_text(UNIT_CPP, "Unit::Kill")] == [(3, 6), (8, 11)]  # overloads
    assert [d[:2] for d in definitions_in_text(UNIT_H, "Unit::IsAlive")] == [(6, 9)]
    assert [d[:2] for d in definitions_in_text(UNIT_H, "Unit::GetVictim")] == [(5, 5)]
    assert [d[:2] for d in definitions_in_text(UNIT_CPP, "Unit::Find")] == [(13, 17)]
    assert definitions_in_text(UNIT_H, "Unit::Kill") == []  # declarations are not definitions
    assert definitions_in_text(UNIT_CPP, "Player::Kill") == []  # another class's Kill is not this one


def test_locator_maps_a_name_to_its_definition_and_says_when_it_is_ambiguous(
    git_repo: Git, commit: CommitFn
) -> None:
    commit({"src/game/Unit.h": UNIT_H, "src/game/Unit.cpp": UNIT_CPP, "src/game/Spell.cpp": CALLER_CPP})
    locator = Locator(git_repo, git_repo.ls_files())
    found = locator.define("Unit::Kill")
    assert [(d.path, d.start) for d in found.found] == [("src/game/Unit.cpp", 3), ("src/game/Unit.cpp", 8)]
    assert [(d.path, d.start) for d in locator.define("IsAlive").found] == [("src/game/Unit.h", 6)]
    assert locator.define("Nowhere::ToBeFound").found == ()


def test_call_sites_skip_comments_declarations_and_the_definition_itself(
    git_repo: Git, commit: CommitFn
) -> None:
    commit({"src/game/Unit.h": UNIT_H, "src/game/Unit.cpp": UNIT_CPP, "src/game/Spell.cpp": CALLER_CPP})
    locator = Locator(git_repo, git_repo.ls_files())
    sites, notes = locator.callers("Unit::Kill")
    assert [(s.path, s.line, s.caller) for s in sites] == [
        ("src/game/Spell.cpp", 6, "Spell::EffectInstakill")
    ]
    assert notes == []


def test_callers_rank_recently_changed_first_then_the_stacks_subsystem(
    git_repo: Git, commit: CommitFn
) -> None:
    commit({"src/game/Unit.h": UNIT_H, "src/game/Unit.cpp": UNIT_CPP, "src/game/Spell.cpp": CALLER_CPP})
    far = CALLER_CPP.replace("Spell::EffectInstakill", "Battleground::EndNow")
    near = CALLER_CPP.replace("Spell::EffectInstakill", "CreatureAI::DoKill")
    commit({"src/game/BattleGround/BattleGround.cpp": far, "src/game/AI/CreatureAI.cpp": near})
    sites, _ = Locator(git_repo, git_repo.ls_files()).callers("Unit::Kill")
    ranked = rank_callers(
        sites, recent={"src/game/BattleGround/BattleGround.cpp"}, stack_paths=["src/game/AI/x.cpp"]
    )
    assert [s.caller for s in ranked] == [
        "Battleground::EndNow",
        "CreatureAI::DoKill",
        "Spell::EffectInstakill",
    ]


def test_a_name_in_500_files_costs_bounded_work_and_says_so(git_repo: Git, commit: CommitFn) -> None:
    files = {f"src/gen/File{i}.cpp": f"void Helper{i}() {{ GetMap(); }}\n" for i in range(500)}
    files["src/game/Object.cpp"] = "Map* WorldObject::GetMap() const\n{\n    return m_map;\n}\n"
    files["src/blob.cpp"] = "\0binary GetMap("  # binary files are never read
    commit(files)
    locator = Locator(git_repo, git_repo.ls_files(), limits=Limits(max_files=20))
    found = locator.define("WorldObject::GetMap")
    assert [d.path for d in found.found] == ["src/game/Object.cpp"]  # named after its class: read first
    assert any("'GetMap' appears in 501 files; read the 20 likeliest" in n for n in found.notes)
    sites, notes = locator.callers("WorldObject::GetMap")
    assert len(sites) <= 20
    assert "'GetMap' is called from 501 files; read the 20 nearest the stack" in notes


def test_siblings_come_from_a_real_trees_file_list() -> None:
    files = (FIXTURES / "mangos-classic-2016-subset.txt").read_text(encoding="utf-8").split()
    assert sibling_paths("src/game/WorldSession.cpp", files)[0] == "src/game/WorldSession.h"
    assert sibling_paths("src/game/Object.h", files)[0] == "src/game/Object.cpp"


def test_frame_rules_skip_machinery_and_fold_accessors() -> None:
    assert is_machinery(Frame(function="WheatyExceptionReport::printTracesForAllThreads"))
    assert is_machinery(Frame(function="KiUserExceptionDispatcher"))
    assert is_trivial(Frame(function="Object::GetUInt32Value", file="src/game/Object.h", line=200))
    assert is_trivial(Frame(function="WorldSession::GetPlayer", file="WorldSession.h", line=9))
    assert is_trivial(
        Frame(function="Unit::GetSpellModOwner", file="src/game/Unit.h", line=9)
    )  # header getter
    assert not is_trivial(Frame(function="Unit::GetSpellModOwner", file="src/game/Unit.cpp", line=9))
    assert not is_trivial(Frame(function="Unit::DealDamage", file="src/game/Unit.h", line=9))


def _commit_at(repo: Path, name: str, when: int, message: str) -> str:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(f"// {message}\n", encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True, env=env)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_recent_commits_are_the_stacks_files_changes_shortly_before_the_crash(git_repo: Git) -> None:
    day = 86_400
    repo = git_repo.repo
    _commit_at(repo, "src/Unit.cpp", 1_700_000_000 - 60 * day, "old change")
    culprit = _commit_at(repo, "src/Unit.cpp", 1_700_000_000 - 2 * day, "recent change")
    _commit_at(repo, "src/Other.cpp", 1_700_000_000 - day, "elsewhere")
    crash_build = _commit_at(repo, "README", 1_700_000_000, "the crashing build")
    _commit_at(repo, "src/Unit.cpp", 1_700_000_000 + day, "after the crash")
    until = commit_time(git_repo, crash_build)
    assert until == 1_700_000_000
    recent = recent_commits(git_repo, ["src/Unit.cpp"], until=until, rev=crash_build)
    assert [c.sha for c in recent] == [culprit]
    assert recent_commits(git_repo, ["no/such/file.cpp"], until=until) == []
    assert commit_time(git_repo, "0" * 40) is None


SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"


def _plan(name: str) -> Plan:
    return plan(analyse_crash(parse_report((SAMPLES / name).read_bytes())))


def test_crash_handler_frames_never_take_a_slot_on_a_real_wheaty_stack() -> None:
    # cmangos-issue-946: eleven handler/OS frames above the fault
    p = _plan("cmangos-issue-946.txt")
    assert p.candidates[0].frame.function == "CreatureAI::SendAIEventAround"
    assert not any("Wheaty" in (c.frame.function or "") for c in p.candidates)


def test_accessors_are_folded_into_their_caller_on_a_real_gdb_stack() -> None:
    # mod-playerbots-issue-2618: Object::GetGuidValue <- Object::GetGUID (Object.h) <- GetPlayerbotAI
    p = _plan("mod-playerbots-issue-2618.txt")
    first = p.candidates[0]
    assert first.frame.function is not None and first.frame.function.startswith(
        "PlayerbotsMgr::GetPlayerbotAI"
    )
    assert first.folded == ("Object::GetGuidValue", "Object::GetGUID")
    assert p.accessor == "Object::GetGUID"
    assert any("trivial accessor" in s for s in p.skipped)


def test_first_seen_times_from_the_payload_become_epoch_seconds_and_junk_becomes_none() -> None:
    assert epoch_of("2023-11-14T22:13:20Z") == 1_700_000_000
    assert epoch_of("2023-11-14T22:13:20") == 1_700_000_000  # no zone: UTC, as the payload writes it
    assert epoch_of("") is None
    assert epoch_of("yesterday") is None


# cmangos/issues#1082: an assertion-only console line, no stack. The files are the real mangos-wotlk paths
# of getObjectHitPos's definition and its callers at the fix's parent (2c933db775); the code is written here.
VMAP_TREE = """\
namespace VMAP
{
    bool StaticMapTree::getObjectHitPos(const Vector3& from, const Vector3& to, Vector3& hit, float dist) const
    {
        float maxDist = (to - from).magnitude();
        MANGOS_ASSERT(maxDist < std::numeric_limits<float>::max());
        return false;
    }
}
"""
VMAP_MANAGER = """\
namespace VMAP
{
    bool VMapManager2::getObjectHitPos(unsigned int mapId, const Vector3& a, const Vector3& b, Vector3& hit)
    {
        InstanceTreeMap::const_iterator tree = iInstanceMapTrees.find(mapId);
        return tree != iInstanceMapTrees.end() && tree->second->getObjectHitPos(a, b, hit, 0.0f);
    }
}
"""
DYNAMIC_TREE = """\
bool DynamicMapTree::getObjectHitPos(uint32 phasemask, float x1, float y1, float z1, float x2, float y2, float z2)
{
    Vector3 hit;
    return getObjectHitPos(phasemask, Vector3(x1, y1, z1), Vector3(x2, y2, z2), hit, 0.0f);
}
"""
GAME_MAP = """\
bool Map::GetHitPosition(float srcX, float srcY, float srcZ, float& destX, float& destY, float& destZ) const
{
    bool first = VMAP::VMapFactory::createOrGetVMapManager()->getObjectHitPos(GetId(), srcX, srcY, srcZ);
    bool second = m_dyn_tree.getObjectHitPos(0, srcX, srcY, srcZ, destX, destY, destZ);
    return first || second;
}
"""


def test_a_real_assertion_only_report_shows_its_callers_recent_first_then_its_subsystem(
    git_repo: Git,
) -> None:
    day, build = 86_400, 1_700_000_000
    tree = {
        "src/game/vmap/MapTree.cpp": VMAP_TREE,
        "src/game/vmap/VMapManager2.cpp": VMAP_MANAGER,
        "src/game/vmap/DynamicTree.cpp": DYNAMIC_TREE,
        "src/game/Map.cpp": GAME_MAP,
    }
    commit_files_dated(git_repo.repo, tree, build - 400 * day)
    commit_files_dated(
        git_repo.repo, {"src/game/vmap/VMapManager2.cpp": VMAP_MANAGER + "// tuned\n"}, build - 3 * day
    )
    commit_files_dated(git_repo.repo, {"README": "build\n"}, build)
    crash = analyse_crash(parse_report((SAMPLES / "cmangos-issue-1082.txt").read_bytes()))
    analysis = analyse(crash, git_repo, FixSettings())
    assert analysis.callee == "VMAP::StaticMapTree::getObjectHitPos"
    # changed in the last 90 days first; then the assertion's own subsystem (vmap/) before Map.cpp,
    # although "src/game/Map.cpp" sorts before "src/game/vmap/..." by path
    assert [(c.path, c.function) for c in analysis.callers] == [
        ("src/game/vmap/VMapManager2.cpp", "VMapManager2::getObjectHitPos"),
        ("src/game/vmap/DynamicTree.cpp", "DynamicMapTree::getObjectHitPos"),
        ("src/game/Map.cpp", "Map::GetHitPosition"),
    ]
    assert analysis.callers[0].note.startswith("changed recently")
    assert "VMAP::StaticMapTree::getObjectHitPos is called from 3 functions the stack does not show" in (
        analysis.notes
    )


STOP_LOCATION = (  # the shape of cmangos/issues#2136: gdb's stop location alone, no bt after it
    'Thread 10 "mangosd" received signal SIGSEGV, Segmentation fault.\n'
    "0x00005555561f20a6 in Unit::CombatStop (this=0x7fffc0000080, includingCast=true)\n"
    "    at /home/gameadm/source/mangosbc/src/game/Entities/Unit.cpp:3\n"
)
COMBAT_STOP = "void Unit::CombatStop(bool includingCast)\n{\n    AttackStop(includingCast);\n}\n"


def test_a_report_showing_one_function_shows_its_callers(git_repo: Git, commit: CommitFn) -> None:
    # a stop location (or an excerpt cut after frame #0) shows nobody who called: whoever did may hold the bug
    evade = "void PlayerAI::EnterEvadeMode()\n{\n    m_player->CombatStop(true);\n}\n"
    commit({"src/game/Entities/Unit.cpp": COMBAT_STOP, "src/game/AI/PlayerAI.cpp": evade})
    crash = analyse_crash(parse_report(STOP_LOCATION.encode()))
    analysis = analyse(crash, git_repo, FixSettings())
    assert analysis.callee == "Unit::CombatStop"
    assert [(c.path, c.function) for c in analysis.callers] == [
        ("src/game/AI/PlayerAI.cpp", "PlayerAI::EnterEvadeMode")
    ]


def test_a_report_showing_the_caller_searches_no_callers(git_repo: Git, commit: CommitFn) -> None:
    evade = "void PlayerAI::EnterEvadeMode()\n{\n    m_player->CombatStop(true);\n}\n"
    commit({"src/game/Entities/Unit.cpp": COMBAT_STOP, "src/game/AI/PlayerAI.cpp": evade})
    two = STOP_LOCATION.replace("0x00005555561f20a6 in ", "#0  0x00005555561f20a6 in ") + (
        "#1  0x0000555556000000 in PlayerAI::EnterEvadeMode (this=0x1) at /src/game/AI/PlayerAI.cpp:3\n"
    )
    crash = analyse_crash(parse_report(two.encode()))
    assert len(crash.frames) == 2
    analysis = analyse(crash, git_repo, FixSettings())
    assert analysis.callee is None and analysis.callers == ()


def test_nearest_symbol_names_of_a_build_without_its_pdb_are_marked_as_guesses() -> None:
    # vmangos/core#273: HandleRunTestCommand()+0xdd81 under an assertion; the names are guesses, so the
    # assertion's callers are searched, and the guessed frames take slots only after the assertion
    p = _plan("vmangos-issue-273.txt")
    assert len(p.guessed) == 17
    assert p.candidates[0].index is None  # the assertion's own location
    assert p.candidates[0].frame.function == "SpellAuraHolder::SpellAuraHolder"
    # a Linux backtrace of the same shape with small displacements keeps its names (vmangos/core#2359)
    assert _plan("vmangos-issue-2359.txt").guessed == frozenset()
    # a stack with source lines is never guessed, whatever its displacements (cmangos/issues#946)
    assert _plan("cmangos-issue-946.txt").guessed == frozenset()


def test_the_accessor_a_real_crash_happened_in_is_shown_after_its_caller(
    git_repo: Git, commit: CommitFn
) -> None:
    # cmangos/issues#948: the fault is in WorldObject::IsInMap (object.h:541), a one-line getter; the fix
    # (3af38d5d2) added a null check inside it. The caller takes the first slot, the getter follows.
    p = _plan("cmangos-issue-948.txt")
    assert p.candidates[0].frame.function == "WorldObject::IsWithinLOSInMap"
    assert p.crashed_in is not None and p.crashed_in.frame.function == "WorldObject::IsInMap"
    header = (
        "class WorldObject : public Object\n{\n    public:\n"
        + "\n" * 530
        + (
            "        bool IsInMap(const WorldObject* obj) const\n"
            "        {\n"
            "            return IsInWorld() && obj->IsInWorld() && GetMap() == obj->GetMap();\n"
            "        }\n"
            "};\n"
        )
    )
    source = "\n" * 1160 + (
        "bool WorldObject::IsWithinLOSInMap(const WorldObject* obj) const\n"
        "{\n"
        "    if (!IsInMap(obj))\n"
        "        return false;\n"
        "    return true;\n"
        "}\n"
    )
    commit({"src/game/Object.h": header, "src/game/Object.cpp": source})
    crash = analyse_crash(parse_report((SAMPLES / "cmangos-issue-948.txt").read_bytes()))
    analysis = analyse(crash, git_repo, FixSettings(analysis_frames=1))
    assert [(c.path, c.function) for c in analysis.contexts] == [
        ("src/game/Object.cpp", "WorldObject::IsWithinLOSInMap"),
        ("src/game/Object.h", "IsInMap"),
    ]
    assert analysis.frames[-1].how.endswith("the crash happened in this accessor")


def test_the_accessor_a_crash_happened_in_is_found_by_name_when_the_report_has_no_paths(
    git_repo: Git, commit: CommitFn
) -> None:
    # cmangos/issues#948 as a release build without line information prints it (no source column): the
    # getter is still what the crash happened in, so its definition is found by name and shown after its
    # caller, as when the report names object.h
    text = (SAMPLES / "cmangos-issue-948.txt").read_text(encoding="utf-8")
    stripped = re.sub(r"\s+[A-Za-z]:\\\S+ line \d+", "", text)
    assert "object.h" not in stripped and "WorldObject::IsInMap+2F" in stripped
    header = "class WorldObject\n{\n    public:\n        bool IsInMap(const WorldObject* obj) const\n" + (
        "        {\n            return IsInWorld() && GetMap() == obj->GetMap();\n        }\n};\n"
    )
    source = (
        "bool WorldObject::IsWithinLOSInMap(const WorldObject* obj) const\n{\n    return IsInMap(obj);\n}\n"
    )
    commit({"src/game/Object.h": header, "src/game/Object.cpp": source})
    crash = analyse_crash(parse_report(stripped.encode()))
    assert plan(crash).crashed_in is not None
    analysis = analyse(crash, git_repo, FixSettings(analysis_frames=1))
    assert [(c.path, c.function) for c in analysis.contexts] == [
        ("src/game/Object.cpp", "WorldObject::IsWithinLOSInMap"),
        ("src/game/Object.h", "IsInMap"),
    ]
    assert analysis.frames[-1].how == "definition found by name; the crash happened in this accessor"


def test_a_frame_whose_line_is_an_inlined_callees_shows_the_function_it_names(
    git_repo: Git, commit: CommitFn
) -> None:
    # cmangos/issues#3908: "Pet::Unsummon (...) at Object.h:412" -- line 412 is GetTypeId, inlined; neither
    # Object.h nor Object.cpp defines Pet::Unsummon, Pet.cpp does (and the fix changed it)
    object_h = (
        "class Object\n{\n    public:\n"
        + "\n" * 405
        + ("        uint8 GetTypeId() const { return m_objectTypeId; }\n        uint8 m_objectTypeId;\n};\n")
    )
    pet_cpp = (
        "void Pet::Unsummon(PetSaveMode mode, Unit* owner, bool removeList)\n"
        "{\n"
        "    if (owner->GetTypeId() == TYPEID_PLAYER)\n"
        "        SavePetToDB(mode);\n"
        "}\n"
    )
    commit({"src/game/Entities/Object.h": object_h, "src/game/Entities/Object.cpp": "// objects\n"})
    commit({"src/game/Entities/Pet.cpp": pet_cpp})
    crash = analyse_crash(parse_report((SAMPLES / "cmangos-issue-3908.txt").read_bytes()))
    analysis = analyse(crash, git_repo, FixSettings(analysis_frames=1))
    first = analysis.contexts[0]
    assert (first.path, first.function) == ("src/game/Entities/Pet.cpp", "Pet::Unsummon")
    assert "showing Pet::Unsummon found by name in src/game/Entities/Pet.cpp" in first.note


def test_frames_left_when_the_search_time_is_spent_share_one_note(git_repo: Git, commit: CommitFn) -> None:
    """Regression: each frame mapped by name after the search time was spent added its own "not searched"
    note: a report of 10,000 unknown names put 9,700 notes into the prompt and the issue comment."""
    commit({"src/game/Unit.cpp": COMBAT_STOP})
    frames = "".join(f"#{i}  0x{i:016x} in Unknown{i}::Run () from libx\n" for i in range(2000))
    crash = analyse_crash(
        parse_report(f"Program received signal SIGSEGV, Segmentation fault.\n{frames}".encode())
    )
    analysis = analyse(crash, git_repo, FixSettings(), limits=Limits(total_s=0.0))
    spent = [n for n in analysis.notes if "search time" in n]
    assert spent == ["search time (0 s) spent; stopped reading definitions of the frames by name"]
    assert len(analysis.unmapped) == 2000
    assert all(u.reason.endswith("not searched: search time spent") for u in analysis.unmapped)
