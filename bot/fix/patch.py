"""A proposed fix as data: unified diff text -> frozen FilePatch/Hunk objects, and the rules it must pass."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from bot.build import fence
from bot.errors import BotError, GitError
from bot.fix import directives

if TYPE_CHECKING:
    from bot.git import Git

logger = logging.getLogger(__name__)

DEV_NULL = "/dev/null"
REGULAR_FILE_MODE = "100644"

# Files whose change runs code on the runner at build time, steers CI, or steers the bot or a coding
# agent. Matched case-insensitively (NTFS and APFS are case-insensitive: `.GitHub/` *is* `.github/`).
PROTECTED_DIRS = (".github", ".ci", ".circleci", ".gitlab", ".claude", ".codex", ".cursor", ".vscode")
PROTECTED_NAMES = (
    ".gitlab-ci.yml",
    "azure-pipelines.yml",
    "jenkinsfile",
    ".travis.yml",
    "appveyor.yml",
    "cmakelists.txt",
    "cmakepresets.json",
    "cmakeuserpresets.json",
    "makefile",
    "gnumakefile",
    "vcpkg.json",
    "conanfile.txt",
    "conanfile.py",
    "crashbot.toml",
    ".gitmodules",
    ".gitattributes",
    "claude.md",
    "agents.md",
    ".mcp.json",
)
PROTECTED_SUFFIXES = (
    ".cmake",
    ".sh",
    ".bash",
    ".ps1",
    ".psm1",
    ".bat",
    ".cmd",
    ".mk",
    ".vcxproj",
    ".props",
    ".targets",
    ".sln",
    ".yml",
    ".yaml",
)

_SHORT_NAME_RE = re.compile(r"~\d")  # 8.3 short names: GITHUB~1 aliases .github on Windows
_HUNK_HEADER_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


class Rule(StrEnum):
    """Why a patch was refused (one value per check, so callers and tests can tell them apart)."""

    PARSE = "parse"
    EMPTY = "empty"
    ABSOLUTE = "absolute-path"
    TRAVERSAL = "path-traversal"
    PATH_SYNTAX = "path-syntax"
    OUTSIDE = "outside-allowed"
    PROTECTED = "protected"
    BINARY = "binary"
    MODE = "mode"
    INCLUDE = "include-escape"
    TOO_LARGE = "too-large"
    APPLY = "apply"
    PATH_MISMATCH = "path-mismatch"
    SECRET = "secret"  # noqa: S105 (a rule's name)


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, on which path (None = the whole patch), and a sentence for humans."""

    rule: Rule
    path: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PatchParseError(BotError):
    """The text is not a unified diff crashbot can read."""


class PatchRejected(BotError):
    """A patch broke one or more rules; ``violations`` lists every one of them."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("patch rejected: " + "; ".join(str(v) for v in self.violations))


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` hunk; ``lines`` keep their one-character prefix (' ', '+', '-', '\\')."""

    source_start: int
    source_length: int
    target_start: int
    target_length: int
    section: str
    lines: tuple[str, ...]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.startswith("-"))


@dataclass(frozen=True)
class FilePatch:
    """The change to one file. ``source``/``target`` are repository paths without ``a/``/``b/``; None
    means /dev/null (file added or removed). Modes are git's octal strings when the diff states them."""

    source: str | None
    target: str | None
    hunks: tuple[Hunk, ...]
    is_binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    is_rename: bool = False
    is_copy: bool = False
    quoted: bool = False

    @property
    def path(self) -> str:
        """The path this patch leaves behind (the source for a deletion)."""
        return self.target or self.source or ""

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p in (self.source, self.target) if p))

    @property
    def is_added(self) -> bool:
        return self.source is None

    @property
    def is_removed(self) -> bool:
        return self.target is None

    @property
    def changed_lines(self) -> int:
        return sum(h.added + h.removed for h in self.hunks)

    @property
    def added_lines(self) -> tuple[str, ...]:
        return tuple(line[1:] for h in self.hunks for line in h.lines if line.startswith("+"))


