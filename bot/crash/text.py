"""Bytes to clean text: encoding detection and the repair of what copy/paste does to reports.

Owned by the crash core. Parsers receive the output of :func:`clean_lines`, never raw bytes.

Encodings seen in the wild: UTF-8 (with or without BOM, sometimes with a few bytes of junk from a
truncated copy), UTF-16 LE with BOM (PowerShell ``>`` redirection), UTF-16 without BOM (some editors),
cp1251 (Russian-locale consoles: ``date`` in restarter headers) and cp1252 (Western-European consoles,
German exception text).
"""

from __future__ import annotations

import codecs
import errno
import os
import re
import stat
from pathlib import Path

# Bound on what is decoded: larger inputs are cut, so memory stays bounded (real reports with all threads'
# locals reach ~6 MB; 128 MB is far past anything genuine).
MAX_BYTES = 128 * 1024 * 1024
# Encoding is decided on a prefix: deciding on the whole of a 100 MB report would cost as much as decoding.
_SAMPLE_BYTES = 64 * 1024

_READ_CHUNK = 1024 * 1024

_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_TRIPLE_STAR = re.compile(r"\*\*\\\*")

# A well-formed multi-byte UTF-8 sequence, and any byte >= 0x80 (in a bytes pattern).
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
# Three or more letters in a row from the upper half: whole Cyrillic words in cp1251. Western text in
# cp1252 has isolated accented letters between ASCII ones (``Ausführung``), so such runs are rare.
_HIGH_RUN = re.compile(rb"[\xc0-\xff]{3,}")


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when every other byte of an ASCII-heavy sample is NUL, else None."""
    if len(sample) < 4 or b"\x00" not in sample:  # a memchr: most reports hold no NUL at all
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > half * 0.4 and even_nuls < half * 0.05:
        return "utf-16-le"
    if even_nuls > half * 0.4 and odd_nuls < half * 0.05:
        return "utf-16-be"
    return None


def detect_encoding(data: bytes) -> str:
    """Name the codec ``data`` is most likely written in (decided on its first 64 KB)."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return codec
    sample = data[:_SAMPLE_BYTES]
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    # isascii is a C scan at memory speed; most reports are pure ASCII and skip the byte counting.
    high = 0 if sample.isascii() else len(_HIGH_BYTE.findall(sample))
    if high == 0:
        return "utf-8"
    multibyte = _UTF8_MULTIBYTE.findall(sample)
    valid_high = sum(len(m) for m in multibyte)
    # Mostly valid UTF-8 with a little junk (a copy cut mid-character, a stray legacy byte) is still UTF-8;
    # the junk becomes U+FFFD.
    if valid_high >= high * 0.8:
        return "utf-8"
    if len(_HIGH_RUN.findall(sample)) * 3 >= max(1, len(re.findall(rb"[\xc0-\xff]+", sample))):
        return "cp1251"
    return "cp1252"


def decode(data: bytes) -> str:
    """Decode report bytes whatever their encoding (BOMs, UTF-16 without BOM, UTF-8, cp1251/cp1252).

    Never raises: undecodable bytes become U+FFFD. Input beyond :data:`MAX_BYTES` is ignored.
    """
    if len(data) > MAX_BYTES:
        data = data[:MAX_BYTES]
    codec = detect_encoding(data)
    if codec.startswith("utf-16") or codec.startswith("utf-32"):
        # A cut in the middle of a code unit is routine for truncated copies; drop the odd byte.
        unit = 4 if codec.startswith("utf-32") else 2
        data = data[: len(data) - len(data) % unit]
    return data.decode(codec, errors="replace")


def read_prefix(path: Path, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of the regular file ``path``, and whether the file holds more.

    The one place a report file is opened. Raises OSError when it cannot be read: IsADirectoryError for a
    directory, and ``EINVAL`` "not a regular file" for a FIFO, device or socket. Those are never read:
    opening a FIFO blocks until some writer appears (signals do not end the wait) and ``/dev/zero`` never
    ends, so the open itself does not block (O_NONBLOCK) and the kind is checked on the open handle.
    """
    # Checked first: Windows refuses to open a directory with EACCES, which would read as a permission error
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a crash report file", str(path))
    # O_BINARY: on Windows a descriptor from os.open is in text mode (CRLF translated) unless asked not to
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with open(fd, "rb", buffering=0) as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a pipe, device or socket)", str(path))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = fh.read(min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        return data[:limit], True
    return data, False


def clean_lines(text: str) -> list[str]:
    """Split into lines (CRLF, LF and lone CR alike), drop markdown fences, undo ``**\\*`` damage.

    Trailing whitespace and NULs are removed; blank lines are kept (parsers decide what a blank line means).
    Works in place on the split list so a huge report is not held twice.
    """
    lines = text.splitlines()
    # Each repair is looked for once in the whole text (a C scan; single characters first, which are a
    # memchr); a clean report, the usual case, then costs one rstrip per line, and a damaged one pays the
    # per-line tests only on the lines that hold the damage.
    fences = ("`" in text and "```" in text) or ("~" in text and "~~~" in text)
    stars = _TRIPLE_STAR.search(text) is not None  # twice as fast as ``in`` here: paths are full of ``\\``
    nuls = "\x00" in text
    if not (fences or stars or nuls):
        lines[:] = map(str.rstrip, lines)
        return lines
    kept = 0
    for raw in lines:
        if fences and ("```" in raw or "~~~" in raw) and _FENCE.match(raw):
            continue
        line = _TRIPLE_STAR.sub("***", raw) if stars and "**\\*" in raw else raw
        if nuls and "\x00" in line:
            line = line.replace("\x00", "")
        lines[kept] = line.rstrip()
        kept += 1
    del lines[kept:]
    return lines


# What crashbot writes at the top of a log it made itself (a core read through gdb): one remark per line,
# read back into the report's notes so the issue says what could not be done.
NOTE_PREFIX = "crashbot: note: "
_NOTE_HEAD = 64


def written_notes(lines: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The ``crashbot: note:`` lines among the first lines of ``lines``."""
    return tuple(
        line[len(NOTE_PREFIX) :].strip() for line in lines[:_NOTE_HEAD] if line.startswith(NOTE_PREFIX)
    )
