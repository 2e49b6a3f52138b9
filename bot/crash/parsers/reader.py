"""The two pieces every format parser is built from: a :class:`Cursor` over the report's lines and a
:class:`ReportBuilder` that collects what the parser read and assembles the frozen :class:`CrashReport`.

How a parser uses them (the shape itself is described in :mod:`bot.crash.parsers`): its ``_Reader`` holds
one ``Cursor`` (where the pass is) and one ``ReportBuilder`` (what goes on the report), walks the lines
handing each one (or each block) to the section reader its table names, and ends with
``builder.report()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from bot.crash.limits import FrameBudget
from bot.crash.model import (
    Assertion,
    Build,
    CrashReport,
    Environment,
    ExceptionInfo,
    Format,
    RelatedStack,
    Thread,
)

__all__ = ["Cursor", "ReportBuilder", "blank_from"]


def blank_from(lines: Sequence[str], start: int) -> bool:
    """Whether every line from ``start`` on is blank: the text ends inside the line before (a cut frame).

    Reads up to the first line that is not blank, without copying the rest: asked once per frame, a
    ``lines[start:]`` slice made a 200,000-frame gdb log quadratic (84 s)."""
    return not any(lines[k].strip() for k in range(start, len(lines)))


class Cursor:
    """A position in a report's lines: the one way a parser walks its text.

    ``index`` is the next line to read. Section readers advance it as they consume lines (a multi-line
    block, a frame wrapped over several lines) and the pass goes on from wherever they left it. A hot loop
    may copy ``index`` into a local and store it back when it returns (the Wheaty stack reader does).
    """

    __slots__ = ("index", "lines")

    def __init__(self, lines: Sequence[str], index: int = 0) -> None:
        self.lines = lines
        self.index = index

    @property
    def done(self) -> bool:
        """Whether every line has been read."""
        return self.index >= len(self.lines)

    def peek(self) -> str:
        """The next line, not consumed (the caller checks :attr:`done` first)."""
        return self.lines[self.index]

    def __iter__(self) -> Iterator[str]:
        """The remaining lines, each consumed as it is yielded (a reader may advance further itself)."""
        lines = self.lines
        while self.index < len(lines):
            line = lines[self.index]
            self.index += 1
            yield line


@dataclass
class ReportBuilder:
    """What one parse has put on the report so far (mutable: one per parse); :meth:`report` freezes it.

    Parsers fill the fields as they read and decide where the budget's note goes among their own notes
    (:meth:`note_budget`): the order of notes is part of what a report says.
    """

    format: Format
    threads: list[Thread] = field(default_factory=list)
    exception: ExceptionInfo | None = None
    assertion: Assertion | None = None
    build: Build = field(default_factory=Build)
    environment: Environment = field(default_factory=Environment)
    crashing_thread: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    budget: FrameBudget = field(default_factory=FrameBudget)
    related: list[RelatedStack] = field(default_factory=list)  # a sanitizer's free/allocation stacks

    def note(self, text: str) -> None:
        self.notes.append(text)

    def note_budget(self) -> None:
        """Add the frame budget's note (frames dropped past the limits), if it has one."""
        text = self.budget.note()
        if text:
            self.notes.append(text)

    def report(self) -> CrashReport:
        return CrashReport(
            format=self.format,
            threads=tuple(self.threads),
            exception=self.exception,
            assertion=self.assertion,
            build=self.build,
            environment=self.environment,
            crashing_thread=self.crashing_thread,
            extra=self.extra,
            notes=tuple(self.notes),
            related=tuple(self.related),
        )
