"""Crash -> GitHub issue (title, body, labels, "seen again" comments) and issue body -> signed payload.

Pure: text in, text out. Everything taken from a crash report is untrusted: it reaches Markdown only
inside code spans or fenced blocks (fences longer than any backtick run in the text), or escaped, with
``@``/``#`` broken by a zero-width space so report text can never mention a user or cross-reference an
issue, and with ``<!--``/``-->`` broken so it can never forge crashbot's own HTML comments.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot import markdown as md
from bot.crash.model import Crash, Format, Frame, RelatedStack, Thread
from bot.crash.resolved import DUMP_MODULES_KEY, SYMBOLS_NOTE_KEY
from bot.errors import TrustError
from bot.payload import (
    PAYLOAD_MAX_B64_CHARS,
    PAYLOAD_VERSION,
    Occurrences,
    Payload,
    iso_utc,
    parse_iso_utc,
    scrub,
    seal,
    unseal,
)
from bot.vocabulary import (
    CRASH_LABEL,
    HMAC,
    PAYLOAD,
    SEEN_AGAIN,
    LabelSpec,
    label_spec,
    realm_label,
    sig_label,
)

__all__ = [
    "MAX_BODY_CHARS",
    "Occurrences",
    "Payload",
    "labels_for",
    "labels_specs_for",
    "payload_block",
    "read_payload",
    "render_body",
    "render_seen_again",
    "render_title",
    "should_comment",
]

MAX_BODY_CHARS = 65_536  # GitHub's documented issue/comment body limit (platform facts §4.1)
MAX_TITLE_CHARS = 256
DEFAULT_SERVER_URL = "https://github.com"

_PAYLOAD_LINE_RE = PAYLOAD.pattern(r"v(\d+) (\S+)")
_HMAC_LINE_RE = HMAC.pattern(r"(\S+)")
_ANY_PAYLOAD_RE = PAYLOAD.loose()
_ANY_HMAC_RE = HMAC.loose()
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS_RE = re.compile(r"\s+")
_REVISION_RE = re.compile(r"[0-9a-fA-F]{7,40}")
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SOURCE_ROOT_RE = re.compile(r"(?:^|/)((?:src|modules|dep)/.+)$", re.IGNORECASE)
_IDENTIFIER_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{2,40}")

# Windows exception codes and POSIX signals -> (canonical name for titles, kind label).
_KNOWN_CODES: dict[str, tuple[str, str]] = {
    "C0000005": ("EXCEPTION_ACCESS_VIOLATION", "crash:access-violation"),
    "C0000006": ("EXCEPTION_IN_PAGE_ERROR", "crash:access-violation"),
    "C00000FD": ("EXCEPTION_STACK_OVERFLOW", "crash:stack-overflow"),
    "C0000420": ("ASSERTION_FAILURE", "crash:assert"),
    "E06D7363": ("C++ exception", "crash:cxx-exception"),
    "80000003": ("BREAKPOINT", "crash:breakpoint"),
    "C0000409": ("STACK_BUFFER_OVERRUN", "crash:abort"),
    "40000015": ("FATAL_APP_EXIT", "crash:abort"),
    "C0000374": ("HEAP_CORRUPTION", "crash:heap-corruption"),
    "C0000094": ("INT_DIVIDE_BY_ZERO", "crash:divide-by-zero"),
    "C000008E": ("FLT_DIVIDE_BY_ZERO", "crash:divide-by-zero"),
    "C000001D": ("ILLEGAL_INSTRUCTION", "crash:illegal-instruction"),
    "C0000096": ("PRIV_INSTRUCTION", "crash:illegal-instruction"),
    "C0000017": ("NO_MEMORY", "crash:out-of-memory"),
    "SIGSEGV": ("SIGSEGV", "crash:access-violation"),
    "SIGBUS": ("SIGBUS", "crash:access-violation"),
    "SIGABRT": ("SIGABRT", "crash:abort"),
    "SIGFPE": ("SIGFPE", "crash:divide-by-zero"),
    "SIGILL": ("SIGILL", "crash:illegal-instruction"),
    "SIGTRAP": ("SIGTRAP", "crash:breakpoint"),
}


# ---------------------------------------------------------------------------------------------------
# escaping


def _clean(text: str) -> str:
    """Storable, control-free text that can never open or close an HTML comment."""
    return md.defuse_comments(_CONTROL_RE.sub("", scrub(text).replace("\r\n", "\n").replace("\t", "    ")))


def _one_line(text: str) -> str:
    return _WS_RE.sub(" ", _clean(text)).strip()


def _clip(text: str, cap: int | None, cut: list[bool] | None = None) -> str:
    if cap is None or len(text) <= cap:
        return text
    if cut is not None:
        cut.append(True)
    return text[: max(cap - 1, 0)] + "…"


def _text(text: str, cap: int | None = None, cut: list[bool] | None = None) -> str:
    """Untrusted text as escaped inline Markdown (safe inside a table cell)."""
    return md.escaped(_clip(_one_line(text), cap, cut))


def _code(text: str, cap: int | None = None, cut: list[bool] | None = None, *, table: bool = True) -> str:
    """Untrusted text as one inline code span (by default for a table cell)."""
    return md.inline_code(_clip(_one_line(text), cap, cut), table=table)


def _block(text: str, cap: int | None = None, cut: list[bool] | None = None) -> str:
    """Untrusted text as a fenced code block no line of it can close."""
    return md.fenced(_clip(_clean(text), cap, cut))


# ---------------------------------------------------------------------------------------------------
# title and labels


def _kind(crash: Crash) -> tuple[str, str]:
    """(title text, kind label) for the crash's exception/assertion."""
    report = crash.report
    # An ASSERT is the cause even when the report names the fault it raised to stop (AC's write to
    # address 0 -> SIGSEGV, TC's C0000420).
    if report.assertion is not None:
        return "ASSERTION_FAILURE", "crash:assert"
    exc = report.exception
    if exc is None:
        return "crash", "crash:unknown"
    if report.format is Format.SANITIZER:
        return exc.code.strip() or "sanitizer", "crash:sanitizer"  # the error kind: heap-use-after-free
    if exc.thrown_type or report.format is Format.UNCAUGHT:
        # an uncaught C++ exception (libstdc++/libc++ terminate message): its type is the crash's kind
        thrown = " ".join((exc.thrown_type or "C++ exception").split())
        return _clip(thrown, 80), "crash:cxx-exception"
    code = exc.code.strip().upper()
    if code.startswith("0X"):
        code = code[2:]
    known = _KNOWN_CODES.get(code)
    if known:
        return known
    label = "crash:signal" if code.startswith("SIG") else "crash:exception"
    name = (exc.name or "").strip()
    return (name if _IDENTIFIER_NAME_RE.fullmatch(name) else exc.code.strip() or "crash"), label


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _location(crash: Crash) -> str:
    top = crash.top_frame
    if top is not None and top.function:
        return top.function
    if top is not None and top.file:
        return f"{_basename(top.file)}:{top.line}" if top.line is not None else _basename(top.file)
    assertion = crash.report.assertion
    if assertion is not None and assertion.file:
        where = _basename(assertion.file)
        return f"{where}:{assertion.line}" if assertion.line is not None else where
    for frame in crash.frames:
        if frame.module and frame.offset:
            return f"{frame.module}+{frame.offset}"
    exc = crash.report.exception
    if exc is not None and exc.what and exc.what.strip():
        return _clip(" ".join(exc.what.split()), 80)  # an uncaught exception's message: all it says
    return "unknown location"


