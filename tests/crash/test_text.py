"""Decoding and line cleaning: every encoding reports arrive in, and copy/paste damage undone."""

from __future__ import annotations

import codecs

import pytest

from bot.crash.text import MAX_BYTES, clean_lines, decode, detect_encoding

REPORT = "Exception code: C0000005 ACCESS_VIOLATION\r\nCall stack:\r\nДата Ausführung größer\r\n"


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (codecs.BOM_UTF8 + REPORT.encode("utf-8"), "utf-8-sig"),
        (REPORT.encode("utf-16"), "utf-16"),
        (codecs.BOM_UTF16_BE + REPORT.encode("utf-16-be"), "utf-16"),
        (REPORT.encode("utf-16-le"), "utf-16-le"),
        (REPORT.encode("utf-16-be"), "utf-16-be"),
        (REPORT.encode("utf-8"), "utf-8"),
    ],
    ids=["utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf8"],
)
def test_detect_encoding_unicode_forms(data: bytes, codec: str) -> None:
    assert detect_encoding(data) == codec
    assert decode(data) == REPORT


def test_detect_encoding_ascii_is_utf8() -> None:
    assert detect_encoding(b"plain ascii only\r\n") == "utf-8"


def test_decode_cp1251_russian_date_header() -> None:
    text = "CRASH ON Ср авг 14 20:11:27 MSK 2019\nIt stopped with signal SIGSEGV, Segmentation fault.\n"
    data = text.encode("cp1251")
    assert detect_encoding(data) == "cp1251"
    assert decode(data) == text


def test_decode_cp1252_german_text() -> None:
    text = "Exception code: C0000420 Ausführung fehlgeschlagen, Prüfung größer\n"
    data = text.encode("cp1252")
    assert detect_encoding(data) == "cp1252"
    assert decode(data) == text


def test_decode_utf8_with_junk_keeps_the_good_text() -> None:
    data = ("Ошибка сегментирования " * 20).encode("utf-8") + b"\xff\xfe\x80 tail"
    out = decode(data)
    assert out.startswith("Ошибка сегментирования")
    assert out.endswith("tail")
    assert "\ufffd" in out


def test_decode_utf16_odd_length_truncation_does_not_raise() -> None:
    data = "Call stack:\r\n".encode("utf-16-le") + b"\x41"
    assert decode(data) == "Call stack:\r\n"


def test_decode_binary_junk_never_raises() -> None:
    assert isinstance(decode(bytes(range(256)) * 10), str)


def test_decode_bounded_to_max_bytes() -> None:
    assert MAX_BYTES >= 100 * 1024 * 1024


def test_clean_lines_repairs_copy_paste_damage() -> None:
    text = "```\n**\\* Hardware ***   \r\nline\x00 two\r\rlast\n~~~txt\n"
    assert clean_lines(text) == ["*** Hardware ***", "line two", "", "last"]


def test_clean_lines_keeps_blank_lines() -> None:
    assert clean_lines("a\n\n\nb") == ["a", "", "", "b"]
