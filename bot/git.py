"""A small, typed wrapper around the ``git`` command line for one repository (no shell, readable errors)."""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import GitError

logger = logging.getLogger(__name__)

# Every call gets these: unquoted UTF-8 paths in output, never an interactive prompt or pager, and no
# hook, fsmonitor or attribute file: crashbot's git calls carry its push token and App key in the
# environment, and a checkout an agent (or a patched tree) wrote into must not be able to run code with
# them. The system and global config are off too (see _hardened_env); the repository's own config is
# checked for command-running keys before each call (see RepoConfigRefused).
NO_HOOKS_DIR = os.devnull  # never a directory, so no hook is ever found in it
BASE_ARGS = (
    "-c",
    f"core.attributesFile={os.devnull}",
    "-c",
    "core.quotepath=off",
    "-c",
    "color.ui=never",
    "-c",
    "core.pager=cat",
    "-c",
    f"core.hooksPath={NO_HOOKS_DIR}",
    "-c",
    "core.fsmonitor=false",
)
DEFAULT_TIMEOUT_S = 600.0

# Repository config keys that make git run a command, load more config, or send the push token elsewhere
# (lower case). A checkout whose .git/config sets one is refused, not cleaned: something wrote it, and the
# workspace is no longer trustworthy. (core.hooksPath, core.fsmonitor, core.pager, core.attributesFile are
# overridden by BASE_ARGS on every call instead.)
_REFUSED_KEYS = re.compile(
    r"""^(?:filter\..*|diff\..*\.(?:textconv|command)|diff\.external|merge\..*\.driver
        |include\..*|includeif\..*|core\.(?:sshcommand|gitproxy|askpass|editor|worktree
        |excludesfile)|sequence\.editor|credential\..*|gpg\..*
        |url\..*|http\.(?:.*\.)?(?:proxy|extraheader|sslverify|cookiefile|curloptresolve)
        |remote\..*\.(?:pushurl|uploadpack|receivepack|proxy|vcs)|uploadpack\..*|receive\..*
        |ssh\..*|protocol\..*\.allow|protocol\.allow|alias\..*|submodule\..*\.update)$""",
    re.VERBOSE,
)
# Environment variables that would point git at another repository, config or program; never passed on.
_DROPPED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_EXEC_PATH",
    "GIT_EXTERNAL_DIFF",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_PROXY_COMMAND",
    "GIT_EDITOR",
    "GIT_PAGER",
    "GIT_TEMPLATE_DIR",
)


class RepoConfigRefused(GitError):
    """The repository's own config sets a key that would run a command inside crashbot's git."""


_HUNK_RE = re.compile(r"^@@ -(?P<a>\d+)(?:,(?P<alen>\d+))? \+(?P<b>\d+)(?:,(?P<blen>\d+))? @@")
_AUTHOR_RE = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>]*)>\s*$")


@dataclass(frozen=True)
class BlameLine:
    """One line of ``git blame --porcelain``: who last touched line ``line_no`` and with which commit."""

    sha: str
    author: str
    author_time: int  # seconds since the epoch
    summary: str
    line_no: int  # line number in the blamed revision
    text: str


@dataclass(frozen=True)
class Commit:
    """One entry of ``git log``."""

    sha: str
    author: str
    author_time: int
    subject: str


