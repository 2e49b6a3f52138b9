"""crashbot's GitHub vocabulary: the labels, comment markers, branch names and commit trailer it writes
and later reads back.

These names are crashbot's only memory between runs and between its parts (the uploader files an issue
labelled ``sig:<id>``, the fix run pushes ``crashfix/<id>`` and labels the issue, the deploy tells the
issue and drops its ``crash-fix-pr`` label), so they live here, once. Pure: imports nothing of crashbot.

The contract between a fix run and its reruns:

* the crash issue gets ``crash-fix-attempted`` once a run reached a conclusion (a PR, or an honest "no
  fix"); ``crashbot fix --pending`` sweeps open ``crash`` issues without it. Removing the label queues the
  issue for the next sweep; ``crashbot fix --issue N`` ignores it.
* the crash issue carries ``crash-fix-pr`` while crashbot believes it has an open PR for it: counting the
  open fix PRs (the cap) reads these issues and drops stale labels, because the REST API cannot list
  pull requests by label.
* the fix PR comes from branch ``crashfix/<signature id>`` and is labelled ``crash-fix``; each crashbot
  commit ends with the trailer ``Crashbot-Signature: <id>``, so a commit without it on the branch was
  pushed by a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_LABEL_CHARS = 50  # GitHub: "name is too long (maximum is 50 characters)"
_LABEL_UNSAFE_RE = re.compile(r"[^a-z0-9._-]+")
_MARKER_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.:/-]+")


# ---------------------------------------------------------------------------------------------------
# labels


@dataclass(frozen=True)
class LabelSpec:
    """A repository label crashbot creates when missing (colour is 6 hex digits, no ``#``)."""

    name: str
    color: str
    description: str


SIG_PREFIX = "sig:"
REALM_PREFIX = "realm:"
REALM_DOWN_PREFIX = "realm-down:"

CRASH_LABEL = "crash"  # every crash issue carries it; the fix workflow triggers on it
REGRESSION_LABEL = "regression"
HANDLED_LABEL = "crash-fix-attempted"
PR_LABEL = "crash-fix"
OPEN_PR_LABEL = "crash-fix-pr"
FIX_DEPLOYED_LABEL = "fix-deployed"
FIX_VERIFIED_LABEL = "fix-verified"
DASHBOARD_LABEL = "crash-dashboard"
UPTIME_LABEL = "crash-uptime"  # one closed issue per realm: the uploader's uptime ledger (bot.ledger)

CRASH = LabelSpec(CRASH_LABEL, "b60205", "A server crash filed by crashbot")
REGRESSION = LabelSpec(REGRESSION_LABEL, "e11d21", "A crash that came back after its issue was closed")
FIX_PR = LabelSpec(PR_LABEL, "0e8a16", "A fix proposed and built by crashbot")
HANDLED = LabelSpec(
    HANDLED_LABEL, "c5def5", "crashbot tried to fix this crash (remove to retry in the sweep)"
)
OPEN_PR = LabelSpec(OPEN_PR_LABEL, "c5def5", "crashbot has an open fix PR for this crash")
FIX_DEPLOYED = LabelSpec(FIX_DEPLOYED_LABEL, "0e8a16", "The fix for this crash is live on a realm")
FIX_VERIFIED = LabelSpec(
    FIX_VERIFIED_LABEL, "0e8a16", "The crash stopped after its fix went live (statistically significant)"
)
DASHBOARD = LabelSpec(DASHBOARD_LABEL, "5319e7", "crashbot's crash dashboard (one issue, kept current)")
UPTIME = LabelSpec(UPTIME_LABEL, "bfd4f2", "crashbot's uptime ledger of one realm (written by the uploader)")

# the kind label of a crash issue (which one a crash gets is bot.issue's business)
_KIND_DESCRIPTIONS: dict[str, str] = {
    "crash:assert": "A failed ASSERT in the server",
    "crash:access-violation": "Access violation / segmentation fault",
    "crash:stack-overflow": "Stack overflow",
    "crash:abort": "abort(), fail-fast or fatal exit",
    "crash:cxx-exception": "Unhandled C++ exception",
    "crash:breakpoint": "Breakpoint or trap instruction reached",
    "crash:heap-corruption": "Heap corruption detected",
    "crash:divide-by-zero": "Division by zero / arithmetic fault",
    "crash:illegal-instruction": "Illegal or privileged instruction",
    "crash:out-of-memory": "Out of memory",
    "crash:sanitizer": "A sanitizer (ASan, UBSan, TSan, LSan) error report",
    "crash:signal": "Killed by another signal",
    "crash:exception": "Another structured exception",
    "crash:unknown": "Crash of unknown kind",
}

# the labels of a crash issue the uploader files (sig:/realm: labels are made per crash: label_spec)
LABEL_SPECS: tuple[LabelSpec, ...] = (
    CRASH,
    *(LabelSpec(name, "d93f0b", text) for name, text in _KIND_DESCRIPTIONS.items()),
)
# the labels a fix run puts on issues and PRs
FIX_LABELS: tuple[LabelSpec, ...] = (FIX_PR, HANDLED, OPEN_PR)
# the labels the loop relies on, which `crashbot doctor` checks for: crash (uploader), crash-fix (fix
# PRs), regression (reopened crashes), fix-deployed (deploy)
REQUIRED_LABELS: tuple[LabelSpec, ...] = (CRASH, FIX_PR, REGRESSION, FIX_DEPLOYED)
# every label crashbot uses whose name is fixed (the per-crash sig:/realm:/realm-down: ones are made as
# crashes come): `crashbot doctor --create-labels` creates them all up front; each part also creates the
# ones it puts on an issue when they are missing
ALL_LABELS: tuple[LabelSpec, ...] = (
    *REQUIRED_LABELS,
    *(spec for spec in LABEL_SPECS if spec not in REQUIRED_LABELS),
    *(spec for spec in FIX_LABELS if spec not in REQUIRED_LABELS),
    FIX_VERIFIED,
    DASHBOARD,
)


def label_spec(name: str) -> LabelSpec:
    """The spec of any label crashbot puts on an issue (``sig:``/``realm:`` labels included)."""
    for spec in ALL_LABELS:
        if spec.name == name:
            return spec
    if is_sig_label(name):
        return LabelSpec(name, "ededed", "crashbot signature id (one issue per signature)")
    if name.startswith(REALM_PREFIX):
        return LabelSpec(name, "1d76db", "Crashes from this realm")
    return LabelSpec(name, "ededed", "crashbot label")


def sig_label(signature_id: str) -> str:
    """The dedup label for a signature: ``sig:<id>``, the id cut to fit GitHub's 50 characters."""
    return (SIG_PREFIX + _LABEL_UNSAFE_RE.sub("-", signature_id.strip().lower()))[:MAX_LABEL_CHARS]


def is_sig_label(name: str) -> bool:
    return name.startswith(SIG_PREFIX)


def realm_label(realm: str) -> str | None:
    """``realm:<name>`` with the name lower-cased to ``[a-z0-9._-]``; None when nothing is left."""
    name = _LABEL_UNSAFE_RE.sub("-", realm.strip().lower()).strip("-.")
    if not name:
        return None
    return (REALM_PREFIX + name)[:MAX_LABEL_CHARS].rstrip("-.")


def realm_down_label(realm: str) -> LabelSpec:
    """The label of the one standing issue that says a realm may be down (≤ 50 characters)."""
    name = REALM_DOWN_PREFIX + (_LABEL_UNSAFE_RE.sub("-", realm.lower()).strip("-") or "default")
    return LabelSpec(name[:MAX_LABEL_CHARS], "b60205", "crashbot could not bring this realm back up")


# ---------------------------------------------------------------------------------------------------
# the fix branch and commits

FIX_BRANCH_PREFIX = "crashfix/"  # one fix branch per signature (shared/DESIGN.md)
COMMIT_TRAILER = "Crashbot-Signature"


def fix_branch(signature_id: str) -> str:
    """The fix branch of a signature, ``crashfix/<id>``, with the id cleaned exactly as :func:`sig_label`
    cleans it, so the branch can be derived from the issue's label alone."""
    return FIX_BRANCH_PREFIX + sig_label(signature_id).removeprefix(SIG_PREFIX)


def branch_from_labels(labels: Iterable[str]) -> str | None:
    """The fix branch of an issue, from its ``sig:<id>`` label (None without one)."""
    for label in labels:
        if is_sig_label(label) and len(label) > len(SIG_PREFIX):
            return FIX_BRANCH_PREFIX + label.removeprefix(SIG_PREFIX)
    return None


def trailer(signature_id: str) -> str:
    """The last line of every commit crashbot makes on a fix branch."""
    return f"{COMMIT_TRAILER}: {signature_id}"


def is_bot_commit(message: str, signature_id: str) -> bool:
    """True when ``message`` ends with crashbot's trailer for this signature."""
    lines = [line.strip() for line in message.strip().splitlines()]
    return trailer(signature_id) in lines[-3:]


# ---------------------------------------------------------------------------------------------------
# markers: invisible HTML comments that let crashbot find its own text again


@dataclass(frozen=True)
class Marker:
    """``<!-- name -->``, or ``<!-- name value -->`` when the marker carries a value.

    Stored bare (``crashbot:analysis``); :attr:`tag` is the text written into a body and searched for.
    """

    name: str

    @property
    def tag(self) -> str:
        return f"<!-- {self.name} -->"

    def render(self, value: str) -> str:
        """The marker carrying ``value`` (which must not contain ``-->``)."""
        return f"<!-- {self.name} {value} -->"

    def in_text(self, text: str) -> bool:
        return self.tag in text

    def pattern(self, value: str) -> re.Pattern[str]:
        """Matches the marker with a value matching the regex ``value`` (its groups are kept)."""
        return re.compile(rf"<!-- {re.escape(self.name)} {value} -->")

    def loose(self) -> re.Pattern[str]:
        """Matches any opening of this marker, however spaced: to count copies, not to read them."""
        return re.compile(rf"<!--\s*{re.escape(self.name)}\b")


MARKER_NAMESPACE = "crashbot:"
PAYLOAD = Marker("crashbot:payload")  # the signed crash payload (see bot.payload)
HMAC = Marker("crashbot:hmac")  # ... and its HMAC
SEEN_AGAIN = Marker("crashbot:seen-again")  # the one "seen again" comment on a crash issue
ANALYSIS = Marker("crashbot:analysis")  # the one crash analysis comment on a crash issue
FIX_RESULT = Marker("crashbot:fix-result")  # the one "what happened" comment on the issue
TOKENS = Marker("crashbot:tokens")  # in the result comment: engine tokens spent on the issue so far
HUMAN_PUSHED = Marker("crashbot:human-pushed")  # the one "I left your branch alone" comment on the PR
FIX_RECORD = Marker("crashbot:fix")  # in a fix PR's body: its signature and builds (bot.fix.state)
DASHBOARD_BODY = Marker("crashbot:dashboard")  # the dashboard issue's body (bot.dashboard)
VERIFIED = Marker("crashbot:fix-verified")  # the one "fix verified" comment on a crash issue
VERIFY_ESTIMATE = Marker("crashbot:verify-estimate")  # the one "too rare to verify soon" comment
UPTIME_BODY = Marker("crashbot:uptime-ledger")  # UPTIME_BODY.render(realm): one realm's uptime ledger issue
RERUN = Marker("crashbot:rerun")  # on a dashboard checkbox: RERUN.render("<issue number>")
DEPLOYED_KIND = "deployed"  # deploy_marker(DEPLOYED_KIND, realm, sha): the "Deployed in" comment
DEPLOY_FAILED_KIND = "deploy-failed"  # deploy_marker(DEPLOY_FAILED_KIND, realm, sha): the failure comment


def has_any_marker(text: str) -> bool:
    """True when ``text`` carries any crashbot marker: crashbot wrote it (or someone pasted one)."""
    return "<!-- " + MARKER_NAMESPACE in text


def deploy_marker(kind: str, realm: str, sha: str) -> Marker:
    """The marker of one kind of deploy comment (``deployed``, ``deploy-failed``), per realm and sha."""
    return Marker(_MARKER_UNSAFE_RE.sub("_", f"{MARKER_NAMESPACE}{kind} {realm} {sha}".replace("--", "-")))


def read_deploy_markers(kind: str, text: str) -> list[tuple[str, str]]:
    """The ``(realm, sha)`` of each :func:`deploy_marker` of ``kind`` in ``text`` (realm as cleaned: the
    marker's spaces became ``_``)."""
    pattern = re.compile(rf"<!-- {re.escape(MARKER_NAMESPACE + kind)}_(\S+)_([0-9a-fA-F]{{7,40}}) -->")
    return [(m.group(1), m.group(2)) for m in pattern.finditer(text)]
