"""bot.fix.directives: the ways an added line can make the compiler read a file outside the checkout.

Every attack below was a bypass of the old one-regex check (issue 11) or is its close cousin; every
benign line is something a real crash fix writes and must keep passing.
"""

from __future__ import annotations

import pytest

from bot.fix.directives import escapes, findings, strip_comments
from bot.fix.patch import Rule, validate

SECRET = "/home/runner/.ssh/id_rsa"


def _added(*lines: str) -> list[tuple[str, bool]]:
    return [(line, True) for line in lines]


ATTACKS = {
    "plain absolute include": _added(f'#include "{SECRET}"'),
    "angle traversal": _added("  #  include <../../../secrets.txt>"),
    "computed include": _added(f'#define SECRET_FILE "{SECRET}"', "#include SECRET_FILE"),
    "computed include alone": _added("#include SECRET_FILE"),
    "digraph include": _added(f'%:include "{SECRET}"'),
    "trigraph include": _added(f'??=include "{SECRET}"'),
    "comment between # and include": _added(f'#/**/include "{SECRET}"'),
    "comment before #": _added(f'/* x */ #include "{SECRET}"'),
    "line-continued include": _added("#inc\\", f'lude "{SECRET}"'),
    "continued with trailing space": _added("#include \\ ", f'"{SECRET}"'),
    "trigraph continuation": _added("#include ??/", f'"{SECRET}"'),
    "embed": _added("static const char k[] = {", '#embed "key.pem"', "};"),
    "computed embed": _added("#embed SECRET_FILE limit(64)"),
    "include_next": _added("#include_next <stdio.h>"),
    "import": _added('#import "x.h"'),
    "has_include of an absolute path": _added(f'#if __has_include("{SECRET}")', "#endif"),
    "has_include computed": _added("#if __has_include(SECRET_FILE)", "#endif"),
    "has_embed traversal": _added('#if __has_embed("../../x")', "#endif"),
    "asm incbin": _added(f'asm(".incbin \\"{SECRET}\\"");'),
    "asm incbin split across strings": _added('__asm__(".in" "cbin \\"/etc/shadow\\"");'),
    "incbin in a raw string": _added('const char* s = R"(.incbin "/etc/passwd")";'),
    "incbin in an .S file": _added('    .incbin "/etc/passwd"'),
    "pragma comment linker": _added('#pragma comment(linker, "/include:\\\\\\\\host\\\\share\\\\x")'),
    "pragma comment lib": _added('#pragma comment(lib, "\\\\\\\\evil\\\\x.lib")'),
    "_Pragma comment": _added('_Pragma("comment(lib, \\"x.lib\\")")'),
    "__pragma comment": _added('__pragma(comment(linker, "/x"))'),
    "pragma GCC dependency": _added(f'#pragma GCC dependency "{SECRET}"'),
    "token pasting macro": _added("#define CAT(a, b) a##b", 'CAT(as, m)(".long 0");'),
    "header unit import": _added(f'import "{SECRET}";'),
}


@pytest.mark.parametrize("lines", ATTACKS.values(), ids=ATTACKS.keys())
def test_findings_refuse_each_way_to_read_a_file_outside_the_tree(lines: list[tuple[str, bool]]) -> None:
    assert findings(lines), lines


BENIGN = {
    "relative include": _added('#include "Unit.h"'),
    "system include": _added("#include <memory>"),
    "nested relative include": _added('#include "Entities/Player/Player.h"'),
    "null check": _added("    if (!victim)", "        return;"),
    "a string that mentions includes": _added('    LOG_ERROR("misc", "#include failed for {}", name);'),
    "include in a comment": _added('// #include "/etc/passwd" was removed here'),
    "digit separators": _added("    uint32 const limit = 1'000'000; // '/*' is not a comment"),
    "pragma once": _added("#pragma once"),
    "pragma warning": _added("#pragma warning(disable: 4100)"),
    "define of a number": _added("#define MAX_PLAYERS 1000"),
    "has_include of a repo header": _added('#if __has_include("Config.h")', "#endif"),
    "word containing asm": _added("    int plasma = spasm + asmCount;"),
    "asm inside a string": _added('    std::string what = "asm";'),
}


@pytest.mark.parametrize("lines", BENIGN.values(), ids=BENIGN.keys())
def test_findings_leave_what_real_fixes_write_alone(lines: list[tuple[str, bool]]) -> None:
    assert findings(lines) == []


def test_findings_see_a_directive_that_an_added_line_only_continues() -> None:
    """The context line opens the directive; the added line finishes it with the path."""
    new_side = [("#include \\", False), (f'"{SECRET}"', True)]
    assert findings(new_side)


def test_findings_ignore_context_lines_nobody_added() -> None:
    assert findings([(f'#include "{SECRET}"', False), ("int x;", True)]) == []


def test_findings_refuse_a_hunk_that_starts_mid_directive() -> None:
    """With -U0 the line above (perhaps ``#\\``) is not in the diff: a leading ``include`` is suspect."""
    assert findings([(f'include "{SECRET}"', True)])


def test_findings_see_through_a_comment_the_hunk_cannot_show_closed() -> None:
    """An added ``*/`` can end a comment opened above the hunk: a line after it counts as code."""
    assert findings([("*/", True), (f'#include "{SECRET}"', True)])
    assert findings([("/*", False), (f'#include "{SECRET}"', True)])


def test_strip_comments_keeps_strings_and_reports_an_open_comment() -> None:
    assert strip_comments('a "/* not */" b // c', in_comment=False) == ('a "/* not */" b ', False)
    assert strip_comments("x /* open", in_comment=False) == ("x  ", True)
    assert strip_comments("still */ y", in_comment=True) == ("  y", False)


@pytest.mark.parametrize(
    ("path", "outside"),
    [
        ("/etc/passwd", True),
        ("\\\\host\\share\\x", True),
        ("C:/Users/runner/x", True),
        ("~/.ssh/id_rsa", True),
        ("a/../../b", True),
        ("..\\x", True),
        ("Unit.h", False),
        ("a/b..c/d.h", False),
    ],
)
def test_escapes(path: str, outside: bool) -> None:
    assert escapes(path) is outside


def test_validate_reports_each_trick_as_an_include_violation_on_its_file() -> None:
    diff = "--- a/src/x.cpp\n+++ b/src/x.cpp\n@@ -1 +1,2 @@\n a\n+%:include SECRET_FILE\n"
    violations = validate(diff, allowed_paths=("src/",), max_changed_lines=10, repo=None)
    assert [(v.rule, v.path) for v in violations] == [(Rule.INCLUDE, "src/x.cpp")]
    assert "computed #include" in violations[0].message


def test_validate_checks_files_of_any_name() -> None:
    """A .txt the patch adds can be #included by a .cpp it changes."""
    diff = f'--- /dev/null\n+++ b/src/data.txt\n@@ -0,0 +1 @@\n+#include "{SECRET}"\n'
    violations = validate(diff, allowed_paths=("src/",), max_changed_lines=10, repo=None)
    assert [v.rule for v in violations] == [Rule.INCLUDE]
