"""Specification: one table of Linux signals for every reader (gdb logs, vMaNGOS logs, cores, signatures)."""

from __future__ import annotations

from bot.crash import signals


def test_a_signal_number_is_named_as_linux_numbers_it_whatever_the_host() -> None:
    assert signals.name_of(11) == signals.name_of("11") == "SIGSEGV"
    assert (signals.name_of(6), signals.name_of(7), signals.name_of(31)) == ("SIGABRT", "SIGBUS", "SIGSYS")


def test_a_number_the_table_does_not_name_keeps_its_number() -> None:
    assert signals.name_of(64) == "SIG64"


def test_the_shell_s_descriptions_are_of_named_signals() -> None:
    assert signals.DESCRIPTIONS["SIGSEGV"] == "Segmentation fault"
    assert set(signals.DESCRIPTIONS) <= set(signals.NAMES.values())
