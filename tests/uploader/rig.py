"""The real uploader on the real stand-in: spool (SQLite), intake, publisher, service, one GitHub client.

Everything is real; only the clocks can be a :class:`FakeClock` so pacing and write windows are
exercised without sleeping.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest

from bot.config import GitHubSettings, RedactionSettings
from bot.crash import CrashReader
from bot.github import GitHubClient, connect
from bot.issue import Payload, read_payload
from bot.standin import StandIn
from bot.uploader.budget import Windows
from bot.uploader.intake import Intake
from bot.uploader.notify import Notifier, WebhookKind
from bot.uploader.publish import Publisher, PublishSettings
from bot.uploader.service import ServiceSettings, UploadService
from bot.uploader.spool import ReportState, Spool
from bot.vocabulary import sig_label
from tests.conftest import REPO, UPLOADER_LOGIN, UPLOADER_TOKEN
from tests.fakes import FakeClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "uploader"
SECRETS_REPORT = FIXTURES / "wheaty-with-secrets.txt"
CUT_REPORT = FIXTURES / "wheaty-cut-before-stack.txt"
TOKEN = UPLOADER_TOKEN
LOGIN = UPLOADER_LOGIN
KEY = b"uploader-test-signing-key-32-bytes-or-more"
ROOT = Path(__file__).resolve().parents[2]


def uploader_env(config: Path) -> dict[str, str]:
    """The environment a ``crashbot`` subprocess of the uploader tests runs in: this checkout importable,
    the uploader's token and signing key, and ``config``."""
    return {
        **os.environ,
        "CRASHBOT_TOKEN": TOKEN,
        "CRASHBOT_SIGNING_KEY": KEY.decode(),
        "CRASHBOT_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
    }


@contextmanager
def watching(args: Sequence[str], config: Path, *, stop_timeout_s: float = 60) -> Iterator[Popen[str]]:
    """A ``crashbot watch ARGS`` subprocess for the body; stopped with SIGTERM after it, which must end the
    watcher cleanly (exit 0, no traceback). A body that fails (or hangs and times out) leaves it killed."""
    argv = [sys.executable, "-m", "bot", "watch", *args]
    proc = Popen(argv, env=uploader_env(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = ""
    try:
        yield proc
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=stop_timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


class Collector:
    """A watcher's callback that records each path it is given with the file's size at that moment."""

    def __init__(self) -> None:
        self.seen: list[tuple[Path, int]] = []
        self.event = threading.Event()

    def __call__(self, path: Path) -> None:
        self.seen.append((path, path.stat().st_size))
        self.event.set()


HOST = "game1"


def break_pygithub_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next ``import github`` fail under it, as a broken wheel does (on Windows under Wine 8:
    cryptography's Rust extension, via jwt): PyGithub is unloaded and ``import jwt`` raises ImportError."""
    for name in [m for m in sys.modules if m == "github" or m.startswith("github.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "jwt", None)


def no_sleep(seconds: float) -> None:
    """The client's retry backoff, skipped: real-clock tests wait on the spool's schedule instead."""


@dataclass
class Rig:
    standin: StandIn
    spool: Spool
    intake_spool: Spool
    client: GitHubClient
    publisher: Publisher
    service: UploadService
    intake: Intake
    clock: Callable[[], float]
    tmp: Path
    crash_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.crash_dir = self.tmp / "Crashes"
        self.crash_dir.mkdir(parents=True, exist_ok=True)

    def issues(self) -> list[dict[str, Any]]:
        return [i for i in self.standin.issues(REPO) if "pull_request" not in i]

    def issue(self, number: int) -> dict[str, Any]:
        return next(i for i in self.issues() if i["number"] == number)

    def issue_for(self, signature_id: str) -> dict[str, Any]:
        label = sig_label(signature_id)
        found = [i for i in self.issues() if label in {x["name"] for x in i["labels"]}]
        assert len(found) == 1, f"{len(found)} issues carry {label}"
        return found[0]

    def payload(self, number: int) -> Payload:
        return read_payload(self.issue(number)["body"], KEY)

    def labels(self, number: int) -> set[str]:
        return {x["name"] for x in self.issue(number)["labels"]}

    def writes(self) -> list[Any]:
        return [w for w in self.standin.writes() if w.status != 0]

    def pending(self) -> int:
        return len(self.spool.reports(ReportState.NEW))

    def close(self) -> None:
        self.intake_spool.close()
        self.spool.close()


def make_rig(
    tmp: Path,
    standin: StandIn,
    *,
    clock: FakeClock | None = None,
    edit_interval_s: float = 0.0,
    comment_interval_s: float = 3600.0,
    windows: Windows | None = None,
    realm: str | None = None,
    notifier: Notifier | None = None,
    max_rate_limit_wait_s: float = 0.0,
    sleep: Callable[[float], None] | None = None,
    backoff_base_s: float = 0.01,
    backoff_cap_s: float = 0.05,
    stop: threading.Event | None = None,
    crash_of: CrashReader | None = None,
    defer: bool = False,
) -> Rig:
    """A rig on ``standin``; with ``clock`` every component shares that fake time."""
    import time

    now = clock if clock is not None else time.time
    client = connect(
        GitHubSettings(
            repo=REPO, api_url=standin.api_url, max_rate_limit_wait_s=max_rate_limit_wait_s, timeout_s=5
        ),
        env={"CRASHBOT_TOKEN": TOKEN},
        sleep=sleep or (clock.sleep if clock is not None else no_sleep),
        clock=now,
        rng=random.Random(7),
        write_interval_s=0,
        defer=defer,  # as the watcher's assembly does: PyGithub loads with the first crash
    )
    spool_path = tmp / "spool.sqlite3"
    spool = Spool(
        spool_path, clock=now, jitter=lambda: 0.5, backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s
    )
    intake_spool = Spool(
        spool_path, clock=now, jitter=lambda: 0.5, backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s
    )
    publisher = Publisher(
        client,
        PublishSettings(
            key=KEY, host=HOST, realm=realm, server_url=standin.web_url, comment_interval_s=comment_interval_s
        ),
        clock=now,
        crash_of=crash_of,
    )
    service = UploadService(
        spool,
        publisher,
        settings=ServiceSettings(edit_interval_s=edit_interval_s, windows=windows or Windows()),
        notifier=notifier,
        writes=lambda: client.writes,
        clock=now,
        stop=stop,
    )
    intake = Intake(
        intake_spool,
        redaction=RedactionSettings(),
        max_bytes=8 * 1024 * 1024,
        on_spooled=service.wakeup,
        crash_of=crash_of,
    )
    return Rig(standin, spool, intake_spool, client, publisher, service, intake, now, tmp)


# ---------------------------------------------------------------------------------------------------
# a loopback incoming-webhook endpoint (Discord/Slack stand-in)


class WebhookSink:
    """Records JSON posted to it; answers ``status`` (204 like Discord by default)."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.bodies: list[Any] = []
        self.arrived = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sink.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                sink.arrived.set()
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/webhooks/1/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def notifier(self, kind: WebhookKind = WebhookKind.DISCORD) -> Notifier:
        return Notifier(self.url, kind, timeout_s=5)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
