"""``crashbot doctor``'s checks: an ordered list of small checks, each answering one question with a fix.

Each check is a function ``(Probe) -> CheckResult``. The :class:`Probe` carries the configuration and
everything a check touches in the outside world (environment, ``which``, the GitHub connector, the
SOAP/RA channel factory), so tests run the real checks against controlled surroundings. GitHub is asked
once; the checks after "github" reuse that answer.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import github
from bot.build import sandbox
from bot.build.runner import resolve_build_dir
from bot.config import (
    DEFAULT_WER_DIR,
    MIN_SIGNING_KEY_BYTES,
    SIGNING_KEY_COMMAND,
    Backend,
    Config,
    ControlKind,
    CoreWatching,
    DeploySettings,
    FixEngine,
    SandboxMode,
    secret,
)
from bot.coredump.pattern import SUGGESTED_PATTERN, CorePattern, PatternKind, read_core_pattern
from bot.deploy.backends import make_commander
from bot.deploy.control import CommandChannel
from bot.deploy.errors import ControlAuthError, ControlError, ControlUnavailable, ServerControlError
from bot.deploy.shell import CommandRunner, run_command
from bot.deploy.systemd import PRIVILEGED_COMMANDS, SystemdControl
from bot.errors import BotError, ConfigError, GitHubError
from bot.fix.engines import make_engine
from bot.uploader.health import read_status, status_path
from bot.uploader.spool import default_spool_path
from bot.uploader.supervisor import MAX_STOP_WAIT_S, SERVICE_STOP_TIMEOUT_S, STOP_ANSWER_S, stop_wait_s
from bot.vocabulary import ALL_LABELS, REQUIRED_LABELS

logger = logging.getLogger(__name__)

SERVER_INFO_COMMAND = "server info"
_CONSOLE_SWITCH = {ControlKind.SOAP: "SOAP.Enabled", ControlKind.RA: "Ra.Enable", ControlKind.NONE: "-"}
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
# strongest first: the role GitHub's repository ``permissions`` object amounts to
_ROLES = (
    ("admin", "admin"),
    ("maintain", "maintain"),
    ("push", "write"),
    ("triage", "triage"),
    ("pull", "read"),
)
_WRITE_ROLES = frozenset({"admin", "maintain", "write"})

Which = Callable[[str], str | None]
Connect = Callable[..., github.GitHubClient]
Commander = Callable[[DeploySettings, Mapping[str, str]], CommandChannel | None]


class Status(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class CheckResult:
    """One row of the table: ``ok`` True passed, False failed, None skipped; ``fix`` says what to do."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    warning: bool = False  # passed, but something deserves a look (e.g. cdb missing)

    @property
    def status(self) -> Status:
        if self.ok is None:
            return Status.SKIP
        if not self.ok:
            return Status.FAIL
        return Status.WARN if self.warning else Status.OK


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, None, detail)


def warned(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, True, detail, fix, warning=True)


@dataclass(frozen=True)
class GitHubState:
    """What asking GitHub once told us: a client and its credentials' info, or why not."""

    client: github.GitHubClient | None = None
    info: github.TokenInfo | None = None  # None when the identity lookup failed (see identity_error)
    login: str = ""
    private: bool | None = None
    repo_error: GitHubError | None = None  # reachable and authenticated, but the repository refused
    identity_error: str = ""
    blocked: str = ""  # why GitHub could not be asked or answered (empty when it did)


def _default_connect(settings: Any, **kwargs: Any) -> github.GitHubClient:
    return github.connect(settings, **kwargs)


