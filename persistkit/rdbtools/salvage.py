"""Salvage a damaged RDB: copy every intact key into a new, valid RDB and say what was lost.

    from persistkit.rdbtools.salvage import salvage_rdb
    report = salvage_rdb(path, out)     # out=None: only report

How (the reader is rdbtools.reader.RDBReader, the writer rdbtools.writer.RDBWriter):

* the file is read record by record in ``recover`` mode: a value whose inner structure is
  bad (a listpack, ziplist, intset, stream node... that fails validation, a duplicate
  member) costs that one key, and reading goes on with the next record;
* a framing error (a length running wild, an unknown type byte, a cut file) ends the
  readable run: the damaged region starts where the last good item ended, and reading
  resumes at the first later offset from which the rest of the file decodes cleanly
  through its EOF (see ``find_resync``), so bytes inside a damaged value that happen to
  look like a few short string keys are not taken for data. The db in force (last
  SELECTDB) carries over the gap;
* a truncated file keeps every key before the cut;
* first of all, when the file still ends with its EOF opcode and CRC64 trailer and the
  checksum does not match, the CRC is used to locate a single flipped bit: CRC64 is linear,
  so the syndrome (computed xor stored) of a one-bit error names its position (a random
  syndrome matches one of the file's bit positions with odds of about size*8/2^64). That
  bit is flipped back and reported (``corrected``); nothing is lost then;
* otherwise a checksum mismatch with every record decoding cleanly means some value's
  bytes were changed where no structure checks them (inside a plain string): it is
  reported, and the keys are kept, since the damaged one cannot be told apart.

The output has the input's RDB version and dialect, the same aux fields, functions and
keys (written with ``encodings="keep"``), no RESIZEDB hints, and a correct CRC64. It is
written atomically. The input is read into memory (salvage needs random access).

Report (JSON-ready): ``input``, ``output``, ``version``, ``kept_keys``, ``lost`` (list of
``{"start", "end", "bytes", "keys", "reason"}`` byte ranges with the keys known to be in
them), ``lost_keys`` (count of keys known lost), ``checksum`` ("ok" | "mismatch" |
"disabled" | "none" | "not-reached"), ``resyncs``.
"""

from __future__ import annotations

from typing import Optional

from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.fileio import atomic_output, open_input
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.kvencoding.bstr import bstr_json

CONFIRM_ITEMS = 3          # clean items needed after a resync candidate
PROBE_WINDOW = 1 << 20     # bytes a candidate is tried on before the full read
_KEY_OPCODES = {op.OP_EXPIRETIME_MS, op.OP_EXPIRETIME, op.OP_IDLE, op.OP_FREQ, op.OP_SELECTDB,
                op.OP_EOF, op.OP_FUNCTION2, op.OP_MODULE_AUX}


# ---------------------------------------------------------------------------
# locating a single-bit error with the CRC64 (Jones polynomial, reflected, init 0)

_POLY = 0x95AC9329AC4BC9B5  # Jones polynomial, bit-reflected (crc64.c)
LOCATE_MAX_BYTES = 256 << 20


def _table() -> list[int]:
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t.append(c)
    return t


_T = _table()
_BY_TOP = {v >> 56: i for i, v in enumerate(_T)}  # the top byte of T[i] is unique per i


def locate_bit_flip(data, crc_end: int, stored: int) -> Optional[tuple[int, int]]:
    """(byte offset, bit) of the one flipped bit that explains a CRC64 mismatch over
    ``data[:crc_end]``, or None. Works backwards from the syndrome: undoing one zero-byte
    CRC step per byte, and checking it against the 8 single-bit patterns of a byte."""
    from persistkit.kvencoding.crc64 import crc64

    syn = crc64(memoryview(data)[:crc_end]) ^ stored
    if syn == 0 or crc_end > LOCATE_MAX_BYTES:
        return None
    targets = {_T[1 << b]: b for b in range(8)}
    T, by_top = _T, _BY_TOP
    for k in range(crc_end):
        b = targets.get(syn)
        if b is not None:
            return crc_end - 1 - k, b
        i = by_top[syn >> 56]
        syn = ((syn ^ T[i]) << 8) | i
    return None


def _header_bytes(h: model.Header) -> bytes:
    return (b"VALKEY%03d" % h.version) if h.magic == "VALKEY" else (b"REDIS%04d" % h.version)