def render_title(crash: Crash) -> str:
    """``crash: <where> (<what>)``: one line, at most 256 characters, no Markdown, mentions or references."""
    what = _title_safe(_kind(crash)[0])
    where = _title_safe(_location(crash))
    room = MAX_TITLE_CHARS - len(f"crash:  ({what})")
    if room < 16:
        what = _clip(what, 40)
        room = MAX_TITLE_CHARS - len(f"crash:  ({what})")
    return f"crash: {_clip(where, room)} ({what})"


def _title_safe(text: str) -> str:
    return md.defuse(_one_line(text).replace("`", "'"))


def labels_for(crash: Crash, *, realm: str | None) -> tuple[str, ...]:
    """``crash``, ``sig:<id>``, a kind label and (when given) ``realm:<name>``; each ≤ 50 characters."""
    labels = [CRASH_LABEL, sig_label(crash.signature.id), _kind(crash)[1]]
    # the id it had before symbolication: a report of the same crash that stays unresolved finds this issue
    labels.extend(sig_label(a) for a in crash.signature.aliases[:2])
    realm_name = realm_label(realm) if realm else None
    if realm_name:
        labels.append(realm_name)
    return tuple(labels)


# ---------------------------------------------------------------------------------------------------
# body


@dataclass(frozen=True)
class _Limits:
    """One step of the truncation ladder: None means "no limit"."""

    other_threads: int | None
    other_frames: int | None
    skipped: bool  # list non-meaningful frames (faint) rather than counting them
    text_cap: int | None  # assertion condition/message
    frames: int | None  # crashing-thread rows
    field_cap: int  # any single value in a table cell


