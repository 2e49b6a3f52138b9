"""runner-setup/install-runner.sh: the fix and the deploy runner, each under its own Linux account.

How it runs here. The script runs for real, as root, with ``--root DIR`` (a throwaway folder) for every
file it writes (homes, venvs, the systemd units, the sudoers drop-in), so nothing lands in the host's
``/etc``, ``/home`` or ``/opt``; the accounts are real (unique names, removed afterwards), because "the fix
account cannot read the deploy account's home" is a fact about real uids that no dry run can show. That
needs root, which this CI container has; elsewhere those tests skip and the ``--dry-run`` tests still run.
Two things stand in for what needs the internet: the runner package is a tarball whose ``config.sh``
records what it was given (the real one registers with GitHub), and crashbot is a minimal wheel pip
installs offline (``PIP_NO_INDEX``; the real wheel is tested in tests/test_install.py).

What the stand-in mimics, read in github.com/actions/runner: config.sh takes any argument from an
``ACTIONS_RUNNER_INPUT_<NAME>`` variable and masks secret ones (src/Runner.Listener/CommandSettings.cs),
refuses to run as root, and writes ``.runner`` once registered; the service entry point ``bin/runsvc.sh``
reads ``.path`` from its working folder (src/Misc/layoutbin/runsvc.sh, actions.runner.service.template).
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import doctor
from bot.config import from_mapping
from bot.deploy.shell import CommandResult, run_command
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "runner-setup" / "install-runner.sh"
URL = "https://github.com/owner/server"
TOKEN_ENV = "CRASHBOT_RUNNER_TOKEN"
UNIT = "worldserver@main"
SUDO_COMMANDS = [
    f"/usr/bin/systemctl start {UNIT}",
    f"/usr/bin/systemctl stop {UNIT}",
    f"/usr/bin/systemctl restart {UNIT}",
    f"/usr/bin/systemctl kill --signal=SIGKILL {UNIT}",
]
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None,
    reason="creating accounts needs root, useradd and runuser",
)

# The stand-in for the runner's config.sh: it refuses root as the real one does, records its arguments,
# its user and the token it found in its environment, and looks at every process's command line for that
# token while the installer's commands that lead to it are still running.
CONFIG_SH = """#!/bin/bash
set -eu
[ "$(id -u)" -ne 0 ] || { echo "Must not run with sudo" >&2; exit 1; }
printf '%s\\n' "$@" > config-argv
id -un > config-user
printf '%s' "${ACTIONS_RUNNER_INPUT_TOKEN:-}" > config-token
printf '%s' "${CRASHBOT_RUNNER_TOKEN:-unset}" > config-operator-variable
seen=absent
for f in /proc/[0-9]*/cmdline; do
    cmd=$(tr '\\0' ' ' < "$f" 2>/dev/null) || continue
    if [ -n "${ACTIONS_RUNNER_INPUT_TOKEN:-}" ] && [[ $cmd == *"$ACTIONS_RUNNER_INPUT_TOKEN"* ]]; then seen=found; fi
