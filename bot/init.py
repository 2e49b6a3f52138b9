"""What ``crashbot init`` writes into a server repository: config, workflows, and the steps left to do.

Pure apart from reading the repository (git remote, default branch, which folders exist) and writing the
files; the command layer prints. Templates ship as package data under ``bot/templates``.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bot import profiles
from bot.build.runner import DEFAULT_CONFIGURE, DEFAULT_TARGET, default_build
from bot.errors import GitError, UsageError
from bot.git import Git
from bot.profiles import Core, Profile

logger = logging.getLogger(__name__)

CONFIG_FILE = PurePosixPath("crashbot.toml")
WORKFLOWS_DIR = PurePosixPath(".github/workflows")
# crashbot's reusable workflows, copied into the server repository under these names ...
LOCAL_FIX = WORKFLOWS_DIR / "crashbot-fix.yml"
LOCAL_DEPLOY = WORKFLOWS_DIR / "crashbot-deploy.yml"
LOCAL_DASHBOARD = WORKFLOWS_DIR / "crashbot-dashboard.yml"
# ... and the thin callers that run them
CALLER_FIX = WORKFLOWS_DIR / "crash-fix.yml"
CALLER_DEPLOY = WORKFLOWS_DIR / "crash-deploy.yml"
CALLER_DASHBOARD = WORKFLOWS_DIR / "crash-dashboard.yml"  # the name the uploader dispatches
GUARD = WORKFLOWS_DIR / "crashfix-guard.yml"
# names of the reusable workflows in crashbot's own repository (for --uses-remote)
REMOTE_FIX = ".github/workflows/crash-fix.yml"
REMOTE_DEPLOY = ".github/workflows/crash-deploy.yml"
REMOTE_DASHBOARD = ".github/workflows/crash-dashboard.yml"

MODULES_PATH = "modules/**"  # a push touching modules rebuilds too, whatever the core's profile says

# Where worldserver's crash reports land relative to a checkout with an in-tree build or install:
# Windows writes Crashes/ next to worldserver.exe; AzerothCore's docker/install layout uses env/dist/bin.
CRASH_DIR_BASES = (
    "bin",
    "bin/Release",
    "bin/RelWithDebInfo",
    "build/bin",
    "build/bin/Release",
    "build/bin/RelWithDebInfo",
    "env/dist/bin",
)
CRASH_DIR_NAMES = ("Crashes", "crashes")  # plus the core's own (vMaNGOS writes "Crashs")

APP_PERMISSIONS = (
    ("Issues", "Read and write"),
    ("Contents", "Read and write"),
    ("Pull requests", "Read and write"),
    ("Deployments", "Read and write"),
    ("Actions", "Read and write"),  # the uploader starts the crash-dashboard workflow
    ("Metadata", "Read-only"),
)
SECRETS = (
    ("CRASHBOT_APP_PRIVATE_KEY", "the GitHub App's private key (.pem text)"),
    ("CRASHBOT_SIGNING_KEY", "the HMAC key shared with the uploader on the game host (>= 32 bytes)"),
    ("CRASHBOT_ENGINE_API_KEY", "the fix engine's API key (not needed for engine = none/replay/command)"),
    ("CRASHBOT_SOAP_PASSWORD", "password of the GM level 3+ SOAP/RA account (deploy.control = soap/ra)"),
)
VARIABLES = (
    ("CRASHBOT_UPLOADER_LOGIN", "the login that files crash issues, same as github.uploader_login"),
    (
        "CRASHBOT_FIX_RUNNER_LABEL",
        "label of the fix runner (default crashbot-fix); never a realm host's deploy runner",
    ),
    ("CRASHBOT_REALMS", 'JSON list of realms to deploy to, e.g. ["main"]'),
    (
        "CRASHBOT_SOAP_USER",
        "game account (GM level 3+) for the graceful SOAP/RA shutdown; its password is a secret",
    ),
)
SIGNING_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_hex(32))"'

_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
# branch names we put into a YAML flow list unquoted-safe; anything fancier is refused, not escaped
_BRANCH_RE = re.compile(r"[A-Za-z0-9._/-]+")
_SCP_LIKE_RE = re.compile(r"\A[\w.-]+@[\w.-]+:(?P<path>[^/].*)\Z")


@dataclass(frozen=True)
class RepoFacts:
    """What init could learn about the server repository (or was told on the command line)."""

    repo: str  # OWNER/NAME, or "" when neither --repo nor the origin remote says
    default_branch: str
    has_modules: bool
    crash_dirs: tuple[str, ...]  # existing crash-report folders found in the checkout (absolute)
    notes: tuple[str, ...] = ()  # what could not be detected, for the summary
    profile: Profile = field(default_factory=lambda: profiles.load(profiles.FALLBACK))
    modules: tuple[str, ...] = ()  # module folders under modules/ (AzerothCore)
    core_source: str = "default"  # how the core was chosen: "detected", "--core" or "default"


@dataclass(frozen=True)
class RemoteWorkflows:
    """``--uses-remote OWNER/REPO@SHA``: call crashbot's reusable workflows from its repository."""

    repo: str
    sha: str

    @classmethod
    def parse(cls, text: str) -> RemoteWorkflows:
        repo, sep, sha = text.strip().partition("@")
        if not sep or not _REPO_RE.fullmatch(repo):
            raise UsageError(f"--uses-remote must be OWNER/REPO@SHA, got {text!r}")
        if not _SHA_RE.fullmatch(sha):
            raise UsageError(
                f"--uses-remote needs a full 40-hex commit sha (a tag or branch can be moved), got {sha!r}"
            )
        return cls(repo, sha)

    def uses(self, workflow: str) -> str:
        return f"{self.repo}/{workflow}@{self.sha}"


