"""C++ name normalisation: one spelling per function whatever printed it."""

from __future__ import annotations

import pytest

from bot.crash.normalize import file_basename, normalize_function, normalize_module, normalize_offset


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # plain names, parameters, qualifiers, return types
        ("WorldSession::HandleAddIgnoreOpcode", "WorldSession::HandleAddIgnoreOpcode"),
        ("WorldSession::HandleAddIgnoreOpcode(WorldPacket&)", "WorldSession::HandleAddIgnoreOpcode"),
        (
            "WorldSession::HandleAddIgnoreOpcode (this=0x1, recv_data=...)",
            "WorldSession::HandleAddIgnoreOpcode",
        ),
        ("WorldObject::GetMap(void) const", "WorldObject::GetMap"),
        ("Foo::bar() const &&", "Foo::bar"),
        ("Foo::bar() volatile noexcept", "Foo::bar"),
        ("void Foo::bar<int>(int)", "Foo::bar<T>"),
        ("Unit * __cdecl Foo::Bar(void)", "Foo::Bar"),
        ("std::vector<int> const& Foo::get() const", "Foo::get"),
        (
            "acore::Assert(const char * file, int line, const char * function, const std::string & d, ...)",
            "acore::Assert",
        ),
        # templates
        (
            "std::basic_string<char, std::char_traits<char>, std::allocator<char> >::~basic_string()",
            "std::basic_string<T>::~basic_string",
        ),
        (
            "std::vector<Player *,std::allocator<Player *> >::_Emplace_reallocate<Player * const &>",
            "std::vector<T>::_Emplace_reallocate<T>",
        ),
        ("std::function<void(PlayerbotScript*)>::operator()", "std::function<T>::operator()"),
        ("ExecuteScript<PlayerbotScript>", "ExecuteScript<T>"),
        # operators survive
        ("Foo::operator<(Foo const&) const", "Foo::operator<"),
        ("Foo::operator<<<int>(int)", "Foo::operator<<<T>"),
        ("Foo::operator->() const", "Foo::operator->"),
        ("Foo::operator bool() const", "Foo::operator bool"),
        ("Foo::operator new(unsigned long)", "Foo::operator new"),
        ("Foo::operator&(Foo const&)", "Foo::operator&"),
        ("Foo::operator()(int) const", "Foo::operator()"),
        # cdb / VS decoration
        (
            "worldserver!Playerbot::CombatStateManager::OnShutdown+0x132",
            "Playerbot::CombatStateManager::OnShutdown",
        ),
        (
            "worldserver!std::_Packaged_state<void __cdecl(void)>::_Call_immediate+0x1f",
            "std::_Packaged_state<T>::_Call_immediate",
        ),
        ("[inline] main::__l55::<lambda_4>::operator()", "main::{lambda}::operator()"),
        # lambdas: MSVC, gcc, clang spell them differently and number them by position
        (
            "worldserver!`Playerbot::BotWorldSessionMgr::UpdateSessions'::`109'::<lambda_1>::operator()+0xa6b",
            "Playerbot::BotWorldSessionMgr::UpdateSessions::{lambda}::operator()",
        ),
        (
            "ScriptMgr::OnPlayerLogin(Player*, bool)::{lambda(Player*)#2}::operator()(Player*) const",
            "ScriptMgr::OnPlayerLogin::{lambda}::operator()",
        ),
        (
            "ScriptMgr::OnPlayerLogin(Player*, bool)::$_12::operator()() const",
            "ScriptMgr::OnPlayerLogin::{lambda}::operator()",
        ),
        (
            "Foo::{lambda(std::pair<int, int>, (anonymous namespace)::X)#1}::operator()",
            "Foo::{lambda}::operator()",
        ),
        (
            "boost::asio::detail::binder0<`main'::`55'::<lambda_4> >::operator()",
            "boost::asio::detail::binder0<T>::operator()",
        ),
        # anonymous namespaces in every spelling
        ("(anonymous namespace)::Foo::bar(int) const [clone .cold]", "Foo::bar"),
        ("`anonymous namespace'::Foo::bar", "Foo::bar"),
        ("{anonymous}::Foo::bar", "Foo::bar"),
        # compiler clones, inline std namespaces, deleting destructors
        ("Foo::bar(int) [clone .isra.0] [clone .cold]", "Foo::bar"),
        ("Foo::bar.part.0", "Foo::bar"),
        ("PlayerbotAI::TellMaster(std::__cxx11::basic_string<char>, int)", "PlayerbotAI::TellMaster"),
        ("std::__cxx11::list<int>::clear()", "std::list<T>::clear"),
        ("std::__1::vector<int>::at(unsigned long)", "std::vector<T>::at"),
        (
            "Playerbot::CombatStateManager::`scalar deleting destructor'",
            "Playerbot::CombatStateManager::{deleting-dtor}",
        ),
        # exports-only decorated names
        ("?AddSpellMod@Player@@QEAAXPEAUSpellModifier@@_N@Z", "Player::AddSpellMod"),
        # truncated copies
        ("Map::Update(const unsigned int t_diff, const unsi", "Map::Update"),
        ("std::vector<Player *,std::alloc", "std::vector<T>"),
        # C functions
        ("__pthread_kill_implementation", "__pthread_kill_implementation"),
        ("memmove", "memmove"),
        ("", ""),
    ],
)
def test_normalize_function_known_spellings_reduce_to_qualified_name(raw: str, expected: str) -> None:
    assert normalize_function(raw) == expected