@dataclass
class Probe:
    """The world the checks look at. Everything with a side effect is injectable."""

    config: Config
    env: Mapping[str, str]
    repo: str = ""  # --repo, else github.repo
    api_url: str = ""  # --api-url, else github.api_url
    which: Which = shutil.which
    platform: str = sys.platform
    workspace: Path = field(default_factory=Path.cwd)
    skip_network: bool = False
    create_labels: bool = False
    connect: Connect = _default_connect
    commander: Commander = make_commander
    write_interval_s: float | None = None  # None: github.connect decides (none against loopback)
    core_pattern: Callable[[], CorePattern | None] = read_core_pattern
    run: CommandRunner = run_command  # commands a check asks about the host (sudo -n -l)
    clock: Callable[[], float] = time.time
    _github: GitHubState | BotError | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.repo = (self.repo or self.config.github.repo).strip()
        self.api_url = (self.api_url or self.config.github.api_url).strip()

    def github(self) -> GitHubState:
        """Ask GitHub once (repository, then identity); the answer, or the error, serves every later check."""
        if self._github is None:
            try:
                self._github = self._ask_github()
            except BotError as e:
                self._github = e
        if isinstance(self._github, BotError):
            raise self._github
        return self._github

    def _ask_github(self) -> GitHubState:
        if self.skip_network:
            return GitHubState(blocked="--skip-network")
        if not _REPO_RE.fullmatch(self.repo) or credentials_problem(self) is not None:
            return GitHubState(blocked="needs a repository and credentials (see above)")
        client = self.connect(
            self.config.github,
            env=self.env,
            repo=self.repo,
            api_url=self.api_url,
            write_interval_s=self.write_interval_s,
        )
        # The repository first, alone, so its refusal is not mistaken for an identity lookup's.
        try:
            repo = client.repo_info()
        except (github.NotFound, github.Forbidden) as e:
            if is_unauthorized(e):
                raise
            # the credentials work (or GitHub would say 401) but this repository refuses them
            return GitHubState(client=client, login=_login_or_empty(client), repo_error=e)
        try:
            info = client.token_scopes_or_permissions()
        except (github.NotFound, github.Forbidden) as e:
            # e.g. a server without GET /app: the repository answered, only the identity is unknown
            logger.info("identity lookup failed: %s", e)
            return GitHubState(client=client, private=repo.private, identity_error=e.diagnostic())
        return GitHubState(client=client, info=info, login=info.login, private=repo.private)


def _login_or_empty(client: github.GitHubClient) -> str:
    try:
        return client.whoami()
    except GitHubError:
        return ""


def is_unauthorized(error: GitHubError) -> bool:
    """True when GitHub answered 401: the credentials themselves are bad (not a missing permission)."""
    return isinstance(error, github.Unauthorized)


# ---------------------------------------------------------------------------------------------------
# configuration


def check_config(p: Probe) -> CheckResult:
    name = "config"
    if not p.config.source:
        return failed(
            name,
            "no crashbot.toml found ($CRASHBOT_CONFIG unset, none in the current directory); using defaults",
            "run `crashbot init` in the server checkout, or pass --config PATH",
        )
    # unknown keys and values never get this far: config.load refuses them, naming the nearest one
    return passed(name, f"{p.config.source} is valid")


def check_repository(p: Probe) -> CheckResult:
    name = "repository"
    if not p.repo:
        return failed(
            name, "github.repo is empty", 'set github.repo = "OWNER/NAME" in crashbot.toml, or pass --repo'
        )
    if not _REPO_RE.fullmatch(p.repo):
        return failed(
            name, f"{p.repo!r} is not OWNER/NAME", 'set github.repo = "OWNER/NAME" in crashbot.toml'
        )
    return passed(name, f"{p.repo} at {p.api_url}")


def credentials_problem(p: Probe) -> CheckResult | None:
    """The failed credentials row, or None when credentials are present (not yet proven to work)."""
    settings = p.config.github
    name = "credentials"
    if settings.app_auth:  # a half-configured App never loads (GitHubSettings refuses it)
        if settings.app_private_key_file:
            key_file = Path(settings.app_private_key_file).expanduser()
            if not key_file.is_file():
                return failed(
                    name,
                    f"App private key file {str(key_file)!r} does not exist",
                    "download the key from the App's settings page and fix github.app_private_key_file",
                )
        elif not secret(settings.app_private_key_env, p.env):
            key_env = settings.app_private_key_env or "CRASHBOT_APP_PRIVATE_KEY"
            token_too = " (a token is set, but github.app_id selects the App)" if _token_set(p) else ""
            return failed(
                name,
                f"GitHub App configured but ${key_env} is not set{token_too}",
                f"set {key_env} to the App's private key (.pem text), put it in the credentials folder as "
                f"{key_env} (Install-CrashbotUploader.ps1 -AppPrivateKeyFile; "
                f"/etc/crashbot/credentials/{key_env}), or set github.app_private_key_file to its path",
            )
        return None
    if any(secret(env_name, p.env) for env_name in settings.token_env):
        return None
    names = " or ".join(f"${n}" for n in settings.token_env) or "(github.token_env is empty)"
    return failed(
        name,
        f"no credentials: {names} not set and no GitHub App configured",
        "set CRASHBOT_TOKEN to a token with write access to the repository, or configure the GitHub App "
        "(github.app_id, github.app_installation_id, $CRASHBOT_APP_PRIVATE_KEY)",
    )


def _token_set(p: Probe) -> bool:
    return any(secret(env_name, p.env) for env_name in p.config.github.token_env)


