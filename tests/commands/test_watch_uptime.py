"""``crashbot watch`` records the realm's server runs and publishes its uptime ledger: the real command as a
subprocess, a real (compiled) stand-in server, the real stand-in GitHub."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import ledger as ledgers
from bot.standin import StandIn
from bot.uploader.sessions import Exit, SessionStore
from bot.vocabulary import UPTIME_LABEL
from tests.uploader.rig import KEY, REPO, watching
from tests.uploader.standin_server import REVISION, Servers, build_server
from tests.uploader.test_watch_process import CLIENT_LIBRARIES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(build_server(tmp_path, tmp_path))
    yield s
    s.close()


def wait_for(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def ledger_issues(standin: StandIn) -> list[dict[str, Any]]:
    return [i for i in standin.issues(REPO) if UPTIME_LABEL in {label["name"] for label in i["labels"]}]


def sessions(spool: Path) -> list[Any]:
    store = SessionStore(spool)
    try:
        return store.sessions("main")
    finally:
        store.close()


def test_watch_records_the_server_and_publishes_the_realm_s_ledger(
    standin: StandIn, servers: Servers, tmp_path: Path
) -> None:
    config = tmp_path / "crashbot.toml"
    config.write_text(
        f'[uploader]\nrealm = "main"\nuptime_process = "{servers.exe.name}"\nuptime_poll_s = 1.0\n',
        encoding="utf-8",
    )
    spool = tmp_path / "s.db"
    store = SessionStore(spool)  # this realm's ledger was last published two hours ago: due at once
    store.set_published_at("main", time.time() - 7200)
    store.close()
    server = servers.start()
    crashes = tmp_path / "Crashes"
    crashes.mkdir()
    args = [str(crashes), "--repo", REPO, "--api-url", standin.api_url, "--spool", str(spool)]
    with watching(args, config, stop_timeout_s=30) as proc:
        published = lambda: [i["state"] for i in ledger_issues(standin)] == ["closed"]  # noqa: E731
        assert wait_for(published), "no uptime ledger was published (created, then closed)"
        [issue] = ledger_issues(standin)
        ledger = ledgers.read(issue["body"], KEY)
        assert (ledger.realm, issue["state"], issue["title"]) == ("main", "closed", "Uptime ledger: main")
        [running] = sessions(spool)
        assert (running.pid, running.build, running.ended_at) == (server.pid, REVISION[:12], None)
        # a publisher process wrote it: the watcher itself never maps the GitHub client's libraries
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert [lib for lib in CLIENT_LIBRARIES if lib in maps] == []
        servers.stop(server)
        assert wait_for(lambda: sessions(spool)[0].exit is Exit.STOPPED), "the server's exit was not seen"
