"""Bytes to clean text: encoding detection and the repair of what copy/paste does to reports.

Owned by the crash core. Parsers receive the output of :func:`clean_lines`, never raw bytes.
"""

from __future__ import annotations

import codecs
import re

# Bound on what is decoded: larger inputs are cut (and the report notes it), so memory stays bounded.
MAX_BYTES = 128 * 1024 * 1024

_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_TRIPLE_STAR = re.compile(r"\*\*\\\*")


def decode(data: bytes) -> str:
    """Decode report bytes whatever their encoding (BOMs, UTF-16 without BOM, UTF-8, cp1251/cp1252)."""
    data = data[:MAX_BYTES]
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    sample = data[:4096]
    if len(sample) >= 4:
        odd_nuls = sample[1::2].count(0)
        even_nuls = sample[0::2].count(0)
        if odd_nuls > len(sample) // 4 and even_nuls == 0:
            return data.decode("utf-16-le", errors="replace")
        if even_nuls > len(sample) // 4 and odd_nuls == 0:
            return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    utf8 = data.decode("utf-8", errors="replace")
    if utf8.count("\ufffd") * 50 < len(utf8):
        return utf8
    return data.decode("cp1251", errors="replace")


def clean_lines(text: str) -> list[str]:
    """Split into lines (CRLF, LF and lone CR alike), drop markdown fences, undo ``**\\*`` damage.

    Trailing whitespace is removed; blank lines are kept (parsers decide what a blank line means).
    """
    lines: list[str] = []
    for line in text.splitlines():
        if _FENCE.match(line):
            continue
        if "\\*" in line:
            line = _TRIPLE_STAR.sub("***", line)
        lines.append(line.rstrip().replace("\x00", ""))
    return lines
