"""The windows-service backend, at the level of the sc.exe command lines it runs and the output it parses."""

from __future__ import annotations

import pytest

from bot.deploy.control import ServerState, StopMethod
from bot.deploy.errors import ServerControlError, ServiceAccessDenied
from bot.deploy.winservice import WindowsServiceControl, grant_sddl, parse_error, parse_sid, parse_state
from tests.deploy.conftest import RecordingRunner, sc_output

QUERY = ("sc.exe", "queryex", "worldserver")
WHOAMI = ("whoami.exe", "/user", "/fo", "csv", "/nh")
SDSHOW = ("sc.exe", "sdshow", "worldserver")
DEFAULT_SDDL = (
    "D:(A;;CCLCSWRPWPDTLOCRRC;;;SY)(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)(A;;CCLCSWLOCRRC;;;IU)"
    "(A;;CCLCSWLOCRRC;;;SU)S:(AU;FA;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;WD)"
)


def service(runner: RecordingRunner) -> WindowsServiceControl:
    return WindowsServiceControl("worldserver", runner=runner, poll_s=0.0)


@pytest.mark.parametrize(
    ("fixture", "state"),
    [
        ("queryex_running.txt", ServerState.RUNNING),
        ("queryex_stopped.txt", ServerState.STOPPED),
        ("stop_pending.txt", ServerState.STOPPING),
        ("start_pending.txt", ServerState.STARTING),
        ("access_denied.txt", ServerState.UNKNOWN),
    ],
)
def test_parse_state_reads_the_numeric_state(fixture: str, state: ServerState) -> None:
    assert parse_state(sc_output(fixture)) is state


def test_winservice_status_and_pid_run_queryex() -> None:
    runner = RecordingRunner()
    runner.add(QUERY, sc_output("queryex_running.txt"))
    control = service(runner)
    assert control.status() is ServerState.RUNNING
    assert control.pid() == 4312
    assert runner.calls == [QUERY, QUERY]


def test_winservice_pid_of_stopped_service_is_none() -> None:
    runner = RecordingRunner()
    runner.add(QUERY, sc_output("queryex_stopped.txt"))
    assert service(runner).pid() is None


def test_winservice_stop_sends_stop_then_polls_until_stopped() -> None:
    runner = RecordingRunner()
    runner.add(("sc.exe", "stop", "worldserver"), sc_output("stop_pending.txt"))
    for name in ("stop_pending.txt", "stop_pending.txt", "queryex_stopped.txt"):
        runner.add(QUERY, sc_output(name))
    outcome = service(runner).stop(5.0)
    assert outcome.stopped and outcome.method is StopMethod.SERVICE_STOP
    assert runner.calls == [("sc.exe", "stop", "worldserver"), QUERY, QUERY, QUERY]


def test_winservice_stop_of_a_service_not_started_counts_as_stopped() -> None:
    runner = RecordingRunner()
    runner.add(("sc.exe", "stop", "worldserver"), sc_output("not_started.txt"), returncode=1062)
    runner.add(QUERY, sc_output("queryex_stopped.txt"))
    assert service(runner).stop(5.0).stopped


def test_winservice_stop_access_denied_says_exactly_how_to_grant_the_right() -> None:
    runner = RecordingRunner()
    runner.add(("sc.exe", "stop", "worldserver"), sc_output("access_denied.txt"), returncode=5)
    runner.add(WHOAMI, sc_output("whoami_network_service.txt"))
    runner.add(SDSHOW, sc_output("sdshow.txt"))

    with pytest.raises(ServiceAccessDenied) as info:
        service(runner).stop(5.0)

    message = str(info.value)
    expected = DEFAULT_SDDL.replace("S:(AU", "(A;;RPWPLCRC;;;S-1-5-20)S:(AU")
    assert f'sc.exe sdset worldserver "{expected}"' in message
    assert "nt authority\\network service" in message and "Windows error 5" in message
    assert "runner-setup/" in message
    assert runner.calls == [("sc.exe", "stop", "worldserver"), WHOAMI, SDSHOW]


def test_winservice_access_denied_without_sdshow_still_gives_the_ace_to_add() -> None:
    runner = RecordingRunner()
    runner.add(("sc.exe", "start", "worldserver"), sc_output("access_denied.txt"), returncode=5)
    runner.add(WHOAMI, "", returncode=1)
    runner.add(SDSHOW, sc_output("access_denied.txt"), returncode=5)
    with pytest.raises(ServiceAccessDenied, match=r"\(A;;RPWPLCRC;;;<runner account SID"):
        service(runner).start()


def test_winservice_missing_service_names_error_1060_and_the_fix() -> None:
    runner = RecordingRunner()
    runner.add(QUERY, sc_output("does_not_exist.txt"), returncode=1060)
    with pytest.raises(ServerControlError, match=r"does not exist \(error 1060\).*--service install"):
        service(runner).status()


