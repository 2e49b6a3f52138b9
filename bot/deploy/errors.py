"""The deploy room's exceptions: control channels (SOAP/RA), server backends, releases."""

from __future__ import annotations

from bot.errors import BotError


class DeployError(BotError):
    """A deploy step failed; the message names the step, the value and what to do next."""


class ControlError(DeployError):
    """A remote-console command (SOAP or RA) could not be executed."""


class ControlUnavailable(ControlError):
    """The SOAP/RA endpoint did not answer (refused, timed out, closed early)."""


class ControlAuthError(ControlError):
    """The SOAP/RA endpoint refused the account (bad login or too low a GM level)."""


class SoapAuthError(ControlAuthError):
    """SOAP answered HTTP 401 (bad login) or 403 (account below SEC_ADMINISTRATOR)."""


class SoapFault(ControlError):
    """SOAP executed the command and it failed; the message carries the server's own text."""

    def __init__(self, message: str, *, faultstring: str) -> None:
        super().__init__(message)
        self.faultstring = faultstring


class RaAuthError(ControlAuthError):
    """RA answered ``Authentication failed``."""


class ServerControlError(DeployError):
    """A backend (process, systemd, Windows service) could not start, stop or query the server."""


class ServiceAccessDenied(ServerControlError):
    """The account running crashbot lacks the right to start/stop the service (Windows error 5, polkit)."""


class ReleaseError(DeployError):
    """A release directory could not be created, found or switched to."""
