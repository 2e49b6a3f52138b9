"""bot.build.runner: a real CMake + g++ build of a tiny two-file project, incremental rebuilds, timeouts."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bot.build.diagnostics import Severity
from bot.build.runner import (
    CONFIGURE_MARKER,
    BuildError,
    BuildResult,
    Step,
    build,
    default_build_dir,
    expand,
    resolve_build_dir,
    scrub_env,
    user_cache_dir,
)
from bot.config import FixSettings, SandboxMode
from bot.errors import ConfigError
from tests.conftest import FIXTURES

needs_bwrap = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bwrap") is None,
    reason="bubblewrap is Linux-only; runner-setup/dev-setup.sh installs it",
)
needs_toolchain = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("g++") is None, reason="cmake and g++ are needed"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    source = tmp_path / "checkout"
    shutil.copytree(FIXTURES / "fix" / "tinyserver", source)
    return source


@pytest.fixture
def settings() -> FixSettings:
    return FixSettings(build_timeout_s=300.0)


@pytest.mark.slow
@needs_toolchain
def test_build_clean_then_incremental_rebuild_only_recompiles_touched_file(
    project: Path, tmp_path: Path, settings: FixSettings
) -> None:
    build_dir = tmp_path / "build"
    first = build(project, settings, build_dir=build_dir, env=os.environ)
    assert first.ok, first.tail
    assert first.failed_step is None and first.errors == ()
    assert (build_dir / "worldserver").exists() or (build_dir / "worldserver.exe").exists()
    log = first.log_path.read_text()
    assert "-DCMAKE_BUILD_TYPE=RelWithDebInfo" in log
    assert "worldserver.cpp" in log and "util.cpp" in log

    util = project / "util.cpp"
    util.write_text(util.read_text().replace("value * 2", "value + value"))
    # make compares mtimes; make sure the edit is visibly newer than the object file
    future = time.time() + 5
    os.utime(util, (future, future))
    second = build(project, settings, build_dir=build_dir, env=os.environ)
    assert second.ok, second.tail
    log = second.log_path.read_text()
    assert "cmake -S" not in log  # configure is skipped when nothing about it changed
    assert "util.cpp.o" in log
    assert "worldserver.cpp.o" not in log


@pytest.mark.slow
@needs_toolchain
def test_build_compile_error_parsed_with_file_and_line(
    project: Path, tmp_path: Path, settings: FixSettings
) -> None:
    (project / "util.cpp").write_text("int Twice(int value)\n{\n    return valu * 2;\n}\n")
    result = build(project, settings, build_dir=tmp_path / "build", env=os.environ)
    assert not result.ok
    assert result.failed_step is Step.BUILD and not result.timed_out
    first = result.errors[0]
    assert first.file == "util.cpp"  # made relative to the checkout
    assert (first.line, first.column) == (3, 12)
    assert "valu" in first.message
    assert "valu" in result.tail
    assert result.log_path.is_file()


@pytest.mark.slow
@needs_toolchain
def test_build_runs_test_command_after_success(project: Path, tmp_path: Path, settings: FixSettings) -> None:
    exe = "{build_dir}/worldserver"
    ok = build(project, replace(settings, test_command=(exe,)), build_dir=tmp_path / "build", env=os.environ)
    assert ok.ok and ok.tests_ok is True
    assert "42" in ok.log_path.read_text()
    failing = replace(settings, test_command=(sys.executable, "-c", "raise SystemExit(3)"))
    bad = build(project, failing, build_dir=tmp_path / "build", env=os.environ)
    assert not bad.ok and bad.failed_step is Step.TEST and bad.tests_ok is False


@pytest.mark.skipif(sys.platform == "win32", reason="probes the child with os.kill(pid, 0), POSIX-only")
def test_build_timeout_kills_process_tree(project: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    child = "import time; time.sleep(120)"
    parent = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', {child!r}]);"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid));"
        "time.sleep(120)"
    )
    # unsandboxed: the pid the child writes is a pid of this machine's namespace
    settings = FixSettings(
        build_command=(sys.executable, "-c", parent), build_timeout_s=2.0, sandbox=SandboxMode.NONE
    )
    result = build(project, settings, build_dir=tmp_path / "build", env=os.environ)
    assert not result.ok
    assert result.timed_out and result.failed_step is Step.BUILD
    assert "timeout" in result.tail
    child_pid = int(pid_file.read_text())
    assert _gone(child_pid)


@needs_bwrap
def test_build_timeout_in_the_sandbox_kills_everything_inside_it(project: Path, tmp_path: Path) -> None:
    marker = f"crashbot-sandboxed-sleeper-{os.getpid()}"
    child = f"import time; time.sleep(120)  # {marker}"
    parent = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(120)"
    )
    settings = FixSettings(
        build_command=(sys.executable, "-c", parent), build_timeout_s=2.0, sandbox=SandboxMode.BWRAP
    )
    result = build(project, settings, build_dir=tmp_path / "build", env=os.environ)
    assert result.timed_out and result.failed_step is Step.BUILD
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []


@needs_bwrap
def test_build_in_the_sandbox_a_process_left_behind_does_not_outlive_its_command(
    project: Path, tmp_path: Path
) -> None:
    """A test step that detaches a process (new session, output closed) and exits 0: the sandbox's PID
    namespace ends with the command, so nothing of it is left to read the next workflow step's
    environment (bwrap --unshare-all with --die-with-parent)."""
    marker = f"crashbot-left-behind-{os.getpid()}"
    # the marker is put together by the shell, so only the detached process's argv holds it whole
    detach = (
        f'm=crashbot-left; setsid {sys.executable} -c "import time; time.sleep(300)" "$m-behind-{os.getpid()}"'
        " >/dev/null 2>&1 < /dev/null &"
    )
    settings = FixSettings(
        build_command=("true",), test_command=("sh", "-c", detach), sandbox=SandboxMode.BWRAP
    )

    result = build(project, settings, build_dir=tmp_path / "build", env=os.environ)

    assert result.ok
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []


def test_build_custom_command_without_configure_step(project: Path, tmp_path: Path) -> None:
    settings = FixSettings(build_command=(sys.executable, "-c", "print('built {source}')"))
    result = build(project, settings, build_dir=tmp_path / "b", env=os.environ)
    assert result.ok
    assert f"built {project.resolve()}" in result.log_path.read_text()
    assert "cmake" not in result.log_path.read_text()


def test_build_missing_tool_raises_build_error(project: Path, tmp_path: Path) -> None:
    settings = FixSettings(build_command=("definitely-not-a-compiler-xyz",))
    with pytest.raises(BuildError, match="not found on PATH"):
        build(project, settings, build_dir=tmp_path / "b", env=os.environ)


def test_build_secrets_not_passed_to_commands(project: Path, tmp_path: Path) -> None:
    script = "import os; print('TOKEN=' + os.environ.get('CRASHBOT_TOKEN', 'absent'), 'KEEP=' + os.environ.get('KEEP_ME', ''))"
    settings = FixSettings(build_command=(sys.executable, "-c", script), sandbox=SandboxMode.NONE)
    env = {**os.environ, "CRASHBOT_TOKEN": "s3cret", "KEEP_ME": "yes"}
    result = build(project, settings, build_dir=tmp_path / "b", env=env)
    log = result.log_path.read_text()
    assert "TOKEN=absent" in log and "KEEP=yes" in log


@needs_bwrap
def test_build_in_the_sandbox_gets_an_allow_listed_environment_only(project: Path, tmp_path: Path) -> None:
    script = (
        "import os; print('TOKEN=' + os.environ.get('CRASHBOT_TOKEN', 'absent'),"
        " 'SNEAKY=' + os.environ.get('SNEAKY_NAME', 'absent'), 'KEEP=' + os.environ.get('KEEP_ME', ''),"
        " 'CXX=' + os.environ.get('CXX', ''))"
    )
    settings = FixSettings(
        build_command=(sys.executable, "-c", script), sandbox=SandboxMode.BWRAP, sandbox_env=("KEEP_ME",)
    )
    env = {**os.environ, "CRASHBOT_TOKEN": "s3cret", "SNEAKY_NAME": "s3cret", "KEEP_ME": "yes", "CXX": "g++"}
    result = build(project, settings, build_dir=tmp_path / "b", env=env)
    log = result.log_path.read_text()
    assert "TOKEN=absent" in log and "SNEAKY=absent" in log  # a secret under any name stays out
    assert "KEEP=yes" in log and "CXX=g++" in log


def test_resolve_build_dir_inside_checkout_refused(project: Path) -> None:
    with pytest.raises(ConfigError, match="inside the checkout"):
        resolve_build_dir(FixSettings(build_dir=str(project / "build")), project, env=os.environ)


def test_default_build_dir_under_user_cache_and_per_checkout(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "LOCALAPPDATA": str(tmp_path / "cache")}
    a = default_build_dir(tmp_path / "one" / "tc", env=env)
    b = default_build_dir(tmp_path / "two" / "tc", env=env)
    assert a != b and a.name.startswith("tc-") and b.name.startswith("tc-")
    assert user_cache_dir(env) in a.parents


def test_expand_only_known_placeholders() -> None:
    assert expand(["-B", "{build_dir}", "{other}", "-D{source}"], build_dir="/b", source="/s") == [
        "-B",
        "/b",
        "{other}",
        "-D/s",
    ]


def test_scrub_env_drops_secrets_keeps_rest() -> None:
    env = {
        "PATH": "/bin",
        "GITHUB_TOKEN": "x",
        "ANTHROPIC_API_KEY": "k",
        "CRASHBOT_SIGNING_KEY": "s",
        "CC": "gcc",
    }
    assert scrub_env(env) == {"PATH": "/bin", "CC": "gcc"}


def test_build_result_errors_property_filters_severity(project: Path, tmp_path: Path) -> None:
    script = "print('a.cpp:1:1: warning: w'); print('a.cpp:2:1: error: e'); raise SystemExit(1)"
    result = build(
        project,
        FixSettings(build_command=(sys.executable, "-c", script)),
        build_dir=tmp_path / "b",
        env=os.environ,
    )
    assert [d.severity for d in result.diagnostics] == [Severity.ERROR, Severity.WARNING]
    assert len(result.errors) == 1


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited; a killed process can take a moment to be reaped by init."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_fix_sandbox_setting_is_a_closed_set_with_a_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"fix.sandbox 'bubblewrap' is unknown.*did you mean 'bwrap'"):
        FixSettings(sandbox="bubblewrap")  # type: ignore[arg-type]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bwrap is the Linux sandbox")
def test_fix_sandbox_bwrap_missing_fails_closed_in_one_line(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config asks for the sandbox and this machine cannot give it: one line, nothing runs."""
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without bwrap
    settings = FixSettings(
        build_command=(sys.executable, "-c", "open('ran', 'w')"), sandbox=SandboxMode.BWRAP
    )
    with pytest.raises(ConfigError, match=r"bubblewrap \(bwrap\) is not installed.*fix.sandbox = 'none'"):
        build(project, settings, build_dir=tmp_path / "b", env=os.environ)
    assert not (project / "ran").exists() and not (tmp_path / "b" / "ran").exists()


