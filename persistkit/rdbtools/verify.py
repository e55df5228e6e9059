"""``verify`` for RDB files: is the snapshot intact? One report per file.

Checks, in file order: magic and version; known opcodes and types; every length
within the file; every inner blob deeply valid (ziplist, listpack, intset, zipmap,
stream nodes -- skipped by ``quick``); duplicate members/fields inside a value;
duplicate keys within a db; empty collections (a warning: the server skips them);
the EOF opcode present; nothing after the trailer; the CRC64 (an all-zero trailer is
a warning: written with ``rdbchecksum no``).

A bad blob or a duplicate inside an otherwise well-framed value is recorded and the
check goes on with the next record, so one run lists all such problems. A framing
error (a length past the end, an unknown type byte) stops the walk: what follows
cannot be located.

Duplicate keys are found with 64-bit hashes of the keys (memory stays small on
multi-million-key files: 8 bytes a key, see ``dedup.KeyRepeatFinder``); a repeated
hash is confirmed by a second, framing-only walk, whose report names the key and
the offset of its first record.

With the compiled accelerator, key records the compiled scan is certain about are
walked by it (``fastscan``: deep checks for ``verify``, the decode=False checks for
``--quick``) and everything else by the exact reader, so the report -- problems,
offsets, keys, stats -- is the same on both paths (tests/test_accel_rdbscan.py).

This module checks RDB content only; ``persistkit.checks.verify_path`` decides by
content whether an input is an RDB or an AOF (a single-file hybrid AOF is an RDB
followed by RESP: ``stats["trailing_resp"]`` says so) and dispatches.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from persistkit.kvencoding.errors import FormatError, TruncatedError, UnsupportedVersionError
from persistkit.kvencoding.fileio import input_name, input_size, open_input
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools import fastscan
from persistkit.rdbtools import dedup
from persistkit.rdbtools.dedup import Confirmer, KeyRepeatFinder, mix_db
from persistkit.rdbtools.reader import RDBReader
from persistkit.report import VerifyReport

Progress = Optional[Callable[[int, Optional[int]], None]]

def _head_text(path) -> str:
    try:
        with open_input(path) as s:
            return repr(s.peek(16)[:16])
    except OSError:
        return "?"


def verify_rdb(path, *, quick: bool = False, progress: Progress = None,
               data: Optional[bytes] = None, stream=None, source: Optional[ByteSource] = None,
               reopen=None) -> VerifyReport:
    """Check one RDB file (or ``data`` bytes / an open binary ``stream``, reported under ``path``).
    ``source``: a ByteSource the caller opened (and detected) already, read from where it
    stands and left after the trailer; ``reopen()`` gives a fresh one for the second walk
    of the duplicate-key check (None: keys are checked exactly, in memory)."""
    name = str(path)
    report = VerifyReport(path=name, kind="rdb")
    if source is not None:
        return _verify_source(source, report, quick, progress, reopen)
    if data is not None:
        return _verify_source(ByteSource(data, name=name, crc=True), report, quick, progress,
                              lambda: ByteSource(data, name=name))
    if stream is not None:
        # Standard input cannot be walked twice: keys are checked exactly (in memory).
        return _verify_source(ByteSource(stream, name=name, size=input_size(stream), crc=True),
                              report, quick, progress, None)

    def reopen():
        s = open_input(path)
        return ByteSource(s, name=input_name(s), size=input_size(s))

    with open_input(path) as stream:
        src = ByteSource(stream, name=input_name(stream), size=input_size(stream), crc=True,
                         chunk=fastscan.source_chunk())
        return _verify_source(src, report, quick, progress, reopen)


def _verify_source(src: ByteSource, report: VerifyReport, quick: bool, progress: Progress,
                   reopen=None) -> VerifyReport:
    name = report.path
    stats = report.stats
    stats.update({"keys": 0, "expires": 0, "dbs": {}, "empty_keys": 0, "checksum": None,
                  "quick": quick})
    try:
        reader = RDBReader(src, decode=not quick, name=name, recover=True, strict_crc=False,
                           values=False)
    except FormatError as exc:
        code = "unsupported-version" if isinstance(exc, UnsupportedVersionError) else \
            "truncated" if isinstance(exc, TruncatedError) else "bad-header"
        report.problems.append(_problem(exc, code, name))
        return report
    stats["magic"] = reader.header.magic
    stats["version"] = reader.header.version
    # Keys: compact hashes (+ a second walk for repeats) when the input can be read
    # again, else an exact hash -> offset dict (standard input).
    scan_mod = fastscan.compiled(reader.header)
    if reopen is None:
        keys = None
    elif scan_mod is not None:
        keys = scan_mod.KeyFilter(dedup.COMPACT_KEYS)  # KeyRepeatFinder's compiled twin
    else:
        keys = KeyRepeatFinder()
    tally = _Tally(report, src, keys, progress)
    try:
        if scan_mod is not None:
            scanner = scan_mod.Scanner(deep=not quick, version=reader.header.version,
                                       keyfilter=keys,
                                       exact_keys=tally.exact if keys is None else None,
                                       **fastscan.scanner_options())
            fastscan.walk(reader, src, scanner, tally.item, tally.scanned)
        else:
            for item in reader:
                tally.item(item)
    except FormatError as exc:
        if isinstance(exc, TruncatedError):
            code = "truncated"
        elif isinstance(exc, UnsupportedVersionError):
            code = "unsupported-type"    # a newer server's type/opcode refused by name
        elif exc.message.startswith("unknown value type or opcode"):
            code = "unknown-type"
        else:
            code = "format-error"
        report.problems.append(_problem(exc, code, name))
    eof = tally.eof
    last_key_offset = tally.last_key_offset
    if keys is not None:
        confirm = keys.confirmer() if scan_mod is None else Confirmer(keys.finish(), {})
        keys = tally.keys = None
        if confirm.candidates:
            _confirm_keys(confirm, reopen, reader.dropped, last_key_offset, report, name)
    for exc in reader.problems:
        report.problems.append(_problem(exc, "bad-value", name))
    for cname, (n, rec) in tally.strict_meta.items():
        # keymeta.c rdbLoadKeyMetadata: a class the loading server does not have is
        # skipped only with ALLOW_IGNORE; otherwise the whole load fails.
        report.warning("key-meta-required", f"key metadata class {cname} on {n} key(s) has no "
                       "ALLOW_IGNORE flag: a server without that module class refuses to load this file",
                       file=name, offset=rec.offset, key=rec.key,
                       expected="the module class registered before loading", found=cname)
    for rec in reader.empty_keys:
        stats["empty_keys"] += 1
        report.warning("empty-key", "empty collection (the server skips it when loading)",
                       file=name, offset=rec.offset, key=rec.key,
                       expected="at least one element", found=f"empty {rec.type}")
    if eof is not None:
        if eof.checksum is None:
            stats["checksum"] = "absent (RDB version < 5)"
        elif eof.checksum == 0:
            stats["checksum"] = "disabled"
            report.warning("checksum-disabled", "CRC64 trailer is zero: written with rdbchecksum no",
                           file=name, offset=eof.offset + 1, expected="a CRC64", found="0")
        elif eof.checksum_ok:
            stats["checksum"] = "ok"
        else:
            stats["checksum"] = "mismatch"
            report.error("crc-mismatch", "CRC64 trailer does not match the file", file=name,
                         offset=eof.offset + 1, expected=f"{eof.computed:016x}",
                         found=f"{eof.checksum:016x}")
        _check_tail(src, report, name)
    elif not any(p.code in ("truncated", "format-error", "unknown-type", "unsupported-type")
                 for p in report.problems):
        report.error("no-eof", "EOF opcode missing", file=name, offset=src.tell())
    if progress is not None:
        progress(src.tell(), src.size)
    report.problems.sort(key=lambda p: (p.offset if p.offset is not None else -1))
    return report


_Record = model.Record


class _Tally:
    """Per-file counts of verify: keys, expiries, per-db figures, key hashes, the EOF.
    ``item`` takes what the exact reader yields; ``scanned`` adds what the compiled scan
    accepted (fastscan)."""

    def __init__(self, report: VerifyReport, src: ByteSource, keys, progress: Progress) -> None:
        self.report = report
        self.name = report.path
        self.stats = report.stats
        self.dbs = report.stats["dbs"]
        self.src = src
        self.keys = keys
        self.exact: dict[int, int] = {}
        self.last_key_offset = -1
        self.eof = None
        self.progress = progress
        self.last_tick = 0
        self.reader_db = 0
        self.strict_meta: dict = {}   # "NAME vN" -> (keys, first record) without ALLOW_IGNORE

    def item(self, item) -> None:
        cls = item.__class__
        if cls is _Record:
            stats = self.stats
            stats["keys"] += 1
            db = str(item.db)
            d = self.dbs.get(db)
            if d is None:
                d = self.dbs[db] = {"keys": 0, "expires": 0}
            d["keys"] += 1
            offset = item.offset
            if item.expire_ms is not None:
                stats["expires"] += 1
                d["expires"] += 1
            self.last_key_offset = offset
            if item.key_meta:
                for m in item.key_meta:
                    if not m.allow_ignore:
                        label = f"{m.name} v{m.version}"
                        n, first = self.strict_meta.get(label, (0, item))
                        self.strict_meta[label] = (n + 1, first)
            h = mix_db(hash(item.key), item.db)
            keys = self.keys
            if keys is not None:
                keys.add(h)
            else:
                first = self.exact.get(h)
                if first is not None:
                    _duplicate_key(self.report, self.name, item, first)
                else:
                    self.exact[h] = offset
            if self.progress is not None and offset - self.last_tick > (1 << 20):
                self.last_tick = offset
                self.progress(offset, self.src.size)
        elif cls is model.EOF:
            self.eof = item
        elif cls is model.SelectDB:
            self.reader_db = item.db

    def scanned(self, scanner) -> None:
        n = scanner.keys
        if n:
            stats = self.stats
            stats["keys"] += n
            stats["expires"] += scanner.expires
            d = self.dbs.setdefault(str(self.reader_db), {"keys": 0, "expires": 0})
            d["keys"] += n
            d["expires"] += scanner.expires
            self.last_key_offset = scanner.last_offset
            for key, db, offset, first in scanner.repeats:
                _duplicate_key(self.report, self.name, _Seen(key, db, offset), first)
            scanner.repeats.clear()
            scanner.reset_stats()
        if self.progress is not None:
            at = self.src.tell()
            if at - self.last_tick > (1 << 20):
                self.last_tick = at
                self.progress(at, self.src.size)


def _duplicate_key(report: VerifyReport, name: str, item, first: int) -> None:
    report.error("duplicate-key", f"key appears twice in db {item.db}",
                 file=name, offset=item.offset, key=item.key,
                 expected="unique keys per db",
                 found=f"same key as the record at offset {first}")


def _confirm_keys(confirm, reopen, dropped: list, last: int, report: VerifyReport,
                  name: str) -> None:
    """Second walk over the keys (framing only) for the filter's candidate hashes: the
    same records in the same order as the first walk (those the first walk left out
    after a value problem are skipped), up to the last one it saw."""
    skip = set(dropped)
    src = reopen()

    def see(rec) -> None:
        if rec.offset > last or rec.offset in skip:
            return
        first = confirm.see(mix_db(hash(rec.key), rec.db), rec.offset)
        if first is not None:
            _duplicate_key(report, name, rec, first)

    def item(item) -> None:
        if item.__class__ is model.Record:
            see(item)

    def scanned(scanner) -> None:
        # the compiled walk hands over only the records whose hash is a candidate
        for _, key, db, offset in scanner.hits:
            see(_Seen(key, db, offset))
        scanner.hits.clear()
        scanner.reset_stats()

    try:
        reader = RDBReader(src, decode=False, name=name, recover=True, strict_crc=False)
        scan_mod = fastscan.compiled(reader.header)
        if scan_mod is not None:
            scanner = scan_mod.Scanner(deep=False, version=reader.header.version,
                                       confirm=confirm.candidates, **fastscan.scanner_options())
            fastscan.walk(reader, src, scanner, item, scanned)
        else:
            for rec in reader:
                if rec.__class__ is model.Record:
                    if rec.offset > last:
                        break
                    see(rec)
    except FormatError:
        pass  # the first walk reported it
    finally:
        stream = getattr(src, "_stream", None)
        if stream is not None:
            stream.close()


class _Seen:
    """A record of the compiled confirming walk: what _duplicate_key reads of it."""

    __slots__ = ("key", "db", "offset")

    def __init__(self, key: bytes, db: int, offset: int) -> None:
        self.key = key
        self.db = db
        self.offset = offset


def _check_tail(src: ByteSource, report: VerifyReport, name: str) -> None:
    end = src.tell()
    if src.at_eof():
        return
    head = src.peek(1)
    if head in (b"*", b"#"):
        # An RDB preamble followed by RESP: a single-file hybrid AOF.
        report.stats["trailing_resp"] = True
        report.kind = "aof-hybrid"
        return
    left = (src.size - end) if src.size is not None else None
    report.error("trailing-data", "bytes after the RDB trailer", file=name, offset=end,
                 expected="end of file", found=f"{left} more bytes" if left is not None else "more bytes")


def _problem(exc: FormatError, code: str, name: str):
    from persistkit.report import Problem

    p = Problem.from_error(exc, code=code)
    if p.file is None:
        p.file = name
    return p

