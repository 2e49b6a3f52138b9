"""``crashbot parse`` / ``crashbot signature`` through the real entry point and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

GLUE = Path(__file__).resolve().parents[1] / "fixtures" / "crash" / "glue"
AC = GLUE / "ac-duplicate-thread.txt"
GDB = GLUE / "gdb-linux-segv.txt"
CONTRACT = {
    "format",
    "exception",
    "assertion",
    "revision",
    "frames",
    "top_frame",
    "signature",
    "signature_id",
}


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRASHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_json_prints_the_design_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "parse", str(AC), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert set(obj) >= CONTRACT
    assert set(obj) - CONTRACT == {"signature_full_id", "signature_version", "related_stacks"}
    assert obj["format"] == "wheaty"
    assert obj["exception"] == {"code": "C0000005", "name": "ACCESS_VIOLATION"}
    assert obj["assertion"] is None
    assert obj["revision"] == "6ab3b1c7f2e1"
    assert obj["top_frame"]["function"] == "Field::GetUInt32"
    assert obj["top_frame"]["line"] == 119
    assert (
        obj["signature"]
        == "ACCESS_VIOLATION | Field::GetUInt32 | Player::LoadFromDB | WorldSession::HandlePlayerLogin"
    )
    assert all(
        set(f) == {"function", "module", "file", "line", "column", "offset", "address", "inline"}
        for f in obj["frames"]
    )
    assert obj["frames"][0]["function"] == "Field::GetUInt32"


def test_parse_json_exception_without_a_code_is_null(capsys: pytest.CaptureFixture[str]) -> None:
    """The contract's exception is {code, name} or null: a cdb excerpt that names only the faulting
    module (FOLLOWUP_IP) has no code to show, so it is null, never an empty code."""
    sample = Path(__file__).resolve().parents[1] / "fixtures" / "samples" / "ac-issue-818-cdb.txt"
    code, out, err = run(capsys, "parse", str(sample), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["exception"] is None
    assert obj["signature"] == "UNKNOWN | kernelbase+0x1a06d"


def test_parse_json_explain_adds_decisions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", str(AC), "--json", "--explain")
    assert code == 0
    decisions = json.loads(out)["decisions"]
    assert decisions[0]["rule"] == "crashing-thread"
    assert {"rule", "frame", "action", "reason"} == set(decisions[0])
    assert any(d["rule"] == "os-frames" and d["action"] == "skip" for d in decisions)


def test_parse_human_output_marks_skipped_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", str(AC), "--explain")
    assert code == 0
    assert "format:     wheaty" in out
    assert "top frame:  Field::GetUInt32 at " in out
    assert "signature:  ACCESS_VIOLATION | Field::GetUInt32" in out
    assert "  * #0   Field::GetUInt32" in out
    assert "  - #5   BaseThreadInitThunk" in out
    assert "[crashing-thread] choose:" in out


def test_parse_forced_format_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "parse", str(GDB), "--format", "cdb")
    assert code == 2
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (bytes(range(256)) * 40, "not a crash report crashbot recognises"),
        (b"hello, this is a shopping list\nmilk\neggs\n", "not a crash report crashbot recognises"),
    ],
    ids=["empty", "blank", "binary", "prose"],
)
def test_parse_unrecognised_input_exit_2_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    code, out, err = run(capsys, "parse", str(bad))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_parse_missing_file_and_directory_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "parse", str(tmp_path / "nope.txt"))
    assert (code, err.count("\n")) == (2, 1)
    assert "no such file" in err
    code, _, err = run(capsys, "parse", str(tmp_path))
    assert (code, err.count("\n")) == (2, 1)
    assert "is a directory" in err


@pytest.mark.skipif(
    os.name == "nt" or (hasattr(os, "geteuid") and os.geteuid() == 0), reason="root reads anything"
)
def test_parse_permission_denied_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_bytes(AC.read_bytes())
    locked.chmod(0)
    code, _, err = run(capsys, "parse", str(locked))
    assert (code, err.count("\n")) == (2, 1)
    assert "permission denied" in err


def test_parse_permission_error_path_is_one_line_even_as_root(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A path through a regular file ("x.txt/y") fails with an OSError other than not-found or EACCES."""
    plain = tmp_path / "x.txt"
    plain.write_text("x")
    code, _, err = run(capsys, "parse", str(plain / "y"))
    assert (code, err.count("\n")) == (2, 1)
    assert "Traceback" not in err


def test_signature_prints_one_line_per_file_and_continues_past_failures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02 junk")
    code, out, err = run(capsys, "signature", str(AC), str(bad), str(GDB))
    assert code == 2
    lines = out.splitlines()
    assert len(lines) == 2
    sig_id, text, name = lines[0].split("  ")
    assert len(sig_id) == 16
    assert text.startswith("ACCESS_VIOLATION | Field::GetUInt32")
    assert name == str(AC)
    assert lines[1].endswith(f"  {GDB}")
    assert err.count("\n") == 1
    assert str(bad) in err


