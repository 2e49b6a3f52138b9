"""Compiler and build-tool diagnostics (MSVC/MSBuild, GCC/Clang, GNU ld/lld, make, ninja, CMake) parsed
out of a build log into frozen :class:`Diagnostic` records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic. ``file`` is as printed (None for tool-level messages such as ``LINK :``);
    ``code`` is the compiler's id (``C2065``, ``LNK2019``, ``-Wunused-variable``) or the tool's name."""

    file: str | None
    line: int | None
    column: int | None
    severity: Severity
    code: str | None
    message: str

    def __str__(self) -> str:
        where = self.file or ""
        if self.file and self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        code = f" [{self.code}]" if self.code else ""
        return f"{where + ': ' if where else ''}{self.severity.value}{code}: {self.message}"


_MSBUILD_PREFIX = r"^\s*(?:\d+>)?\s*"
_MSBUILD_SUFFIX = r"(?:\s+\[[^\]]+\.(?:vcxproj|csproj|proj|sln)\])?\s*$"

# C:\src\Unit.cpp(12): error C2065: 'x': undeclared identifier   (also (12,5) and MSBuild's "1>" / [proj])
_MSVC_RE = re.compile(
    _MSBUILD_PREFIX
    + r"(?P<file>(?:[A-Za-z]:)?[^:\n]*?[^:\s])\((?P<line>\d+)(?:,(?P<col>\d+))?(?:,\d+,\d+)?\)\s*:\s*"
    r"(?P<sev>fatal error|error|warning|note)(?:\s+(?P<code>[A-Z]+\d+))?\s*:\s*(?P<msg>.*?)" + _MSBUILD_SUFFIX
)
# LINK : fatal error LNK1104: ...  |  Unit.obj : error LNK2019: ...  |  cl : command line error D8021: ...
_MSVC_TOOL_RE = re.compile(
    _MSBUILD_PREFIX
    + r"(?P<file>(?:[A-Za-z]:)?[^:\n]+?)\s+:\s+(?:command line\s+)?(?P<sev>fatal error|error|warning)\s+"
    r"(?P<code>[A-Z]+\d+)\s*:\s*(?P<msg>.*?)" + _MSBUILD_SUFFIX
)
# src/Unit.cpp:12:5: error: ...   (GCC, Clang; Windows drive letters allowed)
_GCC_RE = re.compile(
    r"^(?P<file>(?:[A-Za-z]:)?[^:\n]+?):(?P<line>\d+):(?:(?P<col>\d+):)?\s*"
    r"(?P<sev>fatal error|error|warning|note)\s*:\s*(?P<msg>.*?)\s*$"
)
_GCC_FLAG_RE = re.compile(r"\s*\[(?P<flag>-W[\w=+-]+(?:,-W[\w=+-]+)*)\]\s*$")
# /usr/bin/ld: Unit.cpp:(.text+0x1e): undefined reference to `Foo::Bar()'
_UNDEFINED_RE = re.compile(r"^(?P<where>.*?):?\s*undefined reference to [`'](?P<sym>.+?)'\s*$")
_LINKER_RE = re.compile(
    r"^(?P<tool>(?:\S*/)?(?:collect2|ld(?:\.\w+)?|lld(?:-link)?)):\s*(?P<sev>error|warning):\s*(?P<msg>.*)$"
)
_NINJA_RE = re.compile(r"^ninja: (?:build stopped: (?P<stop>.*)|error: (?P<err>.*))$")
_MAKE_RE = re.compile(r"^(?:g|gnu)?make(?:\[\d+\])?: \*\*\* (?P<msg>.*)$")
_CMAKE_RE = re.compile(
    r"^CMake (?P<sev>Error|Warning)(?: \(dev\))? at (?P<file>.+?):(?P<line>\d+) \((?P<cmd>[^)]*)\):?\s*$"
)
_CMAKE_PLAIN_RE = re.compile(r"^CMake Error: (?P<msg>.*)$")
_OBJ_LOCATION_RE = re.compile(r"^(?P<file>.+?):\(\.\w+[^)]*\)$")


