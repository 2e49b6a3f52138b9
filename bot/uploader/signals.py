"""A clean stop on SIGINT/SIGTERM/SIGBREAK for the long-running uploader, safe on Windows and POSIX."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

logger = logging.getLogger(__name__)

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGBREAK")  # SIGBREAK: Ctrl+Break / a Windows service manager


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM/SIGBREAK call ``on_stop`` once, on a listener thread; a second one exits at once.

    The C-level handler writes the signal number to a socket (``signal.set_wakeup_fd``) even while the
    main thread is blocked in a wait that Python cannot interrupt (a lock on Windows before 3.14), and
    no lock is ever taken inside a signal handler. The spool is kill-safe, so the hard exit loses nothing.
    """
    wanted = {int(getattr(signal, name)) for name in STOP_SIGNALS if hasattr(signal, name)}
    reader, writer = socket.socketpair()
    writer.setblocking(False)

    def ignore(signum: int, frame: FrameType | None) -> None:
        return  # the wakeup socket carries the signal to the listener

    previous = {s: signal.signal(s, ignore) for s in wanted}
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    listener = threading.Thread(
        target=_listen, args=(reader, wanted, on_stop), name="crashbot-signals", daemon=True
    )
    listener.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(old_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        writer.close()
        reader.close()


def _listen(reader: socket.socket, wanted: set[int], on_stop: Callable[[], None]) -> None:
    """Read signal numbers off the wakeup socket until it closes: the first stop calls ``on_stop``."""
    stopping = False
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum not in wanted:
                continue
            if stopping:
                logger.warning("second stop signal: exiting now (the spool keeps every report)")
                os._exit(130)
            stopping = True
            logger.info("signal %d: stopping after the current request", signum)
            on_stop()
