"""Run by Windows CPython under wine64: the watcher's side of publishing, for real. A report is spooled,
the supervisor starts the publisher process (``sys.executable -m``, no console window, its stdin and
stderr piped), the process files the report on the host's stand-in and lingers, and a stop closes its
stdin, which must end it without the supervisor killing it.

Prints one JSON object: what the spool and the log say.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from bot.config import RedactionSettings
from bot.uploader.intake import Intake
from bot.uploader.spool import ReportState, Spool
from bot.uploader.supervisor import PublisherSupervisor, child_environment, publisher_command


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> int:
    spool_path, api_url, repo, report = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    recorder = Recorder()
    logging.getLogger().addHandler(recorder)
    logging.getLogger().setLevel(logging.INFO)
    with Spool(spool_path) as intake_spool, Spool(spool_path) as spool:
        Intake(intake_spool, redaction=RedactionSettings(), max_bytes=10**6).take(report)
        command = publisher_command(
            spool=spool_path, owner_pid=os.getpid(), log_level=logging.INFO, repo=repo, api_url=api_url,
            linger_s=120.0,  # it would linger far longer than the test: only the stop can end it
        )  # fmt: skip
        supervisor = PublisherSupervisor(spool, command, env=child_environment(os.environ))
        serving = threading.Thread(target=supervisor.serve)
        serving.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and spool.reports(ReportState.NEW):
            time.sleep(0.2)
        running_after_upload = supervisor.running
        supervisor.stop()
        serving.join(120)
        states = [r.state.value for r in spool.reports()]
    print(
        json.dumps(
            {
                "platform": sys.platform,
                "states": states,
                "running_after_upload": running_after_upload,
                "running_after_stop": supervisor.running,
                "delays": supervisor.delays,
                "log": recorder.messages,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
