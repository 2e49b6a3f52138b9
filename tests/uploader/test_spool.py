"""The spool: durable intake, exact batches, backoff, quarantine, pruning, and kill -9 safety."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.uploader.spool import ReportState, Spool, SpooledReport, default_spool_path
from tests.fakes import FakeClock


def _add(spool: Spool, content: str, signature: str | None = "sig1", **kw: Any) -> SpooledReport | None:
    sha = hashlib.sha256(content.encode()).hexdigest()
    return spool.add(
        sha256=sha,
        path=f"/crashes/{sha[:8]}.txt",
        size=len(content),
        text=content,
        signature_id=signature,
        **kw,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


@pytest.fixture
def spool(tmp_path: Path, clock: FakeClock) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.sqlite3", clock=clock, jitter=lambda: 1.0) as s:
        yield s


def test_spool_add_same_content_twice_is_spooled_once(spool: Spool) -> None:
    assert _add(spool, "report A") is not None
    assert _add(spool, "report A") is None
    assert spool.stats().new == 1
    assert spool.knows(hashlib.sha256(b"report A").hexdigest())


def test_spool_uses_wal_journal(spool: Spool, tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "spool.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_spool_due_batches_group_by_signature_and_persist_batch_ids(
    spool: Spool, tmp_path: Path, clock: FakeClock
) -> None:
    for i in range(5):
        _add(spool, f"a{i}", "sigA")
    for i in range(3):
        _add(spool, f"b{i}", "sigB")
    batches = spool.due_batches()
    assert sorted((b.signature_id, len(b.reports)) for b in batches) == [("sigA", 5), ("sigB", 3)]
    # A second process sees the same batch ids: they were committed before any request.
    with Spool(tmp_path / "spool.sqlite3", clock=clock) as other:
        again = other.due_batches()
    assert sorted(b.id for b in again) == sorted(b.id for b in batches)


def test_spool_interrupted_batch_is_retried_unchanged_and_new_reports_get_a_new_batch(spool: Spool) -> None:
    _add(spool, "a0", "sigA")
    (first,) = spool.due_batches()
    _add(spool, "a1", "sigA")
    batches = spool.due_batches()
    assert len(batches) == 2
    assert batches[0].id == first.id and [r.id for r in batches[0].reports] == [r.id for r in first.reports]
    assert batches[1].id != first.id


def test_spool_mark_uploaded_removes_batch_from_queue(spool: Spool) -> None:
    _add(spool, "a0", "sigA")
    (batch,) = spool.due_batches()
    spool.mark_uploaded(batch, issue_number=7)
    assert spool.due_batches() == []
    assert spool.known_issue("sigA") == 7
    assert spool.reports(ReportState.UPLOADED)[0].issue_number == 7


def test_spool_defer_backs_off_exponentially_with_a_cap(tmp_path: Path, clock: FakeClock) -> None:
    with Spool(
        tmp_path / "s.db", clock=clock, jitter=lambda: 1.0, backoff_base_s=2, backoff_cap_s=30
    ) as spool:
        _add(spool, "a0")
        delays = []
        for _ in range(6):
            (batch,) = spool.due_batches()
            when = spool.defer(batch, "502 Bad Gateway")
            delays.append(when - clock.now)
            clock.now = when
        assert delays == [2, 4, 8, 16, 30, 30]
        report = spool.reports()[0]
        assert report.attempts == 6 and report.last_error == "502 Bad Gateway"


def test_spool_defer_jitter_never_below_half_the_delay(tmp_path: Path, clock: FakeClock) -> None:
    with Spool(tmp_path / "s.db", clock=clock, jitter=lambda: 0.0, backoff_base_s=8) as spool:
        _add(spool, "a0")
        (batch,) = spool.due_batches()
        assert spool.defer(batch, "x") - clock.now == 4


def test_spool_defer_honours_rate_limit_reset(spool: Spool, clock: FakeClock) -> None:
    _add(spool, "a0")
    (batch,) = spool.due_batches()
    when = spool.defer(batch, "secondary rate limit", not_before=clock.now + 600)
    assert when == clock.now + 600
    assert spool.due_batches() == []
    clock.now += 601
    assert len(spool.due_batches()) == 1


def test_spool_quarantined_report_is_kept_but_never_queued(spool: Spool) -> None:
    report = _add(spool, "\x00\x01 junk", signature=None, error="not a crash report")
    assert report is not None and report.state is ReportState.QUARANTINED
    assert spool.due_batches() == []
    assert [r.id for r in spool.unnotified_quarantine()] == [report.id]
    spool.mark_notified([report.id])
    assert spool.unnotified_quarantine() == []
    assert spool.get(report.id).text == "\x00\x01 junk"


def test_spool_prune_never_drops_unsent_reports_and_remembers_content(spool: Spool, clock: FakeClock) -> None:
    old = _add(spool, "old" * 1000, "sigA")
    assert old is not None
    (batch,) = spool.due_batches()
    spool.mark_uploaded(batch, 1)
    _add(spool, "pending" * 1000, "sigB")
    clock.now += 100 * 86400
    assert spool.prune(max_bytes=10, max_age_s=90 * 86400) == 1
    assert spool.get(old.id).text == ""
    assert spool.stats().new == 1
    assert _add(spool, "old" * 1000, "sigA") is None  # still never uploaded twice


def test_spool_prune_by_size_trims_oldest_finished_first(spool: Spool) -> None:
    ids = []
    for i in range(3):
        r = _add(spool, f"{i}" * 100, f"s{i}")
        assert r is not None
        ids.append(r.id)
    for b in spool.due_batches():
        spool.mark_uploaded(b, 1)
    spool.prune(max_bytes=150, max_age_s=1e9)
    assert [spool.get(i).text != "" for i in ids] == [False, False, True]


_WRITER = textwrap.dedent(
    """
    import hashlib, sys
    from pathlib import Path
    from bot.uploader.spool import Spool
    spool = Spool(Path(sys.argv[1]))
    i = 0
    print("ready", flush=True)
    while True:
        text = f"report {i} " * 50
        spool.add(sha256=hashlib.sha256(text.encode()).hexdigest(), path=f"r{i}", size=len(text),
                  text=text, signature_id=f"sig{i % 10}")
        for batch in spool.due_batches():
            spool.mark_uploaded(batch, 1)
        i += 1
    """
)


@pytest.mark.slow
def test_spool_survives_kill_9_during_writes(tmp_path: Path) -> None:
    """A SIGKILL at an arbitrary instant leaves a spool that opens and whose rows are all consistent."""
    if sys.platform == "win32":
        pytest.skip("SIGKILL is POSIX; Windows' TerminateProcess is covered by the uploader kill test")
    db = tmp_path / "spool.sqlite3"
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.2 + 0.1 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Spool(db) as spool:
            reports = spool.reports()
            assert reports, "something was written before the kill"
            for r in reports:
                assert r.state in (ReportState.NEW, ReportState.UPLOADED)
                assert (r.state is ReportState.UPLOADED) == (r.issue_number is not None)
                assert r.sha256 == hashlib.sha256(r.text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        # one per machine on Windows: the service and an administrator's `crashbot upload` share it
        (
            "win32",
            {"LOCALAPPDATA": r"C:\Users\gm\AppData\Local", "PROGRAMDATA": r"D:\ProgramData"},
            Path(r"D:\ProgramData") / "crashbot",
        ),
        ("win32", {"ProgramData": r"C:\ProgramData"}, Path(r"C:\ProgramData") / "crashbot"),
        ("win32", {}, Path(r"C:\ProgramData") / "crashbot"),
        ("linux", {"STATE_DIRECTORY": "/var/lib/crashbot:/var/lib/other"}, Path("/var/lib/crashbot")),
        ("linux", {"XDG_STATE_HOME": "/home/gm/.state"}, Path("/home/gm/.state/crashbot")),
        ("linux", {}, Path.home() / ".local" / "state" / "crashbot"),
    ],
)
def test_default_spool_path_is_per_machine_on_windows_else_per_user_state(
    platform: str, env: dict[str, str], expected: Path
) -> None:
    assert default_spool_path(env, platform=platform) == expected / "spool.sqlite3"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes; Windows relies on the folder's ACL")
def test_spool_is_private_to_its_account_whatever_the_umask(tmp_path: Path) -> None:
    """The spool holds crash text (issue 11): no other account on the game host may read it."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "data" / "crashbot" / "spool.db"
        with Spool(path) as spool:
            spool.close()
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for part in path.parent.iterdir():
            assert stat.S_IMODE(part.stat().st_mode) == 0o600, part
    finally:
        os.umask(old)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_spool_opened_again_tightens_a_world_readable_database(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    Spool(path).close()
    path.chmod(0o644)
    Spool(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _new_reports_seen_by_another_process(path: Path) -> int:
    """Open the spool in a new process (which closes it again, as a publisher process does)."""
    script = (
        "import sys\nfrom pathlib import Path\nfrom bot.uploader.spool import ReportState, Spool\n"
        "with Spool(Path(sys.argv[1])) as spool:\n    print(len(spool.reports(ReportState.NEW)))"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    argv = [sys.executable, "-c", script, str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_a_commit_after_another_process_came_and_went_is_seen_by_the_next_process(tmp_path: Path) -> None:
    """Regression: opening a second Spool in a process closed a descriptor of the database, which drops
    all the process's POSIX locks on it, SQLite's included. A publisher process that then exited as if it
    were the last connection reset the WAL, and the watcher's next commits reached no other process."""
    path = tmp_path / "spool.sqlite3"
    with Spool(path) as intake, Spool(path):  # the watcher: two connections, one per thread
        assert _new_reports_seen_by_another_process(path) == 0
        intake.add(sha256="b" * 64, path="crash.txt", size=5, text="crash", signature_id="0123456789abcdef")
        assert _new_reports_seen_by_another_process(path) == 1


def test_one_spool_used_by_two_threads_at_once_keeps_every_report(tmp_path: Path) -> None:
    """Regression: the backfill (main thread) and the watcher's debounce thread spool through one
    connection; a crash written during the backfill made both begin a transaction on it at once and
    the watcher died of "cannot start a transaction within a transaction". A transaction now waits for
    the other thread's to end."""
    import threading

    errors: list[BaseException] = []
    inside, release = threading.Event(), threading.Event()
    with Spool(tmp_path / "spool.sqlite3") as spool:

        def hold_a_transaction() -> None:  # one thread mid-transaction, as add() is between its statements
            with spool._tx():
                inside.set()
                release.wait(30)

        def add() -> None:
            try:
                spool.add(sha256="c" * 64, path="late.txt", size=1, text="x", signature_id="0" * 16)
            except BaseException as e:
                errors.append(e)

        holder = threading.Thread(target=hold_a_transaction)
        holder.start()
        assert inside.wait(30)
        adder = threading.Thread(target=add)
        adder.start()
        adder.join(0.5)  # it waits for the other transaction (not a timing assert: either way it must)
        release.set()
        holder.join(30)
        adder.join(30)
        assert errors == []
        assert [r.path for r in spool.reports(ReportState.NEW)] == ["late.txt"]
