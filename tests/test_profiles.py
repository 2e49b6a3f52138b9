"""Core profiles on the layouts of the real repositories: `crashbot init` writes each core's own defaults.

The layouts are path lists of real checkouts (tests/fixtures/init/layouts/, see SOURCES.md there); the
expected values are the ones each core's source prints or declares (the profile files name the source).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bot import init, profiles
from bot.cli import main
from bot.config import Config, load
from bot.fix.patch import Rule, validate
from bot.profiles import Core
from tests.conftest import FIXTURES

LAYOUTS = FIXTURES / "init" / "layouts"

# What each core really prints or answers (see the profile files for the source lines).
READY_LINES = {
    Core.TRINITYCORE: "TrinityCore rev. 2c3d3c31b22c 2020-08-29 20:46:00 +0300 (3.3.5 branch) "
    "(Unix, RelWithDebInfo, Static) (worldserver-daemon) ready...",
    Core.AZEROTHCORE: "AzerothCore rev. 5d8c2b1a9f3e 2024-05-01 10:00:00 +0000 (master branch) "
    "(Unix, RelWithDebInfo, Static) (worldserver-daemon) ready...",
    Core.CMANGOS: "      CMANGOS: World initialized       ",
    Core.VMANGOS: "World initialized.",
}
PROMPTS = {Core.TRINITYCORE: "TC>", Core.AZEROTHCORE: "AC>", Core.CMANGOS: "mangos>", Core.VMANGOS: "mangos>"}
LAYOUT_OF = {
    Core.TRINITYCORE: "trinitycore.txt",
    Core.AZEROTHCORE: "azerothcore-playerbots.txt",
    Core.CMANGOS: "cmangos.txt",
    Core.VMANGOS: "vmangos.txt",
}
EXPECTED = {
    # core: (SOAP namespace, executable/service, allowed fix paths, build target, ready port)
    Core.TRINITYCORE: ("urn:TC", "worldserver", ("src/",), "worldserver", 0),
    Core.AZEROTHCORE: ("urn:AC", "worldserver", ("src/", "modules/"), "worldserver", 0),
    Core.CMANGOS: ("urn:MaNGOS", "mangosd", ("src/",), "mangosd", 8085),
    Core.VMANGOS: ("urn:MaNGOS", "mangosd", ("src/",), "mangosd", 8085),
}
PLAYERBOTS_FIX = """\
--- a/modules/mod-playerbots/src/Ai/Base/Actions/AttackAction.cpp
+++ b/modules/mod-playerbots/src/Ai/Base/Actions/AttackAction.cpp
@@ -1,3 +1,3 @@
 bool AttackAction::Execute(Event event)
 {
-    return Attack(target);
+    return target && Attack(target);
"""


def checkout(tmp_path: Path, layout: str) -> Path:
    """An empty-file copy of a real tree, as a git checkout with a GitHub origin."""
    repo = tmp_path / "server"
    for line in (LAYOUTS / layout).read_text(encoding="utf-8").splitlines():
        path = repo / line
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "https://github.com/acme/realm.git"], check=True
    )
    return repo


def init_config(repo: Path, *extra: str) -> Config:
    assert main(["init", "--repo-dir", str(repo), *extra]) == 0
    return load(repo / "crashbot.toml", env={})


@pytest.mark.parametrize("core", list(Core), ids=str)
def test_each_real_layout_is_recognised_as_its_core_and_no_other(core: Core, tmp_path: Path) -> None:
    repo = checkout(tmp_path, LAYOUT_OF[core])

    assert [c for c in Core if profiles.load(c).matches(repo)] == [core]
    detected = profiles.detect(repo)
    assert detected is not None and detected.core is core


@pytest.mark.parametrize("core", list(Core), ids=str)
def test_init_writes_the_cores_own_defaults(core: Core, tmp_path: Path) -> None:
    config = init_config(checkout(tmp_path, LAYOUT_OF[core]))
    urn, executable, allowed, target, port = EXPECTED[core]

    assert config.deploy.soap.urn == urn
    assert (config.deploy.executable, config.deploy.service_name) == (executable, executable)
    assert config.deploy.artifacts[:2] == (executable, f"{executable}.exe")
    assert config.fix.allowed_paths == allowed
    assert config.deploy.ready_port == port
    assert re.search(config.deploy.ready_regex, READY_LINES[core])
    assert re.search(config.deploy.ra.prompt_regex, PROMPTS[core])
    build = config.fix.build_command
    assert build == () if target == "worldserver" else build[build.index("--target") + 1] == target


def test_the_ready_regexes_do_not_fire_on_another_cores_line() -> None:
    for core in Core:
        for other, line in READY_LINES.items():
            fires = bool(re.search(profiles.load(core).ready_regex, line))
            same_kind = profiles.load(other).ready_regex == profiles.load(core).ready_regex
            assert fires == (other is core or same_kind), (core, other)


def test_azerothcore_with_playerbots_lets_a_fix_touch_the_module(tmp_path: Path) -> None:
    """Issue 14: init wrote allowed_paths = ["src/"] on AzerothCore, so a playerbots fix was refused."""
    config = init_config(checkout(tmp_path, LAYOUT_OF[Core.AZEROTHCORE]))

    found = validate(PLAYERBOTS_FIX, allowed_paths=config.fix.allowed_paths, max_changed_lines=60, repo=None)
    assert found == []
    refused = validate(PLAYERBOTS_FIX, allowed_paths=("src/",), max_changed_lines=60, repo=None)
    assert [v.rule for v in refused] == [Rule.OUTSIDE]


def test_init_names_the_core_and_its_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = checkout(tmp_path, LAYOUT_OF[Core.AZEROTHCORE])
    init_config(repo)

    out = capsys.readouterr().out
    assert "core:           AzerothCore (detected;" in out and "modules: mod-playerbots" in out
    assert (repo / "crashbot.toml").read_text(encoding="utf-8").startswith(
        "# crashbot.toml"
    ) and "# Core: AzerothCore (detected;" in (repo / "crashbot.toml").read_text(encoding="utf-8")


def test_core_option_overrides_detection(tmp_path: Path) -> None:
    config = init_config(checkout(tmp_path, LAYOUT_OF[Core.TRINITYCORE]), "--core", "cmangos")

    assert (config.deploy.executable, config.deploy.soap.urn) == ("mangosd", "urn:MaNGOS")


def test_a_misspelt_core_is_one_line_with_the_nearest_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["init", "--repo-dir", str(tmp_path), "--core", "azerothcor"])

    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "did you mean 'azerothcore'?" in line


def test_an_unrecognised_tree_gets_trinitycore_defaults_and_a_note(tmp_path: Path) -> None:
    facts = init.detect(tmp_path, env={})

    assert facts.profile.core is Core.TRINITYCORE and facts.core_source == "default"
    assert any("--core" in note for note in facts.notes)


def test_vmangos_crash_folder_is_found_by_its_own_name(tmp_path: Path) -> None:
    """vMaNGOS's WheatyExceptionReport writes to "Crashs" (sic), not "Crashes"."""
    repo = checkout(tmp_path, LAYOUT_OF[Core.VMANGOS])
    (repo / "bin" / "Crashs").mkdir(parents=True)

    facts = init.detect(repo, env={})

    assert facts.crash_dirs == (str((repo / "bin" / "Crashs").resolve()),)


def test_azerothcore_deploys_on_changes_to_its_deps_folder(tmp_path: Path) -> None:
    facts = init.detect(checkout(tmp_path, LAYOUT_OF[Core.AZEROTHCORE]), env={})

    assert "deps/**" in init.deploy_paths(facts) and "modules/**" in init.deploy_paths(facts)


@pytest.mark.parametrize("core", list(Core), ids=str)
def test_every_profile_value_names_its_source(core: Core) -> None:
    """Each profile file says where its values were read: a comment precedes every core-specific key."""
    text = (Path(profiles.__file__).parent / f"{core.value}.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    for key in ("markers", "executable", "ready_regex", "soap_urn", "ra_prompt_regex", "crash_dir_name"):
        (i,) = [n for n, line in enumerate(lines) if line.startswith(f"{key} =")]
        assert lines[i - 1].startswith("#"), f"{core}: {key} has no source comment"
