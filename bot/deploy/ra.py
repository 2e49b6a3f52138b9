"""Remote Access (RA) client: the worldserver's telnet-style console on ``Ra.Port`` (default 3443)."""

from __future__ import annotations

import logging
import re
import socket
import time

from bot.deploy.errors import ControlError, ControlUnavailable, RaAuthError

logger = logging.getLogger(__name__)

DEFAULT_PROMPT_REGEX = r"(?:TC|AC|mangos)>\s*$"
USERNAME_RE = re.compile(r"Username:\s*$", re.IGNORECASE)
PASSWORD_RE = re.compile(r"Password:\s*$", re.IGNORECASE)
AUTH_FAILED_RE = re.compile(r"Authentication failed", re.IGNORECASE)
MAX_BUFFER_BYTES = 1024 * 1024  # one command's output; a runaway stream is not a worldserver console

IAC, SE, SB = 0xFF, 0xF0, 0xFA
WILL, WONT, DO, DONT = 0xFB, 0xFC, 0xFD, 0xFE


class TelnetFilter:
    """Strips telnet IAC sequences from a byte stream, even when a sequence is split across reads."""

    def __init__(self) -> None:
        self._pending = b""
        self._in_subnegotiation = False

    def feed(self, data: bytes) -> bytes:
        """Return the payload bytes of ``data``; keep an incomplete trailing sequence for the next call."""
        data = self._pending + data
        self._pending = b""
        out = bytearray()
        i = 0
        while i < len(data):
            byte = data[i]
            if byte != IAC:
                if not self._in_subnegotiation:
                    out.append(byte)
                i += 1
                continue
            if i + 1 >= len(data):
                self._pending = data[i:]
                break
            command = data[i + 1]
            if command == IAC:  # an escaped 0xFF data byte
                if not self._in_subnegotiation:
                    out.append(IAC)
                i += 2
            elif command in (WILL, WONT, DO, DONT):
                if i + 2 >= len(data):
                    self._pending = data[i:]
                    break
                i += 3
            elif command == SB:
                self._in_subnegotiation = True
                i += 2
            elif command == SE:
                self._in_subnegotiation = False
                i += 2
            else:  # NOP, GA and the other two-byte commands
                i += 2
        return bytes(out)


class _Dialogue:
    """One RA connection: bounded, deadline-driven reads of telnet-filtered text."""

    def __init__(self, sock: socket.socket, endpoint: str) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self.buffer = ""
        self.closed = False
        self._filter = TelnetFilter()
        self._raw_total = 0

    def send_line(self, text: str) -> None:
        try:
            self.sock.sendall(text.encode("utf-8") + b"\r\n")
        except OSError as e:
            raise ControlUnavailable(f"RA connection to {self.endpoint} dropped while sending: {e}") from e

    def read_until(self, *patterns: re.Pattern[str], deadline: float, what: str) -> re.Pattern[str] | None:
        """Read until one of ``patterns`` matches the buffer; return it, or None if the peer closed."""
        while True:
            for pattern in patterns:
                if pattern.search(self.buffer):
                    return pattern
            if self.closed:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ControlUnavailable(
                    f"RA at {self.endpoint} timed out waiting for {what}; got {self.buffer[-200:]!r}"
                )
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as e:
                raise ControlUnavailable(f"RA connection to {self.endpoint} failed: {e}") from e
            if not chunk:
                self.closed = True
                continue
            self._raw_total += len(chunk)
            if self._raw_total > MAX_BUFFER_BYTES:
                raise ControlError(f"RA at {self.endpoint} sent over {MAX_BUFFER_BYTES} bytes; giving up")
            self.buffer += self._filter.feed(chunk).decode("utf-8", errors="replace")


class RaClient:
    """Runs console commands through RA: log in, send one command, collect output, ``quit``."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        timeout: float = 15.0,
        prompt_regex: str = DEFAULT_PROMPT_REGEX,
        credentials_hint: str = "the configured RA account",
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.credentials_hint = credentials_hint
        self._user = user
        self._password = password
        try:
            self.prompt = re.compile(prompt_regex)
        except re.error as e:
            raise ControlError(f"deploy.ra.prompt_regex {prompt_regex!r} is not a valid regex: {e}") from e

    def __repr__(self) -> str:
        return f"RaClient(host={self.host!r}, port={self.port}, user={self._user!r}, password='***')"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def execute(self, command: str) -> str:
        """Log in, run ``command``, return its output (up to the next prompt, or until the server closes)."""
        if "\n" in command or "\r" in command:
            raise ControlError(f"RA command {command!r} spans several lines; send one command at a time")
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise ControlUnavailable(
                f"RA endpoint {self.endpoint} is not reachable ({e}); check Ra.Enable = 1 and Ra.IP/Ra.Port "
                "match deploy.ra"
            ) from e
        with sock:
            talk = _Dialogue(sock, self.endpoint)
            self._login(talk)
            talk.buffer = ""
            talk.send_line(command)
            talk.read_until(self.prompt, deadline=time.monotonic() + self.timeout, what="command output")
            output = self.prompt.sub("", talk.buffer)
            if not talk.closed:
                try:
                    talk.send_line("quit")
                except ControlUnavailable:
                    logger.debug("RA %s closed before quit", self.endpoint)
        logger.debug("RA %r -> %r", command, output)
        return output.strip("\r\n")

    def _login(self, talk: _Dialogue) -> None:
        deadline = time.monotonic() + self.timeout
        if talk.read_until(USERNAME_RE, deadline=deadline, what="the 'Username:' prompt") is None:
            raise ControlUnavailable(f"RA at {self.endpoint} closed the connection before asking for a login")
        talk.buffer = ""
        talk.send_line(self._user)
        if (
            talk.read_until(PASSWORD_RE, AUTH_FAILED_RE, deadline=deadline, what="'Password:'")
            is not PASSWORD_RE
        ):
            raise self._refused()
        talk.buffer = ""
        talk.send_line(self._password)
        matched = talk.read_until(self.prompt, AUTH_FAILED_RE, deadline=deadline, what="the console prompt")
        if matched is not self.prompt:
            raise self._refused()

    def _refused(self) -> RaAuthError:
        return RaAuthError(
            f"RA login refused at {self.endpoint} (Authentication failed): check the account in "
            f"{self.credentials_hint}, that its GM level is at least Ra.MinLevel (3) for realm -1"
        )
