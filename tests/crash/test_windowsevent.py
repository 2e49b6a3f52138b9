"""The Event Viewer's Application Error event (ID 1000): one frame ``module+offset``, read in any language.

The real samples' truth is in tests/fixtures/samples/truth.json; their sources in SOURCES.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Format
from bot.crash.parsers import windowsevent
from bot.crash.redact import redact
from bot.crash.resolved import IMAGE_STAMPS_KEY
from tests.crash.contract import assert_reads_or_refuses

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def event(
    *,
    offset: str = "0x0000000000a1b2c3",
    code: str = "0xc0000005",
    module: str = "worldserver.exe",
    stamp: str = "0x5f5e1000",
    pid: str = "0x1f40",
    start: str = "0x01d4dd2a8e7e1c2d",
    path: str = r"C:\WoW\Release\worldserver.exe",
    report_id: str = "5f1c0000-1111-2222-3333-444455556666",
) -> str:
    """An Event 1000 description as Windows 10 writes it for a worldserver crash."""
    return (
        f"Faulting application name: worldserver.exe, version: 0.0.0.0, time stamp: {stamp}\n"
        f"Faulting module name: {module}, version: 0.0.0.0, time stamp: {stamp}\n"
        f"Exception code: {code}\n"
        f"Fault offset: {offset}\n"
        f"Faulting process id: {pid}\n"
        f"Faulting application start time: {start}\n"
        f"Faulting application path: {path}\n"
        f"Faulting module path: {path}\n"
        f"Report Id: {report_id}\n"
        "Faulting package full name: \n"
        "Faulting package-relative application ID: \n"
    )


def lines_of(name: str) -> list[str]:
    return (SAMPLES / name).read_text(encoding="utf-8").splitlines()


def test_windows_event_worldserver_fault_is_one_frame_module_plus_offset() -> None:
    report = parse_report(event())

    assert report.format is Format.WINDOWS_EVENT
    (thread,) = report.threads
    (frame,) = thread.frames
    assert (frame.module, frame.offset, frame.function, frame.address) == (
        "worldserver.exe",
        "0xa1b2c3",
        None,
        None,
    )
    assert report.crashing_thread == 0 and thread.current
    exc = report.exception
    assert exc is not None
    assert (exc.code, exc.name, exc.module, exc.module_offset) == (
        "C0000005",
        "ACCESS_VIOLATION",  # the same table the signature names kinds with
        "worldserver.exe",
        "0xa1b2c3",
    )
    assert report.build.product == "worldserver.exe"
    assert report.build.executable == r"C:\WoW\Release\worldserver.exe"
    assert report.build.raw == "worldserver.exe 0.0.0.0 (PE time stamp 0x5F5E1000)"
    assert report.extra[IMAGE_STAMPS_KEY] == "worldserver.exe\t5F5E1000"
    assert report.extra["report_id"] == "5f1c0000-1111-2222-3333-444455556666"


def test_windows_event_issue_note_says_which_build_and_offset_and_that_there_is_no_stack() -> None:
    report = parse_report(event())
    assert report.notes == (
        "Windows' fault record names only where the fault happened, worldserver.exe+0xa1b2c3, in the build "
        "whose worldserver.exe has PE time stamp 0x5F5E1000: no call stack",
    )


def test_windows_event_signature_is_exception_and_module_offset() -> None:
    crash = analyse(parse_report(event()))
    assert crash.signature.text == "ACCESS_VIOLATION | worldserver.exe+0xa1b2c3"
    assert crash.meaningful == (0,)
    assert crash.top_frame is None  # nothing symbolised until the symbol store resolves the offset


def test_windows_event_same_fault_in_the_same_build_is_one_signature_whatever_the_run() -> None:
    """Process id, start time, report id and install path change with every run; the fault does not."""
    first = analyse(parse_report(event())).signature.id
    again = analyse(
        parse_report(
            event(pid="0x0x2EAC", start="0x0x1DAB0AADDC368E7", path=r"D:\srv\worldserver.exe", report_id="x")
        )
    ).signature.id
    assert first == again


@pytest.mark.parametrize(
    "change",
    [{"offset": "0x0000000000a1b2c4"}, {"code": "0xc00000fd"}, {"module": "game.dll"}],
    ids=["another offset", "another exception", "another module"],
)
def test_windows_event_another_fault_is_another_signature(change: dict[str, str]) -> None:
    assert analyse(parse_report(event())).signature.id != analyse(parse_report(event(**change))).signature.id


def test_windows_event_fault_in_a_system_dll_signs_by_that_dlls_offset() -> None:
    """The ntdll frame is skipped as an OS frame; the record's own fault site still tells crashes apart."""
    crash = analyse(parse_report(event(module="ntdll.dll", code="0xc0000374", offset="0x00000000000bfc22")))
    assert crash.meaningful == ()
    assert crash.signature.text == "HEAP_CORRUPTION | ntdll.dll+0xbfc22"


