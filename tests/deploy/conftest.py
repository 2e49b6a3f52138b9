"""Deploy-room fixtures: a fake worldserver build, recording reporter, fake command runner, free ports."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from bot.config import ControlKind, DeploySettings, SoapSettings
from bot.demo import worldserver
from bot.deploy.errors import DeployError
from bot.deploy.pipeline import DeployOutcome
from bot.deploy.process import ProcessControl
from bot.deploy.releases import Releases
from bot.deploy.shell import CommandResult

T = TypeVar("T")
DEPLOY_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "deploy"
FAKE_SERVER = DEPLOY_FIXTURES / "fake_worldserver.py"
SOAP_ENV = {"CRASHBOT_SOAP_USER": "deployer", "CRASHBOT_SOAP_PASSWORD": "s3cret"}
posix_only = pytest.mark.skipif(os.name == "nt", reason="runs the fake server through a shebang")


def must(value: T | None) -> T:
    """``value``, asserting it is there (keeps the type checker and the reader on the same page)."""
    assert value is not None
    return value


def free_port() -> int:
    """A port nobody listens on right now (see bot.demo.worldserver.free_port for why not bind(0))."""
    return worldserver.free_port()


class ScriptBuilder:
    """A ``Builder`` whose "build" writes the fake worldserver with a version and a mode per sha."""

    def __init__(self, out: Path, modes: dict[str, tuple[str, str]]) -> None:
        self.out = out
        self.modes = modes
        self.built: list[str] = []

    def build(self, sha: str) -> Path:
        if sha not in self.modes:
            raise DeployError(f"build of {sha} failed: compiler error in src/server/game/Spells/Spell.cpp")
        version, mode = self.modes[sha]
        target = self.out / sha
        target.mkdir(parents=True, exist_ok=True)
        exe = target / "worldserver"
        exe.write_text(f"#!{sys.executable}\n" + FAKE_SERVER.read_text(encoding="utf-8"), encoding="utf-8")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
        (target / "build-info.json").write_text(json.dumps({"version": version, "mode": mode}))
        (target / "CMakeCache.txt").write_text("not an artifact\n")
        self.built.append(sha)
        return target


@dataclass
class RecordingReporter:
    """A ``DeployReporter`` that remembers every call, in order."""

    calls: list[tuple[str, object]] = field(default_factory=list)

    def started(self, *, sha: str, release: str, previous: str | None) -> None:
        self.calls.append(("started", {"sha": sha, "release": release, "previous": previous}))

    def succeeded(self, outcome: DeployOutcome) -> None:
        self.calls.append(("succeeded", outcome))

    def rolled_back(self, outcome: DeployOutcome) -> None:
        self.calls.append(("rolled_back", outcome))

    def failed_loudly(self, outcome: DeployOutcome) -> None:
        self.calls.append(("failed_loudly", outcome))

    def aborted(self, outcome: DeployOutcome) -> None:
        self.calls.append(("aborted", outcome))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class RecordingRunner:
    """A ``CommandRunner`` that answers from a script of (argv -> results) and records every call."""

    def __init__(self, script: dict[tuple[str, ...], list[CommandResult]] | None = None) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[tuple[str, ...]] = []

    def add(
        self, argv: Sequence[str], stdout: str = "", returncode: int | None = 0, stderr: str = ""
    ) -> None:
        self.script.setdefault(tuple(argv), []).append(CommandResult(tuple(argv), returncode, stdout, stderr))

    def __call__(self, argv: Sequence[str], timeout_s: float) -> CommandResult:
        key = tuple(argv)
        self.calls.append(key)
        answers = self.script.get(key)
        if not answers:
            raise AssertionError(f"unexpected command {list(argv)}")
        return answers.pop(0) if len(answers) > 1 else answers[0]


def sc_output(name: str) -> str:
    return (DEPLOY_FIXTURES / "sc" / name).read_bytes().decode("utf-8")  # keep the CRLFs


@dataclass
class Realm:
    """An install dir with a fake worldserver config, its releases and a process backend."""

    install: Path
    settings: DeploySettings
    releases: Releases
    control: ProcessControl

    def events(self) -> list[str]:
        path = self.install / "events.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def realm(tmp_path: Path) -> Iterator[Realm]:
    install = tmp_path / "realm"
    install.mkdir()
    port = free_port()
    conf = {"soap_port": port, "user": "deployer", "password": "s3cret", "ready_delay_s": 0.2}
    (install / "fakeserver.json").write_text(json.dumps(conf))
    (install / "worldserver.conf").write_text("WorldServerPort = 8085\n")
    settings = DeploySettings(
        install_dir=str(install),
        realm="test-realm",
        artifacts=("worldserver", "build-info.json"),
        control=ControlKind.SOAP,
        shutdown_delay_s=0,
        stop_timeout_s=5.0,
        start_timeout_s=15.0,
        watch_window_s=0.6,
        control_timeout_s=5.0,
        keep_releases=2,
        soap=SoapSettings(port=port),
    )
    releases = Releases(install)
    control = ProcessControl(releases=releases, executable="worldserver", env=os.environ, poll_s=0.05)
    yield Realm(install, settings, releases, control)
    if control.pid() is not None:  # never leave a server behind
        control.kill()
        control.stop(5.0)