@dataclass(frozen=True)
class Patch:
    """A parsed unified diff. ``text`` is the normalised diff that ``git apply`` receives."""

    files: tuple[FilePatch, ...]
    text: str

    @classmethod
    def from_text(cls, diff: str) -> Patch:
        """Parse ``diff`` (git or plain unified format); raise PatchParseError when it is not one.

        Diffs written by language models often miscount hunk lengths or drop the ``a/``/``b/`` prefixes;
        both are repaired before parsing, since ``git apply`` needs exact counts and ``-p1`` paths.
        """
        text = normalise_diff(diff)
        if not text.strip():
            raise PatchParseError("the patch is empty: expected a unified diff")
        # unidiff silently drops lines past a miscounted hunk, so counts are always rebuilt from bodies
        text = recount_hunks(text)
        for number, line in enumerate(text.split("\n"), 1):
            if line.startswith("@@") and not _HUNK_HEADER_RE.match(line):
                raise PatchParseError(f"line {number} is a malformed hunk header: {line[:80]!r}")
        try:
            patch_set = PatchSet(text)
        except UnidiffParseError as e:
            raise PatchParseError(f"the patch is not a valid unified diff: {e}") from e
        files = tuple(_file_patch(pf) for pf in patch_set)
        if not files:
            raise PatchParseError(
                "the text contains no file changes: expected a unified diff (--- a/… +++ b/…)"
            )
        for fp in files:
            if not fp.hunks and not (
                fp.is_rename or fp.is_copy or fp.is_binary or fp.old_mode != fp.new_mode
            ):
                raise PatchParseError(
                    f"the entry for {fp.path!r} has no hunks: expected @@ -l,n +l,n @@ lines"
                )
        return cls(files=files, text=text)

    @property
    def changed_lines(self) -> int:
        return sum(f.changed_lines for f in self.files)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for f in self.files for p in f.paths))


def validate(
    patch: Patch | str,
    *,
    allowed_paths: Sequence[str],
    max_changed_lines: int,
    repo: Git | None,
    allow_protected: Sequence[str] = (),
) -> list[Violation]:
    """Every rule ``patch`` breaks (empty list = acceptable). ``repo`` runs ``git apply --check``.

    ``allowed_paths`` are path prefixes (``src/``) or exact files; ``"."`` allows the whole tree. A
    protected file (CI, build scripts, bot/agent config) needs its own entry in ``allow_protected``
    (an exact path or a prefix) on top of being allowed; ``.git/`` can never be touched.
    """
    if isinstance(patch, str):
        try:
            patch = Patch.from_text(patch)
        except PatchParseError as e:
            rule = Rule.EMPTY if "empty" in str(e) else Rule.PARSE
            return [Violation(rule, None, str(e))]
    violations: list[Violation] = []
    path_safe = True
    for fp in patch.files:
        for path in fp.paths:
            found = _path_violations(path, fp.quoted)
            if found:
                path_safe = False
                violations.extend(found)
                continue
            if not _allowed(path, allowed_paths):
                violations.append(
                    Violation(
                        Rule.OUTSIDE,
                        path,
                        f"outside the allowed paths {list(allowed_paths)} (fix.allowed_paths)",
                    )
                )
            if _protected(path) and not _explicitly_allowed(path, allow_protected):
                violations.append(
                    Violation(
                        Rule.PROTECTED,
                        path,
                        "a CI, build-script or bot/agent configuration file; patches may not touch it "
                        "unless fix.allow_protected_paths names it",
                    )
                )
        violations.extend(_file_violations(fp))
    if fence.contains_secret(patch.text):
        violations.append(
            Violation(
                Rule.SECRET, None, "contains the value of a secret crashbot holds; it is never committed"
            )
        )
    changed = patch.changed_lines
    if changed > max_changed_lines:
        violations.append(
            Violation(
                Rule.TOO_LARGE,
                None,
                f"changes {changed} lines, more than fix.max_changed_lines = {max_changed_lines}",
            )
        )
    if repo is not None and path_safe and not any(v.rule in (Rule.BINARY, Rule.MODE) for v in violations):
        try:
            repo.apply_check(patch.text)
            touched = repo.apply_paths(patch.text)
        except GitError as e:
            violations.append(Violation(Rule.APPLY, None, f"does not apply to the checkout: {e}"))
        else:
            # The rules judged the paths as crashbot parsed them; git parses the diff itself. Any path
            # git would touch that the rules did not see is a parser disagreement an attacker can use.
            unseen = sorted(set(touched) - set(patch.paths))
            if unseen:
                violations.append(
                    Violation(
                        Rule.PATH_MISMATCH,
                        unseen[0],
                        f"git would change {unseen}, which the diff's headers do not name as checked "
                        f"({list(patch.paths)})",
                    )
                )
    return violations