def check_credentials(p: Probe) -> CheckResult:
    problem = credentials_problem(p)
    if problem is not None:
        return problem
    settings = p.config.github
    if settings.app_id:
        source = settings.app_private_key_file or f"${settings.app_private_key_env}"
        return passed(
            "credentials",
            f"GitHub App {settings.app_id}, installation {settings.app_installation_id}, key from {source}",
        )
    used = next(n for n in settings.token_env if secret(n, p.env))
    return passed("credentials", f"token from ${used}")


# ---------------------------------------------------------------------------------------------------
# GitHub


def _credential_fix(p: Probe) -> str:
    if p.config.github.app_id:
        return "check github.app_id and that the private key belongs to that App (regenerate it if unsure)"
    used = next((n for n in p.config.github.token_env if secret(n, p.env)), "CRASHBOT_TOKEN")
    return f"the token in ${used} is wrong, expired or revoked: create a new one and set it"


def check_github(p: Probe) -> CheckResult:
    name = "github"
    try:
        state = p.github()
    except ConfigError as e:
        return failed(name, e.diagnostic(), "fix the GitHub App settings the message names")
    except github.RateLimited as e:
        return failed(name, e.diagnostic(), "wait for the rate limit to reset, then run doctor again")
    except github.Unavailable as e:
        return failed(
            name,
            f"cannot reach {p.api_url}: {e.diagnostic()}",
            "check the network and proxy, and github.api_url / --api-url (Enterprise: https://HOST/api/v3)",
        )
    except GitHubError as e:
        if is_unauthorized(e):
            return failed(name, f"{p.api_url} rejected the credentials (401)", _credential_fix(p))
        return failed(name, e.diagnostic(), "see the message; run with -vv for the HTTP exchange")
    if state.blocked:
        return skipped(name, state.blocked)
    who = state.login or "an installation token (GitHub does not name it)"
    if state.identity_error:
        who = f"credentials GitHub would not name ({state.identity_error})"
    rate = ""
    if state.info is not None and state.info.rate_remaining is not None:
        rate = f"; {state.info.rate_remaining}/{state.info.rate_limit} requests left this hour"
    return passed(name, f"{p.api_url} answers; authenticated as {who}{rate}")


def _usable(p: Probe) -> GitHubState | None:
    """The GitHub answer when the "github" row passed (None otherwise: those rows are skipped)."""
    try:
        state = p.github()
    except BotError:
        return None
    return None if state.blocked else state


def _role(permissions: Mapping[str, bool]) -> str:
    return next((role for key, role in _ROLES if permissions.get(key)), "none")


def check_access(p: Probe) -> CheckResult:
    name = "repository access"
    state = _usable(p)
    if state is None or state.client is None:
        return skipped(name, "needs GitHub (see the github row)")
    who = state.login or "these credentials"
    if isinstance(state.repo_error, github.NotFound):
        return failed(
            name,
            f"{p.repo} not found (404) for {who}",
            "check github.repo's spelling; a private repository must have the token's owner as a "
            "collaborator, or the GitHub App installed on it",
        )
    if state.repo_error is not None:
        return failed(
            name,
            f"{p.repo} refused {who}: {state.repo_error.diagnostic()}",
            "install the GitHub App on this repository, or give the token's owner access",
        )
    role = _role(state.info.repo_permissions) if state.info and state.info.repo_permissions else ""
    if not role and state.login and not state.login.endswith("[bot]"):
        role = state.client.collaborator_permission(state.login)
    if not role:
        return warned(
            name,
            f"GitHub did not report the permissions of {who} on {p.repo}",
            "make sure the App has Issues, Contents, Pull requests and Deployments: Read and write, and "
            "that the installation accepted them",
        )
    if role not in _WRITE_ROLES:
        return failed(
            name,
            f"{who} has only {role} on {p.repo}; filing labelled issues, pushing fix branches and opening "
            "PRs need write (issues, contents, pull requests)",
            f"give {who} the Write role (Settings > Collaborators), or grant the App Issues, Contents, Pull "
            "requests and Deployments: Read and write and accept the new permissions on the installation",
        )
    return passed(name, f"{who} has {role} on {p.repo}")


def check_visibility(p: Probe) -> CheckResult:
    name = "repository visibility"
    state = _usable(p)
    if state is None or state.client is None or state.repo_error is not None:
        return skipped(name, "needs access to the repository (see above)")
    if state.private:
        return passed(name, f"{p.repo} is private")
    return warned(
        name,
        f"{p.repo} is public: anyone can open an issue, and crash issues start jobs on your self-hosted "
        "runner (gated on the uploader's login and the payload HMAC)",
        "make the repository private; GitHub advises against self-hosted runners on public repositories",
    )