def parse(text: str) -> tuple[Diagnostic, ...]:
    """Every diagnostic in ``text``, in order, without exact duplicates (ninja/make repeat them)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    seen: set[Diagnostic] = set()
    result: list[Diagnostic] = []
    for i, raw in enumerate(lines):
        line = _strip_ansi(raw).rstrip()
        diag = _parse_line(line, lines, i)
        if diag is not None and diag not in seen:
            seen.add(diag)
            result.append(diag)
    return tuple(result)


def errors(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(d for d in diagnostics if d.severity is Severity.ERROR)


def relative_to(diagnostics: Sequence[Diagnostic], root: str) -> tuple[Diagnostic, ...]:
    """Rewrite absolute ``file`` paths under ``root`` (either slash style, any case) as repo-relative."""
    root_norm = root.replace("\\", "/").rstrip("/").casefold()
    out = []
    for d in diagnostics:
        file = d.file
        if file:
            norm = file.replace("\\", "/")
            if norm.casefold().startswith(root_norm + "/"):
                file = norm[len(root_norm) + 1 :]
        out.append(Diagnostic(file, d.line, d.column, d.severity, d.code, d.message))
    return tuple(out)


def _parse_line(line: str, lines: list[str], i: int) -> Diagnostic | None:
    if not line.strip():
        return None
    m = _MSVC_RE.match(line)
    if m:
        return Diagnostic(
            file=m["file"].strip(),
            line=int(m["line"]),
            column=int(m["col"]) if m["col"] else None,
            severity=_severity(m["sev"]),
            code=m["code"],
            message=m["msg"].strip(),
        )
    m = _MSVC_TOOL_RE.match(line)
    if m:
        file = m["file"].strip()
        return Diagnostic(
            file=None if file.upper() in ("LINK", "CL", "LIB", "MSBUILD", "CVTRES", "RC") else file,
            line=None,
            column=None,
            severity=_severity(m["sev"]),
            code=m["code"],
            message=m["msg"].strip(),
        )
    m = _UNDEFINED_RE.match(line)
    if m:
        where = m["where"].strip()
        for prefix in ("/usr/bin/ld:", "ld:", "/usr/bin/ld.gold:", "ld.lld:"):
            if where.startswith(prefix):
                where = where[len(prefix) :].strip()
        loc = _OBJ_LOCATION_RE.match(where)
        file = loc["file"] if loc else (where or None)
        return Diagnostic(
            file, None, None, Severity.ERROR, "undefined-reference", f"undefined reference to `{m['sym']}'"
        )
    m = _GCC_RE.match(line)
    if m and not _looks_like_url(m["file"]):
        msg = m["msg"]
        code = None
        flag = _GCC_FLAG_RE.search(msg)
        if flag:
            code = flag["flag"]
            msg = msg[: flag.start()]
        return Diagnostic(
            file=m["file"].strip(),
            line=int(m["line"]),
            column=int(m["col"]) if m["col"] else None,
            severity=_severity(m["sev"]),
            code=code,
            message=msg.strip(),
        )
    m = _LINKER_RE.match(line)
    if m:
        tool = PurePosixPath(m["tool"]).name
        return Diagnostic(None, None, None, _severity(m["sev"]), tool, m["msg"].strip())
    m = _NINJA_RE.match(line)
    if m:
        return Diagnostic(None, None, None, Severity.ERROR, "ninja", (m["stop"] or m["err"] or "").strip())
    m = _MAKE_RE.match(line)
    if m:
        return Diagnostic(None, None, None, Severity.ERROR, "make", m["msg"].strip())
    m = _CMAKE_RE.match(line)
    if m:
        detail = _indented_block(lines, i + 1)
        msg = f"{m['cmd']}: {detail}" if detail else m["cmd"]
        return Diagnostic(m["file"], int(m["line"]), None, _severity(m["sev"]), "cmake", msg)
    m = _CMAKE_PLAIN_RE.match(line)
    if m:
        return Diagnostic(None, None, None, Severity.ERROR, "cmake", m["msg"].strip())
    return None


def _severity(text: str) -> Severity:
    text = text.lower()
    if "error" in text:
        return Severity.ERROR
    return Severity.WARNING if "warning" in text else Severity.NOTE


def _indented_block(lines: list[str], start: int, limit: int = 4) -> str:
    parts: list[str] = []
    for line in lines[start : start + 12]:
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            break
        parts.append(line.strip())
        if len(parts) >= limit:
            break
    return " ".join(parts)


def _looks_like_url(file: str) -> bool:
    return "://" in file or file.startswith(("http", "In file included from"))


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