def check(
    patch: Patch | str,
    *,
    allowed_paths: Sequence[str],
    max_changed_lines: int,
    repo: Git | None,
    allow_protected: Sequence[str] = (),
) -> Patch:
    """Like :func:`validate`, but return the parsed Patch or raise PatchRejected with every reason."""
    violations = validate(
        patch,
        allowed_paths=allowed_paths,
        max_changed_lines=max_changed_lines,
        repo=repo,
        allow_protected=allow_protected,
    )
    if violations:
        raise PatchRejected(violations)
    return patch if isinstance(patch, Patch) else Patch.from_text(patch)


# -- normalisation ------------------------------------------------------------------------------------


def normalise_diff(text: str) -> str:
    """Unify line endings, drop prose before the first header, and add missing ``a/``/``b/`` prefixes."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if line.startswith("diff --git ")
            or (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "))
        ),
        None,
    )
    if start is None:
        return ""
    lines = lines[start:]
    out: list[str] = []
    in_git_header = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            in_git_header = True
        elif line.startswith("@@"):
            in_git_header = False
        if (
            not in_git_header
            and line.startswith("--- ")
            and i + 1 < len(lines)
            and lines[i + 1].startswith("+++ ")
        ):
            src, dst = line[4:].split("\t")[0], lines[i + 1][4:].split("\t")[0]
            # Each side on its own: git strips one component from both names (-p1) and keeps the
            # shorter, so `--- a/src/x` + `+++ src/x` would write `x`, not the `src/x` the rules saw.
            if src != DEV_NULL and not src.startswith(("a/", '"a/')):
                src = "a/" + src
            if dst != DEV_NULL and not dst.startswith(("b/", '"b/')):
                dst = "b/" + dst
            out += [f"--- {src}", f"+++ {dst}"]
            i += 2
            continue
        out.append(line)
        i += 1
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def recount_hunks(text: str) -> str:
    """Rewrite each ``@@`` header's line counts from the hunk body (empty body lines become context)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _HUNK_HEADER_RE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        body: list[str] = []
        blank_run = 0  # trailing lines that were empty (not " "): separators, unless context follows
        i += 1
        while i < len(lines) and not _ends_hunk(lines, i):
            blank_run = blank_run + 1 if not lines[i] else 0
            body.append(lines[i] or " ")
            i += 1
        if blank_run:
            del body[-blank_run:]
        old = sum(1 for b in body if b[:1] in (" ", "-"))
        new = sum(1 for b in body if b[:1] in (" ", "+"))
        out.append(f"@@ -{m[1]},{old} +{m[3]},{new} @@{m[5]}")
        out.extend(body)
    return "\n".join(out) + "\n"