@dataclass(frozen=True)
class DiffHunk:
    """The line ranges one ``@@`` hunk replaces: ``old_count`` lines at ``old_start`` become ``new_count``
    lines at ``new_start`` (a count of 0 means a pure insertion/deletion *after* that start line)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int


class Git:
    """Run git in ``repo``.

    ``env`` is the environment git runs with (the command layer passes its own down); secrets such as
    a push token are read from it by *name* and handed to git through ``GIT_CONFIG_*`` variables, so
    they never appear in argv, ``.git/config`` or a log line.
    """

    def __init__(self, repo: Path, *, env: Mapping[str, str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.repo = Path(repo)
        self._env = dict(env)
        self._timeout_s = timeout_s
        self._config_checked: tuple[tuple[str, int, int, int], ...] | None = None

    def with_timeout(self, timeout_s: float) -> Git:
        """The same repository and environment, with another time limit per git command."""
        return Git(self.repo, env=self._env, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"Git({str(self.repo)!r})"

    @property
    def env(self) -> dict[str, str]:
        """The environment this wrapper runs git with (a copy; it may hold the push token by name)."""
        return dict(self._env)

    def run(
        self,
        *args: str,
        input: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        check: bool = True,
        secrets: Sequence[str] = (),
    ) -> str:
        """Run ``git <args>`` and return stdout; raise GitError carrying git's last stderr line."""
        proc = self._exec(args, input=input, extra_env=extra_env)
        stdout = proc.stdout.decode("utf-8", errors="replace")
        if check and proc.returncode != 0:
            stderr = _scrub(proc.stderr.decode("utf-8", errors="replace"), secrets)
            lines = [line.strip() for line in stderr.splitlines() if line.strip()]
            # git often ends with a usage hint; the line that says what went wrong starts with fatal/error
            errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
            last = (errors or lines or [f"exit status {proc.returncode}"])[-1]
            raise GitError(
                f"git {' '.join(_scrub(a, secrets) for a in args[:3])} failed in {self.repo}: {last}"
            )
        return stdout

    def succeeds(self, *args: str) -> bool:
        """Whether ``git <args>`` exits 0 (for the commands that answer with their status)."""
        return self._exec(args).returncode == 0

    def check_config(self) -> None:
        """RepoConfigRefused when the repository's own config (``.git/config``, ``config.worktree``)
        sets a key that runs a command, loads more config or redirects the push (:data:`_REFUSED_KEYS`).
        Build code or an agent that could write there must not get to run code through crashbot's git."""
        files = self._config_files()
        stamp = tuple((str(p), st.st_mtime_ns, st.st_size, st.st_ino) for p in files for st in [p.stat()])
        if stamp == self._config_checked:
            return
        for path in files:
            args = ["config", "--file", str(path), "--no-includes", "--name-only", "--list", "-z"]
            for key in (k for k in _git_plain(args).split("\0") if k):
                if _REFUSED_KEYS.match(key.casefold()):
                    raise RepoConfigRefused(
                        f"{path} sets {key!r}, which would run a command or redirect the push inside "
                        "crashbot's git; remove it (and find out what wrote it) or use a fresh checkout"
                    )
        self._config_checked = stamp

    def _config_files(self) -> list[Path]:
        git_dir = self.repo / ".git"
        if git_dir.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = git_dir.read_text(encoding="utf-8", errors="replace").strip()
            git_dir = (self.repo / text.removeprefix("gitdir:").strip()).resolve()
            common = git_dir / "commondir"
            roots = [git_dir]
            if common.is_file():
                roots.append((git_dir / common.read_text(encoding="utf-8").strip()).resolve())
        else:
            roots = [git_dir]
        return [r / name for r in roots for name in ("config", "config.worktree") if (r / name).is_file()]

    def _exec(
        self,
        args: Sequence[str],
        *,
        input: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        env = _hardened_env(self._env)
        if extra_env:
            env.update(extra_env)
        if not self.repo.is_dir():
            raise GitError(f"repository directory {str(self.repo)!r} does not exist")
        self.check_config()
        argv = ["git", *BASE_ARGS, *args]
        logger.debug("git %s (in %s)", " ".join(args), self.repo)
        try:
            proc = subprocess.run(
                argv,
                cwd=self.repo,
                env=env,
                input=input.encode("utf-8") if input is not None else None,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                timeout=self._timeout_s,
                check=False,
            )
        except FileNotFoundError as e:
            raise GitError("git is not installed or not on PATH; install git and retry") from e
        except subprocess.TimeoutExpired as e:
            raise GitError(
                f"git {args[0] if args else ''} in {str(self.repo)!r} did not finish within "
                f"{self._timeout_s:.0f}s"
            ) from e
        return proc

    # -- reading -------------------------------------------------------------------------------------

    def ls_files(self) -> list[str]:
        """Every tracked path (forward slashes, relative to the repository root)."""
        out = self.run("ls-files", "-z")
        return [p for p in out.split("\0") if p]

    def head(self) -> str:
        """The full sha of HEAD."""
        return self.run("rev-parse", "--verify", "HEAD").strip()

    def rev_parse(self, rev: str) -> str | None:
        """The full commit sha ``rev`` names, or None when the repository does not have it."""
        if not rev or rev.startswith("-"):
            return None
        out = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False
        )
        sha = out.strip()
        return sha if re.fullmatch(r"[0-9a-f]{40,64}", sha) else None

    def current_branch(self) -> str | None:
        """The checked-out branch name, or None on a detached HEAD."""
        out = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
        return out or None

    def show(self, rev: str, path: str) -> str | None:
        """The text of ``path`` at ``rev``, or None when it does not exist there."""
        try:
            return self.run("show", f"{rev}:{path}")
        except GitError:
            return None

    def blame(self, path: str, start: int, end: int, rev: str = "HEAD") -> list[BlameLine]:
        """``git blame --porcelain -L start,end rev -- path``, one entry per line."""
        if start < 1 or end < start:
            raise GitError(
                f"blame range {start},{end} for {path!r} is invalid (lines are 1-based, start <= end)"
            )
        out = self.run("blame", "--porcelain", "-L", f"{start},{end}", rev, "--", path)
        return parse_blame_porcelain(out)

    def diff_names(self, a: str, b: str) -> list[str]:
        """Paths that differ between revisions ``a`` and ``b``."""
        out = self.run("diff", "--no-renames", "--name-only", "-z", a, b, "--")
        return [p for p in out.split("\0") if p]

    def diff_hunks(self, path: str, a: str, b: str) -> list[DiffHunk]:
        """The hunks of ``git diff -U0 a b -- path`` (empty when the file is unchanged)."""
        out = self.run("diff", "--no-renames", "--no-ext-diff", "-U0", a, b, "--", path)
        hunks: list[DiffHunk] = []
        for line in out.splitlines():
            m = _HUNK_RE.match(line)
            if m:
                hunks.append(
                    DiffHunk(
                        old_start=int(m["a"]),
                        old_count=int(m["alen"]) if m["alen"] is not None else 1,
                        new_start=int(m["b"]),
                        new_count=int(m["blen"]) if m["blen"] is not None else 1,
                    )
                )
        return hunks

    def changed_lines(self, path: str, a: str, b: str) -> set[int]:
        """Lines of ``path`` at ``a`` that ``b`` modified or deleted; a pure insertion marks the lines on
        both sides of it (an inserted null check right above a faulting line counts as touching it)."""
        return changed_lines_from_hunks(self.diff_hunks(path, a, b))

    def log(self, rev_range: str, *paths: str, max_count: int | None = None) -> list[Commit]:
        """Commits in ``rev_range`` (newest first), optionally only those touching ``paths``."""
        args = ["log", "--no-color", "--format=%H%x00%an%x00%at%x00%s"]
        if max_count is not None:
            args.append(f"--max-count={max_count}")
        args.append(rev_range)
        args.append("--")
        args.extend(paths)
        commits = []
        for line in self.run(*args).splitlines():
            parts = line.split("\0")
            if len(parts) == 4:
                commits.append(
                    Commit(sha=parts[0], author=parts[1], author_time=int(parts[2]), subject=parts[3])
                )
        return commits

    def is_ancestor(self, commit: str, of: str) -> bool:
        """Whether ``commit`` is ``of`` or an ancestor of it (``git merge-base --is-ancestor``)."""
        if commit.startswith("-") or of.startswith("-"):
            return False
        return self.succeeds("merge-base", "--is-ancestor", commit, of)

    def diff_worktree(self, base: str = "HEAD") -> str:
        """The working tree (including new untracked, non-ignored files) as a diff against ``base``."""
        self.run("add", "--all", "--intent-to-add", "--", ".")
        return self.run("diff", "--no-ext-diff", "--no-color", "--binary", base, "--")

    # -- writing -------------------------------------------------------------------------------------

    def apply_check(self, diff: str) -> None:
        """Raise GitError (with git's reason) unless ``diff`` applies cleanly to the working tree."""
        self.run("apply", "--check", "--whitespace=nowarn", "-", input=_with_final_newline(diff))

    def apply_paths(self, diff: str) -> list[str]:
        """Every path ``git apply`` would touch with ``diff`` (both names of a rename), as git reads it."""
        out = self.run("apply", "--numstat", "-z", "-", input=_with_final_newline(diff))
        return parse_numstat_z(out)

    def apply(self, diff: str) -> None:
        """Apply ``diff`` to the working tree (all or nothing)."""
        self.run("apply", "--whitespace=nowarn", "-", input=_with_final_newline(diff))

    def stage_patch(self, diff: str, paths: Sequence[str]) -> None:
        """Stage exactly ``diff`` (``git apply --cached`` onto a clean index at HEAD) and insist that the
        staged paths are ``paths``, the ones validation judged: nothing a build or test step wrote into
        the working tree is staged with it. GitError when they differ (the index is reset)."""
        self.run("reset", "--quiet", "--mixed", "HEAD", "--")  # the index = HEAD; the tree is untouched
        self.run("apply", "--cached", "--whitespace=nowarn", "-", input=_with_final_newline(diff))
        staged = set(
            p for p in self.run("diff", "--cached", "--name-only", "--no-renames", "-z").split("\0") if p
        )
        if staged != set(paths):
            self.run("reset", "--quiet", "--mixed", "HEAD", "--")
            extra, missing = sorted(staged - set(paths)), sorted(set(paths) - staged)
            raise GitError(
                f"staging the validated patch staged {sorted(staged)}, not the validated {sorted(paths)} "
                f"(unexpected: {extra}, missing: {missing}); nothing was committed"
            )

    def commit_staged(self, message: str, author: str) -> str:
        """Commit what is staged (and nothing else) as ``author`` ("Name <email>"); return the new sha."""
        self.run(
            "commit", "--no-verify", "--no-gpg-sign", "--file=-", input=message, extra_env=_ident(author)
        )
        return self.head()

    def commit_patch(self, diff: str, paths: Sequence[str], message: str, author: str) -> str:
        """:meth:`stage_patch` then :meth:`commit_staged`: the commit holds the validated patch only."""
        _ident(author)  # refuse a bad author before touching the index
        self.stage_patch(diff, paths)
        return self.commit_staged(message, author)

    def commit_all(self, message: str, author: str) -> str:
        """Stage every change and commit it as ``author`` ("Name <email>"); return the new sha."""
        m = _AUTHOR_RE.match(author)
        if not m:
            raise GitError(f"commit author {author!r} is not of the form 'Name <email>'")
        ident = {
            "GIT_AUTHOR_NAME": m["name"],
            "GIT_AUTHOR_EMAIL": m["email"],
            "GIT_COMMITTER_NAME": m["name"],
            "GIT_COMMITTER_EMAIL": m["email"],
        }
        self.run("add", "--all", "--", ".")
        self.run("commit", "--no-verify", "--no-gpg-sign", "--file=-", input=message, extra_env=ident)
        return self.head()

    def branch(self, name: str, *, start: str = "HEAD") -> None:
        """Create (or reset) branch ``name`` at ``start`` and switch to it."""
        if name.startswith("-"):
            raise GitError(f"branch name {name!r} is invalid")
        self.run("checkout", "--quiet", "-B", name, start, "--")

    def reset_hard(self, rev: str = "HEAD") -> None:
        """Discard every change to tracked files and remove untracked, non-ignored files."""
        self.run("reset", "--quiet", "--hard", rev)
        self.run("clean", "-fdq")

    def push(
        self,
        remote: str,
        refspec: str,
        *,
        force: bool = False,
        expect: str | None = None,
        token_env: str | None = None,
    ) -> None:
        """Push ``refspec`` to ``remote``; with ``token_env`` the token in that environment variable is sent
        as an HTTP ``Authorization`` header through git's environment-only config.

        ``expect`` (with ``force``) is the sha the remote branch must still have, ``""`` for "must not
        exist": a push that raced with someone else's is refused instead of overwriting their work.
        """
        args = ["push", "--porcelain"]
        if force and expect is not None:
            target = refspec.rsplit(":", 1)[-1]
            args.append(f"--force-with-lease={target}:{expect}")
        elif force:
            args.append("--force")
        args += [remote, refspec]
        extra, secrets = self._auth(token_env)
        self.run(*args, extra_env=extra, secrets=secrets)

    def fetch_commit(self, url: str, sha: str, *, token_env: str | None = None) -> None:
        """Fetch commit ``sha`` alone (depth 1) from ``url`` and check it out detached: a tree for a
        commit to be made on, holding nothing but what the remote has. ``token_env`` as for :meth:`push`."""
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
            raise GitError(f"{sha!r} is not a full commit sha")
        extra, secrets = self._auth(token_env)
        self.run(
            "fetch", "--quiet", "--no-tags", "--depth=1", "--", url, sha, extra_env=extra, secrets=secrets
        )
        self.run("checkout", "--quiet", "--detach", sha, "--")

    def _auth(self, token_env: str | None) -> tuple[dict[str, str], list[str]]:
        """Git's environment-only config that sends the token in ``token_env`` as an HTTP Authorization
        header (never argv or ``.git/config``), and the values to scrub from its errors."""
        if not token_env:
            return {}, []
        token = self._env.get(token_env)
        if not token:
            raise GitError(f"push token environment variable {token_env!r} is not set; export it and retry")
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
        extra = {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
        }
        return extra, [token, basic]


