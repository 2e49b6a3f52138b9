"""One typed, frozen configuration: defaults, overlaid by ``crashbot.toml``, overlaid by the command line.

Every setting has a default that works. Secrets never live here: only the *names* of the environment
variables that hold them (``*_env`` keys). Each room owns its section dataclass below; add a field with a
default and a one-line comment, and the loader validates it with no further code. A closed set of
strings is an enum field (the loader refuses any other value and names the nearest one); a rule about a
section's values goes in its ``__post_init__``, so it holds however the section is made: from the
file, in code, or by a command-line overlay. A Config that exists is a valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import logging
import math
import os
import re
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "crashbot.toml"
CONFIG_ENV = "CRASHBOT_CONFIG"
MAX_REASON_CHARS = 200  # TrinityCore copies the shutdown reason into a 256-byte buffer
# Settings that no longer do anything: an existing crashbot.toml that still has one loads, with one
# warning line each, instead of failing as an unknown key would.
RETIRED_KEYS: Mapping[str, str] = {
    "fix.push_remote": "fix branches are pushed to the clone URL GitHub reports for github.repo, never to a "
    "remote of the checkout",
}


# ---------------------------------------------------------------------------------------------------
# closed sets: a value outside them is refused when the file is loaded, with the nearest valid one


class Backend(enum.StrEnum):
    """``deploy.backend``: how the worldserver is run."""

    PROCESS = "process"
    SYSTEMD = "systemd"
    WINDOWS_SERVICE = "windows-service"


class ControlKind(enum.StrEnum):
    """``deploy.control``: the remote console the graceful shutdown is sent over."""

    SOAP = "soap"
    RA = "ra"
    NONE = "none"


class FixEngine(enum.StrEnum):
    """``fix.engine``: who proposes the patch."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    COMMAND = "command"
    REPLAY = "replay"
    NONE = "none"


class CoreWatching(enum.StrEnum):
    """``uploader.cores``: whether ``crashbot watch`` also reads Linux core files."""

    AUTO = "auto"  # the folder kernel.core_pattern writes to (or coredumpctl), plus uploader.core_dirs
    OFF = "off"


class SandboxMode(enum.StrEnum):
    """``fix.sandbox``: how the untrusted phase (agent, configure, build, test) is confined."""

    AUTO = "auto"  # bwrap on Linux; none elsewhere (Windows relies on the build account, see README)
    BWRAP = "bwrap"
    NONE = "none"  # unsandboxed, on purpose


class WebhookKind(enum.StrEnum):
    """``notify.kind``: the chat service the incoming webhook belongs to."""

    DISCORD = "discord"
    SLACK = "slack"


