"""``crashbot fix`` for crash issues: the trust gate first, then state checks, the analysis comment, the
engine loop (:mod:`bot.fix.attempts`) and the branch and pull request (:mod:`bot.fix.publish`).

Nothing is written to GitHub before the trust gate passes: the issue must have been opened by the
configured uploader, carry a payload whose HMAC verifies, and carry the ``sig:`` label of that payload.
After it, every write is idempotent by marker or label, so a rerun edits what an earlier run wrote.

:func:`fix_issue` runs it all in one process. A workflow runs it as three steps instead, so that no
process running untrusted code ever held a crashbot secret: :func:`prepare_issue` (trusted: the gate, the
state checks, the analysis, the handoff), ``--phase work`` (:func:`bot.fix.work.run_handoff`: the engine
loop, holding the engine's key only) and :func:`publish_issue` (trusted: the gate again, then the PR or
the "no fix" comment from what :mod:`bot.fix.handoff` lets it take).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import FixSettings, require_uploader
from bot.crash.model import Crash, Frame
from bot.errors import BotError, ConfigError, GitError, TrustError, UsageError
from bot.fix import handoff as handoff_files
from bot.fix import state
from bot.fix.analysis import Analysis, analyse, epoch_of, render_analysis_comment
from bot.fix.attempts import Attempts, Bench, Task, Usage, run_attempts
from bot.fix.engines import Engine
from bot.fix.handoff import HandoffError, Ticket
from bot.fix.patch import PatchRejected
from bot.fix.prompt import HumanText
from bot.fix.publish import (
    BranchState,
    IssueWriter,
    commit_validated,
    fresh_clone,
    open_fix_pulls,
    open_or_update_pull,
    push_branch,
    read_branch,
)
from bot.fix.report import (
    AnalysisBrief,
    Attempt,
    FixResult,
    Outcome,
    Step,
    commit_message,
    pr_body,
    pr_title,
)
from bot.fix.work import WorkError, attempts_from_json
from bot.git import Git
from bot.github import GitHubClient, IssueRef, PullRef
from bot.issue import read_payload
from bot.payload import Payload
from bot.vocabulary import ANALYSIS, CRASH_LABEL, OPEN_PR_LABEL, fix_branch, has_any_marker, sig_label

logger = logging.getLogger(__name__)

_TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
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
    # resolves the issue's bare frames from the symbol store and updates the issue (bot.symbols.service)
    symbolicate: Callable[[IssueRef, Payload], Crash | None] | None = None
    # the engine loop: in this process (tests, the demo), or the CLI's isolated work process holding
    # no crashbot secret (bot/fix/work.py)
    work: Callable[[Bench, Task], Attempts] = run_attempts
    # where the fix branch is fetched from and pushed to: the repository's clone_url as the API reports
    # it (the CLI checks it), never the workspace's .git/config; "" = ask the API here
    remote_url: str = ""
    # what a sealed ticket binds prepare's handoff to (bot.fix.handoff.check_binding)
    config_digest: str = ""
    run_id: str = ""


# -- trust -------------------------------------------------------------------------------------------


def verify(issue: IssueRef, *, uploader: str, key: bytes) -> Payload:
    """The issue's signed payload; TrustError unless the uploader opened it, the HMAC verifies and the
    issue carries the payload's own ``sig:`` label (a sealed payload pasted into another issue fails)."""
    who = require_uploader(uploader)
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
        if exc.thrown_type or exc.what:
            lines.append(f"  thrown: {exc.thrown_type or '?'}" + (f": {exc.what}" if exc.what else ""))
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
        star = "*" if i in meaningful else " "
        lines.append(f"{star}#{i} {_frame_text(f)}")
    if payload.frames_total > len(payload.frames):
        lines.append(
            f"... {payload.frames_total - len(payload.frames)} outer frames not carried by the issue"
        )
    for stack in payload.related:
        # a sanitizer's free and allocation stacks: usually where the bug is
        lines.append(f"{stack.title} ({stack.role.value} stack, innermost first):")
        lines.extend(f" #{i} {_frame_text(f)}" for i, f in enumerate(stack.frames))
    occ = payload.occurrences
    lines.append(f"seen {occ.count} time(s), first {occ.first_seen or '?'}, last {occ.last_seen or '?'}")
    if occ.builds:
        lines.append("on builds: " + ", ".join(occ.builds))
    return "\n".join(lines)