def check_identity(p: Probe) -> CheckResult:
    name = "uploader identity"
    try:
        uploader = p.config.github.trusted_uploader()
    except ConfigError as e:
        return failed(
            name,
            e.diagnostic(),
            "set github.uploader_login to the login that files crash issues (an App's is '<app-slug>[bot]') "
            "and the repository variable CRASHBOT_UPLOADER_LOGIN to the same value",
        )
    state = _usable(p)
    if state is None or not state.login:
        return passed(name, f"uploader is {uploader}; these credentials' login is unknown")
    if state.login.lower() == uploader.lower():
        return passed(
            name, f"uploader is {uploader}; these credentials are the uploader (right on the game host)"
        )
    return passed(
        name,
        f"uploader is {uploader}; these credentials act as {state.login} "
        "(right for the fix runner; the game host's uploader must use the uploader's credentials)",
    )


def check_labels(p: Probe) -> CheckResult:
    """The labels the loop relies on must exist; ``--create-labels`` creates every label crashbot uses."""
    name = "labels"
    state = _usable(p)
    if state is None or state.client is None or state.repo_error is not None:
        return skipped(name, "needs access to the repository (see above)")
    existing = {label.lower() for label in state.client.list_labels()}
    missing = [spec for spec in ALL_LABELS if spec.name.lower() not in existing]
    if missing and p.create_labels:
        created = state.client.ensure_labels(missing)
        return passed(name, f"created {len(created)}: {', '.join(created)}" if created else "all exist")
    required = [spec.name for spec in REQUIRED_LABELS if spec in missing]
    if required:
        fix = "run `crashbot doctor --create-labels` (needs write access), or create them in Issues > Labels"
        return failed(name, f"missing: {', '.join(required)}", fix)
    detail = ", ".join(spec.name for spec in REQUIRED_LABELS) + " exist"
    if missing:
        detail += (
            f"; {len(missing)} more that crashbot creates on first use do not yet"
            " (`crashbot doctor --create-labels` creates them now)"
        )
    return passed(name, detail)


# ---------------------------------------------------------------------------------------------------
# secrets


def check_signing_key(p: Probe) -> CheckResult:
    name = "signing key"
    env_name = p.config.signing.key_env
    if not env_name:
        return failed(name, "signing.key_env is empty", 'set signing.key_env = "CRASHBOT_SIGNING_KEY"')
    value = secret(env_name, p.env)
    how = (
        f"generate one with  {SIGNING_KEY_COMMAND}  and set it as ${env_name} here, on the game host and "
        f"as the repository secret {env_name}: uploader and runner must share it"
    )
    if value is None:
        return failed(name, f"${env_name} is not set", how)
    size = len(value.encode("utf-8"))
    if size < MIN_SIGNING_KEY_BYTES:
        return failed(name, f"${env_name} is {size} bytes; at least {MIN_SIGNING_KEY_BYTES} are needed", how)
    return passed(name, f"${env_name} is set ({size} bytes)")


def check_engine(p: Probe) -> CheckResult:
    name = "fix engine"
    settings = p.config.fix
    engine = settings.engine
    if engine is FixEngine.NONE:
        return skipped(name, "engine = none: crashbot fix posts its analysis, never a patch")
    try:
        make_engine(settings, env=p.env)
    except BotError as e:
        return failed(
            name,
            e.diagnostic(),
            "set the variable fix.api_key_env names (the fix workflow fills it from the secret "
            "CRASHBOT_ENGINE_API_KEY), and fix.model / fix.command / fix.replay_patch as the engine needs",
        )
    keyed = f" with key ${settings.api_key_env}" if secret(settings.api_key_env, p.env) else ""
    return passed(name, f"{engine}{(' model ' + settings.model) if settings.model else ''}{keyed}")


# ---------------------------------------------------------------------------------------------------
# runner tools


def _tool(p: Probe, name: str, programs: Sequence[str], fix: str) -> CheckResult:
    for program in programs:
        path = p.which(program)
        if path:
            return passed(name, path)
    return failed(name, f"{' / '.join(programs)} not on PATH", fix)


def check_git(p: Probe) -> CheckResult:
    return _tool(
        p, "tool: git", ("git",), "install git (Windows: Git for Windows) and put it on the runner's PATH"
    )


def check_cmake(p: Probe) -> CheckResult:
    return _tool(p, "tool: cmake", ("cmake",), "install CMake and put it on the runner's PATH")


def _program_files_x86(p: Probe) -> Path | None:
    base = p.env.get("ProgramFiles(x86)") or p.env.get("PROGRAMFILES(X86)")
    return Path(base) if base else None


