"""``crashbot fix`` for crash issues: the trust gate first, then state checks, the analysis comment, the
engine loop (propose -> validate -> apply -> build, diagnostics fed back) and the pull request.

Nothing is written to GitHub before the trust gate passes: the issue must have been opened by the
configured uploader, carry a payload whose HMAC verifies, and carry the ``sig:`` label of that payload.
After it, every write is idempotent by marker or label, so a rerun edits what an earlier run wrote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import FixSettings
from bot.errors import BotError, ConfigError, GitError, TrustError, UsageError
from bot.fix import state
from bot.fix.analysis import Analysis, analyse, render_analysis_comment
from bot.fix.build import Step as BuildStep
from bot.fix.build import build
from bot.fix.engines import Abstain, Engine, EngineContext
from bot.fix.patch import PatchRejected, check
from bot.fix.prompt import Feedback, HumanText, build_prompt
from bot.fix.report import (
    Attempt,
    FixResult,
    Outcome,
    Step,
    commit_message,
    human_push_comment,
    pr_body,
    pr_title,
    result_comment,
)
from bot.git import Git
from bot.github import Comment, GitHubClient, IssueRef, PullRef
from bot.issue import read_payload
from bot.payload import Payload
from bot.vocabulary import (
    ANALYSIS,
    CRASH_LABEL,
    FIX_LABELS,
    FIX_RESULT,
    HANDLED_LABEL,
    HUMAN_PUSHED,
    OPEN_PR_LABEL,
    PR_LABEL,
    TOKENS,
    branch_from_labels,
    fix_branch,
    has_any_marker,
    is_bot_commit,
    sig_label,
)

logger = logging.getLogger(__name__)

_TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_TOKENS_RE = TOKENS.pattern(r"(\d{1,12})")

MAX_HUMAN_COMMENTS = 10  # the most recent comments people wrote; older ones rarely add to a crash


@dataclass(frozen=True)
class FixRun:
    """What every issue of one ``crashbot fix`` invocation shares."""

    client: GitHubClient
    settings: FixSettings
    uploader: str  # github.uploader_login: the only author whose issues are acted on
    key: bytes = field(repr=False)  # the HMAC key the uploader seals payloads with
    engine: Engine
    workspace: Path  # the clean checkout of the base branch; patched, built and reset in place
    base_branch: str
    env: Mapping[str, str] = field(repr=False)  # for git (push token, by name) and the build
    push_token_env: str | None = None  # the variable in ``env`` holding the push token
    clock: Callable[[], float] = time.monotonic
    secret_names: frozenset[str] = frozenset()  # never passed to the build and test commands


# -- trust -------------------------------------------------------------------------------------------


def verify(issue: IssueRef, *, uploader: str, key: bytes) -> Payload:
    """The issue's signed payload; TrustError unless the uploader opened it, the HMAC verifies and the
    issue carries the payload's own ``sig:`` label (a sealed payload pasted into another issue fails)."""
    who = uploader.strip()
    if not who:
        raise ConfigError(
            "github.uploader_login is empty: crashbot fix acts only on issues opened by the uploader; "
            "set it to the uploader's login (an App's is '<app-slug>[bot]')"
        )
    if issue.is_pull:
        raise TrustError(f"#{issue.number} is a pull request, not a crash issue")
    if issue.author.casefold() != who.casefold():
        raise TrustError(
            f"issue #{issue.number} was opened by {issue.author!r}, not by the uploader {who!r} "
            "(github.uploader_login)"
        )
    payload = read_payload(issue.body, key)
    label = sig_label(payload.signature.id)
    if label.casefold() not in {x.casefold() for x in issue.labels}:
        raise TrustError(
            f"issue #{issue.number} carries a payload for signature {payload.signature.id!r} but not its "
            f"label {label!r}: the payload was copied from another issue"
        )
    return payload


# -- the crash, from the signed payload ----------------------------------------------------------------