def test_a_build_that_swaps_its_log_for_a_link_gets_its_own_output_back_not_the_linked_file(
    project: Path, tmp_path: Path
) -> None:
    # the build directory is writable by the untrusted build, but crashbot reads the log outside it
    credential = tmp_path / "runner" / ".credentials_rsaparams"
    credential.parent.mkdir()
    credential.write_text("RUNNER-PRIVATE-KEY-MATERIAL\n")
    swap = f"echo compiled; rm crashbot-build.log; ln -s {credential} crashbot-build.log; echo linked"
    settings = FixSettings(build_command=("sh", "-c", swap), sandbox=SandboxMode.NONE)

    result = build(project, settings, build_dir=tmp_path / "b", env=os.environ)

    assert result.ok
    assert "compiled" in result.tail and "linked" in result.tail
    assert "RUNNER-PRIVATE-KEY-MATERIAL" not in result.tail
    assert credential.read_text() == "RUNNER-PRIVATE-KEY-MATERIAL\n"


def test_links_a_build_plants_for_the_next_build_are_never_written_through(
    project: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "home" / ".ssh" / "authorized_keys"
    victim.parent.mkdir(parents=True)
    victim.write_text("ssh-ed25519 AAAA operator\n")
    plant = (
        f"ln -sf {victim} crashbot-build.log.next && ln -sf {victim} {CONFIGURE_MARKER}.next && "
        f"mv crashbot-build.log.next crashbot-build.log && mv {CONFIGURE_MARKER}.next {CONFIGURE_MARKER}"
    )
    settings = FixSettings(
        configure_command=("true",), build_command=("sh", "-c", plant), sandbox=SandboxMode.NONE
    )
    build(project, settings, build_dir=tmp_path / "b", env=os.environ)  # plants the links at its end
    again = replace(
        settings, configure_command=("echo", "reconfigure"), build_command=("echo", "ssh-rsa EVIL")
    )

    result = build(project, again, build_dir=tmp_path / "b", env=os.environ)

    assert result.ok and "ssh-rsa EVIL" in result.tail
    assert victim.read_text() == "ssh-ed25519 AAAA operator\n"
    assert not (tmp_path / "b" / "crashbot-build.log").is_symlink()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_runner_s_own_directory_is_found_from_the_process_that_started_crashbot(tmp_path: Path) -> None:
    # a runner configured with --work elsewhere: its .credentials are in no parent of the checkout
    runner = tmp_path / "actions-runner"
    (runner / "bin").mkdir(parents=True)
    worker = runner / "bin" / "Runner.Worker"
    shutil.copy(shutil.which("sh") or "/bin/sh", worker)
    probe = "from bot.build.sandbox import runner_install_dirs; print(runner_install_dirs())"
    code = f"{shlex.quote(sys.executable)} -c {shlex.quote(probe)}; true"  # a child of Runner.Worker

    done = subprocess.run([str(worker), "-c", code], capture_output=True, text=True, check=True)

    assert repr(runner) in done.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_left_in_place_of_the_configure_marker_does_not_hang_the_next_build(
    project: Path, tmp_path: Path
) -> None:
    plant = f"rm -f {CONFIGURE_MARKER} && mkfifo {CONFIGURE_MARKER}"
    settings = FixSettings(
        configure_command=("true",), build_command=("sh", "-c", plant), sandbox=SandboxMode.NONE
    )
    build(project, settings, build_dir=tmp_path / "b", env=os.environ)
    again = replace(settings, configure_command=("echo", "configured again"), build_command=("true",))
    results: list[BuildResult] = []
    worker = threading.Thread(
        target=lambda: results.append(build(project, again, build_dir=tmp_path / "b", env=os.environ)),
        daemon=True,
    )

    worker.start()
    worker.join(120)

    assert results, "the build blocked opening the FIFO"
    [result] = results
    assert result.ok and "configured again" in result.tail
