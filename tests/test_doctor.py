"""``crashbot doctor`` against the loopback GitHub stand-in and a loopback SOAP server: a good setup passes
every row; breaking one thing at a time fails exactly that row, with its fix."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot import doctor
from bot.cli import main
from bot.config import Config, GitHubSettings, load
from bot.coredump.pattern import CorePattern, parse_core_pattern
from bot.doctor import CheckResult, Probe, Status
from bot.errors import ConfigError
from bot.github import connect
from bot.standin import StandIn
from bot.uploader.health import Health, status_path
from bot.vocabulary import ALL_LABELS, DASHBOARD, REQUIRED_LABELS, LabelSpec
from tests.deploy.conftest import RecordingRunner

REPO = "acme/worldserver"
TOKEN = "ghp_fix_runner"
LOGIN = "fix-runner"
ADMIN_TOKEN = "ghp_owner"
UPLOADER = "crashbot-uploader[bot]"
SIGNING_KEY = "5f" * 32
SOAP_USER, SOAP_PASSWORD = "deployer", "s3cret"
SOAP_RESULT = (
    '<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
    'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="urn:TC"><SOAP-ENV:Body>'
    "<ns1:executeCommandResponse><result>TrinityCore rev. 0123abcd 2026-01-01 (Win64, RelWithDebInfo)\n"
    "Connected players: 3</result></ns1:executeCommandResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
LINUX_TOOLS = {
    "git": "/usr/bin/git",
    "cmake": "/usr/bin/cmake",
    "g++": "/usr/bin/g++",
    "gdb": "/usr/bin/gdb",
    "llvm-symbolizer": "/usr/bin/llvm-symbolizer",
    "bwrap": "/usr/bin/bwrap",
}


# ---------------------------------------------------------------------------------------------------
# a loopback worldserver SOAP endpoint


@dataclass
class SoapServer:
    port: int = 0
    commands: list[str] = field(default_factory=list)


@pytest.fixture
def soap() -> Iterator[SoapServer]:
    state = SoapServer()
    expected = "Basic " + base64.b64encode(f"{SOAP_USER}:{SOAP_PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            state.commands.append(body.split("<command>", 1)[1].split("</command>", 1)[0])
            data = SOAP_RESULT.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound to 0, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------------
# one host's setup, good by default; each test breaks one thing


def toml_text(table: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer (JSON strings, numbers, booleans and string arrays are valid TOML)."""
    scalars = [f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict)]
    out = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    for key, value in table.items():
        if isinstance(value, dict):
            out.append(toml_text(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(out) + "\n"


@dataclass
class Setup:
    tmp: Path
    standin: StandIn
    soap: SoapServer
    table: dict[str, Any]
    env: dict[str, str]
    tools: dict[str, str] = field(default_factory=lambda: dict(LINUX_TOOLS))
    platform: str = "linux"
    labels: tuple[LabelSpec, ...] = field(default=REQUIRED_LABELS)
    label_repo: str = REPO  # where the owner creates ``labels`` before the run
    create_labels: bool = False
    skip_network: bool = False
    core_pattern: str = "/var/crash/core.%e.%p"  # "/var/crash" is replaced by a folder under tmp

    def probe(self) -> Probe:
        owner = connect(
            GitHubSettings(token_env=("OWNER_TOKEN",)),
            env={"OWNER_TOKEN": ADMIN_TOKEN},
            repo=self.label_repo,
            api_url=self.standin.api_url,
            write_interval_s=0,
        )
        owner.ensure_labels(self.labels)
        path = self.tmp / "crashbot.toml"
        path.write_text(toml_text(self.table), encoding="utf-8")
        return Probe(
            config=load(path, env={}),
            env=self.env,
            which=self.tools.get,
            platform=self.platform,
            workspace=self.tmp / "workspace",
            skip_network=self.skip_network,
            create_labels=self.create_labels,
            write_interval_s=0.0,
            core_pattern=self.read_core_pattern,
        )

    def read_core_pattern(self) -> CorePattern:
        cores = self.tmp / "cores"
        cores.mkdir(exist_ok=True)
        return parse_core_pattern(self.core_pattern.replace("/var/crash", str(cores)))

    def run(self) -> list[CheckResult]:
        return doctor.run_checks(self.probe())


@pytest.fixture
def setup(tmp_path: Path, soap: SoapServer, standin: StandIn) -> Setup:
    (tmp_path / "Crashes").mkdir()
    (tmp_path / "workspace").mkdir()
    # a running uploader's heartbeat: its last pass uploaded
    Health(status_path(tmp_path / "spool.sqlite3")).after_pass(uploaded=1, failed=0, error="", pending=0)
    standin.add_token(TOKEN, LOGIN)
    standin.add_token(ADMIN_TOKEN, "acme")
    standin.set_permission(REPO, LOGIN, "write")
    return Setup(
        tmp=tmp_path,
        standin=standin,
        soap=soap,
        table={
            "github": {"repo": REPO, "api_url": standin.api_url, "uploader_login": UPLOADER},
            "uploader": {
                "crash_dirs": [str(tmp_path / "Crashes")],
                "spool": str(tmp_path / "spool.sqlite3"),
            },
            "fix": {"build_dir": str(tmp_path / "build")},
            "deploy": {"control": "soap", "soap": {"host": "127.0.0.1", "port": soap.port}},
            "symbols": {"store": str(tmp_path / "symbols")},
        },
        env={
            "CRASHBOT_TOKEN": TOKEN,
            "CRASHBOT_SIGNING_KEY": SIGNING_KEY,
            "CRASHBOT_SOAP_USER": SOAP_USER,
            "CRASHBOT_SOAP_PASSWORD": SOAP_PASSWORD,
        },
    )


def row(results: list[CheckResult], name: str) -> CheckResult:
    found = [r for r in results if r.name == name]
    assert len(found) == 1, f"no single row {name!r} in {[r.name for r in results]}"
    return found[0]


def failures(results: list[CheckResult]) -> list[str]:
    return [r.name for r in results if r.status is Status.FAIL]


# ---------------------------------------------------------------------------------------------------
# the good setup


def test_doctor_good_setup_every_row_ok_or_skipped(setup: Setup) -> None:
    results = setup.run()

    assert {r.status for r in results} <= {Status.OK, Status.SKIP}, doctor.render_table(results)
    assert doctor.all_passed(results)
    # engine = none; deploy.systemd_sudo off; uploader.wer_reports is off by default
    assert [r.name for r in results if r.status is Status.SKIP] == [
        "WER reports",
        "deploy sudo",
        "fix engine",
    ]


def test_doctor_good_setup_rows_say_what_they_found(setup: Setup) -> None:
    results = setup.run()

    assert f"authenticated as {LOGIN}" in row(results, "github").detail
    assert f"{LOGIN} has write on {REPO}" in row(results, "repository access").detail
    assert LOGIN in row(results, "uploader identity").detail
    assert "TrinityCore rev. 0123abcd" in row(results, "server control (soap)").detail
    assert setup.soap.commands == ["server info"]
    assert "64 bytes" in row(results, "signing key").detail


# ---------------------------------------------------------------------------------------------------
# one thing broken at a time: that row FAILs, with its fix, and nothing else FAILs


def no_token(s: Setup) -> None:
    del s.env["CRASHBOT_TOKEN"]


def bad_token(s: Setup) -> None:
    s.env["CRASHBOT_TOKEN"] = "ghp_revoked"


def repo_missing(s: Setup) -> None:
    s.table["github"]["repo"] = "acme/no-such-repo"


def repo_unset(s: Setup) -> None:
    del s.table["github"]["repo"]


def read_only(s: Setup) -> None:
    s.standin.set_permission(REPO, LOGIN, "read")


def labels_missing(s: Setup) -> None:
    s.labels = REQUIRED_LABELS[:1]


def uploader_unset(s: Setup) -> None:
    del s.table["github"]["uploader_login"]


def no_signing_key(s: Setup) -> None:
    del s.env["CRASHBOT_SIGNING_KEY"]


def short_signing_key(s: Setup) -> None:
    s.env["CRASHBOT_SIGNING_KEY"] = "hunter2"


def crash_dir_missing(s: Setup) -> None:
    s.table["uploader"]["crash_dirs"].append(str(s.tmp / "gone" / "Crashes"))


def wer_dir_missing(s: Setup) -> None:
    s.table["uploader"].update(wer_reports=True, wer_dir=str(s.tmp / "no-such" / "ReportArchive"))


def soap_unreachable(s: Setup) -> None:
    s.table["deploy"]["soap"]["port"] = closed_port()


def soap_bad_password(s: Setup) -> None:
    s.env["CRASHBOT_SOAP_PASSWORD"] = "wrong"


def soap_no_account(s: Setup) -> None:
    del s.env["CRASHBOT_SOAP_USER"]


def no_cmake(s: Setup) -> None:
    del s.tools["cmake"]


def no_git(s: Setup) -> None:
    del s.tools["git"]


def no_compiler(s: Setup) -> None:
    del s.tools["g++"]


def engine_without_key(s: Setup) -> None:
    s.table["fix"].update({"engine": "anthropic", "model": "claude-sonnet-4-5"})


def build_dir_in_workspace(s: Setup) -> None:
    s.table["fix"]["build_dir"] = str(s.tmp / "workspace" / "build")


def unknown_control(s: Setup) -> None:
    s.table["deploy"]["control"] = "telnet"


def no_bwrap(s: Setup) -> None:
    del s.tools["bwrap"]


BROKEN: list[tuple[Callable[[Setup], None], str, str]] = [
    (no_token, "credentials", "set CRASHBOT_TOKEN"),
    (bad_token, "github", "wrong, expired or revoked"),
    (repo_missing, "repository access", "check github.repo's spelling"),
    (repo_unset, "repository", "set github.repo"),
    (read_only, "repository access", "give fix-runner the Write role"),
    (labels_missing, "labels", "crashbot doctor --create-labels"),
    (uploader_unset, "uploader identity", "CRASHBOT_UPLOADER_LOGIN"),
    (no_signing_key, "signing key", "secrets.token_hex(32)"),
    (short_signing_key, "signing key", "secrets.token_hex(32)"),
    (crash_dir_missing, "crash folders", "fix uploader.crash_dirs"),
    (wer_dir_missing, "WER reports", "set uploader.wer_dir to WER's ReportArchive folder"),
    (soap_unreachable, "server control (soap)", "SOAP.Enabled = 1"),
    (soap_bad_password, "server control (soap)", "$CRASHBOT_SOAP_USER/$CRASHBOT_SOAP_PASSWORD"),
    (soap_no_account, "server control (soap)", "env vars on the realm host"),
    (no_cmake, "tool: cmake", "install CMake"),
    (no_git, "tool: git", "install git"),
    (no_compiler, "tool: C++ compiler", "install g++ or clang++"),
    (engine_without_key, "fix engine", "fix.api_key_env"),
    (build_dir_in_workspace, "build folder", "outside the server checkout"),
    (no_bwrap, "fix sandbox", "apt-get install bubblewrap"),
]


@pytest.mark.parametrize(("breakage", "name", "fix"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_doctor_one_thing_broken_fails_that_row_with_its_fix(
    setup: Setup, breakage: Callable[[Setup], None], name: str, fix: str
) -> None:
    breakage(setup)

    results = setup.run()

    assert failures(results) == [name], doctor.render_table(results)
    assert fix in row(results, name).fix
    assert not doctor.all_passed(results)


def test_doctor_unknown_control_stops_at_load_naming_deploy_control(setup: Setup) -> None:
    """An unknown deploy.control used to reach doctor's config row; config.load refuses it now, so
    every command (doctor included) fails with the one line naming the key and the valid values."""
    unknown_control(setup)

    with pytest.raises(ConfigError) as error:
        setup.run()

    assert "deploy.control" in error.value.diagnostic()
    assert "not one of soap, ra, none" in error.value.diagnostic()


def test_doctor_bad_token_skips_the_rows_that_need_github(setup: Setup) -> None:
    bad_token(setup)

    results = setup.run()

    assert "401" in row(results, "github").detail
    for name in ("repository access", "repository visibility", "labels"):
        assert row(results, name).status is Status.SKIP


def test_doctor_soap_bad_password_says_login_refused(setup: Setup) -> None:
    soap_bad_password(setup)

    results = setup.run()

    assert "401" in row(results, "server control (soap)").detail


# ---------------------------------------------------------------------------------------------------
# more than pass/fail


def test_doctor_create_labels_creates_the_missing_ones(setup: Setup) -> None:
    setup.labels = ()
    setup.create_labels = True

    results = setup.run()

    assert row(results, "labels").status is Status.OK
    assert "created" in row(results, "labels").detail
    names = {label["name"] for label in setup.standin.labels(REPO)}
    assert names >= {"crash", "crash-fix", "regression", "fix-deployed"}


def test_doctor_create_labels_creates_every_label_crashbot_uses_the_dashboards_too(setup: Setup) -> None:
    """Regression: --create-labels made only the four the loop relies on; the dashboard's crash-dashboard
    and fix-verified, the fix run's crash-fix-attempted and crash-fix-pr and the crash kinds were left to
    be made on first use."""
    setup.labels = REQUIRED_LABELS
    setup.create_labels = True

    results = setup.run()

    assert row(results, "labels").status is Status.OK
    made = {label["name"]: label for label in setup.standin.labels(REPO)}
    assert set(made) >= {spec.name for spec in ALL_LABELS}
    assert {"crash-dashboard", "fix-verified", "crash-fix-attempted", "crash-fix-pr", "crash:assert"} <= set(
        made
    )
    assert made["crash-dashboard"]["color"] == DASHBOARD.color
    assert f"created {len(ALL_LABELS) - len(REQUIRED_LABELS)}:" in row(results, "labels").detail

    again = setup.run()
    assert row(again, "labels").detail == "crash, crash-fix, regression, fix-deployed exist"


def test_doctor_without_create_labels_passes_when_only_first_use_labels_are_missing(setup: Setup) -> None:
    results = setup.run()

    assert row(results, "labels").status is Status.OK
    assert "crashbot doctor --create-labels" in row(results, "labels").detail
    assert not {label["name"] for label in setup.standin.labels(REPO)} & {"crash-dashboard", "fix-verified"}


def test_doctor_public_repository_is_a_warning_not_a_failure(setup: Setup) -> None:
    setup.standin.add_repo("acme/public-realm", private=False, auto_init=True)
    setup.table["github"]["repo"] = setup.label_repo = "acme/public-realm"

    results = setup.run()

    assert row(results, "repository visibility").status is Status.WARN
    assert "private" in row(results, "repository visibility").fix
    assert doctor.all_passed(results)


def test_doctor_token_that_is_the_uploader_is_named_so(setup: Setup) -> None:
    setup.table["github"]["uploader_login"] = LOGIN

    results = setup.run()

    assert "these credentials are the uploader" in row(results, "uploader identity").detail


def test_doctor_skip_network_asks_neither_github_nor_soap(setup: Setup) -> None:
    setup.skip_network = True
    probe = setup.probe()
    setup.standin.clear_requests()

    results = doctor.run_checks(probe)

    assert setup.standin.requests == []
    assert setup.soap.commands == []
    for name in ("github", "repository access", "labels", "server control (soap)"):
        assert row(results, name).status is Status.SKIP
    assert doctor.all_passed(results)


def test_doctor_windows_without_cdb_warns_and_still_passes(setup: Setup) -> None:
    setup.platform = "win32"
    setup.tools = {"git": r"C:\Git\cmd\git.exe", "cmake": r"C:\CMake\bin\cmake.exe", "cl": r"C:\VS\cl.exe"}

    results = setup.run()

    assert row(results, "tool: cdb").status is Status.WARN
    assert "Debugging Tools for Windows" in row(results, "tool: cdb").fix
    assert row(results, "tool: C++ compiler").status is Status.OK
    assert doctor.all_passed(results)


def test_doctor_windows_finds_visual_studio_and_cdb_outside_path(setup: Setup) -> None:
    program_files = setup.tmp / "Program Files (x86)"
    for part in (
        ("Microsoft Visual Studio", "Installer", "vswhere.exe"),
        ("Windows Kits", "10", "Debuggers", "x64", "cdb.exe"),
    ):
        exe = program_files.joinpath(*part)
        exe.parent.mkdir(parents=True)
        exe.write_bytes(b"MZ")
    setup.platform = "win32"
    setup.tools = {"git": r"C:\Git\cmd\git.exe", "cmake": r"C:\CMake\bin\cmake.exe"}
    setup.env["ProgramFiles(x86)"] = str(program_files)

    results = setup.run()

    assert "vswhere" in row(results, "tool: C++ compiler").detail
    assert row(results, "tool: cdb").status is Status.OK
    assert doctor.all_passed(results)


def test_doctor_linux_without_gdb_warns(setup: Setup) -> None:
    del setup.tools["gdb"]

    results = setup.run()

    assert row(results, "tool: gdb").status is Status.WARN
    assert doctor.all_passed(results)


def test_doctor_no_config_file_fails_the_config_row(setup: Setup) -> None:
    probe = setup.probe()
    probe.config = Config()  # what load() returns when there is no crashbot.toml anywhere

    result = doctor.check_config(probe)

    assert result.status is Status.FAIL
    assert "crashbot init" in result.fix


def test_doctor_check_that_crashes_is_its_own_failed_row(setup: Setup) -> None:
    def check_exploding(p: Probe) -> CheckResult:
        raise ZeroDivisionError("boom")

    results = doctor.run_checks(setup.probe(), [check_exploding, doctor.check_git])

    assert [r.status for r in results] == [Status.FAIL, Status.OK]
    assert results[0].name == "exploding"
    assert "ZeroDivisionError: boom" in results[0].detail


def test_render_table_has_a_row_per_check_and_counts(setup: Setup) -> None:
    no_cmake(setup)
    results = setup.run()

    table = doctor.render_table(results)

    lines = table.splitlines()
    assert lines[0].split() == ["check", "status", "detail", "fix"]
    assert any(
        line.startswith("tool: cmake") and "FAIL" in line and "install CMake" in line for line in lines
    )
    assert (
        lines[-1] == f"{len(results) - 4} OK, 0 WARN, 1 FAIL, 3 SKIP"
    )  # skipped: WER reports, deploy sudo, engine


# ---------------------------------------------------------------------------------------------------
# GitHub App credentials


def test_doctor_github_app_credentials_authenticate_as_the_app(setup: Setup) -> None:
    pem = rsa_pem()
    setup.standin.add_app("4242", "77", pem, login="crashbot")
    setup.table["github"].update({"app_id": "4242", "app_installation_id": "77"})
    del setup.env["CRASHBOT_TOKEN"]
    setup.env["CRASHBOT_APP_PRIVATE_KEY"] = pem

    results = setup.run()

    assert "GitHub App 4242" in row(results, "credentials").detail
    assert row(results, "github").status is Status.OK
    # GitHub may or may not report an installation token's permissions on the repository
    assert row(results, "repository access").status in (Status.OK, Status.WARN)
    assert doctor.all_passed(results), doctor.render_table(results)
    minted = [r for r in setup.standin.requests if r.path == "/app/installations/77/access_tokens"]
    assert [r.status for r in minted] == [201]


def rsa_pem() -> str:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def test_doctor_github_app_with_another_apps_key_fails_github_with_app_fix(setup: Setup) -> None:
    setup.standin.add_app("4242", "77", rsa_pem(), login="crashbot")
    setup.table["github"].update({"app_id": "4242", "app_installation_id": "77"})
    del setup.env["CRASHBOT_TOKEN"]
    setup.env["CRASHBOT_APP_PRIVATE_KEY"] = rsa_pem()

    results = setup.run()

    assert failures(results) == ["github"]
    assert "401" in row(results, "github").detail
    assert "private key belongs to that App" in row(results, "github").fix


def test_doctor_github_app_without_private_key_fails_credentials(setup: Setup) -> None:
    setup.table["github"].update({"app_id": "4242", "app_installation_id": "77"})

    results = setup.run()

    assert failures(results) == ["credentials"]
    assert "CRASHBOT_APP_PRIVATE_KEY" in row(results, "credentials").fix


def test_doctor_app_ids_with_only_a_token_stored_says_the_app_wins_and_where_the_key_goes(
    setup: Setup,
) -> None:
    """Issue 14: the README put the App id into crashbot.toml while the uploader stored only a token."""
    setup.table["github"].update({"app_id": "4242", "app_installation_id": "77"})
    assert setup.env["CRASHBOT_TOKEN"]

    credentials = row(setup.run(), "credentials")

    assert credentials.status is Status.FAIL
    assert "a token is set, but github.app_id selects the App" in credentials.detail
    assert "-AppPrivateKeyFile" in credentials.fix and "/etc/crashbot/credentials/" in credentials.fix


# ---------------------------------------------------------------------------------------------------
# through the command line


def fake_tools(directory: Path) -> None:
    """Executables named like the runner's tools, found by the real ``shutil.which`` on PATH."""
    directory.mkdir()
    names = (
        ("git", "cmake", "cl", "cdb") if sys.platform == "win32" else ("git", "cmake", "g++", "gdb", "bwrap")
    )
    for name in names:
        exe = directory / (f"{name}.bat" if sys.platform == "win32" else name)
        exe.write_text("@echo off\n" if sys.platform == "win32" else "#!/bin/sh\n", encoding="utf-8")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_doctor_cli_good_setup_exits_0_and_prints_the_table(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    probe = setup.probe()  # writes crashbot.toml and the labels
    fake_tools(setup.tmp / "bin")
    monkeypatch.setenv("PATH", str(setup.tmp / "bin"))
    monkeypatch.chdir(setup.tmp / "workspace")
    for name in ("CRASHBOT_CONFIG", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in setup.env.items():
        monkeypatch.setenv(name, value)

    code = main(["--config", str(probe.config.source), "doctor"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 FAIL" in out.splitlines()[-1]
    assert f"authenticated as {LOGIN}" in out


def test_doctor_cli_failure_exits_1(setup: Setup, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    probe = setup.probe()
    monkeypatch.chdir(setup.tmp / "workspace")
    monkeypatch.delenv("CRASHBOT_SIGNING_KEY", raising=False)
    monkeypatch.setenv("CRASHBOT_TOKEN", TOKEN)

    code = main(["--config", str(probe.config.source), "doctor", "--skip-network"])

    out = capsys.readouterr().out
    assert code == 1
    assert "signing key" in out
    assert os.environ.get("CRASHBOT_SIGNING_KEY") is None


# ---------------------------------------------------------------------------------------------------
# symbols (issue 12)


def test_doctor_without_llvm_symbolizer_warns_with_the_install_command(setup: Setup) -> None:
    del setup.tools["llvm-symbolizer"]
    result = row(setup.run(), "tool: llvm-symbolizer")
    assert result.status is Status.WARN and "apt install llvm" in result.fix

    setup.platform = "win32"
    result = row(setup.run(), "tool: llvm-symbolizer")
    assert result.status is Status.WARN and "LLVM" in result.fix and "-InstallLlvm" in result.fix


def test_doctor_without_a_symbol_store_warns_how_to_turn_it_on(setup: Setup) -> None:
    del setup.table["symbols"]
    result = row(setup.run(), "symbol store")
    assert result.status is Status.WARN and "[symbols] store" in result.fix


def test_doctor_symbol_store_with_a_damaged_index_fails_naming_it(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "symbols").mkdir()
    (tmp_path / "symbols" / "index.json").write_text("{", encoding="utf-8")
    result = row(setup.run(), "symbol store")
    assert result.status is Status.FAIL and "index.json" in result.detail


@pytest.mark.parametrize(
    ("pattern", "tools", "status", "words"),
    [
        ("/var/crash/core.%e.%p", {}, Status.OK, "which crashbot watches"),
        ("/nonexistent-crashbot/core.%e", {}, Status.WARN, "does not exist"),
        (
            "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h",
            {"coredumpctl": "/bin/coredumpctl"},
            Status.OK,
            "coredumpctl",
        ),
        ("|/lib/systemd/systemd-coredump %P", {}, Status.WARN, "coredumpctl is not on PATH"),
        ("|/usr/share/apport/apport -p%p -s%s -c%c", {}, Status.WARN, "which crashbot cannot read"),
        ("core", {}, Status.WARN, "the server's working directory"),
        ("/var/crash/%e/core", {}, Status.WARN, "a folder that varies"),
    ],
)
def test_doctor_core_pattern_says_where_cores_go_and_how_to_fix_it(
    setup: Setup, pattern: str, tools: dict[str, str], status: Status, words: str
) -> None:
    setup.core_pattern = pattern
    setup.tools = {**setup.tools, **tools}
    result = doctor.check_core_pattern(setup.probe())
    assert result.status is status, result
    assert words in result.detail
    if status is Status.WARN and "cannot read" in result.detail:
        assert "sysctl -w kernel.core_pattern=" in result.fix


# ---------------------------------------------------------------------------------------------------
# the uploader's heartbeat (issue 14)


def test_doctor_uploader_status_shows_last_upload_and_pending(setup: Setup) -> None:
    result = row(setup.run(), "uploader status")
    assert result.status is Status.OK
    assert "0 pending" in result.detail and "last upload " in result.detail
    assert "last upload never" not in result.detail


def test_doctor_uploader_failing_warns_with_the_last_error(setup: Setup) -> None:
    health = Health(status_path(setup.tmp / "spool.sqlite3"))
    health.after_pass(uploaded=0, failed=1, error="GitHub refused the token (401)", pending=4)
    result = row(setup.run(), "uploader status")
    assert result.status is Status.WARN
    assert "4 pending" in result.detail and "GitHub refused the token (401)" in result.detail


def test_doctor_uploader_without_heartbeat_is_skipped(setup: Setup) -> None:
    status_path(setup.tmp / "spool.sqlite3").unlink()
    result = row(setup.run(), "uploader status")
    assert result.status is Status.SKIP and "crashbot watch has not run" in result.detail


# ---------------------------------------------------------------------------------------------------
# stopping crashbot watch within its service manager's stop timeout


@pytest.mark.parametrize(
    ("timeout_s", "status", "words"),
    [
        (5.0, Status.OK, "waits up to 15s for the request in flight (github.timeout_s = 5)"),
        (15.0, Status.OK, "waits up to 25s for the request in flight (github.timeout_s = 15)"),
        (16.0, Status.WARN, "may need 26s, but crashbot watch kills its publisher after 25s"),
        (120.0, Status.WARN, "may need 130s, but crashbot watch kills its publisher after 25s"),
    ],
)
def test_doctor_watch_stop_warns_when_a_request_cannot_finish_within_the_service_stop_timeout(
    setup: Setup, timeout_s: float, status: Status, words: str
) -> None:
    setup.table["github"]["timeout_s"] = timeout_s
    result = row(setup.run(), "watch stop")
    assert result.status is status and words in result.detail, result
    assert "30s" in result.detail
    if status is Status.WARN:
        assert result.fix == "set github.timeout_s to 15 or less"


# ---------------------------------------------------------------------------------------------------
# the deploy account's sudo rule (deploy.systemd_sudo); tests/test_runner_setup.py asks the real sudo about
# the line install-runner.sh writes


UNIT = "worldserver@main"
SUDO_LIST = [
    ("sudo", "-n", "-l", "systemctl", "start", UNIT),
    ("sudo", "-n", "-l", "systemctl", "stop", UNIT),
    ("sudo", "-n", "-l", "systemctl", "kill", "--signal=SIGKILL", UNIT),
]


def _sudo_probe(setup: Setup, runner: RecordingRunner) -> Probe:
    setup.table["deploy"].update({"backend": "systemd", "service_name": UNIT, "systemd_sudo": True})
    probe = setup.probe()
    probe.run = runner
    return probe


def test_doctor_deploy_sudo_asks_sudo_about_exactly_the_commands_deploy_runs(setup: Setup) -> None:
    runner = RecordingRunner()
    for argv in SUDO_LIST:
        runner.add(argv, f"/usr/bin/{' '.join(argv[3:])}\n")

    result = doctor.check_deploy_sudo(_sudo_probe(setup, runner))

    assert result.status is Status.OK, result
    assert runner.calls == SUDO_LIST
    assert f"systemctl start|stop|kill {UNIT}" in result.detail


def test_doctor_deploy_sudo_refused_names_the_commands_and_the_installer(setup: Setup) -> None:
    runner = RecordingRunner()
    runner.add(SUDO_LIST[0], "/usr/bin/systemctl start worldserver@main\n")
    runner.add(SUDO_LIST[1], "/usr/bin/systemctl stop worldserver@main\n")
    runner.add(SUDO_LIST[2], "", returncode=1, stderr="sudo: a password is required\n")

    result = doctor.check_deploy_sudo(_sudo_probe(setup, runner))

    assert result.status is Status.FAIL
    assert result.detail == f"sudo -n refuses this account systemctl kill --signal=SIGKILL {UNIT}"
    assert f"install-runner.sh --role deploy --unit {UNIT}" in result.fix


def test_doctor_deploy_sudo_without_sudo_installed_is_one_line(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup.table["deploy"].update({"backend": "systemd", "service_name": UNIT, "systemd_sudo": True})
    probe = setup.probe()
    empty = tmp_path / "no-programs"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    result = doctor.check_deploy_sudo(probe)

    assert result.status is Status.FAIL and "'sudo' is not installed" in result.detail
    assert "\n" not in result.detail and "apt-get install sudo" in result.fix


def test_doctor_watch_stop_is_skipped_where_crashbot_watch_does_not_run(setup: Setup) -> None:
    """A fix runner may well raise github.timeout_s: no uploader stops there, so nothing to warn about."""
    del setup.table["uploader"]["crash_dirs"]
    status_path(setup.tmp / "spool.sqlite3").unlink()
    setup.table["github"]["timeout_s"] = 60.0
    result = row(setup.run(), "watch stop")
    assert result.status is Status.SKIP and "crashbot watch does not run here" in result.detail


def test_doctor_wer_reports_row_is_skipped_when_off_and_passes_on_a_readable_archive(setup: Setup) -> None:
    assert row(setup.run(), "WER reports").status is Status.SKIP
    archive = setup.tmp / "ReportArchive"
    archive.mkdir()
    setup.table["uploader"].update(wer_reports=True, wer_dir=str(archive))
    result = row(setup.run(), "WER reports")
    assert (result.status, result.detail) == (Status.OK, f"{archive}: reports of worldserver.exe")
