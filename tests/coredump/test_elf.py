"""bot.coredump.elf: what a real core says about itself, and what is refused as no core."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bot.coredump.elf import NotACore, is_core, read_core
from bot.symbols.identity import file_build_id
from tests.coredump.conftest import Dumped, needs_tools


@needs_tools
def test_read_core_names_process_signal_executable_and_its_build_id(dumped: Dumped) -> None:
    info = read_core(dumped.core)
    assert info.name == "worldserver"
    assert info.signal == "SIGSEGV"
    assert info.executable == str(dumped.exe)
    assert info.command_line is not None and info.command_line.startswith(str(dumped.exe))
    assert info.pid is not None and info.pid > 0
    assert info.threads == 1
    assert info.build_id is not None and info.build_id == file_build_id(dumped.exe)
    assert any(m.path.endswith("libc.so.6") for m in info.mappings)


@needs_tools
def test_is_core_tells_a_core_from_its_executable_and_from_text(dumped: Dumped, tmp_path: Path) -> None:
    text = tmp_path / "crash.log"
    text.write_text("Program received signal SIGSEGV\n", encoding="utf-8")
    assert is_core(dumped.core)
    assert not is_core(dumped.exe)
    assert not is_core(text)
    assert not is_core(tmp_path / "missing")


@needs_tools
def test_read_core_of_an_executable_is_refused_with_what_it_is(dumped: Dumped) -> None:
    with pytest.raises(NotACore, match="not a core"):
        read_core(dumped.exe)


@needs_tools
def test_read_core_cut_short_is_refused_with_one_line(dumped: Dumped, tmp_path: Path) -> None:
    cut = tmp_path / "core.cut"
    cut.write_bytes(dumped.core.read_bytes()[:100])
    with pytest.raises(NotACore):
        read_core(cut)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x7fELF",
        b"\x7fELF\x01\x01" + b"\0" * 60,  # 32-bit
        b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<H", 4) + b"\xff" * 46,  # ET_CORE, garbage header
        b"MZ" + b"\0" * 200,
    ],
)
def test_read_core_junk_is_refused_never_a_crash(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(data)
    with pytest.raises(NotACore):
        read_core(path)


def test_file_build_id_of_a_text_file_is_none(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_text("hello", encoding="utf-8")
    assert file_build_id(path) is None


def test_is_core_never_opens_a_fifo(tmp_path: Path) -> None:
    """Regression: ``crashbot parse FIFO`` hung in the core check, which opened the FIFO and waited for a writer."""
    import os

    fifo = tmp_path / "report.txt"
    os.mkfifo(fifo)
    assert not is_core(fifo)