def check_compiler(p: Probe) -> CheckResult:
    name = "tool: C++ compiler"
    windows = p.platform == "win32"
    programs = ("cl", "clang-cl", "clang++", "g++") if windows else ("g++", "clang++", "c++")
    for program in programs:
        path = p.which(program)
        if path:
            return passed(name, path)
    if windows:
        base = _program_files_x86(p)
        vswhere = base / "Microsoft Visual Studio" / "Installer" / "vswhere.exe" if base else None
        if vswhere is not None and vswhere.is_file():
            # cl.exe is on PATH only in a developer prompt; CMake's Visual Studio generator finds it
            return passed(name, f"Visual Studio (via {vswhere}); CMake's generator locates cl.exe")
        return failed(
            name,
            "no cl.exe, clang++ or g++ on PATH and no Visual Studio installation found",
            "install Visual Studio (or Build Tools) with the 'Desktop development with C++' workload",
        )
    return failed(
        name, f"{' / '.join(programs)} not on PATH", "install g++ or clang++ (e.g. apt install g++)"
    )


def check_debugger(p: Probe) -> CheckResult:
    if p.platform == "win32":
        name = "tool: cdb"
        path = p.which("cdb")
        base = _program_files_x86(p)
        kit = base / "Windows Kits" / "10" / "Debuggers" / "x64" / "cdb.exe" if base else None
        if path or (kit is not None and kit.is_file()):
            return passed(name, str(path or kit))
        return warned(
            name,
            "cdb not found: .dmp files cannot be turned into cdb stacks on this host",
            "optional: install 'Debugging Tools for Windows' from the Windows SDK",
        )
    if p.platform.startswith("linux"):
        name = "tool: gdb"
        path = p.which("gdb")
        if path:
            return passed(name, path)
        return warned(
            name,
            "gdb not on PATH: the game host needs it to write crash logs (crashreport.gdb) and to read cores",
            "install gdb on the game host (e.g. apt install gdb); the build runner can do without",
        )
    return skipped("tool: debugger", f"no debugger check for platform {p.platform}")


SYMBOLIZERS = ("llvm-symbolizer", *(f"llvm-symbolizer-{v}" for v in range(20, 12, -1)))


def check_symbolizer(p: Probe) -> CheckResult:
    """llvm-symbolizer resolves unresolved frames through PDBs and DWARF (issue 12)."""
    name = "tool: llvm-symbolizer"
    configured = p.config.symbols.symbolizer
    found = (
        (p.which(configured) or (configured if Path(configured).is_file() else None)) if configured else None
    )
    found = found or next((path for path in map(p.which, SYMBOLIZERS) if path), None)
    if found:
        return passed(name, found)
    fix = (
        "install LLVM (`winget install LLVM.LLVM`, or runner-setup\\Install-CrashbotRunner.ps1 -InstallLlvm)"
        if p.platform == "win32"
        else "install LLVM (e.g. apt install llvm)"
    )
    where = f"{configured} not found" if configured else "not on PATH"
    return warned(name, f"{where}: crashes from builds without their .pdb stay bare addresses", fix)


def check_symbol_store(p: Probe) -> CheckResult:
    name = "symbol store"
    root = p.config.symbols.store
    if not root:
        return warned(
            name,
            "no [symbols] store: deploys keep no debug files, so bare frames cannot be resolved later",
            'set [symbols] store = "<folder>" in crashbot.toml (see README "Symbols")',
        )
    from bot.symbols.store import SymbolStore  # only the store check needs the symbols room

    store = SymbolStore(Path(root))
    if not store.root.exists():
        return passed(
            name, f"{root} does not exist yet; the first `crashbot deploy` or `symbols add` makes it"
        )
    if not os.access(store.root, os.W_OK):
        return failed(
            name, f"{root} is not writable by this account", "give the runner's account write access"
        )
    releases = store.releases()  # a damaged index raises a BotError: run_checks makes it this row's FAIL
    return passed(name, f"{root}: {len(releases)} release(s), {store.size() / 1e6:.1f} MB")


# ---------------------------------------------------------------------------------------------------
# host folders


def _readable_dir(path: Path) -> str | None:
    """Why ``path`` cannot be watched, or None when it can."""
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is not a folder"
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except OSError as e:
        return f"{path} cannot be read ({e.strerror or e})"
    return None


_CORE_FIX = (
    f"sudo sysctl -w kernel.core_pattern={SUGGESTED_PATTERN} (persist it in /etc/sysctl.d/60-crashbot.conf), "
    "create the folder, and start worldserver with core dumps on (LimitCORE=infinity in its unit)"
)


