"""The demo worldserver, built for real with cmake + g++, run for real, crashed for real under gdb.

The three builds (as imported, with fix.patch applied, and the broken variant) are made once per test
run and shared between xdist workers; the two later builds reuse the first build directory, so they
recompile only the files that changed, exactly as a runner's persistent build directory would.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from bot.demo import worldserver as demo
from bot.demo.worldserver import DemoServerError
from tests.gitutil import git

USER = "Admin"
PASSWORD = "s3cret"
READY_RE = re.compile(
    r"^TrinityCore rev\. (?P<hash>[0-9a-f]{12}) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \(master branch\) "
    r"\((?:Unix|Windows, AMD64), RelWithDebInfo, Static\) \(worldserver-daemon\) ready\.\.\.$"
)
CRASH_NAME_RE = re.compile(r"^(?P<hash>[0-9a-f]{12})_worldserver_\[\d{4}(?:_\d\d){5}\]\.gdb\.txt$")

needs_toolchain = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("git") is None, reason="needs cmake, a C++ compiler and git"
)
needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


# ---------------------------------------------------------------------------------------------------
# builds shared by the whole test run


@dataclass(frozen=True)
class Builds:
    source: Path
    base_exe: Path
    base_hash: str
    fixed_exe: Path
    fixed_hash: str
    broken_exe: Path


def keep(exe: Path, dest_dir: Path) -> Path:
    """Copy a build's executable out of the build directory before the next build overwrites it."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(exe, dest_dir / exe.name))


def make_builds(root: Path) -> dict[str, str]:
    source = demo.copy_source(root / "repo")
    git(source, "-c", "init.defaultBranch=master", "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "Import worldserver")
    base_hash = git(source, "rev-parse", "--short=12", "HEAD")
    build_dir = root / "build"
    base_exe = keep(demo.build(source, build_dir), root / "releases" / "base")

    git(source, "apply", str(demo.FIX_PATCH))
    git(source, "commit", "-q", "-am", "Fix crash in ChatHandler::HandleWhisperCommand")
    fixed_hash = git(source, "rev-parse", "--short=12", "HEAD")
    fixed_exe = keep(demo.build(source, build_dir), root / "releases" / "fixed")

    broken_exe = keep(demo.build(source, build_dir, broken=True), root / "releases" / "broken")
    return {
        "source": str(source),
        "base_exe": str(base_exe),
        "base_hash": base_hash,
        "fixed_exe": str(fixed_exe),
        "fixed_hash": fixed_hash,
        "broken_exe": str(broken_exe),
    }


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    if shutil.which("cmake") is None or shutil.which("git") is None:
        pytest.skip("needs cmake, a C++ compiler and git")
    basetemp = tmp_path_factory.getbasetemp()
    # Under xdist every worker has its own basetemp inside one shared run directory.
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    root = shared / "demo-server"
    done = shared / "demo-server.json"
    failed = shared / "demo-server.failed"
    try:
        os.close(os.open(shared / "demo-server.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        owner = True
    except FileExistsError:
        owner = False
    if owner:
        try:
            paths = make_builds(root)
        except BaseException as e:
            failed.write_text(f"{type(e).__name__}: {e}", encoding="utf-8")
            raise
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps(paths), encoding="utf-8")
        os.replace(tmp, done)
    else:
        deadline = time.monotonic() + 900
        while not done.exists():
            if failed.exists():
                pytest.fail(f"the shared demo server build failed: {failed.read_text(encoding='utf-8')}")
            if time.monotonic() > deadline:
                pytest.fail("the shared demo server build did not finish within 900 s")
            time.sleep(0.2)
        paths = json.loads(done.read_text(encoding="utf-8"))
    return Builds(
        source=Path(paths["source"]),
        base_exe=Path(paths["base_exe"]),
        base_hash=paths["base_hash"],
        fixed_exe=Path(paths["fixed_exe"]),
        fixed_hash=paths["fixed_hash"],
        broken_exe=Path(paths["broken_exe"]),
    )


# ---------------------------------------------------------------------------------------------------
# a running server and the two consoles, spoken on the wire


@dataclass(frozen=True)
class Site:
    workdir: Path
    crashes: Path
    world_port: int
    soap_port: int
    ra_port: int

    @property
    def args(self) -> list[str]:
        return ["-c", str(self.workdir / demo.CONFIG_NAME)]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    workdir = tmp_path / "run"
    ports = (demo.free_port(), demo.free_port(), demo.free_port())
    demo.write_config(
        workdir, world_port=ports[0], soap_port=ports[1], ra_port=ports[2], user=USER, password=PASSWORD
    )
    return Site(workdir, tmp_path / "Crashes", *ports)


@pytest.fixture
def running(builds: Builds, site: Site) -> Iterator[demo.ServerProcess]:
    with demo.start(builds.base_exe, site.workdir, site.args) as process:
        process.wait_ready(30)
        yield process


def envelope(command: str, urn: str = "urn:TC") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:ns1="{urn}"><SOAP-ENV:Body><ns1:executeCommand><command>{command}</command>'
        "</ns1:executeCommand></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def soap(
    port: int,
    command: str,
    *,
    user: str = USER,
    password: str = PASSWORD,
    urn: str = "urn:TC",
    auth: bool = True,
) -> tuple[int, dict[str, str], str]:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/", body=envelope(command, urn), headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def result_text(body: str, element: str) -> str:
    match = re.search(rf"<{element}>(.*?)</{element}>", body, re.DOTALL)
    assert match, body
    return match.group(1)


class RaConsole:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"RA closed; got {self.buffer!r}")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def read_to_close(self) -> bytes:
        data = self.buffer
        while chunk := self.sock.recv(4096):
            data += chunk
        self.buffer = b""
        return data

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------------------------------
# pure helpers: no build needed


