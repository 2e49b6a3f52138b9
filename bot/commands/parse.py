"""``crashbot parse`` and ``crashbot signature``: read crash reports and show what crashbot concludes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.commands import add_json_option, results
from bot.config import Config
from bot.coredump.elf import NotACore, is_core
from bot.coredump.report import CoreSettings, core_log
from bot.crash import analyse, crash_to_json, parse_report
from bot.crash.errors import CrashParseError
from bot.crash.model import TEXT_FORMATS, Crash, CrashReport, Format
from bot.crash.text import MAX_BYTES, decode, read_prefix
from bot.errors import UsageError

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("parse", help="parse one crash report and show its crashing thread and signature")
    p.add_argument(
        "file",
        help="a crash report (Wheaty .txt, gdb log, cdb output, console assert, VS stack, sanitizer report, "
        "vMaNGOS log, DebugDiag text, Event Viewer Application Error text, WER's Report.wer or problem "
        "signature), a Linux core file, or a minidump alone (.dmp: its exception, modules and the "
        "crashing thread's stack walked from the dump, x64 only; symbolicated from --symbols or the "
        "configured store, when there is one)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the machine-readable object (DESIGN.md contract)"
    )
    p.add_argument(
        "--format",
        type=str.lower,  # `--format GDB` means gdb; the names are all lower case
        choices=[f.value for f in TEXT_FORMATS],
        help="skip sniffing and read the file as this format",
    )
    p.add_argument("--explain", action="store_true", help="also show why each frame was kept or skipped")
    p.add_argument(
        "--symbols",
        metavar="DIR",
        type=Path,
        help="resolve unresolved frames from the debug files in DIR (release folder, build output, store)",
    )
    p.add_argument(
        "--dump",
        metavar="FILE",
        type=Path,
        help="the minidump of this crash: its exception when the report names none, its crashing thread and "
        "its module list (with --symbols and no --dump, the .dmp of the same name beside FILE; without "
        "either option no .dmp is read)",
    )
    p.add_argument(
        "--exe",
        metavar="PATH",
        type=Path,
        help="for a core file: the executable that crashed (default: the path the core names)",
    )
    p.set_defaults(handler=run_parse)

    s = sub.add_parser("signature", help="print '<signature_id>  <signature>  <file>' for each report")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument(
        "--format",
        type=str.lower,
        choices=[f.value for f in TEXT_FORMATS],
        help="read every file as this format",
    )
    add_json_option(s)
    s.set_defaults(handler=run_signature)


def read_report(path: Path, *, limit: int = MAX_BYTES) -> bytes:
    """The first ``limit`` bytes of ``path``; UsageError with one readable line when it cannot be read."""
    try:
        data, cut = read_prefix(path, limit)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a crash report file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied (run as a user who can read it)") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot be read: {e.strerror or e}") from None
    if cut:
        logger.warning("%s is larger than %d bytes; only the first %d are read", path, limit, limit)
    return data


def load_core(
    path: Path, fmt: Format | None, *, core: CoreSettings | None = None, exe: Path | None = None
) -> CrashReport:
    """Read a Linux core through gdb (:mod:`bot.coredump.report`) and parse the log; each note is also one
    warning line. CrashParseError names the file."""
    try:
        log = core_log(path, executable=exe, settings=core)
    except NotACore as e:
        raise CrashParseError(f"{path}: {e}") from None
    for note in log.notes:
        logger.warning("%s: %s", path, note)
    try:
        return parse_report(log.text, fmt=fmt or Format.GDB)
    except CrashParseError as e:
        raise CrashParseError(f"{path}: {e}") from None


def load_report(path: Path, fmt: Format | None) -> CrashReport:
    """Read and parse one file (a Linux core through gdb); CrashParseError names the file."""
    if is_core(path):
        return load_core(path, fmt)
    data = read_report(path)
    if data.startswith(b"MDMP"):
        raise UsageError(
            f"{path}: a minidump, not a text crash report: `crashbot parse {path}` reads it alone, or give "
            f"the report it belongs to (`crashbot parse REPORT.txt --dump {path}`)"
        )
    try:
        return parse_report(data, fmt=fmt)
    except CrashParseError as e:
        raise CrashParseError(f"{path}: {e}") from None


def load_crash(path: Path, fmt: Format | None) -> Crash:
    """Read, parse and analyse one file; CrashParseError names the file."""
    return analyse(load_report(path, fmt))


def _format(value: str | None) -> Format | None:
    return Format(value) if value else None


def _human(crash: Crash, *, explain: bool) -> str:
    report = crash.report
    out: list[str] = [f"format:     {report.format.value}"]
    exc = report.exception
    out.append(f"exception:  {exc.code} {exc.name or ''}".rstrip() if exc else "exception:  (none)")
    if exc is not None and (exc.thrown_type or exc.what):
        out.append(f"thrown:     {exc.thrown_type or '?'}" + (f": {exc.what}" if exc.what else ""))
    if report.assertion is not None:
        a = report.assertion
        where = f"{a.file}:{a.line}" if a.file else "(unknown location)"
        out.append(f"assertion:  {a.condition or a.message or ''} at {where} in {a.function or '?'}".rstrip())
    build = report.build
    if build.revision or build.raw:
        dirty = "+" if build.dirty else ""
        out.append(f"build:      {build.revision or '?'}{dirty} {build.raw or ''}".rstrip())
    top = crash.top_frame
    if top is None:
        out.append("top frame:  (nothing symbolised)")
    else:
        loc = f" at {top.file}:{top.line}" if top.file else ""
        out.append(f"top frame:  {top.function or '?'}{loc}")
    out.append(f"signature:  {crash.signature.text}")
    out.append(
        f"id:         {crash.signature.id} (full {crash.signature.full_id}, v{crash.signature.version})"
    )
    thread = crash.thread
    label = f"thread {crash.thread_index}" if crash.thread_index is not None else "no thread"
    if thread is not None and thread.id:
        label += f" (id {thread.id})"
    out.append(f"crashing {label}, {len(crash.frames)} frames ('*' meaningful, '-' skipped):")
    meaningful = set(crash.meaningful)
    for i, frame in enumerate(crash.frames):
        mark = "*" if i in meaningful else "-"
        name = frame.function or f"{frame.module or '?'}+{frame.offset or '?'}"
        inline = " [inline]" if frame.inline else ""
        loc = f"  {frame.file}:{frame.line}" if frame.file and frame.line is not None else ""
        out.append(f"  {mark} #{i:<3} {name}{inline}{loc}")
    for related in report.related:
        out.append(f"{related.title} ({related.role.value}), {len(related.frames)} frames:")
        for i, frame in enumerate(related.frames):
            name = frame.function or f"{frame.module or '?'}+{frame.offset or '?'}"
            loc = f"  {frame.file}:{frame.line}" if frame.file and frame.line is not None else ""
            out.append(f"    #{i:<3} {name}{loc}")
    out.extend(f"note:       {note}" for note in report.notes)
    if explain:
        out.append("decisions:")
        out.extend(f"  [{d.rule}] {d.action}: {d.reason}" for d in crash.decisions)
    return "\n".join(out)


def core_settings(config: Config, symbols: Path | None, env: Mapping[str, str]) -> CoreSettings:
    """How cores are read: the uploader's limits, ``--symbols DIR`` and the symbol store (``[symbols] store``)
    as debug-file directories (gdb looks up ``DIR/.build-id/ab/cdef….debug``), and the command's environment
    for gdb's PATH."""
    up = config.uploader
    dirs = [symbols] if symbols is not None else []
    if config.symbols.store:  # the release symbol store keeps ELF debug files as .build-id/ab/cdef….debug
        dirs.append(Path(config.symbols.store))
    return CoreSettings(
        timeout_s=up.gdb_timeout_s,
        max_core_bytes=up.core_max_mb * 1024 * 1024,
        debug_dirs=tuple(dirs),
        env=env,
    )