def test_windows_event_fault_in_no_module_is_an_address_frame() -> None:
    report = parse_report(event(module="unknown", offset="0x00007ff6a67e9677"))
    (frame,) = report.threads[0].frames
    assert (frame.module, frame.offset, frame.address) == (None, None, "0x7ff6a67e9677")
    assert report.exception is not None and report.exception.address == "0x7ff6a67e9677"
    assert IMAGE_STAMPS_KEY not in report.extra
    assert report.notes[-1].startswith("Windows' fault record names only address 0x7ff6a67e9677")


@pytest.mark.parametrize(
    ("name", "module", "offset", "code", "path"),
    [
        (
            "meminfo-issue-14-event1000.txt",
            "MemInfo.exe",
            "0x1fce",
            "C0000005",
            r"C:\Users\ghisl\Desktop\MemInfo.exe",
        ),
        (
            "sachesi-issue-16-event1000-german.txt",
            "Sachesi.exe",
            "0x9ecff1",
            "C0000005",
            r"C:\Users\dendaw\Downloads\Programmdateien\Blackberry\Sachesi-Windows-1.2.3\Sachesi.exe",
        ),
        (
            "xplist-issue-37-event1000-chinese.txt",
            "ntdll.dll",
            "0x3ec71",
            "C00000FD",
            r"D:\App\Xplist-Win64\Xplist.exe",
        ),
        (
            "repackinator-issue-58-event1000-xml.txt",
            "ntdll.dll",
            "0x8ebef",
            "C0000409",
            r"C:\Users\user\Downloads\Repackinator-win-x64\repackinator.exe",
        ),
        # machine-translated labels; the code as the text has it (seven digits), not guessed
        (
            "ac-issue-18961-event1000-translated.txt",
            "MSVCP140.DLL",
            "0x12f58",
            "0C000005",
            r"D: \ wowServer playerbots \ core \ authserverexe",
        ),
    ],
)
def test_windows_event_labels_in_any_language_are_read_by_position(
    name: str, module: str, offset: str, code: str, path: str
) -> None:
    report = windowsevent.parse(lines_of(name))
    (frame,) = report.threads[0].frames
    assert (frame.module, frame.offset) == (module, offset)
    assert report.exception is not None and report.exception.code == code
    assert report.build.executable == path


def test_windows_event_powershell_listing_prefix_is_skipped_and_the_first_record_read() -> None:
    report = windowsevent.parse(lines_of("vintagestory-issue-5576-event1000-powershell.txt"))
    (frame,) = report.threads[0].frames
    assert (frame.module, frame.offset) == ("openal32.dll", "0xdf046")
    assert report.build.product == "Vintagestory.exe"
    assert report.extra["report_id"] == "60c00795-048c-4185-85aa-6413ba0364ee"


def test_windows_event_wrapped_time_stamps_and_paths_are_joined() -> None:
    report = windowsevent.parse(lines_of("munin-node-win32-issue-6-event1000-wrapped.txt"))
    assert report.build.raw == "munin-node.exe 1.6.0.0 (PE time stamp 0x4B517BFF)"
    assert report.extra[IMAGE_STAMPS_KEY] == "munin-node.exe\t4B517BFF"
    assert report.build.executable == r"C:\Program Files (x86)\Munin Node for Windows\munin-node.exe"
    assert report.extra["module_path"] == r"C:\Program Files (x86)\Munin Node for Windows\munin-node.exe"
    assert report.extra["report_id"] == "90534b3a-69d7-11df-bc6f-003048dda0fe"


