"""MSVC names: undecoration follows the mangling grammar; argument lists come off readable signatures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.crash.msvc import readable_name, strip_arguments, undecorate

# (decorated, undecorated) pairs; the right-hand side is what dbghelp's undecorator prints for the name.
UNDECORATE_CASES = [
    ("?AddSpellMod@Player@@QEAAXPEAUSpellModifier@@_N@Z", "Player::AddSpellMod"),
    ("?_Winerror_message@std@@YAKKPEADK@Z", "std::_Winerror_message"),
    ("?GetMap@WorldObject@@QEBAPEAVMap@@XZ", "WorldObject::GetMap"),
    ("?Update@Map@@UEAAXI@Z", "Map::Update"),
    # constructors and destructors are named after their class (the innermost scope)
    ("??0Player@@QEAA@PEAVWorldSession@@@Z", "Player::Player"),
    ("??1Player@@UEAA@XZ", "Player::~Player"),
    (
        "??0?$vector@HV?$allocator@H@std@@@std@@QEAA@XZ",
        "std::vector<int,std::allocator<int> >::vector<int,std::allocator<int> >",
    ),
    # a member template of a class template, with back-references inside the template arguments
    (
        "??$_Emplace_reallocate@AEBQEAVPlayer@@@?$vector@PEAVPlayer@@V?$allocator@PEAVPlayer@@@std@@@std@@"
        "QEAAPEAPEAVPlayer@@QEAPEAV2@AEBQEAV2@@Z",
        "std::vector<Player *,std::allocator<Player *> >::_Emplace_reallocate<Player * const &>",
    ),
    # an operator template; ``0`` and ``1`` in the signature refer back to ``std`` and ``basic_ostream<…>``
    (
        "??$?6U?$char_traits@D@std@@@std@@YAAEAV?$basic_ostream@DU?$char_traits@D@std@@@0@AEAV10@PEBD@Z",
        "std::operator<<<std::char_traits<char> >",
    ),
    # a lambda local to a member function: the enclosing function is itself a full decorated symbol
    (
        "??R<lambda_1>@?1??_teleportBot@BotMgr@@AEAAXPEAVPlayer@@@Z@QEBA@XZ",
        "`BotMgr::_teleportBot'::`2'::<lambda_1>::operator()",
    ),
    ("?$TSS0@?1??Instance@World@@SAPEAV2@XZ@4HA", "`World::Instance'::`2'::$TSS0"),
    ("?foo@?A0x1234abcd@@YAXXZ", "`anonymous namespace'::foo"),
    ("??_7Player@@6B@", "Player::`vftable'"),
    ("??_GPlayer@@UEAAPEAXI@Z", "Player::`scalar deleting destructor'"),
    ("??BFoo@@QEBAHXZ", "Foo::operator int"),
    ("??4Foo@@QEAAAEAV0@AEBV0@@Z", "Foo::operator="),
    ("??_UFoo@@SAPEAX_K@Z", "Foo::operator new[]"),
    ("?x@@3HA", "x"),
    ("?Func@@YAXP6AHH@Z@Z", "Func"),
    ("?Func@@YAXP8Foo@@EAAHH@Z@Z", "Func"),
    (
        "??$make_shared@VFoo@@$$V@std@@YA?AV?$shared_ptr@VFoo@@@0@XZ",
        "std::make_shared<Foo>",
    ),
    ("??$Get@$0BA@@Cfg@@SAHXZ", "Cfg::Get<16>"),
    # the encoding after a complete name was cut off by a copy: the name is still good
    ("?AddSpellMod@Player@@QEAAX", "Player::AddSpellMod"),
]


@pytest.mark.parametrize(("decorated", "expected"), UNDECORATE_CASES)
def test_undecorate_decorated_name_gives_qualified_name(decorated: str, expected: str) -> None:
    assert undecorate(decorated) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Player::AddSpellMod",  # not decorated
        "?AddSpell",  # name never terminated
        "?",
        "??",
        "?@",
        "?5@@",  # backreference to nothing
        "??$vector@H",  # template arguments never closed
        "?" + "?$a@" * 200,  # nesting beyond the bound
        "?" + "A" * 5000 + "@@YAXXZ",  # longer than any real name
    ],
)
def test_undecorate_not_a_valid_name_gives_none(text: str) -> None:
    assert undecorate(text) is None


def test_readable_name_plain_name_is_unchanged() -> None:
    assert readable_name("`main'::`55'::<lambda_4>::operator()") == "`main'::`55'::<lambda_4>::operator()"


def test_readable_name_malformed_decorated_name_is_kept_as_printed() -> None:
    assert readable_name("?Broken") == "?Broken"


def test_readable_name_decorated_name_is_undecorated() -> None:
    assert readable_name("?GetMap@WorldObject@@QEBAPEAVMap@@XZ") == "WorldObject::GetMap"


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (
            "acore::Assert(const char * file, int line, const char * function, const std::string & debugInfo, "
            "const char * message, const char * format, ...)",
            "acore::Assert",
        ),
        ("Foo::operator()(int x)", "Foo::operator()"),
        ("Foo::operator()", "Foo::operator()"),
        ("Foo::operator<(const Foo & o)", "Foo::operator<"),
        ("Foo::operator<<(int)", "Foo::operator<<"),
        ("Foo<void(int)>::bar(std::function<void(int)> f) const", "Foo<void(int)>::bar"),
        (
            "std::_Func_impl_no_alloc<void <lambda>(void),void>::_Do_call()",
            "std::_Func_impl_no_alloc<void <lambda>(void),void>::_Do_call",
        ),
        ("`anonymous namespace'::Helper::run(int x) noexcept", "`anonymous namespace'::Helper::run"),
        ("BaseThreadInitThunk", "BaseThreadInitThunk"),
        # cut off inside the argument list
        ("Map::Update(const unsigned int t_diff, const unsi", "Map::Update"),
        ("Foo::operator<(const Foo & o", "Foo::operator<"),
        ("Foo<void(int)>::bar(int a", "Foo<void(int)>::bar"),
    ],
)
def test_strip_arguments_signature_gives_name(signature: str, expected: str) -> None:
    assert strip_arguments(signature) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="?@$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_<>abc", max_size=80))
def test_undecorate_arbitrary_mangled_alphabet_never_raises(text: str) -> None:
    result = undecorate("?" + text)
    assert result is None or isinstance(result, str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_strip_arguments_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(strip_arguments(text), str)


def test_strip_arguments_long_unbalanced_line_returns() -> None:
    """A 2 MB damaged line must come back in linear time (no backtracking)."""
    text = "Foo<" * 500_000 + "(" * 10
    assert strip_arguments(text).startswith("Foo<")