def _print(crash: Crash, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(crash_to_json(crash, explain=args.explain), indent=2, ensure_ascii=False))
    else:
        print(_human(crash, explain=args.explain))


def run_parse(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    path = Path(args.file)
    symbols: Path | None = args.symbols
    dump = args.dump
    exe: Path | None = args.exe
    if exe is not None and not exe.is_file():
        raise UsageError(f"--exe {exe}: no such file (pass the executable that crashed)")
    if is_core(path):
        if symbols is not None and not symbols.is_dir():
            raise UsageError(f"--symbols {symbols}: no such folder (pass a folder of debug files)")
        # gdb resolves the core's frames itself, with --symbols among its debug-file directories
        report = load_core(path, _format(args.format), core=core_settings(config, symbols, env), exe=exe)
        _print(analyse(report), args)
        return 0
    if _is_minidump(path):
        from bot.symbols import cli as symbols_cli  # a .dmp is read by the symbols room, not a text parser

        return symbols_cli.parse_dump_alone(
            path,
            symbols=symbols,
            settings=config.symbols,
            env=env,
            as_json=args.json,
            explain=args.explain,
            human=_human,
        )
    if symbols is None and dump is None:
        _print(load_crash(path, _format(args.format)), args)
        return 0
    from bot.symbols import cli as symbols_cli  # only `parse --symbols/--dump` needs the symbols room

    return symbols_cli.parse_with_symbols(
        path,
        report=load_report(path, _format(args.format)),
        text=decode(read_report(path)),  # the module map of a gdb log lives in lines no parser keeps
        symbols=symbols,
        dump=dump,
        settings=config.symbols,
        env=env,
        as_json=args.json,
        explain=args.explain,
        human=_human,
    )


def _is_minidump(path: Path) -> bool:
    try:
        if not path.is_file():  # a FIFO or device would block the open: read_report refuses those
            return False
        with path.open("rb") as f:
            return f.read(4) == b"MDMP"
    except OSError:
        return False  # read_report says why, in its own words


def run_signature(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    fmt = _format(args.format)
    failed = 0
    entries = []
    for name in args.files:
        try:
            crash = load_crash(Path(name), fmt)
        except (CrashParseError, UsageError) as e:  # per-file isolation: the other files still print
            failed += 1
            message = " ".join(str(e).split())
            print(f"crashbot: error: {message}", file=sys.stderr)
            entries.append(results.signature_entry(name, error=message))
            continue
        if args.json:
            entries.append(
                results.signature_entry(name, signature_id=crash.signature.id, signature=crash.signature.text)
            )
        else:
            print(f"{crash.signature.id}  {crash.signature.text}  {name}", flush=True)
    if args.json:
        print(results.document("signature", results=entries))
    return 2 if failed else 0
