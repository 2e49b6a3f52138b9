"""Progress bars for long work on a terminal (the backfill of hundreds of reports), through tqdm.

tqdm is pure Python with no dependencies; it sizes the bar to the terminal, shows the rate and the
time left, and falls back to ASCII on consoles that cannot draw blocks (a Windows code page). It is
imported only when stderr is a terminal: a service, a workflow or a pipe never loads it, so the idle
uploader does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

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