def check_core_pattern(p: Probe) -> CheckResult:
    """Where Linux cores go, and whether ``crashbot watch`` can pick them up from there."""
    name = "core_pattern"
    if not p.platform.startswith("linux"):
        return skipped(name, f"cores are a Linux matter (this host is {p.platform})")
    if p.config.uploader.cores is CoreWatching.OFF:
        return skipped(name, "uploader.cores = off: core files are not watched")
    pattern = p.core_pattern()
    if pattern is None:
        return skipped(name, "/proc/sys/kernel/core_pattern cannot be read here")
    shown = f"kernel.core_pattern = {pattern.raw!r}"
    if pattern.kind is PatternKind.FOLDER:
        assert pattern.directory is not None
        why = _readable_dir(pattern.directory)
        if why:
            return warned(
                name, f"{shown}: {why}", f"create {pattern.directory} and let crashbot's account read it"
            )
        return passed(name, f"{shown}: cores land in {pattern.directory}, which crashbot watches")
    if pattern.kind is PatternKind.SYSTEMD:
        if p.which("coredumpctl"):
            return passed(
                name, f"{shown}: cores go to systemd-coredump; crashbot reads them with coredumpctl"
            )
        return warned(name, f"{shown}: piped to systemd-coredump, but coredumpctl is not on PATH", _CORE_FIX)
    if pattern.kind is PatternKind.PIPE:
        return warned(
            name, f"{shown}: cores are piped to {pattern.program}, which crashbot cannot read", _CORE_FIX
        )
    if pattern.kind is PatternKind.RELATIVE and p.config.uploader.core_dirs:
        watched = ", ".join(p.config.uploader.core_dirs)
        return passed(name, f"{shown}: cores land in the server's working directory; watching {watched}")
    where = (
        "the server's working directory" if pattern.kind is PatternKind.RELATIVE else "a folder that varies"
    )
    return warned(
        name,
        f"{shown}: cores land in {where}, which crashbot does not know",
        f"add that folder to uploader.core_dirs, or {_CORE_FIX}",
    )


def check_crash_dirs(p: Probe) -> CheckResult:
    name = "crash folders"
    dirs = p.config.uploader.crash_dirs
    if not dirs:
        return skipped(name, "uploader.crash_dirs is empty (only the game host's uploader needs it)")
    problems = [why for d in dirs if (why := _readable_dir(Path(d).expanduser())) is not None]
    if problems:
        return failed(
            name,
            "; ".join(problems),
            "fix uploader.crash_dirs (worldserver writes reports to Crashes/ next to its executable), "
            "and let the account running `crashbot watch` read it",
        )
    return passed(name, ", ".join(dirs))


def check_wer_reports(p: Probe) -> CheckResult:
    """Whether ``crashbot watch`` can read the Report.wer files WER keeps (``uploader.wer_reports``)."""
    name = "WER reports"
    up = p.config.uploader
    if not up.wer_reports:
        return skipped(name, "uploader.wer_reports is off: Windows Error Reporting's reports are not read")
    folder = Path(up.wer_dir or DEFAULT_WER_DIR).expanduser()
    why = _readable_dir(folder)
    if why:
        return failed(
            name,
            why,
            "set uploader.wer_dir to WER's ReportArchive folder, and run `crashbot watch` as an account that "
            "may read it (an administrator, or the service's own account)",
        )
    return passed(name, f"{folder}: reports of {', '.join(up.wer_exe_names)}")