def test_signature_all_good_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "signature", str(AC), str(GLUE / "ac-handler-block-only.txt"))
    assert code == 0
    ids = {line.split("  ")[0] for line in out.splitlines()}
    assert len(ids) == 1


def test_parse_as_subprocess_never_tracebacks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(os.urandom(4096))
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "parse", str(bad), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1


SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


@pytest.mark.parametrize(
    ("sample", "fmt"),
    [("meminfo-issue-14-event1000.txt", "windows-event"), ("winauth-issue-573-report-wer-german.txt", "wer")],
)
def test_parse_windows_fault_records_by_format_choice_with_explain(
    capsys: pytest.CaptureFixture[str], sample: str, fmt: str
) -> None:
    code, out, err = run(capsys, "parse", str(SAMPLES / sample), "--format", fmt.upper(), "--explain")
    assert code == 0, err
    assert f"format:     {fmt}" in out
    assert "note:       Windows' fault record names only where the fault happened" in out
    assert "[signature] sign:" in out


def test_parse_report_wer_utf16_file_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wer = tmp_path / "Report.wer"
    text = (SAMPLES / "readest-issue-683-report-wer-bex64.txt").read_text(encoding="utf-8")
    wer.write_bytes(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
    code, out, err = run(capsys, "parse", str(wer), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert (obj["format"], obj["exception"]) == ("wer", {"code": "C0000409", "name": "STACK_BUFFER_OVERRUN"})
    assert obj["signature"] == "STACK_BUFFER_OVERRUN | ucrtbase.dll+0x7f6fe"


def test_parse_reads_an_uncaught_exception_s_console_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """cmangos/issues#1151: refused before as "not a crash report crashbot recognises" (exit 2)."""
    code, out, err = run(capsys, "parse", str(SAMPLES / "cmangos-issue-1151.txt"))
    assert code == 0, err
    assert "format:     uncaught-exception" in out
    assert "thrown:     std::domain_error: Unrecognized item prototype class" in out


def test_parse_format_uncaught_exception_is_a_choice(capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(SAMPLES / "tc-issue-25147.txt")
    code, out, err = run(capsys, "parse", sample, "--format", "uncaught-exception", "--json")
    assert code == 0, err
    assert json.loads(out)["exception"]["type"] == "boost::process::process_error"


@pytest.mark.parametrize(
    ("sample", "first_lines"),
    [
        (
            "cmangos-issue-2124.txt",
            [
                "format:     cdb",
                "exception:  C0000005",
                "top frame:  Spell::CheckCast at d:\\mangos compile\\github\\targetingrework\\mangos-tbc-master"
                "\\src\\game\\spells\\spell.cpp:4860",
                "signature:  ACCESS_VIOLATION | Spell::CheckCast | Spell::PreCastCheck | Spell::SpellStart",
            ],
        ),
        (
            "vmangos-issue-153.txt",
            [
                "format:     vmangos-log",
                "exception:  (none)",
                "top frame:  Unit::CleanupsBeforeDelete",
                "signature:  UNKNOWN | Unit::CleanupsBeforeDelete | Map::AddObjectToRemoveList"
                " | WorldObject::AddObjectToRemoveList",
            ],
        ),
        (
            "vmangos-issue-98.txt",
            [
                "format:     vmangos-log",
                "exception:  SIGSEGV Segmentation fault",
                "top frame:  Map::Remove<T>",
                "signature:  SIGSEGV | Map::Remove<T> | Map::RemoveOldBones | Map::Update",
            ],
        ),
    ],
)
def test_parse_reads_the_reports_it_once_called_unrecognised(
    capsys: pytest.CaptureFixture[str], sample: str, first_lines: list[str]
) -> None:
    """cmangos/issues#2124, vmangos/core#153 and #98 were "not a crash report crashbot recognises" (exit 2)."""
    code, out, err = run(capsys, "parse", str(SAMPLES / sample))
    assert code == 0, err
    assert out.splitlines()[:4] == first_lines


def test_parse_keeps_the_line_logged_above_a_bare_vmangos_backtrace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "parse", str(SAMPLES / "vmangos-issue-153.txt"))
    assert code == 0, err
    assert (
        "note:       logged before the backtrace: [Crash/Auras] Deleting aura 6219 in use "
        "(Pet (Petnumber: 3261 Guid: 11))" in out.splitlines()
    )
    assert "crashing thread 0, 27 frames ('*' meaningful, '-' skipped):" in out
