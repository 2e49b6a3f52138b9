"""The backend registry: which ``ServerControl`` and which remote console the deploy settings name.

``control.py`` holds the protocol the backends implement; this module is the one place that knows
every backend, so the backends import the protocol and nothing imports back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from bot.config import Backend, ControlKind, DeploySettings, secret
from bot.deploy.control import CommandChannel, ServerControl
from bot.deploy.process import ProcessControl
from bot.deploy.ra import RaClient
from bot.deploy.releases import Releases
from bot.deploy.shell import CommandRunner, run_command
from bot.deploy.soap import SoapClient
from bot.deploy.systemd import SystemdControl
from bot.deploy.winservice import WindowsServiceControl
from bot.errors import ConfigError


def make_control(
    settings: DeploySettings,
    *,
    releases: Releases,
    env: Mapping[str, str],
    runner: CommandRunner = run_command,
) -> ServerControl:
    """The backend ``settings.backend`` names; ``env`` is what a plain process is started with."""
    backend = settings.backend
    if backend is Backend.PROCESS:
        return ProcessControl(
            releases=releases,
            executable=settings.executable,
            arguments=settings.arguments,
            env=env,
            core_dumps=settings.core_dumps,
        )
    if backend is Backend.SYSTEMD:
        return SystemdControl(
            settings.service_name, user=settings.systemd_user, sudo=settings.systemd_sudo, runner=runner
        )
    if backend is Backend.WINDOWS_SERVICE:
        return WindowsServiceControl(settings.service_name, runner=runner)
    assert_never(backend)


def make_commander(settings: DeploySettings, env: Mapping[str, str]) -> CommandChannel | None:
    """The SOAP or RA client ``settings.control`` asks for (None for ``none``); secrets come from ``env``."""
    kind = settings.control
    if kind is ControlKind.NONE:
        return None
    if kind is ControlKind.SOAP:
        soap = settings.soap
        user, password = _credentials(soap.user_env, soap.password_env, "SOAP", env)
        return SoapClient(
            soap.host,
            soap.port,
            user,
            password,
            urn=soap.urn,
            timeout=settings.control_timeout_s,
            credentials_hint=f"env vars {soap.user_env}/{soap.password_env}",
        )
    if kind is ControlKind.RA:
        ra = settings.ra
        user, password = _credentials(ra.user_env, ra.password_env, "RA", env)
        return RaClient(
            ra.host,
            ra.port,
            user,
            password,
            timeout=settings.control_timeout_s,
            prompt_regex=ra.prompt_regex,
            credentials_hint=f"env vars {ra.user_env}/{ra.password_env}",
        )
    assert_never(kind)


def _credentials(user_env: str, password_env: str, what: str, env: Mapping[str, str]) -> tuple[str, str]:
    user, password = secret(user_env, env), secret(password_env, env)
    if user is None or password is None:
        missing = [name for name, value in ((user_env, user), (password_env, password)) if value is None]
        raise ConfigError(
            f"{what} credentials missing: set {' and '.join(missing)} (a GM level 3+ account), "
            "or set deploy.control = 'none' to stop the server without warning players"
        )
    return user, password
