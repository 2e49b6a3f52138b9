"""A small real world for pipeline tests: a git checkout with a bare remote served by the GitHub stand-in,
a signed crash issue filed by the uploader, a build command that really runs, and a scripted engine.

Each test module declares its own ``world`` fixture over :func:`make_world` (fixtures here would need
this directory's conftest, which another room owns).
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import FixEngine, FixSettings, GitHubSettings
from bot.crash.model import Crash, Frame
from bot.fix.engines import Abstain, EngineContext, EngineError, Patch, Proposal, Usage
from bot.fix.pipeline import FixRun
from bot.git import Git
from bot.github import GitHubClient, IssueRef, connect
from bot.issue import Occurrences, labels_for, render_body, render_title
from bot.standin import StandIn
from bot.vocabulary import LABEL_SPECS, label_spec, sig_label
from tests.crashes import make_crash
from tests.gitutil import git

REPO = "acme/worldserver"
KEY = b"test-signing-key-of-at-least-32-bytes"
UPLOADER = "crashbot-uploader[bot]"
FIXER = "crashbot-fixer[bot]"
SIG = "5ca1ab1e0ddba11"
CHAT_CPP = "src/server/game/Chat/Chat.cpp"
FAULT_LINE = 9

CHAT_SOURCE = """\
#include "Chat.h"

bool ChatHandler::HandleWhisper(std::string const& name, std::string const& text)
{
    if (name.empty())
        return false;

    Player* target = ObjectAccessor::FindPlayer(name);
    target->Whisper(text);
    return true;
}
"""

FIX_DIFF = f"""\
diff --git a/{CHAT_CPP} b/{CHAT_CPP}
--- a/{CHAT_CPP}
+++ b/{CHAT_CPP}
@@ -7,5 +7,7 @@ bool ChatHandler::HandleWhisper(std::string const& name, std::string const& text)

     Player* target = ObjectAccessor::FindPlayer(name);
+    if (!target)
+        return false;
     target->Whisper(text);
     return true;
 }}
"""

BROKEN_DIFF = FIX_DIFF.replace("+        return false;", "+        return BROKEN;")

# The "compiler": fails with a GCC-style diagnostic for every line that uses BROKEN, and writes a marker
# so tests can tell the build really ran on the patched tree.
BUILD_SCRIPT = """\
import pathlib, sys
source, build_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
build_dir.mkdir(parents=True, exist_ok=True)
failed = False
for path in sorted(source.rglob("*.cpp")):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if "BROKEN" in line:
            rel = path.relative_to(source).as_posix()
            print(f"{rel}:{number}:16: error: 'BROKEN' was not declared in this scope")
            failed = True
