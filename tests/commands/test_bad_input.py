"""What users type and feed in: every bad input is one ``crashbot: error:`` line and the right exit code.

The README's contract: 0 done, 1 expected failure, 2 bad input or config, 3 a bug, 130 interrupted; never a
traceback, and nothing the spool accepted is lost. Inputs that could hang (a FIFO, ``/dev/zero``) run as
real subprocesses with a timeout, so a regression fails instead of stalling the suite.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.cli import main
from bot.uploader.spool import ReportState, Spool

ROOT = Path(__file__).resolve().parents[2]
GDB = ROOT / "tests" / "fixtures" / "crash" / "glue" / "gdb-linux-segv.txt"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRASHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def crashbot(*argv: str, cwd: Path, timeout: float = 30.0, **env: str) -> subprocess.CompletedProcess[str]:
    """``crashbot ARGV`` as a user runs it; a hang fails the test after ``timeout`` seconds."""
    environ = {k: v for k, v in os.environ.items() if k != "CRASHBOT_CONFIG"}
    environ.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )


def one_error_line(err: str) -> str:
    """The single ``crashbot: error:`` line ``err`` must consist of."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("crashbot: error: "), err
    assert "Traceback" not in err
    return lines[0]


@posix_only
def test_parse_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "report.txt"
    os.mkfifo(fifo)
    done = crashbot("parse", str(fifo), "--json", cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert "not a regular file" in one_error_line(done.stderr)


@posix_only
def test_parse_endless_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    done = crashbot("parse", "/dev/zero", cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert "/dev/zero" in one_error_line(done.stderr)
    assert "not a regular file" in done.stderr


def upload_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "crashbot.toml"
    config.write_text("[uploader]\nedit_interval_s = 0.0\nbackoff_base_s = 0.05\n", encoding="utf-8")
    return {"CRASHBOT_TOKEN": "t", "CRASHBOT_SIGNING_KEY": "k" * 32, "CRASHBOT_CONFIG": str(config)}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@posix_only
def test_upload_fifo_is_skipped_and_the_other_report_still_spooled(tmp_path: Path) -> None:
    fifo = tmp_path / "stuck.txt"
    os.mkfifo(fifo)
    spool = tmp_path / "spool.db"
    argv = ["upload", str(fifo), str(GDB), "--repo", "o/r", "--api-url", closed_port_url()]
    done = crashbot(*argv, "--spool", str(spool), cwd=tmp_path, timeout=60, **upload_env(tmp_path))
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("crashbot: error:")]
    assert len(errors) == 1 and "stuck.txt" in errors[0] and "not a regular file" in errors[0]
    assert "Traceback" not in done.stderr
    assert f"spooled for later  {GDB}" in done.stdout


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "COMMAND"),
        (["parse"], "file"),
        (["fix", "--issue", "abc"], "'abc' is not a whole number"),
        (["fix", "--issue", "-1"], "-1 is not positive"),
        (["deploy", "--ref"], "expected one argument"),
        (["parse", "x.txt", "--format", "minidump"], "invalid choice"),
    ],
)
def test_cli_bad_arguments_are_one_error_line_with_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert says in line and "--help" in line


def test_parse_format_in_another_case_is_understood(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(GDB), "--format", "GDB", "--json"]) == 0
    assert '"format": "gdb"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        pytest.param(
            os.fsdecode(b"crash-\xff.txt"),
            "utf-8",
            marks=pytest.mark.skipif(sys.platform != "linux", reason="Linux file names are bytes"),
            id="non-utf8-name",
        ),
        # what a Windows console redirected to a file does: the ANSI code page, strict
        pytest.param("отчёт 1.txt", "cp1252", id="cyrillic-name-on-cp1252"),
    ],
)
def test_signature_prints_a_name_its_stdout_cannot_encode(tmp_path: Path, name: str, encoding: str) -> None:
    report = tmp_path / name
    report.write_bytes(GDB.read_bytes())
    done = crashbot("signature", name, cwd=tmp_path, PYTHONIOENCODING=encoding)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("dbd720a1cbc61d19  SIGSEGV | Field::GetUInt32")


def run_with_config(capsys: pytest.CaptureFixture[str], config: Path | str, *argv: str) -> tuple[int, str]:
    code = main(["--config", str(config), *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a = " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
        ("a = " + "{x = " * 5_000 + "1" + "}" * 5_000 + "\n", "nested too deeply"),
        ("[github]\ntimeout_s = nan\n", "'github.timeout_s': expected a finite number, got nan"),
        ("[uploader]\nbackoff_cap_s = inf\n", "'uploader.backoff_cap_s': expected a finite number, got inf"),
        ('[github]\napi_url = "http://[::1"\n', "github.api_url"),
        ('[github]\napi_url = "http://127.0.0.1:99999"\n', "github.api_url"),
        ('[github]\napi_url = "ftp://example.com"\n', "github.api_url"),
    ],
    ids=["array-bomb", "table-bomb", "nan", "inf", "bad-ipv6", "port-out-of-range", "not-http"],
)
def test_hostile_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    config = tmp_path / "crashbot.toml"
    config.write_text(text, encoding="utf-8")
    code, err = run_with_config(capsys, config, "parse", str(GDB))
    assert code == 2
    assert says in one_error_line(err)


