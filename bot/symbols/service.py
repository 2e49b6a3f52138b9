"""The symbols room's entry for commands and the uploader: a parsed report plus whatever debug files and
minidump are at hand -> a signed :class:`Crash` that keeps its unresolved signature as an alias."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import RedactionSettings, SymbolsSettings
from bot.crash import CrashReader, analyse, parse_report
from bot.crash.model import Crash, CrashReport
from bot.crash.redact import compile_patterns, redact
from bot.crash.resolved import with_alias
from bot.symbols.cdb import cdb_argv, find_cdb, merge_cdb, run_cdb
from bot.symbols.errors import SymbolError
from bot.symbols.locate import FolderLocator, Locator, StoreLocator
from bot.symbols.minidump import Minidump, read_minidump_file
from bot.symbols.modmap import read_module_map
from bot.symbols.resolve import Scrub, Symbolication, merge_dump, symbolicate
from bot.symbols.store import INDEX_NAME, SymbolStore
from bot.symbols.symbolizer import DEFAULT_TIMEOUT_S, find_symbolizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    crash: Crash
    symbolication: Symbolication | None
    dump: Minidump | None
    notes: tuple[str, ...]


def dump_beside(report_path: Path) -> Path | None:
    """The minidump the crash handler wrote beside ``report_path`` (same name, ``.dmp``), if any."""
    candidate = report_path.with_suffix(".dmp")
    return candidate if candidate != report_path and candidate.is_file() else None


def locator_for(folder: Path) -> Locator:
    """A symbol store when ``folder`` holds a store index, else any folder of debug files."""
    if (folder / INDEX_NAME).is_file():
        return StoreLocator(SymbolStore(folder))
    return FolderLocator(folder)


def read_dump(path: Path | None) -> tuple[Minidump | None, tuple[str, ...]]:
    if path is None:
        return None, ()
    try:
        return read_minidump_file(path), ()
    except SymbolError as e:
        return None, (f"minidump not used: {e}",)


def analyse_with_symbols(
    report: CrashReport,
    *,
    symbols: Path | None = None,
    locator: Locator | None = None,
    dump_path: Path | None = None,
    text: str | None = None,
    symbolizer: str = "",
    cdb: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    scrub: Scrub = str,
) -> Outcome:
    """Analyse ``report`` after resolving what the debug files under ``symbols`` (a store or a folder)
    and the minidump at ``dump_path`` allow. Never raises for bad debug files or dumps: they become
    notes, and the crash is signed from whatever could be read."""
    before = analyse(report)
    dump, notes = read_dump(dump_path)
    if dump is not None and dump_path is not None and cdb:
        store = symbols or (locator.store.root if isinstance(locator, StoreLocator) else None)
        report, cdb_notes = _with_cdb(report, cdb, dump_path, store, timeout_s)
        notes = (*notes, *cdb_notes)
    if symbols is None and locator is None and dump is None:
        return Outcome(before, None, None, notes)
    if locator is None and symbols is not None:
        try:
            locator = locator_for(symbols)
        except SymbolError as e:
            notes = (*notes, str(e))
    if locator is None:
        if dump is None:
            return Outcome(before, None, None, notes)
        merged = merge_dump(report, dump)
        walked = merged.notes[len(report.notes) :]  # the stack walk's notes
        return Outcome(with_alias(analyse(merged), before.signature), None, dump, (*notes, *walked))
    if isinstance(locator, FolderLocator):
        notes = (*notes, *locator.notes)
    modules = read_module_map(text.splitlines()) if text else None
    result = symbolicate(
        report,
        locator,
        symbolizer=find_symbolizer(symbolizer),
        dump=dump,
        modules=modules,
        timeout_s=timeout_s,
        scrub=scrub,
    )
    after = with_alias(analyse(result.report), before.signature)
    walked = result.report.notes[len(report.notes) :]  # the stack walk's notes, when the dump was walked
    return Outcome(after, result, dump, tuple(dict.fromkeys((*notes, *walked, *result.notes))))


def _with_cdb(
    report: CrashReport, cdb: str, dump: Path, store: Path | None, timeout_s: float
) -> tuple[CrashReport, tuple[str, ...]]:
    """cdb's stacks of the dump (Windows runner only; see :mod:`bot.symbols.cdb`)."""
    try:
        answer = run_cdb(cdb_argv(cdb, dump, store=store), timeout_s=timeout_s)
        return merge_cdb(report, answer), ()
    except SymbolError as e:
        return report, (str(e),)


def dump_to_json(dump: Minidump) -> dict[str, Any]:
    exc = dump.exception
    return {
        "exception": None
        if exc is None
        else {"code": exc.code_text, "address": f"0x{exc.address:016x}", "thread_id": exc.thread_id},
        "threads": len(dump.thread_ids),
        "modules": [
            {
                "name": m.file_name,
                "base": f"0x{m.base:x}",
                "size": m.size,
                "timestamp": m.timestamp,
                "version": m.version,
                "pdb": None
                if m.codeview is None
                else {"name": m.codeview.pdb_name, "guid": m.codeview.guid, "age": m.codeview.age},
            }
            for m in dump.modules
        ],
    }


def scrubber(redaction: RedactionSettings) -> Scrub:
    """The host's redaction for names and paths that come from debug files, not from the report."""
    patterns = compile_patterns(redaction.extra_patterns)

    def scrub(text: str) -> str:
        return redact(
            text,
            ip_addresses=redaction.ip_addresses,
            emails=redaction.emails,
            user_paths=redaction.user_paths,
            extra_patterns=patterns,
        ).text

    return scrub


def crash_reader(
    settings: SymbolsSettings,
    *,
    env: Mapping[str, str],
    redaction: RedactionSettings | None = None,
    cache_size: int = 64,
) -> CrashReader:
    """The uploader's :data:`~bot.crash.CrashReader` when a store is configured: symbolicate from the
    store (and the report's minidump) before signing. The intake and the publisher read the same text,
    so answers are kept for the last ``cache_size`` reports rather than running llvm-symbolizer twice."""
    locator = StoreLocator(SymbolStore(Path(settings.store)))
    cdb = find_cdb(settings.cdb, env)
    scrub = scrubber(redaction or RedactionSettings())
    cache: OrderedDict[tuple[str, str | None], Crash] = OrderedDict()

    def read(text: str, dump_path: str | None = None) -> Crash:
        key = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), dump_path)
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        outcome = analyse_with_symbols(
            parse_report(text),
            locator=locator,
            dump_path=Path(dump_path) if dump_path else None,
            text=text,
            symbolizer=settings.symbolizer,
            cdb=cdb,
            timeout_s=settings.timeout_s,
            scrub=scrub,
        )
        for note in outcome.notes:
            logger.info("symbols: %s", note)
        cache[key] = outcome.crash
        while len(cache) > cache_size:
            cache.popitem(last=False)
        return outcome.crash

    return read