_RELATED_FRAMES = 30
_MAX_REPORT_NOTES = 8  # frames shown per related stack (a sanitizer prints a few dozen at most)

# Least useful first: other threads, then skipped frames, then long messages, then the stack itself.
_LADDER: tuple[_Limits, ...] = (
    _Limits(None, None, True, None, None, 2000),
    _Limits(50, 30, True, None, None, 2000),
    _Limits(20, 10, True, None, None, 1000),
    _Limits(0, 0, True, None, None, 1000),
    _Limits(0, 0, False, None, None, 1000),
    _Limits(0, 0, False, 4000, None, 500),
    _Limits(0, 0, False, 2000, 200, 300),
    _Limits(0, 0, False, 1000, 50, 200),
    _Limits(0, 0, False, 300, 10, 100),
)


def _repo_path(path: str) -> str | None:
    """A report's (absolute, other-machine) source path as a repository path, from src/, modules/ or
    dep/ onward; None when the path has none of them."""
    match = _SOURCE_ROOT_RE.search(path.replace("\\", "/"))
    if match is None:
        return None
    return match.group(1)


def _source_url(
    file: str | None, line: int | None, revision: str | None, repo: str | None, server_url: str
) -> str | None:
    if (
        not (file and revision and repo)
        or not _REVISION_RE.fullmatch(revision)
        or not _REPO_RE.fullmatch(repo)
    ):
        return None
    path = _repo_path(file)
    if path is None or ".." in path.split("/"):
        return None
    url = f"{server_url.rstrip('/')}/{repo}/blob/{revision.lower()}/{urllib.parse.quote(path)}"
    return f"{url}#L{line}" if line is not None and line > 0 else url


SPARK_DAYS = 30  # the Occurrences row's trend: one block per day, ending on the last day seen


def _occurrences_cell(occ: Occurrences) -> str:
    """The count, and (with a history) a per-day sparkline of the last :data:`SPARK_DAYS` days."""
    if not occ.days:
        return str(occ.count)
    end = date.fromisoformat(occ.days[-1][0])
    start = end - timedelta(days=SPARK_DAYS - 1)
    spark = md.sparkline(occ.daily(end, SPARK_DAYS))
    return f"{occ.count} `{spark}` ({start.isoformat()} … {end.isoformat()}, UTC)"


def _frame_name(frame: Frame) -> str:
    if frame.function:
        return frame.function
    if frame.module and frame.offset:
        return f"{frame.module}+{frame.offset}"
    return frame.module or frame.address or "??"


def _where(file: str | None, line: int | None) -> str:
    """``path:line`` for display: the repository-relative path when the report's path maps to one."""
    if not file:
        return ""
    shown = _repo_path(file) or file
    return f"{shown}:{line}" if line is not None else shown


class HostSection(enum.Enum):
    """The body's sections only the game host's report can fill (the payload does not carry them): a body
    rendered again from its payload alone (the runner's symbolication, the uploader counting on an issue
    it found through an alias) takes them over from the body it replaces. Each value is the section's
    first line as :class:`_Renderer` writes it."""

    REPORT_NOTES = "> [!NOTE]\n> What could not be read:"
    ENVIRONMENT = "### Environment\n"
    MODULES = "<details>\n<summary>Modules ("
    OTHER_THREADS = "<details>\n<summary>Other threads ("


