"""Itanium demangling: the qualified name of GCC/Clang symbols, and the same signature either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.crash import analyse, parse_report
from bot.crash.itanium import MAX_MANGLED, demangle
from bot.crash.normalize import normalize_function
from bot.crash.parsers import gdb

PAIRS = Path(__file__).resolve().parent.parent / "fixtures" / "crash" / "itanium" / "cxxfilt-pairs.tsv"


@pytest.mark.parametrize(
    ("mangled", "name"),
    [
        ("_ZN6Player11RemoveSpellEjbb", "Player::RemoveSpell"),
        ("_Z3usev", "use"),
        ("_ZL15internal_helperi", "internal_helper"),
        ("_ZN6PlayerC2Ev", "Player::Player"),
        ("_ZN6PlayerD0Ev", "Player::~Player"),
        ("_ZNK4Unit7IsAliveEv", "Unit::IsAlive"),
        ("_ZNKR4Unit7IsAliveEv", "Unit::IsAlive"),
        ("_ZN7Trinity4Impl3BoxIiEpLERKS2_", "Trinity::Impl::Box<T>::operator+="),
        ("_ZNK7Trinity4Impl3BoxIiEltERKS2_", "Trinity::Impl::Box<T>::operator<"),
        ("_ZNK7Trinity4Impl3BoxIiE2asIdEET_v", "Trinity::Impl::Box<T>::as<T>"),
        ("_ZNK7Trinity4Impl3BoxIiEcvbEv", "Trinity::Impl::Box<T>::operator bool"),
        ("_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<T>::push_back"),
        ("_ZNSt6vectorIiSaIiEEC2Ev", "std::vector<T>::vector"),
        ("_ZNSs4sizeEv", "std::basic_string<T>::size"),
        ("_ZNSo9_M_insertIdEERSoT_", "std::basic_ostream<T>::_M_insert<T>"),
        ("_ZStlsISt11char_traitsIcEERSt13basic_ostreamIcT_ES5_PKc", "std::operator<< <T>"),
        ("_Z5fixedILi3EEiv", "fixed<T>"),
        ("_Z5fixedILin2EEiv", "fixed<T>"),
        ("_ZN12_GLOBAL__N_16Hidden3runEi", "(anonymous namespace)::Hidden::run"),
        ("_ZNK6Player7GetNameB5cxx11Ev", "Player::GetName[abi:cxx11]"),
        ("_ZZN6Player6UpdateEjENKUlvE_clEv", "Player::Update()::{lambda()#1}::operator()"),
        ("_ZZN6Player6UpdateEjENKUliE0_clEi", "Player::Update()::{lambda()#2}::operator()"),
        ("_ZThn8_N3Bot4TickEi", "non-virtual thunk to Bot::Tick"),
        ("_ZTv0_n24_N4UnitD1Ev", "virtual thunk to Unit::~Unit"),
        ("_ZN3Map6UpdateEj.cold", "Map::Update"),
        ("_ZN3Map6UpdateEj.isra.0", "Map::Update"),
    ],
)
def test_demangle_common_shapes_give_the_qualified_name(mangled: str, name: str) -> None:
    assert demangle(mangled) == name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Player::Update",
        "_Z",
        "_ZN",
        "_ZN6Player",
        "_ZN6Player16learnSkillRewardedSpellsEjj",  # a length that runs past the name: not a mangling
        "_ZN99xE",
        "_ZTV6Player",  # a vtable, not a function
        "_Z" + "N1A" * 200 + "E",
        "_Z" + "IN" * 100,
        "_ZN1A" + "IN1B" * 60 + "E" * 121,
        "_Z" + "x" * MAX_MANGLED,
    ],
)
def test_demangle_anything_else_is_none_never_an_exception(text: str) -> None:
    assert demangle(text) is None


def _pairs() -> list[tuple[str, str]]:
    rows = (line.split("\t") for line in PAIRS.read_text(encoding="utf-8").splitlines() if line)
    return [(mangled, readable) for mangled, readable in rows]


def test_demangle_normalises_like_cxxfilt_on_real_symbols() -> None:
    """292 symbols from g++ 12 objects (a sample with templates, lambdas, operators, virtual bases; the demo
    worldserver; libstdc++), each with GNU c++filt 2.40's spelling: the mangled name must normalise to
    exactly what the demangled one does, or one crash would sign two ways."""
    pairs = _pairs()
    assert len(pairs) > 250
    mismatches = [
        (mangled, normalize_function(mangled), normalize_function(readable))
        for mangled, readable in pairs
        if normalize_function(mangled) != normalize_function(readable)
    ]
    assert mismatches == []


def _gdb_log(frames: list[str]) -> str:
    lines = ['Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.']
    lines += [
        f"#{n}  0x{0x555555554000 + 0x40 * n:016x} in {f} () from ./worldserver" for n, f in enumerate(frames)
    ]
    return "\n".join(lines) + "\n"


def test_signature_mangled_and_demangled_backtraces_sign_the_same() -> None:
    mangled = _gdb_log(
        ["_ZNK4Unit7IsAliveEv", "_ZN6Player11RemoveSpellEjbb", "_ZZN6Player6UpdateEjENKUlvE_clEv", "_Z3usev"]
    )
    readable = _gdb_log(
        [
            "Unit::IsAlive() const",
            "Player::RemoveSpell(unsigned int, bool, bool)",
            "Player::Update(unsigned int)::{lambda()#1}::operator()() const",
            "use()",
        ]
    )
    ours, theirs = analyse(parse_report(mangled)), analyse(parse_report(readable))
    assert (
        ours.signature.text
        == "SIGSEGV | Unit::IsAlive | Player::RemoveSpell | Player::Update::{lambda}::operator()"
    )
    assert (ours.signature.id, ours.signature.full_id) == (theirs.signature.id, theirs.signature.full_id)


def test_gdb_frame_printed_mangled_gets_the_readable_name() -> None:
    (thread,) = gdb.parse(_gdb_log(["_ZN6Player11RemoveSpellEjbb@@GLIBCXX_3.4"]).splitlines()).threads
    assert thread.frames[0].function == "Player::RemoveSpell"