def test_windows_event_xml_data_is_read_when_the_description_is_missing() -> None:
    xml = (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\n<System>\n'
        '<Provider Name="Application Error" />\n<EventID Qualifiers="0">1000</EventID>\n</System>\n'
        "<EventData>\n<Data>worldserver.exe</Data>\n<Data>0.0.0.0</Data>\n<Data>5f5e1000</Data>\n"
        "<Data>worldserver.exe</Data>\n<Data>0.0.0.0</Data>\n<Data>5f5e1000</Data>\n<Data>c0000005</Data>\n"
        "<Data>0000000000a1b2c3</Data>\n<Data>1f40</Data>\n<Data>01d4dd2a8e7e1c2d</Data>\n"
        r"<Data>C:\WoW\worldserver.exe</Data>"
        "\n<Data />\n</EventData>\n</Event>\n"
    )
    report = parse_report(xml)
    assert report.format is Format.WINDOWS_EVENT
    assert analyse(report).signature.text == "ACCESS_VIOLATION | worldserver.exe+0xa1b2c3"
    assert report.build.executable == r"C:\WoW\worldserver.exe"
    assert report.notes[0] == "read from the event's XML <Data> values: the description text is missing"


def test_windows_event_reads_after_the_uploaders_redaction() -> None:
    """The uploader redacts before it parses: a dotted version such as 1.6.0.0 becomes [REDACTED:ip]."""
    text = redact(event().replace("version: 0.0.0.0", "version: 1.6.0.0")).text
    assert "version: [REDACTED:ip]" in text
    report = parse_report(text)
    assert report.threads[0].frames[0].offset == "0xa1b2c3"
    assert report.extra["application_version"] == "[REDACTED:ip]"


def test_windows_event_cut_before_the_offset_keeps_the_exception_and_says_so() -> None:
    text = "\n".join(event().splitlines()[:3])  # application, module, code
    report = parse_report(text, fmt=Format.WINDOWS_EVENT)
    assert report.threads == ()
    assert report.exception is not None and report.exception.code == "C0000005"
    assert "the record is cut before its fault offset: no frame to show" in report.notes


def test_windows_event_cut_after_the_application_line_is_one_parse_error() -> None:
    text = event().splitlines()[0]
    with pytest.raises(CrashParseError, match="found no stack frames, exception or assertion"):
        parse_report(text, fmt=Format.WINDOWS_EVENT)


@pytest.mark.parametrize(
    "text",
    ["", "Exception code: 0xc0000005\n", "just some prose, with: commas, and: colons\n", "x" * 1_000_000],
    ids=["empty", "code alone", "prose", "1 MB line"],
)
def test_windows_event_without_an_application_line_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(CrashParseError) as raised:
        windowsevent.parse(text.splitlines())
    assert "\n" not in str(raised.value)


def test_windows_event_a_1mb_line_inside_the_record_is_cut_not_choked_on() -> None:
    lines = event().splitlines()
    lines.insert(2, "Z" * 1_000_000)
    report = windowsevent.parse(lines)
    assert report.threads == ()  # the junk line ends the values; the identity lines were read
    assert report.build.product == "worldserver.exe"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=":：,，、0x1fcdeab .\tworldserv\r", max_size=120), max_size=12))
def test_windows_event_hostile_lines_give_a_report_or_one_parse_error(lines: list[str]) -> None:
    assert_reads_or_refuses(windowsevent, lines)


_PAD = " " * 2000


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "line",
    [
        "L:a" + " " * 40 + "," + " " * 40 + "V:" + " " * 40 + "," + " " * 40 + "S: 0xZ",
        "Faulting application name:" + _PAD + "x",
    ],
    ids=["spaces in every segment", "spaces after the first label"],
)
def test_windows_event_identity_line_padded_with_spaces_is_refused_without_backtracking(line: str) -> None:
    """Regression: the identity pattern let every run of spaces split between a value and the spaces around
    it, and tried every split of every segment when the line failed further on: 45 s for the first line
    (173 characters), 5 s for the second, in sniffing, so a report holding such lines hung the whole
    parse. Each segment is now matched once (atomic groups, possessive spaces)."""
    lines = [line] * 4
    assert windowsevent.sniff(lines) == 0
    with pytest.raises(CrashParseError):
        windowsevent.parse(lines)


def test_windows_event_spaces_around_the_identity_values_are_not_part_of_them() -> None:
    text = event().replace(
        "worldserver.exe, version: 0.0.0.0, time stamp:",
        f"  worldserver.exe {_PAD[:50]},   version:   0.0.0.0   ,  time stamp:   ",
    )
    report = parse_report(text, fmt=Format.WINDOWS_EVENT)
    assert report.build.product == "worldserver.exe"
    assert report.threads[0].frames[0].module == "worldserver.exe"