def crash_text(payload: Payload) -> str:
    """The crash as plain text for the engine (quoted as untrusted data by the prompt)."""
    lines = [f"signature: {payload.signature.text}"]
    exc = payload.exception
    if exc is not None:
        where = f" at {exc.address}" if exc.address else ""
        module = (
            f" in {exc.module}" + (f"+{exc.module_offset}" if exc.module_offset else "") if exc.module else ""
        )
        lines.append(f"exception: {exc.code}{' ' + exc.name if exc.name else ''}{where}{module}")
    a = payload.assertion
    if a is not None:
        lines.append(f"assertion: {a.condition or '?'}")
        if a.file:
            lines.append(f"  at {a.file}:{a.line if a.line is not None else '?'} in {a.function or '?'}")
        if a.message:
            lines.append(f"  message: {a.message}")
    b = payload.build
    facts = [v for v in (b.revision, b.branch, b.platform, b.configuration) if v]
    if facts:
        lines.append("build: " + " ".join(facts) + (" (dirty tree)" if b.dirty else ""))
    lines.append("crashing thread, innermost first (* = meaningful frame):")
    meaningful = set(payload.meaningful)
    for i, f in enumerate(payload.frames):
        name = f.function or (
            f"{f.module}+{f.offset}" if f.module and f.offset else f.module or f.address or "??"
        )
        where = f" at {f.file}:{f.line if f.line is not None else '?'}" if f.file else ""
        module = f" [{f.module}]" if f.module and f.function else ""
        star = "*" if i in meaningful else " "
        lines.append(f"{star}#{i} {name}{where}{module}{' (inlined)' if f.inline else ''}")
    if payload.frames_total > len(payload.frames):
        lines.append(
            f"... {payload.frames_total - len(payload.frames)} outer frames not carried by the issue"
        )
    occ = payload.occurrences
    lines.append(f"seen {occ.count} time(s), first {occ.first_seen or '?'}, last {occ.last_seen or '?'}")
    if occ.builds:
        lines.append("on builds: " + ", ".join(occ.builds))
    return "\n".join(lines)


# -- entry points ----------------------------------------------------------------------------------


def fix_issue(run: FixRun, number: int) -> FixResult:
    """Run the whole pipeline for issue ``number``; untrusted issues get one log line and no write."""
    started = run.clock()
    issue = run.client.get_issue(number)
    try:
        payload = verify(issue, uploader=run.uploader, key=run.key)
    except TrustError as e:
        logger.warning("issue #%d: not acting on it: %s", number, e.diagnostic())
        return FixResult(number, Outcome.UNTRUSTED, e.diagnostic(), total_s=run.clock() - started)
    return _Job(run, issue, payload, started).execute()


def sweep(run: FixRun, *, cap: int) -> list[FixResult]:
    """``--pending``: every open crash issue no run has concluded, oldest first, until ``cap`` issues
    got an analysis and an engine (skipped ones don't count) or the open-PR cap is reached.

    This recovers runs that GitHub's concurrency groups dropped. One issue failing (GitHub, git, the
    engine) is recorded as an error and the sweep goes on; a configuration error stops it.
    """
    issues = run.client.find_issues([CRASH_LABEL], state="open")
    candidates = state.unhandled(issues, uploader=run.uploader)
    logger.info("sweep: %d unhandled crash issue(s); working on at most %d", len(candidates), cap)
    results: list[FixResult] = []
    worked = 0
    for issue in candidates:
        if worked >= cap:
            break
        try:
            result = fix_issue(run, issue.number)
        except ConfigError:
            raise
        except BotError as e:  # per-issue isolation: one broken issue must not starve the others
            logger.error("issue #%d: %s", issue.number, e.diagnostic())
            result = FixResult(issue.number, Outcome.ERROR, e.diagnostic())
        results.append(result)
        if result.outcome is Outcome.CAPPED:
            break
        if result.outcome not in (Outcome.UNTRUSTED, Outcome.SKIPPED):
            worked += 1
    return results


