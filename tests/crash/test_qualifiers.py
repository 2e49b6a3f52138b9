"""Trailing cv- and ref-qualifiers come off a function name (``Foo::Bar(int) const &&`` is ``Foo::Bar``) in
the three places that strip them (gdb's frame names, location's bare_function, the signature's
normalize_function), and a name made of runs of ``&`` is stripped in one pass.

Regression: each of the three used a pattern of the shape ``(?:\\s*(?:const|&&|&))+$``, which tries every
way of splitting a run of ``&`` into ``&&`` and ``&`` at every position of the name before it fails: time
doubling with every two ``&`` (2 s for 32, never finishing for 60), on a frame name copied from a report."""

from __future__ import annotations

import pytest

from bot.crash import parse_report
from bot.crash.location import bare_function
from bot.crash.normalize import normalize_function

# (name, what bare_function keeps, what normalize_function keeps)
HOSTILE = [
    ("f(int)" + "&" * 60 + "x &", "f(int)" + "&" * 60 + "x &", "f" + "&" * 60 + "x"),
    ("f(int)" + " &" * 4000, "f", "f"),
    ("f(int)" + "&" * 8000, "f", "f"),
    ("f(int)" + " const" * 600 + "x &", "f(int)" + " const" * 600 + "x &", "constx"),
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Foo::Bar(int) const", "Foo::Bar"),
        ("Foo::Bar(int) const &&", "Foo::Bar"),
        ("Foo::Bar(int)const&", "Foo::Bar"),
        ("Foo::Bar(int) volatile const", "Foo::Bar"),
        ("Foo::Bar(int) noexcept", "Foo::Bar"),
        ("Foo::Bar(int) const x", "Foo::Bar(int) const x"),
        ("Foo::Bar", "Foo::Bar"),
    ],
)
def test_bare_function_drops_trailing_qualifiers_and_parameters(raw: str, expected: str) -> None:
    assert bare_function(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Foo::Bar() const &&", "Foo::Bar"),
        ("Foo::Bar() override final", "Foo::Bar"),
        ("Foo::Bar() &", "Foo::Bar"),
        ("Foo::getconst", "Foo::getconst"),  # a word qualifier follows a space here
    ],
)
def test_normalize_function_drops_trailing_qualifiers(raw: str, expected: str) -> None:
    assert normalize_function(raw) == expected


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("name", "bare", "normal"), HOSTILE, ids=["60 &", "4000 spaced &", "8000 &", "600 const"]
)
def test_names_ending_in_long_qualifier_runs_are_stripped_in_one_pass(
    name: str, bare: str, normal: str
) -> None:
    assert bare_function(name) == bare
    assert normalize_function(name) == normal


@pytest.mark.timeout(30)
def test_gdb_frame_named_with_a_run_of_ampersands_is_read() -> None:
    name = "Foo::bar(int)" + "&" * 60 + "x"
    report = parse_report(
        "Program received signal SIGSEGV, Segmentation fault.\n"
        f"#0  0x0000000000401000 in {name} () at /src/a.cpp:12\n"
        "#1  0x0000000000401100 in main () at /src/main.cpp:3\n"
    )
    assert report.threads[0].frames[0].function == name
    assert report.threads[0].frames[0].line == 12