def test_winservice_start_runs_sc_start() -> None:
    runner = RecordingRunner()
    runner.add(("sc.exe", "start", "worldserver"), sc_output("start_pending.txt"))
    service(runner).start()
    assert runner.calls == [("sc.exe", "start", "worldserver")]


def test_winservice_start_when_already_running_is_an_error() -> None:
    runner = RecordingRunner()
    runner.add(("sc.exe", "start", "worldserver"), sc_output("already_running.txt"), returncode=1056)
    with pytest.raises(ServerControlError, match="already running"):
        service(runner).start()


def test_winservice_kill_runs_taskkill_on_the_service_pid() -> None:
    runner = RecordingRunner()
    runner.add(QUERY, sc_output("queryex_running.txt"))
    runner.add(
        ("taskkill.exe", "/F", "/T", "/PID", "4312"),
        "SUCCESS: The process with PID 4312 has been terminated.",
    )
    service(runner).kill()
    assert runner.calls[-1] == ("taskkill.exe", "/F", "/T", "/PID", "4312")


def test_winservice_kill_access_denied_raises_service_access_denied() -> None:
    runner = RecordingRunner()
    runner.add(QUERY, sc_output("queryex_running.txt"))
    runner.add(
        ("taskkill.exe", "/F", "/T", "/PID", "4312"), sc_output("taskkill_access_denied.txt"), returncode=1
    )
    runner.add(WHOAMI, sc_output("whoami_network_service.txt"))
    runner.add(SDSHOW, sc_output("sdshow.txt"))
    with pytest.raises(ServiceAccessDenied, match="kill service"):
        service(runner).kill()


# Wine's sc.exe (recorded from Wine 8.0): `query` works, `queryex` exits 1 without a word, and failures
# print no FAILED line. tests/windows/test_service_windows.py runs the same against Wine's services.exe.
PLAIN_QUERY = ("sc.exe", "query", "worldserver")


def wine_runner() -> RecordingRunner:
    runner = RecordingRunner()
    runner.add(QUERY, "", returncode=1)
    return runner


def test_winservice_status_falls_back_to_sc_query_where_queryex_says_nothing() -> None:
    runner = wine_runner()
    runner.add(PLAIN_QUERY, sc_output("wine_query_running.txt"))

    assert service(runner).status() is ServerState.RUNNING
    assert runner.calls == [QUERY, PLAIN_QUERY]


def test_winservice_status_on_windows_never_needs_the_fallback() -> None:
    runner = RecordingRunner()
    runner.add(QUERY, sc_output("does_not_exist.txt"), returncode=1060)
    with pytest.raises(ServerControlError, match="1060"):
        service(runner).status()
    assert runner.calls == [QUERY]  # a FAILED line is an answer: no second command


def test_winservice_kill_without_a_pid_from_queryex_says_why_instead_of_doing_nothing() -> None:
    runner = wine_runner()
    runner.add(PLAIN_QUERY, sc_output("wine_query_running.txt"))

    with pytest.raises(ServerControlError, match="no process id"):
        service(runner).kill()
    assert not any(call[0] == "taskkill.exe" for call in runner.calls)


def test_winservice_kill_of_a_stopped_service_without_queryex_is_nothing_to_do() -> None:
    runner = wine_runner()
    runner.add(PLAIN_QUERY, sc_output("wine_query_stopped.txt"))
    service(runner).kill()


def test_winservice_stop_that_fails_silently_reports_failure_without_waiting() -> None:
    runner = wine_runner()
    runner.add(("sc.exe", "stop", "worldserver"), "", returncode=1)
    runner.add(PLAIN_QUERY, sc_output("wine_query_running.txt"))

    outcome = WindowsServiceControl("worldserver", runner=runner, poll_s=60.0).stop(3600.0)

    assert not outcome.stopped and "exit 1" in outcome.detail


def test_winservice_rejects_a_service_name_that_could_smuggle_arguments() -> None:
    with pytest.raises(ServerControlError):
        WindowsServiceControl('worldserver" binPath= "evil', runner=RecordingRunner())


def test_parse_error_and_sid() -> None:
    assert parse_error(sc_output("access_denied.txt")) == 5
    assert parse_error(sc_output("queryex_running.txt")) is None
    assert parse_sid(sc_output("whoami_network_service.txt")) == ("nt authority\\network service", "S-1-5-20")


def test_grant_sddl_without_sacl_appends_and_is_idempotent() -> None:
    once = grant_sddl("D:(A;;CCLCSWRPWPDTLOCRRC;;;SY)", "S-1-5-20")
    assert once == "D:(A;;CCLCSWRPWPDTLOCRRC;;;SY)(A;;RPWPLCRC;;;S-1-5-20)"
    assert grant_sddl(once, "S-1-5-20") == once
