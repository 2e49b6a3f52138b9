"""An instruction pointer inside an epilogue: the prologue is partly undone already, so the unwind codes
must not be applied again; the rest of the epilogue is emulated (RtlVirtualUnwind's rule).

The image is real (clang + lld-link, tests/fixtures/symbols/epilogues.cpp) and the truth independent of
crashbot's decoder: LLVM's disassembler names each epilogue instruction, the test executes those it has
passed, and unwinding from every instruction of the epilogue must give the caller that unwinding from the
function's body gives through its unwind codes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.symbols.unwind import Section, UnwindError, UnwindTable, load_unwind_table, unwind_frame

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "symbols" / "epilogues.cpp"
TOOLS = ("clang++", "lld-link", "llvm-objdump")
REGISTERS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", *(f"r{i}" for i in range(8, 16))]
STACK = 0x7FF0_0000
FRAME = STACK + 0x200  # rbp of a frame-pointer function: above rsp, which alloca moved down


def _run(argv: list[str], cwd: Path) -> str:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True, timeout=300).stdout


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[UnwindTable, list[tuple[int, str]]]:
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        pytest.skip(
            f"{', '.join(absent)} not installed (runner-setup/dev-setup.sh installs clang, lld, llvm)"
        )
    work = tmp_path_factory.mktemp("epilogues")
    shutil.copy(SOURCE, work / "epilogues.cpp")
    _run(["clang++", "--target=x86_64-pc-windows-msvc", "-O2", "-c", "epilogues.cpp", "-o", "e.obj"], work)
    _run(
        ["lld-link", "/entry:mainCRTStartup", "/subsystem:console", "/nodefaultlib", "/out:e.exe", "e.obj"],
        work,
    )
    listing = _run(["llvm-objdump", "-d", "--no-show-raw-insn", "--x86-asm-syntax=intel", "e.exe"], work)
    rows = [
        (int(m[1], 16) - 0x1_4000_0000, " ".join(m[2].split()))
        for m in re.finditer(r"^\s*([0-9a-f]+):\s+(.+?)\s*$", listing, re.M)
    ]
    return load_unwind_table(work / "e.exe"), rows


def _epilogues(table: UnwindTable, rows: list[tuple[int, str]]) -> dict[str, list[tuple[int, str]]]:
    """Each function's epilogue (its last ret/jmp and the pops and rsp adjustment before it) and the body
    instruction before it, as LLVM disassembled them."""
    found: dict[str, list[tuple[int, str]]] = {}
    for begin, end, _info in table.functions:
        code = [r for r in rows if begin <= r[0] < end]
        last = max(i for i, (_, text) in enumerate(code) if text.startswith(("ret", "jmp")))
        first = last
        while code[first - 1][1].startswith("pop"):
            first -= 1
        if code[first - 1][1].startswith(("add rsp", "lea rsp")):
            first -= 1
        if first < last:
            shape = "lea" if code[first][1].startswith("lea") else code[last][1].split()[0]
            found[shape] = code[first - 1 : last + 1]
    return found


def _execute(text: str, regs: list[int], memory: dict[int, int]) -> None:
    """One epilogue instruction as LLVM printed it."""
    op, _, operands = text.partition(" ")
    if op == "pop":
        regs[REGISTERS.index(operands)] = memory[regs[4]]
        regs[4] += 8
    elif op == "add":
        regs[4] += int(operands.split(", ")[1], 0)
    elif op == "lea":
        base, _, disp = operands.split("[")[1].rstrip("]").partition(" + ")
        regs[4] = regs[REGISTERS.index(base)] + int(disp or "0", 0)
    else:
        raise AssertionError(f"not an epilogue instruction: {text}")


@pytest.mark.parametrize("shape", ["ret", "lea", "jmp"])
def test_unwinding_from_each_epilogue_instruction_matches_unwinding_from_the_body(
    image: tuple[UnwindTable, list[tuple[int, str]]], shape: str
) -> None:
    table, rows = image
    body, *epilogue = _epilogues(table, rows)[shape]
    memory = {STACK + 8 * i: 0x5000_0000 + i for i in range(0x100)}  # every stack slot tells its place
    start = [0x1000 + i for i in range(16)]
    start[4], start[5] = STACK, FRAME
    truth = unwind_frame(table, body[0], tuple(start), memory.get)
    assert truth.gpr[4] > STACK and truth.rip in memory.values()

    regs = list(start)
    for rva, text in epilogue:
        caller = unwind_frame(table, rva, tuple(regs), memory.get)
        assert (caller.rip, caller.gpr) == (truth.rip, truth.gpr), f"at {text!r} ({rva:#x})"
        if text.startswith(("ret", "jmp")):
            break
        _execute(text, regs, memory)


def test_a_jump_inside_the_function_is_not_an_epilogue(
    image: tuple[UnwindTable, list[tuple[int, str]]],
) -> None:
    table, rows = image
    shapes = _epilogues(table, rows)
    assert set(shapes) == {"ret", "lea", "jmp"}  # the three shapes x64 allows, each built for real
    (tail_jump,) = [rva for rva, text in shapes["jmp"] if text.startswith("jmp")]
    begin, end, _ = next(f for f in table.functions if f[0] <= tail_jump < f[1])
    target = int(next(text for rva, text in rows if rva == tail_jump).split()[1], 16) - 0x1_4000_0000
    assert not begin <= target < end  # the tail call leaves the function: that is what makes it an epilogue


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_code_at_the_instruction_pointer_gives_a_caller_or_an_unwind_error(
    image: tuple[UnwindTable, list[tuple[int, str]]], data: st.DataObject
) -> None:
    """Code bytes rewritten at random under an instruction pointer chosen at random in a function: the
    epilogue test decodes at most 64 bytes, inside the section, and never fails any other way."""
    table, _rows = image
    begin, end, _ = data.draw(st.sampled_from(table.functions))
    rva = data.draw(st.integers(begin, end - 1))
    junk = data.draw(st.binary(min_size=1, max_size=24))
    text = next(s for s in table.sections if s.executable)
    at = text.pointer + rva - text.rva
    damaged = UnwindTable(table.data[:at] + junk + table.data[at + len(junk) :], *_fields(table))
    regs = tuple(STACK + 8 * i for i in range(16))
    memory = {STACK + 8 * i: 0x5000_0000 + i for i in range(0x100)}
    try:
        caller = unwind_frame(damaged, rva, regs, memory.get)
    except UnwindError:
        return
    assert caller.rip in memory.values()


def _fields(table: UnwindTable) -> tuple[tuple[Section, ...], tuple[tuple[int, int, int], ...], str]:
    return table.sections, table.functions, table.what