_CARRIED_MAX_CHARS = 30_000  # a section longer than any the renderer writes was not written by it
_SHORTENED_NOTE = "\n\n> [!NOTE]\n> Shortened to fit"


def host_sections(body: str) -> dict[HostSection, str]:
    """The :class:`HostSection` parts of an issue body crashbot rendered, to carry into a new rendering.

    The renderer writes them in a fixed order, the last three at the end of the human part, each starting
    a paragraph; a section that holds a payload or HMAC marker or half a folded block (an edited body), or
    is longer than any the renderer writes, is left behind rather than copied.
    """
    markers = list(_ANY_PAYLOAD_RE.finditer(body))  # ours is the last: the renderer writes it at the end
    human = body[: markers[-1].start()] if markers else body
    human = "\n\n" + human.rsplit(_SHORTENED_NOTE, 1)[0].rstrip()
    starts = {k: human.find("\n\n" + k.value) for k in HostSection}
    found: dict[HostSection, str] = {}
    for kind, start in starts.items():
        if start < 0:
            continue
        if kind is HostSection.REPORT_NOTES:  # one blockquote: it ends at the first blank line
            end = human.find("\n\n", start + 2)
        else:
            end = min([s for s in starts.values() if s > start], default=len(human))
        text = human[start + 2 : end if end >= 0 else len(human)].strip()
        marked = _ANY_PAYLOAD_RE.search(text) or _ANY_HMAC_RE.search(text)
        whole = text.count("<details>") == text.count("</details>")  # never half a folded block
        if len(text) <= _CARRIED_MAX_CHARS and whole and not marked:
            found[kind] = text
    return found


