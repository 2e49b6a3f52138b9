"""Windows Error Reporting's problem signature: ``Report.wer``, the crash dialog's block, Event 1001.

Values are read by position, which the event type fixes (APPCRASH: code then offset; BEX/BEX64: offset,
code, data). The real samples' truth is in tests/fixtures/samples/truth.json; their sources in SOURCES.md.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Format
from bot.crash.parsers import wer
from bot.crash.resolved import IMAGE_STAMPS_KEY
from tests.crash.contract import assert_reads_or_refuses

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def report_wer(
    *, event: str = "APPCRASH", app: str = "worldserver.exe", sig: tuple[str, ...] | None = None
) -> str:
    """A ``Report.wer`` as WER writes it for a worldserver crash (CRLF line ends)."""
    values = sig or (
        app,
        "0.0.0.0",
        "5f5e1000",
        "worldserver.exe",
        "0.0.0.0",
        "5f5e1000",
        "c0000005",
        "0000000000a1b2c3",
    )
    names = (
        "Application Name",
        "Application Version",
        "Application Timestamp",
        "Fault Module Name",
        "Fault Module Version",
        "Fault Module Timestamp",
        "Exception Code",
        "Exception Offset",
        "Exception Data",
    )
    lines = [
        "Version=1",
        f"EventType={event}",
        "EventTime=133877728438194296",
        "ReportType=2",
        "Consent=1",
        "ReportIdentifier=01171d93-3333-4ffe-9465-72faf80c9ebf",
        f"NsAppName={app}",
    ]
    for i, value in enumerate(values):
        lines += [f"Sig[{i}].Name={names[i]}", f"Sig[{i}].Value={value}"]
    lines += ["DynamicSig[1].Name=OS Version", "DynamicSig[1].Value=10.0.19045.2.0.0.256.48"]
    lines += [r"AppPath=C:\WoW\Release\worldserver.exe", "FriendlyEventName=Stopped working"]
    return "\r\n".join(lines) + "\r\n"


def lines_of(name: str) -> list[str]:
    return (SAMPLES / name).read_text(encoding="utf-8").splitlines()


def test_wer_report_file_utf16_with_bom_reads_as_one_frame() -> None:
    data = codecs.BOM_UTF16_LE + report_wer().encode("utf-16-le")
    report = parse_report(data)
    assert report.format is Format.WER
    (frame,) = report.threads[0].frames
    assert (frame.module, frame.offset) == ("worldserver.exe", "0xa1b2c3")
    assert report.exception is not None and report.exception.code == "C0000005"
    assert report.build.executable == r"C:\WoW\Release\worldserver.exe"
    assert report.extra["report_id"] == "01171d93-3333-4ffe-9465-72faf80c9ebf"
    assert report.extra[IMAGE_STAMPS_KEY] == "worldserver.exe\t5F5E1000"


def test_wer_report_file_utf16_without_bom_reads_the_same() -> None:
    with_bom = parse_report(codecs.BOM_UTF16_LE + report_wer().encode("utf-16-le"))
    without = parse_report(report_wer().encode("utf-16-le"))
    assert analyse(without).signature == analyse(with_bom).signature


def test_wer_report_file_signs_as_the_same_event_1000_text_of_the_same_crash() -> None:
    text = (
        "Faulting application name: worldserver.exe, version: 0.0.0.0, time stamp: 0x5f5e1000\n"
        "Faulting module name: worldserver.exe, version: 0.0.0.0, time stamp: 0x5f5e1000\n"
        "Exception code: 0xc0000005\nFault offset: 0x0000000000a1b2c3\n"
    )
    assert analyse(parse_report(report_wer())).signature.id == analyse(parse_report(text)).signature.id


def test_wer_bex64_puts_the_offset_before_the_code_and_keeps_the_data() -> None:
    sig = ("worldserver.exe", "0.0.0.0", "5f5e1000", "worldserver.exe", "0.0.0.0", "5f5e1000")
    report = parse_report(
        report_wer(event="BEX64", sig=(*sig, "0000000000a1b2c3", "c0000409", "0000000000000002"))
    )
    assert report.threads[0].frames[0].offset == "0xa1b2c3"
    assert report.exception is not None and report.exception.code == "C0000409"
    assert (report.extra["wer_event"], report.extra["exception_data"]) == ("BEX64", "0000000000000002")
    assert analyse(report).signature.text == "STACK_BUFFER_OVERRUN | worldserver.exe+0xa1b2c3"


@pytest.mark.parametrize(
    ("name", "event", "module", "offset", "code"),
    [
        ("skyfire406a-issue-707-problem-signature.txt", "APPCRASH", "LIBMYSQL.dll", "0x12f20", "4000001F"),
        ("pvpgn-issue-96-problem-signature-spanish.txt", "APPCRASH", "ntdll.dll", "0x66666", "C0000005"),
        ("qbittorrent-issue-23940-event1001-bex64-chinese.txt", "BEX64", "ntdll.dll", "0x13bf75", "C0000409"),
        ("readest-issue-683-report-wer-bex64.txt", "BEX64", "ucrtbase.dll", "0x7f6fe", "C0000409"),
        ("usbipd-win-issue-1254-report-wer-bex64-chinese.txt", "BEX64", "usbipd.exe", "0x10c9c7", "C0000409"),
        ("winauth-issue-573-report-wer-german.txt", "APPCRASH", "KERNELBASE.dll", "0x2892", "80000001"),
    ],
)
def test_wer_every_spelling_and_language_reads_by_position(
    name: str, event: str, module: str, offset: str, code: str
) -> None:
    report = wer.parse(lines_of(name))
    (frame,) = report.threads[0].frames
    assert (report.extra["wer_event"], frame.module, frame.offset) == (event, module, offset)
    assert report.exception is not None and report.exception.code == code


def test_wer_event_1001_list_replaces_the_lines_between_event_name_and_p1() -> None:
    report = wer.parse(lines_of("maxto-issue-75-event1000-and-1001.txt")[10:])  # Event 1001 alone
    assert report.format is Format.WER
    assert report.build.product == "explorer.exe"
    (frame,) = report.threads[0].frames
    # P4 is WER's StackHash bucket, not a module: the offset is an address in no module
    assert (frame.module, frame.address) == (None, "0xbfc22")
    assert report.exception is not None and report.exception.code == "C0000374"


def test_wer_event_1001_xml_alone_reads_its_data_values_by_position() -> None:
    report = wer.parse(lines_of("tauri-issue-1101-event1001-xml-bex64.txt"))
    (frame,) = report.threads[0].frames
    assert (report.extra["wer_event"], frame.module, frame.offset) == ("BEX64", "cqai-apps.exe", "0x194475")
    assert report.exception is not None and report.exception.code == "C0000409"
    assert report.extra["exception_data"] == "0000000000000007"


def test_wer_dialog_values_with_spaces_keep_their_place() -> None:
    block = (
        "Problem signature:\n  Problem Event Name:\tAPPCRASH\n  Application Name:\tMy World Server.exe\n"
        "  Application Version:\t0.0.0.0\n  Application Timestamp:\t5f5e1000\n"
        "  Fault Module Name:\tMy World Server.exe\n  Fault Module Version:\t0.0.0.0\n"
        "  Fault Module Timestamp:\t5f5e1000\n  Exception Code:\tc0000005\n  Exception Offset:\t00a1b2c3\n"
    )
    report = wer.parse(block.splitlines())
    assert report.threads[0].frames[0].module == "My World Server.exe"
    assert report.threads[0].frames[0].offset == "0xa1b2c3"


def test_wer_application_of_names_the_reports_application() -> None:
    assert wer.application_of(parse_report(report_wer(app="notepad.exe"))) == "notepad.exe"


@pytest.mark.parametrize("event", ["APPHANG", "CLR20r3", "MoAppHang"])
def test_wer_report_of_an_event_that_is_not_a_crash_is_refused_in_one_line(event: str) -> None:
    with pytest.raises(CrashParseError, match=f"event type {event.upper()}, which is not a crash"):
        parse_report(report_wer(event=event), fmt=Format.WER)


def test_wer_report_cut_before_its_offset_keeps_the_exception_and_says_so() -> None:
    text = report_wer().split("Sig[7].Name")[0]
    report = parse_report(text)
    assert report.threads == ()
    assert report.exception is not None and report.exception.code == "C0000005"
    assert "the signature is cut before its exception offset: no frame to show" in report.notes


def test_wer_report_cut_in_its_signature_is_one_parse_error() -> None:
    text = report_wer().split("Sig[6].Value")[0]  # no code, no offset
    with pytest.raises(CrashParseError, match="found no stack frames, exception or assertion"):
        parse_report(text)


@pytest.mark.parametrize(
    "text",
    ["", "EventType=APPCRASH\n", "Problem Event Name: APPCRASH\n", "Sig[0].Value=" + "x" * 1_000_000],
    ids=["empty", "event type alone", "event name alone", "1 MB line"],
)
def test_wer_without_signature_values_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(CrashParseError) as raised:
        wer.parse(text.splitlines())
    assert "\n" not in str(raised.value)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="EventTyp=APCRSHBX64Sig[].Value0123:\t 1P", max_size=120), max_size=12))
def test_wer_hostile_lines_give_a_report_or_one_parse_error(lines: list[str]) -> None:
    assert_reads_or_refuses(wer, lines)
