"""The demo's timeline and output files, rendered from a report built by hand."""

from __future__ import annotations

from pathlib import Path

from bot.dashboard.verify import Basis, Evidence, Verdict, verified_comment
from bot.demo.report import (
    CommentView,
    DemoReport,
    DeploymentView,
    GitHubView,
    IssueView,
    PullView,
    StepRecord,
    render_index,
    render_text,
    render_timeline_markdown,
    step_line,
    write_outputs,
)

ISSUE_BODY = "### Summary\n\n| | |\n|---|---|\n| Top frame | `ChatHandler::SendWhisper` |\n\n<!-- crashbot:payload v1 QUJD -->"
ANALYSIS = "<!-- crashbot:analysis -->\n## Crash analysis\n\nMapped `ChatHandler.cpp:28`."


def steps(failed_at: int | None = None) -> tuple[StepRecord, ...]:
    made = []
    for n, name in enumerate(("github", "repo", "deploy-v1")):
        ok = failed_at != n
        made.append(
            StepRecord(name, f"Step {name}", 1.5 * (n + 1), ok, "checked" if ok else "it broke | badly")
        )
        if not ok:
            break
    return tuple(made)


def view() -> GitHubView:
    return GitHubView(
        repo="demo/worldserver",
        web_url="http://127.0.0.1:9",
        issue=IssueView(
            1,
            "crash: ChatHandler::SendWhisper (SIGSEGV)",
            "http://127.0.0.1:9/demo/worldserver/issues/1",
            "closed",
            "crashbot-uploader",
            ("crash", "fix-deployed"),
            ISSUE_BODY,
            (
                CommentView("crashbot[bot]", ANALYSIS, "u1"),
                CommentView("crashbot[bot]", "<!-- m -->\nDeployed in abc to demo.", "u2"),
            ),
        ),
        pull=PullView(
            2,
            "Fix crash",
            "http://127.0.0.1:9/demo/worldserver/pull/2",
            "closed",
            True,
            "crashbot[bot]",
            "crashfix/7b74",
            "main",
            "Fixes #1",
            "0123456789abcdef",
        ),
        deployments=(DeploymentView(7, "0123456789abcdef", "demo", ("success", "in_progress")),),
        analysis_comment=CommentView("crashbot[bot]", ANALYSIS, "u1"),
    )


def test_report_ok_only_when_every_step_passed() -> None:
    assert DemoReport(steps(), "gdb", Path("w")).ok
    failed = steps(failed_at=2)
    assert not DemoReport(failed, "gdb", Path("w"), failed=failed[-1]).ok
    assert not DemoReport((), "gdb", Path("w")).ok


def test_step_line_shows_duration_result_and_detail() -> None:
    line = step_line(StepRecord("fix", "crashbot fix", 12.345, True, "PR #2"))
    assert line.split() == ["crashbot", "fix", "12.3s", "ok", "PR", "#2"]


def test_render_text_failed_names_the_step_and_why() -> None:
    failed = steps(failed_at=1)
    text = render_text(DemoReport(failed, "gdb", Path("w"), failed=failed[-1]))
    assert "step 'repo' failed: it broke | badly" in text
    assert "FAILED" in text


def test_render_text_shows_what_github_shows() -> None:
    text = render_text(DemoReport(steps(), "gdb", Path("w"), github=view()), Path("/out"))
    assert "issue #1  crash: ChatHandler::SendWhisper (SIGSEGV)  [closed]" in text
    assert "comment by crashbot[bot]: Crash analysis" in text
    assert "comment by crashbot[bot]: Deployed in abc to demo." in text
    assert "PR #2  Fix crash  [merged]" in text and "merge commit 0123456789ab" in text
    assert "deployment 7  0123456789ab to demo: success (statuses: in_progress, success)" in text
    assert "files: /out  (index.html, timeline.md, issue.md, pr.md, analysis-comment.md, logs/)" in text


