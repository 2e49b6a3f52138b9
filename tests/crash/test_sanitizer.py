"""Sanitizer reports: real ASan/UBSan/TSan/LSan output of small buggy programs compiled here, and of the demo
worldserver built with ``-fsanitize=address``; plus the shapes real output takes when it is damaged."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse, crash_to_json, parse_report
from bot.crash.model import Crash, Format, StackRole
from bot.crash.normalize import file_basename
from bot.crash.parsers import sanitizer
from bot.crash.sniff import scores
from bot.crash.text import clean_lines
from bot.demo import worldserver as demo
from tests.crash.contract import assert_reads_or_refuses

PROGRAMS = Path(__file__).resolve().parents[1] / "fixtures" / "crash" / "sanitizer"
GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(
    GXX is None, reason="g++ is not installed (runner-setup/dev-setup.sh installs it)"
)


# What a sanitizer runtime prints when this host cannot run it at all.
_RUNTIME_CANNOT_RUN = (
    "FATAL: ThreadSanitizer: unexpected memory mapping",
    "LeakSanitizer has encountered a fatal error",
    "LeakSanitizer does not work under ptrace",
)


def sanitized_output(tmp_path: Path, source: str, sanitize: str, env: dict[str, str] | None = None) -> str:
    """Compile ``PROGRAMS/source`` with ``-fsanitize=<sanitize>``, run it, return what it printed."""
    assert GXX is not None
    exe = tmp_path / Path(source).stem
    flags = ["-fsanitize=" + sanitize, "-fno-omit-frame-pointer", "-g", "-O0"]
    subprocess.run([GXX, *flags, str(PROGRAMS / source), "-o", str(exe)], check=True, timeout=120)
    run_env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0", **(env or {})}
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, env=run_env, check=False)
    output = result.stdout + result.stderr
    for broken in _RUNTIME_CANNOT_RUN:
        if broken in output:  # the host, not crashbot: e.g. TSan under high mmap ASLR, LSan without ptrace
            pytest.skip(f"the {sanitize} sanitizer cannot run on this host: {broken}")
    return output


def crash_of(text: str) -> Crash:
    return analyse(parse_report(text))


def names(frames: Sequence[object]) -> list[str | None]:
    return [getattr(f, "function", None) for f in frames]


@pytest.fixture(scope="module")
def uaf(tmp_path_factory: pytest.TempPathFactory) -> str:
    if GXX is None:
        pytest.skip("g++ is not installed")
    return sanitized_output(tmp_path_factory.mktemp("uaf"), "uaf.cpp", "address")


@needs_gxx
def test_asan_use_after_free_error_kind_is_the_exception_and_access_stack_the_crashing_thread(
    uaf: str,
) -> None:
    crash = crash_of(uaf)
    report = crash.report
    assert report.format is Format.SANITIZER
    assert report.exception is not None
    assert report.exception.code == "heap-use-after-free"
    assert report.exception.name is not None and report.exception.name.startswith("AddressSanitizer: ")
    assert " pc " not in report.exception.name  # registers change every run
    assert crash.thread is not None and crash.thread.id == "T0"
    assert crash.top_frame is not None
    assert (crash.top_frame.function, file_basename(crash.top_frame.file or ""), crash.top_frame.line) == (
        "ReadHealth",
        "uaf.cpp",
        10,
    )
    assert crash.signature.text == "HEAP_USE_AFTER_FREE | ReadHealth | main"


@needs_gxx
def test_asan_free_and_allocation_stacks_are_kept_as_related_stacks(uaf: str) -> None:
    report = parse_report(uaf)
    roles = [s.role for s in report.related]
    assert roles == [StackRole.FREED, StackRole.ALLOCATED]
    freed, allocated = report.related
    assert freed.title == "freed by thread T0 here"
    assert names(freed.frames)[:3] == ["operator delete", "Despawn", "main"]
    assert names(allocated.frames)[:3] == ["operator new", "Spawn", "main"]
    assert freed.frames[1].line == 9 and file_basename(freed.frames[1].file or "") == "uaf.cpp"


@needs_gxx
def test_asan_report_outranks_gdb_when_sniffed(uaf: str) -> None:
    ranked = scores(clean_lines(uaf))
    assert ranked[0][1].format is Format.SANITIZER
    assert ranked[0][0] == 100


@needs_gxx
def test_asan_parse_json_lists_related_stacks(uaf: str) -> None:
    out = crash_to_json(crash_of(uaf))
    assert out["format"] == "sanitizer"
    assert [s["role"] for s in out["related_stacks"]] == ["freed", "allocated"]
    assert out["related_stacks"][0]["frames"][1]["function"] == "Despawn"


@needs_gxx
def test_asan_truncated_inside_the_free_stack_is_read_with_a_note(uaf: str) -> None:
    cut = uaf[: uaf.index("previously allocated")]
    crash = crash_of(cut)
    assert crash.top_frame is not None and crash.top_frame.function == "ReadHealth"
    assert [s.role for s in crash.report.related] == [StackRole.FREED]
    assert any(n.startswith("truncated:") for n in crash.report.notes)


@needs_gxx
def test_asan_truncated_after_the_header_still_names_the_error(uaf: str) -> None:
    header = next(line for line in uaf.splitlines() if "ERROR: AddressSanitizer" in line)
    report = parse_report(header + "\n")
    assert report.exception is not None and report.exception.code == "heap-use-after-free"
    assert "no stack frames in the sanitizer report" in report.notes


@needs_gxx
def test_ubsan_runtime_error_is_the_exception_with_its_stack(tmp_path: Path) -> None:
    text = sanitized_output(tmp_path, "overflow.cpp", "undefined", {"UBSAN_OPTIONS": "print_stacktrace=1"})
    crash = crash_of(text)
    assert crash.report.format is Format.SANITIZER
    assert crash.report.exception is not None
    assert crash.report.exception.code == "undefined-behavior"
    assert "signed integer overflow" in (crash.report.exception.name or "")
    assert crash.top_frame is not None and crash.top_frame.function == "AddExperience"


@needs_gxx
def test_ubsan_without_a_stack_keeps_the_error_location_with_its_column(tmp_path: Path) -> None:
    text = sanitized_output(tmp_path, "overflow.cpp", "undefined")
    report = parse_report(text)
    (frame,) = report.threads[0].frames
    assert file_basename(frame.file or "") == "overflow.cpp"
    assert frame.line == 5 and frame.column is not None


@needs_gxx
def test_tsan_data_race_second_access_is_a_related_stack(tmp_path: Path) -> None:
    text = sanitized_output(tmp_path, "race.cpp", "thread")
    crash = crash_of(text)
    assert crash.report.exception is not None and crash.report.exception.code == "data-race"
    assert crash.top_frame is not None and crash.top_frame.function == "AddSession"
    roles = [s.role for s in crash.report.related]
    assert roles[0] is StackRole.PREVIOUS_ACCESS
    assert StackRole.THREAD_CREATED in roles
    assert names(crash.report.related[0].frames)[0] == "AddSession"


@needs_gxx
def test_lsan_leak_allocation_is_the_crashing_stack(tmp_path: Path) -> None:
    text = sanitized_output(tmp_path, "leak.cpp", "address", {"ASAN_OPTIONS": "detect_leaks=1"})
    crash = crash_of(text)
    assert crash.report.exception is not None and crash.report.exception.code == "memory-leak"
    assert crash.top_frame is not None and crash.top_frame.function == "ReadPacket"


FRAME_SHAPES = [
    # (frame line, function, file, line, column, module, offset)
    (
        "    #0 0x4f2a in Unit::Update(unsigned int) /src/game/Unit.cpp:812:17",
        "Unit::Update",
        "/src/game/Unit.cpp",
        812,
        17,
        None,
        None,
    ),
    (
        "    #3 0x7f12 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x94ac3)",
        "start_thread",
        None,
        None,
        None,
        "libc.so.6",
        "0x94ac3",
    ),
    (
        "    #4 0x7f12  (/lib/x86_64-linux-gnu/libc.so.6+0x29d8f) (BuildId: 89c3cb85f9e55046776471fed05ec441581d1969)",
        None,
        None,
        None,
        None,
        "libc.so.6",
        "0x29d8f",
    ),
    ("    #0 Bump() /tmp/race.cpp:3 (race+0x123c)", "Bump", "/tmp/race.cpp", 3, None, "race", "0x123c"),
    ("    #6 <null> <null> (libstdc++.so.6+0xd44a2)", None, None, None, None, "libstdc++.so.6", "0xd44a2"),
]


@pytest.mark.parametrize(("text", "function", "file", "line", "column", "module", "offset"), FRAME_SHAPES)
def test_sanitizer_frame_shapes_split_into_fields(
    text: str,
    function: str | None,
    file: str | None,
    line: int | None,
    column: int | None,
    module: str | None,
    offset: str | None,
) -> None:
    report = sanitizer.parse(["==1==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000", text])
    (frame,) = report.threads[0].frames
    assert (frame.function, frame.file, frame.line, frame.column, frame.module, frame.offset) == (
        function,
        file,
        line,
        column,
        module,
        offset,
    )


def test_sanitizer_log_prefix_before_each_line_is_tolerated() -> None:
    lines = [
        "May 18 13:42:39 host worldserver[1071]: ==1071==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1",
        "May 18 13:42:39 host worldserver[1071]: WRITE of size 4 at 0x1 thread T3",
        "May 18 13:42:39 host worldserver[1071]:     #0 0x5 in Map::Update(unsigned int) /src/Maps/Map.cpp:120:3",
        "May 18 13:42:39 host worldserver[1071]: SUMMARY: AddressSanitizer: heap-buffer-overflow /src/Maps/Map.cpp:120:3 in Map::Update(unsigned int)",
    ]
    report = parse_report("\n".join(lines))
    assert report.format is Format.SANITIZER
    assert report.exception is not None and report.exception.code == "heap-buffer-overflow"
    assert report.threads[0].id == "T3"
    assert report.threads[0].frames[0].function == "Map::Update"


def test_sanitizer_later_reports_are_counted_in_a_note() -> None:
    one = "a.cpp:1:2: runtime error: load of null pointer of type 'Unit'"
    report = sanitizer.parse([one, "    #0 0x1 in F() /a.cpp:1", one, one])
    assert "2 more sanitizer report(s) follow in the log; the first is filed" in report.notes


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["==1==ERROR: AddressSanitizer:"],
        ["SUMMARY: AddressSanitizer: heap-use-after-free"],
        ["#0 0x in  (+0x)"] * 3,
        ["==1==ERROR: AddressSanitizer: x", "    #0 " + "(" * 5000],
        ["==1==ERROR: AddressSanitizer: x", "    #0 0x1 in " + "a" * 100_000 + " /b.cpp:1:1"],
        ["x:1:2: runtime error: " + "y" * 10_000],
    ],
)
def test_sanitizer_hostile_input_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(sanitizer, lines)


def test_sanitizer_without_a_header_is_refused_with_one_line() -> None:
    with pytest.raises(Exception, match="no sanitizer report found"):
        sanitizer.parse(["SUMMARY: AddressSanitizer: heap-use-after-free /a.cpp:1 in F"])


@pytest.mark.slow
@needs_gxx
def test_demo_server_asan_build_crash_reads_as_sanitizer_report(tmp_path: Path) -> None:
    """The demo worldserver's real null-pointer bug, caught by AddressSanitizer instead of gdb."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    exe = demo.build(demo.SERVER_SOURCE, tmp_path / "build", cmake_args=demo.SANITIZE_ADDRESS_ARGS)
    workdir = tmp_path / "run"
    ports = (demo.free_port(), demo.free_port(), demo.free_port())
    demo.write_config(
        workdir, world_port=ports[0], soap_port=ports[1], ra_port=ports[2], user="u", password="p"
    )
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
    result = subprocess.run(
        [str(exe), "-c", str(workdir / demo.CONFIG_NAME), demo.CRASH_AFTER_FLAG, "0"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    crash = crash_of(result.stdout + result.stderr)
    assert crash.report.format is Format.SANITIZER
    assert crash.report.exception is not None and crash.report.exception.code == "SEGV"
    assert crash.top_frame is not None
    assert crash.top_frame.function == "ChatHandler::SendWhisper"
    assert file_basename(crash.top_frame.file or "") == "ChatHandler.cpp"
    assert crash.signature.frames == (
        "ChatHandler::SendWhisper",
        "ChatHandler::HandleWhisperCommand",
        "ChatHandler::ParseCommands",
    )
    assert crash.report.build.revision is None or crash.report.build.product == "TrinityCore"


_ASAN_WORDS = st.sampled_from(
    [
        "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1",
        "WARNING: ThreadSanitizer: data race",
        "a.cpp:1:2: runtime error: x",
        "READ of size 4 at 0x1 thread T0",
        "freed by thread T0 here:",
        "previously allocated by thread T0 here:",
        "Previous write of size 4 at 0x1 by thread T1:",
        "SUMMARY: AddressSanitizer: heap-use-after-free",
        "#0",
        "0x1",
        " in ",
        "(",
        ")",
        "+0x",
        "/a.cpp:",
        ":12:5",
        " ",
        "",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_ASAN_WORDS, max_size=8).map("".join), max_size=40))
def test_sanitizer_word_soup_reads_or_refuses(lines: list[str]) -> None:
    assert_reads_or_refuses(sanitizer, lines)
