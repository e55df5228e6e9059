"""Walk one RDB file and produce its per-key memory rows (see ``estimate.ROW_FIELDS``).

Two implementations give the same rows: the reference path runs ``RDBReader(iterate=True)``
and ``estimate.estimate`` on every record; the compiled path (``persistkit._accel.memscan``)
walks the usual value types straight over the reader's byte window and hands every other
item (streams, modules, functions, field-TTL hashes, anything unusual or damaged) back to
the reader, one item at a time, so errors, offsets and the rare types come from the one
reference reader.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional

from persistkit import accel
from persistkit.kvencoding.bstr import bstr_json
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.fileio import input_name, input_size, open_input
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools.memory.estimate import STORED, estimate
from persistkit.rdbtools.memory.sizes import DEFAULT_THRESHOLDS, Thresholds
from persistkit.rdbtools.reader import RDBReader

Progress = Optional[Callable[[int, Optional[int]], None]]

# Strings longer than this are not read into memory by the reference path (their length
# is all the estimate needs; an integer string has at most 20 bytes).
BIG_STRING = 64
PROGRESS_STEP = 1 << 22
BATCH = 2048
# The compiled scanner's largest window and the window's refill size (None: the
# defaults); tests lower them to drive small files through the refill paths.
WINDOW_MAX = None
SOURCE_CHUNK = None


class FileMeta:
    """What the report says about the file besides its keys."""

    __slots__ = ("path", "magic", "version", "size", "aux", "checksum")

    def __init__(self, path: str) -> None:
        self.path = path
        self.magic = None
        self.version = None
        self.size = None
        self.aux: dict = {}
        self.checksum = None

    def as_dict(self) -> dict:
        return {"path": self.path, "magic": self.magic, "version": self.version,
                "size": self.size, "aux": self.aux, "checksum": self.checksum}


def open_reader(path, stream=None, data: Optional[bytes] = None):
    """(reader, closer) for ``path`` / an open ``stream`` / ``data`` bytes."""
    if data is not None:
        src = ByteSource(data, name=str(path))
        return RDBReader(src, iterate=True, big_strings=BIG_STRING, name=str(path),
                         strict_crc=False), None
    closer = None
    if stream is None:
        stream = open_input(path)
        closer = stream
    try:
        kw = {"chunk": SOURCE_CHUNK} if SOURCE_CHUNK else {}
        src = ByteSource(stream, name=input_name(stream) if closer else str(path),
                         size=input_size(stream), **kw)
        reader = RDBReader(src, iterate=True, big_strings=BIG_STRING, name=str(path),
                           strict_crc=False)
    except BaseException:
        if closer is not None:
            closer.close()
        raise
    return reader, closer


def iter_rows(path, meta: Optional[FileMeta] = None, **kw) -> Iterator[list]:
    """The memory rows of the RDB at ``path`` in file order (compiled path when present)."""
    for batch in iter_batches(path, meta, **kw):
        yield from batch


def iter_batches(path, meta: Optional[FileMeta] = None, *, progress: Progress = None,
                 stream=None, data: Optional[bytes] = None,
                 thresholds: Optional[Thresholds] = None) -> Iterator[list]:
    """``iter_rows`` in lists of rows (fewer Python steps per key for the report loops)."""
    meta = meta if meta is not None else FileMeta(str(path))
    th = thresholds if thresholds is not None else DEFAULT_THRESHOLDS
    reader, closer = open_reader(path, stream, data)
    try:
        meta.magic = reader.header.magic
        meta.version = reader.header.version
        meta.size = reader.src.size
        fast = accel.module("memscan")
        if fast is not None:
            yield from _rows_compiled(fast, reader, meta, progress, th)
        else:
            yield from _rows_pure(reader, meta, progress, th)
        if progress is not None:
            progress(reader.src.tell(), reader.src.size)
    finally:
        if closer is not None:
            closer.close()


def _other_item(item, meta: FileMeta) -> None:
    cls = item.__class__
    if cls is model.Aux:
        meta.aux[item.key.decode("utf-8", "backslashreplace")] = bstr_json(item.value)
    elif cls is model.EOF:
        if item.checksum is None:
            meta.checksum = "absent"
        elif item.checksum == 0:
            meta.checksum = "disabled"
        else:
            meta.checksum = "present"


def _estimate(rec: model.Record, name: str, th: Thresholds):
    try:
        return estimate(rec, th)
    except FormatError as exc:
        raise exc.with_context(file=name, key=rec.key)


def _rows_pure(reader: RDBReader, meta: FileMeta, progress: Progress,
               th: Thresholds) -> Iterator[list]:
    pending = None
    src = reader.src
    last = 0
    Record = model.Record
    batch: list = []
    for item in reader:
        # The reader finishes a record (drains it, sets its length) when asked for the
        # next item, so a row goes out one item late.
        if pending is not None:
            rec, row = pending
            row[STORED] = rec.length
            pending = None
            batch.append(row)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if item.__class__ is Record:
            row = _estimate(item, reader.name, th)
            if row is not None:
                pending = (item, row)
            if progress is not None and item.offset - last > PROGRESS_STEP:
                last = item.offset
                progress(item.offset, src.size)
        else:
            _other_item(item, meta)
    if pending is not None:
        rec, row = pending
        row[STORED] = rec.length
        batch.append(row)
    if batch:
        yield batch


def _rows_compiled(fast, reader: RDBReader, meta: FileMeta, progress: Progress,
                   th: Thresholds) -> Iterator[list]:
    """The compiled scanner takes the records it accepts straight from the reader's
    window; every other item is read by the reference reader (one fresh walk of its
    item loop at the current position, the reader's driver contract), then the scan
    resumes."""
    from persistkit.rdbtools.memory import sizes as S

    src = reader.src
    scanner = fast.MemScanner(th.as_tuple(), S.SKIPLIST_NODE_MEAN, S.SKIPLIST_HEADER,
                              S.mixed_set_slots, S.converted_hash_slots, S.grown_slots,
                              WINDOW_MAX)
    R_MORE, R_NEED = fast.R_MORE, fast.R_NEED
    one = _OneItem(reader)
    last = 0
    while True:
        rows: list = []
        st = scanner.run(src, reader.db, rows, 4096)
        src.pos = scanner.pos
        if rows:
            yield rows
        if progress is not None and src.tell() - last > PROGRESS_STEP:
            last = src.tell()
            progress(last, src.size)
        if st == R_MORE:
            continue
        if st == R_NEED:
            have = src.base + len(src.buf)
            try:
                src.need(scanner.need)
            except TruncatedError:
                pass
            if src.base + len(src.buf) > have:
                continue  # the window grew: scan the same record again
        while True:
            item = one.read()
            if item.__class__ is model.Record:
                row = _estimate(item, reader.name, th)
                one.finish(item)
                if row is not None:
                    row[STORED] = item.length
                    yield [row]
                break
            _other_item(item, meta)
            if item.__class__ is model.EOF:
                return
            if not one.pending:
                break


class _OneItem:
    """Read single items with the reference reader from where the compiled scanner
    stopped: a fresh walk of its item loop at a record boundary (the reader's driver
    contract). An opcode between a record's expiry/idle/freq prefix and its type byte
    (KeyDB writes such files) leaves the prefix pending inside that walk: ``pending``
    then says to keep reading with it until the record is out."""

    __slots__ = ("reader", "gen", "at")

    def __init__(self, reader: RDBReader) -> None:
        self.reader = reader
        self.gen = None
        self.at = None

    @property
    def pending(self) -> bool:
        return self.gen is not None

    def read(self):
        if self.gen is None:
            self.at = self.reader.src.tell()
            self.gen = self.reader._items()
        item = next(self.gen)
        if item.__class__ is not model.Record and item.offset == self.at:
            self.gen = None
        self.at = None if self.gen is None else self.at
        return item

    def finish(self, rec: model.Record) -> None:
        """Drain a lazily read value and set the record's length, as the reader's own
        loop does after the yield."""
        drain = getattr(rec.value, "drain", None)
        if drain is not None:
            try:
                drain()
            except FormatError as exc:
                raise exc.with_context(file=self.reader.name, key=rec.key)
        src = self.reader.src
        rec.length = src.base + src.pos - rec.offset
        self.gen = None
