"""Progress bars for long work on a terminal (the backfill of hundreds of reports, a build), through tqdm.

tqdm is pure Python with no dependencies; it sizes the bar to the terminal, shows the rate and the
time left, and falls back to ASCII on consoles that cannot draw blocks (a Windows code page). It is
imported only when stderr is a terminal: a service, a workflow or a pipe never loads it, so the idle
uploader does not pay for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

from bot.actions import in_actions

ProgressCallback = Callable[[int, int], None]  # (done, total)


def bar(description: str, unit: str, *, stream: TextIO, force: bool = False) -> ProgressCallback | None:
    """A ``(done, total)`` callback drawing a bar on ``stream``; None when ``stream`` is no terminal
    (``force`` draws anyway, for tests)."""
    if not force and not stream.isatty():
        return None
    from tqdm import tqdm

    state: dict[str, tqdm] = {}

    def update(done: int, total: int) -> None:
        progress = state.get("bar")
        if progress is None:
            progress = state["bar"] = tqdm(total=total, desc=description, unit=unit, file=stream, leave=True)
        progress.total = total
        progress.update(done - progress.n)
        if done >= total:
            progress.close()

    return update


@contextlib.contextmanager
def steps(
    description: str, *, stream: TextIO, env: Mapping[str, str], force: bool = False
) -> Iterator[ProgressCallback | None]:
    """For the ``with`` block, a ``(done, total)`` callback drawing a bar on ``stream`` for work whose
    tool reports its own progress (a build: percent, or steps of a total that may change); the bar
    closes when the block ends, finished or not. None on a non-terminal and in a GitHub Actions job,
    whose log folds the output into groups instead (``force`` draws anyway, for tests)."""
    if not force and (in_actions(env) or not stream.isatty()):
        yield None
        return
    from tqdm import tqdm

    progress = tqdm(total=None, desc=description, unit="step", file=stream, leave=False)

    def update(done: int, total: int) -> None:
        if progress.total != total:
            progress.total = total
            progress.unit = "%" if total == 100 else "step"
        progress.n = done
        progress.refresh()

    try:
        yield update
    finally:
        progress.close()
