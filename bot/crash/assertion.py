"""The assertion block TrinityCore/AzerothCore print before crashing, in every shape it is seen in.

Shapes (see ``shared/reference/crash-formats.md`` §1.4):

* TC ``Errors.cpp``: ``{file}:{line} in {function} ASSERTION FAILED:`` / ``  {cond}`` / message and debug
  info; also ``FATAL ERROR:``, ``ERROR:`` (its text sits where the condition would), ``ABORTED.``,
  ``ABORTED:`` and ``Caught signal {n}`` (the SIGABRT handler).
* AC ``Errors.cpp`` ``MakeMessage``: a ``#----#`` box holding ``>> ASSERTION FAILED``,
  ``# Location '<file>:<line>'``, ``# Function '…'``, ``# Condition '…'``, ``# Message '…'`` and
  ``# Debug info: '…'`` (the last two may span lines).

Copies of the block arrive damaged: prefixed by ``Assertion message:`` (Wheaty) or by a log timestamp,
machine-translated (``Map :: GetRespawnMapForType``, ``Map.h: 853``), truncated anywhere, or followed by the
shell's ``Segmentation fault``, an ACE backtrace or a debugger's output, which end the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.crash.model import Assertion

# Only this much of a line is looked at: assertion headers are short, and the cap keeps every regex linear
# in the input however long a damaged line is.
MAX_LINE = 4096
# A real debug-info dump is ~20 lines (MoveSpline included); anything longer is the rest of a log.
MAX_MESSAGE_LINES = 200
# How far above ``# Location`` the AC box's ``>> KIND`` line may sit.
_AC_LOOKBACK = 6

_TC_KINDS = ("ASSERTION FAILED", "FATAL ERROR", "ERROR", "ABORTED")

# Whatever precedes the block on its line: Wheaty's label, a log timestamp (with an optional level).
_PREFIX = re.compile(
    r"""^\s*(?:
        Assertion\s+message\s*:\s*
      | \[?\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\]?\s*
        (?:\[?(?:ERROR|FATAL|CRITICAL|WARN(?:ING)?|INFO|DEBUG|TRACE)\]?\s*:?\s*)?
      | \[?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\]\s*
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_LOG_STAMP = re.compile(r"^\s*\[?(?:\d{4}-\d{2}-\d{2}[ T])?\d{1,2}:\d{2}:\d{2}\b")

# ``file:line in function KIND`` up to the kind keyword; applied only to the text before the keyword.
# The function runs to the line's last non-space (a lazy ``\S.*?\s*$`` rescanned the trailing spaces
# from every character: 0.1 s a 4 KB line, on every ERROR-looking line of a report).
_TC_LOCATION = re.compile(r"^(?P<file>.*?\S)\s*:\s*(?P<line>\d+)\s+in\s+(?P<function>\S(?:.*\S)?)\s*$")
_TC_KIND = re.compile(r"\s(?P<kind>ASSERTION\s+FAILED|FATAL\s+ERROR|ERROR|ABORTED)\s*(?P<punct>[:.])?\s*$")
_CAUGHT_SIGNAL = re.compile(r"\bCaught\s+signal\s+(?P<signal>\d+)\b")

_AC_BOX_EDGE = re.compile(r"^\s*#-{8,}#?\s*$")
_AC_KIND = re.compile(r"^\s*>>\s*(?P<kind>[A-Z][A-Z ]*[A-Z])\s*$")
_AC_FIELD = re.compile(
    r"^\s*#\s*(?P<name>Location|Function|Condition|Message|Debug\s+info)\s*:?\s*'?(?P<rest>.*)$"
)
_LOCATION_VALUE = re.compile(r"^(?P<file>.*?\S)\s*:\s*(?P<line>\d+)\s*$")

# Lines that are not part of the message: what the shell, the debugger, Wheaty or the old ACE backtrace
# print after the block.
_END_OF_MESSAGE = re.compile(
    r"""^\s*(?:
        (?:\S+:\s+line\s+\d+:\s+\d+\s+)?
        (?:Segmentation\s+fault|Aborted|Bus\s+error|Illegal\s+instruction|Floating\s+point\s+exception
           |Killed|Speicherzugriffsfehler|Ошибка\s+сегментирования)\b
      | \S[^\s@]*@\S[^\s:]*:.*[#$](?:\s.*)?$   # user@host:dir$ (the first @, the first : after it)
      | [A-Za-z]:\\[^<>|"]*>
      | (?:Fault\s+address|Registers|Call\s+stack|Exception\s+code)\s*:
      | (?:Thread\s+\d+\s.*)?(?:received|terminated\s+with)\s+signal\s
      | Program\s+(?:received|terminated)\s
      | \[(?:New\s+Thread|Thread\s|Switching\s+to|Inferior\s)
      | \(gdb\)
      | ---\s*DEBUG:
      | \#\d+\s+0x[0-9A-Fa-f]+\s
      | \#\d+\s{2}\S
      | [0-9A-Fa-f]{8,16}\s+[0-9A-Fa-f]{8,16}\s
      | >?\s*[\w.+-]+\.(?:exe|dll)!
      | </?(?:details|summary|pre|code|p|br)\b[^>]*>
      | \[0x[0-9A-Fa-f]+\]\s*$
      | .*\+\s*0x[0-9A-Fa-f]+\s+\[0x[0-9A-Fa-f]+\]\s*$
      | \S+\([^()]*\)\s*\[0x[0-9A-Fa-f]+\]\s*$
      | Exception\s+thrown\s+at\s
      | Caught\s+signal\s+\d+
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class AssertionBlock:
    """An assertion and the half-open line range ``[start, end)`` it occupied in the input."""

    assertion: Assertion
    start: int
    end: int


def parse_assertion(lines: Sequence[str]) -> Assertion | None:
    """Read the first assertion block in ``lines``; None when there is none. Never raises."""
    block = find_assertion(lines)
    return block.assertion if block else None


def find_assertion(lines: Sequence[str]) -> AssertionBlock | None:
    """Locate and read the first assertion block; a ``Caught signal`` line counts only when no block exists.

    Work is linear in the number of lines: each line is looked at once, at most :data:`MAX_LINE` characters.
    """
    caught: tuple[int, str] | None = None
    for index, raw in enumerate(lines):
        line = raw[:MAX_LINE]
        # Stripping a prefix only removes text, so a line without any of the words looked for below
        # cannot match after it either; nearly every line of a log is skipped here.
        if not (
            "ERROR" in line
            or "ASSERTION FAILED" in line
            or "ABORTED" in line
            or "#" in line
            or "signal" in line
        ):
            continue
        text = _strip_prefix(line)
        if "#" in text and _AC_FIELD.match(text) and text.lstrip("# \t").startswith("Location"):
            return _read_ac_box(lines, index)
        if "ERROR" in text or "ASSERTION FAILED" in text or "ABORTED" in text:  # _TC_KINDS, "FATAL ERROR" too
            block = _read_tc_block(lines, index, text)
            if block:
                return block
        if caught is None and "signal" in text:
            signal = _CAUGHT_SIGNAL.search(text)
            if signal:
                caught = (index, signal["signal"])
    if caught is None:
        return None
    index, number = caught
    return AssertionBlock(Assertion(message=f"Caught signal {number}"), index, index + 1)


def normalise_function(name: str) -> str:
    """Undo machine translation's spacing in a qualified name (``Map :: Foo`` -> ``Map::Foo``)."""
    return re.sub(r"\s*::\s*", "::", name.strip())


def _strip_prefix(line: str) -> str:
    text = line
    for _ in range(2):  # a Wheaty label after a timestamp, or the other way round
        match = _PREFIX.match(text)
        if not match or not match.end():
            break
        text = text[match.end() :]
    if len(text) >= 2 and text[0] == "`" and text[-1] == "`":
        text = text.strip("`")
    return text


def _read_tc_block(lines: Sequence[str], index: int, text: str) -> AssertionBlock | None:
    kind_match = _TC_KIND.search(text)
    if not kind_match:
        return None
    location = _TC_LOCATION.match(text[: kind_match.start()])
    if not location:
        return None
    kind = " ".join(kind_match["kind"].split())
    if kind in ("ERROR", "ASSERTION FAILED", "FATAL ERROR") and kind_match["punct"] == ".":
        return None
    stamped = bool(_LOG_STAMP.match(lines[index]))
    body, end = _collect_message(lines, index + 1, stamped=stamped)
    condition: str | None = None
    if kind in ("ASSERTION FAILED", "ERROR"):
        # TC prints the condition (for ERROR: the text) indented on the next line; blank lines in between
        # are copy/paste damage.
        while body and not body[0].strip():
            body.pop(0)
        if body:
            condition = body.pop(0).strip() or None
    elif kind == "ABORTED" and kind_match["punct"] == ".":
        body = []
    message = "\n".join(body).strip() or None
    assertion = Assertion(
        condition=condition,
        file=location["file"].strip(),
        line=int(location["line"]),
        function=normalise_function(location["function"]),
        message=message,
    )
    return AssertionBlock(assertion, index, end)


def _collect_message(lines: Sequence[str], start: int, *, stamped: bool) -> tuple[list[str], int]:
    """The free text from ``start`` up to the first line that belongs to something else."""
    body: list[str] = []
    index = start
    limit = min(len(lines), start + MAX_MESSAGE_LINES)
    while index < limit:
        raw = lines[index][:MAX_LINE]
        text = _strip_prefix(raw) if stamped else raw
        if _END_OF_MESSAGE.match(text) or _starts_block(text):
            break
        # A timestamped line after an unstamped block is the log carrying on, not the message.
        if not stamped and _LOG_STAMP.match(raw):
            break
        body.append(text)
        index += 1
    while body and not body[-1].strip():
        body.pop()
    return body, start + len(body)


def _starts_block(text: str) -> bool:
    if _AC_BOX_EDGE.match(text):
        return True
    if "#" in text and text.lstrip("# \t").startswith("Location") and _AC_FIELD.match(text):
        return True
    kind = _TC_KIND.search(text) if any(k in text for k in _TC_KINDS) else None
    return bool(kind and _TC_LOCATION.match(text[: kind.start()]))


def _read_ac_box(lines: Sequence[str], location_index: int) -> AssertionBlock:
    start = location_index
    for back in range(location_index - 1, max(-1, location_index - _AC_LOOKBACK), -1):
        text = _strip_prefix(lines[back][:MAX_LINE])
        if _AC_KIND.match(text) or _AC_BOX_EDGE.match(text):
            start = back
        if _AC_BOX_EDGE.match(text):
            break
    fields: dict[str, str] = {}
    index = location_index
    limit = min(len(lines), location_index + MAX_MESSAGE_LINES)
    while index < limit:
        text = _strip_prefix(lines[index][:MAX_LINE])
        if _AC_BOX_EDGE.match(text):
            index += 1
            break
        field = _AC_FIELD.match(text)
        if field is None:
            if text.strip() and fields and _END_OF_MESSAGE.match(text):
                break
            index += 1
            continue
        name = " ".join(field["name"].split()).lower()
        if name in fields:  # a second box: this one ended without its closing edge
            break
        value, index = _read_quoted(lines, index, field["rest"], limit)
        fields[name] = value
    file, line = _split_location(fields.get("location", ""))
    condition = fields.get("condition") or None
    parts = [fields[key] for key in ("message", "debug info") if fields.get(key)]
    assertion = Assertion(
        condition=condition,
        file=file,
        line=line,
        function=normalise_function(fields["function"]) if fields.get("function") else None,
        message="\n".join(parts).strip() or None,
    )
    return AssertionBlock(assertion, start, index)


def _read_quoted(lines: Sequence[str], index: int, first: str, limit: int) -> tuple[str, int]:
    """A ``'…'`` value that may continue over following lines; returns it and the next line's index."""
    parts = [first]
    index += 1
    while not parts[-1].rstrip().endswith("'") and index < limit:
        text = _strip_prefix(lines[index][:MAX_LINE])
        if _AC_BOX_EDGE.match(text) or _AC_FIELD.match(text) or _END_OF_MESSAGE.match(text):
            break
        parts.append(text)
        index += 1
    value = "\n".join(parts).rstrip()
    if value.endswith("'"):
        value = value[:-1]
    return value.strip(), index


def _split_location(value: str) -> tuple[str | None, int | None]:
    match = _LOCATION_VALUE.match(value.strip())
    if match:
        return match["file"], int(match["line"])
    return (value.strip() or None), None
