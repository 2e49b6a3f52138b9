"""The process backend for real: detached child, pid file found by a later run, SIGTERM, kill."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.deploy.control import ServerState, StopMethod, wait_until
from bot.deploy.errors import ServerControlError
from bot.deploy.process import LOG_FILE, PID_FILE, ProcessControl
from bot.deploy.releases import Releases
from tests.deploy.conftest import posix_only

pytestmark = [posix_only]

SERVER = """
import os, signal, sys, time
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("tracking=" + os.environ.get("RUNNER_TRACKING_ID", "unset"), "cwd=" + os.getcwd(), flush=True)
print("args=" + " ".join(sys.argv[1:]), flush=True)
leaked = sorted(k for k in os.environ if k.startswith(("CRASHBOT_", "GITHUB_TOKEN", "ACTIONS_")))
print("secrets=" + (",".join(leaked) or "none"), "tc=" + os.environ.get("TC_WORLD_SERVER_PORT", "unset"), flush=True)
time.sleep(60)
"""


@pytest.fixture
def releases(tmp_path: Path) -> Releases:
    build = tmp_path / "build"
    build.mkdir()
    exe = build / "worldserver"
    exe.write_text(f"#!{sys.executable}\n{SERVER}")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    releases = Releases(tmp_path / "install")
    releases.activate(releases.create("ab" * 20, build, ("worldserver",), executable="worldserver"))
    return releases


@pytest.fixture
def control(releases: Releases) -> Iterator[ProcessControl]:
    env = {**os.environ, "RUNNER_TRACKING_ID": "github_1234"}
    control = ProcessControl(releases=releases, executable="worldserver", arguments=("-c", "w.conf"), env=env)
    yield control
    control.kill()
    control.stop(2.0)


def wait_for_log(path: Path, text: str) -> str:
    import time

    for _ in range(200):
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_process_start_runs_live_release_detached_with_pid_file_and_log(
    control: ProcessControl, releases: Releases
) -> None:
    control.start()
    assert control.status() is ServerState.RUNNING
    log = wait_for_log(control.log_path(), "args=")
    assert control.log_path() == releases.install_dir / LOG_FILE
    assert "tracking=unset" in log  # the runner's orphan cleanup must not find it
    assert f"cwd={releases.install_dir}" in log
    assert "args=-c w.conf" in log
    record = json.loads((releases.install_dir / PID_FILE).read_text())
    assert record["pid"] == control.pid()
    live = releases.live()
    assert live is not None and record["argv"][0] == str(live.path / "worldserver")
    pid = control.pid()
    assert pid is not None and os.getsid(pid) == pid  # its own session: our Ctrl-C does not reach it


def test_process_start_hands_the_server_none_of_crashbots_secrets(releases: Releases) -> None:
    """worldserver is internet-facing C++ whose crash dumps hold its environment: the App key, the
    SOAP password and GitHub tokens of the deploy job must not be in it; its own settings stay."""
    env = {
        **os.environ,
        "CRASHBOT_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----",
        "CRASHBOT_SOAP_PASSWORD": "soap-pw",
        "GITHUB_TOKEN": "ghs_x",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x",
        "TC_WORLD_SERVER_PORT": "8086",
    }
    control = ProcessControl(releases=releases, executable="worldserver", env=env)
    try:
        control.start()
        log = wait_for_log(control.log_path(), "secrets=")
    finally:
        control.kill()
        control.stop(2.0)
    assert "secrets=none" in log
    assert "tc=8086" in log


def test_process_start_uses_the_env_it_was_given_not_the_process_environment(
    releases: Releases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TC_WORLD_SERVER_PORT", "from-os-environ")
    env = {k: v for k, v in os.environ.items() if k != "TC_WORLD_SERVER_PORT"} | {
        "TC_WORLD_SERVER_PORT": "given"
    }
    control = ProcessControl(releases=releases, executable="worldserver", env=env)
    try:
        control.start()
        log = wait_for_log(control.log_path(), "secrets=")
    finally:
        control.kill()
        control.stop(2.0)
    assert "tc=given" in log


def test_process_later_run_finds_the_server_by_pid_file_and_stops_it(
    control: ProcessControl, releases: Releases
) -> None:
    control.start()
    pid = control.pid()
    later = ProcessControl(
        releases=releases, executable="worldserver", env=os.environ
    )  # a new `crashbot deploy` run
    assert later.pid() == pid and later.status() is ServerState.RUNNING

    outcome = later.stop(10.0)

    assert outcome.stopped and outcome.method is StopMethod.SIGNAL
    assert "SIGTERM" in outcome.detail
    # /proc shows an exiting process with an empty command line (so `later` sees it gone) a moment
    # before the kernel lets its parent reap it: wait for that moment instead of racing it
    assert wait_until(
        lambda: control.status() is ServerState.STOPPED,
        5.0,
        clock=time.monotonic,
        sleep=time.sleep,
        poll_s=0.01,
    )


def test_process_pid_file_naming_an_unrelated_process_means_stopped(releases: Releases) -> None:
    (releases.install_dir / PID_FILE).write_text(
        json.dumps({"pid": os.getpid(), "argv": ["/srv/other/worldserver"], "started_at": 0})
    )
    control = ProcessControl(releases=releases, executable="worldserver", env=os.environ)
    assert control.pid() is None and control.status() is ServerState.STOPPED


def test_process_garbage_pid_file_means_stopped(releases: Releases) -> None:
    (releases.install_dir / PID_FILE).write_text("12 34")
    assert (
        ProcessControl(releases=releases, executable="worldserver", env=os.environ).status()
        is ServerState.STOPPED
    )


def test_process_start_twice_is_refused(control: ProcessControl) -> None:
    control.start()
    with pytest.raises(ServerControlError, match="already running"):
        control.start()


def test_process_start_without_live_release_says_deploy_first(tmp_path: Path) -> None:
    control = ProcessControl(releases=Releases(tmp_path), executable="worldserver", env=os.environ)
    with pytest.raises(ServerControlError, match="no live release"):
        control.start()


def test_process_kill_ends_a_server_that_ignores_sigterm(releases: Releases) -> None:
    control = ProcessControl(
        releases=releases, executable="worldserver", env={**os.environ, "IGNORE_TERM": "1"}, poll_s=0.05
    )
    control.start()
    wait_for_log(control.log_path(), "args=")
    assert not control.stop(0.5).stopped
    control.kill()
    assert control.stop(5.0).stopped
    assert control.exit_code() == -9


def _core_limit(pid: int) -> tuple[str, str]:
    """``(soft, hard)`` of ``Max core file size`` in /proc/PID/limits."""
    line = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines() if "core file" in line)
    soft, hard = line.split()[4:6]
    return soft, hard


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("core_dumps", [True, False])
def test_process_core_dumps_lifts_the_servers_core_limit_to_the_hard_limit(
    releases: Releases, core_dumps: bool
) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    control = ProcessControl(
        releases=releases, executable="worldserver", env=dict(os.environ), core_dumps=core_dumps
    )
    control.start()
    try:
        pid = control.pid()
        assert pid is not None
        soft, hard = _core_limit(pid)
        assert (soft == hard) is core_dumps or hard == "0"
    finally:
        control.kill()
        control.stop(2.0)
