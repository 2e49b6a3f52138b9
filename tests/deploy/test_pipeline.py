"""The deploy run end to end, with the process backend running a fake worldserver for real."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bot.config import ControlKind
from bot.deploy.backends import make_commander
from bot.deploy.control import StopMethod, graceful_stop
from bot.deploy.pipeline import DeployMode, DeployOutcome, DeployStatus, deploy
from bot.deploy.releases import read_record
from bot.errors import GitHubError
from tests.deploy.conftest import SOAP_ENV, Realm, RecordingReporter, ScriptBuilder, must, posix_only

pytestmark = [posix_only]

V1, V2, BROKEN, CRASHY = "a1" * 20, "b2" * 20, "c3" * 20, "d4" * 20
MODES = {V1: ("v1", "ok"), V2: ("v2", "ok"), BROKEN: ("v3", "broken"), CRASHY: ("v4", "crash-after-ready")}


def run(
    realm: Realm, builder: ScriptBuilder, sha: str, reporter: RecordingReporter | None = None, **kw: Any
) -> DeployOutcome:
    settings = kw.pop("settings", realm.settings)
    return deploy(
        sha=sha,
        settings=settings,
        builder=builder,
        control=realm.control,
        commander=make_commander(settings, SOAP_ENV),
        releases=realm.releases,
        reporter=reporter or RecordingReporter(),
        poll_s=0.05,
        **kw,
    )


def test_deploy_first_release_on_empty_host_goes_live(realm: Realm, tmp_path: Path) -> None:
    reporter = RecordingReporter()
    outcome = run(realm, ScriptBuilder(tmp_path / "build", MODES), V1, reporter)
    assert outcome.status is DeployStatus.SUCCEEDED, outcome.reason
    assert outcome.exit_code == 0
    assert outcome.stop is not None and must(outcome.stop).method is StopMethod.NOT_RUNNING
    assert reporter.names == ["started", "succeeded"]
    assert must(realm.releases.live()).sha == V1
    assert realm.control.pid() is not None
    assert "v1 start" in realm.events()[0]
    files = sorted(p.name for p in must(realm.releases.live()).path.iterdir())
    assert "CMakeCache.txt" not in files and "worldserver" in files


def test_deploy_v1_then_v2_stops_v1_over_soap_without_killing_it(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    run(realm, builder, V1)
    v1_pid = realm.control.pid()
    reporter = RecordingReporter()

    outcome = run(realm, builder, V2, reporter)

    assert outcome.status is DeployStatus.SUCCEEDED, outcome.reason
    assert (
        must(outcome.stop).method is StopMethod.SOAP and not must(outcome.stop).forced and not outcome.forced
    )
    assert must(outcome.stop).command == "server shutdown 0 Restarting to deploy a crash fix"
    events = realm.events()
    assert "v1 soap server shutdown 0 Restarting to deploy a crash fix" in events
    assert "v1 exit 0 via soap" in events  # it shut itself down; a killed server writes no exit line
    assert realm.control.pid() not in (None, v1_pid)
    assert must(realm.releases.live()).sha == V2
    assert must(realm.releases.previous()).sha == V1
    assert reporter.calls[0] == (
        "started",
        {"sha": V2, "release": outcome.release, "previous": outcome.previous},
    )
    assert reporter.names == ["started", "succeeded"]
    record = must(read_record(realm.install))
    assert (record.sha, record.realm, record.action) == (V2, "test-realm", "deploy")
    assert outcome.downtime_s is not None and outcome.server_start_s is not None
    assert outcome.downtime_s >= outcome.server_start_s
    assert [s.name for s in outcome.steps] == ["build", "collect", "stop", "activate", "start", "health"]


def test_deploy_broken_release_rolls_back_to_the_healthy_previous_one(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    first = run(realm, builder, V1)
    reporter = RecordingReporter()

    outcome = run(realm, builder, BROKEN, reporter)

    assert outcome.status is DeployStatus.ROLLED_BACK
    assert outcome.exit_code == 1
    assert "exited" in outcome.reason and "exit code 1" in outcome.reason
    assert "Cannot connect to world database" in outcome.reason  # the log tail says why
    assert reporter.names == ["started", "rolled_back"]
    assert outcome.live == first.release == must(realm.releases.live()).name
    assert outcome.rollback_health is not None and outcome.rollback_health.ok
    assert realm.control.pid() is not None
    assert realm.events()[-1].startswith("v1 start")
    failed = realm.releases.get(must(outcome.release))
    assert failed is not None and failed.failed
    assert must(read_record(realm.install)).action == "rollback"


def test_deploy_crash_inside_watch_window_rolls_back(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    run(realm, builder, V1)
    reporter = RecordingReporter()

    outcome = run(realm, builder, CRASHY, reporter)

    assert outcome.status is DeployStatus.ROLLED_BACK, outcome.reason
    assert outcome.health is not None and outcome.health.ready_after_s is not None  # it was ready, then died
    assert "after it was ready" in outcome.health.reason and "exit code 134" in outcome.health.reason
    assert reporter.names == ["started", "rolled_back"]
    assert must(realm.releases.live()).sha == V1


def test_deploy_rollback_that_fails_too_reports_loudly_with_failing_exit(
    realm: Realm, tmp_path: Path
) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    run(realm, builder, V1)
    v1 = must(realm.releases.live())
    # the old release stops working too (say the DB went away): rollback cannot bring the realm back
    (v1.path / "build-info.json").write_text(json.dumps({"version": "v1", "mode": "broken"}))
    reporter = RecordingReporter()

    outcome = run(realm, builder, BROKEN, reporter)

    assert outcome.status is DeployStatus.FAILED
    assert outcome.exit_code == 4
    assert reporter.names == ["started", "failed_loudly"]
    assert "rollback" in outcome.reason and v1.name in outcome.reason
    assert realm.control.pid() is None


def test_deploy_broken_first_release_has_nothing_to_roll_back_to_and_fails_loudly(
    realm: Realm, tmp_path: Path
) -> None:
    reporter = RecordingReporter()
    outcome = run(realm, ScriptBuilder(tmp_path / "build", MODES), BROKEN, reporter)
    assert outcome.status is DeployStatus.FAILED
    assert "no previous release" in outcome.reason
    assert reporter.names == ["started", "failed_loudly"]


def test_deploy_build_failure_aborts_without_touching_the_running_server(
    realm: Realm, tmp_path: Path
) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    run(realm, builder, V1)
    pid = realm.control.pid()
    reporter = RecordingReporter()

    outcome = run(realm, builder, "e5" * 20, reporter)

    assert outcome.status is DeployStatus.ABORTED
    assert outcome.exit_code == 1
    assert "compiler error" in outcome.reason
    assert reporter.names == ["aborted"]
    assert realm.control.pid() == pid
    assert not any("soap" in e for e in realm.events())


def test_deploy_rollback_mode_switches_back_to_the_previous_release(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    run(realm, builder, V1)
    run(realm, builder, V2)
    reporter = RecordingReporter()

    outcome = run(realm, builder, "", reporter, rollback_only=True)

    assert outcome.mode is DeployMode.ROLLBACK
    assert outcome.status is DeployStatus.SUCCEEDED, outcome.reason
    assert outcome.sha == V1 and must(realm.releases.live()).sha == V1
    assert must(outcome.stop).method is StopMethod.SOAP
    assert "v2 exit 0 via soap" in realm.events()
    assert reporter.names == ["started", "succeeded"]
    assert builder.built == [V1, V2]  # a rollback builds nothing


def test_deploy_rollback_mode_without_earlier_release_aborts(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    run(realm, builder, V1)
    reporter = RecordingReporter()
    outcome = run(realm, builder, "", reporter, rollback_only=True)
    assert outcome.status is DeployStatus.ABORTED
    assert reporter.names == ["aborted"]
    assert must(realm.releases.live()).sha == V1


def test_deploy_prunes_old_releases_but_keeps_live_and_previous(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", {**MODES, "f6" * 20: ("v5", "ok")})
    for sha in (V1, V2, "f6" * 20):
        assert run(realm, builder, sha).status is DeployStatus.SUCCEEDED
    kept = [r.sha for r in realm.releases.all()]
    assert kept == [V2, "f6" * 20]  # keep_releases = 2
    assert (realm.install / "worldserver.conf").read_text() == "WorldServerPort = 8085\n"


def test_graceful_stop_of_a_server_ignoring_shutdown_ends_in_a_reported_kill(
    realm: Realm, tmp_path: Path
) -> None:
    builder = ScriptBuilder(tmp_path / "build", {V1: ("v1", "stubborn")})
    assert run(realm, builder, V1).status is DeployStatus.SUCCEEDED
    settings = dataclasses.replace(realm.settings, stop_timeout_s=0.5)

    report = graceful_stop(realm.control, make_commander(settings, SOAP_ENV), settings, poll_s=0.05)

    assert report.method is StopMethod.KILL and report.forced
    assert any("did not stop" in n for n in report.notes)
    assert "v1 ignored SIGTERM" in realm.events()
    assert realm.control.pid() is None


def test_deploy_with_control_none_stops_by_signal(realm: Realm, tmp_path: Path) -> None:
    builder = ScriptBuilder(tmp_path / "build", MODES)
    settings = dataclasses.replace(realm.settings, control=ControlKind.NONE)
    run(realm, builder, V1, settings=settings)
    outcome = run(realm, builder, V2, settings=settings)
    assert outcome.status is DeployStatus.SUCCEEDED
    assert must(outcome.stop).method is StopMethod.SIGNAL and not must(outcome.stop).forced
    assert "v1 exit 0 via sigterm" in realm.events()
    assert any("no shutdown warning" in n for n in outcome.notes)


class _GitHubDownReporter(RecordingReporter):
    """GitHub answers nothing: every report fails after it is recorded."""

    def started(self, *, sha: str, release: str, previous: str | None) -> None:
        super().started(sha=sha, release=release, previous=previous)
        raise GitHubError("GitHub is unreachable")

    def succeeded(self, outcome: DeployOutcome) -> None:
        super().succeeded(outcome)
        raise GitHubError("GitHub is unreachable")


def test_deploy_reporting_failures_never_abort_the_deploy_and_are_noted(realm: Realm, tmp_path: Path) -> None:
    reporter = _GitHubDownReporter()

    outcome = run(realm, ScriptBuilder(tmp_path / "build", MODES), V1, reporter)

    assert outcome.status is DeployStatus.SUCCEEDED, outcome.reason
    assert reporter.names == ["started", "succeeded"]
    assert any(n.startswith("reporting started failed: ") for n in outcome.notes)
