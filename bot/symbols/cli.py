"""The command-line side of the symbols room: ``crashbot parse --symbols/--dump`` output and
``crashbot symbols add|list|prune``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from bot.config import SymbolsSettings
from bot.crash import crash_to_json
from bot.crash.model import Crash, CrashReport, Format
from bot.errors import UsageError
from bot.symbols.cdb import find_cdb
from bot.symbols.errors import SymbolError
from bot.symbols.minidump import read_minidump_file
from bot.symbols.service import Outcome, analyse_with_symbols, dump_beside, dump_to_json
from bot.symbols.store import SymbolStore


def parse_with_symbols(
    path: Path,
    *,
    report: CrashReport,
    text: str,
    symbols: Path | None,
    dump: Path | None,
    settings: SymbolsSettings,
    env: Mapping[str, str],
    as_json: bool,
    explain: bool,
    human: Callable[..., str],
) -> int:
    if symbols is not None and not symbols.is_dir():
        raise UsageError(
            f"--symbols {symbols}: not a folder (give a release folder, a build output or a store)"
        )
    if dump is not None and not dump.is_file():
        raise UsageError(f"--dump {dump}: no such file")
    outcome = analyse_with_symbols(
        report,
        symbols=symbols,
        dump_path=dump or dump_beside(path),
        text=text,
        symbolizer=settings.symbolizer,
        cdb=find_cdb(settings.cdb, env),
        timeout_s=settings.timeout_s,
    )
    if as_json:
        print(json.dumps(outcome_json(outcome, explain=explain), indent=2, ensure_ascii=False))
        return 0
    print(human(outcome.crash, explain=explain))
    if outcome.crash.signature.aliases:
        aliases = ", ".join(outcome.crash.signature.aliases)
        print(f"also:       {aliases} (the unresolved signature, kept as alias)")
    for note in outcome.notes:
        print(f"symbols:    {note}")
    return 0


def parse_dump_alone(
    path: Path,
    *,
    symbols: Path | None,
    settings: SymbolsSettings,
    env: Mapping[str, str],
    as_json: bool,
    explain: bool,
    human: Callable[..., str],
) -> int:
    """``crashbot parse X.dmp``: the dump is the report. Its crashing thread's stack is walked (with the
    images' unwind data when ``--symbols`` or the configured store has them, else by stack scanning) and
    symbolicated from the same debug files."""
    try:
        read_minidump_file(path)
    except SymbolError as e:
        raise UsageError(f"{path}: not a readable minidump: {e}") from None
    if symbols is None and settings.store:
        symbols = Path(settings.store)
    return parse_with_symbols(
        path,
        report=CrashReport(format=Format.MINIDUMP),
        text="",
        symbols=symbols,
        dump=path,
        settings=settings,
        env=env,
        as_json=as_json,
        explain=explain,
        human=human,
    )


def outcome_json(outcome: Outcome, *, explain: bool) -> dict[str, object]:
    crash: Crash = outcome.crash
    out = crash_to_json(crash, explain=explain)
    out["signature_aliases"] = list(crash.signature.aliases)
    sym = outcome.symbolication
    out["symbols"] = {
        "resolved": sym.resolved if sym else 0,
        "unresolved": sym.unresolved if sym else 0,
        "notes": list(outcome.notes),
    }
    out["dump"] = dump_to_json(outcome.dump) if outcome.dump is not None else None
    trust = crash.report.extra.get("dump_stack_trust")
    if out["dump"] is not None and trust is not None:  # how each walked frame was found, innermost first
        out["dump"]["stack_trust"] = trust.split()
    return out


def _store(settings: SymbolsSettings, override: str | None) -> SymbolStore:
    root = override or settings.store
    if not root:
        raise UsageError("no symbol store: set [symbols] store in crashbot.toml or pass --store DIR")
    return SymbolStore(Path(root))


def run_add(folder: Path, *, revision: str, settings: SymbolsSettings, store: str | None) -> int:
    target = _store(settings, store)
    release, notes = target.add(folder, revision=revision)
    for note in notes:
        print(f"crashbot: warning: {note}", file=sys.stderr)
    print(f"{release.revision}: {len(release.files)} debug file(s) in {target.root}")
    for rel in release.files:
        print(f"  {rel}")
    return 0


def run_list(*, settings: SymbolsSettings, store: str | None) -> int:
    target = _store(settings, store)
    releases = target.releases()
    for release in releases:
        when = datetime.fromtimestamp(release.added_at, UTC).strftime("%Y-%m-%d %H:%M")
        size = target.size(release.files)
        print(f"{release.revision}  {when}  {len(release.files)} file(s)  {size / 1e6:.1f} MB")
    print(f"{len(releases)} release(s), {target.size() / 1e6:.1f} MB in {target.root}")
    return 0


def run_prune(*, settings: SymbolsSettings, store: str | None, keep: int | None) -> int:
    target = _store(settings, store)
    dropped = target.prune(
        keep_releases=keep if keep is not None else settings.keep_releases, max_bytes=settings.max_bytes
    )
    for release in dropped:
        print(f"pruned {release.revision}")
    print(f"{len(dropped)} release(s) pruned, {target.size() / 1e6:.1f} MB kept in {target.root}")
    return 0