class _Renderer:
    """Renders the human part of one body under one set of limits, noting what it had to cut."""

    def __init__(
        self,
        crash: Crash,
        occ: Occurrences,
        repo: str | None,
        server_url: str,
        lim: _Limits,
        *,
        carried: Mapping[HostSection, str],
    ) -> None:
        self.crash = crash
        self.carried = carried
        self.occ = occ
        self.repo = repo
        self.server_url = server_url
        self.lim = lim
        self.cut_fields: list[bool] = []
        self.cut_text: list[bool] = []
        self.notes: list[str] = []
        self.revision = crash.report.build.revision

    def code(self, text: str) -> str:
        return _code(text, self.lim.field_cap, self.cut_fields)

    def text(self, text: str) -> str:
        return _text(text, self.lim.field_cap, self.cut_fields)

    def linked(self, label: str, file: str | None, line: int | None) -> str:
        url = _source_url(file, line, self.revision, self.repo, self.server_url)
        shown = self.code(label)
        return f"[{shown}]({url})" if url else shown

    def render(self) -> str:
        parts = [
            self.summary(),
            self.report_notes(),
            self.assertion(),
            self.stack(),
            self.related(),
            self.symbols(),
            self.environment(),
            self.modules(),
            self.other_threads(),
        ]
        if any(self.cut_fields):
            self.notes.append(f"table values longer than {self.lim.field_cap} characters shortened")
        if any(self.cut_text):
            self.notes.append(f"assertion text cut to {self.lim.text_cap} characters")
        return "\n\n".join(p for p in parts if p)

    def summary(self) -> str:
        crash, occ, report = self.crash, self.occ, self.crash.report
        rows: list[tuple[str, str]] = []
        exc = report.exception
        if exc is not None:
            value = self.code(exc.code)
            if exc.name:
                value += " " + self.text(exc.name)
            if exc.address:
                value += " at " + self.code(exc.address)
            if exc.module:
                mod = exc.module + (f"+{exc.module_offset}" if exc.module_offset else "")
                value += " in " + self.code(mod)
            rows.append(("Exception", value))
            if exc.thrown_type or exc.what:
                thrown = self.code(exc.thrown_type) if exc.thrown_type else "?"
                rows.append(("Thrown", thrown + (": " + self.text(exc.what) if exc.what else "")))
        top = crash.top_frame
        if top is not None:
            label = top.function or _where(top.file, top.line) or "?"
            value = self.linked(label, top.file, top.line)
            if top.function and top.file:
                value += " at " + self.code(_where(top.file, top.line))
            rows.append(("Top frame", value))
        sig = crash.signature
        rows.append(("Signature", self.code(sig.text)))
        rows.append(("Signature id", f"{self.code(sig.id)} (full {self.code(sig.full_id)}, v{sig.version})"))
        rows.append(("Occurrences", _occurrences_cell(occ)))
        if occ.first_seen:
            rows.append(("First seen", self.text(occ.first_seen)))
        if occ.last_seen:
            rows.append(("Last seen", self.text(occ.last_seen)))
        for title, values in (("Hosts", occ.hosts), ("Realms", occ.realms), ("Builds", occ.builds)):
            if values:
                rows.append((title, ", ".join(self.code(v) for v in values)))
        build = report.build
        if build.revision or build.branch or build.product:
            bits = [self.code(build.revision)] if build.revision else []
            bits += [
                self.text(v) for v in (build.product, build.branch, build.platform, build.configuration) if v
            ]
            if build.date:
                bits.append(self.text(build.date))
            if build.dirty:
                bits.append("(dirty tree)")
            rows.append(("Build", " ".join(bits)))
        rows.append(("Report format", self.code(report.format.value)))
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        return f"### Summary\n\n| | |\n|---|---|\n{table}"

    def assertion(self) -> str:
        a = self.crash.report.assertion
        if a is None:
            return ""
        out = ["### Assertion"]
        if a.condition:
            out.append(_block(a.condition, self.lim.text_cap, self.cut_text))
        where = _where(a.file, a.line)
        if where or a.function:
            line = "at " + self.linked(where, a.file, a.line) if where else ""
            if a.function:
                line += (" in " if line else "in ") + self.code(a.function)
            out.append(line)
        if a.message:
            out.append("Message:")
            out.append(_block(a.message, self.lim.text_cap, self.cut_text))
        return "\n\n".join(out)

    def stack(self) -> str:
        crash = self.crash
        frames = crash.frames
        if not frames:
            return "### Crashing thread\n\nThe report has no frames for the crashing thread."
        meaningful = set(crash.meaningful)
        thread = crash.thread
        head = f"### Crashing thread\n\n{len(frames)} frames, {len(meaningful)} meaningful"
        if thread is not None and (thread.id or thread.name):
            head += " (thread " + " ".join(self.code(v) for v in (thread.id, thread.name) if v) + ")"
        rows: list[str] = []
        shown = 0
        skipped_run = 0
        collapsed = 0
        hidden = 0
        for i, frame in enumerate(frames):
            if self.lim.frames is not None and shown >= self.lim.frames:
                hidden = len(frames) - i
                break
            if i not in meaningful and not self.lim.skipped:
                skipped_run += 1
                collapsed += 1
                continue
            if skipped_run:
                rows.append(f"| | *{skipped_run} skipped* | | |")
                skipped_run = 0
            rows.append(self.frame_row(i, frame, faint=i not in meaningful))
            shown += 1
        if skipped_run:
            rows.append(f"| | *{skipped_run} skipped* | | |")
        if hidden:
            rows.append(f"| | *{hidden} more frames not shown* | | |")
            self.notes.append(f"crashing thread: first {self.lim.frames} of {len(frames)} frames shown")
        if collapsed:
            self.notes.append(f"{collapsed} non-meaningful frames counted instead of listed")
        table = "\n".join(rows)
        return f"{head}\n\n| # | Function | Source | Module |\n|--:|---|---|---|\n{table}"

    def symbols(self) -> str:
        """Why frames are bare addresses and what the operator can do about it (issue 12, item 7).

        Only frames whose module's debug files were not used count: a bare frame in a module that other
        frames show with a source file (debug files found and read) is code those files do not describe,
        such as MinGW's C runtime startup in an image whose PDB covers the server's own code, and no
        debug file the operator ships would name it."""
        frames = self.crash.frames
        described = {f.module.lower() for f in frames if f.file and f.module}
        meaningful = [frames[i] for i in self.crash.meaningful if i < len(frames)]
        bare = [f for f in meaningful if not f.symbolised and (f.module or "").lower() not in described]
        if not bare:
            return ""
        example = self.code(_frame_name(bare[0]))
        module = bare[0].module or "the server executable"
        notes = self.crash.report.extra.get(SYMBOLS_NOTE_KEY, "")
        why = "".join(f"\n- {self.text(n)}" for n in notes.splitlines()[:8] if n.strip())
        # Windows' own fault record: no crash handler ran, so a .pdb beside the exe would not name anything
        handler = self.crash.report.format not in (Format.WINDOWS_EVENT, Format.WER)
        ship = (
            f"- ship the `.pdb` next to {self.code(module)} on the game host (the crash handler then names "
            "the functions itself), or\n"
            if handler
            else ""
        )
        return (
            f"### Symbols missing\n\n{len(bare)} meaningful frame(s) are bare addresses (such as {example}): "
            f"this report came from a build whose debug files crashbot could not use."
            + (f"\n\nWhat crashbot tried:{why}" if why else "")
            + "\n\nTo get function, file and line for crashes like this one, either\n"
            + ship
            + "- add the build's debug files to the symbol store on the runner: "
            "`crashbot symbols add <build folder> --revision <hash>`, or\n"
            '- turn the store on (`[symbols] store = "..."` in `crashbot.toml`): `crashbot deploy` '
            "then keeps every release's debug files, and later crashes of that build are symbolicated "
            "before they are signed. The unresolved signature stays an alias, so they land on this issue."
        )

    def frame_row(self, i: int, frame: Frame, *, faint: bool) -> str:
        name = self.code(_frame_name(frame))
        where = _where(frame.file, frame.line)
        source = self.linked(where, frame.file, frame.line) if where else ""
        module = self.code(frame.module) if frame.module else ""
        if frame.inline:
            name += " *(inlined)*"
        if faint:
            name = f"<sub>{name}</sub>"
            source = f"<sub>{source}</sub>" if source else ""
            module = f"<sub>{module}</sub>" if module else ""
        return f"| {i} | {name} | {source} | {module} |"

    def report_notes(self) -> str:
        """What the parser (or crashbot reading a core) says it could not do: a core of another build, a
        truncated report, gdb stopped at its time limit. Each is a line the operator can act on."""
        notes = self.crash.report.notes[:_MAX_REPORT_NOTES]
        if not notes:
            return self.carried.get(HostSection.REPORT_NOTES, "")
        cap = min(self.lim.field_cap, 600)
        lines = "\n".join(f"> - {self.text(_clip(_one_line(n), cap))}" for n in notes)
        return f"> [!NOTE]\n> What could not be read:\n>\n{lines}"

    def related(self) -> str:
        """The stacks printed beside the crashing one (a sanitizer's free and allocation stacks), folded:
        they are usually where the bug is, so they outlast the other threads on the truncation ladder."""
        stacks = self.crash.report.related
        if not stacks:
            return ""
        limit = self.lim.frames if self.lim.frames is not None else _RELATED_FRAMES
        if limit <= 10:
            self.notes.append(f"{len(stacks)} related stack(s) omitted")
            return ""
        return "\n\n".join(self.related_block(s, min(limit, _RELATED_FRAMES)) for s in stacks)

    def related_block(self, stack: RelatedStack, limit: int) -> str:
        lines = []
        for i, frame in enumerate(stack.frames[:limit]):
            text = f"#{i} {_frame_name(frame)}"
            where = _where(frame.file, frame.line)
            if where:
                text += f"  {where}" + (f":{frame.column}" if frame.column is not None else "")
            if frame.module and not where:
                text += f"  [{frame.module}]"
            lines.append(_clip(text, self.lim.field_cap))
        if len(stack.frames) > limit:
            lines.append(f"... {len(stack.frames) - limit} more frames")
        body = _block("\n".join(_one_line(x) for x in lines)) if lines else "*no frames*"
        title = _text(stack.title, 200)
        return f"<details>\n<summary>{title} ({len(stack.frames)} frames)</summary>\n\n{body}\n\n</details>"

    def environment(self) -> str:
        env = self.crash.report.environment
        rows: list[tuple[str, str]] = []
        if env.os:
            rows.append(("OS", self.text(env.os)))
        if env.cpu:
            cpu = self.text(env.cpu) + (f" ×{env.cpu_count}" if env.cpu_count else "")
            rows.append(("CPU", cpu))
        elif env.cpu_count:
            rows.append(("CPUs", str(env.cpu_count)))
        if env.memory_kb:
            rows.append(("Memory", f"{env.memory_kb / (1024 * 1024):.1f} GiB"))
        if env.host:
            rows.append(("Host", self.code(env.host)))
        if env.crashed_at:
            rows.append(("Crashed at (report's clock)", self.text(env.crashed_at)))
        if not rows:
            return self.carried.get(HostSection.ENVIRONMENT, "")
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        return f"### Environment\n\n| | |\n|---|---|\n{table}"

    def modules(self) -> str:
        """The minidump's modules that matter, folded: which build and PDB a maintainer needs."""
        lines = [line.split("\t") for line in self.crash.report.extra.get(DUMP_MODULES_KEY, "").splitlines()]
        rows = [
            "| " + " | ".join(self.code(v) if v else "" for v in (cells + [""] * 5)[:5]) + " |"
            for cells in lines
            if cells and cells[0]
        ]
        if not rows:
            return self.carried.get(HostSection.MODULES, "")
        table = "\n".join(rows)
        return (
            f"<details>\n<summary>Modules ({len(rows)}, from the minidump)</summary>\n\n"
            "| Module | Version | Timestamp | PDB | PDB GUID+age |\n|---|---|---|---|---|\n"
            f"{table}\n\n</details>"
        )

    def other_threads(self) -> str:
        crash = self.crash
        others = [t for i, t in enumerate(crash.report.threads) if i != crash.thread_index]
        if not others:
            return self.carried_threads()
        limit = self.lim.other_threads
        if limit == 0:
            self.notes.append(f"{len(others)} other threads omitted")
            return ""
        shown = others if limit is None else others[:limit]
        blocks = [self.thread_block(t) for t in shown]
        if len(shown) < len(others):
            blocks.append(f"*{len(others) - len(shown)} more threads not shown*")
            self.notes.append(f"other threads: {len(shown)} of {len(others)} shown")
        if self.lim.other_frames is not None:
            self.notes.append(f"other threads: at most {self.lim.other_frames} frames each")
        inner = "\n\n".join(blocks)
        return f"<details>\n<summary>Other threads ({len(others)})</summary>\n\n{inner}\n\n</details>"

    def carried_threads(self) -> str:
        """The other threads of the body this one replaces, whole or (on a shortened step) not at all."""
        text = self.carried.get(HostSection.OTHER_THREADS, "")
        if text and self.lim.other_threads is not None:
            self.notes.append("other threads omitted")
            return ""
        return text

    def thread_block(self, thread: Thread) -> str:
        label = " ".join(self.code(v) for v in (thread.id, thread.name) if v) or "(unnamed)"
        frames = thread.frames
        limit = self.lim.other_frames
        lines = []
        for i, frame in enumerate(frames if limit is None else frames[:limit]):
            text = f"#{i} {_frame_name(frame)}"
            where = _where(frame.file, frame.line)
            if where:
                text += f"  {where}"
            if frame.module:
                text += f"  [{frame.module}]"
            lines.append(_clip(text, self.lim.field_cap))
        if limit is not None and len(frames) > limit:
            lines.append(f"... {len(frames) - limit} more frames")
        body = _block("\n".join(_one_line(x) for x in lines)) if lines else "*no frames*"
        return f"**Thread** {label}\n\n{body}"


