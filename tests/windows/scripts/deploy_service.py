"""Run by Windows CPython under wine64: the ``windows-service`` deploy backend against the demo worldserver
hosted by Wine's service manager (``services.exe``) as ``worldserver.exe --service run``. Prints one
JSON object with what happened at each step.

argv: the folder holding the Windows build, a work folder (its config and log), the service's name.
This script registers and removes the service itself with ``sc.exe create/delete`` (an installer's job).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bot.demo.worldserver import free_port, write_config
from bot.deploy.control import ServerState, wait_until
from bot.deploy.errors import ServerControlError
from bot.deploy.soap import SoapClient
from bot.deploy.winservice import WindowsServiceControl

USER, PASSWORD = "DEPLOY", "deploy-pass"


def sc(*args: str) -> tuple[int, str]:
    done = subprocess.run(["sc.exe", *args], capture_output=True, text=True, errors="replace", check=False)
    return done.returncode, done.stdout + done.stderr


def until(control: WindowsServiceControl, state: ServerState) -> bool:
    return wait_until(
        lambda: control.status() is state, 60, clock=time.monotonic, sleep=time.sleep, poll_s=0.3
    )


def main() -> int:
    build, work, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    soap_port = free_port()
    conf = write_config(
        work, world_port=free_port(), soap_port=soap_port, ra_port=free_port(), user=USER, password=PASSWORD
    )
    # The log beside the config: the service runs in the executable's folder, the build's.
    conf.write_text(conf.read_text().replace('LogFile = "Server.log"', f'LogFile = "{work / "Server.log"}"'))
    out: dict[str, object] = {"platform": sys.platform}
    out["create"] = sc("create", name, "binPath=", f'"{build / "worldserver.exe"}" --service run -c "{conf}"')
    control = WindowsServiceControl(name, poll_s=0.3)
    try:
        out["before"] = control.status().value
        control.start()
        out["running"] = until(control, ServerState.RUNNING)
        out["soap"] = SoapClient("127.0.0.1", soap_port, USER, PASSWORD, timeout=20).execute("server info")
        out["pid"] = control.pid()
        stop = control.stop(60)
        out["stop"] = {"stopped": stop.stopped, "method": stop.method.value, "detail": stop.detail}
        out["after_stop"] = control.status().value
        control.start()
        out["running_again"] = until(control, ServerState.RUNNING)
        try:
            control.kill()
            out["kill"] = "killed"
        except ServerControlError as e:
            out["kill"] = f"refused: {e}"
        out["stopped_at_last"] = control.stop(60).stopped
    finally:
        out["delete"] = sc("delete", name)
        log = work / "Server.log"
        out["log"] = log.read_text(errors="replace") if log.is_file() else ""
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
