"""The GitHub workflows: zizmor (regular and auditor personas, offline) and the GitHub workflow JSON
schema find nothing, and every ``crashbot`` command line they can assemble is one the CLI accepts."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# the reusable workflows `crashbot init` installs in a server repository run crashbot too
TEMPLATES = sorted((ROOT / "bot" / "templates" / "workflows").rglob("*.yml"))

# what the runner puts in the variables the run blocks use (any value of the right shape will do)
SAMPLE_VALUES = {
    "GITHUB_REPOSITORY": "acme/worldserver",
    "GITHUB_API_URL": "https://api.github.com",
    "GITHUB_WORKSPACE": "/runner/_work/worldserver/worldserver",
    "ISSUE_NUMBER": "12",
    "ENGINE": "none",
    "REALM": "main",
    "DEPLOY_REF": "0123456789abcdef0123456789abcdef01234567",
    "SENDER": "alice",
    "RUNNER_TEMP": "/runner/_work/_temp",
}
_ARGS_RE = re.compile(r"\bargs=\((?P<body>.*?)\)", re.DOTALL)
_ADD_RE = re.compile(r"\bargs\+=\((?P<body>[^)]*)\)")
_DIRECT_RE = re.compile(r"^\s*(?:crashbot|\$CRASHBOT|\$\{CRASHBOT\})\s+(?P<rest>.+)$", re.MULTILINE)
_RUN_RE = re.compile(r"^(?P<indent>\s*(?:- )?)run:\s*(?:[|>][-+]?\s*$|(?P<inline>\S.*)$)")
_VAR_RE = re.compile(r"\$\{?(?P<name>[A-Z_][A-Z0-9_]*)\}?")


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _run_blocks(path: Path) -> Iterator[str]:
    """The ``run:`` scripts of a workflow, read as text (templates carry placeholders YAML can't parse):
    a block scalar is every following line indented deeper than the ``run:`` key."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = _RUN_RE.match(line)
        if match is None:
            continue
        if match["inline"]:
            yield match["inline"]
            continue
        indent = len(match["indent"])
        block = []
        for following in lines[i + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        yield "\n".join(block)


def _words(text: str) -> list[str]:
    return [_VAR_RE.sub(lambda m: SAMPLE_VALUES.get(m["name"], "x"), w) for w in shlex.split(text)]


def command_lines(script: str) -> list[list[str]]:
    """Every argv a run block can hand crashbot: the ``args=( … )`` array with each ``args+=`` line either
    left out or added (``if …; then args+=(A); else args+=(B); fi`` picks exactly one), plus any direct
    ``crashbot …`` line."""
    found: list[list[str]] = []
    base = _ARGS_RE.search(script)
    if base is not None:
        assert '"${args[@]}"' in script, "the args array is assembled but never passed to crashbot"
        choices: list[list[list[str]]] = []
        for line in script.splitlines():
            adds = [_words(m["body"]) for m in _ADD_RE.finditer(line)]
            if not adds:
                continue
            choices.append(adds if re.search(r"\belse\b", line) else [[], *adds])
        for picked in itertools.product(*choices):
            found.append(_words(base["body"]) + [w for part in picked for w in part])
    for match in _DIRECT_RE.finditer(script):
        if '"${args[@]}"' not in match["rest"]:
            found.append(_words(match["rest"]))
    return found


def _all_command_lines() -> list[tuple[str, list[str]]]:
    lines = []
    for path in [*WORKFLOWS, *TEMPLATES]:
        for script in _run_blocks(path):
            for argv in command_lines(script):
                lines.append((f"{path.relative_to(ROOT)}: {' '.join(argv)}", argv))
    return lines


# -- linters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_workflows_zizmor_offline_finds_nothing(persona: str) -> None:
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--persona", persona, *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    done = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- crashbot command lines --------------------------------------------------------------------------


def test_workflows_run_crashbot_fix_and_deploy() -> None:
    commands = {argv[0] for _, argv in _all_command_lines()}
    assert {"fix", "deploy"} <= commands


@pytest.mark.parametrize(
    ("where", "argv"), _all_command_lines(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_workflow_crashbot_command_line_is_accepted_by_the_cli(where: str, argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:  # argparse's way of refusing
        pytest.fail(f"{where}: crashbot refuses this command line (exit {e.code})")


def test_command_lines_enumerates_optional_and_alternative_additions() -> None:
    script = (
        'args=(fix --repo "$GITHUB_REPOSITORY"\n  --workspace "$GITHUB_WORKSPACE")\n'
        'if [ -n "$ENGINE" ]; then args+=(--engine "$ENGINE"); fi\n'
        'if [ -n "$ISSUE_NUMBER" ]; then args+=(--issue "$ISSUE_NUMBER"); else args+=(--pending); fi\n'
        '$CRASHBOT "${args[@]}"\n'
    )

    lines = command_lines(script)

    base = ["fix", "--repo", "acme/worldserver", "--workspace", SAMPLE_VALUES["GITHUB_WORKSPACE"]]
    assert lines == [
        [*base, "--issue", "12"],
        [*base, "--pending"],
        [*base, "--engine", "none", "--issue", "12"],
        [*base, "--engine", "none", "--pending"],
    ]
