"""What a fix run tells people: the commit message, the PR body, the issue's result comment, the PR's
"a person pushed here" comment and the job summary. Pure: results in, text out.

Text that came from a model or a build log is untrusted: it is shown only inside fenced code blocks no
line of it can close, with ``@mentions`` and ``#123`` references defused, so it can neither ping anyone
nor close or cross-link issues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot import markdown as md
from bot.build import fence
from bot.build.diagnostics import Diagnostic
from bot.fix.analysis import Analysis
from bot.fix.state import FixRecord
from bot.payload import Payload
from bot.vocabulary import trailer

MAX_COMMENT_CHARS = 60_000  # GitHub allows 65,536; the marker line and slack fit in the rest
MAX_REASONING_CHARS = 4_000
MAX_DIAGNOSTICS_SHOWN = 15
MAX_TAIL_CHARS = 2_000
MAX_TITLE_SIGNATURE_CHARS = 180


class Outcome(StrEnum):
    """How one issue's run ended (closed set; the CLI maps it to an exit code)."""

    UNTRUSTED = "untrusted"  # not from the uploader, bad HMAC, or a payload from another issue
    SKIPPED = "skipped"  # closed issue, or a closed/merged PR and no newer build
    CAPPED = "capped"  # the open crash-fix PR cap is reached
    HUMAN_PUSHED = "human-pushed"  # a person pushed to crashfix/<sig>: commented, left alone
    ABSTAINED = "abstained"
    REJECTED = "rejected"  # every proposed patch broke a validation rule
    BUILD_FAILED = "build-failed"  # patches applied but none built (or passed the test command)
    PR_OPENED = "pr-opened"
    PR_UPDATED = "pr-updated"
    ERROR = "error"  # crashbot itself failed on this issue (the sweep went on with the next)
    PREPARED = "prepared"  # --phase prepare: analysed, the task handed to the work step


class Step(StrEnum):
    """What became of one attempt."""

    ABSTAINED = "abstained"
    REJECTED = "rejected"
    BUILD_FAILED = "build failed"
    TEST_FAILED = "test failed"
    BUILT = "built"


@dataclass(frozen=True)
class Attempt:
    """One propose -> validate -> apply -> build round."""

    number: int
    step: Step
    detail: str  # the abstention reason, the rule violations, or the failing step
    diff: str = ""
    reasoning: str = ""
    model: str = ""
    diagnostics: tuple[Diagnostic, ...] = ()
    log_tail: str = ""
    engine_s: float = 0.0
    build_s: float = 0.0
    tests_ok: bool | None = None


@dataclass(frozen=True)
class AnalysisBrief:
    """What a PR body says of the analysis: the top frame, the last change near it, whether it changed
    since the crashing build. Plain strings, so ``--phase prepare`` can seal it for ``--phase publish``."""

    top_function: str | None = None
    top_where: str | None = None  # path:line in the checkout
    suspect_short: str | None = None
    suspect_summary: str = ""
    perhaps_fixed: bool = False

    @classmethod
    def of(cls, analysis: Analysis | AnalysisBrief) -> AnalysisBrief:
        if isinstance(analysis, AnalysisBrief):
            return analysis
        top, suspect = analysis.top, (analysis.suspects[0] if analysis.suspects else None)
        return cls(
            top_function=(top.function or "?") if top is not None else None,
            top_where=(
                f"{top.path}:{top.head_line if top.head_line is not None else top.line}"
                if top is not None
                else None
            ),
            suspect_short=suspect.short if suspect is not None else None,
            suspect_summary=suspect.summary if suspect is not None else "",
            perhaps_fixed=analysis.perhaps_fixed,
        )


@dataclass(frozen=True)
class FixResult:
    """The outcome of ``crashbot fix`` for one issue, with what it cost."""

    issue: int
    outcome: Outcome
    reason: str
    signature_id: str = ""
    branch: str = ""
    pull_number: int | None = None
    pull_url: str = ""
    attempts: tuple[Attempt, ...] = ()
    engine: str = ""
    model: str = ""
    tokens: int = 0
    total_s: float = 0.0
    engine_s: float = 0.0
    build_s: float = 0.0

    @property
    def overhead_s(self) -> float:
        """Everything but waiting for the engine and the compiler."""
        return max(self.total_s - self.engine_s - self.build_s, 0.0)

    @property
    def exit_code(self) -> int:
        return 1 if self.outcome is Outcome.ERROR else 0


# -- escaping ------------------------------------------------------------------------------------------


def code(text: str) -> str:
    """Untrusted text as an inline code span in running text or a list item (not a table)."""
    return md.inline_code(text)


def fenced(text: str, lang: str = "text") -> str:
    """Engine and compiler text in a bot comment people reply to: quoting it must not ping anyone."""
    return md.fenced(text, lang, defuse_mentions=True)


def _clip(text: str, limit: int) -> str:
    """Untrusted text (engine, agent, build, test) for a comment, PR body or commit message: through the
    fence (redaction, known secrets masked) and cut to ``limit`` characters."""
    text = fence.post(text, limit=max(limit * 2, 1_000), keep="head").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- commit and PR ---------------------------------------------------------------------------------------