def _ago(when: float, now: float) -> str:
    if not when:
        return "never"
    seconds = max(now - when, 0.0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def check_uploader_status(p: Probe) -> CheckResult:
    """The heartbeat ``crashbot watch`` keeps beside its spool: last upload, pending count, last error."""
    name = "uploader status"
    spool = Path(p.config.uploader.spool or default_spool_path(p.env, platform=p.platform)).expanduser()
    path = status_path(spool)
    status = read_status(path)
    if status is None:
        return skipped(name, f"no heartbeat at {path} (crashbot watch has not run with this spool)")
    now = p.clock()
    detail = (
        f"last upload {_ago(status.last_upload_at, now)}, {status.pending} pending, "
        f"updated {_ago(status.updated_at, now)}"
    )
    if status.failing_since:
        return warned(
            name,
            f"{detail}; failing since {_ago(status.failing_since, now)}: {status.last_error}",
            "fix what the last error names; the spool keeps every report until then",
        )
    if status.last_error:
        detail += f"; last error (recovered): {status.last_error}"
    return passed(name, detail)


def check_watch_stop(p: Probe) -> CheckResult:
    """Whether a request in flight when the service stops can finish before ``crashbot watch`` kills its
    publisher: the watcher waits ``github.timeout_s`` and the answer, capped to fit the service manager's
    stop timeout (systemd's TimeoutStopSec=, WinSW's <stoptimeout>)."""
    name = "watch stop"
    spool = Path(p.config.uploader.spool or default_spool_path(p.env, platform=p.platform)).expanduser()
    if not p.config.uploader.crash_dirs and read_status(status_path(spool)) is None:
        return skipped(name, "crashbot watch does not run here (no uploader.crash_dirs, no heartbeat)")
    timeout = p.config.github.timeout_s
    wait = stop_wait_s(timeout)
    if timeout + STOP_ANSWER_S <= wait:
        return passed(
            name,
            f"a stopping crashbot watch waits up to {wait:g}s for the request in flight (github.timeout_s "
            f"= {timeout:g}), inside the service's {SERVICE_STOP_TIMEOUT_S:g}s stop timeout",
        )
    return warned(
        name,
        f"github.timeout_s = {timeout:g}: a request in flight when the service stops may need "
        f"{timeout + STOP_ANSWER_S:g}s, but crashbot watch kills its publisher after {wait:g}s to stop "
        f"within the service's {SERVICE_STOP_TIMEOUT_S:g}s (the report stays spooled and is sent at the "
        "next start)",
        f"set github.timeout_s to {MAX_STOP_WAIT_S - STOP_ANSWER_S:g} or less",
    )


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor (where creating it would start)."""
    return next((c for c in (path, *path.parents) if c.exists()), path)


def check_build_dir(p: Probe) -> CheckResult:
    name = "build folder"
    try:
        build_dir = resolve_build_dir(p.config.fix, p.workspace, env=p.env)
    except ConfigError as e:
        return failed(name, e.diagnostic(), "set fix.build_dir to a folder outside the server checkout")
    fix = "set fix.build_dir to a folder the runner's account can write, outside the server checkout"
    target = _nearest_existing(build_dir)
    if not target.is_dir():
        return failed(name, f"{target} is not a folder", fix)
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as e:
        return failed(name, f"{target} is not writable ({e.strerror or e})", fix)
    created = "" if target == build_dir else " (will be created)"
    return passed(name, f"{build_dir}{created}")


def check_sandbox(p: Probe) -> CheckResult:
    """The sandbox untrusted build, test and agent commands run in (fix.sandbox): present and working."""
    name = "fix sandbox"
    try:
        mode = sandbox.resolve_mode(p.config.fix.sandbox, platform=p.platform)
    except ConfigError as e:
        return failed(name, e.diagnostic(), "set fix.sandbox to auto, bwrap or none")
    if mode is SandboxMode.NONE:
        where = "fix.sandbox" if p.config.fix.sandbox is SandboxMode.NONE else "this platform has no bwrap"
        return skipped(
            name,
            f"none ({where}): engine-written code builds and runs unsandboxed; on Windows use the build "
            "account runner-setup creates (README: Security model)",
        )
    program = p.which(sandbox.BWRAP)
    if program is None:
        return failed(
            name, "bwrap is not installed", "apt-get install bubblewrap (or set fix.sandbox = 'none')"
        )
    try:
        sandbox.make(p.config.fix.sandbox, writable=(), platform=p.platform, program=program)
    except ConfigError as e:
        return failed(name, e.diagnostic(), "allow unprivileged user namespaces for bwrap")
    return passed(name, f"bubblewrap at {program}")


# ---------------------------------------------------------------------------------------------------
# the realm's remote console


def check_server_control(p: Probe) -> CheckResult:
    deploy = p.config.deploy
    name = f"server control ({deploy.control})"
    if deploy.control is ControlKind.NONE:
        return skipped(name, "deploy.control = none: the server is stopped without warning players")
    if p.skip_network:
        return skipped(name, "--skip-network")
    try:
        channel = p.commander(deploy, p.env)
    except ConfigError as e:
        return failed(name, e.diagnostic(), "set the account's env vars on the realm host (see the message)")
    if channel is None:
        return skipped(name, "no remote console configured")
    section = deploy.soap if deploy.control is ControlKind.SOAP else deploy.ra
    where = f"{section.host}:{section.port}"
    try:
        output = channel.execute(SERVER_INFO_COMMAND)
    except ControlUnavailable as e:
        return failed(
            name,
            e.diagnostic(),
            f"start worldserver with {_CONSOLE_SWITCH[deploy.control]} = 1, "
            f"or fix deploy.{deploy.control}.host/port (now {where})",
        )
    except ControlAuthError as e:
        return failed(
            name,
            e.diagnostic(),
            f"check ${section.user_env}/${section.password_env}: an existing account of GM level 3+ "
            "for realm -1",
        )
    except ControlError as e:
        return failed(name, e.diagnostic(), f"check deploy.{deploy.control} in crashbot.toml")
    first = next((line.strip() for line in output.splitlines() if line.strip()), "(no output)")
    return passed(name, f"{where} answers `{SERVER_INFO_COMMAND}`: {first[:80]}")


_SUDO_TIMEOUT_S = 30.0


def check_deploy_sudo(p: Probe) -> CheckResult:
    """With deploy.systemd_sudo, whether this account may run exactly the systemctl commands crashbot
    deploy runs through ``sudo -n`` (``sudo -n -l COMMAND`` answers without running it, or asking)."""
    deploy = p.config.deploy
    name = "deploy sudo"
    if deploy.backend is not Backend.SYSTEMD or not deploy.systemd_sudo:
        return skipped(name, "deploy.systemd_sudo is off: crashbot deploy runs no command through sudo")
    control = SystemdControl(deploy.service_name, sudo=True, runner=p.run)
    fix = (
        f"as root: runner-setup/install-runner.sh --role deploy --unit {deploy.service_name} (it writes the "
        "sudoers line), and run crashbot doctor as the deploy runner's account"
    )
    refused = []
    for command in PRIVILEGED_COMMANDS:
        argv = control.argv(*command)  # sudo -n systemctl ...
        try:
            result = p.run([argv[0], "-n", "-l", *argv[2:]], _SUDO_TIMEOUT_S)
        except ServerControlError as e:  # sudo is not installed
            return failed(name, e.diagnostic(), f"apt-get install sudo; then {fix}")
        if not result.ok:
            refused.append(" ".join(argv[2:]))
    if refused:
        return failed(name, f"sudo -n refuses this account {'; '.join(refused)}", fix)
    verbs = "|".join(c[0] for c in PRIVILEGED_COMMANDS)
    return passed(name, f"sudo -n may run systemctl {verbs} {deploy.service_name}, as crashbot deploy does")


# ---------------------------------------------------------------------------------------------------
# running and reporting

Check = Callable[[Probe], CheckResult]

CHECKS: tuple[Check, ...] = (
    check_config,
    check_repository,
    check_credentials,
    check_github,
    check_access,
    check_visibility,
    check_identity,
    check_labels,
    check_signing_key,
    check_git,
    check_cmake,
    check_compiler,
    check_debugger,
    check_symbolizer,
    check_symbol_store,
    check_core_pattern,
    check_crash_dirs,
    check_wer_reports,
    check_uploader_status,
    check_watch_stop,
    check_server_control,
    check_deploy_sudo,
    check_engine,
    check_build_dir,
    check_sandbox,
)


def run_checks(probe: Probe, checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    """Every check in order. One check's bug becomes its own FAIL row instead of hiding the others."""
    results = []
    for check in checks:
        try:
            results.append(check(probe))
        except BotError as e:
            results.append(failed(_name_of(check), e.diagnostic(), "see the message"))
        except Exception as e:  # deliberate per-check isolation boundary
            logger.debug("doctor check %s crashed", check.__name__, exc_info=True)
            results.append(
                failed(
                    _name_of(check),
                    f"internal error: {type(e).__name__}: {e}",
                    "run with -vv for details and report it",
                )
            )
    return results


def _name_of(check: Check) -> str:
    return getattr(check, "__name__", "check").removeprefix("check_").replace("_", " ")


def all_passed(results: Sequence[CheckResult]) -> bool:
    return not any(r.status is Status.FAIL for r in results)


def render_table(results: Sequence[CheckResult]) -> str:
    """Plain-text table: check | status | detail | fix, then a count per status."""
    header = ("check", "status", "detail", "fix")
    rows = [(r.name, r.status.value, r.detail, r.fix) for r in results]
    name_w = max(len(header[0]), *(len(r[0]) for r in rows)) if rows else len(header[0])
    status_w = max(len(header[1]), *(len(s.value) for s in Status))
    detail_w = min(70, max([len(header[2]), *(len(r[2]) for r in rows)]))
    lines = []
    for name, status, detail, fix in (header, *rows):
        line = f"{name:<{name_w}}  {status:<{status_w}}  {detail:<{detail_w}}  {fix}"
        lines.append(line.rstrip())
    counts = {s: sum(1 for r in results if r.status is s) for s in Status}
    lines.append("")
    lines.append(", ".join(f"{counts[s]} {s.value}" for s in Status))
    return "\n".join(lines)
