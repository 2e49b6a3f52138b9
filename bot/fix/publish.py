"""What a fix run writes on GitHub: the ``crashfix/<sig>`` branch (never pushed over a person's commits),
the pull request, and the issue's one result comment and labels.

Every write is idempotent by marker or label, so a rerun edits what an earlier run wrote. The names are
:mod:`bot.vocabulary`'s; the texts are :mod:`bot.fix.report`'s.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import FixSettings
from bot.errors import ConfigError
from bot.fix.patch import check
from bot.fix.report import FixResult, human_push_comment, result_comment
from bot.git import Git
from bot.github import GitHubClient, PullRef
from bot.vocabulary import (
    FIX_LABELS,
    FIX_RESULT,
    HANDLED_LABEL,
    HUMAN_PUSHED,
    OPEN_PR_LABEL,
    PR_LABEL,
    TOKENS,
    branch_from_labels,
    is_bot_commit,
)

logger = logging.getLogger(__name__)

_TOKENS_RE = TOKENS.pattern(r"(\d{1,12})")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# -- the branch ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchState:
    """The fix branch on GitHub as last read: its sha (None: there is no such branch) and the authors of
    the commits on it that crashbot did not make. A push expects exactly this sha, so whatever a person
    pushed after the read is never overwritten."""

    sha: str | None
    foreign_authors: tuple[str, ...] = ()


def read_branch(client: GitHubClient, branch: str, *, base_branch: str, signature_id: str) -> BranchState:
    """The fix branch's sha and the authors of commits on it without crashbot's trailer for this signature."""
    sha = client.get_ref_sha(branch)
    if sha is None:
        return BranchState(None)
    commits = client.compare(base_branch, branch)
    foreign = tuple(c.author or c.sha[:10] for c in commits if not is_bot_commit(c.message, signature_id))
    return BranchState(sha, foreign)


@contextlib.contextmanager
def fresh_clone(url: str, *, base_sha: str, env: Mapping[str, str], token_env: str | None) -> Iterator[Git]:
    """A new repository in a temporary directory (removed afterwards) holding ``base_sha`` alone, fetched
    from ``url`` (the repository GitHub reports, with the push token when there is one): its own config,
    no hook, and nothing the checkout the engine loop ran in holds, neither files nor objects nor config.
    Publishing happens here."""
    with tempfile.TemporaryDirectory(prefix="crashbot-publish-") as tmp:
        clone = Git(Path(tmp), env=env)
        clone.run("init", "--quiet", "--template=")
        clone.fetch_commit(url, base_sha, token_env=token_env)
        yield clone


def trusted_remote(clone_url: str, *, api_url: str) -> str:
    """The URL fix branches are fetched from and pushed to: the repository's ``clone_url`` as the API
    reports it, over HTTPS on the API's own host (``api.<host>`` or ``<host>/api/v3``).

    Never the workspace's remote: code the engine loop ran could rewrite ``.git/config`` and receive the
    push token. The GitHub stand-in (``bot.standin``) serves no git protocol; it reports its bare
    repository as a ``file:`` URL, accepted only when the API itself is on loopback.
    """
    api = urllib.parse.urlsplit(api_url)
    url = urllib.parse.urlsplit(clone_url)
    if url.scheme == "file" and (api.hostname or "") in _LOOPBACK:
        return clone_url
    hosts = {api.hostname or "", (api.hostname or "").removeprefix("api.")}
    if url.scheme == "https" and url.hostname and url.hostname in hosts and not url.username:
        return clone_url
    raise ConfigError(
        f"the API at {api_url} reports the repository's clone URL as {clone_url!r}, which is not an https "
        "URL on the API's host; crashbot pushes fix branches only there"
    )


def commit_validated(clone: Git, diff: str, *, branch: str, settings: FixSettings, message: str) -> str:
    """Validate ``diff`` again against the clean ``clone`` (the same rules as the attempt), then commit
    exactly it on ``branch``: the staged paths must be the patch's paths. Returns the commit's sha."""
    patch = check(
        diff,
        allowed_paths=settings.allowed_paths,
        max_changed_lines=settings.max_changed_lines,
        repo=clone,
        allow_protected=settings.allow_protected_paths,
    )
    clone.branch(branch, start="HEAD")
    return clone.commit_patch(patch.text, patch.paths, message, settings.commit_author)


def push_branch(git: Git, branch: str, state: BranchState, *, remote: str, token_env: str | None) -> None:
    """Force-push HEAD to ``branch``, but only over the sha ``state`` saw (or onto no branch at all): a push
    that landed between the read and this one is kept, and this push fails."""
    git.push(remote, f"HEAD:refs/heads/{branch}", force=True, expect=state.sha or "", token_env=token_env)


# -- the pull request --------------------------------------------------------------------------------------


def open_or_update_pull(
    client: GitHubClient, branch: str, base: str, *, title: str, body: str, draft: bool
) -> tuple[PullRef, bool]:
    """The open PR from ``branch`` with this title and body, made or edited; (pull, created)."""
    pull, created = client.ensure_pull(branch, base, title, body, draft=draft)
    if not created:
        pull = client.edit_pull(pull.number, title=title, body=body)
    return pull, created


def open_fix_pulls(client: GitHubClient) -> int:
    """Open crash-fix PRs, counted through the crash issues labelled ``crash-fix-pr`` (stale labels,
    whose PR was closed or merged since, are removed on the way)."""
    count = 0
    for issue in client.find_issues([OPEN_PR_LABEL], state="all"):
        branch = branch_from_labels(issue.labels)
        if branch and client.find_pulls(branch, state="open"):
            count += 1
            continue
        logger.info("issue #%d has no open fix PR any more; removing %s", issue.number, OPEN_PR_LABEL)
        client.remove_label(issue.number, OPEN_PR_LABEL)
    return count


# -- the issue's conclusion --------------------------------------------------------------------------------


class IssueWriter:
    """The comments and labels one run leaves on its issue and PR; crashbot's labels are created (once)
    before the first one is set, so GitHub never makes them bare."""

    def __init__(self, client: GitHubClient, issue: int, *, max_attempts: int) -> None:
        self.client = client
        self.issue = issue
        self.max_attempts = max_attempts
        self._labels_ready = False

    def ensure_labels(self) -> None:
        if not self._labels_ready:
            self.client.ensure_labels(FIX_LABELS)
            self._labels_ready = True

    def label_pull(self, pull: PullRef) -> None:
        self.ensure_labels()
        self.client.add_labels(pull.number, [PR_LABEL])

    def conclude(self, result: FixResult, *, extra_labels: Sequence[str] = ()) -> None:
        """The issue's one result comment (edited on reruns, carrying the tokens spent so far) and the
        label that marks it handled."""
        self.ensure_labels()
        self.client.upsert_comment(
            self.issue,
            FIX_RESULT.tag,
            result_comment(result, max_attempts=self.max_attempts)
            + f"\n{TOKENS.render(str(result.tokens))}\n",
        )
        self.client.add_labels(self.issue, [HANDLED_LABEL, *extra_labels])

    def left_alone(self, result: FixResult, pull: PullRef | None, authors: Sequence[str]) -> None:
        """A person pushed to the fix branch: say so once (on the PR, else in the issue's result)."""
        if pull is None:
            self.conclude(result)
            return
        self.client.upsert_comment(pull.number, HUMAN_PUSHED.tag, human_push_comment(result.branch, authors))
        self.ensure_labels()
        self.client.add_labels(self.issue, [HANDLED_LABEL])

    def tokens_spent_before(self) -> int:
        """Engine tokens earlier runs spent on this issue, from crashbot's own result comment: the
        ceiling (``fix.max_tokens_per_issue``) holds per issue, across reruns, not per run."""
        me = self.client.whoami()
        spent = 0
        for comment in self.client.list_comments(self.issue):
            ours = comment.author == me or comment.author.endswith("[bot]")
            if not FIX_RESULT.in_text(comment.body) or not ours:
                continue
            found = _TOKENS_RE.search(comment.body)
            if found:
                spent = max(spent, int(found[1]))
        if spent:
            logger.info("issue #%d: earlier runs spent %d engine tokens", self.issue, spent)
        return spent
