"""Parser for gdb crash logs: crashreport.gdb, AC gdb.conf, restarter logs, interactive and core sessions.

One log shows the same stack several times (``bt``, ``bt full``, ``thread apply all``); the parser keeps one
:class:`Thread` per gdb thread (by thread number, else LWP) and marks the one the log itself says stopped
(``received signal``, ``[Switching to Thread …]``, ``[Current thread is N …]``, ``*`` in ``info threads``,
or the thread a bare ``bt`` printed). Shapes and traps: ``shared/reference/crash-formats.md`` §2 and §5.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot.crash import signals
from bot.crash.assertion import parse_assertion
from bot.crash.errors import CrashParseError
from bot.crash.frames import new_frame
from bot.crash.itanium import demangle
from bot.crash.location import matching_open, split_trailing, without_trailing_qualifiers
from bot.crash.model import Assertion, Build, CrashReport, Environment, ExceptionInfo, Format, Frame, Thread
from bot.crash.parsers.reader import Cursor, ReportBuilder, blank_from
from bot.crash.terminate import find_terminate

logger = logging.getLogger(__name__)

SNIFF_LINES = 400
# gdb wraps a long frame over a handful of lines; more than this is not one frame.
MAX_WRAP_LINES = 40
# Frame text beyond this is not scanned for its argument list (a pathological line stays linear and cheap).
MAX_FRAME_CHARS = 65536
# Only this much of any line is matched against the line-level patterns.
MAX_LINE = 8192

_FATAL_SIGNALS = frozenset(
    {"SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGSYS", "SIGTRAP", "SIGKILL", "SIGQUIT", "SIGXCPU"}
)

# ``set debug timestamp`` (seconds.microseconds), a log timestamp, and gdb's own prompt.
_LINE_PREFIX = re.compile(
    r"^(?:\d{9,10}\.\d{3,6}\s+|\[?\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\]?\s+)?(?:\(gdb\)\s?)?"
)
_COMMAND = re.compile(r"^\s*\(gdb\)")

_FRAME = re.compile(r"^\s*#(?P<num>\d+)\s+(?P<body>\S.*)$")
# ``#`` eaten by markdown: only the unmistakable ``N  0xADDR in …`` shape is accepted without it.
_BARE_FRAME = re.compile(r"^\s*(?P<num>\d+)\s+(?P<body>0x[0-9a-fA-F]+\s+in\s+\S.*)$")
_ADDRESS_IN = re.compile(r"^(?P<address>0x[0-9a-fA-F]+)\s+in\s+(?P<rest>.*)$")
_AT = re.compile(r"^\s*at\s+(?P<file>\S(?:.*?\S)?)(?:\s*:\s*(?P<line>\d+)(?::(?P<column>\d+))?)?\s*$")
_FROM = re.compile(r"^\s*from\s+(?P<module>\S(?:.*\S)?)\s*$")
_CONTINUATION = re.compile(r"^\s*(?:at\s+\S.*:\d+|from\s+\S+)\s*$")
# The last line of an excerpt that ends inside a frame's continuation (``    at /src/game/Un``, ``  fro``).
_CUT_CONTINUATION = re.compile(r"^\s*(?:a|at|f|fr|fro|from)(?:\s+\S+)?\s*$")
_LOCAL = re.compile(r"^\s*(?:[\w$.:~<>\[\]]+ = |No locals\.|No symbol table info available\.|<)")
_NO_LOCALS = frozenset({"No locals.", "No symbol table info available."})
_HEX_ONLY = re.compile(r"0x[0-9a-fA-F]*")
_GLIBC_VERSION = re.compile(r"@@?[A-Z][A-Z0-9_]*_[\d.]+$")
# What matters while reading a frame's name: brackets, operator names (whose symbols are not brackets), and
# `` at ``/`` from `` ending a name that has no argument list.
_NAME_TOKEN = re.compile(r"\boperator(?:[<>=!+\-*/%^&|~,]+|\(\)|\[\])?|[<>(){}]|(?<=\S) (?=(?:at|from) )")
# What matters inside an argument list: parentheses, and literals (whose contents are skipped whole).
_ARGS_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:\\.[0-7]{0,2}|[^\'\\])\'|[()]|"')
_TRAILING_QUALIFIERS = ("const", "volatile", "&")  # stripped off a name's end (``&&`` is two ``&``)
# gdb's stop location (``Func (a=1, b=...)`` then ``    at file.cpp:12``): the first argument is gdb's
# ``name=value`` (``weapon=weapon@entry=0x…``), the path has a file name extension.
_GDB_ARG = re.compile(r"^\(\s*(?:\)|[A-Za-z_$][\w$]*(?:@entry)?=)")
_STOP_AT = re.compile(r"^\s*at\s+\S*\.\w{1,5}:\d+(?::\d+)?\s*$")
# The source line gdb echoes under a stop location: ``4237\t    oil = FindConsumable(…);``.
_ECHOED_LINE = re.compile(r"^(?P<line>\d{1,9})\s(?P<text>.*)$")
# How many wrapped lines a stop location's argument list may take (gdb wraps long ones).
MAX_STOP_WRAP = 8

_THREAD_HEADER = re.compile(r"^\s*Thread\s+(?P<num>\d+)\s+\((?P<target>.*)\)\s*:\s*$")
_SIGNAL = re.compile(
    r"""^\s*(?:
        Thread\s+(?P<num>\d+)\s*(?:"(?P<name>[^"]*)"\s*)?received
      | Program\s+received
      | Program\s+terminated\s+with
      | It\s+stopped\s+with
    )\s+signal\s+(?P<signal>SIG\w+|\d+)\s*(?:,\s*(?P<text>.*?))?\.?\s*$""",
    re.VERBOSE,
)
_SWITCH_STOP = re.compile(r"^\s*\[Switching\s+to\s+(?P<target>(?:Thread\s+0x|LWP\s|process\s).*)\]\s*$")
_SWITCH_USER = re.compile(r"^\s*\[Switching\s+to\s+thread\s+(?P<num>\d+)\s*\((?P<target>.*)\)\]")
_CURRENT = re.compile(r"^\s*\[Current\s+thread\s+is\s+(?P<num>\d+)\s*\((?P<target>.*)\)\]")
_RUNNING_IMAGE = re.compile(r"^\s*Using\s+the\s+running\s+image\s+of\s+(?:child|attached)\s+(?P<target>.*)$")
_STOPPED_AT = re.compile(r"^\s*Program\s+stopped\s+at\s+(?P<address>0x[0-9a-fA-F]+)")
_INFO_ROW = re.compile(
    r"""^\s*(?P<star>\*)?\s*(?P<num>\d+)\s+
    (?P<target>(?:Thread\s+0x[0-9a-fA-F]+\s+)?\((?:LWP|process)\s+\d+\)|LWP\s+\d+|process\s+\d+)
    (?:\s+"(?P<name>[^"]*)")?""",
    re.VERBOSE,
)
_TARGET_LWP = re.compile(r"\b(?:LWP|process)\s+(\d+)")
_TARGET_NAME = re.compile(r'"([^"]*)"')
_SECTION = re.compile(
    r"""^\s*(?:
        ---\s*DEBUG:.*
      | CRASHLOG\s+BEGIN | CRASH\s+ON\b.* | BACKTRACE(?:\s+FULL)? | THREADS(?:\s+BACKTRACE)?
      | Generated\s+by\s+crashreport\.gdb.*
    )\s*$""",
    re.VERBOSE,
)
_CRASH_ON = re.compile(r"^\s*CRASH\s+ON\s+(?P<date>\S.*?)\s*$")
_VALUE = re.compile(r"^\s*\$\d+\s*=\s*(?:\(.*?\)\s*)?(?:0x[0-9a-fA-F]+\s*)?(?P<value>\".*)$")
_EXECUTABLE = re.compile(
    r"""^\s*(?:Core\s+was\s+generated\s+by\s+`(?P<core>[^']*)'?
      | Starting\s+program:\s+(?P<start>\S+)
      | Reading\s+symbols\s+from\s+(?P<symbols>\S+?)(?:\.\.\.)?\s*$)""",
    re.VERBOSE,
)