def parse_blame_porcelain(text: str) -> list[BlameLine]:
    """Turn ``git blame --porcelain`` output into BlameLines (commit details are given once per sha)."""
    info: dict[str, dict[str, str]] = {}
    result: list[BlameLine] = []
    sha = ""
    final_line = 0
    for line in text.splitlines():
        if line.startswith("\t"):
            meta = info.get(sha, {})
            result.append(
                BlameLine(
                    sha=sha,
                    author=meta.get("author", ""),
                    author_time=int(meta.get("author-time", "0") or 0),
                    summary=meta.get("summary", ""),
                    line_no=final_line,
                    text=line[1:],
                )
            )
            continue
        head = re.match(r"^([0-9a-f]{40,64}) \d+ (\d+)(?: \d+)?$", line)
        if head:
            sha = head[1]
            final_line = int(head[2])
            info.setdefault(sha, {})
            continue
        key, _, value = line.partition(" ")
        if sha and key in ("author", "author-time", "summary"):
            info[sha][key] = value
    return result


def parse_numstat_z(text: str) -> list[str]:
    """Paths from ``--numstat -z`` output: ``added\tdeleted\tpath\0``, or for a rename or copy
    ``added\tdeleted\t\0old\0new\0``."""
    fields = text.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if not entry:
            continue
        stat = entry.split("\t", 2)
        if len(stat) < 3:
            continue
        if stat[2]:
            paths.append(stat[2])
        else:  # rename/copy: the two names follow as their own fields
            paths.extend(p for p in fields[i : i + 2] if p)
            i += 2
    return paths


