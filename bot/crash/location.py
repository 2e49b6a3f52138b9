"""Source locations and call names as sanitizers, glibc's ``backtrace_symbols`` and debuggers print them.

Shared by the parsers that meet the same spellings: ``Func(args) /path/File.cpp:123:5`` (a sanitizer frame,
also pasted into gdb-looking logs), ``(module+0x1f0f0)``, and mangled ``_ZN…`` names with their parameter
lists, which crashbot keeps as the bare qualified name (``ChatHandler::SendWhisper``) everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.crash.itanium import demangle

# ``/path/File.cpp:123`` or ``File.cpp:123:5`` as the last word of a frame; the path holds no spaces. Its
# first ``.``, ``/`` or ``\`` is the one the pattern needs (any other split of the word was tried too before:
# 0.25 s for an 8 KB word of dots, on every sanitizer frame).
_TRAILING_LOCATION = re.compile(
    r"(?:^|\s)(?P<file>[^\s:()./\\]*[./\\][^\s:()]*):(?P<line>\d+)(?::(?P<column>\d+))?$"
)
# ``(module+0x1f0f0)`` or ``(/lib/x86_64-linux-gnu/libc.so.6+0x29d8f)`` as the last word of a frame.
_TRAILING_MODULE = re.compile(r"(?:^|\s)\((?P<module>[^()\s][^()]*?)\+(?P<offset>0x[0-9a-fA-F]+)\)$")
# A path cut off before its ``:line`` (truncated output): ``/home/``, ``../src/x.c``, ``C:\\src\\x.cpp``.
_TRAILING_PATH = re.compile(r"\s(?P<file>(?:/|\.{1,2}/|[A-Za-z]:\\)[^\s()]*)$")
_BUILD_ID = re.compile(r"\s*\(BuildId: [0-9a-fA-F]+\)$")
# What bare_function strips off the end of a name (``&&`` is two ``&``), with the spaces before each.
_QUALIFIERS = ("const", "volatile", "noexcept", "&")
MAX_NAME = 4096


@dataclass(frozen=True)
class Location:
    """Where a frame's code is: a source file position, a module-relative offset, or both."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    module: str | None = None
    offset: str | None = None


def basename(path: str) -> str:
    """The last component of a ``/`` or ``\\`` path."""
    return re.split(r"[\\/]", path.strip())[-1]


def split_trailing(text: str) -> tuple[str, Location]:
    """``text`` without its trailing ``(module+0xOFF)``, ``(BuildId: …)`` and ``file:line[:col]``, and those.

    ``ChatHandler::SendWhisper(Player*) /src/Chat.cpp:28:5`` -> (``ChatHandler::SendWhisper(Player*)``,
    file ``/src/Chat.cpp``, line 28, column 5). What is not there stays None.
    """
    rest = _BUILD_ID.sub("", text.strip())
    module = offset = None
    found = _TRAILING_MODULE.search(rest)
    if found:
        module, offset = basename(found["module"]), found["offset"].lower()
        rest = rest[: found.start()].rstrip()
    file = None
    line = column = None
    place = _TRAILING_LOCATION.search(rest)
    if place:
        file, line = place["file"], int(place["line"])
        column = int(place["column"]) if place["column"] else None
        rest = rest[: place.start()].rstrip()
    else:
        cut = _TRAILING_PATH.search(rest)
        if cut:
            file, rest = cut["file"], rest[: cut.start()].rstrip()
    return rest, Location(file=file, line=line, column=column, module=module, offset=offset)


def bare_function(name: str) -> str | None:
    """A printed call name as crashbot keeps it: demangled, without parameter list or cv-qualifiers.

    ``_ZN5World6UpdateEj`` -> ``World::Update``; ``Bump()`` -> ``Bump``; ``operator delete(void*)`` ->
    ``operator delete``; ``<null>``, ``??`` and empty -> None.
    """
    name = " ".join(name[:MAX_NAME].split())
    if not name or name.startswith(("??", "<null>", "<unknown")):
        return None
    if name.startswith("_Z"):
        name = demangle(name) or name
    stripped = without_trailing_qualifiers(name, _QUALIFIERS)
    if stripped.endswith(")"):
        opening = matching_open(stripped)
        if opening is not None and opening > 0:
            head = stripped[:opening].rstrip()
            if head and not head.endswith(("operator", "<", ",")):
                return head
    return name


def without_trailing_qualifiers(name: str, qualifiers: tuple[str, ...]) -> str:
    """``name`` without the run of ``qualifiers`` it ends with, and the spaces before each (``Foo::Bar(int)
    const &`` -> ``Foo::Bar(int)``); unchanged when it does not end with one.

    Read from the end, one qualifier at a time: the pattern it replaces, ``(?:\\s*(?:const|&&|&))+$``,
    tried every way of splitting a run of ``&`` into ``&&`` and ``&`` at every position of the name
    (doubling with every two ``&``: a 60-``&`` name never finished)."""
    end = len(name)
    while True:
        qualifier = next((q for q in qualifiers if name.endswith(q, 0, end)), None)
        if qualifier is None:
            return name[:end]
        end -= len(qualifier)
        while end and name[end - 1].isspace():
            end -= 1


def matching_open(text: str) -> int | None:
    """The index of the ``(`` that pairs with ``text``'s last ``)``, or None when none does."""
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                return index
    return None
