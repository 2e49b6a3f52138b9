"""A faithful local GitHub REST stand-in on loopback, for tests and ``crashbot demo``.

Usage::

    with StandIn(tmp_path) as gh:
        gh.add_repo("acme/worldserver")
        gh.add_token("t0ken", "uploader")
        client = Github(base_url=gh.api_url, auth=Auth.Token("t0ken"))
"""

from __future__ import annotations

from bot.standin.errors import StandInError
from bot.standin.faults import Fault, FaultKind
from bot.standin.limits import Limits
from bot.standin.server import RecordedRequest, StandIn

__all__ = ["Fault", "FaultKind", "Limits", "RecordedRequest", "StandIn", "StandInError"]