def changed_lines_from_hunks(hunks: Sequence[DiffHunk]) -> set[int]:
    """The old-side lines ``hunks`` touch (see :meth:`Git.changed_lines`)."""
    lines: set[int] = set()
    for h in hunks:
        if h.old_count == 0:
            # "-N,0" inserts after old line N
            lines.update(n for n in (h.old_start, h.old_start + 1) if n >= 1)
        else:
            lines.update(range(h.old_start, h.old_start + h.old_count))
    return lines


def map_line(hunks: Sequence[DiffHunk], line: int) -> int | None:
    """Where old line ``line`` sits on the new side, or None when a hunk rewrote or deleted it."""
    shift = 0
    for h in hunks:
        old_end = h.old_start + h.old_count  # first old line after the hunk
        if h.old_count == 0:
            if line > h.old_start:
                shift += h.new_count
            continue
        if line < h.old_start:
            break
        if line < old_end:
            return None
        shift += h.new_count - h.old_count
    return line + shift


def _hardened_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` for a git call: no system or global config or attributes (a runner's ~/.gitconfig is
    not crashbot's to trust, nor to leak through), no prompt, and no variable that redirects git."""
    env = {k: v for k, v in base.items() if k not in _DROPPED_ENV and not k.startswith("GIT_CONFIG_")}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_SYSTEM": os.devnull,
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_NO_REPLACE_OBJECTS": "1",
        }
    )
    return env


def _git_plain(args: Sequence[str]) -> str:
    """``git <args>`` outside any repository, with nothing but the hardened environment."""
    try:
        proc = subprocess.run(
            ["git", *args],
            env=_hardened_env(os.environ),
            cwd=os.path.dirname(os.devnull) or None,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git cannot read a config file: {e}") from e
    if proc.returncode != 0:
        raise GitError(
            f"git cannot read a config file: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}"
        )
    return proc.stdout.decode("utf-8", errors="replace")


def _ident(author: str) -> dict[str, str]:
    """The ``GIT_AUTHOR_*``/``GIT_COMMITTER_*`` variables for ``"Name <email>"``; GitError otherwise."""
    m = _AUTHOR_RE.match(author)
    if not m:
        raise GitError(f"commit author {author!r} is not of the form 'Name <email>'")
    return {
        "GIT_AUTHOR_NAME": m["name"],
        "GIT_AUTHOR_EMAIL": m["email"],
        "GIT_COMMITTER_NAME": m["name"],
        "GIT_COMMITTER_EMAIL": m["email"],
    }


def _with_final_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text