def test_copy_source_into_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(DemoServerError, match="not empty"):
        demo.copy_source(tmp_path)


def test_copy_source_fresh_copy_is_a_cmake_project_without_build_output(tmp_path: Path) -> None:
    copy = demo.copy_source(tmp_path / "server")
    assert (copy / "CMakeLists.txt").is_file()
    assert (copy / "src" / "server" / "game" / "Handlers" / "ChatHandler.cpp").is_file()
    assert (copy / "contrib" / "debugger" / "crashreport.gdb").is_file()
    assert not (copy / "build").exists()


@needs_toolchain
def test_fix_patch_fresh_copy_applies_with_git_apply_and_adds_the_null_check(tmp_path: Path) -> None:
    copy = demo.copy_source(tmp_path / "server")
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "Import worldserver")
    git(copy, "apply", "--check", str(demo.FIX_PATCH))
    git(copy, "apply", str(demo.FIX_PATCH))
    handler = (copy / "src/server/game/Handlers/ChatHandler.cpp").read_text(encoding="utf-8")
    assert "if (!target)" in handler
    assert "1 file changed" in git(copy, "diff", "--stat")


def test_write_config_ports_and_account_written_for_soap_and_ra(tmp_path: Path) -> None:
    path = demo.write_config(tmp_path, world_port=1, soap_port=2, ra_port=3, user="u", password="p w")
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "worldserver.conf"
    for line in (
        "WorldServerPort = 1",
        "SOAP.Port = 2",
        "Ra.Port = 3",
        'SOAP.Password = "p w"',
        'Ra.Username = "u"',
    ):
        assert line in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"world_port": 0}, "world_port 0 is not a TCP port"),
        ({"ra_port": 70000}, "ra_port 70000"),
        ({"user": ""}, "user must be non-empty"),
        ({"password": 'a"b'}, "password must be"),
        ({"password": "a\nb"}, "password must be"),
    ],
)
def test_write_config_unusable_values_are_refused(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"world_port": 1, "soap_port": 2, "ra_port": 3, "user": "u", "password": "p"}
    values.update(kwargs)
    with pytest.raises(DemoServerError, match=message):
        demo.write_config(tmp_path, **values)  # type: ignore[arg-type]


def test_build_directory_without_cmakelists_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DemoServerError, match=r"no CMakeLists\.txt"):
        demo.build(tmp_path, tmp_path / "build")