done
echo "$seen" > config-token-on-a-command-line
echo call >> config-calls
echo '{"agentName": "stand-in"}' > .runner
"""
RUNSVC_SH = "#!/bin/bash\nexec ./run.sh\n"


@dataclass(frozen=True)
class Inputs:
    wheel: Path
    tarball: Path


def _wheel(folder: Path) -> Path:
    """A wheel named crashbot with a `crashbot` console script: enough to see what pip put where."""
    name = "crashbot-0.0.1"
    files = {
        "crashbot_probe/__init__.py": "def main() -> None:\n    print('crashbot stand-in')\n",
        f"{name}.dist-info/METADATA": "Metadata-Version: 2.1\nName: crashbot\nVersion: 0.0.1\n",
        f"{name}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{name}.dist-info/entry_points.txt": "[console_scripts]\ncrashbot = crashbot_probe:main\n",
    }
    path = folder / f"{name}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as whl:
        for member, text in files.items():
            data = text.encode()
            whl.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}")
        whl.writestr(f"{name}.dist-info/RECORD", "\n".join([*record, f"{name}.dist-info/RECORD,,"]) + "\n")
    return path


def _tarball(folder: Path) -> Path:
    layout = folder / "runner-layout"
    (layout / "bin").mkdir(parents=True)
    for rel, text in (("config.sh", CONFIG_SH), ("bin/runsvc.sh", RUNSVC_SH)):
        (layout / rel).write_text(text, encoding="utf-8")
        (layout / rel).chmod(0o755)
    path = folder / "actions-runner-linux-x64-0.0.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(layout, arcname=".")  # like GitHub's package: "./" first, with its own mode
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp("runner-inputs")
    return Inputs(_wheel(folder), _tarball(folder))


def _run(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PIP_NO_INDEX"] = "1"  # the wheel has no dependencies: pip never needs an index
    if token is not None:
        env[TOKEN_ENV] = token
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, check=False, timeout=300
    )


def _args(inputs: Inputs, role: str, *extra: str, spec: str | None = None) -> list[str]:
    return [
        "--role",
        role,
        "--spec",
        spec or str(inputs.wheel),
        "--url",
        URL,
        "--runner-tarball",
        str(inputs.tarball),
        *extra,
    ]


# --- refusals: one line, nothing done -----------------------------------------------------------------


@pytest.mark.parametrize("spec", ["crashbot", "crashbot==0.1.0", "crashbot[dev]"])
def test_a_bare_package_name_is_refused_with_one_line(inputs: Inputs, spec: str) -> None:
    result = _run("--dry-run", *_args(inputs, "fix", spec=spec), token="t")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "bare package name" in line and "not published on PyPI" in line
    assert result.stdout == ""  # not one command printed, let alone run


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--role", "build"], "--role must be fix or deploy"),
        (["--url", "github.com/owner/server"], "--url must be the repository"),
        (["--runner-tarball", "https://example.org/runner.tar.gz"], "--runner-sha256"),
        (["--runner-tarball", "ftp://example.org/runner.tar.gz"], "a file or an https URL"),
        (["--token-env", "runner-token"], "--token-env must be the NAME"),
        (["--unit", "worldserver, ALL"], "--unit must be a systemd unit name"),
        (["--account", "Root Admin"], "--account must be"),
        (["--install-dir", "/srv"], "--install-dir is for --role deploy"),
        (["--bogus", "x"], "unknown option '--bogus'"),
    ],
)
def test_bad_arguments_are_refused_with_one_line(inputs: Inputs, extra: list[str], says: str) -> None:
    result = _run("--dry-run", *_args(inputs, "fix"), *extra, token="t")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert says in line
    assert result.stdout == ""


# --- --dry-run: every command, and never the token -------------------------------------------------------


def test_dry_run_prints_every_command_of_a_fix_install_and_never_the_token(inputs: Inputs) -> None:
    token = "AAREGISTRATION" + secrets.token_hex(8)
    result = _run(
        "--dry-run",
        *_args(inputs, "fix", "--account", "cb-dry-fix", "--root", "/nonexistent-never-made"),
        token=token,
    )
    assert result.returncode == 2  # --root must exist; then again with one that does
    root = tempfile.mkdtemp(prefix="crashbot-runner-dry-")
    try:
        result = _run(
            "--dry-run", *_args(inputs, "fix", "--account", "cb-dry-fix", "--root", root), token=token
        )
    finally:
        shutil.rmtree(root)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert token not in out + result.stderr
    home = f"{root}/home/cb-dry-fix"
    assert (
        f"would run: useradd --system --user-group --no-create-home --home-dir {home} --shell /usr/sbin/nologin"
        in out
    )
    assert f"would run: install -d -m 0700 -o cb-dry-fix -g cb-dry-fix {home}\n" in out
    # inside the home, the account itself makes and closes its folders (root never follows its links)
    assert f"would run: runuser -u cb-dry-fix -- mkdir -p -m 0700 {home}/actions-runner {home}/_work\n" in out
    assert f"would run: runuser -u cb-dry-fix -- chmod 0700 {home}/actions-runner {home}/_work\n" in out
    assert f"would write {home}/actions-runner/.path (mode 0600, as cb-dry-fix)" in out
    assert f"pip install --quiet --disable-pip-version-check --upgrade {inputs.wheel}" in out
    assert f"runuser -u cb-dry-fix -- tar --no-overwrite-dir -xzf - -C {home}/actions-runner" in out
    (config,) = [line for line in out.splitlines() if "./config.sh" in line]
    assert config.startswith("would run: runuser -u cb-dry-fix -- env -C")
    assert f"--labels crashbot-fix --work {home}/_work" in config
    assert "--token" not in config
    assert "as ACTIONS_RUNNER_INPUT_TOKEN (environment, not the command line)" in out
    assert "NoNewPrivileges=true" in out
    assert "sudoers" not in out
    assert "systemctl enable" not in out  # --root never starts a service


def test_dry_run_of_a_deploy_install_shows_the_sudoers_lines_and_the_realm_label(inputs: Inputs) -> None:
    result = _run("--dry-run", *_args(inputs, "deploy", "--realm", "pvp", "--unit", UNIT), token="t")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "--labels realm-pvp" in out
    assert "useradd --system --user-group" in out and " crashbot-deploy\n" in out
    assert "/home/crashbot-deploy/_work" in out
    assert (
        "would write /etc/sudoers.d/crashbot-deploy (mode 0440, owner root) after visudo -cf accepts it"
        in out
    )
    assert _sudo_commands(out) == SUDO_COMMANDS
    assert "NoNewPrivileges" not in out.replace("# No NoNewPrivileges", "")
    assert "would run: systemctl daemon-reload" in out
    assert "would run: systemctl enable --now crashbot-deploy-runner.service" in out


def _sudo_commands(text: str) -> list[str]:
    (rule,) = [line for line in text.splitlines() if "NOPASSWD:" in line]
    return [c.strip().replace("\\=", "=") for c in rule.split("NOPASSWD:", 1)[1].split(",")]


# --- for real: accounts, files, permissions -------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    root: Path
    fix: str
    deploy: str
    game: str  # the account the realm's worldserver runs as, owner of its install folder
    install_dir: Path
    token: str
    first: dict[str, subprocess.CompletedProcess[str]]
    again: dict[str, subprocess.CompletedProcess[str]]
    written: tuple[dict[str, tuple[str, int, int]], dict[str, tuple[str, int, int]]]  # after each round

    def home(self, account: str) -> Path:
        return self.root / "home" / account


def _as(account: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", account, "--", *argv], capture_output=True, text=True, check=False
    )


def _written(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file the script writes (units, sudoers, records, .path): text, mode and owner."""
    files = [
        *(root / "etc").rglob("*"),
        *(root / "opt").glob("crashbot/*/*"),
        *root.glob("home/*/actions-runner/.path"),
    ]
    return {
        str(f): (f.read_text(), stat.S_IMODE(f.stat().st_mode), f.stat().st_uid)
        for f in files
        if f.is_file() and not f.is_symlink()
    }