def test_comment_preview_is_the_plain_text_a_reader_sees_without_stray_marks() -> None:
    """Regression: the demo's preview of the fix-verified comment read "Fix verified in production.**
    Before …": the leading ``**`` was stripped and the closing one kept."""
    evidence = Evidence(Verdict.VERIFIED, Basis.UPTIME, 48, 48.0, 0, 5.0, 1.0, 0.0067, 4.6, 0.2)
    body = "<!-- crashbot:fix-verified -->\n" + verified_comment(evidence, fix="#7", realms="demo")

    line = CommentView("crashbot[bot]", body, "u").first_line

    assert line.startswith("Fix verified in production. Before #7: 48 crash(es) in 48.0 hours of uptime")
    assert "*" not in line
    assert CommentView("a", "> **Note:** see [the PR](https://x/pull/2) and `a_b`", "u").first_line == (
        "Note: see the PR and a_b"
    )


def test_render_text_failed_before_the_issue_lists_only_the_files_written() -> None:
    failed = steps(failed_at=0)
    text = render_text(DemoReport(failed, "gdb", Path("w"), failed=failed[-1]), Path("/out"))
    assert "files: /out  (index.html, timeline.md, logs/)" in text


def test_timeline_markdown_has_a_row_per_step_with_escaped_cells() -> None:
    failed = steps(failed_at=2)
    markdown = render_timeline_markdown(DemoReport(failed, "gdb", Path("w"), failed=failed[-1]))
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 3
    assert rows[2] == "| 3 | Step deploy-v1 | 4.5s | **failed** | it broke \\| badly | – |"
    assert "> Step `deploy-v1` failed" in markdown


def test_index_renders_issue_comments_and_pr_without_the_payload() -> None:
    html = render_index(DemoReport(steps(), "gdb", Path("w"), github=view()))
    assert "Issue #1: crash: ChatHandler::SendWhisper (SIGSEGV)" in html
    assert "<code>ChatHandler::SendWhisper</code>" in html
    assert "<h2>Crash analysis</h2>" in html
    assert "Pull request #2: Fix crash — crashfix/7b74 → main [merged]" in html
    assert "crashbot:payload" not in html and "QUJD" not in html


def test_write_outputs_writes_github_bodies_verbatim(tmp_path: Path) -> None:
    written = write_outputs(DemoReport(steps(), "gdb", Path("w"), github=view()), tmp_path)

    assert sorted(p.name for p in written) == [
        "analysis-comment.md",
        "index.html",
        "issue.md",
        "pr.md",
        "timeline.md",
    ]
    assert (tmp_path / "issue.md").read_text(encoding="utf-8") == ISSUE_BODY + "\n"
    assert (tmp_path / "pr.md").read_text(encoding="utf-8") == "Fixes #1\n"


def test_write_outputs_without_an_issue_removes_an_earlier_runs_bodies(tmp_path: Path) -> None:
    for name in ("issue.md", "pr.md", "analysis-comment.md"):
        (tmp_path / name).write_text("old", encoding="utf-8")
    failed = steps(failed_at=0)

    write_outputs(DemoReport(failed, "gdb", Path("w"), failed=failed[-1]), tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "timeline.md"]


def test_write_outputs_writes_the_dashboard_as_markdown_and_its_own_page(tmp_path: Path) -> None:
    import dataclasses

    dash = IssueView(
        3, "Crash dashboard", "u", "open", "crashbot[bot]", ("crash-dashboard",), "# Crash dashboard\n"
    )
    report = DemoReport(steps(), "gdb", Path("w"), github=dataclasses.replace(view(), dashboard=dash))
    written = {p.name for p in write_outputs(report, tmp_path)}
    assert {"dashboard.md", "dashboard.html"} <= written
    page = (tmp_path / "dashboard.html").read_text(encoding="utf-8")
    assert "Issue #3: Crash dashboard — labels crash-dashboard" in page and "<script" not in page
    assert "Issue #3: Crash dashboard" in (tmp_path / "index.html").read_text(encoding="utf-8")