_REVISION = re.compile(
    r"(?P<product>\b[A-Za-z][\w.\-]*(?: [\w.\-]*\d[\w.\-]*)?)\s+[Rr]ev\.\s+(?P<rest>\S.*?)\s*$"
)
_REVISION_HEAD = re.compile(
    r"""^(?:(?P<hash>[0-9a-fA-F]{7,40}|unknown)\s*(?P<dirty>\+)?\s*)?
    (?P<date>\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}:\d{2}(?:\s*[+-]\d{4})?)?""",
    re.VERBOSE,
)
_PAREN_GROUP = re.compile(r"\(([^()]*)\)")
_HASH_GROUP = re.compile(r"^(?P<hash>[0-9a-fA-F]{7,40})\s*(?P<dirty>\+)?$")
_CONFIGURATIONS = ("RelWithDebInfo", "Release", "Debug", "MinSizeRel")
_LINKAGE = ("Static", "Dynamic", "Shared")

_C_ESCAPE = re.compile(r"\\(?:(?P<oct>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]{1,2})|(?P<char>.))", re.DOTALL)
_C_STRING = re.compile(r'"(?P<text>(?:[^"\\]|\\.)*)"(?:\s*<repeats\s+(?P<times>\d+)\s+times>)?', re.DOTALL)
_C_CHAR_REPEAT = re.compile(r"'(?P<char>\\.[0-7]{0,2}|[^'\\])'\s*<repeats\s+(?P<times>\d+)\s+times>")
_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v", "e": b"\x1b"}
_ASSERT_WORDS = ("ASSERTION FAILED", "FATAL ERROR", "ERROR:", "ABORTED", "# Location", "Caught signal")


# --------------------------------------------------------------------------------------------------------
# Public entry points


def sniff(lines: Sequence[str]) -> int:
    """How sure (0..100) that ``lines`` are a gdb log; reads the first :data:`SNIFF_LINES` lines only."""
    score = 0
    frames = 0
    head = lines[:SNIFF_LINES]
    for index, raw in enumerate(head):
        line = _normalise(raw[:MAX_LINE])
        if not line.strip():
            continue
        if score < 70 and " (" in line and ("=" in line or "()" in line):
            score = max(score, _stop_score(head, index))
        # Each pattern is tried only on lines holding a literal it cannot match without.
        if "crashreport.gdb" in line or line.lstrip().startswith("--- DEBUG:"):
            score = max(score, 95)
        elif (
            ("signal" in line and _SIGNAL.match(line))
            or "CRASHLOG BEGIN" in line
            or line.startswith("Core was generated by")
        ):
            score = max(score, 85)
        elif (
            ("Thread" in line and _THREAD_HEADER.match(line))
            or ("[Current" in line and _CURRENT.match(line))
            or ("[Switching" in line and _SWITCH_STOP.match(line))
        ):
            score = max(score, 80)
        elif ("(gdb)" in raw and _COMMAND.match(raw)) or line.startswith("GNU gdb") or "libthread_db" in line:
            score = max(score, 70)
        elif line.lstrip().startswith("[New Thread 0x") or line.lstrip().startswith("[New LWP "):
            score = max(score, 55)
        match = ("#" in line and _FRAME.match(line)) or ("0x" in line and _BARE_FRAME.match(line))
        if match and _looks_like_frame(match["body"]):
            frames += 1
    if frames >= 3:
        score = max(score, 80)
    elif frames:
        score = max(score, 45 + 10 * frames)
    return min(score, 100)