def ensure_clean(git: Git) -> None:
    """Refuse a workspace with local changes or untracked files: attempts reset it with ``git reset
    --hard`` and ``git clean``, which would destroy them."""
    status = git.run("status", "--porcelain", "--untracked-files=normal")
    lines = [line for line in status.splitlines() if line.strip()]
    if lines:
        raise UsageError(
            f"the workspace {git.repo} has {len(lines)} uncommitted change(s) or untracked file(s) "
            f"(first: {lines[0].strip()!r}); crashbot fix resets it between attempts, so run it in a clean "
            "checkout (keep the build directory outside it)"
        )


# -- one trusted issue -------------------------------------------------------------------------------


class _Job:
    """The state of one trusted issue's run."""

    def __init__(self, run: FixRun, issue: IssueRef, payload: Payload, started: float) -> None:
        self.run = run
        self.client = run.client
        self.settings = run.settings
        self.issue = issue
        self.payload = payload
        self.started = started
        self.sig = payload.signature.id
        self.branch = fix_branch(self.sig)
        self.git = Git(run.workspace, env=run.env)
        self.builds = state.current_builds(payload.occurrences.builds, payload.build.revision)
        self.engine_s = 0.0
        self.build_s = 0.0
        self.tokens = 0
        self.model = ""
        self._labels_ready = False
        self._remote_sha: str | None = None  # the fix branch's sha when last checked for human commits

    def result(
        self,
        outcome: Outcome,
        reason: str,
        *,
        attempts: Sequence[Attempt] = (),
        pull: PullRef | None = None,
    ) -> FixResult:
        return FixResult(
            issue=self.issue.number,
            outcome=outcome,
            reason=reason,
            signature_id=self.sig,
            branch=self.branch,
            engine=self.run.engine.name,
            model=self.model,
            tokens=self.tokens,
            total_s=self.run.clock() - self.started,
            engine_s=self.engine_s,
            build_s=self.build_s,
            attempts=tuple(attempts),
            pull_number=pull.number if pull is not None else None,
            pull_url=pull.html_url if pull is not None else "",
        )

    def execute(self) -> FixResult:
        n = self.issue.number
        if self.issue.state != "open":
            logger.info("issue #%d is closed; nothing to fix", n)
            return self.result(Outcome.SKIPPED, "the issue is closed")
        prior = state.prior(self.client.find_pulls(self.branch, state="all"), self.builds, self._descends)
        if prior.blocked:
            logger.info("issue #%d: %s", n, prior.blocked)
            return self.result(Outcome.SKIPPED, prior.blocked)
        if prior.note:
            logger.info("issue #%d: %s", n, prior.note)
        if prior.open_pull is not None:
            authors = self._human_commits()
            if authors:
                return self._leave_alone(prior.open_pull, authors, ())
        else:
            open_prs = self._open_fix_pulls()
            if open_prs >= self.settings.max_open_prs:
                reason = (
                    f"{open_prs} crash-fix PRs are open (fix.max_open_prs = {self.settings.max_open_prs}); "
                    "the sweep will come back to this issue"
                )
                logger.warning("issue #%d: %s", n, reason)
                return self.result(Outcome.CAPPED, reason)
        self.tokens = self._tokens_spent_before()
        original = self.git.current_branch()
        base_sha = self.git.head()
        try:
            analysis = analyse(
                self.payload.to_crash(), self.git, self.settings, previous_attempts=prior.previous
            )
            comment, _ = self.client.upsert_comment(n, ANALYSIS.tag, render_analysis_comment(analysis))
            attempts = self._attempts(analysis, base_sha)
            last = attempts[-1]
            if last.step is Step.BUILT:
                return self._publish(analysis, comment, attempts, prior.open_pull)
            return self._no_fix(attempts)
        finally:
            self._restore(original, base_sha)

    # -- state -------------------------------------------------------------------------------------

    def _descends(self, build: str, recorded: str) -> bool | None:
        """True when commit ``build`` contains commit ``recorded`` and more; None when either is unknown."""
        new, old = self.git.rev_parse(build), self.git.rev_parse(recorded)
        if new is None or old is None:
            return None
        if new == old:
            return False
        # commits reachable from `old` but not from `new`: none means `old` is an ancestor of `new`
        return self.git.run("rev-list", "--count", f"{new}..{old}").strip() == "0"

    def _human_commits(self) -> list[str]:
        """Authors of commits on the fix branch that crashbot did not make (empty: no branch, or ours).

        Remembers the branch's sha, so the push can insist that nothing moved since this check."""
        self._remote_sha = self.client.get_ref_sha(self.branch)
        if self._remote_sha is None:
            return []
        commits = self.client.compare(self.run.base_branch, self.branch)
        return [c.author or c.sha[:10] for c in commits if not is_bot_commit(c.message, self.sig)]

    def _open_fix_pulls(self) -> int:
        """Open crash-fix PRs, counted through the crash issues labelled ``crash-fix-pr`` (stale labels,
        whose PR was closed or merged since, are removed on the way)."""
        count = 0
        for issue in self.client.find_issues([OPEN_PR_LABEL], state="all"):
            branch = branch_from_labels(issue.labels)
            if branch and self.client.find_pulls(branch, state="open"):
                count += 1
                continue
            logger.info("issue #%d has no open fix PR any more; removing %s", issue.number, OPEN_PR_LABEL)
            self.client.remove_label(issue.number, OPEN_PR_LABEL)
        return count

    # -- the engine loop -----------------------------------------------------------------------------

    def _human_text(self) -> list[HumanText]:
        """The title and the latest comments of people with a role on the repository: quoted for the
        engine, never instructions. On a public repository anyone can comment; a stranger's text never
        reaches the engine, even as data."""
        me = self.run.uploader.strip().casefold()
        texts = [
            HumanText(author=c.author, text=c.body, where="comment")
            for c in self.client.list_comments(self.issue.number)
            if not has_any_marker(c.body)
            and not c.author.endswith("[bot]")
            and c.author.casefold() != me
            and c.author_association in _TRUSTED_ASSOCIATIONS
        ]
        return [
            HumanText(author="issue", text=self.issue.title, where="issue title"),
            *texts[-MAX_HUMAN_COMMENTS:],
        ]

    def _attempts(self, analysis: Analysis, base_sha: str) -> list[Attempt]:
        s = self.settings
        feedback: list[Feedback] = []
        attempts: list[Attempt] = []
        human = self._human_text()
        text = crash_text(self.payload)
        for number in range(1, max(1, s.max_attempts) + 1):
            prompt = build_prompt(
                analysis,
                crash_text=text,
                allowed_paths=s.allowed_paths,
                max_changed_lines=s.max_changed_lines,
                human_text=human,
                feedback=feedback,
            )
            asked = self.run.clock()
            proposal = self.run.engine.propose(
                EngineContext(
                    prompt=prompt, workdir=self.run.workspace, attempt=number, tokens_used=self.tokens
                )
            )
            engine_s = self.run.clock() - asked
            self.engine_s += engine_s
            self.tokens += proposal.usage.total
            self.model = proposal.model or self.model
            self.git.reset_hard(base_sha)  # whatever an agent engine left behind
            if isinstance(proposal, Abstain):
                logger.info(
                    "issue #%d attempt %d: the engine abstained: %s",
                    self.issue.number,
                    number,
                    proposal.reason,
                )
                attempts.append(
                    Attempt(number, Step.ABSTAINED, proposal.reason, model=proposal.model, engine_s=engine_s)
                )
                break
            try:
                patch = check(
                    proposal.diff,
                    allowed_paths=s.allowed_paths,
                    max_changed_lines=s.max_changed_lines,
                    repo=self.git,
                    allow_protected=s.allow_protected_paths,
                )
            except PatchRejected as e:
                detail = "\n".join(str(v) for v in e.violations)
                logger.info("issue #%d attempt %d: patch rejected: %s", self.issue.number, number, detail)
                attempts.append(
                    Attempt(
                        number,
                        Step.REJECTED,
                        detail,
                        diff=proposal.diff,
                        reasoning=proposal.reasoning,
                        model=proposal.model,
                        engine_s=engine_s,
                    )
                )
                feedback.append(
                    Feedback(
                        number,
                        proposal.diff,
                        "the patch was rejected: " + "; ".join(str(v) for v in e.violations),
                    )
                )
                continue
            self.git.apply(patch.text)
            build_env = {k: v for k, v in self.run.env.items() if k not in self.run.secret_names}
            built = build(self.run.workspace, s, env=build_env)
            self.build_s += built.duration_s
            if built.ok:
                attempts.append(
                    Attempt(
                        number,
                        Step.BUILT,
                        "built",
                        diff=patch.text,
                        reasoning=proposal.reasoning,
                        model=proposal.model,
                        engine_s=engine_s,
                        build_s=built.duration_s,
                        tests_ok=built.tests_ok,
                    )
                )
                return attempts  # the patched tree stays for the commit
            failed = built.failed_step or BuildStep.BUILD
            step = Step.TEST_FAILED if failed is BuildStep.TEST else Step.BUILD_FAILED
            problem = f"the {failed.value} step failed" + (" (timed out)" if built.timed_out else "")
            logger.info(
                "issue #%d attempt %d: %s (log: %s)", self.issue.number, number, problem, built.log_path
            )
            attempts.append(
                Attempt(
                    number,
                    step,
                    problem,
                    diff=patch.text,
                    reasoning=proposal.reasoning,
                    model=proposal.model,
                    diagnostics=built.errors or built.diagnostics,
                    log_tail=built.tail,
                    engine_s=engine_s,
                    build_s=built.duration_s,
                    tests_ok=built.tests_ok,
                )
            )
            feedback.append(
                Feedback(number, patch.text, problem, diagnostics=built.errors, log_tail=built.tail)
            )
            self.git.reset_hard(base_sha)
        return attempts

    # -- conclusions ---------------------------------------------------------------------------------

    def _no_fix(self, attempts: Sequence[Attempt]) -> FixResult:
        last = attempts[-1]
        if last.step is Step.ABSTAINED:
            outcome, reason = Outcome.ABSTAINED, last.detail
        elif any(a.step in (Step.BUILD_FAILED, Step.TEST_FAILED) for a in attempts):
            outcome = Outcome.BUILD_FAILED
            reason = f"no patch built in {len(attempts)} attempt(s); last: {last.detail}"
        else:
            outcome = Outcome.REJECTED
            reason = (
                f"every patch was rejected ({len(attempts)} attempt(s)); last: {last.detail.splitlines()[0]}"
            )
        result = self.result(outcome, reason, attempts=attempts)
        self._conclude(result)
        return result

    def _publish(
        self, analysis: Analysis, comment: Comment, attempts: Sequence[Attempt], open_pull: PullRef | None
    ) -> FixResult:
        built = attempts[-1]
        s = self.settings
        message = commit_message(
            self.payload,
            issue=self.issue.number,
            result_attempt=built,
            attempts=s.max_attempts,
            engine=self.run.engine.name,
            model=self.model,
        )
        self.git.branch(self.branch, start="HEAD")
        sha = self.git.commit_all(message, s.commit_author)
        # again, right before pushing: a person may have pushed while the build ran
        authors = self._human_commits()
        if authors:
            return self._leave_alone(open_pull, authors, attempts)
        self.git.push(
            s.push_remote,
            f"HEAD:refs/heads/{self.branch}",
            force=True,
            expect=self._remote_sha or "",  # a push that lands between the check and ours is kept
            token_env=self.run.push_token_env,
        )
        logger.info("issue #%d: pushed %s to %s", self.issue.number, sha[:12], self.branch)
        body = pr_body(
            self.payload,
            issue=self.issue.number,
            analysis=analysis,
            analysis_url=comment.html_url,
            attempts=attempts,
            max_attempts=s.max_attempts,
            engine=self.run.engine.name,
            model=self.model,
            tokens=self.tokens,
            builds=self.builds,
        )
        title = pr_title(self.payload)
        pull, created = self.client.ensure_pull(
            self.branch, self.run.base_branch, title, body, draft=s.draft_pr
        )
        if not created:
            pull = self.client.edit_pull(pull.number, title=title, body=body)
        self._ensure_labels()
        self.client.add_labels(pull.number, [PR_LABEL])
        verb = "opened" if created else "updated"
        result = self.result(
            Outcome.PR_OPENED if created else Outcome.PR_UPDATED,
            f"{verb} #{pull.number} from {self.branch}",
            attempts=attempts,
            pull=pull,
        )
        self._conclude(result, extra_labels=(OPEN_PR_LABEL,))
        return result

    def _leave_alone(
        self, open_pull: PullRef | None, authors: Sequence[str], attempts: Sequence[Attempt]
    ) -> FixResult:
        """A person pushed to the fix branch: say so once (on the PR, else the issue) and touch nothing."""
        reason = f"{self.branch} has commits crashbot did not make (by {', '.join(dict.fromkeys(authors))})"
        logger.warning("issue #%d: %s; not force-pushing", self.issue.number, reason)
        result = self.result(
            Outcome.HUMAN_PUSHED,
            reason,
            attempts=attempts,
            pull=open_pull,
        )
        if open_pull is not None:
            self.client.upsert_comment(
                open_pull.number, HUMAN_PUSHED.tag, human_push_comment(self.branch, authors)
            )
            self._ensure_labels()
            self.client.add_labels(self.issue.number, [HANDLED_LABEL])
        else:
            self._conclude(result)
        return result

    def _conclude(self, result: FixResult, *, extra_labels: Sequence[str] = ()) -> None:
        """The issue's one result comment (edited on reruns) and the label that marks it handled."""
        self._ensure_labels()
        self.client.upsert_comment(
            self.issue.number,
            FIX_RESULT.tag,
            result_comment(result, max_attempts=self.settings.max_attempts)
            + f"\n{TOKENS.render(str(self.tokens))}\n",
        )
        self.client.add_labels(self.issue.number, [HANDLED_LABEL, *extra_labels])

    def _tokens_spent_before(self) -> int:
        """Engine tokens earlier runs spent on this issue, from crashbot's own result comment: the
        ceiling (``fix.max_tokens_per_issue``) holds per issue, across reruns, not per run."""
        tag = FIX_RESULT.tag
        me = self.client.whoami()
        spent = 0
        for comment in self.client.list_comments(self.issue.number):
            if tag not in comment.body or not (comment.author == me or comment.author.endswith("[bot]")):
                continue
            found = _TOKENS_RE.search(comment.body)
            if found:
                spent = max(spent, int(found[1]))
        if spent:
            logger.info("issue #%d: earlier runs spent %d engine tokens", self.issue.number, spent)
        return spent

    def _ensure_labels(self) -> None:
        if not self._labels_ready:
            self.client.ensure_labels(FIX_LABELS)
            self._labels_ready = True

    def _restore(self, original: str | None, base_sha: str) -> None:
        """Put the workspace back on its branch at the base commit, whatever the attempts left."""
        try:
            if original:
                self.git.run("checkout", "--quiet", "--force", original, "--")
            else:
                self.git.run("checkout", "--quiet", "--force", "--detach", base_sha, "--")
            self.git.reset_hard(base_sha)
            # the pushed branch lives on the remote; a local copy would only go stale between runs
            if original != self.branch:
                self.git.run("branch", "--quiet", "-D", self.branch, "--", check=False)
        except GitError as e:
            raise GitError(
                f"cannot reset the workspace {self.run.workspace} after issue #{self.issue.number}: {e}"
            ) from e
