"""bot.fix.sourcemap: foreign absolute paths from real crash reports -> files in the checkout."""

from __future__ import annotations

import pytest

from bot.fix.sourcemap import Resolved, SourceMap, Unresolved, split_path
from bot.git import Git
from tests.fix.conftest import CommitFn

AC_FILES = [
    "src/server/game/Entities/Object/Object.cpp",
    "src/server/game/Entities/Object/Object.h",
    "src/server/game/Scripting/ScriptMgrMacros.h",
    "src/common/Cryptography/BigNumber.cpp",
    "modules/mod-playerbots/src/Bot/PlayerbotMgr.cpp",
    "modules/mod-playerbots/src/strategy/Engine.cpp",
    "src/server/game/AI/Engine.cpp",
    "src/server/worldserver/Main.cpp",
    "src/server/authserver/Main.cpp",
    "deps/g3dlite/source/Main.cpp",
]


@pytest.mark.parametrize(
    ("foreign", "expected"),
    [
        (
            r"E:\azerothcore-wotlk-Playerbot\src\server\game\Entities\Object\Object.cpp",
            "src/server/game/Entities/Object/Object.cpp",
        ),
        (
            "/home/ubuntu/dev/azerothcore-wotlk/modules/mod-playerbots/src/Bot/PlayerbotMgr.cpp",
            "modules/mod-playerbots/src/Bot/PlayerbotMgr.cpp",
        ),
        (
            "/home/ubuntu/dev/azerothcore-wotlk/src/server/game/Scripting/ScriptMgrMacros.h",
            "src/server/game/Scripting/ScriptMgrMacros.h",
        ),
        (
            r"D:\_Server\aaa\azerothcore-wotlk-BOT\modules\mod-playerbots\src\strategy\Engine.cpp",
            "modules/mod-playerbots/src/strategy/Engine.cpp",
        ),
        (
            r"E:\azerothcore-wotlk\src\common\Cryptography\BigNumber.cpp",
            "src/common/Cryptography/BigNumber.cpp",
        ),
        (r"C:\TrinityBots\TrinityCore\src\server\worldserver\Main.cpp", "src/server/worldserver/Main.cpp"),
        (
            r"d:\azerothcore\SRC\SERVER\GAME\entities\object\object.h",
            "src/server/game/Entities/Object/Object.h",
        ),
        (
            r"\\buildhost\share\ac\src\common\Cryptography\BigNumber.cpp",
            "src/common/Cryptography/BigNumber.cpp",
        ),
        (r"..\..\src\server\game\Entities\Object\Object.cpp", "src/server/game/Entities/Object/Object.cpp"),
        ("BigNumber.cpp", "src/common/Cryptography/BigNumber.cpp"),
    ],
)
def test_sourcemap_suffix_match_resolves_foreign_paths(foreign: str, expected: str) -> None:
    resolved = SourceMap(AC_FILES).resolve(foreign)
    assert resolved is not None, foreign
    assert resolved.path == expected


def test_sourcemap_mangos_lower_case_windows_path_resolves_to_real_case() -> None:
    files = ["src/game/Object.h", "src/game/Object.cpp", "src/game/CreatureAI.cpp", "src/shared/Log.cpp"]
    resolved = SourceMap(files).resolve(r"d:\mangos-wotlk-master\src\game\object.h")
    assert resolved == Resolved("src/game/Object.h", "path suffix match (3 components)")


def test_sourcemap_ambiguous_basename_returns_reason() -> None:
    result = SourceMap(AC_FILES).lookup(r"C:\build\Main.cpp")
    assert isinstance(result, Unresolved)
    assert "3 tracked files" in result.reason and "path_prefix_map" in result.reason


def test_sourcemap_ambiguity_broken_by_longer_unique_suffix() -> None:
    result = SourceMap(AC_FILES).lookup("/srv/tc/authserver/Main.cpp")
    assert result == Resolved("src/server/authserver/Main.cpp", "path suffix match (2 components)")


def test_sourcemap_unknown_file_and_missing_path_reasons() -> None:
    sm = SourceMap(AC_FILES)
    outside = sm.lookup(r"C:\libs\boost_1_89_0\boost\asio\detail\bind_handler.h")
    assert isinstance(outside, Unresolved) and "bind_handler.h" in outside.reason
    assert sm.resolve(None) is None
    assert isinstance(sm.lookup("   "), Unresolved)


def test_sourcemap_prefix_map_wins_over_suffix_match() -> None:
    files = ["src/game/Engine.cpp", "vendor/other/src/game/Engine.cpp"]
    sm = SourceMap(files, {r"C:\Work\Vendor": "vendor/other"})
    resolved = sm.resolve(r"c:\work\vendor\src\game\Engine.cpp")
    assert resolved is not None and resolved.path == "vendor/other/src/game/Engine.cpp"
    assert resolved.how.startswith("prefix map")


def test_sourcemap_prefix_map_to_untracked_file_falls_back_to_suffix() -> None:
    sm = SourceMap(["src/game/Unit.cpp"], {"/home/ci/tc": "nowhere"})
    result = sm.lookup("/home/ci/tc/src/game/Unit.cpp")
    assert result == Resolved("src/game/Unit.cpp", "path suffix match (3 components)")


def test_split_path_windows_posix_and_unc() -> None:
    assert split_path(r"E:\a\b\c.cpp") == ["a", "b", "c.cpp"]
    assert split_path("/home/u/./x/../c.h") == ["home", "u", "x", "c.h"]
    assert split_path(r"\\host\share\src\x.cpp") == ["src", "x.cpp"]


def test_sourcemap_from_git_uses_tracked_files(git_repo: Git, commit: CommitFn) -> None:
    commit({"src/server/game/Entities/Unit/Unit.cpp": "x\n"}, "init")
    (git_repo.repo / "src/server/game/Untracked.cpp").write_text("y\n")
    sm = SourceMap.from_git(git_repo)
    assert sm.resolve(r"E:\tc\src\server\game\Entities\Unit\Unit.cpp") is not None
    assert sm.resolve(r"E:\tc\src\server\game\Untracked.cpp") is None