def _stop_score(lines: Sequence[str], index: int) -> int:
    """The sniff score of a stop location at ``index`` (:func:`_stop_location`): 60, or 70 when gdb's
    echo of the source line follows; 0 when there is none."""
    end = _stop_location(lines, index)
    if end is None:
        return 0
    at = re.search(r":(\d+)(?::\d+)?\s*$", lines[end][:MAX_LINE])
    echoed = _ECHOED_LINE.match(lines[end + 1][:MAX_LINE]) if end + 1 < len(lines) else None
    return 70 if at and echoed and echoed["line"] == at[1] else 60


def parse(lines: Sequence[str]) -> CrashReport:
    """Read a gdb log into a :class:`CrashReport`; CrashParseError when it has no stack, signal or assert."""
    reader = _Reader(lines)
    reader.read()
    return reader.finish()


# --------------------------------------------------------------------------------------------------------
# Revision lines (shared with the console-assert parser)


def parse_build_line(line: str) -> Build | None:
    """Split a ``<Product> rev. <hash>[+] <date> (<branch> branch) (<platform>, <config>, <link>)`` line."""
    match = _REVISION.search(line[:MAX_LINE])
    if not match:
        return None
    rest = match["rest"]
    head = _REVISION_HEAD.match(rest)
    revision: str | None = None
    dirty = False
    date: str | None = None
    tail = rest
    if head:
        if head["hash"] and head["hash"].lower() != "unknown":
            revision = head["hash"].lower()
        dirty = bool(head["dirty"])
        date = " ".join(head["date"].split()) if head["date"] else None
        tail = rest[head.end() :]
    branch: str | None = None
    platform: str | None = None
    configuration: str | None = None
    for group in _PAREN_GROUP.findall(tail):
        text = group.strip()
        hashed = _HASH_GROUP.match(text)
        if hashed and revision is None:
            revision, dirty = hashed["hash"].lower(), dirty or bool(hashed["dirty"])
        elif text.endswith(" branch") and branch is None:
            branch = text[: -len(" branch")].strip() or None
        elif configuration is None and any(c in text for c in _CONFIGURATIONS):
            items = [item.strip() for item in text.split(",") if item.strip()]
            configs = [item for item in items if item in _CONFIGURATIONS]
            configuration = configs[0] if configs else None
            kept = [item for item in items if item not in _CONFIGURATIONS and item not in _LINKAGE]
            platform = ", ".join(kept) or None
    if revision is None and date is None and branch is None:
        return None
    raw = match.group(0).strip()
    return Build(
        revision=revision,
        dirty=dirty,
        product=match["product"],
        branch=branch,
        platform=platform,
        configuration=configuration,
        date=date,
        raw=raw,
    )


def find_build(lines: Sequence[str]) -> Build | None:
    """The first revision line in ``lines`` (the server prints its banner at start-up), or None."""
    for line in lines:
        if "rev." in line or "Rev." in line:
            build = parse_build_line(line)
            if build:
                return build
    return None


# --------------------------------------------------------------------------------------------------------
# Frames


@dataclass(frozen=True)
class _Call:
    """A frame body split at its top-level argument list."""

    name: str
    args_open: bool
    rest: str


def _looks_like_frame(body: str) -> bool:
    body = body[:MAX_FRAME_CHARS]
    if _ADDRESS_IN.match(body):
        return True
    call = _split_call(body)
    return bool(call.rest.strip().startswith(("at ", "from ")) or (not call.args_open and call.rest == ""))


def _split_call(body: str) -> _Call:
    """Split ``Func (args) at file:line`` at the ``(`` that opens the argument list.

    The name may itself hold parentheses and spaces (``std::function<void (Player*)>::operator()``,
    ``{lambda()#2}``, ``(anonymous namespace)::F``, demangled ``Foo::Bar(int)`` without debug info); the
    argument list is the first ``(`` outside every ``<>``/``()``/``{}`` that follows a space.
    """
    text = body[:MAX_FRAME_CHARS]
    angle = paren = brace = 0
    position = 0
    while True:
        token = _NAME_TOKEN.search(text, position)
        if token is None:
            return _Call(text.strip(), False, "")
        kind = token.group()
        index = token.start()
        position = token.end()
        if kind.startswith("operator"):
            continue
        if kind == "<":
            angle += 1
        elif kind == ">":
            angle = max(0, angle - 1)
        elif kind == "{":
            brace += 1
        elif kind == "}":
            brace = max(0, brace - 1)
        elif kind == ")":
            paren = max(0, paren - 1)
        elif kind == "(":
            if angle == paren == brace == 0 and index > 0 and text[index - 1] == " ":
                close = _close_args(text, index)
                if close is None:
                    return _Call(text[:index].strip(), True, "")
                return _Call(text[:index].strip(), False, text[close + 1 :])
            paren += 1
        elif angle == paren == brace == 0:  # `` at `` / `` from `` with no argument list before it
            return _Call(text[:index].strip(), False, text[index:])