E = TypeVar("E", bound=enum.Enum)


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a one-line message, cut short when it is long (a hostile file's key or value)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def closest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The choice a misspelt ``word`` most likely meant (None when none is close)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def choice(kind: type[E], value: object, key: str) -> E:
    """``value`` as a member of the closed set ``kind`` (case and surrounding blanks ignored);
    ConfigError naming ``key``, the allowed values and the nearest one otherwise."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
    wanted = value.strip().lower()
    allowed = [str(m.value) for m in kind]
    if wanted in allowed:
        return kind(wanted)
    near = closest(wanted, allowed)
    hint = f" (did you mean {near!r}?)" if near else ""
    raise ConfigError(f"{key} {_shown(value)} is unknown, not one of {', '.join(allowed)}{hint}")


@functools.cache
def _enum_fields(cls: Any) -> tuple[tuple[str, type[enum.Enum]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (name, hint) for name, hint in hints.items() if isinstance(hint, type) and issubclass(hint, enum.Enum)
    )


def _coerce_choices(section: Any, prefix: str) -> None:
    """Make every enum-typed field of a frozen ``section`` a member (a plain string from code or a CLI
    overlay becomes one), so the rest of crashbot dispatches on members and never re-checks them."""
    for name, kind in _enum_fields(section.__class__):
        object.__setattr__(section, name, choice(kind, getattr(section, name), f"{prefix}.{name}"))


def _check_shutdown(delay_s: int, reason: str) -> None:
    """``deploy.shutdown_delay_s``/``shutdown_reason`` as the server will read them.

    TrinityCore takes the first numeric word after the delay as the exit code, so a reason starting
    with a number would silently change the exit code and lose that word.
    """
    if delay_s < 0:
        raise ConfigError(f"deploy.shutdown_delay_s must be >= 0, got {delay_s}")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_CHARS:
        raise ConfigError(f"deploy.shutdown_reason is {len(reason)} chars; keep it under {MAX_REASON_CHARS}")
    if reason and reason.split()[0].lstrip("-").isdigit():
        raise ConfigError(
            f"deploy.shutdown_reason {reason!r} starts with a number, which the server reads as an exit "
            "code; start it with a word"
        )


def _regex_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as e:
        return f"{pattern!r} is not a valid regular expression: {e}"
    return None


def require_uploader(login: str) -> str:
    """``login`` stripped: the only author whose crash issues ``crashbot fix`` acts on; ConfigError when it
    is empty (nothing that trusts crash issues may run without it)."""
    who = login.strip()
    if not who:
        raise ConfigError(
            "github.uploader_login is empty: crashbot fix acts only on issues opened by the uploader; "
            "set it in crashbot.toml (an App's login is '<app-slug>[bot]')"
        )
    return who


@dataclass(frozen=True)
class GitHubSettings:
    """How to reach GitHub (or GitHub Enterprise, or the local stand-in)."""

    repo: str = ""  # OWNER/NAME of the server repository
    api_url: str = "https://api.github.com"
    token_env: tuple[str, ...] = ("CRASHBOT_TOKEN", "GITHUB_TOKEN")  # first one set wins
    app_id: str = ""  # GitHub App id; with the two below, App auth replaces the token
    app_installation_id: str = ""
    app_private_key_file: str = ""  # path to the App's PEM file ...
    app_private_key_env: str = "CRASHBOT_APP_PRIVATE_KEY"  # ... or the env var holding the PEM text
    uploader_login: str = ""  # the identity that files crash issues; the fix workflow trusts only it
    timeout_s: float = 15.0
    max_rate_limit_wait_s: float = 900.0  # never sleep longer than this for a rate limit; spool instead

    def __post_init__(self) -> None:
        problem = url_problem(self.api_url) if self.api_url else None
        if problem:
            raise ConfigError(f"config key 'github.api_url': {problem}")
        if any((self.app_id, self.app_installation_id)):
            if not all((self.app_id, self.app_installation_id)):
                raise ConfigError(
                    "GitHub App auth needs both github.app_id and github.app_installation_id "
                    f"(got app_id={self.app_id!r}, app_installation_id={self.app_installation_id!r})"
                )
            if not self.app_installation_id.isdigit():
                raise ConfigError(
                    f"github.app_installation_id must be a number, got {self.app_installation_id!r}"
                )

    def trusted_uploader(self) -> str:
        """``uploader_login``, the only author whose crash issues ``crashbot fix`` acts on; ConfigError
        when it is empty (a command that trusts crash issues cannot run without it)."""
        return require_uploader(self.uploader_login)

    @property
    def app_auth(self) -> bool:
        """GitHub App auth replaces the token (both ids are set; checked at load)."""
        return bool(self.app_id and self.app_installation_id)


@dataclass(frozen=True)
class SigningSettings:
    """HMAC-SHA256 over the crash payload embedded in each issue."""

    key_env: str = "CRASHBOT_SIGNING_KEY"


@dataclass(frozen=True)
class RedactionSettings:
    """What is scrubbed from reports before anything leaves the host."""

    ip_addresses: bool = True
    emails: bool = True
    user_paths: bool = True
    extra_patterns: tuple[str, ...] = ()  # regular expressions; each match becomes [REDACTED:custom]

    def __post_init__(self) -> None:
        for pattern in self.extra_patterns:
            problem = _regex_problem(pattern)
            if problem:
                raise ConfigError(f"redaction.extra_patterns: redaction pattern {problem}")


@dataclass(frozen=True)
class NotifySettings:
    """Optional Discord/Slack incoming webhook on a new signature or a regression."""

    webhook_url_env: str = ""  # env var holding the webhook URL; empty disables notifications
    kind: WebhookKind = WebhookKind.DISCORD

    def __post_init__(self) -> None:
        _coerce_choices(self, "notify")


# Where Windows Error Reporting keeps the reports it archived (uploader.wer_dir's default).
DEFAULT_WER_DIR = r"C:\ProgramData\Microsoft\Windows\WER\ReportArchive"


@dataclass(frozen=True)
class UploaderSettings:
    """The host side: watcher, spool, occurrence accounting."""

    crash_dirs: tuple[str, ...] = ()
    spool: str = ""  # SQLite spool path; empty = a per-user data directory
    realm: str = ""  # realm:<name> label; empty = no realm label
    host: str = ""  # host name shown in issues; empty = this machine's name
    seen_again_comment_interval_s: int = 3600  # at most one "seen again" comment per signature per window
    stability_s: float = 0.5  # size+mtime must stay unchanged this long before a report is read
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 900.0
    max_report_bytes: int = 128 * 1024 * 1024
    spool_max_mb: int = 512
    spool_max_age_days: int = 90
    writes_per_minute: int = 60  # stays under GitHub's 80 content-creating requests/minute
    writes_per_hour: int = 450  # ... and 500/hour
    patterns: tuple[str, ...] = ("*.txt", "*.log")  # report file names in crash_dirs (a .dmp pairs by stem)
    edit_interval_s: float = 30.0  # a signature's issue is edited at most this often: a crash loop coalesces
    dashboard_interval_s: float = 900.0  # run the crash-dashboard workflow at most this often; 0 = never
    cores: CoreWatching = CoreWatching.AUTO  # also read the Linux cores core_pattern leaves (or off)
    core_dirs: tuple[str, ...] = ()  # folders of core files to watch, besides the one core_pattern names
    core_keep: int = 1  # analysed cores kept per folder (newest first); 0 = delete each once it is read
    core_max_mb: int = 8192  # a bigger core is not given to gdb (its notes are still read and filed)
    core_min_free_mb: int = 2048  # below this much free disk, a read core is deleted whatever core_keep says
    gdb_timeout_s: float = 120.0  # gdb's time limit per core
    # Windows Error Reporting: also read the Report.wer WER keeps of a crash of these programs (a crash no
    # handler wrote a report for: a release build without one, a stack overflow, a crash at start-up)
    wer_reports: bool = False
    wer_dir: str = ""  # WER's ReportArchive; empty = DEFAULT_WER_DIR
    wer_exe_names: tuple[str, ...] = ("worldserver.exe",)
    uptime_process: str = "worldserver"  # `crashbot watch` records this process's runs as uptime; "" = off
    uptime_poll_s: float = 60.0  # how often the process table is read
    uptime_publish_interval_s: float = 3600.0  # the realm's uptime ledger issue is written at most this often

    def __post_init__(self) -> None:
        _coerce_choices(self, "uploader")
        if self.edit_interval_s < 0:
            raise ConfigError(f"uploader.edit_interval_s must be 0 or more (got {self.edit_interval_s})")
        if self.core_keep < 0 or self.core_max_mb < 1 or self.core_min_free_mb < 0 or self.gdb_timeout_s <= 0:
            raise ConfigError(
                "uploader.core_keep and core_min_free_mb must be 0 or more, core_max_mb at least 1 and "
                f"gdb_timeout_s above 0 (got {self.core_keep}, {self.core_min_free_mb}, {self.core_max_mb}, "
                f"{self.gdb_timeout_s})"
            )
        if self.writes_per_minute < 1 or self.writes_per_hour < 1:
            raise ConfigError(
                "uploader.writes_per_minute and uploader.writes_per_hour must be at least 1 "
                f"(got {self.writes_per_minute} and {self.writes_per_hour})"
            )
        if self.uptime_poll_s < 1 or self.uptime_publish_interval_s < 60:
            raise ConfigError(
                "uploader.uptime_poll_s must be at least 1 and uptime_publish_interval_s at least 60 "
                f"(got {self.uptime_poll_s} and {self.uptime_publish_interval_s})"
            )
        if not self.patterns:
            raise ConfigError("uploader.patterns is empty: no file would ever be read as a crash report")
        if self.wer_reports and not any(name.strip() for name in self.wer_exe_names):
            raise ConfigError(
                "uploader.wer_exe_names is empty while wer_reports is on: name the server's executable "
                '(wer_exe_names = ["worldserver.exe"])'
            )
        if self.max_report_bytes < 1:
            raise ConfigError(f"uploader.max_report_bytes must be at least 1, got {self.max_report_bytes}")


@dataclass(frozen=True)
class FixSettings:
    """The runner side: analysis, fix engine, validation, build, PR."""

    engine: FixEngine = FixEngine.NONE
    model: str = ""
    api_key_env: str = ""  # env var holding the engine's API key
    base_url: str = ""  # engine endpoint override (Azure, Ollama, llama.cpp, vLLM, a test server)
    command: tuple[str, ...] = ()  # for engine = "command": argv, prompt on stdin
    replay_patch: str = ""  # for engine = "replay": a recorded diff file
    engine_timeout_s: float = 600.0
    max_attempts: int = 3
    max_tokens_per_issue: int = 200_000
    max_changed_lines: int = 60
    allowed_paths: tuple[str, ...] = ("src/",)
    path_prefix_map: Mapping[str, str] = field(default_factory=dict)
    context_lines: int = 40
    build_dir: str = ""  # persistent, outside the workspace; empty = <user cache>/crashbot/build
    configure_command: tuple[str, ...] = ()
    build_command: tuple[str, ...] = ()
    test_command: tuple[str, ...] = ()
    build_timeout_s: float = 7200.0
    max_open_prs: int = 5
    pending_cap: int = 5
    base_branch: str = ""  # empty = the repository's default branch
    api_version: str = ""  # anthropic-version header, or Azure api-version; empty = a known-good default
    max_output_tokens: int = 8192  # per engine answer; also capped by what is left of max_tokens_per_issue
    engine_max_retries: int = 4  # HTTP retries on 429/5xx/connection errors, honouring Retry-After
    allow_protected_paths: tuple[str, ...] = ()  # e.g. "src/CMakeLists.txt": build/CI files a patch may touch
    analysis_frames: int = 8  # mapped frames given code context and blame (README: localisation benchmark)
    commit_author: str = "crashbot[bot] <crashbot[bot]@users.noreply.github.com>"  # "Name <email>"
    push_token_env: str = "CRASHBOT_PUSH_TOKEN"  # noqa: S105 (a variable name) git push token; unset = API/App token
    draft_pr: bool = False  # open fix PRs as drafts
    # How the untrusted phase (coding agent, configure, build, test) is confined: auto (bwrap on Linux,
    # none elsewhere) | bwrap | none (unsandboxed, on purpose). See bot/build/sandbox.py.
    sandbox: SandboxMode = SandboxMode.AUTO
    sandbox_read_only: tuple[str, ...] = ()  # extra paths the sandbox shows read-only (a toolchain in a home)
    sandbox_writable: tuple[str, ...] = ()  # extra writable paths (a ccache directory)
    sandbox_env: tuple[str, ...] = ()  # extra variable names the sandboxed commands get (never a secret)

    def __post_init__(self) -> None:
        _coerce_choices(self, "fix")


@dataclass(frozen=True)
class SoapSettings:
    host: str = "127.0.0.1"
    port: int = 7878
    urn: str = "urn:TC"  # urn:AC for AzerothCore
    user_env: str = "CRASHBOT_SOAP_USER"
    password_env: str = "CRASHBOT_SOAP_PASSWORD"  # noqa: S105 (the name of the variable, not a secret)


@dataclass(frozen=True)
class RaSettings:
    host: str = "127.0.0.1"
    port: int = 3443
    user_env: str = "CRASHBOT_RA_USER"
    password_env: str = "CRASHBOT_RA_PASSWORD"  # noqa: S105 (the name of the variable, not a secret)
    prompt_regex: str = r"(?:TC|AC|mangos)>\s*$"  # the console prompt after login and after each command

    def __post_init__(self) -> None:
        problem = _regex_problem(self.prompt_regex)
        if problem:
            raise ConfigError(f"deploy.ra.prompt_regex {problem}")


@dataclass(frozen=True)
class DeploySettings:
    """After merge: build, graceful stop, release swap, start, health, rollback."""

    backend: Backend = Backend.PROCESS
    realm: str = ""
    environment: str = ""  # GitHub environment name; empty = the realm name or "production"
    service_name: str = "worldserver"
    systemd_user: bool = False  # systemctl --user (a user unit, no root needed)
    systemd_sudo: bool = False  # sudo -n systemctl start|stop|kill (install-runner.sh's sudoers line)
    install_dir: str = ""  # where releases/ and the live link live
    executable: str = "worldserver"
    arguments: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ("worldserver", "worldserver.exe", "*.dll", "*.pdb")
    keep_releases: int = 5
    control: ControlKind = ControlKind.SOAP  # none: signal / service stop only
    control_timeout_s: float = 15.0  # per SOAP request / RA dialogue
    shutdown_delay_s: int = 60
    shutdown_reason: str = "Restarting to deploy a crash fix"
    stop_timeout_s: float = 300.0
    ready_regex: str = r"\(worldserver-daemon\) ready\.\.\."
    ready_port: int = 0  # 0 = don't wait for a port
    log_file: str = ""  # server log to scan for the ready line; empty = the process backend's own log
    start_timeout_s: float = 300.0
    watch_window_s: float = 120.0
    core_dumps: bool = False  # process backend: start the server with no core size limit (RLIMIT_CORE)
    # deploy's own build directory, never one a fix build wrote; empty = <user cache>/crashbot/deploy-build
    build_dir: str = ""
    soap: SoapSettings = field(default_factory=SoapSettings)
    ra: RaSettings = field(default_factory=RaSettings)

    def __post_init__(self) -> None:
        _coerce_choices(self, "deploy")
        _check_shutdown(self.shutdown_delay_s, self.shutdown_reason)
        if self.systemd_user and self.systemd_sudo:
            raise ConfigError(
                "deploy.systemd_user and deploy.systemd_sudo exclude each other: a --user unit needs no sudo"
            )
        problem = _regex_problem(self.ready_regex)
        if problem:
            raise ConfigError(f"deploy.ready_regex {problem}")


@dataclass(frozen=True)
class SymbolsSettings:
    """The release symbol store and the symbolizer (see README "Symbols")."""

    store: str = ""  # folder of the symbol store; empty = no store (deploys keep no debug files)
    keep_releases: int = 10  # releases whose debug files `crashbot symbols prune` keeps
    max_bytes: int = 0  # prune older releases while the store is bigger than this; 0 = no cap
    symbolizer: str = ""  # llvm-symbolizer to run; empty = the first on PATH
    cdb: str = ""  # cdb.exe to run on minidumps (Windows); empty = the Debugging Tools' usual place
    timeout_s: float = 60.0  # longest llvm-symbolizer or cdb run per report


@dataclass(frozen=True)
class Config:
    """The whole configuration, one section per room."""

    github: GitHubSettings = field(default_factory=GitHubSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    uploader: UploaderSettings = field(default_factory=UploaderSettings)
    fix: FixSettings = field(default_factory=FixSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    symbols: SymbolsSettings = field(default_factory=SymbolsSettings)
    source: str = ""  # where this config came from (a path, or "" for defaults)


T = TypeVar("T")


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check/convert one TOML value against a dataclass field's type; raise ConfigError naming ``key``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, _table(value, key), key)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return choice(hint, value, key)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key!r}: expected a list, got {type(value).__name__}")
        return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or hint is dict:
        table = _table(value, key)
        return {str(k): _convert(v, args[1] if args else str, f"{key}.{k}") for k, v in table.items()}
    scalar = _SCALARS.get(hint)
    return value if scalar is None else scalar(value, key)


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"config key {key!r}: expected a table, got {type(value).__name__}")
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"config key {key!r}: expected true or false, got {value!r}")
    return value


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config key {key!r}: expected a whole number, got {value!r}")
    return value


def _float(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"config key {key!r}: expected a number, got {value!r}")
    if not math.isfinite(value):  # TOML allows nan and inf; no timeout or interval means either
        raise ConfigError(f"config key {key!r}: expected a finite number, got {value!r}")
    return float(value)


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
    return value


_SCALARS: Mapping[Any, typing.Callable[[Any, str], Any]] = {bool: _bool, int: _int, float: _float, str: _str}


def _dotted(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _build(cls: type[T], table: Mapping[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source"]  # type: ignore[arg-type]
    table = _without_retired(table, prefix)
    for key in table:
        if key not in names:
            near = closest(str(key), names)
            hint = f"did you mean {_dotted(prefix, near)!r}?" if near else "check the spelling"
            where = _shown(_dotted(prefix, str(key)))
            raise ConfigError(f"config key {where} is not a crashbot setting ({hint})")
    kwargs = {key: _convert(value, hints[key], _dotted(prefix, key)) for key, value in table.items()}
    return cls(**kwargs)


def _without_retired(table: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    """``table`` less the retired settings in it, each with its warning."""
    retired = [key for key in table if _dotted(prefix, str(key)) in RETIRED_KEYS]
    for key in retired:
        dotted = _dotted(prefix, str(key))
        logger.warning(
            "config key %r is no longer used (%s); delete it from crashbot.toml", dotted, RETIRED_KEYS[dotted]
        )
    return {k: v for k, v in table.items() if k not in retired} if retired else table


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an http(s) base URL crashbot can send requests to, or None when it is."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError as e:
        return f"{url!r} is not a valid URL ({e})"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} must start with http:// or https://"
    if not parts.hostname:
        return f"{url!r} names no host"
    if port == 0:
        return f"{url!r} has port 0"
    return None


def from_mapping(table: Mapping[str, Any], *, source: str = "") -> Config:
    """Build a Config from a parsed TOML table (validating every key and type)."""
    return dataclasses.replace(_build(Config, table), source=source)


def _read_text(path: Path) -> str:
    """The config file's text: UTF-8, with or without the BOM Windows editors write."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:64]:
        raise ConfigError(
            f"config file {str(path)!r} is UTF-16 text (Windows 'Unicode'); save it as UTF-8, "
            "which TOML requires"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config file {str(path)!r} is not UTF-8 text (byte {e.start}); "
            "save it as UTF-8, which TOML requires"
        ) from None


def load(path: str | os.PathLike[str] | None, *, env: Mapping[str, str]) -> Config:
    """Load ``path``, else ``$CRASHBOT_CONFIG`` (looked up in ``env``), else ``./crashbot.toml`` if
    present, else defaults. Every section's checks run here: a Config that loads is a valid one."""
    explicit = path is not None or bool(env.get(CONFIG_ENV))
    candidate = Path(path if path is not None else env.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME)
    name = str(candidate)
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"config file {name!r} does not exist")
        return Config()
    # Even the implicit ./crashbot.toml: a directory or pipe by that name is a mistake, not "no config"
    if candidate.is_dir():
        raise ConfigError(f"config file {name!r} is a directory; pass the crashbot.toml file itself")
    if not candidate.is_file():  # a FIFO would block the read until a writer came; /dev/zero never ends
        raise ConfigError(f"config file {name!r} is not a regular file (a pipe, device or socket)")
    try:
        table = tomllib.loads(_read_text(candidate))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {name!r} is not valid TOML: {e}") from e
    except RecursionError:  # tomllib recurses per nesting level: a "TOML bomb" of [[[[... exhausts it
        raise ConfigError(
            f"config file {name!r} is nested too deeply to be a crashbot config; check it is the right file"
        ) from None
    except OSError as e:
        raise ConfigError(f"config file {name!r} cannot be read: {e.strerror or e}") from e
    return from_mapping(table, source=str(candidate))