def test_free_port_is_bindable() -> None:
    port = demo.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_crash_log_name_follows_tc_linux_shape() -> None:
    name = demo.crash_log_name("0123456789ab", "worldserver", datetime(2025, 3, 4, 5, 6, 7))
    assert name == "0123456789ab_worldserver_[2025_03_04_05_06_07].gdb.txt"


def test_write_crash_log_same_second_twice_keeps_both_and_leaves_no_temporary(tmp_path: Path) -> None:
    line = "TrinityCore rev. 0123456789ab 2025-01-01 00:00:00 +0000 (master branch) (Unix, RelWithDebInfo, Static)"
    first = demo.write_crash_log(tmp_path, Path("worldserver"), line, b"report one\n")
    second = demo.write_crash_log(tmp_path, Path("worldserver"), line, b"report two\n")
    assert first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
    assert first.read_text(encoding="utf-8").splitlines()[0] == line
    assert first.read_text(encoding="utf-8").endswith("report one\n")
    assert CRASH_NAME_RE.match(first.name)


def test_revision_hash_unknown_when_line_has_none() -> None:
    assert (
        demo.revision_hash("TrinityCore rev. unknown 1970-01-01 00:00:00 +0000 (Archived branch)")
        == "unknown"
    )
    assert demo.revision_hash("no revision here") == "unknown"


# ---------------------------------------------------------------------------------------------------
# the real server


@pytest.mark.slow
@needs_toolchain
def test_build_git_checkout_bakes_its_head_into_the_revision(builds: Builds) -> None:
    assert demo.revision_hash(demo.read_revision(builds.base_exe)) == builds.base_hash
    assert demo.revision_hash(demo.read_revision(builds.fixed_exe)) == builds.fixed_hash
    assert builds.base_hash != builds.fixed_hash


@pytest.mark.slow
@needs_toolchain
def test_server_start_prints_ready_line_after_listening(builds: Builds, site: Site) -> None:
    with demo.start(builds.base_exe, site.workdir, site.args) as process:
        ready = process.wait_ready(30)
        match = READY_RE.match(ready)
        assert match, ready
        assert match["hash"] == builds.base_hash
        with socket.create_connection(("127.0.0.1", site.world_port), timeout=5):
            pass
        log = (site.workdir / "Server.log").read_text(encoding="utf-8")
        assert ready in log
        console = process.console()
        assert console.index("Bound SOAP service") < console.index(ready)
        assert console.index("Starting Trinity RA daemon") < console.index(ready)


@pytest.mark.slow
@needs_toolchain
def test_soap_server_info_good_credentials_returns_revision_and_uptime(
    builds: Builds, site: Site, running: demo.ServerProcess
) -> None:
    status, _, body = soap(site.soap_port, "server info", password=PASSWORD.upper())
    assert status == 200
    result = result_text(body, "result")
    assert f"rev. {builds.base_hash}" in result
    assert "Server uptime:" in result


@pytest.mark.slow
@needs_toolchain
def test_soap_urn_ac_envelope_is_accepted(site: Site, running: demo.ServerProcess) -> None:
    status, _, body = soap(site.soap_port, ".server info", urn="urn:AC")
    assert status == 200
    assert "Server uptime:" in result_text(body, "result")


@pytest.mark.slow
@needs_toolchain
@pytest.mark.parametrize("auth", [{"password": "wrong"}, {"user": "nobody"}, {"auth": False}])
def test_soap_bad_or_missing_credentials_get_401(site: Site, running: demo.ServerProcess, auth: dict) -> None:
    status, headers, _ = soap(site.soap_port, "server info", **auth)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.slow
@needs_toolchain
def test_soap_unknown_command_is_a_fault_with_faultstring(site: Site, running: demo.ServerProcess) -> None:
    status, _, body = soap(site.soap_port, "frobnicate now")
    assert status == 500
    assert result_text(body, "faultstring") == "There is no such command."


