"""Hand-made Crash objects for tests of the layers above the crash core (issue rendering, GitHub)."""

from __future__ import annotations

from bot.crash.model import (
    Assertion,
    Build,
    Crash,
    CrashReport,
    Environment,
    ExceptionInfo,
    Format,
    Frame,
    Signature,
    Thread,
    TopFrame,
)

UNIT_CPP = r"D:\build\TrinityCore\src\server\game\Entities\Unit\Unit.cpp"


def make_crash(
    *,
    frames: tuple[Frame, ...] | None = None,
    meaningful: tuple[int, ...] | None = None,
    exception: ExceptionInfo | None = None,
    assertion: Assertion | None = None,
    revision: str | None = "8b1aa4b0d4ee",
    other_threads: tuple[Thread, ...] = (),
    environment: Environment | None = None,
    top_frame: TopFrame | str | None = "first",
    signature_id: str = "0123456789abcdef",
    signature_text: str = "EXCEPTION_ACCESS_VIOLATION | Unit::GetMap",
    fmt: Format = Format.WHEATY,
) -> Crash:
    """A Windows access violation in ``Unit::GetMap`` unless told otherwise."""
    if frames is None:
        frames = (
            Frame(function="Unit::GetMap", module="worldserver.exe", file=UNIT_CPP, line=1234, offset="0x2e"),
            Frame(
                function="std::vector<int>::at",
                module="worldserver.exe",
                file=r"C:\VS\include\vector",
                line=9,
            ),
            Frame(
                function="Map::Update",
                module="worldserver.exe",
                file=r"D:\b\src\server\game\Maps\Map.cpp",
                line=77,
            ),
            Frame(module="ntdll.dll", offset="0x1a06d", address="0x00007ffb1a06d000"),
        )
    if meaningful is None:
        meaningful = tuple(
            i for i, f in enumerate(frames) if f.function and not f.function.startswith("std::")
        )
    if exception is None and assertion is None:
        exception = ExceptionInfo(
            code="C0000005", name="EXCEPTION_ACCESS_VIOLATION", address="0x0000000000000010"
        )
    if top_frame == "first":
        first = next((frames[i] for i in meaningful), None)
        top = TopFrame(first.function, first.file, first.line) if first is not None else None
    else:
        top = top_frame if isinstance(top_frame, TopFrame) else None
    report = CrashReport(
        format=fmt,
        threads=(Thread(frames=frames, current=True), *other_threads),
        exception=exception,
        assertion=assertion,
        build=Build(revision=revision, branch="3.3.5", product="TrinityCore", platform="Win64"),
        environment=environment
        or Environment(
            os="Windows Server 2019", cpu="Intel Xeon", cpu_count=8, memory_kb=33554432, host="game1"
        ),
        crashing_thread=0,
    )
    return Crash(
        report=report,
        thread_index=0,
        frames=frames,
        meaningful=meaningful,
        top_frame=top,
        signature=Signature(
            text=signature_text,
            id=signature_id,
            full_id="fedcba9876543210" + signature_id[:4],
            version=1,
            frames=tuple(frames[i].function or "?" for i in meaningful[:3]),
        ),
    )