@dataclass(frozen=True)
class InitFile:
    """One file init writes: its path relative to the repository root and its full text."""

    path: PurePosixPath
    text: str
    purpose: str


@dataclass(frozen=True)
class WriteResult:
    written: tuple[PurePosixPath, ...]
    overwritten: tuple[PurePosixPath, ...]
    skipped: tuple[PurePosixPath, ...]  # already there; --force replaces them


# ---------------------------------------------------------------------------------------------------
# detection


def repo_from_remote_url(url: str) -> str:
    """OWNER/NAME from a git remote URL (https, ssh, scp-like); "" for a local path or anything else."""
    text = url.strip()
    match = _SCP_LIKE_RE.match(text)
    if match:
        path = match.group("path")
    else:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https", "ssh", "git") or not parts.netloc:
            return ""
        path = parts.path
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) != 2:
        return ""
    name = f"{segments[0]}/{segments[1].removesuffix('.git')}"
    return name if _REPO_RE.fullmatch(name) else ""


def _git_out(git: Git, *args: str) -> str:
    try:
        return git.run(*args, check=False).strip()
    except GitError as e:
        logger.info("%s", e)
        return ""


def find_crash_dirs(repo_dir: Path, *, extra_name: str = "") -> tuple[str, ...]:
    """Existing crash-report folders of an in-tree build/install, as absolute paths."""
    found: dict[str, str] = {}
    names = tuple(dict.fromkeys((*CRASH_DIR_NAMES, extra_name) if extra_name else CRASH_DIR_NAMES))
    for base in CRASH_DIR_BASES:
        for name in names:
            candidate = repo_dir / base / name
            if candidate.is_dir():
                resolved = candidate.resolve()
                # a case-insensitive file system finds Crashes and crashes as one folder
                found.setdefault(os.path.normcase(str(resolved)), str(resolved))
    return tuple(found.values())