def _frame_text(f: Frame) -> str:
    name = f.function or (
        f"{f.module}+{f.offset}" if f.module and f.offset else f.module or f.address or "??"
    )
    line = f.line if f.line is not None else "?"
    where = f" at {f.file}:{line}{f':{f.column}' if f.column is not None else ''}" if f.file else ""
    module = f" [{f.module}]" if f.module and f.function else ""
    return f"{name}{where}{module}{' (inlined)' if f.inline else ''}"


# -- entry points ----------------------------------------------------------------------------------


def fix_issue(run: FixRun, number: int) -> FixResult:
    """Run the whole pipeline for issue ``number``; untrusted issues get one log line and no write."""
    job = _trusted(run, number)
    return job if isinstance(job, FixResult) else job.execute()


def prepare_issue(run: FixRun, number: int, *, handoff: Path) -> FixResult:
    """``--phase prepare``: the trust gate, the state checks and the analysis comment, then the engine's
    task (for the work step) and the sealed ticket (for publish) in ``handoff``; ``prepared`` unless the
    issue stopped here (untrusted, skipped, capped, a person's commits), concluded as in one run."""
    job = _trusted(run, number)
    if isinstance(job, FixResult):
        return job
    prepared = job.prepare()
    if isinstance(prepared, FixResult):
        return prepared
    meta, task = prepared
    handoff_files.write_task(handoff, task)
    ticket = Ticket(
        number, job.sig, meta.base_sha, meta.analysis_url, meta.brief, run.config_digest, run.run_id
    )
    handoff_files.seal(handoff, ticket, run.key)
    return job.result(Outcome.PREPARED, "analysed; the engine's task is handed to the work step")


def publish_issue(run: FixRun, number: int, *, handoff: Path) -> FixResult:
    """``--phase publish``: the issue and its HMAC verified again, prepare's sealed ticket checked, the
    work step's ``attempts.json`` parsed strictly, then the PR or the "no fix" comment as in one run
    (the patch validated again and committed on the base commit fetched from GitHub)."""
    job = _trusted(run, number)
    if isinstance(job, FixResult):
        return job
    if job.issue.state != "open":
        return job.result(Outcome.SKIPPED, "the issue was closed while the fix was being made")
    ticket = handoff_files.unseal(handoff, number, run.key)
    handoff_files.check_binding(ticket, config=run.config_digest, run=run.run_id)
    if ticket.signature_id != job.sig:
        raise HandoffError(
            f"the ticket of #{number} is for signature {ticket.signature_id!r}, not {job.sig!r}"
        )
    loop = attempts_from_json(handoff_files.read_result(handoff, number))
    if not loop.attempts or len(loop.attempts) > max(1, run.settings.max_attempts):
        raise WorkError(f"the work step handed back {len(loop.attempts)} attempts for #{number}")
    loop = dataclasses.replace(loop, tokens_before=job.writer.tokens_spent_before())
    open_pull = next(iter(run.client.find_pulls(job.branch, state="open")), None)
    return job.finish(Prepared(ticket.brief, ticket.analysis_url, ticket.base_sha, open_pull), loop)


def _trusted(run: FixRun, number: int) -> _Job | FixResult:
    """The issue's job once the trust gate passed; the UNTRUSTED result (one log line, no write) else."""
    started = run.clock()
    issue = run.client.get_issue(number)
    try:
        payload = verify(issue, uploader=run.uploader, key=run.key)
    except TrustError as e:
        logger.warning("issue #%d: not acting on it: %s", number, e.diagnostic())
        return FixResult(number, Outcome.UNTRUSTED, e.diagnostic(), total_s=run.clock() - started)
    return _Job.start(run, issue, payload, started)


Each = Callable[[FixRun, int], FixResult]


