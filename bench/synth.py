"""Synthetic crash reports in the real layouts (Wheaty .txt, gdb log), for property tests and the bench.

Layouts follow shared/reference/crash-formats.md; every knob is a thing a signature must (or must not)
react to: the functions and exception code must change it, the rest must not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

EXCEPTION_NAMES = {
    "C0000005": "ACCESS_VIOLATION",
    "C00000FD": "STACK_OVERFLOW",
    "C0000094": "INT_DIVIDE_BY_ZERO",
}
IDLE_THREAD = ("ZwWaitForSingleObject", "WaitForSingleObjectEx", "MapUpdater::WorkerThread")


@dataclass(frozen=True)
class Knobs:
    """What varies between two reports of the same crash."""

    base: int = 0x7FF6A1B20000
    root: str = "D:\\build\\TrinityCore\\"
    date: str = "Date 2:3:2024. Time 14:5 "
    revision: str = "6ab3b1c7f2e1 2024-03-02 11:22:33 +0100"
    line_shift: int = 0
    newline: str = "\r\n"


def _frame_line(
    address: int, function: str, path: str | None, line: int | None, *, frame: int = 0xC1E2FFF5D0
) -> str:
    text = f"{address:016X}  {frame:016X}  {function}+{(address & 0xFFF):X}"
    if path is not None and line is not None:
        text += f"  {path} line {line}"
    return text


def _thread(functions: Sequence[str], knobs: Knobs, salt: int) -> list[str]:
    lines = ["Call stack:", "Address   Frame     Function      SourceFile"]
    for depth, function in enumerate(functions):
        address = knobs.base + 0x1000 * (salt * 64 + depth) + 0x2E
        server = "::" in function
        path = f"{knobs.root}src\\server\\game\\{function.split('::')[0]}.cpp" if server else None
        line = 100 + 17 * depth + knobs.line_shift if server else None
        lines.append(_frame_line(address, function, path, line))
    lines.extend(["00007FFB3C7A7344  000000C1E2FFFC00  BaseThreadInitThunk+14", ""])
    return lines


# One worker pool's idle stack, as a report from a server without its .pdb prints it (innermost first), and
# the names in it that are OS DLL exports (printed even without the server's .pdb).
OS_EXPORTS = frozenset(
    {
        "NtRemoveIoCompletion",
        "GetQueuedCompletionStatus",
        "_recalloc",
        "BaseThreadInitThunk",
        "RtlUserThreadStart",
    }
)
POOL_THREAD = (
    "NtRemoveIoCompletion",
    "GetQueuedCompletionStatus",
    "boost::asio::detail::win_iocp_io_context::do_one",
    "boost::asio::detail::win_iocp_io_context::run",
    "Trinity::Asio::IoContext::run",
    "boost::asio::detail::win_thread_function",
    "_recalloc",
    "BaseThreadInitThunk",
    "RtlUserThreadStart",
)


def _unsymbolised_thread(functions: Sequence[str], knobs: Knobs, stack: int, *, pool: bool) -> list[str]:
    """A block from a server run without its .pdb (common for builds copied to a game host): frames in
    worldserver.exe print as ``0001:offset path``, OS DLL frames keep their export names. Threads of one
    pool run the same code, so they print the same addresses; only their frame pointers differ."""
    exe = f"{knobs.root}bin\\worldserver.exe"
    lines = ["Call stack:", "Address   Frame     Function      SourceFile"]
    for depth, function in enumerate(functions):
        address = knobs.base + 0x1000 * ((1 if pool else 0) * 64 + depth) + 0x2E  # the fault is stack 0's top
        frame = 0xAB65000000 + stack * 0x100000 + depth * 0x60
        if function not in OS_EXPORTS:
            lines.append(f"{address:016X}  {frame:016X}  0001:{address - knobs.base:016X} {exe}")
        else:
            lines.append(_frame_line(address, function, None, None, frame=frame))
    lines.append("")
    return lines


def unsymbolised_wheaty_report(functions: Sequence[str], *, pool_threads: int, knobs: Knobs = Knobs()) -> str:
    """A Wheaty report whose crashing thread is ``functions`` and whose other threads are ``pool_threads``
    idle workers of one pool, from a server without its .pdb (see :func:`_unsymbolised_thread`)."""
    lines = list(wheaty_lines(functions, knobs=knobs, other_threads=0))
    start = lines.index("Call stack:")
    del lines[start:]
    lines += _unsymbolised_thread(functions, knobs, 0, pool=False)
    for stack in range(1, pool_threads + 1):
        lines += _unsymbolised_thread(POOL_THREAD, knobs, stack, pool=True)
    return knobs.newline.join(lines) + knobs.newline


def wheaty_lines(
    functions: Sequence[str],
    *,
    code: str = "C0000005",
    knobs: Knobs = Knobs(),
    other_threads: int = 3,
    locals_per_frame: int = 0,
) -> Iterator[str]:
    """Yield the lines of a Wheaty report whose crashing thread is ``functions`` (innermost first)."""
    fault = knobs.base + 0x2E
    yield f"Revision: TrinityCore rev. {knobs.revision} (master branch) (Win64, RelWithDebInfo, Static)"
    yield knobs.date
    yield "//====================================================="
    yield "*** Hardware ***"
    yield "Processor: AMD Ryzen 7 5800X 8-Core Processor"
    yield "Number Of Processors: 16"
    yield "Physical Memory: 33476172 KB (Available: 20123456 KB)"
    yield "Commit Charge Limit: 38456320 KB"
    yield ""
    yield "*** Operation System ***"
    yield "Windows 10 Professional (Version 10.0, Build 19045)"
    yield ""
    yield "//====================================================="
    yield f"Exception code: {code} {EXCEPTION_NAMES.get(code, '')}".rstrip()
    yield f"Fault address:  {fault:016X} 01:{fault - knobs.base + 0x1000:016X} {knobs.root}bin\\worldserver.exe"
    yield ""
    yield "Registers:"
    for n, reg in enumerate(("RAX", "RBX", "RCX", "RDX", "RSI", "RDI")):
        yield f"{reg}:{knobs.base + 0x9E3779B1 * n:016X}"
    yield f"CS:RIP:0033:{fault:016X}"
    yield "SS:RSP:002B:00000000E2FFF570  RBP:00000000"
    yield "DS:002B  ES:002B  FS:0053  GS:002B"
    yield "Flags:00010246"
    yield ""
    yield from _thread(functions, knobs, 0)
    for i in range(other_threads):
        yield from _thread(IDLE_THREAD, knobs, i + 1)
    if locals_per_frame:
        yield "========================"
        yield "Local Variables And Parameters"
        yield ""
        for t in range(other_threads + 1):
            stack = functions if t == 0 else IDLE_THREAD
            yield "Call stack:"
            yield "Address   Frame     Function      SourceFile"
            for depth, function in enumerate(stack):
                yield _frame_line(knobs.base + 0x1000 * (t * 64 + depth), function, None, None)
                for v in range(locals_per_frame):
                    yield f"\tLocal class Unit * var{v} = 0x{knobs.base + v:016X}"
                    yield f'\t\tLocal std::string name{v} = "{"x" * 40}"'
                yield ""


def wheaty_report(functions: Sequence[str], **kwargs: object) -> str:
    knobs = kwargs.get("knobs", Knobs())
    assert isinstance(knobs, Knobs)
    return knobs.newline.join(wheaty_lines(functions, **kwargs)) + knobs.newline  # type: ignore[arg-type]


def gdb_report(
    functions: Sequence[str], *, signal: str = "SIGSEGV", knobs: Knobs = Knobs(), locals_per_frame: int = 2
) -> str:
    """A gdb ``bt full`` crash log whose crashing thread is ``functions``."""
    root = knobs.root.replace("\\", "/").replace("D:/", "/home/steam/").replace(":", "")
    out = [
        "[New Thread 0x7fffe8ff9640 (LWP 3017)]",
        "",
        f'Thread 12 "MapUpdater" received signal {signal}, Segmentation fault.',
        "[Switching to Thread 0x7fffe8ff9640 (LWP 3021)]",
        "(gdb) bt full",
    ]
    for depth, function in enumerate(functions):
        address = knobs.base + 0x1000 * depth + 0x2E
        line = 100 + 17 * depth + knobs.line_shift
        path = f"{root}src/server/game/{function.split('::')[0]}.cpp"
        out.append(f"#{depth}  0x{address:016x} in {function} (this=0x{address:x}) at {path}:{line}")
        out.extend(f"        local{v} = {v}" for v in range(locals_per_frame))
    out.append(
        f"#{len(functions)}  0x00007ffff7894ac3 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442"
    )
    out.append("No locals.")
    return knobs.newline.join(out) + knobs.newline
