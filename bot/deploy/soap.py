"""SOAP client for the worldserver's ``executeCommand`` endpoint (gSOAP, HTTP Basic auth, ``urn:TC``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from xml.parsers import expat
from xml.sax.saxutils import escape

import requests

from bot.deploy.errors import ControlError, ControlUnavailable, SoapAuthError, SoapFault

logger = logging.getLogger(__name__)

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="{urn}">'
    "<SOAP-ENV:Body><ns1:executeCommand><command>{command}</command></ns1:executeCommand>"
    "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a command's output is a few KB; anything bigger is not worldserver


class UnsafeXmlError(ValueError):
    """The response declares a DTD or entities, which a worldserver never sends."""


@dataclass(frozen=True)
class SoapResponse:
    """What a SOAP body said: the ``result`` text, or a fault."""

    result: str | None = None
    faultcode: str | None = None
    faultstring: str | None = None


def parse_response(body: bytes) -> SoapResponse:
    """Parse a SOAP response body; raise ``UnsafeXmlError`` on any DTD and ``ValueError`` if not XML.

    expat is driven directly (not ElementTree) so a DOCTYPE is refused before any entity is declared,
    which rules out entity-expansion attacks from whatever answers on the SOAP port.
    """
    found: dict[str, str] = {}
    stack: list[str] = []
    text: list[str] = []
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_dtd(*_args: object) -> None:
        raise UnsafeXmlError("SOAP response contains a DOCTYPE/entity declaration")

    def start(name: str, _attrs: dict[str, str]) -> None:
        stack.append(name.rsplit(" ", 1)[-1])
        text.clear()

    def end(_name: str) -> None:
        local = stack.pop()
        if local in ("result", "faultcode", "faultstring"):
            found.setdefault(local, "".join(text))
        text.clear()

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(body, True)
    except expat.ExpatError as e:
        raise ValueError(f"not XML: {e}") from e
    return SoapResponse(found.get("result"), found.get("faultcode"), found.get("faultstring"))


class SoapClient:
    """Runs console commands through the worldserver's SOAP interface."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        urn: str = "urn:TC",
        timeout: float = 15.0,
        credentials_hint: str = "the configured SOAP account",
        session: requests.Session | None = None,
    ) -> None:
        self.url = f"http://{host}:{port}/"
        self.urn = urn
        self.timeout = timeout
        self.credentials_hint = credentials_hint
        self._auth = (user, password)
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"SoapClient(url={self.url!r}, urn={self.urn!r}, user={self._auth[0]!r}, password='***')"

    def execute(self, command: str) -> str:
        """Run ``command``; return its output, or raise ``SoapFault`` with the server's text."""
        body = ENVELOPE.format(urn=escape(self.urn, {'"': "&quot;"}), command=escape(command))
        try:
            response = self._session.post(
                self.url,
                data=body.encode("utf-8"),
                auth=self._auth,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=self.timeout,
            )
        except requests.ConnectionError as e:
            raise ControlUnavailable(
                f"SOAP endpoint {self.url} is not reachable ({_reason(e)}); check that the server runs "
                "with SOAP.Enabled = 1 and SOAP.IP/SOAP.Port match deploy.soap"
            ) from e
        except requests.Timeout as e:
            raise ControlUnavailable(
                f"SOAP endpoint {self.url} did not answer within {self.timeout:g}s; the server may be hung"
            ) from e
        except requests.RequestException as e:
            # The request went out and the answer was cut (a worldserver that crashes or exits while
            # answering, e.g. on ``server shutdown 0``): whether the command took effect is unknown.
            raise ControlUnavailable(
                f"SOAP endpoint {self.url} broke off while answering ({e.__class__.__name__}); "
                "the server may have crashed or exited"
            ) from e
        if response.status_code == 401:
            raise SoapAuthError(
                f"SOAP login refused at {self.url} (HTTP 401): check the account in {self.credentials_hint} "
                "and that it is GM level 3+"
            )
        if response.status_code == 403:
            raise SoapAuthError(
                f"SOAP refused the command at {self.url} (HTTP 403): the account in {self.credentials_hint} "
                "logged in but is below GM level 3 (SEC_ADMINISTRATOR); raise its level for realm -1"
            )
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise ControlError(f"SOAP response from {self.url} is {len(response.content)} bytes; refusing it")
        try:
            parsed = parse_response(response.content)
        except ValueError as e:
            raise ControlError(
                f"SOAP endpoint {self.url} answered HTTP {response.status_code} with an unusable body "
                f"({e}); is something other than worldserver listening on that port?"
            ) from e
        if parsed.faultstring is not None or parsed.faultcode is not None:
            text = (parsed.faultstring or parsed.faultcode or "").strip()
            raise SoapFault(f"SOAP command {command!r} failed: {text}", faultstring=text)
        if parsed.result is None:
            raise ControlError(
                f"SOAP endpoint {self.url} answered HTTP {response.status_code} without a <result>; "
                f"check deploy.soap.urn (now {self.urn!r}; AzerothCore uses urn:AC)"
            )
        logger.debug("SOAP %r -> %r", command, parsed.result)
        return parsed.result


def _reason(error: requests.ConnectionError) -> str:
    text = str(error)
    return "connection refused" if "refused" in text.lower() else text.splitlines()[0][:200]
