"""Debug files and what they resolve: the release symbol store, module identities read from PE/PDB/ELF
headers, the llvm-symbolizer driver and the minidump reader. I/O lives here; the crash core only
receives resolved frames (:func:`bot.crash.resolved.with_resolved_frames`)."""