def pr_title(payload: Payload) -> str:
    sig = " ".join(payload.signature.text.split()) or payload.signature.id
    return f"Fix crash: {md.defuse(_clip(sig, MAX_TITLE_SIGNATURE_CHARS))}"


def commit_message(
    payload: Payload, *, issue: int, result_attempt: Attempt, attempts: int, engine: str, model: str
) -> str:
    """Subject, ``Fixes #N``, the engine's reasoning (plain text, clipped), facts, then the trailer."""
    subject = _clip(pr_title(payload), 72)
    reasoning = _clip(result_attempt.reasoning, 1_500) if result_attempt.reasoning else ""
    facts = [
        f"Crash signature: {' '.join(payload.signature.text.split())}",
        f"Built after attempt {result_attempt.number} of {attempts} ({_tests(result_attempt.tests_ok)}).",
        f"Engine: {engine} / {model or '-'}",
    ]
    parts = [subject, f"Fixes #{issue}"]
    if reasoning:
        parts.append(md.defuse(reasoning))
    parts.append("\n".join(facts))
    parts.append(trailer(payload.signature.id))
    return "\n\n".join(parts) + "\n"


def _tests(tests_ok: bool | None) -> str:
    return {None: "no test command configured", True: "test command passed", False: "test command failed"}[
        tests_ok
    ]


def pr_body(
    payload: Payload,
    *,
    issue: int,
    analysis: Analysis | AnalysisBrief,
    analysis_url: str,
    attempts: Sequence[Attempt],
    max_attempts: int,
    engine: str,
    model: str,
    tokens: int,
    builds: Sequence[str],
) -> str:
    """The PR description: ``Fixes #N``, what crashed, the analysis in brief, the engine's reasoning
    (quoted), the build result, the attempts and the engine; starts with the :class:`FixRecord`."""
    built = attempts[-1]
    out = [
        FixRecord(payload.signature.id, tuple(builds)).render(),
        f"Fixes #{issue}",
        "",
        "Proposed and built by crashbot. **Review it like any other change**: the build passing says it "
        "compiles (and passes the configured test command), not that it is right.",
        "",
        "### Crash",
        "",
        f"- Signature: {code(payload.signature.text)} ({code(payload.signature.id)})",
    ]
    exc = payload.exception
    if exc is not None:
        out.append(f"- Exception: {code(exc.code + (' ' + exc.name if exc.name else ''))}")
    if payload.assertion is not None and (payload.assertion.condition or payload.assertion.message):
        out.append(f"- Assertion: {code(payload.assertion.condition or payload.assertion.message or '')}")
    occ = payload.occurrences
    out.append(f"- Seen {occ.count} time(s)" + (f", last {code(occ.last_seen)}" if occ.last_seen else ""))
    out += ["", "### Analysis", ""]
    brief = AnalysisBrief.of(analysis)
    if brief.top_where is not None:
        out.append(
            f"- Top frame in this checkout: {code(brief.top_function or '?')} at {code(brief.top_where)}"
        )
    if brief.suspect_short is not None:
        out.append(
            f"- Last change near the faulting line: {code(brief.suspect_short)} "
            f"{code(_clip(brief.suspect_summary, 80))}"
        )
    if brief.perhaps_fixed:
        out.append("- ⚠️ the lines around the top frame changed since the crashing build")
    link = f"[the analysis comment]({analysis_url})" if analysis_url else "the analysis comment"
    out.append(f"- Full analysis: {link} on #{issue}")
    out += ["", "### Engine's reasoning", ""]
    reasoning = _clip(built.reasoning, MAX_REASONING_CHARS)
    out.append(fenced(reasoning) if reasoning else "_The engine gave no explanation._")
    out += [
        "",
        "### Build",
        "",
        f"- Result: built in {built.build_s:.1f}s; {_tests(built.tests_ok)}",
        f"- Attempts: {len(attempts)} of at most {max_attempts}",
    ]
    for a in attempts[:-1]:
        out.append(f"  - attempt {a.number}: {a.step.value}: {md.cell(_clip(a.detail, 200))}")
    out.append(f"- Engine: {code(engine)} / model {code(model or '-')}, {tokens} tokens")
    return _fit("\n".join(out) + "\n")


# -- comments ---------------------------------------------------------------------------------------


