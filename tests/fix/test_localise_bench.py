"""Specification of how bench/localise.py scores the analysis: the README's localisation figures are only as
true as the fix's files and functions it computes from git and the hits it counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.localise import BASELINES, Score, _baselines, _score, _table, strip_paths, truth
from bot.git import Git

from .conftest import CommitFn

UNIT_BEFORE = (
    "void Unit::Kill(Unit* victim)\n{\n    victim->SetHealth(0);\n}\n\n"
    "void Unit::DealDamage(Unit* victim, int damage)\n{\n    if (damage > 0)\n        Kill(victim);\n}\n"
)
HEADER_BEFORE = (
    "class Unit\n{\n  public:\n    bool IsAlive() const { return m_alive; }\n    bool m_alive;\n};\n"
)


def _fixed(git_repo: Git, commit: CommitFn) -> dict[str, Any]:
    commit({"src/Unit.cpp": UNIT_BEFORE, "src/Unit.h": HEADER_BEFORE, "sql/en.sql": "-- text\n"})
    fix = commit(
        {
            "src/Unit.cpp": UNIT_BEFORE.replace(
                "victim->SetHealth(0);", "if (victim)\n        victim->SetHealth(0);"
            ),
            "src/Unit.h": HEADER_BEFORE.replace("return m_alive;", "return m_alive && this;"),
            "sql/en.sql": "-- other text\n",
        }
    )
    return truth(git_repo, fix)


def test_truth_is_the_fix_s_parent_and_every_file_and_function_its_diff_touches(
    git_repo: Git, commit: CommitFn
) -> None:
    found = _fixed(git_repo, commit)
    assert found["parent"] == git_repo.run("rev-parse", f"{found['fix_commit']}^").strip()
    assert sorted(found["fixed_files"]) == ["sql/en.sql", "src/Unit.cpp", "src/Unit.h"]
    # a method defined in its class body is named with its class; the SQL file has no functions
    assert found["fixed_functions"] == ["Unit::IsAlive", "Unit::Kill"]


def test_a_changed_signature_counts_as_a_change_to_its_function(git_repo: Git, commit: CommitFn) -> None:
    commit({"src/Unit.cpp": UNIT_BEFORE})
    fix = commit({"src/Unit.cpp": UNIT_BEFORE.replace("int damage)", "unsigned damage)")})
    assert truth(git_repo, fix)["fixed_functions"] == ["Unit::DealDamage"]


def _analysis(
    contexts: Sequence[tuple[str, str]],
    *,
    frames: Sequence[str] = (),
    callers: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    return {
        "frames": [{"path": p} for p in frames],
        "contexts": [{"path": p, "function": f} for p, f in contexts],
        "callers": {"sites": [{"path": p, "function": f} for p, f in callers]},
    }


FIXED_FILES = {"src/Unit.cpp"}
FIXED_FUNCTIONS = ["Unit::Kill"]


def test_file_at_1_is_the_first_code_shown_and_a_mapped_frame_counts_for_file_at_any() -> None:
    first = _analysis([("src/Unit.cpp", "Unit::DealDamage"), ("src/Spell.cpp", "Spell::Cast")])
    assert _score(first, FIXED_FILES, FIXED_FUNCTIONS) == Score(file1=True, file_any=True, function_any=False)
    framed = _analysis([("src/Spell.cpp", "Spell::Cast")], frames=["src/Unit.cpp"])
    assert _score(framed, FIXED_FILES, FIXED_FUNCTIONS) == Score(
        file1=False, file_any=True, function_any=False
    )


def test_a_caller_shown_counts_for_function_at_any_and_an_unqualified_name_only_in_its_own_file() -> None:
    caller = _analysis([("src/Spell.cpp", "Spell::Cast")], callers=[("src/Unit.cpp", "Unit::Kill")])
    assert _score(caller, FIXED_FILES, FIXED_FUNCTIONS).function_any
    # "Kill" shown inside a class body elsewhere is another class's Kill
    elsewhere = _analysis([("src/Pet.h", "Kill")])
    assert not _score(elsewhere, FIXED_FILES, FIXED_FUNCTIONS).function_any
    assert _score(_analysis([("src/Unit.cpp", "Kill")]), FIXED_FILES, FIXED_FUNCTIONS).function_any


def test_an_analysis_that_failed_scores_nothing() -> None:
    failed = {"error": "not a crash report", "frames": [], "contexts": [], "callers": {"sites": []}}
    assert _score(failed, FIXED_FILES, FIXED_FUNCTIONS) == Score(False, False, False)


GDB = (
    "#0  0x0000555555 in Unit::Kill (this=0x0, victim=0x0) at /build/src/Unit.cpp:3\n"
    "#1  0x0000555556 in Spell::Cast (this=0x1) at /build/src/Spell.cpp:10\n"
)


def test_the_baselines_find_files_by_name_and_read_the_functions_the_report_names() -> None:
    files = ["src/Unit.cpp", "src/Spell.cpp", "src/Unit.h"]
    top, every = (_baselines(GDB.encode(), files, {"src/Spell.cpp"}, ["Spell::Cast"])[n] for n in BASELINES)
    assert top == Score(file1=False, file_any=False, function_any=False)  # the top frame's file is Unit.cpp
    assert every == Score(file1=False, file_any=True, function_any=True)
    assert _baselines(b"\x00\x01 not a report", files, {"src/Unit.cpp"}, ["Unit::Kill"]) == {
        n: Score(False, False, False) for n in BASELINES
    }


def test_stripping_paths_leaves_the_functions_as_a_release_build_prints_them() -> None:
    stripped = strip_paths(GDB)
    assert "/build/src" not in stripped
    assert "Unit::Kill (this=0x0, victim=0x0)" in stripped


def test_the_table_counts_and_rounds_each_column() -> None:
    rows = {"m": [Score(True, True, False), Score(False, True, True), Score(False, False, False)]}
    assert _table(rows).splitlines()[-1] == "| m | 1/3 (33 %) | 2/3 (67 %) | 1/3 (33 %) |"