def detect(
    repo_dir: Path,
    *,
    env: Mapping[str, str],
    repo: str | None = None,
    default_branch: str | None = None,
    core: Core | None = None,
) -> RepoFacts:
    """Facts about the checkout at ``repo_dir`` (git runs with ``env``); explicit ``repo``/``default_branch``
    and ``core`` win over detection."""
    if not repo_dir.is_dir():
        raise UsageError(f"--repo-dir {str(repo_dir)!r} is not a directory; pass the server checkout")
    notes: list[str] = []
    git = Git(repo_dir, env=env)
    is_repo = _git_out(git, "rev-parse", "--is-inside-work-tree") == "true"
    if not is_repo:
        notes.append(f"{repo_dir} is not a git checkout: nothing was detected from git")
    if repo is not None:
        if not _REPO_RE.fullmatch(repo.strip()):
            raise UsageError(f"--repo must be OWNER/NAME, got {repo!r}")
        found_repo = repo.strip()
    else:
        origin = _git_out(git, "remote", "get-url", "origin") if is_repo else ""
        found_repo = repo_from_remote_url(origin)
        if not found_repo:
            why = f"origin is {origin!r}" if origin else "no origin remote"
            notes.append(f"repository not detected ({why}): set github.repo in crashbot.toml")
    branch = default_branch.strip() if default_branch is not None else _detect_branch(git, is_repo)
    if not _BRANCH_RE.fullmatch(branch) or branch.startswith(("-", "/")) or ".." in branch:
        raise UsageError(f"default branch {branch!r} is not a plain branch name; pass --default-branch")
    profile, core_source = _choose_profile(repo_dir, core, notes)
    return RepoFacts(
        repo=found_repo,
        default_branch=branch,
        has_modules=(repo_dir / profiles.MODULES_DIR).is_dir(),
        crash_dirs=find_crash_dirs(repo_dir, extra_name=profile.crash_dir_name),
        notes=tuple(notes),
        profile=profile,
        modules=profiles.modules(repo_dir),
        core_source=core_source,
    )


def _choose_profile(repo_dir: Path, core: Core | None, notes: list[str]) -> tuple[Profile, str]:
    if core is not None:
        return profiles.load(core), "--core"
    detected = profiles.detect(repo_dir)
    if detected is not None:
        return detected, "detected"
    fallback = profiles.load(profiles.FALLBACK)
    known = ", ".join(c.value for c in Core)
    notes.append(
        f"the core was not recognised (no marker file of {known}): {fallback.name} defaults written; "
        "pass --core to choose"
    )
    return fallback, "default"


