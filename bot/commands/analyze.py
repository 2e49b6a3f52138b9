"""``crashbot analyze REPORT [--source DIR] [--json]``: what the fix engine would be shown for a crash,
computed locally without GitHub. The JSON is the contract ``bench/localise.py`` measures."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.commands.parse import load_crash
from bot.config import Config
from bot.errors import GitError, UsageError
from bot.fix.analysis import Analysis, analyse, render_analysis_comment
from bot.git import Git


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "analyze", help="show locally, without GitHub, the frames, code, callers and commits a fix would see"
    )
    p.add_argument("report", help="a crash report file")
    p.add_argument("--source", default=".", help="the server's git checkout (default: the current directory)")
    p.add_argument(
        "--json", action="store_true", help="print mapped frames, contexts, suspects and notes as JSON"
    )
    p.add_argument(
        "--first-seen",
        metavar="YYYY-MM-DD",
        help="when the crash was first seen: dates 'commits shortly before the crash' when the report's "
        "revision is unknown here",
    )
    p.add_argument("--frames", type=int, metavar="N", help="frame slots (default: fix.analysis_frames)")
    p.set_defaults(handler=run_analyze)


def run_analyze(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    crash = load_crash(Path(args.report), None)
    source = Path(args.source)
    git = Git(source, env=env)
    try:
        git.head()
    except GitError as e:
        raise UsageError(f"{source}: not a git checkout with a commit ({e})") from None
    settings = config.fix
    if args.frames is not None:
        if args.frames < 1:
            raise UsageError("--frames must be at least 1")
        settings = _with_frames(settings, args.frames)
    analysis = analyse(crash, git, settings, first_seen=_date(args.first_seen))
    if args.json:
        print(json.dumps(analysis_to_json(analysis), indent=2, ensure_ascii=False))
    else:
        print(render_analysis_comment(analysis), end="")
    return 0


def _with_frames(settings: Any, frames: int) -> Any:
    from dataclasses import replace

    return replace(settings, analysis_frames=frames)


def _date(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) + 86_399
    except ValueError:
        raise UsageError(f"--first-seen {text!r}: expected YYYY-MM-DD") from None


def analysis_to_json(a: Analysis) -> dict[str, Any]:
    """The machine-readable analysis (stable keys; README "crashbot analyze")."""
    return {
        "signature": {"id": a.signature_id, "text": a.signature_text},
        "crash_revision": a.crash_revision,
        "crash_commit": a.crash_commit,
        "head": a.head,
        "frames": [
            {
                "index": m.index,
                "function": m.function,
                "path": m.path,
                "line": m.line,
                "head_line": m.head_line,
                "how": m.how,
                "folded": list(m.folded),
            }
            for m in a.frames
        ],
        "unmapped": [{"function": u.function, "file": u.file, "reason": u.reason} for u in a.unmapped],
        "contexts": [
            {
                "path": c.path,
                "function": c.function,
                "start": c.start,
                "end": c.end,
                "line": c.line,
                "note": c.note,
            }
            for c in a.contexts
        ],
        "callers": {
            "of": a.callee,
            "sites": [
                {"path": c.path, "function": c.function, "start": c.start, "end": c.end, "line": c.line}
                for c in a.callers
            ],
        },
        "suspects": [
            {
                "sha": s.sha,
                "author": s.author,
                "time": s.author_time,
                "summary": s.summary,
                "locations": list(s.locations),
            }
            for s in a.suspects
        ],
        "recent": [
            {"sha": c.sha, "author": c.author, "time": c.author_time, "subject": c.subject} for c in a.recent
        ],
        "changed_since_crash": [
            {"path": d.path, "line": d.line, "commits": [c.sha for c in d.commits]} for d in a.drift
        ],
        "notes": list(a.notes),
    }
