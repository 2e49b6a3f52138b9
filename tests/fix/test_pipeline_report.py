"""What a fix run writes for people: engine and build text can neither ping, link nor break out of its
quoting; the job summary leaves untrusted issues out."""

from __future__ import annotations

from bot.build.diagnostics import Diagnostic, Severity
from bot.fix.report import (
    Attempt,
    FixResult,
    Outcome,
    Step,
    human_push_comment,
    result_comment,
    step_summary,
)


def _failure(number: int) -> Attempt:
    diagnostic = Diagnostic("src/a.cpp", 3, 1, Severity.ERROR, None, "'x' was not declared, ask @bob")
    return Attempt(number, Step.BUILD_FAILED, "the build step failed", diff="+x\n", diagnostics=(diagnostic,))


def test_result_comment_for_failed_builds_shows_each_attempt_s_errors_defused() -> None:
    result = FixResult(
        7,
        Outcome.BUILD_FAILED,
        "no patch built",
        engine="openai",
        model="m",
        attempts=(_failure(1), _failure(2)),
    )

    text = result_comment(result, max_attempts=2)

    assert "no patch built" in text and "No pull request was opened" in text
    assert text.count("Attempt ") == 2 and "src/a.cpp:3:1: error" in text
    assert "@bob" not in text


def test_result_comment_for_a_pr_names_the_pr_and_branch() -> None:
    built = Attempt(1, Step.BUILT, "built", tests_ok=True)
    result = FixResult(
        7, Outcome.PR_OPENED, "opened", branch="crashfix/abc", pull_number=9, engine="e", attempts=(built,)
    )

    text = result_comment(result, max_attempts=3)

    assert "opened #9" in text and "crashfix/abc" in text and "test command passed" in text


def test_human_push_comment_names_the_authors_once() -> None:
    text = human_push_comment("crashfix/abc", ["Alice", "Alice", "Bob"])
    assert text.count("Alice") == 1 and "Bob" in text and "will not force-push" in text


def test_step_summary_leaves_untrusted_issues_out() -> None:
    results = [
        FixResult(3, Outcome.UNTRUSTED, "issue #3 was opened by 'mallory'"),
        FixResult(4, Outcome.PR_OPENED, "opened #5", pull_number=5, engine="openai", model="m", total_s=12.0),
    ]

    text = step_summary(results)

    assert "mallory" not in text and "#3" not in text
    assert "| #4 | ✅ pr-opened | #5 |" in text


def test_step_summary_of_only_untrusted_issues_says_nothing_about_them() -> None:
    assert "mallory" not in step_summary([FixResult(3, Outcome.UNTRUSTED, "mallory")])


def test_fix_result_overhead_excludes_engine_and_build_time() -> None:
    result = FixResult(1, Outcome.PR_OPENED, "", total_s=10.0, engine_s=3.0, build_s=5.5)
    assert result.overhead_s == 1.5
    assert result.exit_code == 0 and FixResult(1, Outcome.ERROR, "").exit_code == 1


def test_pr_body_shows_the_signature_without_table_escapes() -> None:
    """Outside a table GitHub shows ``\\|`` literally: the PR body's signature must read as the issue's."""
    from dataclasses import replace as _replace

    from bot.fix.report import pr_body
    from bot.payload import Occurrences, Payload
    from tests.crashes import make_crash
    from tests.fix.test_prompt import _analysis

    crash = make_crash(signature_text="SIGSEGV | ChatHandler::SendWhisper | World::Update")
    payload = Payload.from_crash(crash, Occurrences())
    body = pr_body(
        payload,
        issue=1,
        analysis=_replace(_analysis(), signature_text=crash.signature.text),
        analysis_url="https://example.invalid/1#c",
        attempts=(Attempt(1, Step.BUILT, "built", reasoning="null check"),),
        max_attempts=1,
        engine="replay",
        model="m",
        tokens=0,
        builds=(),
    )
    assert "`SIGSEGV | ChatHandler::SendWhisper | World::Update`" in body
    assert "\\|" not in body
