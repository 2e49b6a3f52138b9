"""The message leads to the code: a report's text (an uncaught exception's ``what()``, an assertion's
message or expression, the server's last console line) is searched for in the checkout's C/C++ string
literals and ASSERT lines, and each place that raises it is shown with its enclosing function.

This is what a person does with a crash that names no frame, or a wrong one: grep for the message. The
search is a fixed-string ``git grep`` of the message's longest fixed fragment through :class:`Locator`
(bounded), then each hit is confirmed on the file's literals (:mod:`bot.fix.literal`): a message made from
``"Unknown spell %u"`` matches ``Unknown spell 12345``, a message in a comment matches nothing. Throw,
assert and abort sites are shown before log calls; a message too short, found nowhere or in too many files
leads nowhere, and a note says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import PurePosixPath

from bot.crash.model import Crash
from bot.fix.context import CodeContext, FunctionIndex, code_view, extract
from bot.fix.literal import Fit, Literal, fit, literals, template
from bot.fix.locate import Locator, name_matches
from bot.markdown import one_line

# Shortest fixed fragment worth a search. Measured on mangos-wotlk's 1,001 sources (150 literal texts of
# 24+ characters, their first n characters searched for): n=6 is in a median of 34 files (68 of 150 in
# more than 40), n=8 in 7, n=10 in 3, n=12 in 2 (2 of 150 in more than 40), n=16 in 1.
MIN_FRAGMENT = 12
MAX_SITES = 3  # places shown per message
TOO_COMMON = 40  # a fragment in more files than this leads nowhere
MAX_MESSAGES = 4
MAX_GREPS = 3  # per message: its longest fragment, then that fragment's two halves
MAX_MESSAGE = 500  # characters of a message looked at
_SHOWN = 80  # characters of a message quoted in a note
_CONTEXT_LINES = 25

# Where a message's variable parts are: numbers, addresses, quoted names, and characters a source writes
# escaped or doubled (``\"``, ``%%``, ``{{``), which a fixed-string search would not find as printed.
_VARIABLE = re.compile(
    r"""0[xX][0-9A-Fa-f]+|\d+(?:\.\d+)?|(?<!\w)'[^'\n]{0,200}'(?!\w)|"[^"\n]{0,200}"|[\\"%{}\n]"""
)
# An assertion's text is an expression (``maxDist < std::numeric_limits<float>::max()``, ``unit``) rather
# than a sentence when it has an operator, a call or a member access, or is one identifier.
_EXPRESSION = re.compile(r"[=<>!&|()\[\]]|->|::|^\s*[A-Za-z_]\w*\s*$")
# ... unless it reads as a sentence (TC's ``ERROR:`` puts its text where the condition would be).
_PROSE = re.compile(r"\b[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}\b")
_ASSERT_CALL = re.compile(r"\b(?:\w*ASSERT\w*|assert|Assert\w*|WPError|WPFatal|ABORT_MSG)\s*\(")
_SYNTHETIC = re.compile(r"^Caught signal \d+$")  # crashbot's own stand-in for a missing assertion text


class Role(IntEnum):
    """What a message is, best lead first."""

    THROWN = 0  # an uncaught exception's what()
    ASSERTED = 1  # an assertion's message, or its text where the condition would be
    EXPRESSION = 2  # an assertion's condition: the ASSERT line that holds it is looked for
    LAST_OUTPUT = 3  # the last line the server printed before it died


class Kind(IntEnum):
    """What the code at a site does with the message, in the order sites are shown."""

    THROW = 0
    ASSERT = 1
    ABORT = 2
    OTHER = 3
    LOG = 4


_KIND_PATTERNS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (Kind.THROW, re.compile(r"\bthrow\b")),
    (Kind.ASSERT, _ASSERT_CALL),
    (Kind.ABORT, re.compile(r"\b(?:abort|std::terminate|\w*FATAL\w*|\w*Fatal\w*)\s*\(")),
    (
        Kind.LOG,
        re.compile(
            r"\b(?:\w*LOG\w*|sLog\b|out(?:String|Error|Detail|Debug|Basic|Warning|Event)\w*|\w*printf|"
            r"std::cout|std::cerr|PSendSysMessage|SendSysMessage)"
        ),
    ),
)
_VERB = {
    Kind.THROW: "thrown here (throw)",
    Kind.ASSERT: "asserted here (ASSERT)",
    Kind.ABORT: "raised here (abort)",
    Kind.OTHER: "written here",
    Kind.LOG: "logged here (log call)",
}


