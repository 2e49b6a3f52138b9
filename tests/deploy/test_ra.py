"""RaClient against a real loopback TCP server scripted like worldserver's RASession."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.deploy.errors import ControlError, ControlUnavailable, RaAuthError
from bot.deploy.ra import RaClient, TelnetFilter
from tests.deploy.conftest import free_port

IAC_NEGOTIATION = bytes([0xFF, 0xFB, 0x01, 0xFF, 0xFD, 0x03])  # WILL ECHO, DO SUPPRESS-GO-AHEAD


@dataclass
class RaServer:
    """A one-connection-at-a-time RA server; ``lines`` holds what clients sent."""

    port: int = 0
    password: str = "s3cret"
    prompt: bytes = b"TC>"
    close_after_command: bool = False
    silent: bool = False
    lines: list[str] = field(default_factory=list)


def _send_split(conn: socket.socket, data: bytes) -> None:
    """Send in 2-byte packets so every prompt and IAC sequence is split across reads."""
    for i in range(0, len(data), 2):
        conn.sendall(data[i : i + 2])
        time.sleep(0.001)


def _read_line(conn: socket.socket) -> str | None:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = conn.recv(1)
        if not chunk:
            return None
        data += chunk
    return data[:-2].decode()


def _dialogue(conn: socket.socket, state: RaServer) -> None:
    """One RA session as TrinityCore runs it: telnet negotiation, login, one command, quit."""
    if state.silent:
        time.sleep(1.0)
        return
    _send_split(conn, IAC_NEGOTIATION + b"Authentication Required\r\nUsername: ")
    user = _read_line(conn)
    _send_split(conn, b"Password: ")
    password = _read_line(conn)
    state.lines += [user or "", password or ""]
    if password != state.password:
        conn.sendall(b"Authentication failed\r\n")
        return
    _send_split(conn, b"Welcome to a test realm\r\n" + state.prompt)
    command = _read_line(conn)
    state.lines.append(command or "")
    _send_split(conn, b"Server shutdown in 60s\r\nsecond line\r\n")
    if state.close_after_command:
        return
    _send_split(conn, state.prompt)
    quit_line = _read_line(conn)
    state.lines.append(quit_line or "")
    conn.sendall(b"Bye\r\n")


@pytest.fixture
def ra_server() -> Iterator[RaServer]:
    state = RaServer()
    listener = socket.create_server(("127.0.0.1", 0))
    state.port = listener.getsockname()[1]

    listener.settimeout(0.1)  # closing a listener does not wake a blocked accept(): poll a stop flag
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    _dialogue(conn, state)
                except OSError:
                    continue  # the client gave up mid-dialogue (a timeout test): serve the next one

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield state
    stop.set()
    thread.join(timeout=5)
    listener.close()


def client(port: int, password: str = "s3cret", **kw: Any) -> RaClient:
    return RaClient("127.0.0.1", port, "deployer", password, timeout=kw.pop("timeout", 5.0), **kw)


def test_ra_execute_good_login_returns_output_and_quits(ra_server: RaServer) -> None:
    output = client(ra_server.port).execute("server shutdown 60 Deploy")
    assert output == "Server shutdown in 60s\r\nsecond line"
    time.sleep(0.05)
    assert ra_server.lines == ["deployer", "s3cret", "server shutdown 60 Deploy", "quit"]


def test_ra_execute_bad_password_raises_auth_error(ra_server: RaServer) -> None:
    with pytest.raises(RaAuthError, match=r"Authentication failed.*GM level.*Ra.MinLevel"):
        client(ra_server.port, password="wrong").execute("server info")


def test_ra_execute_server_closing_after_command_returns_collected_output(ra_server: RaServer) -> None:
    ra_server.close_after_command = True  # what `server exit` or a finished shutdown does
    assert client(ra_server.port).execute("server exit") == "Server shutdown in 60s\r\nsecond line"


def test_ra_execute_custom_prompt_regex_for_mangos(ra_server: RaServer) -> None:
    ra_server.prompt = b"mangos>"
    assert client(ra_server.port, prompt_regex=r"mangos>\s*$").execute("x").startswith("Server shutdown")


def test_ra_execute_connection_refused_raises_control_unavailable() -> None:
    with pytest.raises(ControlUnavailable, match=r"Ra\.Enable"):
        client(free_port()).execute("server info")


def test_ra_execute_silent_server_times_out(ra_server: RaServer) -> None:
    ra_server.silent = True
    with pytest.raises(ControlUnavailable, match="timed out waiting for the 'Username:' prompt"):
        client(ra_server.port, timeout=0.3).execute("server info")


def test_ra_execute_multiline_command_is_refused_before_connecting() -> None:
    with pytest.raises(ControlError, match="one command at a time"):
        client(1).execute("server info\r\nserver exit")


def test_ra_client_bad_prompt_regex_raises_control_error() -> None:
    with pytest.raises(ControlError, match="prompt_regex"):
        client(1, prompt_regex="(")


class TestTelnetFilter:
    def test_plain_bytes_pass_through(self) -> None:
        assert TelnetFilter().feed(b"Username: ") == b"Username: "

    def test_negotiation_split_across_reads_is_removed(self) -> None:
        f = TelnetFilter()
        data = IAC_NEGOTIATION + b"User"
        assert b"".join(f.feed(data[i : i + 1]) for i in range(len(data))) == b"User"

    def test_escaped_iac_is_a_literal_ff_byte(self) -> None:
        assert TelnetFilter().feed(b"a\xff\xffb") == b"a\xffb"

    def test_subnegotiation_payload_is_dropped(self) -> None:
        assert TelnetFilter().feed(b"x\xff\xfa\x18\x01abc\xff\xf0y") == b"xy"
