"""What the C++ runtime prints when ``std::terminate`` ends the process: the type and ``what()`` of an
exception nobody caught, or why terminate was called without one.

The shapes (each runtime's default terminate handler writes them to stderr, then calls ``abort``):

* libstdc++ (GCC, Linux), ``__gnu_cxx::__verbose_terminate_handler``::

      terminate called after throwing an instance of 'std::domain_error'
        what():  Unrecognized item prototype class

  ``what()`` follows only for types derived from ``std::exception`` (``throw "text"`` shows
  ``'char const*'`` and nothing else); a type the runtime cannot demangle is printed mangled. Also
  ``terminate called without an active exception`` (a joinable ``std::thread`` destroyed, ``throw;``
  outside a handler) and ``terminate called recursively`` (a second terminate while the first runs).
* libc++abi (clang, macOS, Android): ``libc++abi: terminating due to uncaught exception of type T: msg``
  (LLVM 15 on), ``libc++abi.dylib: terminating with uncaught exception of type T: msg`` (before), without
  ``: msg`` for types that are not ``std::exception``; ``… uncaught foreign exception`` and a bare
  ``libc++abi: terminating`` when there was no exception.
* MSVC's runtime prints no exception type or message on the console: ``terminate`` calls ``abort``, whose
  only text is Debug builds' "abort() has been called" dialog. On Windows the exception's text reaches
  crashbot through the Wheaty report's ``Uncaught C++ exception info:`` line instead.

Copies arrive damaged: a log timestamp in front, the quote glued to ``of`` (``of'boost::…> '``), ``what
():`` retyped with spaces, curly quotes. Only the first :data:`MAX_LINE` characters of a line are read, and
every pattern is anchored on literal words, so the work is linear in the input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.crash.model import ExceptionInfo

MAX_LINE = 4096
# How far below the terminate line its ``what():`` line may be (a blank line from a copy in between).
_WHAT_REACH = 3
_SHOWN = 300  # the terminate line as kept for display

_GNU = re.compile(
    r"\bterminate\s+called\s+(?:(?P<thrown>after\s+throwing\s+an\s+instance\s+of)"
    r"|(?P<none>without\s+an\s+active\s+exception)|(?P<again>recursively))",
    re.IGNORECASE,
)
_WHAT = re.compile(r"^\W{0,3}\s*what\s*\(\s*\)\s*:\s?\s?(?P<what>.*)$")
_LLVM = re.compile(
    r"(?:\blibc\+\+abi(?:\.dylib)?\s*:\s*)?\bterminating\s+(?:due\s+to|with)\s+uncaught\s+"
    r"(?:(?P<foreign>foreign\s+exception)|exception\s+of\s+type\s+(?P<rest>\S.*))",
)
_LLVM_BARE = re.compile(r"\blibc\+\+abi(?:\.dylib)?\s*:\s*terminating\s*$")
_QUOTES = "'\"`‘’“”"


class TerminateKind(StrEnum):
    """Why the runtime called terminate (the JSON and note spellings)."""

    UNCAUGHT = "uncaught exception"
    NO_EXCEPTION = "terminate without an active exception"
    RECURSIVE = "terminate called recursively"


@dataclass(frozen=True)
class Terminate:
    """One terminate message: ``thrown_type`` and ``what`` as printed (None when the runtime printed none),
    ``text`` the terminate line itself, and the half-open line range ``[start, end)`` it occupied."""

    kind: TerminateKind
    thrown_type: str | None
    what: str | None
    text: str
    start: int
    end: int

    def exception(self) -> ExceptionInfo:
        """The exception this message describes, when nothing else says how the process ended: the
        default terminate handler calls ``abort``."""
        return ExceptionInfo(
            code="SIGABRT", name=self.kind.value, thrown_type=self.thrown_type, what=self.what
        )


def find_terminate(lines: Sequence[str]) -> Terminate | None:
    """The terminate message in ``lines``: the first uncaught exception if there is one (a ``terminate
    called recursively`` after it adds nothing), else the first other terminate line; None when none."""
    first: Terminate | None = None
    for index, raw in enumerate(lines):
        if "erminat" not in raw:  # cheap: nearly every line of a log is skipped here
            continue
        found = _read(lines, index, raw[:MAX_LINE])
        if found is None:
            continue
        if found.kind is TerminateKind.UNCAUGHT:
            return found
        first = first or found
    return first


def _read(lines: Sequence[str], index: int, line: str) -> Terminate | None:
    gnu = _GNU.search(line)
    if gnu is not None:
        text = _shown(line[gnu.start() :])
        if gnu["none"]:
            return Terminate(TerminateKind.NO_EXCEPTION, None, None, text, index, index + 1)
        if gnu["again"]:
            return Terminate(TerminateKind.RECURSIVE, None, None, text, index, index + 1)
        thrown = _unquote(line[gnu.end() :])
        what, end = _what_below(lines, index)
        return Terminate(TerminateKind.UNCAUGHT, thrown, what, text, index, end)
    llvm = _LLVM.search(line)
    if llvm is not None:
        text = _shown(line[llvm.start() :])
        if llvm["foreign"]:
            return Terminate(TerminateKind.UNCAUGHT, None, None, text, index, index + 1)
        thrown, _, what = llvm["rest"].partition(": ")
        return Terminate(
            TerminateKind.UNCAUGHT, thrown.strip() or None, what.strip() or None, text, index, index + 1
        )
    if _LLVM_BARE.search(line):
        return Terminate(TerminateKind.NO_EXCEPTION, None, None, _shown(line.strip()), index, index + 1)
    return None


def _what_below(lines: Sequence[str], index: int) -> tuple[str | None, int]:
    """libstdc++'s ``  what():  message`` line under the terminate line, and the index after it."""
    for k in range(index + 1, min(len(lines), index + 1 + _WHAT_REACH)):
        line = lines[k][:MAX_LINE]
        if "what" not in line:
            if line.strip():
                break  # something else follows: no what() (``throw "text"``, a non-std exception)
            continue
        match = _WHAT.match(line)
        if match is None:
            break
        return match["what"].strip() or None, k + 1
    return None, index + 1


def _unquote(text: str) -> str | None:
    """``'std::domain_error'`` (quotes of any kind, spaces inside them) -> ``std::domain_error``."""
    value = text.strip().strip(_QUOTES).strip()
    return value or None


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