def _close_args(text: str, start: int) -> int | None:
    """Index of the ``)`` closing the ``(`` at ``start`` (string and char literals skipped), or None."""
    depth = 0
    position = start
    while True:
        token = _ARGS_TOKEN.search(text, position)
        if token is None:
            return None
        kind = token.group()
        position = token.end()
        if kind == "(":
            depth += 1
        elif kind == ")":
            depth -= 1
            if depth == 0:
                return token.start()
        elif kind == '"':
            # An unterminated string means the line was cut inside the argument list.
            return None


_STOP_NAME = re.compile(r"[A-Za-z_~][\w:~$.@]*(?:\s+(?:new|delete)(?:\[\])?)?")


def _stop_location(lines: Sequence[str], index: int) -> int | None:
    """Where the stop location starting at line ``index`` ends (the index of its ``at file:line``
    line), or None when the line does not start one.

    When a signal stops the program gdb prints the frame it stopped in without a number:
    ``PlayerbotAI::FindOilFor (this=0x…, weapon=weapon@entry=0x…)``, then (when it does not fit)
    ``    at /src/PlayerbotAI.cpp:4237``, then the source line. Pasted alone it is the whole report. Only
    that exact shape is taken: a C++ name (no spaces outside its brackets), gdb's ``name=value``
    arguments (or none) and an ``at path.ext:line`` -- prose such as ``the crash (see log) at x.cpp:12``
    is none of these."""
    line = _normalise(lines[index][:MAX_LINE]).strip()
    if " (" not in line or line.startswith(("#", "[")):
        return None
    _, text = _split_address(line)
    call = _split_call(text)
    if not _STOP_NAME.fullmatch(_without_groups(call.name)) or not _GDB_ARG.match(
        text[len(call.name) :].lstrip()
    ):
        return None
    wraps = 0
    while (
        call.args_open and wraps < MAX_STOP_WRAP and index + wraps + 1 < len(lines) and len(text) < MAX_LINE
    ):
        wraps += 1
        text = f"{text} {_normalise(lines[index + wraps][:MAX_LINE]).strip()}"
        call = _split_call(text)
    if call.args_open:
        return None
    end = index + wraps
    if call.rest.strip():
        return end if _STOP_AT.match(call.rest) else None
    if end + 1 < len(lines) and _STOP_AT.match(_normalise(lines[end + 1][:MAX_LINE])):
        return end + 1
    return None


def _without_groups(name: str) -> str:
    """``name`` without its ``<…>``, ``(…)`` and ``{…}`` groups (``std::map<int, int>::find`` ->
    ``std::map::find``); unbalanced text is returned as it is."""
    out: list[str] = []
    depth = 0
    for ch in name[:MAX_LINE]:
        if ch in "<({":
            depth += 1
        elif ch in ">)}" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out).strip()


def _clean_function(name: str) -> str | None:
    name = " ".join(name.split())
    if not name or name.startswith("??"):
        return None
    name = _GLIBC_VERSION.sub("", name)
    if name.startswith("_Z"):  # ``set print demangle off``, or a symbol gdb could not demangle
        name = demangle(name) or name
    # Without debug info gdb prints the demangled signature (``Foo::Bar(int) const``); the parameter types are
    # dropped so the name matches the same frame printed with debug info.
    stripped = without_trailing_qualifiers(name, _TRAILING_QUALIFIERS)
    if stripped.endswith(")"):
        open_index = matching_open(stripped)
        if open_index is not None and open_index > 0:
            head = stripped[:open_index].rstrip()
            if head and not head.endswith("operator") and not head.endswith(("<", ",")):
                name = head
    return name or None


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path.strip())[-1]


def _split_address(body: str) -> tuple[str | None, str]:
    """``0xADDR in rest`` -> (``0xaddr``, rest); a body without an address is returned whole."""
    match = _ADDRESS_IN.match(body[:MAX_FRAME_CHARS])
    if match:
        return match["address"].lower(), match["rest"]
    return None, body


def _make_frame(address: str | None, call: _Call, raw: str, *, number: int, strings: dict[str, str]) -> Frame:
    """The Frame of one split frame body; names, paths and modules seen before come from ``strings``."""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    module: str | None = None
    name = call.name
    at = _AT.match(call.rest[:MAX_LINE])
    if at:
        file = at["file"]
        line = int(at["line"]) if at["line"] else None
        column = int(at["column"]) if at["column"] else None
    else:
        source = _FROM.match(call.rest[:MAX_LINE])
        if source:
            module = _basename(source["module"])
        elif not call.rest.strip() and not call.args_open:
            # a sanitizer-style ``in Func(args) /path/File.cpp:123:5`` pasted among gdb frames
            name, where = split_trailing(call.name[:MAX_LINE])
            file, line, column = where.file, where.line, where.column
            module = where.module
    if address is None and _HEX_ONLY.fullmatch(name.strip()):  # ``#1  0x00007efc016f``: no name at all
        address, name = name.strip().lower(), ""
    function = _clean_function(name)
    # ``bt``, ``bt full`` and ``thread apply all bt`` print the same frames again and again.
    if function is not None:
        function = strings.setdefault(function, function)
    if file is not None:
        file = strings.setdefault(file, file)
    if module is not None:
        module = strings.setdefault(module, module)
    return new_frame(
        function=function,
        module=module,
        file=file,
        line=line,
        offset=None,
        address=address,
        # gdb omits the address of a frame whose pc is that of the inlined callee below it; frame #0 also
        # omits it when the pc sits at the start of a source line, which is not inlining.
        inline=address is None and number > 0,
        raw=raw,
        column=column,
    )