def result_comment(result: FixResult, *, max_attempts: int) -> str:
    """The issue's one result comment (upserted under :data:`bot.vocabulary.FIX_RESULT`)."""
    o = result.outcome
    engine = f"{code(result.engine)} / {code(result.model or '-')}"
    if o in (Outcome.PR_OPENED, Outcome.PR_UPDATED):
        verb = "opened" if o is Outcome.PR_OPENED else "updated"
        last = result.attempts[-1] if result.attempts else None
        tries = f"attempt {last.number} of {max_attempts}" if last else "the first attempt"
        out = [
            f"### 🔧 crashbot {verb} #{result.pull_number}",
            "",
            f"Branch {code(result.branch)}: the patch built on {tries} "
            f"({_tests(last.tests_ok if last else None)}). Engine {engine}.",
        ]
        return "\n".join(out) + "\n"
    if o is Outcome.ABSTAINED:
        head = "### crashbot proposes no fix"
        lead = f"The engine ({engine}) abstained: {md.cell(_clip(result.reason, 1_000))}"
    elif o is Outcome.REJECTED:
        head = "### crashbot proposes no fix: every patch was rejected"
        lead = f"The engine ({engine}) proposed patches that broke crashbot's rules; nothing was built."
    elif o is Outcome.BUILD_FAILED:
        head = "### crashbot proposes no fix: no patch built"
        lead = (
            f"The engine ({engine}) proposed {len(result.attempts)} patch(es); none built"
            + (
                " and passed the test command"
                if any(a.step is Step.TEST_FAILED for a in result.attempts)
                else ""
            )
            + f" within {max_attempts} attempt(s). No pull request was opened."
        )
    else:
        head = f"### crashbot: {o.value}"
        lead = md.cell(_clip(result.reason, 2_000))
    out = [head, "", lead, ""]
    for a in result.attempts:
        out += _attempt_section(a)
    out.append(
        "A maintainer can rerun the crash-fix workflow for this issue after changing the code or config."
    )
    return _fit("\n".join(out).rstrip() + "\n")


def _attempt_section(a: Attempt) -> list[str]:
    out = [f"<details><summary>Attempt {a.number}: {md.cell(a.step.value)}</summary>", ""]
    if a.step is Step.ABSTAINED:
        out.append(md.cell(_clip(a.detail, 1_000)))
    elif a.step is Step.REJECTED:
        out += [fenced(_clip(a.detail, 3_000))]
    else:
        out.append(md.cell(_clip(a.detail, 300)))
        if a.diagnostics:
            shown = "\n".join(str(d) for d in fence.diagnostics(a.diagnostics)[:MAX_DIAGNOSTICS_SHOWN])
            more = len(a.diagnostics) - MAX_DIAGNOSTICS_SHOWN
            out += ["", "Diagnostics:", "", fenced(shown + (f"\n… {more} more" if more > 0 else ""))]
        elif a.log_tail:
            out += ["", "End of the log:", "", fenced(fence.post(a.log_tail, limit=MAX_TAIL_CHARS))]
    if a.diff:
        out += ["", "Patch:", "", fenced(_clip(a.diff, 6_000), "diff")]
    out += ["", "</details>", ""]
    return out


def human_push_comment(branch: str, authors: Sequence[str]) -> str:
    """The PR comment when a person pushed to the fix branch: crashbot will not overwrite their work."""
    who = ", ".join(code(a) for a in dict.fromkeys(authors) if a) or "someone"
    return (
        f"crashbot found commits by {who} on {code(branch)} and will not force-push over them. "
        "Later crashbot runs for this crash leave this branch alone; close this PR and delete the branch "
        "to let crashbot propose a fresh fix.\n"
    )


# -- the job summary ---------------------------------------------------------------------------------

_ICONS = {
    Outcome.UNTRUSTED: "⛔",
    Outcome.SKIPPED: "⏭️",
    Outcome.CAPPED: "⏸️",
    Outcome.HUMAN_PUSHED: "🙋",
    Outcome.ABSTAINED: "🤷",
    Outcome.REJECTED: "🚫",
    Outcome.BUILD_FAILED: "❌",
    Outcome.PR_OPENED: "✅",
    Outcome.PR_UPDATED: "✅",
    Outcome.ERROR: "🚨",
    Outcome.PREPARED: "📋",
}


def step_summary(results: Sequence[FixResult]) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY`` (untrusted issues are left out: nothing to tell a spammer)."""
    shown = [r for r in results if r.outcome is not Outcome.UNTRUSTED]
    out = ["### crashbot fix", ""]
    if not shown:
        out.append("No crash issue needed work." if not results else "Nothing to report.")
        return "\n".join(out) + "\n"
    out += [
        "| issue | outcome | PR | attempts | engine / model | time (engine, build) | why |",
        "|---|---|---|---:|---|---|---|",
    ]
    for r in shown:
        pull = f"#{r.pull_number}" if r.pull_number else "-"
        timing = f"{r.total_s:.0f}s ({r.engine_s:.0f}s, {r.build_s:.0f}s)"
        engine = f"{md.cell(r.engine or '-')} / {md.cell(r.model or '-')}"
        out.append(
            f"| #{r.issue} | {_ICONS[r.outcome]} {r.outcome.value} | {pull} | {len(r.attempts)} "
            f"| {engine} | {timing} | {md.cell(_clip(r.reason, 200))} |"
        )
    return "\n".join(out) + "\n"


def _fit(text: str) -> str:
    if len(text) <= MAX_COMMENT_CHARS:
        return text
    return text[: MAX_COMMENT_CHARS - 40] + "\n\n_(shortened to fit GitHub's limit)_\n"