@pytest.mark.slow
@needs_toolchain
def test_ra_login_command_and_quit(builds: Builds, site: Site, running: demo.ServerProcess) -> None:
    ra = RaConsole(site.ra_port)
    try:
        assert ra.read_until(b"Username: ") == b"Authentication Required\r\nUsername: "
        ra.send(USER.lower())
        ra.read_until(b"Password: ")
        ra.send(PASSWORD.upper())
        ra.read_until(b"TC>")
        ra.send("server info")
        output = ra.read_until(b"TC>").decode()
        assert f"rev. {builds.base_hash}" in output
        assert "Server uptime:" in output
        ra.send("quit")
        assert ra.read_to_close() == b"Bye\r\n"
    finally:
        ra.close()


@pytest.mark.slow
@needs_toolchain
def test_ra_bad_password_fails_and_closes(site: Site, running: demo.ServerProcess) -> None:
    ra = RaConsole(site.ra_port)
    try:
        ra.read_until(b"Username: ")
        ra.send(USER)
        ra.read_until(b"Password: ")
        ra.send("not-the-password")
        assert ra.read_to_close() == b"Authentication failed\r\n"
    finally:
        ra.close()


@pytest.mark.slow
@needs_toolchain
def test_soap_server_shutdown_answers_then_exits_zero(site: Site, running: demo.ServerProcess) -> None:
    status, _, body = soap(site.soap_port, "server shutdown 1 deploy of the fix")
    assert status == 200
    assert "Server shutdown in 1 second(s)." in result_text(body, "result")
    assert running.wait(30) == 0
    console = running.console()
    assert (
        "[SERVER] Server shutdown in 1 second(s). Reason: deploy of the fix (announced to 3 player(s))"
        in console
    )
    assert "Halting process..." in console


@pytest.mark.slow
@needs_toolchain
def test_soap_server_shutdown_cancel_keeps_the_server_running(
    site: Site, running: demo.ServerProcess
) -> None:
    assert soap(site.soap_port, "server shutdown 2")[0] == 200
    assert "Server shutdown in 2 second(s)." in result_text(soap(site.soap_port, "server info")[2], "result")
    status, _, body = soap(site.soap_port, "server shutdown cancel")
    assert status == 200
    assert result_text(body, "result") == "Server shutdown cancelled."
    status, _, body = soap(site.soap_port, "server info")
    assert status == 200
    assert "Server shutdown in" not in result_text(body, "result")
    assert running.poll() is None


@pytest.mark.slow
@needs_toolchain
@posix_only
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_is_a_clean_shutdown_with_exit_zero(running: demo.ServerProcess, signum: int) -> None:
    assert running.server_pid == running.pid
    os.kill(running.pid, signum)
    assert running.wait(30) == 0
    assert "Halting process..." in running.console()


@pytest.mark.slow
@needs_toolchain
@needs_gdb
def test_whisper_to_offline_player_under_gdb_crashes_with_a_report(builds: Builds, site: Site) -> None:
    with demo.start_under_gdb(builds.base_exe, site.workdir, site.crashes, site.args) as session:
        session.process.wait_ready(60)
        # The world thread dies mid-command: the SOAP caller never gets an answer.
        with pytest.raises(ConnectionError):
            soap(site.soap_port, demo.CRASH_COMMAND)
        run = session.finish(60)

    assert run.crashed
    assert run.signal == "SIGSEGV"
    assert run.exit_code == 128 + 11
    assert run.revision == builds.base_hash
    assert run.crash_log is not None
    assert [p.name for p in site.crashes.iterdir()] == [run.crash_log.name]
    name = CRASH_NAME_RE.match(run.crash_log.name)
    assert name and name["hash"] == builds.base_hash

    report = run.crash_log.read_text(encoding="utf-8")
    assert report.startswith(f"TrinityCore rev. {builds.base_hash} ")
    for marker in (
        "--- DEBUG: BACKTRACE FULL",
        "--- DEBUG: INFO REGISTERS",
        "--- DEBUG: THREAD APPLY ALL BACKTRACE",
        "--- DEBUG: --- STOP",
    ):
        assert marker in report
    assert "received signal SIGSEGV" in report
    backtrace = report.split("--- DEBUG: BACKTRACE FULL", 1)[1]
    top = next(line for line in backtrace.splitlines() if line.startswith("#0 "))
    source = re.escape(str(builds.source / "src/server/game/Handlers/ChatHandler.cpp"))
    assert re.search(rf"in ChatHandler::SendWhisper \(.*target=0x0.*\) at {source}:\d+$", top), top
    assert re.search(rf"ChatHandler::HandleWhisperCommand \(.*\) at {source}:\d+", backtrace)