def _cut_off(frame: Frame, call: _Call) -> tuple[str, Frame] | None:
    """What is missing from ``frame`` if the text was cut inside it (an excerpt, a pasted screenful), and
    the frame to keep (a partial address is dropped; a partial name or path is kept as far as it goes);
    None when it looks whole. Only asked of the text's last frame."""
    name = frame.function or ""
    if name.count("<") > name.count(">"):
        return "its function name is cut off (kept as far as it goes)", frame
    if call.args_open:
        kept = "; its function is kept" if frame.function else ""
        return f"its arguments are cut off{kept}", frame
    if frame.file is not None and frame.line is None:
        return "its source path is cut off (kept as far as it goes)", frame
    if frame.module is not None and "." not in frame.module:  # ``from`` is printed for shared libraries
        return "its module path is cut off (kept as far as it goes)", frame
    if frame.function is None and frame.address is not None and call.name.startswith("0x"):
        return "only part of its address is left", replace(frame, address=None)
    if call.rest.strip() and frame.file is None and frame.module is None:
        return "its source path or module is cut off", frame
    return None


# --------------------------------------------------------------------------------------------------------
# The reader


@dataclass
class _Block:
    """One printed stack (one ``bt``, or one thread of ``thread apply all``)."""

    num: str | None
    lwp: str | None
    bare: bool
    section: str
    order: int
    frames: list[Frame] = field(default_factory=list)
    last: int = -1


@dataclass
class _Stop:
    signal: str
    text: str | None
    num: str | None = None
    lwp: str | None = None
    line: int = 0


def _normalise(line: str) -> str:
    first = line[:1]
    # The prefixes start with a digit (``\d`` is any Unicode decimal), ``[`` or ``(gdb)``.
    if not (first.isdecimal() or first in {"[", "("}):
        return line
    match = _LINE_PREFIX.match(line)
    return line[match.end() :] if match and match.end() else line


def _lwp_of(target: str) -> str | None:
    match = _TARGET_LWP.search(target)
    return match.group(1) if match else None


def _name_of(target: str) -> str | None:
    match = _TARGET_NAME.search(target)
    return match.group(1) if match else None


def _decode_c_value(value: str) -> str | None:
    """The text of a gdb-printed ``char*`` (``"a\\n", 'x' <repeats 70 times>, "b"...``)."""
    pieces: list[bytes] = []
    index = 0
    length = len(value)
    while index < length:
        while index < length and value[index] in " ,":
            index += 1
        string = _C_STRING.match(value, index)
        if string:
            times = int(string["times"] or 1)
            pieces.append(_unescape(string["text"]) * min(times, 1000))
            index = string.end()
            continue
        repeat = _C_CHAR_REPEAT.match(value, index)
        if repeat:
            pieces.append(_unescape(repeat["char"]) * min(int(repeat["times"]), 1000))
            index = repeat.end()
            continue
        break
    if not pieces:
        return None
    return b"".join(pieces).decode("utf-8", errors="replace")


def _unescape(text: str) -> bytes:
    out = bytearray()
    position = 0
    for match in _C_ESCAPE.finditer(text):
        out += text[position : match.start()].encode("utf-8", errors="replace")
        if match["oct"] is not None:
            out.append(int(match["oct"], 8) & 0xFF)
        elif match["hex"] is not None:
            out.append(int(match["hex"], 16))
        else:
            char = match["char"]
            out += _ESCAPES.get(char, char.encode("utf-8", errors="replace"))
        position = match.end()
    out += text[position:].encode("utf-8", errors="replace")
    return bytes(out)


