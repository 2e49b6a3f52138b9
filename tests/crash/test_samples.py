"""End to end over the real samples (``truth.json``, read by eye) and the glue fixtures (``expected.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.crash import analyse, crash_to_json, parse_report
from bot.crash.model import TEXT_FORMATS, Crash, Format
from bot.crash.normalize import file_basename
from bot.crash.sniff import parsers

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLES = ROOT / "samples"
GLUE = ROOT / "crash" / "glue"
TRUTH: list[dict[str, Any]] = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["cases"]
EXPECTED: dict[str, dict[str, Any]] = json.loads((GLUE / "expected.json").read_text(encoding="utf-8"))[
    "groups"
]

# The format each real sample is (SOURCES.md); ac-issue-4981 is a VS call stack under a console assert.
SAMPLE_FORMATS: dict[str, set[Format]] = {
    "ac-issue-13275.txt": {Format.WHEATY},
    "ac-issue-14340-cdb.txt": {Format.CDB},
    "ac-issue-2216.txt": {Format.GDB},
    "ac-issue-4981.txt": {Format.VS_CALLSTACK, Format.ASSERT_LOG},
    "ac-issue-818-cdb.txt": {Format.CDB},
    "ac-mod-transmog-issue-52-part2.txt": {Format.WHEATY},
    "ac-mod-transmog-issue-52.txt": {Format.WHEATY},
    "cmangos-issue-1082.txt": {Format.VMANGOS_LOG},  # the same console assertion line shape
    "cmangos-issue-3908.txt": {Format.GDB},
    "cmangos-issue-946.txt": {Format.WHEATY},
    "cmangos-issue-948.txt": {Format.WHEATY},
    "mod-playerbots-issue-1184.txt": {Format.WHEATY},
    "mod-playerbots-pr-624.txt": {Format.WHEATY},
    "mod-playerbots-issue-2618-part2.txt": {Format.GDB},
    "mod-playerbots-issue-2618.txt": {Format.GDB},
    "moon-7d14957a32df-20251031-115858-cdb-stacktext.txt": {Format.CDB},
    "moon-7d14957a32df-20251031-115858-head5000.txt": {Format.WHEATY},
    "tc-issue-15704.txt": {Format.ASSERT_LOG},
    "tcbots-issue-57-part2.txt": {Format.WHEATY},
    "tcbots-issue-57.txt": {Format.WHEATY},
    "vmangos-issue-143.txt": {Format.VMANGOS_LOG},
    "vmangos-issue-145.txt": {Format.VMANGOS_LOG},
    "vmangos-issue-226.txt": {Format.VMANGOS_LOG},
    "vmangos-issue-2272.txt": {Format.VMANGOS_LOG},
    "vmangos-issue-2359.txt": {Format.VMANGOS_LOG},
    "vmangos-issue-273.txt": {Format.VMANGOS_LOG},
    # vMaNGOS's backtrace without the assertion line: under an error line (Windows), a signal line (glibc)
    "vmangos-issue-153.txt": {Format.VMANGOS_LOG},
    "vmangos-issue-98.txt": {Format.VMANGOS_LOG},
    "cmangos-issue-2124.txt": {Format.CDB},  # cdb's call-site column alone, under an exception summary
    "libiec61850-issue-165-asan.txt": {Format.SANITIZER},
    "debugdiag-mssupport-kb2295405-args.txt": {Format.DEBUGDIAG},
    "debugdiag-iis-heap-thread.txt": {Format.DEBUGDIAG},
    "debugdiag-wcf-verdict.txt": {Format.DEBUGDIAG},
    "ac-issue-18961-event1000-translated.txt": {Format.WINDOWS_EVENT},
    "meminfo-issue-14-event1000.txt": {Format.WINDOWS_EVENT},
    "munin-node-win32-issue-6-event1000-wrapped.txt": {Format.WINDOWS_EVENT},
    "repackinator-issue-58-event1000-xml.txt": {Format.WINDOWS_EVENT},
    "sachesi-issue-16-event1000-german.txt": {Format.WINDOWS_EVENT},
    "xplist-issue-37-event1000-chinese.txt": {Format.WINDOWS_EVENT},
    "vintagestory-issue-5576-event1000-powershell.txt": {Format.WINDOWS_EVENT},
    # Event 1000's description and Event 1001's P1..P10 of the same crash, one after the other
    "maxto-issue-75-event1000-and-1001.txt": {Format.WINDOWS_EVENT, Format.WER},
    "skyfire406a-issue-707-problem-signature.txt": {Format.WER},
    "pvpgn-issue-96-problem-signature-spanish.txt": {Format.WER},
    "qbittorrent-issue-23940-event1001-bex64-chinese.txt": {Format.WER},
    "readest-issue-683-report-wer-bex64.txt": {Format.WER},
    "usbipd-win-issue-1254-report-wer-bex64-chinese.txt": {Format.WER},
    "winauth-issue-573-report-wer-german.txt": {Format.WER},
    "tauri-issue-1101-event1001-xml-bex64.txt": {Format.WER},
    "cmangos-issue-1151.txt": {Format.UNCAUGHT},
    "tc-issue-25147.txt": {Format.UNCAUGHT},
    "tc-issue-15552.txt": {Format.UNCAUGHT},
}
JSON_KEYS = {
    "format",
    "exception",
    "assertion",
    "revision",
    "frames",
    "top_frame",
    "signature",
    "signature_id",
    "signature_full_id",
    "signature_version",
    "related_stacks",
}
FRAME_KEYS = {"function", "module", "file", "line", "column", "offset", "address", "inline"}


def crash_of(path: Path) -> Crash:
    return analyse(parse_report(path.read_bytes()))


def test_samples_every_real_sample_has_a_truth_format() -> None:
    assert {p.name for p in SAMPLES.glob("*.txt")} == set(SAMPLE_FORMATS)


@pytest.mark.parametrize("name", sorted(SAMPLE_FORMATS))
def test_samples_parse_sniffs_format_and_signs(name: str) -> None:
    crash = crash_of(SAMPLES / name)
    assert crash.report.format in SAMPLE_FORMATS[name]
    assert crash.signature.id and crash.signature.text
    out = crash_to_json(crash)
    assert set(out) == JSON_KEYS
    assert all(set(frame) == FRAME_KEYS for frame in out["frames"])
    json.dumps(out)


@pytest.mark.parametrize("case", TRUTH, ids=[c["file"] for c in TRUTH])
def test_samples_match_truth(case: dict[str, Any]) -> None:
    crash = crash_of(SAMPLES / case["file"])
    report = crash.report
    if "exception" in case:
        assert report.exception is not None
        assert report.exception.code == case["exception"]
    if "assertion_line" in case:
        assert report.assertion is not None
        assert report.assertion.line == case["assertion_line"]
    if "top" in case:
        truth = case["top"]
        top = crash.top_frame
        if truth["function"] is None:
            assert top is None or top.function is None
        else:
            assert top is not None
            assert top.function in truth["function"]
            if "file" in truth:
                assert top.file is not None
                assert file_basename(top.file) == truth["file"]
            if "line" in truth:
                assert top.line == truth["line"]


def test_samples_distinct_real_crashes_get_distinct_ids() -> None:
    """Every real sample with a symbolised top frame is a different crash; none may share an id."""
    ids: dict[str, str] = {}
    for case in TRUTH:
        if case.get("top", {}).get("function"):
            ids[case["file"]] = crash_of(SAMPLES / case["file"]).signature.id
    assert len(set(ids.values())) == len(ids), ids


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_glue_fixtures_one_crash_one_signature(group: str) -> None:
    spec = EXPECTED[group]
    crashes = [crash_of(GLUE / name) for name in spec["files"]]
    assert {c.report.format for c in crashes} == {Format(spec["format"])}
    assert {c.signature.text for c in crashes} == {spec["signature"]}
    assert len({c.signature.id for c in crashes}) == 1
    for crash in crashes:
        top = crash.top_frame
        assert top is not None
        assert (top.function, file_basename(top.file or ""), top.line) == (
            spec["top"]["function"],
            spec["top"]["file"],
            spec["top"]["line"],
        )


def test_glue_fixtures_groups_do_not_collide() -> None:
    ids = {group: crash_of(GLUE / spec["files"][0]).signature.id for group, spec in EXPECTED.items()}
    assert len(set(ids.values())) == len(ids)


def test_glue_ac_duplicate_thread_choice_is_the_clean_walk() -> None:
    crash = crash_of(GLUE / "ac-duplicate-thread.txt")
    assert crash.thread_index == 0
    assert crash.meaningful[0] == 0


def test_glue_tc_master_crashing_thread_found_fifth() -> None:
    crash = crash_of(GLUE / "tc-master-fifth-thread.txt")
    assert crash.thread_index is not None
    assert crash.frames[crash.meaningful[0]].function is not None
    assert "WheatyExceptionReport" not in " ".join(crash.frames[i].function or "" for i in crash.meaningful)


def test_installed_parsers_cover_every_format() -> None:
    assert {p.format for p in parsers()} == set(TEXT_FORMATS)
    assert set(Format) - set(TEXT_FORMATS) == {Format.MINIDUMP}  # read by bot.symbols from the binary