def overlay(config: Config, section: str, **values: Any) -> Config:
    """Return ``config`` with ``section``'s fields replaced by the non-None ``values`` (CLI flags)."""
    changes = {k: v for k, v in values.items() if v is not None}
    if not changes:
        return config
    current = getattr(config, section)
    return dataclasses.replace(config, **{section: dataclasses.replace(current, **changes)})


def secret_env_names(config: Config) -> frozenset[str]:
    """Every environment variable the configuration names as holding a secret, whatever it is called:
    code crashbot runs on the server's behalf (builds, tests, a coding agent) must never inherit them."""
    names = {
        *config.github.token_env,
        config.github.app_private_key_env,
        config.signing.key_env,
        config.notify.webhook_url_env,
        config.fix.api_key_env,
        config.fix.push_token_env,
        config.deploy.soap.password_env,
        config.deploy.ra.password_env,
    }
    return frozenset(n for n in names if n)


MIN_SIGNING_KEY_BYTES = 32  # HMAC-SHA256: a shorter key can be guessed offline from a public issue body
SIGNING_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_hex(32))"'


def signing_key(config: Config, env: Mapping[str, str]) -> bytes:
    """The payload signing key from the variable ``signing.key_env`` names; ConfigError (one line) when
    it is unset or shorter than :data:`MIN_SIGNING_KEY_BYTES`. Every command loads it here."""
    name = config.signing.key_env
    value = secret(name, env)
    if value is None:
        raise ConfigError(
            f"the payload signing key is not set: export {name or '(signing.key_env)'} with the key the "
            f"uploader signs crash issues with (make one with  {SIGNING_KEY_COMMAND})"
        )
    key = value.encode("utf-8")
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ConfigError(
            f"the payload signing key in {name} is {len(key)} bytes; at least {MIN_SIGNING_KEY_BYTES} are "
            "needed, since a short key can be guessed from a public issue "
            f"(make one with  {SIGNING_KEY_COMMAND})"
        )
    return key


def secret(env_name: str, env: Mapping[str, str]) -> str | None:
    """The value of the secret held in variable ``env_name`` of ``env`` (None when unset or empty)."""
    if not env_name:
        return None
    return env.get(env_name) or None
