"""One module per report format, each turning a report's lines into a :class:`~bot.crash.model.CrashReport`.

Every parser has the same shape, so a new format (a sanitizer report, DebugDiag, another fork's log) is
written by copying it. ``assertlog`` is the smallest example, ``cdb`` the one with the most sections,
``wheaty`` the one tuned for speed.

The module (``bot/crash/parsers/<format>.py``)::

    SNIFF_LINES = 400                      # how far sniff() looks

    def sniff(lines: Sequence[str]) -> int:
        \"\"\"Confidence 0..100 that ``lines`` are this format.\"\"\"   # bounded work: SNIFF_LINES,
                                                                   # lines cut before any regex

    def parse(lines: Sequence[str]) -> CrashReport:
        \"\"\"Read …; raise CrashParseError when the text holds no part of one.\"\"\"
        reader = _Reader(lines)
        reader.read()
        return reader.finish()

The reader (a class private to the module)::

    class _Reader:
        def __init__(self, lines):
            self.cursor = Cursor(lines)            # where the pass is (reader.py)
            self.out = ReportBuilder(Format.X)     # what goes on the report (reader.py)
            ...                                    # what only this format needs while reading

        def read(self) -> None:
            # The pass: each line (or block of lines) goes to the section reader that a table names,
            # keyed by the section the text is in or by what the line starts with. Section readers are
            # small methods; they fill self.out (threads, exception, assertion, build, environment,
            # extra, notes) and self's own state, and advance self.cursor past multi-line blocks.

        def finish(self) -> CrashReport:
            # What the whole text says once read (which thread the report names, the exception's
            # location, build details from several places), then ``return self.out.report()``.
            # Raise CrashParseError here (or in read) with one line saying what was expected.

    _SECTION_READERS: dict[str, Callable[[_Reader, str, str], bool]] = {"KEY": _Reader._key, ...}

The tables in the five parsers: ``cdb._SECTION_READERS`` (by the last ``KEY:`` field seen),
``wheaty._HEADER_READERS`` (by the header line's key), ``gdb._LINE_READERS`` (tried in order, each
taking its kind of line or passing it on). ``vscallstack`` and ``assertlog`` have two sections each
(preamble then rows; the assertion block then what follows it), read by two methods.

Rules every parser keeps (tests/crash/contract.py and test_properties.py check them on hostile input):

- Any input gives a report or :class:`~bot.crash.errors.CrashParseError`, never another exception, and
  costs time linear in its size: cut each line to a fixed length before a regex sees it, and write regexes
  that cannot backtrack catastrophically.
- Frames go through ``self.out.budget`` (:class:`~bot.crash.limits.FrameBudget`): ``budget.admits(n)``
  per frame, or ``budget.full(n)`` to stop reading frames at all; ``self.out.note_budget()`` puts the
  "frames dropped" note where the format wants it among its notes (their order is part of the report).
- A parser reports what the text *says* (``crashing_thread`` only when the report itself names one);
  conclusions belong to :func:`bot.crash.analyse`.
- The hot loop of a large format may copy ``self.cursor.index`` and other attributes into locals and
  store them back when it hands a line to a method (``wheaty._Reader._read_stacks``); keep such a fast
  path's output identical to the general path's, with a test that says so.

To add a format: a :class:`~bot.crash.model.Format` member, the module, its entry in
``bot.crash.sniff.PARSER_MODULES`` (tie-break order: richer formats first), real samples with their
source in the fixtures' ``SOURCES.md``, and tests under ``tests/crash/``.
"""