def test_config_that_is_a_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "conf.toml").mkdir()
    code, err = run_with_config(capsys, tmp_path / "conf.toml", "parse", str(GDB))
    assert code == 2
    assert "is a directory" in one_error_line(err)


def test_default_config_name_taken_by_a_directory_is_not_silently_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "crashbot.toml").mkdir()
    assert main(["parse", str(GDB)]) == 2
    assert "crashbot.toml" in one_error_line(capsys.readouterr().err)


@posix_only
def test_config_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.toml")
    done = crashbot("--config", "fifo.toml", "parse", str(GDB), cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert "not a regular file" in one_error_line(done.stderr)


def test_config_saved_with_a_utf8_bom_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Windows Notepad (before 2019) saves UTF-8 with a BOM by default."""
    config = tmp_path / "crashbot.toml"
    config.write_bytes(b"\xef\xbb\xbf[uploader]\nstability_s = 1.0\n")
    code, err = run_with_config(capsys, config, "parse", str(GDB))
    assert code == 0, err


def test_config_saved_as_utf16_says_to_save_it_as_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "crashbot.toml"
    config.write_bytes("[uploader]\nstability_s = 1.0\n".encode("utf-16"))
    code, err = run_with_config(capsys, config, "parse", str(GDB))
    assert code == 2
    assert "UTF-16" in one_error_line(err) and "save it as UTF-8" in err


def test_config_env_pointing_nowhere_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRASHBOT_CONFIG", str(tmp_path / "gone" / "crashbot.toml"))
    assert main(["parse", str(GDB)]) == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "file:///etc/passwd", "http://"])
def test_api_url_flag_that_is_no_http_url_is_one_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["upload", str(GDB), "--repo", "o/r", "--api-url", url])
    assert exit_.value.code == 2
    assert "--api-url" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("kind", ["directory", "not-a-database"])
def test_upload_spool_that_cannot_be_opened_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    for name, value in upload_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    spool = tmp_path / "spool.db"
    if kind == "directory":
        spool.mkdir()
    else:
        spool.write_bytes(b"this is no SQLite database\n" * 100)
    code = main(["upload", str(GDB), "--repo", "o/r", "--api-url", closed_port_url(), "--spool", str(spool)])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(spool) in line and "--spool" in line


class StalledServer:
    """A loopback HTTP 'server' that accepts connections and never answers (a hung GitHub)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@posix_only
def test_upload_interrupted_while_github_hangs_exits_130_and_keeps_the_report(tmp_path: Path) -> None:
    server = StalledServer()
    env = upload_env(tmp_path)
    Path(env["CRASHBOT_CONFIG"]).write_text(
        "[github]\ntimeout_s = 3.0\n[uploader]\nedit_interval_s = 0.0\n", encoding="utf-8"
    )
    spool = tmp_path / "spool.db"
    argv = ["upload", str(GDB), "--repo", "o/r", "--api-url", f"http://127.0.0.1:{server.port}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *argv, "--spool", str(spool)],
        cwd=tmp_path,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.accepted.wait(30), "crashbot never called the API"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.close()
    assert proc.returncode == 130, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "spool" in err
    assert f"spooled for later  {GDB}" in out and "interrupted" in out
    with Spool(spool) as kept:
        assert [r.path for r in kept.reports(ReportState.NEW)] == [str(GDB)]


@pytest.mark.skipif(sys.platform == "win32", reason="on Windows these are ordinary paths")
@pytest.mark.parametrize("folder", [r"D:\WoW\Crashes", "C:/WoW/Crashes", r"\\gamehost\Crashes"])
def test_watch_windows_path_on_posix_is_refused_not_created(tmp_path: Path, folder: str) -> None:
    env = upload_env(tmp_path)
    before = set(tmp_path.iterdir())
    argv = ["watch", folder, "--repo", "o/r", "--api-url", closed_port_url(), "--spool", "s.db"]
    done = crashbot(*argv, cwd=tmp_path, timeout=20, **env)
    assert done.returncode == 2
    assert "Windows path" in one_error_line(done.stderr)
    assert set(tmp_path.iterdir()) == before


def test_fix_issue_number_beyond_any_github_issue_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["fix", "--issue", "99999999999999999999999"])
    assert exit_.value.code == 2
    assert "too large" in one_error_line(capsys.readouterr().err)


def test_deploy_install_dir_that_is_a_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "worldserver").write_text("not a folder\n", encoding="utf-8")
    config = tmp_path / "crashbot.toml"
    config.write_text(f"[deploy]\ninstall_dir = {str(tmp_path / 'worldserver')!r}\n", encoding="utf-8")
    code, err = run_with_config(capsys, config, "deploy", "--rollback")
    assert code == 2
    assert "is not a directory" in one_error_line(err)
