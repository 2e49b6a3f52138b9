"""Run OS commands (systemctl, sc.exe) for the service backends, through an injectable runner."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.deploy.errors import ServerControlError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    """What one command printed and returned; ``returncode`` is None when it timed out."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}".strip()


CommandRunner = Callable[[Sequence[str], float], CommandResult]


def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult:
    """Run ``argv`` without a shell; a missing program raises ``ServerControlError``."""
    logger.debug("running %s", " ".join(argv))
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError as e:
        raise ServerControlError(
            f"{argv[0]!r} is not installed or not on PATH; cannot run {list(argv)}"
        ) from e
    except subprocess.TimeoutExpired as e:
        return CommandResult(tuple(argv), None, _decode(e.stdout), _decode(e.stderr))
    return CommandResult(tuple(argv), done.returncode, _decode(done.stdout), _decode(done.stderr))


def _decode(data: bytes | str | None) -> str:
    # sc.exe prints in the OEM code page; the fields we parse are ASCII digits and keywords
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")
