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
from persistkit.kvencoding.errors import FormatError
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
        src = ByteSource(stream, name=input_name(stream) if closer else str(path),
                         size=input_size(stream))
        reader = RDBReader(src, iterate=True, big_strings=BIG_STRING, name=str(path),
                           strict_crc=False)
    except BaseException:
        if closer is not None:
            closer.close()
        raise
    return reader, closer


def iter_rows(path, meta: Optional[FileMeta] = None, *, progress: Progress = None,
              stream=None, data: Optional[bytes] = None,
              thresholds: Optional[Thresholds] = None) -> Iterator[list]:
    """The memory rows of the RDB at ``path`` in file order (compiled path when present)."""
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
    for item in reader:
        # The reader finishes a record (drains it, sets its length) when asked for the
        # next item, so a row goes out one item late.
        if pending is not None:
            rec, row = pending
            row[STORED] = rec.length
            pending = None
            yield row
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
        yield row


def _rows_compiled(fast, reader: RDBReader, meta: FileMeta, progress: Progress,
                   th: Thresholds) -> Iterator[list]:
    """The compiled scanner handles what it knows and stops before anything else; the
    reference reader then reads exactly one item from that position."""
    src = reader.src
    items = iter(reader)
    next(items)  # the header, already read
    one = _OneItem(reader)
    last = 0
    while True:
        rows, status = fast.scan(reader, 4096)
        if rows:
            yield from rows
        if progress is not None and src.tell() - last > PROGRESS_STEP:
            last = src.tell()
            progress(last, src.size)
        if status == fast.MORE:
            continue
        # fast.DEFER: the next item is for the reference reader
        item = one.read()
        if item.__class__ is model.Record:
            row = _estimate(item, reader.name, th)
            one.finish(item)
            if row is not None:
                row[STORED] = item.length
                yield row
            continue
        _other_item(item, meta)
        if item.__class__ is model.EOF:
            return


class _OneItem:
    """Read single items with the reference reader from where the compiled scanner
    stopped (a fresh pass of its item loop at a record boundary)."""

    __slots__ = ("reader", "gen")

    def __init__(self, reader: RDBReader) -> None:
        self.reader = reader
        self.gen = None

    def read(self):
        self.gen = self.reader._items()
        return next(self.gen)

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
