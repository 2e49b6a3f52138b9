"""Linux signals as crash reports print them: numbers, names and the shell's descriptions.

The table is Linux's numbering on x86-64 and arm64, where Linux worldservers run. Reports are read on any
host (a Windows runner reads a Linux server's gdb log), so the host's own ``signal`` module is not the table.
"""

from __future__ import annotations

NAMES: dict[int, str] = {
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    5: "SIGTRAP",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    11: "SIGSEGV",
    13: "SIGPIPE",
    15: "SIGTERM",
    24: "SIGXCPU",
    25: "SIGXFSZ",
    31: "SIGSYS",
}

# What the shell prints when a process dies of the signal (``Segmentation fault``).
DESCRIPTIONS: dict[str, str] = {
    "SIGSEGV": "Segmentation fault",
    "SIGABRT": "Aborted",
    "SIGBUS": "Bus error",
    "SIGFPE": "Floating point exception",
    "SIGILL": "Illegal instruction",
}


def name_of(number: int | str) -> str:
    """``SIGSEGV`` for 11 (or ``"11"``); ``SIG<n>`` for a number the table does not name."""
    n = int(number)
    return NAMES.get(n, f"SIG{n}")