@dataclass(frozen=True)
class Message:
    text: str
    role: Role


@dataclass(frozen=True)
class Site:
    """A place that raises a message: ``line`` of ``path``, inside ``function`` when one was found."""

    path: str
    line: int
    kind: Kind
    fit: Fit
    function: str | None


def message_contexts(
    crash: Crash, locator: Locator, *, shown: Sequence[CodeContext], notes: list[str]
) -> list[CodeContext]:
    """The code of the places that raise the report's messages, best first, after ``shown`` (the frames'
    contexts): at most :data:`MAX_SITES` per message, each with a note saying what was found."""
    out: list[CodeContext] = []
    asserted_in = crash.report.assertion.function if crash.report.assertion else None
    for message in messages_of(crash):
        sites = find_sites(message, locator, notes)
        if asserted_in and message.role in (Role.ASSERTED, Role.EXPRESSION):
            # the report names the function that asserted: the same check elsewhere did not fail
            named = [s for s in sites if name_matches(s.function, asserted_in)]
            sites = named or sites
        for site in sites[:MAX_SITES]:
            ctx = _context(site, message, locator, [*shown, *out], notes)
            if ctx is not None:
                out.append(ctx)
    return out


def messages_of(crash: Crash) -> list[Message]:
    """The texts of ``crash`` that a source file may hold, best lead first."""
    report = crash.report
    found: list[Message] = []
    exc = report.exception
    if exc is not None and exc.what:
        found.append(Message(exc.what, Role.THROWN))
    assertion = report.assertion
    if assertion is not None:
        condition = (assertion.condition or "").strip()
        if condition and _EXPRESSION.search(condition) and not _PROSE.search(condition):
            found.append(Message(condition, Role.EXPRESSION))
        elif condition:
            found.append(Message(condition, Role.ASSERTED))
        lines = [line.strip() for line in (assertion.message or "").splitlines() if line.strip()]
        found += [Message(line, Role.ASSERTED) for line in lines[:2] if not _SYNTHETIC.match(line)]
    last = report.extra.get("last_output")
    if last:
        found.append(Message(last, Role.LAST_OUTPUT))
    unique = {one_line(m.text[:MAX_MESSAGE]): m for m in reversed(found)}  # the best role of a repeated text
    return sorted(unique.values(), key=lambda m: m.role)[:MAX_MESSAGES]


def fragments(text: str) -> list[str]:
    """The fixed parts of a message, longest first: what is left between its variable parts."""
    parts = [one_line(p) for p in _VARIABLE.split(text[:MAX_MESSAGE])]
    return sorted((p for p in parts if p), key=len, reverse=True)


def find_sites(message: Message, locator: Locator, notes: list[str]) -> list[Site]:
    """The places in the checkout that raise ``message``, best first (notes say what limited it)."""
    quoted = f"the {'assertion' if message.role is Role.EXPRESSION else 'message'} {_quote(message.text)}"
    candidates = _candidates(message)
    if not candidates:
        notes.append(f"{quoted} is too short to search for (under {MIN_FRAGMENT} fixed characters)")
        return []
    common = 0  # files of the first fragment too common to read; a later, other fragment may still lead
    for fragment in candidates:
        files, search_notes = locator.files_with(fragment)
        notes.extend(search_notes)
        if len(files) > TOO_COMMON:
            common = common or len(files)
            continue
        sites = _confirmed(message, fragment, files, locator, notes) if files else []
        if sites:
            return sites
    if common:
        notes.append(f"{quoted} appears in {common} files: too common to lead anywhere")
    elif message.role is not Role.LAST_OUTPUT:
        notes.append(f"{quoted} is in none of the checkout's C/C++ string literals (a library's text?)")
    return []


def _candidates(message: Message) -> list[str]:
    """What to search for, most telling first, at most :data:`MAX_GREPS`: the longest fixed fragment,
    then its first and last halves by words (a message whose variable part is a word, a name formatted in
    with ``%s``, is found by the half that does not hold it). For an expression: itself as the
    preprocessor printed it, then its longest tokens (the source may space it otherwise)."""
    text = one_line(message.text[:MAX_MESSAGE])
    if message.role is Role.EXPRESSION:
        # ``ASSERT(m_currMap)`` is in MANGOS_ASSERT(m_currMap) too, and telling where m_currMap is not
        out = [f"ASSERT({text})" if len(text) < MIN_FRAGMENT else text]
        out += sorted(text.split(), key=len, reverse=True)[:2]
    else:
        pieces = fragments(message.text)
        longest = pieces[0] if pieces else ""
        words = longest.split()
        out = [longest]
        if len(words) >= 4:
            half = len(words) // 2
            out += [" ".join(words[: half + 1]), " ".join(words[half - 1 :])]
    return list(dict.fromkeys(f for f in out if len(f) >= MIN_FRAGMENT))[:MAX_GREPS]


