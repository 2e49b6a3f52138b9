"""Run by Windows CPython under wine64: the ``process`` deploy backend against the demo worldserver built
for Windows with g++-mingw-w64. Prints one JSON object with what happened at each step.

The release folders are laid out by this script (plain byte copies): crashbot's own ``Releases.create``
copies with ``shutil.copy2``, which on CPython >= 3.12 calls ``CopyFile2``, a function Wine 8 does not
implement, so that step cannot run here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bot.config import ControlKind, DeploySettings
from bot.demo.worldserver import free_port, write_config
from bot.deploy.control import ServerState, graceful_stop
from bot.deploy.process import ProcessControl
from bot.deploy.releases import Releases
from bot.deploy.soap import SoapClient

USER, PASSWORD = "DEPLOY", "deploy-pass"


def lay_out(install: Path, name: str, build: Path) -> None:
    folder = install / "releases" / name
    folder.mkdir(parents=True)
    for f in build.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())


def wait_ready(control: ProcessControl) -> bool:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if " ready..." in control.log_path().read_text(errors="replace"):
            return True
        time.sleep(0.3)
    return False


def main() -> int:
    install, build = Path(sys.argv[1]), Path(sys.argv[2])
    out: dict[str, object] = {"platform": sys.platform}
    releases = Releases(install)
    old, new = "20260101T000000Z-aaaaaaaaaaaa", "20260102T000000Z-bbbbbbbbbbbb"
    lay_out(install, old, build)
    lay_out(install, new, build)
    releases.activate(releases.get(old))  # type: ignore[arg-type]
    releases.activate(releases.get(new))  # type: ignore[arg-type]
    out["live_after_switch"] = releases.live().name  # type: ignore[union-attr]
    out["current_is_link"] = os.path.lexists(releases.link)
    soap_port = free_port()
    write_config(
        install,
        world_port=free_port(),
        soap_port=soap_port,
        ra_port=free_port(),
        user=USER,
        password=PASSWORD,
    )
    control = ProcessControl(releases=releases, executable="worldserver", env=dict(os.environ))

    control.start()
    out["ready"] = wait_ready(control)
    out["running"] = control.status() is ServerState.RUNNING
    soap = SoapClient("127.0.0.1", soap_port, USER, PASSWORD, timeout=30)
    settings = DeploySettings(control=ControlKind.SOAP, shutdown_delay_s=1, stop_timeout_s=30)
    report = graceful_stop(control, soap, settings)
    out["soap_stop"] = {
        "method": str(report.method),
        "forced": report.forced,
        "command": report.command,
        "output": (report.command_output or "").strip(),
        "notes": list(report.notes),
    }
    out["exit_after_soap"] = control.exit_code()

    control.start()
    out["ready_again"] = wait_ready(control)
    no_soap = DeploySettings(control=ControlKind.NONE, stop_timeout_s=10)
    report = graceful_stop(control, None, no_soap)
    out["signal_stop"] = {"method": str(report.method), "forced": report.forced, "notes": list(report.notes)}
    out["stopped_at_last"] = control.status() is ServerState.STOPPED

    releases.activate(releases.get(old), action="rollback")  # type: ignore[arg-type]
    out["live_after_rollback"] = releases.live().name  # type: ignore[union-attr]
    out["log"] = control.log_path().read_text(errors="replace")[-1500:]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
