"""bot.fix.patch: parsing diffs into our dataclasses, and the rules a proposed fix must pass."""

from __future__ import annotations

import pytest

from bot.fix.patch import Patch, PatchParseError, PatchRejected, Rule, check, recount_hunks, validate
from bot.git import Git
from tests.fix.conftest import CommitFn

SOURCE = '#include "Unit.h"\n\nvoid Unit::Kill(Unit* victim)\n{\n    victim->SetHealth(0);\n}\n'

GOOD = """\
diff --git a/src/server/game/Unit.cpp b/src/server/game/Unit.cpp
--- a/src/server/game/Unit.cpp
+++ b/src/server/game/Unit.cpp
@@ -3,4 +3,6 @@
 void Unit::Kill(Unit* victim)
 {
+    if (!victim)
+        return;
     victim->SetHealth(0);
 }
"""


def _file_diff(path: str, *, header: str = "", src: str | None = None) -> str:
    src = src or f"a/{path}"
    return f"diff --git {src} b/{path}\n{header}--- {src}\n+++ b/{path}\n@@ -1,1 +1,1 @@\n-old\n+new\n"


def _rules(violations: list) -> set[Rule]:
    return {v.rule for v in violations}


@pytest.fixture
def repo(git_repo: Git, commit: CommitFn) -> Git:
    commit({"src/server/game/Unit.cpp": SOURCE, ".github/workflows/ci.yml": "on: push\n"}, "init")
    return git_repo


def test_patch_from_text_git_diff_parses_files_and_hunks() -> None:
    patch = Patch.from_text(GOOD)
    (fp,) = patch.files
    assert fp.source == fp.target == "src/server/game/Unit.cpp"
    assert not fp.is_added and not fp.is_removed and not fp.is_rename
    (hunk,) = fp.hunks
    assert (hunk.source_start, hunk.source_length, hunk.target_start, hunk.target_length) == (3, 4, 3, 6)
    assert hunk.added == 2 and hunk.removed == 0
    assert patch.changed_lines == 2
    assert fp.added_lines == ("    if (!victim)", "        return;")


def test_patch_from_text_model_style_diff_repaired_prefixes_and_counts() -> None:
    """Models write `--- src/x.cpp` without a/ b/, wrong @@ counts, and drop the space of blank context."""
    text = (
        "Here is the fix:\n\n"
        "--- src/server/game/Unit.cpp\n+++ src/server/game/Unit.cpp\n"
        '@@ -1,9 +1,9 @@\n #include "Unit.h"\n\n void Unit::Kill(Unit* victim)\n {\n'
        "+    if (!victim) return;\n     victim->SetHealth(0);\n }\n"
    )
    patch = Patch.from_text(text)
    (fp,) = patch.files
    assert fp.path == "src/server/game/Unit.cpp"
    (hunk,) = fp.hunks
    assert (hunk.source_length, hunk.target_length) == (6, 7)
    assert "--- a/src/server/game/Unit.cpp" in patch.text


def test_patch_repaired_model_diff_applies(repo: Git) -> None:
    text = (
        "--- src/server/game/Unit.cpp\n+++ src/server/game/Unit.cpp\n"
        "@@ -3,2 +3,2 @@\n void Unit::Kill(Unit* victim)\n {\n+    if (!victim) return;\n     victim->SetHealth(0);\n"
    )
    assert validate(text, allowed_paths=("src/",), max_changed_lines=10, repo=repo) == []


def test_recount_hunks_fixes_counts_and_keeps_starts() -> None:
    assert recount_hunks("--- a/x\n+++ b/x\n@@ -5,1 +5,1 @@ f()\n a\n-b\n+c\n+d\n") == (
        "--- a/x\n+++ b/x\n@@ -5,2 +5,3 @@ f()\n a\n-b\n+c\n+d\n"
    )


def test_check_good_patch_returns_parsed_patch(repo: Git) -> None:
    patch = check(GOOD, allowed_paths=("src/",), max_changed_lines=10, repo=repo)
    assert patch.paths == ("src/server/game/Unit.cpp",)