def _confirmed(
    message: Message, fragment: str, files: Sequence[str], locator: Locator, notes: list[str]
) -> list[Site]:
    """The sites among ``files`` whose literal (or ASSERT line) really is the message, best first."""
    sites: list[Site] = []
    if len(files) > locator.limits.max_files:
        notes.append(
            f"the message {_quote(message.text)} is in {len(files)} files; "
            f"read the first {locator.limits.max_files}"
        )
    for path in sorted(files)[: locator.limits.max_files]:
        if locator.over_budget(notes, f"places that raise {_quote(message.text)}"):
            break
        text = locator.read(path)
        if text is None:
            continue
        if message.role is Role.EXPRESSION:
            sites += _assert_sites(path, text, message.text)
        else:
            sites += _literal_sites(path, text, message.text, fragment)
    sites.sort(key=lambda s: (s.kind, s.fit, _depth(s.path), s.path, s.line))
    if len(sites) > MAX_SITES:
        where = len({s.path for s in sites})
        notes.append(
            f"the message {_quote(message.text)} matches {len(sites)} places in {where} files; "
            f"showing the {MAX_SITES} likeliest (throw and assert sites first)"
        )
    return sites


def _literal_sites(path: str, text: str, message: str, fragment: str) -> list[Site]:
    mine = fragments(message)
    index: FunctionIndex | None = None
    out: list[Site] = []
    for lit in literals(text):
        if fragment not in one_line(lit.text):
            continue
        how = fit(message, template(lit.text), mine)
        if how is None:
            continue
        index = index or FunctionIndex(code_view(text))
        enclosing = index.enclosing(lit.line)
        out.append(Site(path, lit.line, _kind(text, lit), how, enclosing[2] if enclosing else None))
    return out


def _kind(text: str, lit: Literal) -> Kind:
    """What the statement holding the literal does: the text from the statement's start to the literal."""
    window = max(0, lit.offset - 300)
    start = max(text.rfind(c, window, lit.offset) for c in ";{}")
    head = text[max(start + 1, window) : lit.offset]
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(head):
            return kind
    return Kind.OTHER


def _assert_sites(path: str, text: str, expression: str) -> list[Site]:
    """ASSERT-like calls whose argument text, spaces aside, holds ``expression`` (the preprocessor's
    ``#cond`` squeezes spaces; the source may wrap the condition over lines)."""
    wanted = "".join(expression.split())
    lines = text.split("\n")
    code = code_view(text).split("\n")
    index: FunctionIndex | None = None
    out: list[Site] = []
    for number, line in enumerate(code, start=1):
        if not _ASSERT_CALL.search(line):
            continue
        window = "".join("".join(lines[number - 1 : number + 4]).split())
        if wanted not in window:
            continue
        index = index or FunctionIndex("\n".join(code))
        enclosing = index.enclosing(number)
        out.append(Site(path, number, Kind.ASSERT, Fit.WHOLE, enclosing[2] if enclosing else None))
    return out


def _context(
    site: Site, message: Message, locator: Locator, shown: Sequence[CodeContext], notes: list[str]
) -> CodeContext | None:
    what = "assertion" if message.role is Role.EXPRESSION else "message"
    said = f"the {what} {_quote(message.text)} is {_VERB[site.kind]}"
    if site.fit is Fit.PART:
        said += ", as part of a longer text"
    if any(c.path == site.path and c.start <= site.line <= c.end for c in shown):
        notes.append(f"{said}: {site.path}:{site.line}, in a function shown above")
        return None
    text = locator.read(site.path)
    if text is None:
        return None
    ctx = extract(text, site.line, path=site.path, context_lines=_CONTEXT_LINES)
    if ctx is None:
        return None
    lead = " (the last line the server printed)" if message.role is Role.LAST_OUTPUT else ""
    return replace(ctx, note=f"{said}{lead}; found by searching the checkout for it")


def _depth(path: str) -> int:
    return len(PurePosixPath(path).parts)


def _quote(text: str) -> str:
    one = one_line(text)
    return '"' + (one if len(one) <= _SHOWN else one[: _SHOWN - 1] + "…") + '"'