@pytest.mark.parametrize(
    ("spellings"),
    [
        (
            "Unit::DealDamage(Unit*, Unit*, unsigned int, CleanDamage const*, DamageEffectType)",
            "Unit::DealDamage(Unit * attacker, Unit * victim, unsigned int damage, const CleanDamage * cd, DamageEffectType t)",
            "worldserver!Unit::DealDamage+0x1f3",
            "Unit::DealDamage",
            "[inline] Unit::DealDamage",
        ),
        (
            "`Foo::Run'::`2'::<lambda_1>::operator()",
            "`Foo::Run'::`7'::<lambda_3>::operator()",
            "Foo::Run()::{lambda()#1}::operator()() const",
            "Foo::Run()::{lambda()#4}::operator()() const",
        ),
    ],
)
def test_normalize_function_debugger_spellings_of_one_function_agree(spellings: tuple[str, ...]) -> None:
    assert len({normalize_function(s) for s in spellings}) == 1


def test_normalize_function_distinct_functions_stay_distinct() -> None:
    names = [
        "Unit::DealDamage",
        "Unit::Kill",
        "Player::DealDamage",
        "Unit::DealDamage<T>",
        "Foo::operator<",
        "Foo::operator>",
    ]
    assert len({normalize_function(n) for n in names}) == len(names)


def test_normalize_function_very_long_names_are_bounded() -> None:
    assert len(normalize_function("A::" * 1000 + "f")) <= 300


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"D:\wow\new_wowserver\New_Worldserver.EXE", "new_worldserver.exe"),
        ("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "libstdc++.so.6"),
        ("KERNELBASE", "kernelbase"),
    ],
)
def test_normalize_module_path_and_case_dropped(raw: str, expected: str) -> None:
    assert normalize_module(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0001:000000000015B4A8", "1:15b4a8"),
        ("01:000000000015b4a8", "1:15b4a8"),
        ("0x1A06D", "0x1a06d"),
        ("0x0000", "0x0"),
        ("0000:0000000000000000", "0:0"),
    ],
)
def test_normalize_offset_leading_zeros_and_case_dropped(raw: str, expected: str) -> None:
    assert normalize_offset(raw) == expected


def test_file_basename_windows_and_posix_paths() -> None:
    assert file_basename(r"D:\a\b\Field.cpp") == "Field.cpp"
    assert file_basename("/root/src/MiscHandler.cpp") == "MiscHandler.cpp"