def sweep(run: FixRun, *, cap: int, each: Each = fix_issue) -> list[FixResult]:
    """``--pending``: every open crash issue no run has concluded, oldest first, until ``cap`` issues
    got an analysis and an engine (skipped ones don't count) or the open-PR cap is reached; ``each``
    is what is done to one (the whole run, or ``--phase prepare``).

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
        result = one_issue(run, issue.number, each)
        results.append(result)
        if result.outcome is Outcome.CAPPED:
            break
        if result.outcome not in (Outcome.UNTRUSTED, Outcome.SKIPPED):
            worked += 1
    return results


def one_issue(run: FixRun, number: int, each: Each) -> FixResult:
    """``each(run, number)``, with a failure (GitHub, git, the engine, the handoff) recorded as an error
    so that one broken issue does not starve the others; a configuration error stops everything."""
    try:
        return each(run, number)
    except ConfigError:
        raise
    except BotError as e:
        logger.error("issue #%d: %s", number, e.diagnostic())
        return FixResult(number, Outcome.ERROR, e.diagnostic())


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


# -- what the engine gets besides the crash -------------------------------------------------------------


def human_text(client: GitHubClient, issue: IssueRef, *, uploader: str) -> tuple[HumanText, ...]:
    """The title and the latest comments of people with a role on the repository: quoted for the
    engine, never instructions. On a public repository anyone can comment; a stranger's text never
    reaches the engine, even as data."""
    me = uploader.strip().casefold()
    texts = [
        HumanText(author=c.author, text=c.body, where="comment")
        for c in client.list_comments(issue.number)
        if not has_any_marker(c.body)
        and not c.author.endswith("[bot]")
        and c.author.casefold() != me
        and c.author_association in _TRUSTED_ASSOCIATIONS
    ]
    return (HumanText(author="issue", text=issue.title, where="issue title"), *texts[-MAX_HUMAN_COMMENTS:])


def descends(git: Git, build: str, recorded: str) -> bool | None:
    """True when commit ``build`` contains commit ``recorded`` and more; None when either is unknown."""
    new, old = git.rev_parse(build), git.rev_parse(recorded)
    if new is None or old is None:
        return None
    if new == old:
        return False
    # commits reachable from `old` but not from `new`: none means `old` is an ancestor of `new`
    return git.run("rev-list", "--count", f"{new}..{old}").strip() == "0"


def no_fix(attempts: Sequence[Attempt]) -> tuple[Outcome, str]:
    """Why no attempt built: the engine abstained, nothing built, or every patch broke the rules."""
    last = attempts[-1]
    if last.step is Step.ABSTAINED:
        return Outcome.ABSTAINED, last.detail
    if any(a.step in (Step.BUILD_FAILED, Step.TEST_FAILED) for a in attempts):
        return Outcome.BUILD_FAILED, f"no patch built in {len(attempts)} attempt(s); last: {last.detail}"
    first = last.detail.splitlines()[0]
    return Outcome.REJECTED, f"every patch was rejected ({len(attempts)} attempt(s)); last: {first}"


# -- one trusted issue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What the trusted side knows of an issue before the engine loop, and publishing needs after it:
    what the PR body says of the analysis, the analysis comment, the base commit the engine's task is
    made on, and the open PR a new push updates."""

    brief: AnalysisBrief
    analysis_url: str
    base_sha: str
    open_pull: PullRef | None = None


