"""The systemd backend, at the level of the systemctl command lines it runs and the output it parses."""

from __future__ import annotations

import pytest

from bot.deploy.control import ServerState, StopMethod
from bot.deploy.errors import ServerControlError, ServiceAccessDenied
from bot.deploy.systemd import PRIVILEGED_COMMANDS, SystemdControl
from tests.deploy.conftest import RecordingRunner

IS_ACTIVE = ("systemctl", "is-active", "worldserver")


@pytest.mark.parametrize(
    ("word", "code", "state"),
    [
        ("active", 0, ServerState.RUNNING),
        ("activating", 3, ServerState.STARTING),
        ("deactivating", 3, ServerState.STOPPING),
        ("inactive", 3, ServerState.STOPPED),
        ("failed", 3, ServerState.STOPPED),
        ("", 4, ServerState.UNKNOWN),
    ],
)
def test_systemd_status_maps_is_active_words(word: str, code: int, state: ServerState) -> None:
    runner = RecordingRunner()
    runner.add(IS_ACTIVE, word + "\n", returncode=code)
    assert SystemdControl("worldserver", runner=runner).status() is state
    assert runner.calls == [IS_ACTIVE]


def test_systemd_user_units_pass_user_flag() -> None:
    runner = RecordingRunner()
    runner.add(("systemctl", "--user", "is-active", "worldserver"), "active\n")
    assert SystemdControl("worldserver", user=True, runner=runner).status() is ServerState.RUNNING


def test_systemd_pid_reads_main_pid_and_zero_means_none() -> None:
    runner = RecordingRunner()
    show = ("systemctl", "show", "--property=MainPID", "--value", "worldserver")
    runner.add(show, "4711\n")
    runner.add(show, "0\n")
    control = SystemdControl("worldserver", runner=runner)
    assert control.pid() == 4711
    assert control.pid() is None


def test_systemd_stop_runs_stop_then_checks_it_is_inactive() -> None:
    runner = RecordingRunner()
    runner.add(("systemctl", "stop", "worldserver"), "")
    runner.add(IS_ACTIVE, "inactive\n", returncode=3)
    outcome = SystemdControl("worldserver", runner=runner).stop(30.0)
    assert outcome.stopped and outcome.method is StopMethod.SERVICE_STOP
    assert runner.calls == [("systemctl", "stop", "worldserver"), IS_ACTIVE]


def test_systemd_stop_timing_out_is_not_stopped() -> None:
    runner = RecordingRunner()
    runner.add(("systemctl", "stop", "worldserver"), "", returncode=None)
    outcome = SystemdControl("worldserver", runner=runner).stop(1.0)
    assert not outcome.stopped and "timed out" in outcome.detail


def test_systemd_polkit_refusal_raises_access_denied_with_the_way_out() -> None:
    runner = RecordingRunner()
    runner.add(
        ("systemctl", "stop", "worldserver"),
        "",
        returncode=1,
        stderr="Failed to stop worldserver.service: Interactive authentication required.\n"
        "See system logs and 'systemctl status worldserver.service' for details.\n",
    )
    with pytest.raises(ServiceAccessDenied, match=r"polkit rule or a sudoers line.*systemd_user"):
        SystemdControl("worldserver", runner=runner).stop(5.0)


def test_systemd_start_failure_points_at_the_journal() -> None:
    runner = RecordingRunner()
    runner.add(
        ("systemctl", "start", "worldserver"),
        "",
        returncode=1,
        stderr="Job for worldserver.service failed because the control process exited with error code.",
    )
    with pytest.raises(ServerControlError, match="journalctl -u worldserver"):
        SystemdControl("worldserver", runner=runner).start()


def test_systemd_kill_sends_sigkill_through_systemctl() -> None:
    runner = RecordingRunner()
    runner.add(("systemctl", "kill", "--signal=SIGKILL", "worldserver"), "")
    SystemdControl("worldserver", runner=runner).kill()
    assert runner.calls == [("systemctl", "kill", "--signal=SIGKILL", "worldserver")]


def test_systemd_rejects_an_option_as_unit_name() -> None:
    with pytest.raises(ServerControlError):
        SystemdControl("--all", runner=RecordingRunner())


def test_suggested_unit_turns_core_dumps_on_and_stops_cleanly() -> None:
    from bot.deploy.systemd import suggested_unit

    unit = suggested_unit("/srv/wow", "worldserver", user="wow")
    assert "LimitCORE=infinity\n" in unit
    assert "ExecStart=/srv/wow/current/worldserver\n" in unit
    assert "KillSignal=SIGTERM\n" in unit


def test_with_sudo_only_the_verbs_that_change_the_unit_go_through_sudo_n() -> None:
    runner = RecordingRunner()
    runner.add(("sudo", "-n", "systemctl", "stop", "worldserver"), "")
    runner.add(("systemctl", "is-active", "worldserver"), "inactive\n", returncode=3)
    runner.add(("sudo", "-n", "systemctl", "start", "worldserver"), "")
    runner.add(("sudo", "-n", "systemctl", "kill", "--signal=SIGKILL", "worldserver"), "")
    control = SystemdControl("worldserver", sudo=True, runner=runner)
    assert control.stop(30.0).stopped
    control.start()
    control.kill()
    # exactly the lines of the sudoers drop-in runner-setup/install-runner.sh --role deploy writes
    assert runner.calls == [
        ("sudo", "-n", "systemctl", "stop", "worldserver"),
        ("systemctl", "is-active", "worldserver"),
        ("sudo", "-n", "systemctl", "start", "worldserver"),
        ("sudo", "-n", "systemctl", "kill", "--signal=SIGKILL", "worldserver"),
    ]
    # what crashbot doctor asks sudo about is what these ran
    sudo_calls = [c for c in runner.calls if c[0] == "sudo"]
    assert sorted(tuple(control.argv(*c)) for c in PRIVILEGED_COMMANDS) == sorted(sudo_calls)


def test_sudo_without_a_matching_sudoers_line_names_the_installer() -> None:
    runner = RecordingRunner()
    runner.add(
        ("sudo", "-n", "systemctl", "start", "worldserver"),
        "",
        returncode=1,
        stderr="sudo: a password is required\n",
    )
    with pytest.raises(ServiceAccessDenied, match=r"install-runner.sh --role deploy --unit worldserver"):
        SystemdControl("worldserver", sudo=True, runner=runner).start()


def test_a_user_unit_with_sudo_is_refused() -> None:
    with pytest.raises(ServerControlError, match="exclude each other"):
        SystemdControl("worldserver", user=True, sudo=True, runner=RecordingRunner())