@pytest.mark.parametrize(
    ("name", "diff", "expected"),
    [
        ("empty", "", Rule.EMPTY),
        ("prose only", "I could not find the bug, sorry.\n", Rule.EMPTY),
        ("truncated hunk header", "--- a/src/x.cpp\n+++ b/src/x.cpp\n@@ -1 +1\n-a\n+b\n", Rule.PARSE),
        ("workflow", _file_diff(".github/workflows/ci.yml"), Rule.PROTECTED),
        ("workflow case trick", _file_diff("src/.GitHub/workflows/ci.yml"), Rule.PROTECTED),
        ("gitlab ci", _file_diff("src/.gitlab-ci.yml"), Rule.PROTECTED),
        ("azure pipelines", _file_diff("src/azure-pipelines.yml"), Rule.PROTECTED),
        ("jenkins", _file_diff("src/Jenkinsfile"), Rule.PROTECTED),
        ("ci dir", _file_diff("src/.ci/run.py"), Rule.PROTECTED),
        ("cmakelists", _file_diff("src/server/CMakeLists.txt"), Rule.PROTECTED),
        ("cmake module", _file_diff("src/cmake/macros/Foo.cmake"), Rule.PROTECTED),
        ("shell script", _file_diff("src/tools/build.sh"), Rule.PROTECTED),
        ("powershell", _file_diff("src/tools/build.ps1"), Rule.PROTECTED),
        ("batch", _file_diff("src/tools/build.bat"), Rule.PROTECTED),
        ("msbuild project", _file_diff("src/game.vcxproj"), Rule.PROTECTED),
        ("bot config", _file_diff("crashbot.toml"), Rule.PROTECTED),
        ("agent instructions", _file_diff("src/CLAUDE.md"), Rule.PROTECTED),
        ("git internals", _file_diff("src/.git/hooks/pre-commit"), Rule.PROTECTED),
        ("outside allowed", _file_diff("doc/readme.txt"), Rule.OUTSIDE),
        ("traversal", _file_diff("src/../../etc/passwd"), Rule.TRAVERSAL),
        ("absolute", "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-root\n+toor\n", Rule.ABSOLUTE),
        ("drive letter", _file_diff("C:/Windows/win.ini", src="a/C:/Windows/win.ini"), Rule.ABSOLUTE),
        ("short name alias", _file_diff("src/GITHUB~1/x.cpp"), Rule.PATH_SYNTAX),
        ("trailing dot", _file_diff("src/game./x.cpp"), Rule.PATH_SYNTAX),
        ("alternate data stream", _file_diff("src/x.cpp:evil"), Rule.PATH_SYNTAX),
        (
            "binary",
            "diff --git a/src/x.bin b/src/x.bin\nindex 1111111..2222222 100644\nGIT binary patch\nliteral 3\nKcmZQz|\n\n",
            Rule.BINARY,
        ),
        (
            "binary files differ",
            "diff --git a/src/x.dll b/src/x.dll\nindex 1111111..2222222 100644\nBinary files a/src/x.dll and b/src/x.dll differ\n",
            Rule.BINARY,
        ),
        (
            "symlink",
            "diff --git a/src/link b/src/link\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n+++ b/src/link\n"
            "@@ -0,0 +1 @@\n+/etc/shadow\n\\ No newline at end of file\n",
            Rule.MODE,
        ),
        ("mode change", _file_diff("src/x.cpp", header="old mode 100644\nnew mode 100755\n"), Rule.MODE),
        (
            "executable new file",
            "diff --git a/src/run b/src/run\nnew file mode 100755\n--- /dev/null\n+++ b/src/run\n@@ -0,0 +1 @@\n+x\n",
            Rule.MODE,
        ),
        (
            "rename out of tree",
            "diff --git a/src/a.cpp b/tools/a.cpp\nsimilarity index 100%\nrename from src/a.cpp\nrename to tools/a.cpp\n",
            Rule.OUTSIDE,
        ),
        (
            "include escape",
            '--- a/src/x.cpp\n+++ b/src/x.cpp\n@@ -1 +1,2 @@\n a\n+#include "/home/runner/.ssh/id_rsa"\n',
            Rule.INCLUDE,
        ),
        (
            "include traversal",
            "--- a/src/x.cpp\n+++ b/src/x.cpp\n@@ -1 +1,2 @@\n a\n+  #  include <../../../secrets.txt>\n",
            Rule.INCLUDE,
        ),
        ("huge", "--- a/src/x.cpp\n+++ b/src/x.cpp\n@@ -1 +1,100 @@\n a\n" + "+x;\n" * 99, Rule.TOO_LARGE),
    ],
)
def test_validate_bad_diff_reports_rule(name: str, diff: str, expected: Rule) -> None:
    violations = validate(diff, allowed_paths=("src/",), max_changed_lines=60, repo=None)
    assert expected in _rules(violations), (name, violations)


def test_validate_rename_inside_allowed_tree_is_fine() -> None:
    diff = "diff --git a/src/a.cpp b/src/b.cpp\nsimilarity index 100%\nrename from src/a.cpp\nrename to src/b.cpp\n"
    assert validate(diff, allowed_paths=("src/",), max_changed_lines=60, repo=None) == []


def test_validate_protected_file_explicitly_allowed_passes() -> None:
    diff = _file_diff("src/server/CMakeLists.txt")
    assert (
        validate(
            diff,
            allowed_paths=("src/",),
            max_changed_lines=60,
            repo=None,
            allow_protected=("src/server/CMakeLists.txt",),
        )
        == []
    )
    # allowing a different protected file does not allow this one
    violations = validate(
        diff,
        allowed_paths=("src/",),
        max_changed_lines=60,
        repo=None,
        allow_protected=("src/CMakeLists.txt",),
    )
    assert _rules(violations) == {Rule.PROTECTED}