def payload_block(payload: Payload, key: bytes) -> str:
    """The two HTML comment lines carrying ``payload`` and its HMAC (see :mod:`bot.payload`)."""
    b64, mac = seal(payload, key)
    return f"{PAYLOAD.render(f'v{payload.version} {b64}')}\n{HMAC.render(mac)}"


def render_body(
    crash: Crash,
    occurrences: Occurrences,
    *,
    repo: str | None,
    server_url: str = DEFAULT_SERVER_URL,
    payload_key: bytes,
    replacing: str = "",
) -> str:
    """The issue body: a summary a maintainer can act on, then the signed payload; ≤ 65,536 characters.

    ``replacing`` is the body this one replaces, when ``crash`` is only what its payload carries
    (:meth:`Payload.to_crash`): the sections only the host's report can fill (:class:`HostSection`) are
    taken over from it, so a re-rendered issue keeps its environment, modules and other threads.

    Source links point at ``server_url/repo/blob/<revision>/<path>#L<line>`` when the build revision is a
    hash and the frame's path contains ``src/``, ``modules/`` or ``dep/``. When the body would be too long,
    the least useful parts go first (see ``_LADDER``) and a closing note says what was cut.
    """
    payload = Payload.from_crash(crash, occurrences).fit(PAYLOAD_MAX_B64_CHARS)
    block = payload_block(payload, payload_key)
    budget = MAX_BODY_CHARS - len(block) - 2
    carried = host_sections(replacing) if replacing else {}
    for limits in _LADDER:
        renderer = _Renderer(crash, occurrences, repo, server_url, limits, carried=carried)
        human = renderer.render()
        notes = list(renderer.notes)
        if payload.trimmed:
            notes.append("embedded payload trimmed (" + ", ".join(payload.trimmed) + ")")
        if notes:
            human += (
                "\n\n> [!NOTE]\n> Shortened to fit GitHub's 65,536-character body limit: "
                + "; ".join(notes)
                + "."
            )
        if len(human) <= budget:
            return f"{human}\n\n{block}"
    # The last ladder step caps every value, so reaching here means a bug in the ladder, not bad input.
    raise AssertionError(f"issue body for {crash.signature.id} does not fit in {MAX_BODY_CHARS} characters")


