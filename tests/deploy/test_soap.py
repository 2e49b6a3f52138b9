"""SoapClient against a real loopback HTTP server speaking worldserver's SOAP dialect."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.deploy.errors import ControlError, ControlUnavailable, SoapAuthError, SoapFault
from bot.deploy.soap import SoapClient, UnsafeXmlError, parse_response
from tests.deploy.conftest import free_port

RESULT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/'
    'soap/envelope/" xmlns:ns1="urn:TC"><SOAP-ENV:Body><ns1:executeCommandResponse><result>{}</result>'
    "</ns1:executeCommandResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/'
    'soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>'
    "<faultstring>{}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    "<result>&lol2;</result>"
)


@dataclass
class SoapServer:
    """What the loopback server received and what it will answer (status, body)."""

    port: int = 0
    answer: tuple[int, str] = (200, RESULT.format("ok"))
    requests: list[dict[str, str]] = field(default_factory=list)
    cut_after: int | None = None  # bytes of the body sent before the server goes away (a crash mid-answer)


@pytest.fixture
def soap_server() -> Iterator[SoapServer]:
    state = SoapServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state.requests.append({"auth": self.headers.get("Authorization", ""), "body": body})
            status, text = state.answer
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if state.cut_after is None:
                self.wfile.write(data)
                return
            self.wfile.write(data[: state.cut_after])
            self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def client(port: int, **kw: Any) -> SoapClient:
    return SoapClient(
        "127.0.0.1", port, "deployer", "s3cret", timeout=5.0, credentials_hint="env vars U/P", **kw
    )


def test_soap_execute_good_credentials_returns_result_text(soap_server: SoapServer) -> None:
    soap_server.answer = (200, RESULT.format("Server shutdown in 60s &amp; counting"))
    assert client(soap_server.port).execute("server shutdown 60 Fix <1> & more") == (
        "Server shutdown in 60s & counting"
    )
    request = soap_server.requests[0]
    assert request["auth"] == "Basic " + base64.b64encode(b"deployer:s3cret").decode()
    assert 'xmlns:ns1="urn:TC"' in request["body"]
    assert (
        "<ns1:executeCommand><command>server shutdown 60 Fix &lt;1&gt; &amp; more</command>"
        in request["body"]
    )


def test_soap_execute_uses_configured_urn(soap_server: SoapServer) -> None:
    client(soap_server.port, urn="urn:AC").execute("server info")
    assert 'xmlns:ns1="urn:AC"' in soap_server.requests[0]["body"]


def test_soap_execute_http_401_raises_auth_error_naming_the_env_vars(soap_server: SoapServer) -> None:
    soap_server.answer = (401, "")
    with pytest.raises(SoapAuthError, match=r"SOAP login refused.*env vars U/P.*GM level 3\+"):
        client(soap_server.port).execute("server info")


def test_soap_execute_http_403_raises_auth_error_about_gm_level(soap_server: SoapServer) -> None:
    soap_server.answer = (403, "")
    with pytest.raises(SoapAuthError, match="below GM level 3"):
        client(soap_server.port).execute("server info")


def test_soap_execute_fault_raises_soap_fault_with_server_text(soap_server: SoapServer) -> None:
    soap_server.answer = (500, FAULT.format("There is no such command."))
    with pytest.raises(SoapFault) as info:
        client(soap_server.port).execute("server shutdwn 5")
    assert info.value.faultstring == "There is no such command."
    assert "server shutdwn 5" in str(info.value)


def test_soap_execute_connection_refused_raises_control_unavailable() -> None:
    with pytest.raises(ControlUnavailable, match=r"not reachable \(connection refused\).*SOAP.Enabled"):
        client(free_port()).execute("server info")


def test_soap_execute_answer_cut_off_mid_body_raises_control_unavailable(soap_server: SoapServer) -> None:
    """A worldserver that crashes (or exits on ``server shutdown 0``) while answering must not escape as a
    requests exception: the graceful stop goes on to the backend's own stop."""
    soap_server.cut_after = 40
    with pytest.raises(ControlUnavailable, match="broke off while answering"):
        client(soap_server.port).execute("server shutdown 0")
    assert soap_server.requests  # the command did reach it


def test_soap_execute_doctype_in_response_is_refused(soap_server: SoapServer) -> None:
    soap_server.answer = (200, BOMB)
    with pytest.raises(ControlError, match="DOCTYPE"):
        client(soap_server.port).execute("server info")


def test_soap_execute_response_without_result_points_at_the_urn(soap_server: SoapServer) -> None:
    soap_server.answer = (200, "<a><b>hello</b></a>")
    with pytest.raises(ControlError, match="urn:AC"):
        client(soap_server.port).execute("server info")


def test_soap_execute_non_xml_response_raises_control_error(soap_server: SoapServer) -> None:
    soap_server.answer = (200, "<html><body>nginx")
    with pytest.raises(ControlError, match="unusable body"):
        client(soap_server.port).execute("server info")


def test_soap_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(client(1))


@pytest.mark.parametrize(
    ("body", "result", "fault"),
    [
        (RESULT.format(""), "", None),
        (RESULT.format("line1\nline2"), "line1\nline2", None),
        (FAULT.format("bad"), None, "bad"),
    ],
)
def test_parse_response_extracts_result_or_fault(body: str, result: str | None, fault: str | None) -> None:
    parsed = parse_response(body.encode())
    assert (parsed.result, parsed.faultstring) == (result, fault)


def test_parse_response_rejects_entity_declarations() -> None:
    with pytest.raises(UnsafeXmlError):
        parse_response(BOMB.encode())
