"""Symbolicate a parsed report: find each unresolved frame's module and debug files, ask llvm-symbolizer
once for all of them, and hand the answers to the crash core (:func:`with_resolved_frames`).

What stays unresolved is explained in notes that say what to do (ship the .pdb, add the build to the
store, turn the store on); the report is returned either way.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.crash.model import CrashReport, ExceptionInfo, Frame, Thread
from bot.crash.resolved import DUMP_MODULES_KEY, IMAGE_STAMPS_KEY, with_resolved_frames
from bot.symbols.errors import SymbolError
from bot.symbols.identity import PeImage
from bot.symbols.locate import Locator, windows_basename
from bot.symbols.minidump import DumpModule, Minidump
from bot.symbols.modmap import ModuleMap
from bot.symbols.stackwalk import Tables, Trust, WalkedFrame, walk_stack
from bot.symbols.store import DebugFile
from bot.symbols.symbolizer import DEFAULT_TIMEOUT_S, Location, Query, symbolize
from bot.symbols.unwind import UnwindTable, load_unwind_table

_SECTION_OFFSET = re.compile(r"([0-9a-f]{1,8}):([0-9a-f]{1,16})")
_HEX = re.compile(r"0x([0-9a-f]{1,16})")
Scrub = Callable[[str], str]
MAX_DUMP_MODULES = 12  # modules listed in the issue: the faulting one and those on the stack
SIGNAL_MARKER = "<signal handler called>"  # gdb's frame between a handler and the frame it interrupted
MAX_QUERIES = 20_000  # unique sites; a 100,000-frame report repeats a few hundred sites

NO_SYMBOLS_ADVICE = (
    "ship the .pdb next to the server's .exe (Wheaty then prints names itself), or keep the build's debug "
    "files where crashbot finds them: `crashbot symbols add <build folder> --revision <hash>`, or set "
    "`[symbols] store` so that `crashbot deploy` keeps every release's debug files"
)


@dataclass(frozen=True)
class Site:
    """Where an unresolved frame points: a module and an RVA (or Wheaty's section:offset)."""

    module: str
    rva: int | None = None
    section: int | None = None
    offset: int | None = None
    elf: bool = False  # an ELF module from a gdb log's module map (else a PE module)
    # a caller's frame holds a return address: the call is the instruction before it, and a call that is
    # a function's last instruction (a noreturn callee) returns into the *next* function
    call_site: bool = False

    @property
    def lookup_bias(self) -> int:
        """What to subtract before asking the symbolizer (Breakpad and Sentry do the same)."""
        return 1 if self.call_site else 0


@dataclass(frozen=True)
class Symbolication:
    report: CrashReport
    resolved: int  # unresolved frames (counting repeats) that now have a function
    unresolved: int
    notes: tuple[str, ...]


def site_of(frame: Frame, dump: Minidump | None = None, modules: ModuleMap | None = None) -> Site | None:
    """The site of an unsymbolised frame, or None when it is symbolised or points nowhere known."""
    if frame.function:
        return None
    offset = (frame.offset or "").lower()
    if frame.module and (m := _SECTION_OFFSET.fullmatch(offset)):
        return Site(frame.module, section=int(m.group(1), 16), offset=int(m.group(2), 16))
    if frame.module and (m := _HEX.fullmatch(offset)):
        return Site(frame.module, rva=int(m.group(1), 16))
    m = _HEX.fullmatch((frame.address or "").lower())
    if m is None:
        return None
    address = int(m.group(1), 16)
    in_dump = dump.module_at(address) if dump is not None else None
    if in_dump is not None:
        return Site(in_dump.file_name, rva=address - in_dump.base)
    mapped = modules.find(address) if modules is not None else None
    if mapped is not None:
        return Site(mapped.name, rva=address - mapped.base, elf=True)
    return None


def _unresolved(report: CrashReport, dump: Minidump | None, modules: ModuleMap | None) -> dict[Frame, Site]:
    sites: dict[Frame, Site] = {}
    pcs = _executing_frames(report)
    for thread in report.threads:
        for frame in thread.frames:
            if frame not in sites and (site := site_of(frame, dump, modules)) is not None:
                sites[frame] = dataclasses.replace(site, call_site=frame not in pcs)
                if len(sites) >= MAX_QUERIES:
                    return sites
    return sites


def _executing_frames(report: CrashReport) -> set[Frame]:
    """Frames whose address is the instruction that was executing, not a return address: each thread's
    first frame, and the frame a signal or exception interrupted (the one after gdb's ``<signal handler
    called>``)."""
    pcs: set[Frame] = set()
    for thread in report.threads:
        previous: Frame | None = None
        for frame in thread.frames:
            if previous is None or previous.function == SIGNAL_MARKER:
                pcs.add(frame)
            previous = frame
    return pcs


def _frames(frame: Frame, locations: tuple[Location, ...], scrub: Scrub) -> tuple[Frame, ...]:
    """The resolved frames of ``frame``: one per location, innermost inlined call first; every frame but
    the outermost is marked inline (it was inlined into the next). Names and paths from the debug files
    pass ``scrub`` (the host's redaction: a PDB remembers its build machine's user paths)."""
    out = []
    for i, loc in enumerate(locations):
        out.append(
            dataclasses.replace(
                frame,
                function=scrub(loc.function) if loc.function else None,
                file=scrub(loc.file) if loc.file else None,
                line=loc.line,
                offset=None if loc.function else frame.offset,
                inline=i < len(locations) - 1 or frame.inline,
            )
        )
    return tuple(out)


@dataclass
class _Images:
    """Per-report cache of located images and their PDBs, and the staging folder llvm-symbolizer reads."""

    locator: Locator
    revision: str | None
    dump: Minidump | None
    stage: Path
    notes: list[str] = dataclasses.field(default_factory=list)
    stamps: dict[str, str] = dataclasses.field(default_factory=dict)  # module (lower) -> its PE time stamp
    cache: dict[str, tuple[Path, PeImage] | None] = dataclasses.field(default_factory=dict)
    elves: dict[str, DebugFile | None] = dataclasses.field(default_factory=dict)

    def get_elf(self, module: str) -> DebugFile | None:
        if module not in self.elves:
            try:
                found = self.locator.elf(module, revision=self.revision)
            except SymbolError as e:
                self.notes.append(str(e))
                self.elves[module] = None
                return None
            if found.file is None:
                self.notes.append(f"{module}: {found.reason}")
            self.elves[module] = found.file
        return self.elves[module]

    def _dump_key(self, module: str) -> str | None:
        if self.dump is None:
            return None
        lowered = module.lower()
        for m in self.dump.modules:
            name = m.file_name.lower()
            if name == lowered or name.rsplit(".", 1)[0] == lowered:
                return m.key
        return None

    def get(self, module: str) -> tuple[Path, PeImage] | None:
        lowered = module.lower()
        if lowered not in self.cache:
            self.cache[lowered] = self._locate(module)
        return self.cache[lowered]

    def _locate(self, module: str) -> tuple[Path, PeImage] | None:
        try:
            key = self._dump_key(module)
            stamp = None if key is not None else self.stamps.get(module.lower())
            found = self.locator.image(module, revision=self.revision, key=key, stamp=stamp)
        except SymbolError as e:  # a damaged store index: one note, the report is still filed
            self.notes.append(str(e))
            return None
        if found.file is None or found.file.pe is None:
            self.notes.append(f"{module}: {found.reason}")
            return None
        return self._stage(module, found.file, found.file.pe)

    def _stage(self, module: str, image: DebugFile, pe: PeImage) -> tuple[Path, PeImage] | None:
        if pe.codeview is None:
            self.notes.append(f"{module}: the image names no PDB (linked without /DEBUG)")
            return None
        try:
            pdb = self.locator.pdb(pe.codeview)
        except SymbolError as e:
            self.notes.append(str(e))
            return None
        if pdb.file is None:
            self.notes.append(f"{module}: {pdb.reason}")
            return None
        pdb_name = windows_basename(pe.codeview.pdb_name)
        if pdb.file.path.parent == image.path.parent and pdb.file.path.name.lower() == pdb_name.lower():
            return image.path, pe  # a release folder: llvm-symbolizer finds the PDB beside the image
        # The store keeps them apart (name.pdb/<GUID><AGE>/…): put them side by side for llvm-symbolizer.
        folder = self.stage / str(len(self.cache))
        try:
            folder.mkdir()
            target = folder / image.path.name
            _link(image.path, target)
            _link(pdb.file.path, folder / pdb_name)
        except OSError as e:
            self.notes.append(
                f"{module}: cannot stage its debug files for llvm-symbolizer: {e.strerror or e}"
            )
            return None
        return target, pe


def _link(source: Path, target: Path) -> None:
    """A symbolic link, else a hard link (Windows without the symlink privilege), else a copy."""
    try:
        os.symlink(source.resolve(), target)
        return
    except OSError:
        pass
    try:
        os.link(source, target)
    except OSError:  # another volume
        shutil.copyfile(source, target)


def _queries(sites: dict[Frame, Site], images: _Images) -> Iterator[tuple[Frame, Query]]:
    for frame, site in sites.items():
        if site.elf:
            elf = images.get_elf(site.module)
            if elf is not None and site.rva is not None:
                yield frame, Query(elf.path, elf.load_vaddr + site.rva - site.lookup_bias)
            continue
        located = images.get(site.module)
        if located is None:
            continue
        path, pe = located
        rva = site.rva if site.rva is not None else pe.rva(site.section or 0, site.offset or 0)
        if rva is None or rva >= pe.size_of_image:
            images.notes.append(f"{site.module}: {frame.offset} lies outside the image (another build?)")
            continue
        yield frame, Query(path, pe.image_base + rva - site.lookup_bias)


def symbolicate(
    report: CrashReport,
    locator: Locator,
    *,
    symbolizer: str | None,
    dump: Minidump | None = None,
    modules: ModuleMap | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    scrub: Scrub = str,
) -> Symbolication:
    """``report`` with what ``locator``'s debug files resolve; notes say why the rest stays unresolved.

    ``modules`` is the module map of a gdb log (:func:`read_module_map`), which places ``??`` frames."""
    if dump is not None:
        report = merge_dump(report, dump, unwind_tables(locator, report.build.revision))
    sites = _unresolved(report, dump, modules)
    unplaced = _unplaced_note(report, sites)
    if not sites:
        return Symbolication(with_resolved_frames(report, {}, notes=unplaced), 0, 0, tuple(unplaced))
    if symbolizer is None:
        note = "llvm-symbolizer is not installed: install LLVM (`crashbot doctor` says how) to resolve frames"
        return _done(report, {}, sites, [note])
    with tempfile.TemporaryDirectory(prefix="crashbot-symbols-") as stage:
        images = _Images(
            locator, report.build.revision, dump, Path(stage), notes=unplaced, stamps=image_stamps(report)
        )
        pairs = list(_queries(sites, images))
        unique = list(dict.fromkeys(q for _, q in pairs))  # idle threads repeat the same few sites
        try:
            found = symbolize(unique, executable=symbolizer, timeout_s=timeout_s)
            by_query = dict(zip(unique, found, strict=True))
            answers = [by_query[q] for _, q in pairs]
        except SymbolError as e:
            images.notes.append(str(e))
            answers = [() for _ in pairs]
    resolved = {
        frame: _frames(frame, locs, scrub) for (frame, _), locs in zip(pairs, answers, strict=True) if locs
    }
    undescribed = _undescribed(sites, resolved, queried={f for f, _ in pairs})
    notes = [*images.notes, *_undescribed_note(sites, undescribed)]
    return _done(_with_image_pdbs(report, images), resolved, sites, notes, undescribed=frozenset(undescribed))


def _undescribed(
    sites: dict[Frame, Site], resolved: dict[Frame, tuple[Frame, ...]], *, queried: set[Frame]
) -> list[Frame]:
    """Frames the symbolizer was asked about and had no answer for, in a module it answered for: code that
    module's debug files do not describe (MinGW's C runtime startup beside a PDB of the server's code)."""
    answered = {sites[f].module.lower() for f in resolved}
    return [f for f in queried if f not in resolved and sites[f].module.lower() in answered]


def _undescribed_note(sites: dict[Frame, Site], left: list[Frame]) -> list[str]:
    if not left:
        return []
    modules = ", ".join(sorted({sites[f].module for f in left}))
    return [
        f"{len(left)} frame site(s) in {modules} lie in code its debug files do not describe (built without "
        "debug information, such as the C runtime's startup): no debug file names them"
    ]


def image_stamps(report: CrashReport) -> dict[str, str]:
    """The PE time stamps a fault record gives its modules (:data:`IMAGE_STAMPS_KEY`), by module name."""
    stamps: dict[str, str] = {}
    for line in report.extra.get(IMAGE_STAMPS_KEY, "").splitlines():
        name, _, stamp = line.partition("\t")
        if name and stamp:
            stamps[name.lower()] = stamp
    return stamps


def _unplaced_note(report: CrashReport, sites: dict[Frame, Site]) -> list[str]:
    """Bare-address frames that no module map or dump places (a gdb log without mappings)."""
    bare = sum(
        1
        for t in report.threads
        for f in t.frames
        if not f.function and not f.offset and f.address and f not in sites
    )
    if not bare:
        return []
    return [
        f"{bare} frame(s) are bare addresses in no module the report maps: add `info proc mappings` to the "
        "gdb script that writes the crash log, so they can be placed in their modules"
    ]


def _done(
    report: CrashReport,
    resolved: dict[Frame, tuple[Frame, ...]],
    sites: dict[Frame, Site],
    notes: list[str],
    *,
    undescribed: frozenset[Frame] = frozenset(),
) -> Symbolication:
    """The report with ``resolved`` in place; the advice to supply debug files only for frames that had
    none (``undescribed`` frames had theirs, which do not describe them)."""
    left = [f for f in sites if f not in resolved and f not in undescribed]
    if left:
        notes = [*notes, f"{len(left)} frame site(s) stay unresolved: {NO_SYMBOLS_ADVICE}"]
    new = with_resolved_frames(report, resolved, notes=notes)
    count = sum(1 for t in report.threads for f in t.frames if f in resolved)
    remaining = sum(1 for t in report.threads for f in t.frames if f in sites and f not in resolved)
    return Symbolication(new, count, remaining, tuple(dict.fromkeys(notes)))


def unwind_tables(locator: Locator | None, revision: str | None) -> Tables:
    """The walk's source of unwind data: each module's image as ``locator`` finds it by the dump's key."""

    def tables(module: DumpModule) -> UnwindTable | None:
        if locator is None:
            return None
        found = locator.image(module.file_name, revision=revision, key=module.key)
        return load_unwind_table(found.file.path) if found.file is not None else None

    return tables


def merge_dump(report: CrashReport, dump: Minidump, tables: Tables | None = None) -> CrashReport:
    """What the minidump adds to a report: the exception when the report lacks one, the crashing thread
    by the id the exception stream names, and for a report without frames (a dump alone) the crashing
    thread's stack walked from the dump (:mod:`bot.symbols.stackwalk`)."""
    exc = dump.exception
    if exc is None:
        return report
    module = dump.module_at(exc.address)
    info = report.exception or ExceptionInfo(
        code=exc.code_text,
        address=f"0x{exc.address:016x}",
        module=module.file_name if module else None,
        module_offset=f"0x{exc.address - module.base:x}" if module else None,
    )
    extra = dict(report.extra)
    extra.setdefault("dump_thread", str(exc.thread_id))
    threads, crashing, notes = report.threads, report.crashing_thread, report.notes
    if not any(t.frames for t in threads):
        walk = walk_stack(dump, tables or unwind_tables(None, None))
        frames = tuple(_walked(f) for f in walk.frames) or (
            _walked(WalkedFrame(exc.address, Trust.CONTEXT, module)),
        )
        threads, crashing = (Thread(frames=frames, id=str(exc.thread_id), current=True),), 0
        extra["dump_stack_trust"] = " ".join(f.trust.value for f in walk.frames)
        notes = (*notes, *walk.notes)
    elif crashing is None:
        crashing = _thread_with_id(threads, exc.thread_id)
    chosen = threads[crashing] if crashing is not None and crashing < len(threads) else None
    extra[DUMP_MODULES_KEY] = _module_lines(dump, module, chosen.frames if chosen else ())
    return dataclasses.replace(
        report, exception=info, extra=extra, threads=threads, crashing_thread=crashing, notes=notes
    )


def _module_lines(dump: Minidump, faulting: DumpModule | None, frames: tuple[Frame, ...]) -> str:
    """The faulting module, then the modules the crashing stack passes through, in stack order."""
    by_name = {m.file_name.lower(): m for m in dump.modules}
    names = [faulting.file_name.lower()] if faulting else []
    names += [f.module.lower() for f in frames if f.module]
    chosen = [by_name[n] for n in dict.fromkeys(names) if n in by_name][:MAX_DUMP_MODULES]
    return "\n".join(
        "\t".join(
            (
                m.file_name,
                m.version or "",
                f"{m.timestamp:08X}",
                windows_basename(m.codeview.pdb_name) if m.codeview else "",
                m.codeview.key if m.codeview else "",
            )
        )
        for m in chosen
    )


def _with_image_pdbs(report: CrashReport, images: _Images) -> CrashReport:
    """Fill the Modules table's PDB for modules whose dump entry has no CodeView record (Wine writes
    none) from the image the store matched by timestamp and size, which names its PDB."""
    lines = report.extra.get(DUMP_MODULES_KEY)
    if not lines:
        return report
    out = []
    for line in lines.split("\n"):
        cells = line.split("\t")
        located = images.cache.get(cells[0].lower())
        if len(cells) == 5 and not cells[4] and located is not None and located[1].codeview is not None:
            cells[3:5] = [windows_basename(located[1].codeview.pdb_name), located[1].codeview.key]
        out.append("\t".join(cells))
    return dataclasses.replace(report, extra={**report.extra, DUMP_MODULES_KEY: "\n".join(out)})


def _walked(frame: WalkedFrame) -> Frame:
    """A walked frame as the crash core reads frames: its module and the offset to symbolize."""
    module = frame.module
    return Frame(
        module=module.file_name if module else None,
        offset=f"0x{frame.lookup - module.base:x}" if module else None,
        address=f"0x{frame.address:016x}",
        raw=f"0x{frame.address:016x} (found by {frame.trust.value})",
    )


def _thread_with_id(threads: tuple[Thread, ...], thread_id: int) -> int | None:
    """The index of the report's thread whose id is the dump's crashing thread (decimal or hex)."""
    for i, thread in enumerate(threads):
        for base in (10, 16):
            try:
                if thread.id is not None and int(thread.id.removeprefix("0x"), base) == thread_id:
                    return i
            except ValueError:
                continue
    return None
