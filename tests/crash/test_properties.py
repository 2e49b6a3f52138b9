"""Properties: no input makes parsing fail other than with CrashParseError; signatures ignore what varies
between two reports of one crash and separate distinct crashes; memory stays bounded on huge input."""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.synth import Knobs, gdb_report, unsymbolised_wheaty_report, wheaty_lines, wheaty_report
from bot.crash import analyse, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import Signature

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
SAMPLE_TEXTS = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(SAMPLES.glob("*.txt"))]

identifier = st.from_regex(r"[A-Z][a-z]{2,8}", fullmatch=True)
function = st.builds(lambda c, m: f"{c}::{m}", identifier, identifier)
stack = st.lists(function, min_size=1, max_size=6, unique=True)
knobs = st.builds(
    Knobs,
    base=st.integers(min_value=0x7FF600000000, max_value=0x7FF7FFFF0000).map(lambda b: b & ~0xFFFF),
    root=st.sampled_from(
        ["D:\\build\\TrinityCore\\", "C:\\x\\y\\", "E:\\Program Files (x86)\\ac\\", "F:\\a\\"]
    ),
    date=st.builds(
        lambda d, m, y, h, mi: f"Date {d}:{m}:{y}. Time {h}:{mi} ",
        st.integers(1, 28),
        st.integers(1, 12),
        st.integers(2015, 2030),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
    revision=st.builds(
        lambda h, dirty: f"{h}{'+' if dirty else ''} 2024-01-01 00:00:00 +0000",
        st.from_regex(r"[0-9a-f]{12}", fullmatch=True),
        st.booleans(),
    ),
    line_shift=st.integers(0, 400),
    newline=st.sampled_from(["\r\n", "\n"]),
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sign(text: str) -> Signature:
    return analyse(parse_report(text)).signature


@FAST
@given(st.binary(max_size=4096))
def test_parse_report_arbitrary_bytes_only_crash_parse_error(data: bytes) -> None:
    with contextlib.suppress(CrashParseError):
        analyse(parse_report(data))


@FAST
@given(st.text(max_size=2048))
def test_parse_report_arbitrary_text_only_crash_parse_error(text: str) -> None:
    with contextlib.suppress(CrashParseError):
        analyse(parse_report(text))


@FAST
@given(st.sampled_from(SAMPLE_TEXTS), st.data())
def test_parse_report_damaged_real_samples_only_crash_parse_error(text: str, data: st.DataObject) -> None:
    """Real reports cut anywhere, with lines dropped or garbage spliced in (what copy/paste does)."""
    lines = text.splitlines()
    cut = data.draw(st.integers(0, len(text)))
    choice = data.draw(st.sampled_from(["truncate", "drop", "splice"]))
    if choice == "truncate":
        damaged = text[:cut]
    elif choice == "drop":
        drop = data.draw(st.sets(st.integers(0, max(0, len(lines) - 1)), max_size=5))
        damaged = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    else:
        damaged = text[:cut] + data.draw(st.text(max_size=80)) + text[cut:]
    with contextlib.suppress(CrashParseError):
        analyse(parse_report(damaged))


@FAST
@given(stack, knobs, knobs)
def test_signature_wheaty_invariant_under_aslr_paths_dates_revisions_newlines_lines(
    functions: list[str], a: Knobs, b: Knobs
) -> None:
    one, two = sign(wheaty_report(functions, knobs=a)), sign(wheaty_report(functions, knobs=b))
    assert one.id == two.id
    assert one.full_id == two.full_id
    assert one.text == two.text


@FAST
@given(stack, knobs, knobs, st.integers(min_value=0, max_value=40))
def test_signature_of_a_report_without_pdb_is_invariant_under_aslr_paths_and_idle_threads(
    functions: list[str], a: Knobs, b: Knobs, pool: int
) -> None:
    """Without symbols the signature is module-relative offsets, which no load address or path moves."""
    one = sign(unsymbolised_wheaty_report(functions, knobs=a, pool_threads=pool))
    two = sign(unsymbolised_wheaty_report(functions, knobs=b, pool_threads=3))
    assert (one.id, one.full_id, one.text) == (two.id, two.full_id, two.text)
    assert "worldserver.exe+1:2e" in one.text  # the crashing thread's top frame, found by the fault address


@FAST
@given(stack, knobs, knobs)
def test_signature_gdb_invariant_under_aslr_paths_and_lines(functions: list[str], a: Knobs, b: Knobs) -> None:
    assert sign(gdb_report(functions, knobs=a)).id == sign(gdb_report(functions, knobs=b)).id


@FAST
@given(stack, function, knobs)
def test_signature_different_top_function_different_id(functions: list[str], other: str, k: Knobs) -> None:
    if other == functions[0]:
        return
    changed = [other, *functions[1:]]
    assert sign(wheaty_report(functions, knobs=k)).id != sign(wheaty_report(changed, knobs=k)).id


@FAST
@given(stack, knobs)
def test_signature_different_exception_kind_different_id(functions: list[str], k: Knobs) -> None:
    ids = {
        sign(wheaty_report(functions, code=code, knobs=k)).id for code in ("C0000005", "C00000FD", "C0000094")
    }
    ids.add(sign(gdb_report(functions, knobs=k)).id)
    assert len(ids) == 4


@FAST
@given(stack, knobs)
def test_signature_other_threads_do_not_matter(functions: list[str], k: Knobs) -> None:
    few = sign(wheaty_report(functions, knobs=k, other_threads=0))
    many = sign(wheaty_report(functions, knobs=k, other_threads=7))
    assert few.id == many.id


@pytest.mark.slow
def test_parse_report_100mb_report_peak_memory_under_five_times_size(tmp_path: Path) -> None:
    """A ~100 MB report (all threads with locals) parses with peak traced memory < 5x its size."""
    path = tmp_path / "huge.txt"
    functions = [
        "Field::GetUInt32",
        "ResultSet::NextRow",
        "Player::LoadFromDB",
        "WorldSession::HandlePlayerLogin",
    ]
    with path.open("w", encoding="utf-8", newline="") as fh:
        # One report: thousands of threads, every frame with 40 locals (real reports reach ~6 MB this way).
        for line in wheaty_lines(functions, other_threads=7200, locals_per_frame=40):
            fh.write(line)
            fh.write("\r\n")
    size = path.stat().st_size
    gc.collect()
    tracemalloc.start()
    try:
        crash = analyse(parse_report(path.read_bytes()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (
        crash.signature.text
        == "ACCESS_VIOLATION | Field::GetUInt32 | ResultSet::NextRow | Player::LoadFromDB"
    )
    assert peak < 5 * size, f"peak {peak / 2**20:.0f} MB for a {size / 2**20:.0f} MB report"
