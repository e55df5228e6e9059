"""Drive the compiled export renderer (``persistkit._accel.exportscan``) together with
the exact ``RDBReader`` and the pure writers of ``rdbtools.export``.

The compiled renderer walks key records straight over the reader's ByteSource window
and renders a record only when the exact reader (iterate mode) would read it without
a problem; it moves ``src.pos`` over what it rendered (the CRC64 is folded over
consumed bytes as the window is refilled, so it stays right). Everything else --
opcodes (AUX, SELECTDB, functions, module aux, EOF...), streams, modules, hashes with
field TTLs, records bigger than a window, damage, the end of the input -- goes to the
exact reader and the pure writer: the driver takes one item from the reader
(``next()``), the writer handles it exactly as without the accelerator, and the
compiled walk resumes after it. So errors (message, offset, exit code) and partial
output before an error are those of the pure path.

This relies on the reader's driver contract (rdbtools/reader.py): between two yielded
items its walker re-reads ``src.pos`` and ``reader.db`` afresh.
"""

from __future__ import annotations

from typing import Callable, Optional

from persistkit import accel
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.rdbtools import model
from persistkit.rdbtools.strategies import _Lazy

# Tunables of the compiled walk (None: the module's defaults); tests lower them to drive
# small files through the window-refill and defer paths.
WINDOW_MAX: Optional[int] = None
MAX_ITEMS: Optional[int] = None
SOURCE_CHUNK: Optional[int] = None  # the input window's refill size (ByteSource chunk)


def source_chunk() -> int:
    from persistkit.kvencoding.source import DEFAULT_CHUNK

    return DEFAULT_CHUNK if SOURCE_CHUNK is None else SOURCE_CHUNK


def compiled():
    """The compiled renderer module, or None (not built, or the pure path is forced)."""
    return accel.module("exportscan")


def _embed_limit(reader) -> int:
    # The reader's string-encoding rule (ValueStrategy.update_embed_limit): None is
    # Redis's 44-byte embstr rule, else Valkey's embedding size.
    return reader.strategy._embed or 0


def export_items(mod, reader, fmt: str, writer, keep, stats: dict,
                 progress: Optional[Callable], total: Optional[int]) -> None:
    """``rdbtools.export._export``'s loop with the compiled renderer in front of it."""
    src = reader.src
    out = writer.out
    ex = mod.Exporter(fmt, reader.header.version, reader.dialect == "valkey",
                      db=keep.db, type_=keep.type, match=keep.match)
    if WINDOW_MAX is not None:
        ex.window_max = WINDOW_MAX
    if MAX_ITEMS is not None:
        ex.max_items = MAX_ITEMS
    R_NEED, R_FLUSH = mod.R_NEED, mod.R_FLUSH
    resp = fmt == "resp"
    jsondoc = fmt == "json"
    csv = fmt == "csv"
    it = iter(reader)
    next(it)  # the header
    last = 0
    while True:
        if resp:
            ex.resp_db = -1 if writer.db is None else writer.db
        elif jsondoc:
            ex.first = writer.first
        st = ex.run(src, reader.db, _embed_limit(reader))
        src.pos = ex.pos
        if ex.pending():
            if csv:
                writer.text.flush()
            ex.write_to(out)
        if resp:
            writer.db = None if ex.resp_db < 0 else ex.resp_db
        elif jsondoc:
            writer.first = ex.first
        stats["keys"] += ex.keys
        stats["skipped"] += ex.skipped
        ex.keys = ex.skipped = 0
        if progress is not None and ex.last_offset - last > (1 << 20):
            last = ex.last_offset
            progress(last, total)
        if st == R_FLUSH:
            continue
        if st == R_NEED:
            end = src.base + len(src.buf)
            try:
                src.need(ex.need)
            except TruncatedError:
                pass
            if src.base + len(src.buf) > end:
                continue  # the window grew: render again from the same record
        # The exact reader and the pure writer take the next item.
        at = src.tell()
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            cls = item.__class__
            if cls is model.Record:
                if not keep(item):
                    stats["skipped"] += 1
                else:
                    writer.key(item)
                    stats["keys"] += 1
                    if progress is not None and item.offset - last > (1 << 20):
                        last = item.offset
                        progress(item.offset, total)
                _finish(reader, item)
                break
            if not keep.any:
                if cls is model.Function:
                    writer.function(item)
                    stats["functions"] += 1
                elif cls is model.ModuleAux:
                    writer.module_aux(item)
                    stats["module_aux"] += 1
            # An opcode between a record's expiry/idle/freq prefix and its type byte
            # (KeyDB writes such files) leaves the prefix pending inside the reader:
            # let it go on until that record is out.
            if item.offset == at:
                break
            at = None


def _finish(reader, rec) -> None:
    """Read what is left of a streamed value now, as the walker would on the next
    ``next()`` (same error context), so that ``src.pos`` is past the record before the
    compiled walk resumes."""
    v = rec.value
    if v.__class__ is _Lazy:
        try:
            v.drain()
        except FormatError as exc:
            raise exc.with_context(file=reader.name, key=rec.key)
