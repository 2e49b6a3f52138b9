"""``crashbot analyze``: the JSON contract the localisation benchmark reads, and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.cli import main
from bot.git import Git

from .conftest import CommitFn

ACTION_CPP = """\
#include "Action.h"

bool DropTargetAction::Execute(Event event)
{
    Unit* target = context->GetValue<Unit*>("current target")->Get();
    if (bot->GetCurrentSpell(CURRENT_AUTOREPEAT_SPELL)->m_spellInfo->Id == 75)
        return false;
    return true;
}
"""

# A gdb report whose frame names a path, and a Wheaty stack whose frame names only a function.
GDB = """\
Thread 9 "worldserver" received signal SIGSEGV, Segmentation fault.
#0  DropTargetAction::Execute (this=0x7ffefbee7040, event=...) at /azerothcore/modules/mod-playerbots/src/strategy/actions/ChooseTargetActions.cpp:6
#1  0x0000555555e9b9b5 in WheatyExceptionReport::printTracesForAllThreads (this=0x1) at /x/WheatyExceptionReport.cpp:10
"""
NO_PATH = """\
Exception code: C0000005 ACCESS_VIOLATION
Call stack:
Address   Frame     Function      SourceFile
00007FF6B7526D6E  000000BFE02FEA30  DropTargetAction::Execute+2DE
00007FF6B7286862  000000BFE02FECE0  Engine::ListenAndExecute+B2
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_names_mapped_frames_contexts_and_notes(
    git_repo: Git, commit: CommitFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit({"src/strategy/actions/ChooseTargetActions.cpp": ACTION_CPP})
    report = tmp_path / "crash.txt"
    report.write_text(GDB, encoding="utf-8")
    code, out, _ = _run(capsys, "analyze", str(report), "--source", str(git_repo.repo), "--json")
    assert code == 0
    data = json.loads(out)
    assert [(f["path"], f["line"], f["function"]) for f in data["frames"]] == [
        ("src/strategy/actions/ChooseTargetActions.cpp", 6, "DropTargetAction::Execute")
    ]  # the crash handler's frame took no slot
    assert [(c["path"], c["function"], c["start"], c["end"]) for c in data["contexts"]] == [
        ("src/strategy/actions/ChooseTargetActions.cpp", "DropTargetAction::Execute", 3, 9)
    ]
    assert data["suspects"] and all(len(s["sha"]) == 40 for s in data["suspects"])
    assert any("no source revision" in n for n in data["notes"])


def test_a_frame_without_a_path_is_mapped_by_its_definition(
    git_repo: Git, commit: CommitFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit({"src/strategy/actions/ChooseTargetActions.cpp": ACTION_CPP})
    report = tmp_path / "crash.txt"
    report.write_text(NO_PATH, encoding="utf-8")
    code, out, _ = _run(capsys, "analyze", str(report), "--source", str(git_repo.repo), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["frames"][0]["path"] == "src/strategy/actions/ChooseTargetActions.cpp"
    assert data["frames"][0]["how"] == "definition found by name"
    assert data["contexts"][0]["function"] == "DropTargetAction::Execute"
    assert [u["function"] for u in data["unmapped"]] == ["Engine::ListenAndExecute"]


def test_paths_that_match_nothing_give_notes_not_a_traceback(
    git_repo: Git, commit: CommitFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit({"README": "nothing here\n"})
    report = tmp_path / "crash.txt"
    report.write_text(GDB, encoding="utf-8")
    code, out, err = _run(capsys, "analyze", str(report), "--source", str(git_repo.repo))
    assert code == 0 and "Traceback" not in err
    assert "no frame of the crashing thread maps to a file in this checkout" in out


def test_a_source_that_is_not_a_checkout_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "crash.txt"
    report.write_text(GDB, encoding="utf-8")
    code, _, err = _run(capsys, "analyze", str(report), "--source", str(tmp_path / "missing"))
    assert code == 2
    assert err.count("\n") == 1 and "not a git checkout" in err


OBJECT_H = """\
class WorldObject
{
    public:
        Map* GetMap() const
        {
            ASSERT(m_currMap);
            return m_currMap;
        }
};
"""
SPELL_CPP = """\
void Spell::EffectSummon()
{
    Map* map = m_caster->GetMap();
}
"""
AURA_CPP = """\
void Aura::Update()
{
    if (GetOwner()->GetMap())
        return;
}
"""
ASSERT_ONLY = """\
/home/tc/src/server/game/Entities/Object/Object.h:6 in GetMap ASSERTION FAILED:
  m_currMap
Segmentation fault
"""


def test_an_assertion_only_report_shows_callers_recently_changed_first(
    git_repo: Git, commit: CommitFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(
        {
            "src/server/game/Entities/Object/Object.h": OBJECT_H,
            "src/server/game/Spells/Spell.cpp": SPELL_CPP,
            "src/server/game/Spells/Auras/Aura.cpp": AURA_CPP,
        },
        when=1_600_000_000,
    )
    commit({"src/server/game/Spells/Auras/Aura.cpp": AURA_CPP + "\n"}, "touch the aura", when=1_700_000_000)
    report = tmp_path / "crash.txt"
    report.write_text(ASSERT_ONLY, encoding="utf-8")
    code, out, _ = _run(capsys, "analyze", str(report), "--source", str(git_repo.repo), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["contexts"][0]["function"] == "GetMap"
    assert data["callers"]["of"] == "GetMap"
    assert [(c["path"], c["function"]) for c in data["callers"]["sites"]] == [
        ("src/server/game/Spells/Auras/Aura.cpp", "Aura::Update"),  # changed recently
        ("src/server/game/Spells/Spell.cpp", "Spell::EffectSummon"),
    ]


def test_a_shallow_checkout_without_history_still_analyses(
    git_repo: Git,
    commit: CommitFn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1600000000 +0000")
    commit({"src/strategy/actions/ChooseTargetActions.cpp": ACTION_CPP}, when=1_600_000_000)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1700000000 +0000")
    commit({"src/strategy/actions/ChooseTargetActions.cpp": ACTION_CPP + "\n"}, "later", when=1_700_000_000)
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{git_repo.repo}", str(shallow)],
        check=True,
        capture_output=True,
    )
    report = tmp_path / "crash.txt"
    report.write_text(GDB, encoding="utf-8")
    argv = ["analyze", str(report), "--source", str(shallow), "--json", "--first-seen", "2023-11-20"]
    code, out, err = _run(capsys, *argv)
    assert code == 0 and "Traceback" not in err
    data = json.loads(out)
    assert data["contexts"][0]["function"] == "DropTargetAction::Execute"
    assert len(data["recent"]) == 1  # only the one commit the shallow clone has