def _detect_branch(git: Git, is_repo: bool) -> str:
    if not is_repo:
        return "main"
    remote_head = _git_out(git, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if remote_head.startswith("origin/"):
        return remote_head.removeprefix("origin/")
    # an unborn branch still has a name: the one `git init` chose
    return _git_out(git, "symbolic-ref", "--quiet", "--short", "HEAD") or "main"


# ---------------------------------------------------------------------------------------------------
# rendering


def template_text(*parts: str) -> str:
    """A template shipped under ``bot/templates`` (package data), as text."""
    resource = importlib.resources.files("bot").joinpath("templates", *parts)
    return resource.read_text(encoding="utf-8")


def toml_string(value: str) -> str:
    """A TOML basic string; JSON's escapes (``\\\\``, ``\\"``, ``\\uXXXX``) are all valid TOML."""
    return json.dumps(value)


def toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def core_line(facts: RepoFacts) -> str:
    """The config's header line naming the core, how it was chosen and its modules."""
    how = {"detected": "detected", "--core": "chosen with --core"}.get(facts.core_source, "not detected")
    line = (
        f"{facts.profile.name} ({how}; its defaults come from bot/profiles/{facts.profile.core.value}.toml)"
    )
    if facts.modules:
        line += "; modules: " + ", ".join(facts.modules)
    return line


def render_config(facts: RepoFacts) -> str:
    text = template_text(str(CONFIG_FILE))
    p = facts.profile
    if p.build_target == DEFAULT_TARGET:
        configure, build = "[]", "[]"  # the built-in default builds worldserver
    else:  # the built-in commands, written out for this core's target
        configure = toml_list(DEFAULT_CONFIGURE)
        build = toml_list(default_build(p.build_target))
    values = {
        "__CORE__": core_line(facts),
        "__REPO__": toml_string(facts.repo),
        "__CRASH_DIRS__": toml_list(facts.crash_dirs),
        "__ALLOWED_PATHS__": toml_list(p.allowed_paths),
        "__CONFIGURE_COMMAND__": configure,
        "__BUILD_COMMAND__": build,
        "__SERVICE_NAME__": toml_string(p.service_name),
        "__EXECUTABLE__": toml_string(p.executable),
        "__ARTIFACTS__": toml_list((p.executable, f"{p.executable}.exe", "*.dll", "*.pdb")),
        "__READY_REGEX__": toml_string(p.ready_regex),
        "__READY_PORT__": str(p.ready_port),
        "__SOAP_URN__": toml_string(p.soap_urn),
        "__RA_PROMPT__": toml_string(p.ra_prompt_regex),
    }
    return _fill(text, values, str(CONFIG_FILE))


def deploy_paths(facts: RepoFacts) -> tuple[str, ...]:
    paths = facts.profile.source_paths
    if facts.has_modules and MODULES_PATH not in paths:
        paths = (*paths, MODULES_PATH)
    return paths


def render_fix_caller(uses: str) -> str:
    return _fill(template_text("workflows", "crash-fix.yml"), {"__FIX_WORKFLOW__": uses}, str(CALLER_FIX))


def render_deploy_caller(uses: str, facts: RepoFacts) -> str:
    paths = "\n".join(f"      - {json.dumps(p)}" for p in deploy_paths(facts))
    return _fill(
        template_text("workflows", "crash-deploy.yml"),
        {
            "__DEPLOY_WORKFLOW__": uses,
            "__DEFAULT_BRANCH__": json.dumps(facts.default_branch),
            "__PATHS__": paths,
        },
        str(CALLER_DEPLOY),
    )


def render_dashboard_caller(uses: str) -> str:
    return _fill(
        template_text("workflows", "crash-dashboard.yml"),
        {"__DASHBOARD_WORKFLOW__": uses},
        str(CALLER_DASHBOARD),
    )


def _fill(text: str, values: dict[str, str], name: str) -> str:
    for placeholder, value in values.items():
        if placeholder not in text:
            raise AssertionError(f"template {name} lost its {placeholder} placeholder")
        text = text.replace(placeholder, value)
    leftover = re.findall(r"__[A-Z_]+__", text)
    if leftover:
        raise AssertionError(f"template {name} has unfilled placeholders {sorted(set(leftover))}")
    return text


def plan(facts: RepoFacts, *, remote: RemoteWorkflows | None = None) -> tuple[InitFile, ...]:
    """Every file init writes for ``facts``: the config, the callers, and (unless ``remote``) local copies
    of the reusable workflows, which the callers reach through GitHub's ``$/`` self-repository form."""
    files = [InitFile(CONFIG_FILE, render_config(facts), "crashbot settings (commented)")]
    if remote is None:
        files += [
            InitFile(LOCAL_FIX, template_text("workflows", "reusable", "crash-fix.yml"), "reusable fix"),
            InitFile(
                LOCAL_DEPLOY, template_text("workflows", "reusable", "crash-deploy.yml"), "reusable deploy"
            ),
            InitFile(
                LOCAL_DASHBOARD,
                template_text("workflows", "reusable", "crash-dashboard.yml"),
                "reusable dashboard",
            ),
        ]
        fix_uses, deploy_uses = f"$/{LOCAL_FIX}", f"$/{LOCAL_DEPLOY}"
        dashboard_uses = f"$/{LOCAL_DASHBOARD}"
    else:
        fix_uses, deploy_uses = remote.uses(REMOTE_FIX), remote.uses(REMOTE_DEPLOY)
        dashboard_uses = remote.uses(REMOTE_DASHBOARD)
    files += [
        InitFile(CALLER_FIX, render_fix_caller(fix_uses), "crash issue -> fix PR"),
        InitFile(CALLER_DEPLOY, render_deploy_caller(deploy_uses, facts), "merge -> deploy per realm"),
        InitFile(CALLER_DASHBOARD, render_dashboard_caller(dashboard_uses), "crash dashboard, on schedule"),
        InitFile(
            GUARD, template_text("workflows", "crashfix-guard.yml"), "fix PRs: no secrets until reviewed"
        ),
    ]
    return tuple(files)


# ---------------------------------------------------------------------------------------------------
# writing


def write(repo_dir: Path, files: Sequence[InitFile], *, force: bool = False) -> WriteResult:
    """Write ``files`` under ``repo_dir``; an existing file is kept unless ``force``."""
    written: list[PurePosixPath] = []
    overwritten: list[PurePosixPath] = []
    skipped: list[PurePosixPath] = []
    for item in files:
        target = repo_dir.joinpath(*item.path.parts)
        exists = target.exists()
        if exists and not force:
            skipped.append(item.path)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # LF on every platform: git's autocrlf (if any) decides the checkout's line endings
            target.write_text(item.text, encoding="utf-8", newline="\n")
        except OSError as e:
            raise UsageError(
                f"cannot write {target}: {e.strerror or e}; check the directory's permissions"
            ) from e
        (overwritten if exists else written).append(item.path)
    return WriteResult(tuple(written), tuple(overwritten), tuple(skipped))


# ---------------------------------------------------------------------------------------------------
# the steps left to do


def next_steps(facts: RepoFacts, *, remote: RemoteWorkflows | None = None) -> str:
    """What a person still has to do on GitHub and on the hosts, as numbered plain text."""
    repo = facts.repo or "OWNER/NAME"
    settings_url = f"https://github.com/{repo}/settings"
    perms = "\n".join(f"       - {name}: {level}" for name, level in APP_PERMISSIONS)
    secrets = "\n".join(f"       - {name}: {what}" for name, what in SECRETS)
    variables = "\n".join(f"       - {name}: {what}" for name, what in VARIABLES)
    lines = [
        "Next steps:",
        "",
        "  1. Create a GitHub App (Settings > Developer settings > GitHub Apps > New) with exactly these",
        "     repository permissions, no webhook, and install it on " + repo + ":",
        perms,
        "     Why not the workflow's GITHUB_TOKEN: events made with it start no workflows, so the fix PR",
        "     would get no CI and merging it would start no deploy.",
        "     Put the App's id and the installation id into crashbot.toml ([github] app_id,",
        "     app_installation_id), and set uploader_login there.",
        "",
        f"  2. Add these repository secrets ({settings_url}/secrets/actions):",
        secrets,
        f"     Generate the signing key with:  {SIGNING_KEY_COMMAND}",
        "     and give the same value to the uploader on the game host (env var CRASHBOT_SIGNING_KEY).",
        "",
        f"  3. Add these repository variables ({settings_url}/variables/actions):",
        variables,
        "",
        "  4. Register self-hosted runners (Settings > Actions > Runners) with these labels, as two runners",
        "     under two accounts (runner-setup creates them), never one runner with both labels:",
        "       - crashbot-fix on the machine that builds fixes (git, CMake, the C++ toolchain, bubblewrap",
        "         on Linux); it builds engine-written code and must hold no deploy right",
        "       - realm-<name> on each realm's game host, one per name in CRASHBOT_REALMS",
        "",
        "  5. Create one environment per realm, named like the realm; add required reviewers there if",
        f"     a person should approve each deploy ({settings_url}/environments). Put",
        "     CRASHBOT_SOAP_PASSWORD there as an environment secret rather than a repository secret.",
        "     Create the environment crashfix-review with required reviewers: crashfix-guard.yml waits",
        "     for it on every fix PR, and your own CI must skip crashfix/* branches in the jobs that hold",
        "     secrets or run on self-hosted runners (see the comment at the top of crashfix-guard.yml).",
        "",
        "  6. Make the repository private, or understand the risk: on a public repository anyone can open",
        "     an issue, and an issue-triggered job runs on your self-hosted runner. The crash-fix caller",
        "     runs only for issues opened by CRASHBOT_UPLOADER_LOGIN and crashbot verifies each crash's",
        "     HMAC, but GitHub's own advice is to keep self-hosted runners off public repositories.",
        "",
        f"  7. Commit and push the files above to the default branch ({facts.default_branch}):",
        "     issue-triggered workflows run only from there.",
        "",
        "  8. Check everything with:  crashbot doctor   (on the runner and on the game host)",
    ]
    if remote is not None:
        lines += [
            "",
            f"  The callers use {remote.repo}@{remote.sha[:12]}: a private {remote.repo} must allow access",
            "  from this repository (its Settings > Actions > General > Access).",
        ]
    return "\n".join(lines)
