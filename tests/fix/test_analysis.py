"""bot.fix.analysis + bot.fix.blame: a crash analysed against a real repository with history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config import FixSettings
from bot.crash.model import (
    Assertion,
    Build,
    Crash,
    CrashReport,
    ExceptionInfo,
    Format,
    Frame,
    Signature,
    Thread,
    TopFrame,
)
from bot.fix.analysis import PreviousAttempt, analyse, render_analysis_comment
from bot.fix.blame import suspects
from bot.git import BlameLine, Git
from bot.vocabulary import ANALYSIS
from tests.fix.conftest import CommitFn

UNIT = "src/server/game/Entities/Unit/Unit.cpp"


def _unit_source(kill_body: str, *, header: str = "") -> str:
    return (
        header + '#include "Unit.h"\n'  # 1
        "\n"  # 2
        "void Unit::Kill(Unit* victim)\n"  # 3
        "{\n"  # 4
        "    uint32 health = 0;\n"  # 5
        f"{kill_body}"  # 6
        "    victim->SetHealth(health);\n"  # 7
        "}\n"  # 8
    )


def _crash(
    revision: str | None, *, frames: tuple[Frame, ...] | None = None, assertion: Assertion | None = None
) -> Crash:
    frames = frames or (
        Frame(
            function="Unit::Kill",
            module="worldserver.exe",
            file=r"E:\azerothcore-wotlk\src\server\game\Entities\Unit\Unit.cpp",
            line=7,
        ),
        Frame(
            function="Player::Update",
            module="worldserver.exe",
            file=r"E:\azerothcore-wotlk\src\server\game\Entities\Player\Player.cpp",
            line=3,
        ),
        Frame(
            function="boost::asio::detail::executor_op::do_complete",
            file=r"C:\libs\boost\asio\detail\executor_op.h",
            line=70,
        ),
    )
    report = CrashReport(
        format=Format.WHEATY,
        threads=(Thread(frames=frames),),
        exception=ExceptionInfo(code="C0000005", name="ACCESS_VIOLATION"),
        assertion=assertion,
        build=Build(revision=revision),
    )
    return Crash(
        report=report,
        thread_index=0,
        frames=frames,
        meaningful=(0, 1),
        top_frame=TopFrame(frames[0].function, frames[0].file, frames[0].line),
        signature=Signature(
            text="ACCESS_VIOLATION | Unit::Kill | Player::Update",
            id="a1b2c3d4e5f6",
            full_id="f" * 16,
            version=1,
        ),
    )


@pytest.fixture
def history(git_repo: Git, commit: CommitFn) -> dict[str, str]:
    shas = {}
    shas["first"] = commit(
        {
            UNIT: _unit_source(""),
            "src/server/game/Entities/Player/Player.cpp": "void Player::Update()\n{\n    Kill(nullptr);\n}\n",
        },
        "Add Unit::Kill",
        when=1_700_000_000,
    )
    shas["bug"] = commit(
        {UNIT: _unit_source("    health = victim->GetHealth() / 2;\n")},
        "Halve health on kill",
        author="Dev Two <dev2@example.invalid>",
        when=1_700_500_000,
    )
    shas["shift"] = commit(
        {
            UNIT: _unit_source(
                "    health = victim->GetHealth() / 2;\n", header="// header line 1\n// header line 2\n"
            )
        },
        "Add a header comment",
        when=1_700_900_000,
    )
    return shas


def test_analyse_maps_frames_follows_line_drift_and_blames(git_repo: Git, history: dict[str, str]) -> None:
    analysis = analyse(_crash(history["bug"][:12]), git_repo, FixSettings())
    assert analysis.crash_commit == history["bug"]
    assert analysis.head == history["shift"]
    top = analysis.top
    assert top is not None
    assert (top.path, top.line, top.head_line, top.function) == (UNIT, 7, 9, "Unit::Kill")
    assert [f.path for f in analysis.frames] == [UNIT, "src/server/game/Entities/Player/Player.cpp"]
    assert len(analysis.unmapped) == 1 and "executor_op.h" in analysis.unmapped[0].reason
    assert analysis.contexts[0].function == "Unit::Kill"
    assert "9 >     victim->SetHealth(health);" in analysis.contexts[0].text
    assert analysis.suspects[0].sha == history["bug"]  # newest first
    assert analysis.suspects[0].author == "Dev Two"
    assert {s.sha for s in analysis.suspects} == {history["bug"], history["first"]}
    assert not analysis.perhaps_fixed


def test_analyse_change_near_faulting_line_since_crash_is_perhaps_fixed(
    git_repo: Git, history: dict[str, str], commit: CommitFn
) -> None:
    fix = commit(
        {
            UNIT: _unit_source(
                "    if (!victim)\n        return;\n    health = victim->GetHealth() / 2;\n",
                header="// header line 1\n// header line 2\n",
            )
        },
        "Guard null victim",
        when=1_701_000_000,
    )
    analysis = analyse(_crash(history["bug"]), git_repo, FixSettings())
    assert analysis.perhaps_fixed
    (drift,) = [d for d in analysis.drift if d.path == UNIT]
    assert fix in [c.sha for c in drift.commits]
    comment = render_analysis_comment(analysis)
    assert "Perhaps already fixed" in comment


def test_analyse_unknown_revision_assumes_head_lines_and_notes_it(
    git_repo: Git, history: dict[str, str]
) -> None:
    analysis = analyse(_crash("deadbeef1234+"), git_repo, FixSettings())
    assert analysis.crash_commit is None
    top = analysis.top
    assert top is not None and top.head_line == 7
    assert any("not in this repository" in n for n in analysis.notes)
    assert analysis.suspects  # blamed at HEAD instead


def test_analyse_no_revision_and_assertion_location_first(git_repo: Git, history: dict[str, str]) -> None:
    assertion = Assertion(
        condition="victim",
        file=r"/home/ubuntu/ac/src/server/game/Entities/Unit/Unit.cpp",
        line=9,
        function="Unit::Kill",
    )
    analysis = analyse(_crash(None, assertion=assertion), git_repo, FixSettings(analysis_frames=1))
    assert len(analysis.frames) == 1
    assert analysis.frames[0].index is None and analysis.frames[0].line == 9
    assert analysis.assertion == "victim"
    assert any("no source revision" in n for n in analysis.notes)


def test_analyse_nothing_maps_gives_note_and_renders(git_repo: Git, history: dict[str, str]) -> None:
    frames = (
        Frame(function="ntdll!RtlUserThreadStart", module="ntdll.dll"),
        Frame(function="x", file="Missing.cpp", line=3),
    )
    analysis = analyse(_crash(None, frames=frames), git_repo, FixSettings())
    assert analysis.frames == () and analysis.contexts == () and analysis.suspects == ()
    assert any("no frame" in n for n in analysis.notes)
    assert render_analysis_comment(analysis).startswith(ANALYSIS.tag)


def test_render_analysis_comment_sections_and_previous_attempts(
    git_repo: Git, history: dict[str, str]
) -> None:
    attempts = (PreviousAttempt(1, "build failed", "C2065 in Unit.cpp", "https://github.example/pr/3"),)
    analysis = analyse(_crash(history["bug"]), git_repo, FixSettings(), previous_attempts=attempts)
    comment = render_analysis_comment(analysis)
    assert comment.startswith(ANALYSIS.tag + "\n")
    assert "`ACCESS_VIOLATION | Unit::Kill | Player::Update`" in comment
    assert "`C0000005 ACCESS_VIOLATION`" in comment
    assert "```cpp" in comment and "victim->SetHealth(health);" in comment
    # later frames fold away; <summary> gets HTML because GitHub renders no markdown there
    assert (
        "<summary><code>Player::Update</code> — <code>src/server/game/Entities/Player/Player.cpp:3</code></summary>"
        in comment
    )
    assert "Suspect commits" in comment and history["bug"][:10] in comment
    assert "attempt 1 — build failed: C2065 in Unit.cpp (https://github.example/pr/3)" in comment
    assert "Perhaps already fixed" not in comment


def test_render_analysis_comment_defuses_hostile_commit_metadata(git_repo: Git, commit: CommitFn) -> None:
    commit({UNIT: _unit_source("")}, "x", author="Eve <eve@example.invalid>")
    commit(
        {UNIT: _unit_source("    health = 1;\n")},
        "@everyone | <img src=x onerror=alert(1)> ``` `",
        author="Eve <eve@example.invalid>",
    )
    comment = render_analysis_comment(analyse(_crash(None), git_repo, FixSettings()))
    row = next(line for line in comment.splitlines() if "everyone" in line)
    # a four-backtick span (longer than any run inside), the pipe escaped for the table
    assert "| ```` @everyone \\| <img src=x onerror=alert(1)> ``` ` ```` |" in row


def test_render_analysis_comment_bounded_by_dropping_contexts(git_repo: Git, history: dict[str, str]) -> None:
    analysis = analyse(_crash(history["bug"]), git_repo, FixSettings())
    full = render_analysis_comment(analysis)
    small = render_analysis_comment(analysis, max_chars=len(full) - 10)
    assert len(small) <= len(full) - 10
    assert small.count("```cpp") < full.count("```cpp")
    wide = replace(analysis, contexts=analysis.contexts * 200)
    assert len(render_analysis_comment(wide)) <= 60_000


def test_suspects_dedupes_and_orders_newest_first() -> None:
    old = BlameLine("a" * 40, "A", 100, "old", 1, "x")
    new = BlameLine("b" * 40, "B", 200, "new", 2, "y")
    uncommitted = BlameLine("0" * 40, "Not Committed Yet", 300, "", 3, "z")
    result = suspects(
        [
            ("f.cpp", old),
            ("f.cpp", new),
            ("f.cpp", old),
            ("g.cpp", replace(old, line_no=9)),
            ("f.cpp", uncommitted),
        ]
    )
    assert [s.sha[0] for s in result] == ["b", "a"]
    assert result[1].locations == ("f.cpp:1", "g.cpp:9")


def test_analyse_maps_the_free_site_of_a_related_stack_and_shows_its_code(
    git_repo: Git, commit: CommitFn
) -> None:
    """A use-after-free is usually fixed where the object is freed: that site's code reaches the engine."""
    from bot.crash import analyse as analyse_crash
    from bot.crash import parse_report
    from bot.fix.prompt import build_prompt

    commit(
        {
            "src/server/game/Maps/Map.cpp": "void Map::Spawn() {}\n\n\n\n\n\n\n\nvoid Map::Despawn(Unit* u) { delete u; }\n",
            UNIT: _unit_source(""),
        },
        "Add Map",
    )
    report = parse_report(
        "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x6 at pc 0x1 bp 0x2 sp 0x3\n"
        "READ of size 4 at 0x6 thread T0\n"
        f"    #0 0x5 in Unit::Kill(Unit*) /build/{UNIT}:7:5\n"
        "freed by thread T0 here:\n"
        "    #0 0x7 in operator delete(void*) ../../../../src/libsanitizer/asan/asan_new_delete.cpp:164\n"
        "    #1 0x8 in Map::Despawn(Unit*) /build/src/server/game/Maps/Map.cpp:9:30\n"
        "SUMMARY: AddressSanitizer: heap-use-after-free /x.cpp:7 in Unit::Kill(Unit*)\n"
    )
    result = analyse(analyse_crash(report), git_repo, FixSettings())
    freed = [m for m in result.frames if m.stack == "freed"]
    assert [(m.function, m.path, m.line) for m in freed] == [
        ("Map::Despawn", "src/server/game/Maps/Map.cpp", 9)
    ]
    assert any(c.path == "src/server/game/Maps/Map.cpp" for c in result.contexts)
    prompt = build_prompt(result, crash_text="x", allowed_paths=["src/"], max_changed_lines=20)
    assert "frame freed stack: Map::Despawn at src/server/game/Maps/Map.cpp:9" in prompt.user
    assert "| freed | `Map::Despawn` |" in render_analysis_comment(result)