@dataclass(frozen=True)
class _Job:
    """One trusted issue's run. Nothing here changes while it runs (but the writer's note that the labels
    exist): the engine loop returns what it did and spent, and the fix branch is read into a
    :class:`~bot.fix.publish.BranchState` that the push then insists on."""

    run: FixRun
    issue: IssueRef
    payload: Payload
    started: float
    git: Git
    writer: IssueWriter
    branch: str
    builds: tuple[str, ...]

    @classmethod
    def start(cls, run: FixRun, issue: IssueRef, payload: Payload, started: float) -> _Job:
        sig = payload.signature.id
        return cls(
            run,
            issue,
            payload,
            started,
            Git(run.workspace, env=run.env),
            IssueWriter(run.client, issue.number, max_attempts=run.settings.max_attempts),
            fix_branch(sig),
            state.current_builds(payload.occurrences.builds, payload.build.revision),
        )

    @property
    def sig(self) -> str:
        return self.payload.signature.id

    def execute(self) -> FixResult:
        """The whole run in this process: prepare, the engine loop (``run.work``), then publish."""
        original, base_sha = self.git.current_branch(), self.git.head()
        prepared = self.prepare()
        if isinstance(prepared, FixResult):
            return prepared
        meta, task = prepared
        try:
            loop = self.run.work(self._bench(), task)
            # a checkout whose config now runs commands shows the engine loop misbehaved: publish nothing
            self.git.check_config()
            return self.finish(meta, loop)
        finally:
            self._restore(original, base_sha)

    def prepare(self) -> FixResult | tuple[Prepared, Task]:
        """The state checks, the analysis and its comment: a result when the issue stops here, else what
        the engine loop and publishing need."""
        if self.issue.state != "open":
            logger.info("issue #%d is closed; nothing to fix", self.issue.number)
            return self.result(Outcome.SKIPPED, "the issue is closed")
        pulls = self.run.client.find_pulls(self.branch, state="all")
        prior = state.prior(pulls, self.builds, functools.partial(descends, self.git))
        stop = self._stop(prior)
        if stop is not None:
            return stop
        tokens_before = self.writer.tokens_spent_before()
        crash = self.run.symbolicate(self.issue, self.payload) if self.run.symbolicate else None
        analysis = analyse(
            crash or self.payload.to_crash(),
            self.git,
            self.run.settings,
            previous_attempts=prior.previous,
            first_seen=epoch_of(self.payload.occurrences.first_seen),
        )
        comment, _ = self.run.client.upsert_comment(
            self.issue.number, ANALYSIS.tag, render_analysis_comment(analysis)
        )
        task = self._task(analysis, self.git.head(), tokens_before)
        return Prepared(AnalysisBrief.of(analysis), comment.html_url, task.base_sha, prior.open_pull), task

    def finish(self, prepared: Prepared, loop: Attempts) -> FixResult:
        """The conclusion of the engine loop: the PR when a patch built, else the "no fix" comment."""
        if loop.built is None:
            return self._no_fix(loop)
        return self._publish(prepared, loop)

    def _stop(self, prior: state.Prior) -> FixResult | None:
        """The result when the PR history, a person's commits or the open-PR cap says not to go on."""
        n = self.issue.number
        if prior.blocked:
            logger.info("issue #%d: %s", n, prior.blocked)
            return self.result(Outcome.SKIPPED, prior.blocked)
        if prior.note:
            logger.info("issue #%d: %s", n, prior.note)
        if prior.open_pull is not None:
            branch = self._read_branch()
            if branch.foreign_authors:
                return self._leave_alone(prior.open_pull, branch.foreign_authors)
            return None  # an open PR is updated, whatever the cap
        open_prs = open_fix_pulls(self.run.client)
        cap = self.run.settings.max_open_prs
        if open_prs < cap:
            return None
        reason = (
            f"{open_prs} crash-fix PRs are open (fix.max_open_prs = {cap}); "
            "the sweep will come back to this issue"
        )
        logger.warning("issue #%d: %s", n, reason)
        return self.result(Outcome.CAPPED, reason)

    def _bench(self) -> Bench:
        run = self.run
        build_env = {k: v for k, v in run.env.items() if k not in run.secret_names}
        return Bench(run.engine, run.settings, self.git, run.workspace, build_env, run.clock)

    def _task(self, analysis: Analysis, base_sha: str, tokens_before: int) -> Task:
        human = human_text(self.run.client, self.issue, uploader=self.run.uploader)
        return Task(self.issue.number, analysis, crash_text(self.payload), human, base_sha, tokens_before)

    def _read_branch(self) -> BranchState:
        return read_branch(
            self.run.client, self.branch, base_branch=self.run.base_branch, signature_id=self.sig
        )

    # -- conclusions ---------------------------------------------------------------------------------

    def result(
        self, outcome: Outcome, reason: str, *, loop: Attempts | None = None, pull: PullRef | None = None
    ) -> FixResult:
        usage = loop.usage if loop is not None else Usage()
        return FixResult(
            issue=self.issue.number,
            outcome=outcome,
            reason=reason,
            signature_id=self.sig,
            branch=self.branch,
            engine=self.run.engine.name,
            model=usage.model,
            tokens=loop.tokens if loop is not None else 0,
            total_s=self.run.clock() - self.started,
            engine_s=usage.engine_s,
            build_s=usage.build_s,
            attempts=loop.attempts if loop is not None else (),
            pull_number=pull.number if pull is not None else None,
            pull_url=pull.html_url if pull is not None else "",
        )

    def _no_fix(self, loop: Attempts) -> FixResult:
        outcome, reason = no_fix(loop.attempts)
        result = self.result(outcome, reason, loop=loop)
        self.writer.conclude(result)
        return result

    def _publish(self, prepared: Prepared, loop: Attempts) -> FixResult:
        s, n = self.run.settings, self.issue.number
        engine, model = self.run.engine.name, loop.usage.model
        built, base_sha = loop.attempts[-1], prepared.base_sha
        message = commit_message(
            self.payload, issue=n, result_attempt=built, attempts=s.max_attempts, engine=engine, model=model
        )
        url = self.run.remote_url or self.run.client.repo_info().clone_url
        self._check_base(base_sha)
        # only the validated patch, validated again, committed on the base commit fetched from the remote
        # into a new repository: nothing the engine loop's checkout holds is used
        with fresh_clone(
            url, base_sha=base_sha, env=self.run.env, token_env=self.run.push_token_env
        ) as clone:
            try:
                sha = commit_validated(clone, built.diff, branch=self.branch, settings=s, message=message)
            except PatchRejected as e:  # the second validation, with every secret this process knows
                detail = "\n".join(str(v) for v in e.violations)
                logger.warning("issue #%d: the built patch was rejected before publishing: %s", n, detail)
                refused = dataclasses.replace(built, step=Step.REJECTED, detail=detail)
                return self._no_fix(dataclasses.replace(loop, attempts=(*loop.attempts[:-1], refused)))
            branch = self._read_branch()  # again, right before pushing: a person may have pushed meanwhile
            if branch.foreign_authors:
                return self._leave_alone(prepared.open_pull, branch.foreign_authors, loop)
            push_branch(clone, self.branch, branch, remote=url, token_env=self.run.push_token_env)
        logger.info("issue #%d: pushed %s to %s", n, sha[:12], self.branch)
        body = pr_body(
            self.payload,
            issue=n,
            analysis=prepared.brief,
            analysis_url=prepared.analysis_url,
            attempts=loop.attempts,
            max_attempts=s.max_attempts,
            engine=engine,
            model=model,
            tokens=loop.tokens,
            builds=self.builds,
        )
        pull, created = open_or_update_pull(
            self.run.client,
            self.branch,
            self.run.base_branch,
            title=pr_title(self.payload),
            body=body,
            draft=s.draft_pr,
        )
        self.writer.label_pull(pull)
        verb = "opened" if created else "updated"
        outcome = Outcome.PR_OPENED if created else Outcome.PR_UPDATED
        result = self.result(outcome, f"{verb} #{pull.number} from {self.branch}", loop=loop, pull=pull)
        self.writer.conclude(result, extra_labels=(OPEN_PR_LABEL,))
        return result

    def _check_base(self, base_sha: str) -> None:
        """GitError unless ``base_sha`` is the base branch's tip on GitHub or one of its ancestors: the
        fix is made on a commit the repository already holds, never on one a checkout made up."""
        tip = self.run.client.get_ref_sha(self.run.base_branch)
        if tip is not None and (tip == base_sha or self.run.client.contains(base_sha, tip) is True):
            return
        raise GitError(
            f"the base commit {base_sha[:12]} is not on {self.run.base_branch!r} on GitHub (tip "
            f"{(tip or 'missing')[:12]}); not publishing a fix made on it"
        )

    def _leave_alone(
        self, open_pull: PullRef | None, authors: Sequence[str], loop: Attempts | None = None
    ) -> FixResult:
        """A person pushed to the fix branch: say so once (on the PR, else the issue) and touch nothing."""
        reason = f"{self.branch} has commits crashbot did not make (by {', '.join(dict.fromkeys(authors))})"
        logger.warning("issue #%d: %s; not force-pushing", self.issue.number, reason)
        result = self.result(Outcome.HUMAN_PUSHED, reason, loop=loop, pull=open_pull)
        self.writer.left_alone(result, open_pull, authors)
        return result

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