def test_validate_git_dir_never_allowed_even_when_listed() -> None:
    diff = _file_diff("src/.git/config")
    violations = validate(
        diff, allowed_paths=("src/", "."), max_changed_lines=60, repo=None, allow_protected=("src/.git/",)
    )
    assert Rule.PROTECTED in _rules(violations)


def test_validate_empty_allowed_paths_allows_nothing() -> None:
    assert _rules(validate(GOOD, allowed_paths=(), max_changed_lines=60, repo=None)) == {Rule.OUTSIDE}


def test_validate_whole_tree_allowed_with_dot() -> None:
    assert validate(_file_diff("doc/x.txt"), allowed_paths=(".",), max_changed_lines=60, repo=None) == []


def test_validate_not_applying_reports_apply_rule(repo: Git) -> None:
    stale = GOOD.replace(" victim->SetHealth(0);", " victim->SetHealth(1);")
    violations = validate(stale, allowed_paths=("src/",), max_changed_lines=60, repo=repo)
    assert _rules(violations) == {Rule.APPLY}
    assert "does not apply" in violations[0].message


def test_validate_collects_every_violation_at_once(repo: Git) -> None:
    diff = _file_diff(".github/workflows/ci.yml") + _file_diff("src/../x.cpp")
    violations = validate(diff, allowed_paths=("src/",), max_changed_lines=1, repo=repo)
    assert {Rule.PROTECTED, Rule.OUTSIDE, Rule.TRAVERSAL, Rule.TOO_LARGE} <= _rules(violations)
    assert Rule.APPLY not in _rules(violations)  # unsafe paths never reach git apply


def test_check_bad_patch_raises_patch_rejected_with_all_reasons() -> None:
    with pytest.raises(PatchRejected) as err:
        check(
            _file_diff(".github/workflows/ci.yml"), allowed_paths=("src/",), max_changed_lines=60, repo=None
        )
    assert {v.rule for v in err.value.violations} == {Rule.OUTSIDE, Rule.PROTECTED}
    assert ".github/workflows/ci.yml" in str(err.value)


def test_patch_from_text_garbage_raises_parse_error() -> None:
    with pytest.raises(PatchParseError):
        Patch.from_text("just words\nno diff here\n")


# -- what git applies is what was validated ----------------------------------------------------------

# Only one side carries the a/ prefix: git strips one component from BOTH names (-p1) and picks the
# shorter, so `src/sql/x.sql` as validated would be `sql/x.sql` at the root, outside src/.
MIXED_PREFIX = "--- a/src/sql/x.sql\n+++ src/sql/x.sql\n@@ -1 +1 @@\n-hi\n+DROP TABLE account;\n"


def test_validate_mixed_prefix_diff_validates_the_path_git_writes(git_repo: Git, commit: CommitFn) -> None:
    commit({"src/sql/x.sql": "hi\n", "sql/x.sql": "hi\n"}, "init")
    violations = validate(MIXED_PREFIX, allowed_paths=("src/",), max_changed_lines=10, repo=git_repo)
    if not violations:  # accepted: then git must write exactly the validated file
        git_repo.apply(Patch.from_text(MIXED_PREFIX).text)
        assert (git_repo.repo / "sql/x.sql").read_text() == "hi\n"
        assert "DROP TABLE" in (git_repo.repo / "src/sql/x.sql").read_text()


def test_normalise_mixed_prefix_adds_the_missing_prefix() -> None:
    patch = Patch.from_text(MIXED_PREFIX)
    assert patch.paths == ("src/sql/x.sql",)
    assert "+++ b/src/sql/x.sql" in patch.text


def test_validate_git_header_names_other_than_hunks_rejected(git_repo: Git, commit: CommitFn) -> None:
    """A git-style header whose ---/+++ lines lack the prefix: whatever git would touch must be what
    the rules saw, else the patch is refused."""
    commit({"src/sql/x.sql": "hi\n", "sql/x.sql": "hi\n"}, "init")
    diff = "diff --git a/src/sql/x.sql b/src/sql/x.sql\n" + MIXED_PREFIX
    violations = validate(diff, allowed_paths=("src/",), max_changed_lines=10, repo=git_repo)
    if not violations:
        git_repo.apply(Patch.from_text(diff).text)
        assert (git_repo.repo / "sql/x.sql").read_text() == "hi\n"


def test_validate_git_touching_a_path_the_rules_did_not_see_is_refused(
    git_repo: Git, commit: CommitFn
) -> None:
    """Defence in depth: whatever makes crashbot's parser and git's disagree, git's view is checked."""
    commit({"src/a.cpp": "old\n", "tools/b.cpp": "old\n"}, "init")
    seen = Patch.from_text(_file_diff("src/a.cpp"))
    disagreeing = Patch(files=seen.files, text=_file_diff("tools/b.cpp"))
    violations = validate(disagreeing, allowed_paths=("src/",), max_changed_lines=10, repo=git_repo)
    assert Rule.PATH_MISMATCH in _rules(violations)
    assert any(v.path == "tools/b.cpp" for v in violations)