runs = build_dir / "runs.txt"
runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
sys.exit(1 if failed else 0)
"""


@dataclass
class ScriptedEngine:
    """A fake of the Engine protocol: answers with the given proposals in order (the last repeats) and
    keeps every context it was asked with."""

    answers: Sequence[str]  # a diff, "ABSTAIN: reason", or "FAIL: message" (raises EngineError)
    name: str = "scripted"
    model: str = "scripted-model-1"
    asked: list[EngineContext] = field(default_factory=list)

    def propose(self, ctx: EngineContext) -> Proposal:
        self.asked.append(ctx)
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        if answer.startswith("FAIL:"):
            raise EngineError(answer.removeprefix("FAIL:").strip())
        if answer.startswith("ABSTAIN:"):
            return Abstain(answer.removeprefix("ABSTAIN:").strip(), self.model, Usage(100, 10))
        return Patch(
            diff=answer,
            reasoning="Guard the null player before whispering.",
            model=self.model,
            usage=Usage(100, 50),
        )


@dataclass
class World:
    root: Path
    standin: StandIn
    workspace: Path
    remote: Path
    base_sha: str
    uploader: GitHubClient
    fixer: GitHubClient
    build_dir: Path
    build_script: Path

    def client(self, token: str) -> GitHubClient:
        return client_for(self.standin, token)

    def crash(
        self, *, signature_id: str = SIG, builds: Sequence[str] | None = None
    ) -> tuple[Crash, Occurrences]:
        frames = (
            Frame(
                function="ChatHandler::HandleWhisper",
                module="worldserver",
                file=f"/home/build/tc/{CHAT_CPP}",
                line=FAULT_LINE,
            ),
            Frame(
                function="World::Update", module="worldserver", file="/home/build/tc/src/World.cpp", line=3
            ),
        )
        crash = make_crash(
            frames=frames,
            meaningful=(0, 1),
            revision=self.base_sha[:12],
            signature_id=signature_id,
            signature_text="SIGSEGV | ChatHandler::HandleWhisper",
        )
        occ = Occurrences().record(datetime(2025, 1, 2, tzinfo=UTC), host="game1", build=self.base_sha[:12])
        for build in builds or ():
            occ = occ.record(datetime(2025, 1, 3, tzinfo=UTC), host="game1", build=build)
        return crash, occ

    def file_issue(
        self,
        *,
        client: GitHubClient | None = None,
        signature_id: str = SIG,
        builds: Sequence[str] | None = None,
        body: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> IssueRef:
        """File a crash issue the way the uploader does (signed payload, crash + sig labels)."""
        crash, occ = self.crash(signature_id=signature_id, builds=builds)
        gh = client or self.uploader
        text = body if body is not None else render_body(crash, occ, repo=REPO, payload_key=KEY)
        names = list(labels) if labels is not None else list(labels_for(crash, realm=None))
        gh.ensure_labels([*LABEL_SPECS, *(label_spec(n) for n in names)])
        return gh.create_issue(render_title(crash), text, names)

    def update_issue_builds(self, number: int, builds: Sequence[str]) -> None:
        """The uploader seeing the crash again on other builds: the signed body is rewritten."""
        crash, occ = self.crash(builds=builds)
        self.uploader.edit_issue(number, body=render_body(crash, occ, repo=REPO, payload_key=KEY))

    def settings(self, **overrides: object) -> FixSettings:
        base = FixSettings(
            engine=FixEngine.NONE,
            build_dir=str(self.build_dir),
            configure_command=(),
            build_command=(sys.executable, str(self.build_script), "{source}", "{build_dir}"),
            sandbox_read_only=(str(self.build_script),),  # the stand-in compiler lives beside the checkout
            max_attempts=3,
            max_open_prs=5,
            allowed_paths=("src/",),
            commit_author="crashbot-fixer[bot] <fixer@bots.invalid>",
        )
        return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]

    def run(self, engine: object, **overrides: object) -> FixRun:
        return FixRun(
            client=self.fixer,
            settings=self.settings(**overrides),
            uploader=UPLOADER,
            key=KEY,
            engine=engine,  # type: ignore[arg-type]
            workspace=self.workspace,
            base_branch="main",
            env={**os.environ, "CRASHBOT_PUSH_TOKEN": "fixer-token"},
            push_token_env="CRASHBOT_PUSH_TOKEN",
        )

    def remote_log(self, branch: str) -> list[str]:
        """``<author name>|<subject>`` of the branch in the bare remote, newest first."""
        out = git(self.remote, "log", "--format=%an|%s", f"refs/heads/{branch}")
        return out.splitlines()

    def remote_file(self, branch: str, path: str) -> str:
        return git(self.remote, "show", f"refs/heads/{branch}:{path}")

    def human_push(self, branch: str, tmp: Path) -> str:
        """A person clones, commits on the fix branch and pushes; returns the new sha."""
        clone = tmp / "alice-clone"
        git(tmp, "clone", "-q", str(self.remote), str(clone))
        git(clone, "checkout", "-q", branch)
        (clone / CHAT_CPP).write_text(CHAT_SOURCE + "// reviewed by alice\n")
        git(clone, "commit", "-q", "-am", "Alice's tweak", author="Alice <alice@example.invalid>")
        git(clone, "push", "-q", "origin", branch)
        return git(clone, "rev-parse", "HEAD")

    def issue_labels(self, number: int) -> set[str]:
        return set(self.fixer.get_issue(number).labels)

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self.standin.comments(REPO, number)

    def pulls(self) -> list[dict[str, Any]]:
        return self.standin.pulls(REPO)


def client_for(standin: StandIn, token: str) -> GitHubClient:
    return connect(
        GitHubSettings(repo=REPO, api_url=standin.api_url, timeout_s=10),
        env={"CRASHBOT_TOKEN": token},
        rng=random.Random(0),
        write_interval_s=0,
        sleep=lambda _s: None,
    )


def make_world(root: Path) -> Iterator[World]:
    workspace = root / "checkout"
    workspace.mkdir(parents=True)
    git(workspace, "init", "-q")
    files = {
        CHAT_CPP: CHAT_SOURCE,
        "src/World.cpp": "void World::Update()\n{\n    Tick();\n}\n",
        "CMakeLists.txt": "project(demo)\n",
        ".github/workflows/ci.yml": "on: push\n",
    }
    for name, text in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "Import the server")
    base_sha = git(workspace, "rev-parse", "HEAD")
    remote = root / "remote.git"
    git(root, "clone", "-q", "--bare", str(workspace), str(remote))
    git(workspace, "remote", "add", "origin", str(remote))
    script = root / "fake_compiler.py"
    script.write_text(BUILD_SCRIPT, encoding="utf-8")
    with StandIn(root / "gh") as standin:
        standin.add_repo(REPO, bare_path=remote)
        standin.add_token("uploader-token", "crashbot-uploader", kind="Bot")
        standin.add_token("fixer-token", "crashbot-fixer", kind="Bot")
        standin.add_token("alice-token", "alice")
        standin.add_token("mallory-token", "mallory")
        yield World(
            root=root,
            standin=standin,
            workspace=workspace,
            remote=remote,
            base_sha=base_sha,
            uploader=client_for(standin, "uploader-token"),
            fixer=client_for(standin, "fixer-token"),
            build_dir=root / "build",
            build_script=script,
        )


def sig_branch(signature_id: str = SIG) -> str:
    return "crashfix/" + sig_label(signature_id).removeprefix("sig:")


def workspace_is_clean(workspace: Path) -> bool:
    """Back on main, nothing changed, no local fix branch left behind."""
    return (
        git(workspace, "status", "--porcelain") == ""
        and Git(workspace, env=os.environ).current_branch() == "main"
        and git(workspace, "branch", "--list", "crashfix/*") == ""
    )