@pytest.mark.slow
@needs_toolchain
@needs_gdb
def test_crash_on_start_flag_hits_the_same_bug_without_a_client(builds: Builds, site: Site) -> None:
    run = demo.run_under_gdb(
        builds.base_exe, site.workdir, site.crashes, [*site.args, demo.CRASH_AFTER_FLAG, "0.2"], timeout_s=60
    )
    assert run.crashed and run.signal == "SIGSEGV"
    assert run.crash_log is not None
    assert "ChatHandler::SendWhisper" in run.crash_log.read_text(encoding="utf-8")


@pytest.mark.slow
@needs_toolchain
@posix_only
def test_crash_on_start_env_var_kills_the_plain_process_with_sigsegv(builds: Builds, site: Site) -> None:
    env = {**os.environ, demo.CRASH_AFTER_ENV: "0"}
    with demo.ServerProcess([str(builds.base_exe), *site.args], site.workdir, env=env) as process:
        assert process.wait(30) == -signal.SIGSEGV


@pytest.mark.slow
@needs_toolchain
@needs_gdb
def test_fixed_build_whisper_to_offline_player_is_an_error_not_a_crash(builds: Builds, site: Site) -> None:
    args = [*site.args, demo.CRASH_AFTER_FLAG, "0"]
    with demo.start_under_gdb(builds.fixed_exe, site.workdir, site.crashes, args) as session:
        ready = session.process.wait_ready(60)
        assert f"rev. {builds.fixed_hash} " in ready
        status, _, body = soap(site.soap_port, demo.CRASH_COMMAND)
        assert status == 500
        assert result_text(body, "faultstring") == "Player Nobody is not online."
        assert soap(site.soap_port, "whisper thrall still here?")[0] == 200
        # SIGTERM reaches the server itself (gdb passes it on), which then stops cleanly.
        session.process.stop()
        run = session.finish(60)

    assert not run.crashed
    assert run.exit_code == 0
    assert not site.crashes.exists() or not any(site.crashes.iterdir())
    assert "Player Nobody is not online." in run.console  # the scripted whisper at start, too
    assert "[Whisper] Console -> Thrall: still here?" in run.console


@pytest.mark.slow
@needs_toolchain
@needs_gdb
def test_broken_build_exits_one_before_ready_line_even_under_gdb(builds: Builds, site: Site) -> None:
    run = demo.run_under_gdb(builds.broken_exe, site.workdir, site.crashes, site.args, timeout_s=60)
    assert run.exit_code == 1
    assert not run.crashed
    assert demo.READY_SUFFIX not in run.console
    assert "World database version mismatch" in run.console


@pytest.mark.slow
@needs_toolchain
def test_broken_build_wait_ready_reports_the_early_exit(builds: Builds, site: Site) -> None:
    with (
        demo.start(builds.broken_exe, site.workdir, site.args) as process,
        pytest.raises(DemoServerError, match="exited with code 1 before its ready line"),
    ):
        process.wait_ready(30)


@pytest.mark.slow
@needs_toolchain
def test_rebuild_without_changes_is_incremental_and_keeps_the_executable(
    builds: Builds, tmp_path: Path
) -> None:
    """A persistent build dir is the point: the runner rebuilds often and must not recompile the world."""
    build_dir = builds.source.parent / "build"
    exe = build_dir / "bin" / builds.base_exe.name
    before = exe.stat().st_mtime_ns
    assert demo.build(builds.source, build_dir, broken=True) == exe
    assert exe.stat().st_mtime_ns == before


def test_free_port_is_bindable_and_outside_the_ephemeral_range() -> None:
    """bind(0) ports are ephemeral: the kernel may reuse one for an outgoing connection before the
    server binds it, which made parallel tests flaky."""
    port = demo.free_port()
    assert 20000 <= port < 32000
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
