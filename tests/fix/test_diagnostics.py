"""bot.build.diagnostics: compiler/linker/build-tool messages from recorded MSVC, ninja and GCC/make logs."""

from __future__ import annotations

import pytest

from bot.build.diagnostics import Diagnostic, Severity, errors, parse, relative_to
from tests.conftest import FIXTURES

LOGS = FIXTURES / "fix" / "logs"


def _log(name: str) -> tuple[Diagnostic, ...]:
    return parse((LOGS / name).read_text(encoding="utf-8"))


def test_parse_msbuild_log_compiler_errors_with_line_and_column() -> None:
    found = _log("msbuild.log")
    first = found[0]
    assert first == Diagnostic(
        file=r"C:\TrinityCore\src\server\game\Entities\Unit\Unit.cpp",
        line=10234,
        column=17,
        severity=Severity.ERROR,
        code="C2065",
        message="'victimm': undeclared identifier",
    )
    assert found[1].line == 10240 and found[1].column is None and found[1].code == "C2039"


def test_parse_msbuild_log_notes_warnings_and_paths_with_parentheses() -> None:
    found = _log("msbuild.log")
    note = next(d for d in found if d.severity is Severity.NOTE)
    assert note.file is not None and note.file.endswith("Unit.h") and note.code is None
    xmemory = next(d for d in found if d.code == "C4244")
    assert xmemory.file is not None and xmemory.file.startswith(r"C:\Program Files (x86)")
    assert xmemory.severity is Severity.WARNING and (xmemory.line, xmemory.column) == (1416, 5)


def test_parse_msbuild_log_linker_errors() -> None:
    by_code = {d.code: d for d in _log("msbuild.log")}
    assert by_code["LNK1104"].file is None  # "LINK :" is the tool, not a file
    assert by_code["LNK1104"].severity is Severity.ERROR
    assert by_code["LNK2019"].file == "Unit.obj"
    assert "Unit::Foo" in by_code["LNK2019"].message
    assert by_code["LNK1120"].file is not None and by_code["LNK1120"].file.endswith("worldserver.exe")


def test_parse_ninja_msvc_log() -> None:
    found = _log("ninja-msvc.log")
    assert [d.code for d in errors(found)] == ["C2660", "ninja"]
    assert found[0].file == r"E:\azerothcore-wotlk\src\server\game\Entities\Object\Object.cpp"
    assert found[0].line == 1123
    assert any(d.code == "D9025" and d.severity is Severity.WARNING for d in found)


def test_parse_gcc_make_log_compiler_linker_and_tool_errors() -> None:
    found = _log("gcc-make.log")
    first = found[0]
    assert (first.line, first.column, first.severity) == (812, 9, Severity.ERROR)
    assert first.message.startswith("'victimm' was not declared")
    no_column = next(d for d in found if d.file and d.file.endswith("Unit.h"))
    assert (no_column.line, no_column.column) == (40, None)
    warning = next(d for d in found if d.code == "-Wunused-variable")
    assert warning.message == "unused variable 'health'"
    undefined = next(d for d in found if d.code == "undefined-reference")
    assert undefined.file == "Main.cpp" and "World::Instance()" in undefined.message
    codes = [d.code for d in errors(found)]
    assert codes.count("make") == 3
    assert "collect2" in codes and "ld.lld" in codes
    cmake = next(d for d in found if d.code == "cmake")
    assert cmake.file == "src/server/game/CMakeLists.txt" and cmake.line == 12
    assert "Missing.cpp" in cmake.message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x.cpp:3:1: error: boom", Diagnostic("x.cpp", 3, 1, Severity.ERROR, None, "boom")),
        (
            r"C:/src/x.cpp:3:1: fatal error: y.h: No such file",
            Diagnostic("C:/src/x.cpp", 3, 1, Severity.ERROR, None, "y.h: No such file"),
        ),
        (
            "\x1b[01m\x1b[Kx.cpp:3:1:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[Kboom",
            Diagnostic("x.cpp", 3, 1, Severity.ERROR, None, "boom"),
        ),
        (
            r"  2>D:\ac\src\a.cpp(5,1): error C2143: syntax error: missing ';' before '}'",
            Diagnostic(
                r"D:\ac\src\a.cpp", 5, 1, Severity.ERROR, "C2143", "syntax error: missing ';' before '}'"
            ),
        ),
        (
            "ninja: error: loading 'build.ninja': No such file",
            Diagnostic(None, None, None, Severity.ERROR, "ninja", "loading 'build.ninja': No such file"),
        ),
    ],
)
def test_parse_single_lines(line: str, expected: Diagnostic) -> None:
    assert parse(line) == (expected,)


def test_parse_ignores_progress_and_dedupes_repeats() -> None:
    text = "[ 50%] Building CXX object a.o\nhttp://example.invalid:80: error: no\nx.cpp:1:1: error: e\nx.cpp:1:1: error: e\n"
    assert parse(text) == (Diagnostic("x.cpp", 1, 1, Severity.ERROR, None, "e"),)


def test_relative_to_strips_checkout_root_any_slash_and_case() -> None:
    found = parse(r"C:\Work\TC\src\a.cpp(1): error C1: x" + "\n/other/b.cpp:1:1: error: y")
    rel = relative_to(found, "c:/work/tc")
    assert [d.file for d in rel] == ["src/a.cpp", "/other/b.cpp"]


def test_diagnostic_str_is_compact() -> None:
    assert str(Diagnostic("a.cpp", 3, 4, Severity.ERROR, "C2065", "m")) == "a.cpp:3:4: error [C2065]: m"
    assert str(Diagnostic(None, None, None, Severity.ERROR, "ninja", "stopped")) == "error [ninja]: stopped"
