"""Drive the compiled accept-only record scan (``persistkit._accel.rdbscan``) together
with the exact ``RDBReader``, for ``verify`` and ``inspect``.

The compiled scanner walks key records straight over the reader's ByteSource window
and accepts a record only when the exact reader, in the same mode, would find nothing
wrong in it; it moves ``src.pos`` over what it accepted (the CRC64 is folded over
consumed bytes as the window is refilled, so it stays right) and keeps the figures of
those records itself. Everything it does not accept -- opcodes (AUX, SELECTDB,
RESIZEDB, EOF, functions, modules...), rare types, problems, empty collections, the
end of the input -- is left to the exact reader: the driver takes one item from it
(``next()``), so it is read and reported exactly as without the accelerator, and the
scan resumes after it.

This relies on the reader's contract (pinned by tests/test_accel_rdbscan.py): between
two yielded items its walker re-reads ``src.pos`` and ``reader.db`` afresh.

A record that does not fit a window of ``WINDOW_MAX`` bytes (a 10M-member set) is
walked by the scanner over a second ByteSource that re-reads its byte range, batch
by batch, in bounded memory; once accepted, the main source skips over it. Inputs
that cannot be read twice (standard input, compressed files) leave such records to
the exact reader.
"""

from __future__ import annotations

from typing import Callable, Optional

from persistkit import accel
from persistkit.kvencoding.errors import TruncatedError
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools.model import Record


# Tunables of the compiled scan (None: the module's defaults). Tests lower them to
# drive small files through the window-refill and streaming paths.
WINDOW_MAX: Optional[int] = None
DEDUP_EXACT_MAX: Optional[int] = None
SOURCE_CHUNK: Optional[int] = None  # the window's refill size for files (ByteSource chunk)


def source_chunk() -> int:
    from persistkit.kvencoding.source import DEFAULT_CHUNK

    return DEFAULT_CHUNK if SOURCE_CHUNK is None else SOURCE_CHUNK


def scanner_options() -> dict:
    out = {}
    if WINDOW_MAX is not None:
        out["window_max"] = WINDOW_MAX
    if DEDUP_EXACT_MAX is not None:
        out["dedup_exact_max"] = DEDUP_EXACT_MAX
    return out


# The layouts the compiled scan knows (the reader may learn newer ones first): RDB 1-12
# with the REDIS magic, VALKEY080. Any other file is read by the exact reader alone.
SCAN_VERSIONS = {"REDIS": range(1, 13), "VALKEY": (80,)}


def compiled(header=None):
    """The compiled scanner module, or None (not built, the pure path is forced, or a
    ``header`` of a version the scan does not know)."""
    if header is not None and header.version not in SCAN_VERSIONS.get(header.magic, ()):
        return None
    return accel.module("rdbscan")


class EmbedRule:
    """The string-encoding limit the reader applies (reader._string_encoding): 0 for
    Redis's 44-byte embstr rule, else Valkey's embedding size (8.1: 64, 9: 128). Follows
    the AUX ``redis-ver`` / ``valkey-ver`` fields as the reader does."""

    def __init__(self, magic: str) -> None:
        self.valkey_magic = magic == "VALKEY"
        self.limit = 128 if self.valkey_magic else 0

    def aux(self, key: bytes, value: bytes) -> None:
        if self.valkey_magic or key not in (b"redis-ver", b"valkey-ver"):
            return
        v = value.decode("ascii", "replace")
        valkey_writer = key == b"valkey-ver"
        self.limit = 64 if valkey_writer and v.startswith("8.") and not v.startswith("8.0.") else 0


def walk(reader, src: ByteSource, scanner, on_item: Callable, on_scan: Callable,
         embed: Optional[EmbedRule] = None) -> None:
    """Read the whole RDB: ``on_item(item)`` for every item the exact reader yields
    (the header first), ``on_scan(scanner)`` after every compiled stretch (its
    counters then describe the records it accepted since the last call)."""
    from persistkit._accel import rdbscan as rs

    rs.keep_freed_windows()
    it = iter(reader)
    on_item(next(it))
    R_NEED, R_BIG, R_DONE = rs.R_NEED, rs.R_BIG, rs.R_DONE
    while True:
        st = scanner.run(src, reader.db, embed.limit if embed is not None else 0)
        src.pos = scanner.pos
        on_scan(scanner)
        if st == R_NEED:
            end = src.base + len(src.buf)
            try:
                src.need(scanner.need)
            except TruncatedError:
                pass
            if src.base + len(src.buf) > end:
                continue  # the window grew: scan again from the same record
        elif st == R_BIG:
            if _stream_one(src, scanner, reader.db, embed, R_DONE):
                on_scan(scanner)
                continue
        at = src.tell()
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            on_item(item)
            # An opcode between a record's expiry/idle/freq prefix and its type byte
            # (KeyDB writes such files) leaves the prefix pending inside the reader:
            # let it go on until that record is out.
            if item.__class__ is Record or item.offset == at:
                break
            at = None


def _stream_one(src: ByteSource, scanner, db: int, embed, done: int) -> bool:
    """The record at ``src`` that needs more than a window, walked over a re-read of its
    range; True when accepted (the main source is then past it)."""
    if src.size is None or not src.can_reread():
        return False
    start = src.tell()
    limit = embed.limit if embed is not None else 0
    st = scanner.stream_record(src.reread(start, src.size), db, limit)
    if st != done and scanner.needs_confirm():
        st = scanner.confirm_record(src.reread(start, src.size))
    if st != done:
        return False
    src.skip(scanner.record_end - start, "key record")
    scanner.accept_streamed()
    return True