class _Reader:
    """A single pass over the log collecting stacks, thread identities, stop events and assert text."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.cursor = Cursor(lines)
        self.out = ReportBuilder(Format.GDB)
        self.blocks: list[_Block] = []
        self.block: _Block | None = None
        self.pending: tuple[str | None, str | None] | None = None  # thread header awaiting its frames
        self.selected: tuple[str | None, str | None] | None = None  # ``thread N`` typed by the user
        self.section = ""
        self.stops: list[_Stop] = []
        self.stop_address: str | None = None
        self.expect_stop_frame = False
        self.last_switch: tuple[str | None, int] | None = None
        self.star: str | None = None
        self.lwp_by_num: dict[str, str] = {}
        self.num_by_lwp: dict[str, str] = {}
        self.name_by_num: dict[str, str] = {}
        self.name_by_lwp: dict[str, str] = {}
        self.assert_values: list[str] = []
        self.crashed_at: str | None = None
        self.executable: str | None = None
        self.evidence = 0
        self.strings: dict[str, str] = {}

    # -- identities

    def _learn(self, num: str | None, lwp: str | None, name: str | None) -> None:
        if num and lwp:
            self.lwp_by_num.setdefault(num, lwp)
            self.num_by_lwp.setdefault(lwp, num)
        if name:
            if num:
                self.name_by_num.setdefault(num, name)
            if lwp:
                self.name_by_lwp.setdefault(lwp, name)

    def _close(self) -> None:
        self.block = None

    # -- the pass

    def read(self) -> None:
        cursor = self.cursor
        lines = cursor.lines
        count = len(lines)
        index = cursor.index  # a local in the loop (most lines are locals, skipped at once)
        while index < count:
            raw = lines[index][:MAX_LINE] if len(lines[index]) > MAX_LINE else lines[index]
            line = _normalise(raw)
            stripped = line.strip()
            # ``bt full`` locals are most of a big log and never matter: skip them before any pattern.
            if not stripped or line.startswith("        ") or stripped in _NO_LOCALS:
                index += 1
                continue
            frame_match = _FRAME.match(line) if "#" in line[:12] else None
            if frame_match is None and stripped[:1].isdigit():
                frame_match = _BARE_FRAME.match(line)
            if frame_match and _looks_like_frame(frame_match["body"]):
                number = int(frame_match["num"])
                self.expect_stop_frame = False
                index = index + 1 if self._drops(number) else self._frame(index, number, frame_match["body"])
                continue
            if self.expect_stop_frame:
                self.expect_stop_frame = False
                if not stripped.startswith("[") and (
                    _ADDRESS_IN.match(stripped) or _split_call(stripped).rest.lstrip().startswith("at ")
                ):
                    self.pending = None
                    self._close()
                    index = index + 1 if self._drops(0) else self._frame(index, 0, stripped, stop=True)
                    index = self._echoed_line(index)
                    continue
            end = _stop_location(lines, index) if " (" in stripped else None
            if end is not None:  # a stop location with its ``at`` wrapped, or pasted without its signal
                self.expect_stop_frame = False
                self.pending = None
                self._close()
                index = end + 1 if self._drops(0) else self._frame(index, 0, stripped, stop=True)
                index = self._echoed_line(index)
                continue
            for reader in _LINE_READERS:
                if reader(self, index, raw, line, stripped):
                    break
            index += 1
        cursor.index = index

    def _echoed_line(self, index: int) -> int:
        """After a stop location, gdb echoes the faulting source line (``4237\t    oil = …;``): keep its
        text (``extra["source_line"]``) and go past it; returns the index of the next line to read."""
        lines = self.cursor.lines
        stopped = self.blocks[-1].frames[-1] if self.blocks and self.blocks[-1].frames else None
        if index >= len(lines) or stopped is None or stopped.line is None:
            return index
        echoed = _ECHOED_LINE.match(lines[index][:MAX_LINE])
        if echoed is None or int(echoed["line"]) != stopped.line:
            return index
        self.out.extra.setdefault("source_line", echoed["text"].strip())
        return index + 1

    def _drops(self, number: int) -> bool:
        """Whether frame ``number`` is past the frame limits (it is then counted and not read at all)."""
        block = self.block
        continues = block is not None and number > block.last
        if self.out.budget.admits(len(block.frames) if block is not None and continues else 0):
            return False
        if block is not None and continues:
            block.last = number  # the listing goes on; later frames still belong to this block
        return True

    # -- line readers (:data:`_LINE_READERS`): each returns whether the line was its kind

    def _thread_header(self, index: int, raw: str, line: str, stripped: str) -> bool:
        header = _THREAD_HEADER.match(line) if "Thread" in line else None
        if not header:
            return False
        num, target = header["num"], header["target"]
        lwp = _lwp_of(target)
        self._learn(num, lwp, _name_of(target))
        self._close()
        self.pending = (num, lwp)
        return True

    def _signal(self, index: int, raw: str, line: str, stripped: str) -> bool:
        stop = _SIGNAL.match(line) if "signal" in line else None
        if not stop:
            return False
        self._stop(index, stop)
        return True

    def _bracketed(self, index: int, raw: str, line: str, stripped: str) -> bool:
        if not stripped.startswith("["):
            return False
        self._bracket(index, stripped)
        return True

    def _info_row(self, index: int, raw: str, line: str, stripped: str) -> bool:
        row = _INFO_ROW.match(line) if stripped[:1] in "*0123456789" else None
        if not row:
            return False
        lwp = _lwp_of(row["target"])
        self._learn(row["num"], lwp, row["name"])
        if row["star"]:
            self.star = row["num"]
        self._close()
        return True

    def _section(self, index: int, raw: str, line: str, stripped: str) -> bool:
        if not (_COMMAND.match(raw) or _SECTION.match(line)):
            return False
        self._close()
        self.pending = None
        self.section = stripped[:80]
        crash_on = _CRASH_ON.match(line)
        if crash_on and self.crashed_at is None:
            self.crashed_at = crash_on["date"]
        return True

    def _assert_value(self, index: int, raw: str, line: str, stripped: str) -> bool:
        if not (stripped.startswith("$") and any(word in line for word in _ASSERT_WORDS)):
            return False
        value = _VALUE.match(line)
        if value:
            decoded = _decode_c_value(value["value"])
            if decoded:
                self.assert_values.append(decoded)
        return True

    def _running_image(self, index: int, raw: str, line: str, stripped: str) -> bool:
        running = _RUNNING_IMAGE.match(line)
        if not running:
            return False
        lwp = _lwp_of(running["target"])
        self.last_switch = (lwp, index)
        self._attach_lwp(lwp, index)
        return True

    def _stopped_at(self, index: int, raw: str, line: str, stripped: str) -> bool:
        stopped_at = _STOPPED_AT.match(line)
        if not stopped_at:
            return False
        self.stop_address = stopped_at["address"].lower()
        return True

    def _executable(self, index: int, raw: str, line: str, stripped: str) -> bool:
        if self.executable is None and (
            line.startswith(("Core was", "Starting program", "Reading symbols")) or "Core was" in line
        ):
            exe = _EXECUTABLE.match(line)
            if exe:
                command = exe["core"] or exe["start"] or exe["symbols"] or ""
                first = command.split()[0] if command.split() else ""
                self.executable = _basename(first) or None
        return True

    def _bracket(self, index: int, stripped: str) -> None:
        user = _SWITCH_USER.match(stripped)
        if user:
            lwp = _lwp_of(user["target"])
            self._learn(user["num"], lwp, _name_of(user["target"]))
            self.selected = (user["num"], lwp)
            self._close()
            self.pending = None
            return
        switch = _SWITCH_STOP.match(stripped)
        if switch:
            lwp = _lwp_of(switch["target"])
            self.last_switch = (lwp, index)
            self._attach_lwp(lwp, index)
            self.selected = None
            self._close()
            self.pending = None
            self.expect_stop_frame = True
            return
        current = _CURRENT.match(stripped)
        if current:
            lwp = _lwp_of(current["target"])
            self._learn(current["num"], lwp, _name_of(current["target"]))
            if self.stops and index - self.stops[-1].line <= 8:
                self.stops[-1].num = self.stops[-1].num or current["num"]
                self.stops[-1].lwp = self.stops[-1].lwp or lwp
            else:
                self.stops.append(_Stop(signal="", text=None, num=current["num"], lwp=lwp, line=index))
            self.selected = None
            return

    def _attach_lwp(self, lwp: str | None, index: int) -> None:
        if self.stops and self.stops[-1].lwp is None and index - self.stops[-1].line <= 3:
            self.stops[-1].lwp = lwp

    def _stop(self, index: int, match: re.Match[str]) -> None:
        signal = match["signal"]
        signal = signals.name_of(signal) if signal.isdigit() else signal
        stop = _Stop(signal=signal, text=(match["text"] or "").strip() or None, num=match["num"], line=index)
        if match["num"]:
            self._learn(match["num"], None, match["name"])
        # Older gdb prints ``[Switching to Thread …]`` just before ``Program received signal``.
        if self.last_switch and 0 <= index - self.last_switch[1] <= 5:
            stop.lwp = self.last_switch[0]
        self.stops.append(stop)
        self._close()
        self.pending = None
        self.selected = None
        self.expect_stop_frame = True

    def _frame(self, index: int, number: int, body: str, *, stop: bool = False) -> int:
        """Read the frame at line ``index`` (joining wrapped continuation lines); returns the index of the
        line after it."""
        lines = self.cursor.lines
        address, text = _split_address(body.rstrip())
        raw_parts = [lines[index][:MAX_FRAME_CHARS].strip()]
        nxt = index + 1
        call = _split_call(text)
        wraps = 0
        while call.args_open and nxt < len(lines) and wraps < MAX_WRAP_LINES and len(text) < MAX_FRAME_CHARS:
            follow = _normalise(lines[nxt][:MAX_LINE])
            if not follow.strip() or _FRAME.match(follow) or _LOCAL.match(follow) or _SECTION.match(follow):
                break
            text = f"{text} {follow.strip()}"
            raw_parts.append(follow.strip())
            nxt += 1
            wraps += 1
            call = _split_call(text)
        if not call.args_open and not call.rest.strip() and nxt < len(lines):
            follow = _normalise(lines[nxt][:MAX_LINE])
            if _CONTINUATION.match(follow) or (
                _CUT_CONTINUATION.match(follow) and blank_from(lines, nxt + 1)
            ):
                call = _Call(call.name, False, f" {follow.strip()}")
                raw_parts.append(follow.strip())
                nxt += 1
        frame = _make_frame(address, call, " ".join(raw_parts), number=number, strings=self.strings)
        cut = _cut_off(frame, call) if blank_from(lines, nxt) else None  # only the last line can be cut
        if cut is not None:
            what, frame = cut
            self.out.note(f"truncated: the text ends inside frame #{number}: {what}")
        self._add(number, frame, stop=stop)
        return nxt

    def _add(self, number: int, frame: Frame, *, stop: bool) -> None:
        block = self.block
        if block is None or number <= block.last:
            if self.pending:
                num, lwp = self.pending
                block = _Block(num, lwp, bare=False, section=self.section, order=len(self.blocks))
            elif self.selected:
                num, lwp = self.selected
                block = _Block(num, lwp, bare=False, section=self.section, order=len(self.blocks))
            else:
                block = _Block(
                    None, None, bare=True, section="stop" if stop else self.section, order=len(self.blocks)
                )
            self.pending = None
            self.blocks.append(block)
            self.block = block
        block.frames.append(frame)
        block.last = number
        if stop:
            self._close()

    # -- the result

    def _key(self, num: str | None, lwp: str | None) -> str | None:
        if num:
            return f"n{num}"
        if lwp and lwp in self.num_by_lwp:
            return f"n{self.num_by_lwp[lwp]}"
        if lwp:
            return f"l{lwp}"
        return None

    def _chosen_stop(self) -> _Stop | None:
        signalled = [s for s in self.stops if s.signal]
        fatal = [s for s in signalled if s.signal in _FATAL_SIGNALS]
        if fatal:
            return fatal[-1]
        if signalled:
            return signalled[-1]
        return self.stops[-1] if self.stops else None

    def finish(self) -> CrashReport:
        stop = self._chosen_stop()
        current_key = self._current_key(stop)
        stacks, first_seen, bare_unresolved, current_key = self._stacks(current_key)
        threads, crashing = self._threads(stacks, first_seen, current_key)

        out = self.out
        out.exception = self._exception(stop, threads, crashing)
        out.assertion = self._assertion()
        if not threads and out.exception is None and out.assertion is None:
            raise CrashParseError(
                "no gdb backtrace, signal or assertion found in the log; "
                "pass the output of gdb's 'bt full' / 'thread apply all bt' (e.g. TC's crashreport.gdb log)"
            )
        build = find_build(self.cursor.lines) or Build()
        if self.executable and build.executable is None:
            build = replace(build, executable=self.executable)
        out.build = build
        out.note_budget()
        if bare_unresolved and current_key == "current":
            out.note("current thread not identified by number; its stack is kept apart")
        if not threads:
            out.note("no stack frames in the log")
        out.threads = threads
        out.environment = Environment(crashed_at=self.crashed_at)
        out.crashing_thread = crashing
        return out.report()

    def _current_key(self, stop: _Stop | None) -> str | None:
        """The key of the thread the log says stopped (:meth:`_key`), or of the ``*`` row."""
        current_key: str | None = None
        if stop:
            current_key = self._key(stop.num, stop.lwp)
            if current_key is None:
                # a core file's ``[Current thread is N]`` may sit apart from its signal line
                for other in reversed(self.stops):
                    current_key = self._key(other.num, other.lwp)
                    if current_key:
                        break
        if current_key is None and self.star:
            current_key = f"n{self.star}"
        return current_key

    def _stacks(
        self, current_key: str | None
    ) -> tuple[dict[str, _Block], dict[str, int], list[_Block], str | None]:
        """One stack per thread key (the most complete of its copies), when each key was first seen, the
        bare ``bt`` blocks no key named, and the current key (a bare block's, when nothing named one)."""
        stacks: dict[str, _Block] = {}
        first_seen: dict[str, int] = {}
        bare_unresolved: list[_Block] = []
        for block in self.blocks:
            key = current_key if block.bare else self._key(block.num, block.lwp)
            if key is None:
                bare_unresolved.append(block)
                continue
            self._keep(stacks, first_seen, key, block)
        for block in bare_unresolved:
            key = self._match(stacks, block)
            if key is None:
                key = "current"
            if current_key is None:
                current_key = key
            self._keep(stacks, first_seen, key, block)
        return stacks, first_seen, bare_unresolved, current_key

    def _threads(
        self, stacks: dict[str, _Block], first_seen: dict[str, int], current_key: str | None
    ) -> tuple[list[Thread], int | None]:
        """The threads in the order the log first showed them, and the index of the current one."""
        threads: list[Thread] = []
        crashing: int | None = None
        for key in sorted(stacks, key=lambda k: first_seen[k]):
            block = stacks[key]
            num = key[1:] if key.startswith("n") else None
            lwp = key[1:] if key.startswith("l") else (self.lwp_by_num.get(num) if num else None)
            name = (self.name_by_num.get(num) if num else None) or (
                self.name_by_lwp.get(lwp) if lwp else None
            )
            is_current = key == current_key
            if is_current:
                crashing = len(threads)
            threads.append(
                Thread(
                    frames=tuple(block.frames),
                    id=num if num else (f"LWP {lwp}" if lwp else None),
                    name=name,
                    current=is_current,
                    section=block.section,
                )
            )
        return threads, crashing

    @staticmethod
    def _keep(stacks: dict[str, _Block], first_seen: dict[str, int], key: str, block: _Block) -> None:
        first_seen.setdefault(key, block.order)
        kept = stacks.get(key)
        # The same stack printed by ``bt``, ``bt full`` and ``thread apply all``: keep the most complete copy.
        if kept is None or len(block.frames) > len(kept.frames):
            stacks[key] = block

    @staticmethod
    def _match(stacks: dict[str, _Block], block: _Block) -> str | None:
        """The thread whose stack a bare ``bt`` repeats (same frames from the top), if exactly one."""

        def ident(frame: Frame) -> tuple[str | None, str | None, int | None]:
            return (frame.address, frame.function, frame.line)

        mine = [ident(f) for f in block.frames[:8]]
        if not mine:
            return None
        found = [
            key
            for key, other in stacks.items()
            if [ident(f) for f in other.frames[: len(mine)]] == mine[: len(other.frames[:8])]
        ]
        return found[0] if len(found) == 1 else None

    def _exception(
        self, stop: _Stop | None, threads: list[Thread], crashing: int | None
    ) -> ExceptionInfo | None:
        # gdb shows the program's stderr in the log: an uncaught exception's terminate message sits
        # above "received signal SIGABRT" and says what was thrown (the frames only say who threw)
        thrown = find_terminate(self.cursor.lines)
        if stop is None or not stop.signal:
            return None if thrown is None else thrown.exception()
        address = self.stop_address
        if address is None and crashing is not None and threads[crashing].frames:
            address = threads[crashing].frames[0].address
        return ExceptionInfo(
            code=stop.signal,
            name=stop.text,
            address=address,
            thrown_type=thrown.thrown_type if thrown else None,
            what=thrown.what if thrown else None,
        )

    def _assertion(self) -> Assertion | None:
        for value in self.assert_values:
            assertion = parse_assertion(value.splitlines())
            if assertion:
                return assertion
        return parse_assertion(self.cursor.lines)


_LineReader = Callable[[_Reader, int, str, str, str], bool]
# What a line that is not a frame can be, in the order it is tried: each reader takes its kind of line
# (and returns True) or leaves it to the next. ``(index, raw, line, stripped)``: the line's number, its
# text, that text without gdb's prompt and timestamps, and that stripped.
_LINE_READERS: tuple[_LineReader, ...] = (
    _Reader._thread_header,
    _Reader._signal,
    _Reader._bracketed,
    _Reader._info_row,
    _Reader._section,
    _Reader._assert_value,
    _Reader._running_image,
    _Reader._stopped_at,
    _Reader._executable,
)