def _reader_at(data: bytes, start: int, header: model.Header, db: int, end: Optional[int] = None):
    """An RDBReader positioned at ``start`` (offsets stay absolute), items after the header."""
    from persistkit.rdbtools.reader import RDBReader

    head = _header_bytes(header)
    chunk = data[start:end] if end is not None else data[start:]
    src = ByteSource(head + chunk, base=start - len(head), name=None)
    reader = RDBReader(src, decode=True, recover=True, strict_crc=False)
    reader.db = db
    it = iter(reader)
    next(it)  # the header we made up
    return reader, it


def _candidate_ok(data: bytes, y: int, header: model.Header, db: int, types) -> bool:
    """Weak test: a record or opcode at ``y`` and CONFIRM_ITEMS clean items (or a clean EOF
    at the very end) after it, tried on a window of the file."""
    t = data[y]
    if t not in types and t not in _KEY_OPCODES:
        return False
    end = min(len(data), y + PROBE_WINDOW)
    clean = 0
    try:
        reader, it = _reader_at(data, y, header, db, end)
        for item in it:
            if reader.problems:
                return False
            if isinstance(item, model.Aux):
                return False  # aux fields only come first in a file
            if isinstance(item, model.EOF):
                return item.offset + item.length == len(data)
            clean += 1
            if clean >= CONFIRM_ITEMS:
                return True
        return False
    except TruncatedError:
        # ran off the probe window (not the file): clean so far counts
        return end < len(data) and clean >= 1
    except FormatError:
        return False


def _reads_to_the_end(data: bytes, y: int, header: model.Header, db: int) -> bool:
    """Strong test: from ``y`` every item decodes cleanly through an EOF that ends the file."""
    try:
        reader, it = _reader_at(data, y, header, db)
        for item in it:
            if reader.problems or isinstance(item, model.Aux):
                return False
            if isinstance(item, model.EOF):
                return item.offset + item.length == len(data)
        return False
    except FormatError:
        return False


def find_resync(data: bytes, start: int, header: model.Header, db: int, types) -> int:
    """The first offset after ``start`` where reading can resume (len(data): none).

    Preferred: a point from which the rest of the file reads cleanly through its EOF (so
    bytes inside a damaged value that merely look like a few records are not taken). When
    no such point exists but the file does end with an EOF trailer, there are several
    damaged regions: the first point with CONFIRM_ITEMS clean items is taken instead. A
    file without its trailer (cut) resumes nowhere: inventing keys is worse than losing them.
    """
    n = len(data)
    if header.version >= 5:
        has_trailer = n >= 9 and data[n - 9] == op.OP_EOF
    else:
        has_trailer = data[-1:] == b"\xff"
    if not has_trailer:
        return n  # a cut file: no point reads cleanly through an EOF, and weak points may be junk
    weak = []
    y = start
    while y < n:
        if _candidate_ok(data, y, header, db, types):
            if _reads_to_the_end(data, y, header, db):
                return y
            weak.append(y)
        y += 1
    if weak:
        return weak[0]
    return n


