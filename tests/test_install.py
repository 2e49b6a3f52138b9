"""Installing what we ship: the installers take an explicit spec, and the built wheel works in a clean venv.

The PowerShell installers cannot run here (no pwsh): their spec rule is checked as data (the pattern they
match against, kept equal to install-uploader.sh's) and their parameters by reading the script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SETUP = REPO_ROOT / "runner-setup"
INSTALL_SH = SETUP / "install-uploader.sh"
RUNNER_SH = SETUP / "install-runner.sh"
SPEC_PS1 = SETUP / "CrashbotSpec.ps1"
INSTALLERS_PS1 = (SETUP / "Install-CrashbotRunner.ps1", SETUP / "Install-CrashbotUploader.ps1")

BARE_NAMES = ("crashbot", "crashbot==0.1.0", "crashbot>=0.1", "crashbot[test]", "Crashbot", "crash-bot")
EXPLICIT = (
    "./dist/crashbot-0.1.0-py3-none-any.whl",
    "crashbot-0.1.0-py3-none-any.whl",
    "crashbot-0.1.0.tar.gz",
    "git+https://github.com/owner/crashbot@0123456789abcdef0123456789abcdef01234567",
    "C:\\Downloads\\crashbot-0.1.0-py3-none-any.whl",
    ".",
    "../crashbot",
)


def _dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_SH), "--dry-run", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def _pattern(path: Path, assignment: str) -> str:
    match = re.search(assignment + r"\s*=\s*'([^']+)'", path.read_text(encoding="utf-8"))
    assert match, f"{path.name} lost its {assignment} assignment"
    return match.group(1)


@pytest.mark.parametrize("spec", BARE_NAMES)
def test_install_uploader_refuses_a_bare_registry_name_with_one_line(spec: str, tmp_path: Path) -> None:
    result = _dry_run("--spec", spec, "owner/server", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "not published on PyPI" in line
    assert "wheel path" in line and "git URL" in line


def test_install_uploader_without_a_spec_says_what_to_pass(tmp_path: Path) -> None:
    result = _dry_run("owner/server", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "--spec" in line and ".whl" in line


def test_install_uploader_installs_exactly_the_wheel_it_was_given(tmp_path: Path) -> None:
    wheel = tmp_path / "crashbot-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    result = _dry_run("--spec", str(wheel), "owner/server", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"would run: /opt/crashbot/venv/bin/pip install --upgrade {wheel}\n" in result.stdout


def test_install_uploader_passes_a_git_url_through(tmp_path: Path) -> None:
    url = "git+https://github.com/owner/crashbot@0123456789abcdef0123456789abcdef01234567"
    result = _dry_run("--spec", url, "owner/server", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"pip install --upgrade {url}\n" in result.stdout


def test_install_uploader_refuses_a_missing_wheel_path(tmp_path: Path) -> None:
    result = _dry_run("--spec", str(tmp_path / "nope.whl"), "owner/server", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "does not exist" in line


def test_the_shell_and_powershell_installers_share_one_spec_rule() -> None:
    shell = _pattern(INSTALL_SH, "spec_pattern")
    powershell = _pattern(SPEC_PS1, r"\$SpecPattern")
    assert shell == powershell
    assert _pattern(RUNNER_SH, "spec_pattern") == shell
    rule = re.compile(powershell)  # .NET and Python read this pattern alike (classes, anchors, groups)
    assert [s for s in BARE_NAMES if rule.search(s)] == []
    assert [s for s in EXPLICIT if not rule.search(s)] == []


@pytest.mark.parametrize("script", INSTALLERS_PS1, ids=lambda p: p.name)
def test_every_powershell_installer_requires_and_checks_an_explicit_spec(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert re.search(r"\[Parameter\(Mandatory = \$true\)\]\[string\]\$CrashbotSpec", text)
    assert ". (Join-Path $PSScriptRoot 'CrashbotSpec.ps1')" in text
    assert "Assert-CrashbotSpec $CrashbotSpec" in text
    assert not re.search(r"\$CrashbotSpec = '", text)  # no bare default left behind


# ---------------------------------------------------------------------------------------------------
# the wheel, into a clean venv


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python -m build` makes from this checkout (the build backend comes from the registry)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("crashbot-*.whl")
    return wheel


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_built_wheel_installs_into_a_clean_venv_and_runs(built_wheel: Path, tmp_path: Path) -> None:
    """The README's install step, on a venv with nothing but pip: `--version` and `doctor` work."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    pip = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--disable-pip-version-check", str(built_wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=500,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    config = tmp_path / "crashbot.toml"
    config.write_text('[github]\nrepo = "owner/server"\n', encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8"}
    crashbot = str(bindir / "crashbot")

    version = subprocess.run([crashbot, "--version"], capture_output=True, text=True, env=env, check=False)
    assert (version.returncode, version.stdout.strip()) == (0, "crashbot 0.1.0")

    doctor = subprocess.run(
        [crashbot, "--config", str(config), "doctor"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    # no credentials here: FAIL rows and exit 1, but a whole table and never a traceback
    assert doctor.returncode == 1, doctor.stderr
    assert "Traceback" not in doctor.stderr + doctor.stdout
    lines = doctor.stdout.splitlines()
    assert lines[0].split()[:2] == ["check", "status"]
    assert re.match(r"config\s+OK\s", lines[1])
    assert any(re.match(r"credentials\s+FAIL\s", line) for line in lines)
    assert re.fullmatch(r"\d+ OK, \d+ WARN, [1-9]\d* FAIL, \d+ SKIP", lines[-1])

    # package data made it into the wheel: init reads its templates and the core profiles
    server = tmp_path / "server"
    (server / "src/server/apps/worldserver").mkdir(parents=True)
    (server / "src/server/apps/worldserver/worldserver.conf.dist").touch()
    made = subprocess.run(
        [crashbot, "init", "--repo-dir", str(server), "--repo", "owner/server"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert 'urn = "urn:AC"' in (server / "crashbot.toml").read_text(encoding="utf-8")