@pytest.fixture(scope="module")
def installed(inputs: Inputs) -> Iterator[Installed]:
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("creating accounts needs root, useradd and runuser")
    tag = secrets.token_hex(3)
    fix, deploy, game = f"cbt{tag}-fix", f"cbt{tag}-deploy", f"cbt{tag}-wow"
    # the accounts must reach into the root: a world-traversable folder (pytest's own is 0700)
    root = Path(tempfile.mkdtemp(prefix="crashbot-runner-root-"))
    root.chmod(0o755)
    accounts = [game]
    try:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", game], check=True)
        install_dir = root / "srv" / "realm"
        install_dir.mkdir(parents=True)
        # as a realm often is: world-readable, with the database password in worldserver.conf
        (install_dir / "worldserver.conf").write_text("LoginDatabaseInfo = 127.0.0.1;3306;acore;secret\n")
        for path in (install_dir, install_dir / "worldserver.conf"):
            shutil.chown(path, game, game)
        install_dir.chmod(0o755)
        token = "AAREG" + secrets.token_hex(12)
        common = ["--root", str(root), "--unit", UNIT]
        runs = {
            "fix": _args(inputs, "fix", "--account", fix, *common),
            "deploy": _args(
                inputs, "deploy", "--account", deploy, "--install-dir", str(install_dir), *common
            ),
        }
        first, again = {}, {}
        for role, args in runs.items():
            accounts.append(fix if role == "fix" else deploy)
            first[role] = _run(*args, token=token)
        after_first = _written(root)
        for role, args in runs.items():
            again[role] = _run(*args)  # registered already: no token needed any more
        written = (after_first, _written(root))
        yield Installed(root, fix, deploy, game, install_dir, token, first, again, written)
    finally:
        for account in accounts:
            subprocess.run(["userdel", account], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


@needs_root
def test_both_roles_install_and_a_second_run_changes_nothing(installed: Installed) -> None:
    for role in ("fix", "deploy"):
        assert installed.first[role].returncode == 0, installed.first[role].stderr
        assert installed.again[role].returncode == 0, installed.again[role].stderr
        assert "OK: account" in installed.again[role].stderr
        assert "a runner is already registered" in installed.again[role].stderr
    for account in (installed.fix, installed.deploy):
        runner = installed.home(account) / "actions-runner"
        assert (runner / "config-calls").read_text() == "call\n"  # registered once, not on the rerun
    first, again = installed.written
    assert len(first) >= 8 and first == again  # 2 units, 1 sudoers, 2 roles, 1 install-dir, 2 .path


@needs_root
def test_each_role_has_its_own_account_with_a_private_home_and_work_folder(installed: Installed) -> None:
    fix, deploy = pwd.getpwnam(installed.fix), pwd.getpwnam(installed.deploy)
    assert fix.pw_uid != deploy.pw_uid and fix.pw_gid != deploy.pw_gid
    for entry in (fix, deploy):
        assert entry.pw_shell == "/usr/sbin/nologin"
        home = Path(entry.pw_dir)
        assert home == installed.home(entry.pw_name)
        for folder in (home, home / "actions-runner", home / "_work"):
            info = folder.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (entry.pw_uid, 0o700), folder


@needs_root
def test_the_fix_and_deploy_accounts_cannot_read_each_others_homes(installed: Installed) -> None:
    for reader, owner in ((installed.fix, installed.deploy), (installed.deploy, installed.fix)):
        home = installed.home(owner)
        listing = _as(reader, "ls", str(home))
        assert listing.returncode != 0 and "Permission denied" in listing.stderr
        argv = _as(reader, "cat", str(home / "actions-runner" / "config-argv"))
        assert argv.returncode != 0 and argv.stdout == ""
        assert _as(owner, "cat", str(home / "actions-runner" / "config-argv")).returncode == 0


@needs_root
def test_crashbot_is_in_a_venv_per_role_that_the_runner_account_cannot_change(installed: Installed) -> None:
    for account in (installed.fix, installed.deploy):
        venv = installed.root / "opt" / "crashbot" / account / "venv"
        assert (venv / "bin" / "crashbot").is_file()
        assert venv.stat().st_uid == 0
        assert _as(account, str(venv / "bin" / "crashbot")).stdout == "crashbot stand-in\n"
        assert _as(account, "touch", str(venv / "bin" / "planted")).returncode != 0
        path = (installed.home(account) / "actions-runner" / ".path").read_text()
        assert path.startswith(f"{venv}/bin:")


@needs_root
def test_the_runner_registers_as_its_account_with_its_role_label_and_the_token_only_in_its_environment(
    installed: Installed,
) -> None:
    for account, label in ((installed.fix, "crashbot-fix"), (installed.deploy, "realm-main")):
        runner = installed.home(account) / "actions-runner"
        assert (runner / "config-user").read_text() == f"{account}\n"
        argv = (runner / "config-argv").read_text().splitlines()
        assert argv == [
            "--unattended",
            "--url",
            URL,
            "--name",
            argv[4],
            "--labels",
            label,
            "--work",
            str(installed.home(account) / "_work"),
            "--replace",
        ]
        assert argv[4].endswith(f"-{account}")
        assert (runner / "config-token").read_text() == installed.token
        # the operator's variable left the environment when the script read it: no other child got it
        assert (runner / "config-operator-variable").read_text() == "unset"
        assert (runner / "config-token-on-a-command-line").read_text() == "absent\n"
        for result in (*installed.first.values(), *installed.again.values()):
            assert installed.token not in result.stdout + result.stderr


@needs_root
def test_only_the_deploy_account_gets_sudo_and_only_for_its_unit(installed: Installed) -> None:
    drop_ins = installed.root / "etc" / "sudoers.d"
    assert sorted(p.name for p in drop_ins.iterdir()) == [installed.deploy]
    sudoers = drop_ins / installed.deploy
    info = sudoers.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o440)
    text = sudoers.read_text()
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(rules) == 1 and rules[0].startswith(f"{installed.deploy} ALL=(root) NOPASSWD: ")
    assert _sudo_commands(text) == SUDO_COMMANDS
    if shutil.which("visudo"):
        check = subprocess.run(["visudo", "-cf", str(sudoers)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


@needs_root
@pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo is not installed")
def test_the_sudoers_line_allows_exactly_what_crashbot_deploy_runs(installed: Installed) -> None:
    # The one test that touches the host: the drop-in, under a unique name, in /etc/sudoers.d for the
    # few commands below (sudo reads nothing else), so that sudo itself says what the account may run.
    live = Path("/etc/sudoers.d") / installed.deploy
    shutil.copy2(installed.root / "etc" / "sudoers.d" / installed.deploy, live)
    try:

        def may(account: str, *argv: str) -> bool:
            return _as(account, "sudo", "-n", "-l", *argv).returncode == 0

        for command in SUDO_COMMANDS:
            assert may(installed.deploy, *command.split()), command
            assert not may(installed.fix, *command.split()), command
        assert may(installed.deploy, "systemctl", "stop", UNIT)  # as crashbot runs it: through PATH
        for refused in (
            f"/usr/bin/systemctl status {UNIT}",  # pages through less, which runs a shell
            "/usr/bin/systemctl stop ssh",
            f"/usr/bin/systemctl start {UNIT} extra.service",
            f"/usr/bin/systemctl edit {UNIT}",
            "/bin/sh",
        ):
            assert not may(installed.deploy, *refused.split()), refused
    finally:
        live.unlink()


@needs_root
@pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo is not installed")
def test_crashbot_doctor_finds_the_sudoers_line_for_the_deploy_account_and_none_for_fix(
    installed: Installed,
) -> None:
    """doctor's *deploy sudo* row, run as each account against the real sudo and the line the script wrote."""
    live = Path("/etc/sudoers.d") / installed.deploy
    shutil.copy2(installed.root / "etc" / "sudoers.d" / installed.deploy, live)
    config = from_mapping({"deploy": {"backend": "systemd", "service_name": UNIT, "systemd_sudo": True}})

    def row(account: str) -> doctor.CheckResult:
        def as_account(argv: Sequence[str], timeout_s: float) -> CommandResult:
            return run_command(["runuser", "-u", account, "--", *argv], timeout_s)

        return doctor.check_deploy_sudo(doctor.Probe(config=config, env={}, run=as_account))

    try:
        deploy, fix = row(installed.deploy), row(installed.fix)
    finally:
        live.unlink()
    assert deploy.status is doctor.Status.OK, deploy
    assert fix.status is doctor.Status.FAIL
    assert fix.detail == f"sudo -n refuses this account systemctl start {UNIT}; systemctl stop {UNIT}; " + (
        f"systemctl kill --signal=SIGKILL {UNIT}"
    )


@needs_root
def test_releases_the_deploy_account_writes_are_readable_by_the_server_and_not_by_fix(
    installed: Installed,
) -> None:
    release = installed.install_dir / "releases" / "1"
    made = _as(
        installed.deploy,
        "sh",
        "-c",
        f"umask 077 && mkdir -p {release} && echo binary > {release}/worldserver",
    )
    assert made.returncode == 0, made.stderr
    assert _as(installed.game, "cat", str(release / "worldserver")).stdout == "binary\n"
    assert _as(installed.fix, "cat", str(release / "worldserver")).returncode != 0


@needs_root
def test_the_fix_account_is_shut_out_of_the_world_readable_install_folder(installed: Installed) -> None:
    conf = installed.install_dir / "worldserver.conf"
    assert stat.S_IMODE(installed.install_dir.stat().st_mode) & 0o005 == 0o005  # "other" may read and enter
    assert _as(installed.fix, "ls", str(installed.install_dir)).returncode != 0
    assert _as(installed.fix, "cat", str(conf)).returncode != 0
    assert _as(installed.deploy, "cat", str(conf)).stdout.startswith("LoginDatabaseInfo")
    assert _as(installed.game, "cat", str(conf)).stdout.startswith("LoginDatabaseInfo")
    if shutil.which("getfacl"):
        acl = subprocess.run(
            ["getfacl", "-p", str(installed.install_dir)], capture_output=True, text=True, check=True
        )
        assert f"user:{installed.fix}:---" in acl.stdout.splitlines()
        assert f"user:{installed.deploy}:rwx" in acl.stdout.splitlines()


@needs_root
def test_one_account_never_serves_both_roles(installed: Installed, inputs: Inputs) -> None:
    result = _run(
        *_args(inputs, "deploy", "--account", installed.fix, "--root", str(installed.root)), token="t"
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"account {installed.fix} is already the fix runner's account" in line
    assert not (installed.root / "etc" / "sudoers.d" / installed.fix).exists()


@needs_root
def test_a_first_install_without_the_token_stops_before_it_changes_anything(
    installed: Installed, inputs: Inputs
) -> None:
    account = f"cbt{secrets.token_hex(3)}-new"
    result = _run(*_args(inputs, "fix", "--account", account, "--root", str(installed.root)))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"set {TOKEN_ENV} to the registration token" in line
    assert subprocess.run(["id", account], capture_output=True, check=False).returncode != 0
    assert not installed.home(account).exists()


@needs_root
def test_the_runner_units_run_as_their_account_and_only_fix_forbids_new_privileges(
    installed: Installed,
) -> None:
    units = installed.root / "etc" / "systemd" / "system"
    for account, nnp in ((installed.fix, True), (installed.deploy, False)):
        unit = units / f"{account}-runner.service"
        text = unit.read_text()
        assert re.search(rf"^User={account}$", text, re.MULTILINE)
        runner = installed.home(account) / "actions-runner"
        assert re.search(rf"^ExecStart={runner}/runsvc.sh$", text, re.MULTILINE)
        assert re.search(r"^UMask=0077$", text, re.MULTILINE)
        assert bool(re.search(r"^NoNewPrivileges=true$", text, re.MULTILINE)) is nnp
        assert stat.S_IMODE(unit.stat().st_mode) == 0o644


@needs_root
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_runner_units_pass_systemd_analyze_verify(installed: Installed, tmp_path: Path) -> None:
    units = sorted((installed.root / "etc" / "systemd" / "system").glob("*-runner.service"))
    assert len(units) == 2
    for unit in units:
        result = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
    # and verify does catch a broken unit here (a relative ExecStart), so the check above can fail
    broken = tmp_path / units[0].name
    broken.write_text(
        re.sub(r"^ExecStart=.*$", "ExecStart=runsvc.sh", units[0].read_text(), flags=re.MULTILINE)
    )
    bad = subprocess.run(
        ["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0


def test_a_runner_package_url_is_fetched_over_https_only_and_checked_before_it_is_unpacked(
    inputs: Inputs,
) -> None:
    url = (
        "https://github.com/actions/runner/releases/download/v2.330.0/actions-runner-linux-x64-2.330.0.tar.gz"
    )
    digest = "0" * 64
    args = _args(inputs, "fix", "--account", "cb-dry-url")
    args[args.index(str(inputs.tarball))] = url
    result = _run("--dry-run", *args, "--runner-sha256", digest, token="t")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    fetch = lines.index(
        "would run: curl --fail --silent --show-error --location --proto =https --output "
        f"/opt/crashbot/cb-dry-url/actions-runner.tar.gz {url}"
    )
    check = lines.index(
        f"would check: sha256sum of /opt/crashbot/cb-dry-url/actions-runner.tar.gz is {digest}"
    )
    (unpack,) = [i for i, line in enumerate(lines) if " tar --no-overwrite-dir -xzf - " in line]
    assert fetch < check < unpack


def test_a_runner_package_with_another_sha256_is_refused_before_anything_runs(inputs: Inputs) -> None:
    good = hashlib.sha256(inputs.tarball.read_bytes()).hexdigest()
    assert _run("--dry-run", *_args(inputs, "fix"), "--runner-sha256", good, token="t").returncode == 0
    result = _run("--dry-run", *_args(inputs, "fix"), "--runner-sha256", "f" * 64, token="t")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "does not have the SHA-256 --runner-sha256 gives" in line
    assert result.stdout == ""


@needs_root
@pytest.mark.skipif(
    shutil.which("bwrap") is None or shutil.which("setpriv") is None, reason="needs bubblewrap and setpriv"
)
def test_the_fix_account_can_open_the_sandbox_under_its_units_no_new_privileges(installed: Installed) -> None:
    # what the fix runner's service does for every build (NoNewPrivileges=true, then bwrap as the account)
    sandbox = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL"]
    sandbox += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # (a system account with no login shell and no subuid range: bwrap needs only user namespaces)
    assert _as(installed.fix, "setpriv", "--no-new-privs", *sandbox, "true").returncode == 0


def test_every_option_the_readme_passes_to_install_runner_exists() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("runner-setup/install-runner.sh --role fix")
    block = readme[readme.rindex("```sh", 0, start) : readme.index("```", start)]
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", block)) - {"--preserve-env"}
    known = set(re.findall(r"^\s+(--[a-z][a-z0-9-]+)\)", SCRIPT.read_text(encoding="utf-8"), re.MULTILINE))
    assert used and used <= known, used - known


@needs_root
@pytest.mark.skipif(shutil.which("sudo") is None or shutil.which("gpasswd") is None, reason="needs sudo")
def test_a_fix_account_with_any_sudo_right_is_taken_out_of_admin_groups_or_refused(
    installed: Installed, inputs: Inputs
) -> None:
    args = _args(inputs, "fix", "--account", installed.fix, "--root", str(installed.root), "--unit", UNIT)
    subprocess.run(["gpasswd", "-a", installed.fix, "sudo"], capture_output=True, check=True)
    rerun = _run(*args)
    assert rerun.returncode == 0, rerun.stderr
    groups = subprocess.run(["id", "-nG", installed.fix], capture_output=True, text=True, check=True)
    assert "sudo" not in groups.stdout.split()
    # a rule of its own, anywhere sudo reads: the script stops rather than run a fix runner with it
    rule = Path("/etc/sudoers.d") / f"{installed.fix}-extra"
    rule.write_text(f"{installed.fix} ALL=(root) NOPASSWD: /usr/bin/id\n", encoding="utf-8")
    rule.chmod(0o440)
    try:
        refused = _run(*args)
    finally:
        rule.unlink()
    assert refused.returncode == 2
    assert "the fix account must have no sudo right" in refused.stderr.splitlines()[-1]


@needs_root
def test_a_rerun_never_follows_a_link_the_runner_account_planted_in_its_home(
    installed: Installed, inputs: Inputs
) -> None:
    # A fix job that got out of its sandbox owns the account's home: it swaps _work and .path for links
    # to root's files and waits for the operator to rerun the installer as root.
    victim = installed.root / "victim"
    victim.mkdir(mode=0o755)
    (victim / "secret").write_text("root only\n")
    (victim / "secret").chmod(0o600)
    home = installed.home(installed.fix)
    runner = home / "actions-runner"
    plant = f"mv {home}/_work {home}/_work.kept && ln -s {victim} {home}/_work && mv {runner}/.path {runner}/.path.kept"
    plant += f" && ln -s {victim}/secret {runner}/.path"
    assert _as(installed.fix, "sh", "-c", plant).returncode == 0
    try:
        rerun = _run(
            *_args(inputs, "fix", "--account", installed.fix, "--root", str(installed.root), "--unit", UNIT)
        )
        assert rerun.returncode == 2
        (line,) = rerun.stderr.splitlines()
        assert "is a symbolic link, not what this script made" in line
        for path, mode in ((victim, 0o755), (victim / "secret", 0o600)):
            info = path.stat()
            assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, mode), path
        assert (victim / "secret").read_text() == "root only\n"
    finally:
        restore = f"rm -f {home}/_work {runner}/.path && mv {home}/_work.kept {home}/_work"
        restore += f" && mv {runner}/.path.kept {runner}/.path"
        assert _as(installed.fix, "sh", "-c", restore).returncode == 0
        shutil.rmtree(victim)


# --- --uninstall: what the install made, for an account it created, and nothing else --------------------


def test_uninstall_of_an_account_that_does_not_exist_has_nothing_to_do(tmp_path: Path) -> None:
    account = f"cbt{secrets.token_hex(3)}-none"
    result = _run("--uninstall", "--dry-run", "--role", "fix", "--account", account, "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"nothing to remove: no account {account}" in result.stderr


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], "pass --role fix or --role deploy"),
        (["--role", "both"], "--role must be fix or deploy"),
        (["--role", "fix", "--account", "Root!"], "--account must be a lower-case user name"),
    ],
)
def test_uninstall_bad_arguments_are_refused_with_one_line(extra: list[str], says: str) -> None:
    result = _run("--uninstall", *extra)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert says in line


def _acl(path: Path) -> list[str]:
    out = subprocess.run(["getfacl", "-p", str(path)], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line and not line.startswith("#")]


def _exists(account: str) -> bool:
    return subprocess.run(["id", account], capture_output=True, check=False).returncode == 0


@dataclass(frozen=True)
class Uninstalled:
    root: Path
    fix: str
    deploy: str
    own: str  # an account that existed before the install: the install used it, never created it
    game: str  # the owner of the realm's install folder
    install_dir: Path
    installs: dict[str, subprocess.CompletedProcess[str]]
    acl_installed: list[str]  # the install folder's ACL after both installs
    dry: subprocess.CompletedProcess[str]
    refusals: dict[str, subprocess.CompletedProcess[str]]
    busy: subprocess.CompletedProcess[str]  # while a process ran as the fix account
    done: dict[str, subprocess.CompletedProcess[str]]
    again: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def uninstalled(inputs: Inputs) -> Iterator[Uninstalled]:
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("creating accounts needs root, useradd and runuser")
    tag = secrets.token_hex(3)
    fix, deploy, own, game = f"cbu{tag}-fix", f"cbu{tag}-deploy", f"cbu{tag}-own", f"cbu{tag}-wow"
    root = Path(tempfile.mkdtemp(prefix="crashbot-uninstall-root-"))
    root.chmod(0o755)
    accounts = [game, own, fix, deploy]
    sleeper: subprocess.Popen[bytes] | None = None
    try:
        for account in (game, own):
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", account], check=True)
        install_dir = root / "srv" / "realm"
        install_dir.mkdir(parents=True)
        shutil.chown(install_dir, game, game)
        install_dir.chmod(0o755)
        # what is not the install's and must stay: another drop-in, another home, another crashbot folder
        (root / "etc" / "sudoers.d").mkdir(parents=True)
        (root / "etc" / "sudoers.d" / "ops").write_text("ops ALL=(root) /usr/bin/id\n")
        (root / "home" / "someone").mkdir(parents=True)
        (root / "home" / "someone" / "notes").write_text("mine\n")
        (root / "opt" / "crashbot" / "venv").mkdir(parents=True)
        common = ["--root", str(root), "--unit", UNIT]
        runs = {
            "fix": _args(inputs, "fix", "--account", fix, *common),
            "deploy": _args(
                inputs, "deploy", "--account", deploy, "--install-dir", str(install_dir), *common
            ),
            "own": _args(inputs, "fix", "--account", own, *common),
        }
        installs = {name: _run(*args, token="AAREG" + tag) for name, args in runs.items()}
        acl_installed = _acl(install_dir)

        def uninstall(role: str, account: str, *extra: str) -> subprocess.CompletedProcess[str]:
            return _run("--uninstall", "--role", role, "--account", account, "--root", str(root), *extra)

        dry = uninstall("deploy", deploy, "--dry-run")
        refusals = {"own": uninstall("fix", own), "role": uninstall("deploy", fix)}
        sleeper = subprocess.Popen(["sleep", "600"], user=fix, group=fix, extra_groups=[], cwd="/")
        assert wait_until(lambda: fix in _ps_users()), "the process as the fix account did not start"
        busy = uninstall("fix", fix)
        sleeper.kill()
        sleeper.wait()
        sleeper = None
        done = {"fix": uninstall("fix", fix), "deploy": uninstall("deploy", deploy)}
        again = uninstall("fix", fix)
        yield Uninstalled(
            root,
            fix,
            deploy,
            own,
            game,
            install_dir,
            installs,
            acl_installed,
            dry,
            refusals,
            busy,
            done,
            again,
        )
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
        for account in accounts:
            subprocess.run(["userdel", account], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _ps_users() -> list[str]:
    out = subprocess.run(["ps", "-eo", "user:32="], capture_output=True, text=True, check=True).stdout
    return out.split()


def wait_until(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@needs_root
def test_uninstall_removes_the_accounts_homes_venvs_units_and_sudoers_line(uninstalled: Uninstalled) -> None:
    u = uninstalled
    assert all(r.returncode == 0 for r in u.installs.values()), {k: r.stderr for k, r in u.installs.items()}
    for role in ("fix", "deploy"):
        assert u.done[role].returncode == 0, u.done[role].stderr
        assert "stays listed (offline) under Settings > Actions > Runners" in u.done[role].stderr
    for account in (u.fix, u.deploy):
        assert not _exists(account)
        assert subprocess.run(["getent", "group", account], capture_output=True, check=False).returncode != 0
        assert not (u.root / "home" / account).exists()
        assert not (u.root / "opt" / "crashbot" / account).exists()
        assert not (u.root / "etc" / "systemd" / "system" / f"{account}-runner.service").exists()
    assert not (u.root / "etc" / "sudoers.d" / u.deploy).exists()


@needs_root
def test_uninstall_takes_back_the_acl_entries_on_the_realms_install_folder(uninstalled: Uninstalled) -> None:
    u = uninstalled
    assert f"user:{u.deploy}:rwx" in u.acl_installed and f"user:{u.fix}:---" in u.acl_installed
    left = _acl(u.install_dir)
    # a named entry for a removed account would pass its rights to the next account given its uid
    assert not [e for e in left if u.deploy in e or u.fix in e or re.match(r"(default:)?user:\d+:", e)]
    assert f"user:{u.own}:---" in left  # the fix runner that stays is still shut out


@needs_root
def test_uninstall_leaves_everything_it_did_not_make(uninstalled: Uninstalled) -> None:
    u = uninstalled
    assert (u.root / "etc" / "sudoers.d" / "ops").read_text() == "ops ALL=(root) /usr/bin/id\n"
    assert (u.root / "home" / "someone" / "notes").read_text() == "mine\n"
    assert (u.root / "opt" / "crashbot" / "venv").is_dir()
    assert u.install_dir.is_dir() and u.install_dir.owner() == u.game and _exists(u.game)


@needs_root
def test_uninstall_refuses_in_one_line_an_account_the_install_did_not_create(
    uninstalled: Uninstalled,
) -> None:
    u = uninstalled
    result = u.refusals["own"]
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"account {u.own} was not created by install-runner.sh" in line
    # nothing of it was touched: the account, its home, its venv, its unit
    assert _exists(u.own)
    assert (u.root / "home" / u.own / "actions-runner" / ".runner").is_file()
    assert (u.root / "opt" / "crashbot" / u.own / "venv" / "bin" / "python").exists()
    assert (u.root / "etc" / "systemd" / "system" / f"{u.own}-runner.service").is_file()


@needs_root
def test_uninstall_refuses_the_other_roles_account_before_changing_anything(uninstalled: Uninstalled) -> None:
    result = uninstalled.refusals["role"]
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"account {uninstalled.fix} is the fix runner's account, not the deploy runner's" in line
    assert f"user:{uninstalled.fix}:---" in uninstalled.acl_installed  # still there after this refusal
    assert "userdel" not in result.stdout


@needs_root
def test_uninstall_dry_run_prints_what_it_would_remove_and_removes_nothing(uninstalled: Uninstalled) -> None:
    u = uninstalled
    assert u.dry.returncode == 0, u.dry.stderr
    home = u.root / "home" / u.deploy
    for line in (
        f"would run: setfacl -R -P -x u:{u.deploy}\\,d:u:{u.deploy} {u.install_dir}",  # printf %q's comma
        f"would run: rm -f {u.root}/etc/sudoers.d/{u.deploy}",
        f"would run: userdel {u.deploy}",
        f"would run: rm -rf --one-file-system -- {home}",
        f"would run: rm -rf --one-file-system -- {u.root}/opt/crashbot/{u.deploy}",
    ):
        assert line in u.dry.stdout.splitlines(), line
    assert "systemctl" not in u.dry.stdout  # --root: no service to stop
    assert u.dry.stderr.splitlines()[-1] == "install-runner: --dry-run: nothing was changed"
    assert f"user:{u.deploy}:rwx" in u.acl_installed and u.done["deploy"].returncode == 0  # it was all there


@needs_root
def test_uninstall_stopped_by_a_running_process_says_so_and_a_rerun_finishes(
    uninstalled: Uninstalled,
) -> None:
    u = uninstalled
    assert u.busy.returncode == 2
    assert f"userdel {u.fix} failed (a process still runs as it?" in u.busy.stderr.splitlines()[-1]
    assert u.done["fix"].returncode == 0 and not _exists(u.fix)
    assert u.again.returncode == 0 and f"nothing to remove: no account {u.fix}" in u.again.stderr