def read_payload(body: str, key: bytes) -> Payload:
    """The verified payload of an issue body; TrustError when it is missing, duplicated or tampered with."""
    payloads = _PAYLOAD_LINE_RE.findall(body)
    macs = _HMAC_LINE_RE.findall(body)
    if not payloads or not macs:
        raise TrustError(
            "the issue body carries no crashbot payload (not filed by crashbot, or the body was edited)"
        )
    if len(_ANY_PAYLOAD_RE.findall(body)) != 1 or len(_ANY_HMAC_RE.findall(body)) != 1:
        raise TrustError("the issue body carries more than one crashbot payload; refusing to guess")
    version, b64 = payloads[0]
    if int(version) != PAYLOAD_VERSION:
        raise TrustError(f"crash payload version {version} is not understood (this crashbot reads v1)")
    return unseal(b64, macs[0], key)


# ---------------------------------------------------------------------------------------------------
# "seen again" comments


def should_comment(occurrences: Occurrences, now: datetime, interval_s: float) -> bool:
    """True when there are unreported occurrences and no comment was made within ``interval_s``."""
    if occurrences.since_comment <= 0:
        return False
    if not occurrences.last_comment_at:
        return True
    try:
        last = parse_iso_utc(occurrences.last_comment_at)
    except ValueError:
        return True
    moment = parse_iso_utc(iso_utc(now))
    return (moment - last).total_seconds() >= interval_s


def render_seen_again(occurrences: Occurrences) -> str:
    """A short comment: how often since the last comment, the total, where and on which builds."""
    occ = occurrences
    since = occ.last_comment_at or occ.first_seen
    times = "time" if occ.since_comment == 1 else "times"
    lines = [
        SEEN_AGAIN.tag,
        f"Seen again **{occ.since_comment}** {times}"
        + (f" since {_text(since)}" if since else "")
        + f" (**{occ.count}** in total; last at {_text(occ.last_seen or '?')}).",
    ]
    for title, values in (("Hosts", occ.hosts), ("Realms", occ.realms), ("Builds", occ.builds)):
        if values:
            lines.append(f"{title}: " + ", ".join(_code(v, 200, table=False) for v in values))
    return "\n\n".join(lines)


def labels_specs_for(labels: Sequence[str]) -> tuple[LabelSpec, ...]:
    """Specs for ``labels`` (as :func:`labels_for` returns them), ready for ``ensure_labels``."""
    return tuple(label_spec(name) for name in labels)