def _ends_hunk(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.startswith(("@@", "diff --git ")):
        return True
    if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
        return True
    return bool(line) and line[0] not in " +-\\"


# -- parsing helpers ----------------------------------------------------------------------------------


def _strip_prefix(raw: str | None) -> tuple[str | None, bool]:
    if raw is None or raw == DEV_NULL:
        return None, False
    quoted = raw.startswith('"') and raw.endswith('"') and len(raw) >= 2
    path = raw[1:-1] if quoted else raw
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path, quoted


def _file_patch(pf: object) -> FilePatch:
    info = [str(x).rstrip("\n") for x in (getattr(pf, "patch_info", None) or [])]
    source, q1 = _strip_prefix(getattr(pf, "source_file", None))
    target, q2 = _strip_prefix(getattr(pf, "target_file", None))
    rename_from = _header_value(info, "rename from ")
    rename_to = _header_value(info, "rename to ")
    copy_from = _header_value(info, "copy from ")
    copy_to = _header_value(info, "copy to ")
    if rename_from is not None:
        source = rename_from
    if rename_to is not None:
        target = rename_to
    if copy_from is not None:
        source = copy_from
    if copy_to is not None:
        target = copy_to
    new_file_mode = _header_value(info, "new file mode ")
    deleted_mode = _header_value(info, "deleted file mode ")
    old_mode = _header_value(info, "old mode ") or deleted_mode
    new_mode = _header_value(info, "new mode ") or new_file_mode
    index_mode = next((m[1] for line in info if (m := re.match(r"^index \S+ (\d{6})$", line))), None)
    if old_mode is None and new_mode is None and index_mode is not None:
        old_mode = new_mode = index_mode
    is_binary = bool(getattr(pf, "is_binary_file", False)) or any(
        line == "GIT binary patch" or line.startswith("Binary files ") for line in info
    )
    hunks = tuple(
        Hunk(
            source_start=h.source_start,
            source_length=h.source_length,
            target_start=h.target_start,
            target_length=h.target_length,
            section=(h.section_header or "").strip(),
            lines=tuple(
                (line.line_type + line.value).rstrip("\n") for line in h if line.line_type in " +-\\"
            ),
        )
        for h in pf  # type: ignore[attr-defined]
    )
    return FilePatch(
        source=source,
        target=target,
        hunks=hunks,
        is_binary=is_binary,
        old_mode=old_mode,
        new_mode=new_mode,
        is_rename=rename_from is not None or (source is not None and target is not None and source != target),
        is_copy=copy_from is not None,
        quoted=q1 or q2,
    )


def _header_value(info: Sequence[str], prefix: str) -> str | None:
    for line in info:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


# -- rules --------------------------------------------------------------------------------------------


def _path_violations(path: str, quoted: bool) -> list[Violation]:
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return [
            Violation(Rule.ABSOLUTE, path, "is an absolute path; patches must use repository-relative paths")
        ]
    parts = re.split(r"[/\\]", path)
    if any(p == ".." for p in parts):
        return [Violation(Rule.TRAVERSAL, path, "contains '..'; patches must stay inside the repository")]
    if any(p.casefold() == ".git" for p in parts):
        return [Violation(Rule.PROTECTED, path, "is inside .git/, which a patch can never touch")]
    if quoted or "\\" in path or any(ord(c) < 32 or c in ':*?"<>|' for c in path):
        return [
            Violation(Rule.PATH_SYNTAX, path, "contains quoting, backslashes or characters Windows forbids")
        ]
    if any(not p or p == "." or p.endswith((".", " ")) or _SHORT_NAME_RE.search(p) for p in parts):
        return [
            Violation(
                Rule.PATH_SYNTAX,
                path,
                "has an empty, '.', trailing-dot/space or 8.3 short-name component (Windows aliases)",
            )
        ]
    return []


def _file_violations(fp: FilePatch) -> list[Violation]:
    found: list[Violation] = []
    if fp.is_binary:
        found.append(Violation(Rule.BINARY, fp.path, "is a binary patch; only text changes are accepted"))
    modes = {m for m in (fp.old_mode, fp.new_mode) if m}
    if fp.old_mode and fp.new_mode and fp.old_mode != fp.new_mode:
        found.append(Violation(Rule.MODE, fp.path, f"changes the file mode {fp.old_mode} -> {fp.new_mode}"))
    elif modes - {REGULAR_FILE_MODE}:
        kind = (
            "a symlink" if "120000" in modes else "a submodule" if "160000" in modes else "not a regular file"
        )
        found.append(
            Violation(Rule.MODE, fp.path, f"is {kind} (mode {', '.join(sorted(modes))}); only 100644 files")
        )
    if fp.is_copy:
        found.append(Violation(Rule.MODE, fp.path, "is a copy; write the new file out in full instead"))
    # every file, whatever its name: a .txt the patch adds can be #included by a .cpp it also changes
    for hunk in fp.hunks:
        new_side = [(line[1:], line.startswith("+")) for line in hunk.lines if line[:1] in (" ", "+")]
        for finding in directives.findings(new_side):
            found.append(
                Violation(
                    Rule.INCLUDE,
                    fp.path,
                    f"adds {finding.why}: {finding.line.strip()[:120]!r}",
                )
            )
    return found


def _norm_prefix(entry: str) -> str:
    entry = entry.replace("\\", "/").strip()
    while entry.startswith("./"):
        entry = entry[2:]
    return entry


def _allowed(path: str, allowed_paths: Sequence[str]) -> bool:
    for raw in allowed_paths:
        entry = _norm_prefix(raw)
        if entry in (".", "/"):
            return True
        if not entry:
            continue
        if entry.endswith("/"):
            if path.startswith(entry):
                return True
        elif path == entry or path.startswith(entry + "/"):
            return True
    return False


def _explicitly_allowed(path: str, allow_protected: Sequence[str]) -> bool:
    folded = path.casefold()
    for raw in allow_protected:
        entry = _norm_prefix(raw).casefold()
        if not entry:
            continue
        if folded == entry.rstrip("/") or folded.startswith(entry if entry.endswith("/") else entry + "/"):
            return True
    return False


def _protected(path: str) -> bool:
    parts = [p.casefold() for p in path.split("/")]
    name = parts[-1]
    if any(p in PROTECTED_DIRS for p in parts[:-1]):
        return True
    return name in PROTECTED_NAMES or name.endswith(PROTECTED_SUFFIXES)