def salvage_rdb(path, out=None) -> dict:
    from persistkit.rdbtools.reader import RDBReader

    data = _read_what_decodes(path)
    report: dict = {"input": str(path), "output": str(out) if out else None, "version": None,
                    "kept_keys": 0, "lost": [], "lost_keys": 0, "checksum": "not-reached", "resyncs": 0,
                    "corrected": None}
    first = RDBReader(ByteSource(data, crc=True), decode=True, recover=True, strict_crc=False)
    header = first.header
    if header.version >= 5 and len(data) > 18 and data[-9] == op.OP_EOF:
        stored = int.from_bytes(data[-8:], "little")
        flip = locate_bit_flip(data, len(data) - 8, stored) if stored else None
        if flip is not None:
            fixed = bytearray(data)
            fixed[flip[0]] ^= 1 << flip[1]
            data = bytes(fixed)
            report["corrected"] = {"offset": flip[0], "bit": flip[1],
                                   "message": "single flipped bit located by the CRC64 and restored"}
            first = RDBReader(ByteSource(data, crc=True), decode=True, recover=True, strict_crc=False)
            header = first.header
    report["version"] = header.version
    report["magic"] = header.magic
    types = op.type_table("valkey" if header.magic == "VALKEY" else "redis")
    kept: list = []
    kept_keys: set = set()
    lost = report["lost"]
    db = 0
    reader, it = first, iter(first)
    next(it)  # header
    good_end = header.offset + header.length
    seen_problem_count = 0
    saw_eof = False
    while True:
        try:
            for item in it:
                for exc in reader.problems[seen_problem_count:]:
                    _lost_key(lost, exc, "value damaged (structure check failed)")
                seen_problem_count = len(reader.problems)
                if isinstance(item, model.EOF):
                    if reader is first:
                        report["checksum"] = ("none" if item.checksum is None else "disabled"
                                              if item.checksum == 0 else
                                              "ok" if item.checksum_ok else "mismatch")
                    else:
                        report["checksum"] = "not-checked (resynchronised)"
                    good_end = item.offset + item.length
                    saw_eof = True
                    break
                if isinstance(item, model.SelectDB):
                    db = item.db
                good_end = item.offset + item.length
                if isinstance(item, model.Record):
                    # a resync can land in a repeated block and read keys again; a server
                    # refuses an RDB with a key twice (rdbLoad: "Duplicate key"), and the
                    # first copy is the one from before the damage
                    ident = (item.db, bytes(item.key))
                    if ident in kept_keys:
                        lost.append({"start": item.offset, "end": good_end, "bytes": item.length,
                                     "keys": [], "duplicate_key": bstr_json(item.key),
                                     "reason": "duplicate of an earlier key (dropped)"})
                        continue
                    kept_keys.add(ident)
                if not isinstance(item, model.ResizeDB):  # a hint that would no longer be right
                    kept.append(item)
            for exc in reader.problems[seen_problem_count:]:
                _lost_key(lost, exc, "value damaged (structure check failed)")
            if good_end < len(data):
                lost.append({"start": good_end, "end": len(data), "bytes": len(data) - good_end,
                             "keys": [], "reason": "bytes after the EOF trailer" if saw_eof
                             else "no EOF opcode"})
            break
        except FormatError as exc:
            for e in reader.problems[seen_problem_count:]:
                _lost_key(lost, e, "value damaged (structure check failed)")
            damage = good_end
            y = find_resync(data, damage + 1, header, db, types) if damage < len(data) else len(data)
            keys = [bstr_json(exc.key)] if exc.key is not None else []
            reason = ("file ends inside this region" if isinstance(exc, TruncatedError) and y >= len(data)
                      else f"framing damaged: {exc.message}")
            lost.append({"start": damage, "end": y, "bytes": y - damage, "keys": keys,
                         "reason": reason, "error_offset": exc.offset})
            if y >= len(data):
                break
            report["resyncs"] += 1
            reader, it = _reader_at(data, y, header, db)
            seen_problem_count = 0
            good_end = y
    report["kept_keys"] = sum(1 for i in kept if isinstance(i, model.Record))
    report["lost_keys"] = sum(len(r["keys"]) for r in lost)
    if out:
        _write(out, header, kept)
    return report


def _read_what_decodes(path) -> bytes:
    """The input's bytes, or for a cut / damaged .gz or .lz4 the bytes decoded before the
    decompressor failed: the salvage then treats them like a cut plain file."""
    chunks = []
    with open_input(path) as stream:
        while True:
            try:
                chunk = stream.read1(1 << 16)  # one raw read: a failure loses nothing before it
            except FormatError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _lost_key(lost: list, exc: FormatError, reason: str) -> None:
    lost.append({"start": exc.offset, "end": exc.offset, "bytes": 0,
                 "keys": [bstr_json(exc.key)] if exc.key is not None else [], "reason": reason,
                 "message": exc.message})


def _write(out, header: model.Header, kept: list) -> None:
    from persistkit.rdbtools.writer import RDBWriter

    dialect = "valkey" if header.magic == "VALKEY" else "redis"
    with atomic_output(out) as fh:
        w = RDBWriter(fh, version=header.version, dialect=dialect, encodings="keep")
        w.header()
        written_db = None
        for item in kept:
            if isinstance(item, model.SelectDB):
                continue  # re-derived from the records' dbs
            if isinstance(item, model.Record) and item.db != written_db:
                w.select_db(item.db)
                written_db = item.db
            w.write(item)
        w.eof()


__all__ = ["salvage_rdb"]
