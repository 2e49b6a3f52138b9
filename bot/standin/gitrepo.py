"""The bare git repository behind a stand-in repo: every ref, commit and merge the API shows comes from it."""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import GitError

logger = logging.getLogger(__name__)

# merge-tree --write-tree (used for real merges without a checkout) arrived in git 2.38
MIN_GIT = (2, 38)
_SHA_RE = re.compile(r"\A[0-9a-f]{4,64}\Z")
_FIELD_SEP = "\x1f"
_RECORD_SEP = "\x1e"
_PICK_IDENTITY = {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
_COMMIT_FORMAT = (
    _FIELD_SEP.join(["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"]) + _RECORD_SEP
)


@dataclass(frozen=True)
class Person:
    """A commit's author or committer line."""

    name: str
    email: str
    date: str  # strict ISO 8601 with offset, as git prints it


@dataclass(frozen=True)
class Commit:
    """One commit as git stores it."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclass(frozen=True)
class RefEntry:
    """A ref and the object it points at (``commit`` or ``tag``)."""

    name: str
    sha: str
    object_type: str


@dataclass(frozen=True)
class FileChange:
    """One file of a diff, with numstat counts (binary files count 0/0)."""

    filename: str
    status: str  # added | removed | modified | renamed
    additions: int
    deletions: int
    previous_filename: str | None = None


@dataclass(frozen=True)
class MergeResult:
    """The outcome of a three-way merge of two commits: a tree, or the conflicting paths."""

    tree: str | None
    conflicts: tuple[str, ...]


class GitRepo:
    """Thin, typed wrapper over ``git`` for one bare repository."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- plumbing -----------------------------------------------------------------------------------

    def run(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        # a user's global config must not change what the stand-in writes (signing, hooks, editors)
        full_env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "LC_ALL": "C"})
        if env:
            full_env.update(env)
        command = ["git", "-c", "commit.gpgsign=false", "-C", str(self.path), *args]
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=full_env,
            input=input_text,
            check=False,
        )
        if check and completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise GitError(f"git {' '.join(args[:3])} failed in {self.path}: {last}")
        return completed

    @classmethod
    def init_bare(cls, path: Path, default_branch: str) -> GitRepo:
        """Create (or adopt) a bare repository whose HEAD names ``default_branch``."""
        check_git_version()
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        if not (path / "HEAD").is_file():
            repo.run("init", "--bare", "--quiet")
        repo.run("symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        return repo

    # -- reading ------------------------------------------------------------------------------------

    def resolve(self, revision: str) -> str | None:
        """The commit sha a branch, tag or (abbreviated) sha names, or None."""
        if not revision or revision.startswith("-"):
            return None
        candidates = [f"refs/heads/{revision}", f"refs/tags/{revision}"]
        if _SHA_RE.match(revision):
            candidates.append(revision)
        if revision.startswith("refs/"):
            candidates.insert(0, revision)
        for candidate in candidates:
            done = self.run("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if done.returncode == 0:
                return done.stdout.strip()
        return None

    def ref(self, name: str) -> RefEntry | None:
        """One fully qualified ref (``refs/heads/main``) or None."""
        for entry in self.refs(name):
            if entry.name == name:
                return entry
        return None

    def refs(self, prefix: str = "refs/") -> list[RefEntry]:
        """Refs whose name starts with ``prefix`` (a plain string prefix, as GitHub's matching-refs)."""
        done = self.run("for-each-ref", "--format=%(refname) %(objectname) %(objecttype)")
        entries = []
        for line in done.stdout.splitlines():
            name, sha, kind = line.split(" ")
            if name.startswith(prefix):
                entries.append(RefEntry(name, sha, kind))
        return sorted(entries, key=lambda e: e.name)

    def commit(self, sha: str) -> Commit:
        commits = self._log(["-1", "--no-walk", sha])
        if not commits:
            raise GitError(f"commit {sha} not found in {self.path}")
        return commits[0]

    def commits_between(self, base: str, head: str) -> list[Commit]:
        """Commits reachable from ``head`` but not ``base``, oldest first (the order GitHub lists them)."""
        return list(reversed(self._log([f"{base}..{head}"])))

    def _log(self, args: Sequence[str]) -> list[Commit]:
        done = self.run("log", f"--format={_COMMIT_FORMAT}", *args, "--")
        commits = []
        for raw in done.stdout.split(_RECORD_SEP):
            record = raw.lstrip("\n")
            if not record:
                continue
            sha, tree, parents, an, ae, ad, cn, ce, cd, message = record.split(_FIELD_SEP)
            commits.append(
                Commit(sha, tree, tuple(parents.split()), Person(an, ae, ad), Person(cn, ce, cd), message)
            )
        return commits

    def merge_base(self, a: str, b: str) -> str | None:
        done = self.run("merge-base", a, b, check=False)
        return done.stdout.strip() or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def ahead_behind(self, base: str, head: str) -> tuple[int, int]:
        """(commits in head not in base, commits in base not in head)."""
        done = self.run("rev-list", "--left-right", "--count", f"{base}...{head}")
        behind, ahead = done.stdout.split()
        return int(ahead), int(behind)

    def diff_files(self, base: str | None, head: str) -> list[FileChange]:
        """Files changed from ``base`` to ``head`` (``base`` None: against the empty tree)."""
        if base is None:
            base = self.run("hash-object", "-t", "tree", "--stdin", input_text="").stdout.strip()
        status = self.run("diff", "--name-status", "-M", "-z", base, head).stdout.split("\0")
        numstat = self.run("diff", "--numstat", "-M", "-z", base, head).stdout.split("\0")
        counts = _numstat_counts(numstat)
        changes: list[FileChange] = []
        index = 0
        while index < len(status) and status[index]:
            code = status[index]
            if code.startswith("R"):
                old, new = status[index + 1], status[index + 2]
                index += 3
                added, deleted = counts.get(new, (0, 0))
                changes.append(FileChange(new, "renamed", added, deleted, previous_filename=old))
                continue
            name = status[index + 1]
            index += 2
            added, deleted = counts.get(name, (0, 0))
            kind = {"A": "added", "D": "removed"}.get(code[0], "modified")
            changes.append(FileChange(name, kind, added, deleted))
        return changes

    def patch(self, base: str, head: str, filename: str) -> str:
        """The unified diff hunks of one file (without the ``diff --git`` header, as GitHub's ``patch``)."""
        text = self.run("diff", "-M", base, head, "--", filename).stdout
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("@@"):
                return "\n".join(lines[index:])
        return ""

    # -- writing ------------------------------------------------------------------------------------

    def update_ref(self, name: str, new: str, old: str | None = None) -> bool:
        """Move ``name`` to ``new``; with ``old``, only if it still points there (compare-and-swap)."""
        args = ["update-ref", name, new]
        if old is not None:
            args.append(old)
        return self.run(*args, check=False).returncode == 0

    def create_ref(self, name: str, sha: str) -> bool:
        """Create ``name`` only if it does not exist yet (the all-zero old value means "must be absent")."""
        return self.run("update-ref", name, sha, "0" * len(sha), check=False).returncode == 0

    def delete_ref(self, name: str) -> bool:
        return self.run("update-ref", "-d", name, check=False).returncode == 0

    def merge_trees(self, ours: str, theirs: str) -> MergeResult:
        """Three-way merge of two commits into a new tree without touching any checkout."""
        done = self.run(
            "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs, check=False
        )
        lines = done.stdout.splitlines()
        if done.returncode == 0:
            return MergeResult(lines[0].strip(), ())
        if done.returncode == 1 and lines:
            return MergeResult(None, tuple(line for line in lines[1:] if line))
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise GitError(f"git merge-tree {ours} {theirs} failed in {self.path}: {last}")

    def cherry_pick_tree(self, onto: str, commit: str) -> MergeResult:
        """The tree of ``commit``'s change applied on ``onto``, computed in a throw-away worktree
        (``merge-tree --merge-base`` would avoid it but needs git 2.40)."""
        with tempfile.TemporaryDirectory(prefix="standin-pick-") as tmp:
            work = GitRepo(Path(tmp) / "work")
            self.run("worktree", "add", "--detach", "--quiet", str(work.path), onto)
            try:
                picked = work.run("cherry-pick", "--no-commit", commit, check=False, env=_PICK_IDENTITY)
                if picked.returncode != 0:
                    conflicts = work.run("diff", "--name-only", "--diff-filter=U").stdout.split()
                    return MergeResult(None, tuple(conflicts))
                return MergeResult(work.run("write-tree").stdout.strip(), ())
            finally:
                self.run("worktree", "remove", "--force", str(work.path), check=False)
                self.run("worktree", "prune", check=False)

    def commit_tree(
        self, tree: str, parents: Sequence[str], message: str, *, author: Person, committer: Person
    ) -> str:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": author.date,
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": committer.date,
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, env=env, input_text=message).stdout.strip()

    def initial_commit(self, message: str, *, author: Person) -> str:
        """A root commit holding a one-line README, like GitHub's ``auto_init``."""
        blob = self.run(
            "hash-object", "-w", "--stdin", input_text=message.split("\n", maxsplit=1)[0] + "\n"
        ).stdout.strip()
        tree = self.run("mktree", input_text=f"100644 blob {blob}\tREADME.md\n").stdout.strip()
        return self.commit_tree(tree, [], message, author=author, committer=author)


def _numstat_counts(fields: list[str]) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    index = 0
    while index < len(fields) and fields[index]:
        added, deleted, name = fields[index].split("\t", 2)
        index += 1
        if name == "":
            # a rename: "<a>\t<d>\t" followed by old and new names as separate fields
            name = fields[index + 1]
            index += 2
        counts[name] = (int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0)
    return counts


@functools.cache
def check_git_version() -> None:
    """Refuse early, with the fix, when git is missing or too old for ``merge-tree --write-tree``."""
    try:
        done = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"git is not runnable ({exc}); install git {'.'.join(map(str, MIN_GIT))}+") from exc
    found = re.search(r"(\d+)\.(\d+)", done.stdout)
    if found is None or (int(found.group(1)), int(found.group(2))) < MIN_GIT:
        raise GitError(
            f"the stand-in needs git {'.'.join(map(str, MIN_GIT))}+ for real merges; "
            f"found {done.stdout.strip()!r}; upgrade git"
        )
