"""Parquet output (``export --format parquet``, ``memory --format parquet``) for DuckDB,
Spark and pandas. pyarrow is an optional extra (``pip install persistkit[parquet]``).

``export``: one row per key::

    file            string   the input as given
    server_version  string   AUX redis-ver / valkey-ver (null when absent)
    db              int32
    key             binary
    type            string   TYPE (string, list, set, zset, hash, stream, module)
    encoding        string   the stored encoding (as export --format jsonl says)
    memory_encoding string   OBJECT ENCODING in a Redis 7.0 that loads the file
    expire_at_ms    int64    absolute unix ms, null without a TTL
    stored_bytes    int64    the record's bytes in the file
    memory_bytes    int64    the memory estimate (``persistkit memory``'s size)
    elements        int64    members / fields / entries; a string's length
    value           struct   one field per type, the others null:
        string  binary
        members list<binary>                                   list (head to tail), set
        zset    list<struct<member: binary, score: double>>
        hash    list<struct<field: binary, value: binary, expire_at_ms: int64>>
        stream  string  (the stream as export --format jsonl writes it, JSON)
        module  binary  (the serialized module value)

Rows go out in row groups of ``ROWS_PER_GROUP`` keys (or fewer when their values are
big), so memory stays flat: one row group and one key at a time.
"""

from __future__ import annotations

import json
from typing import BinaryIO, Optional

from persistkit.kvencoding.errors import UsageProblem

ROWS_PER_GROUP = 4096
GROUP_VALUE_BYTES = 16 << 20


def require_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageProblem("Parquet output needs pyarrow: pip install 'persistkit[parquet]'") from None


def _schemas():
    import pyarrow as pa

    value = pa.struct([
        ("string", pa.binary()),
        ("members", pa.list_(pa.binary())),
        ("zset", pa.list_(pa.struct([("member", pa.binary()), ("score", pa.float64())]))),
        ("hash", pa.list_(pa.struct([("field", pa.binary()), ("value", pa.binary()),
                                     ("expire_at_ms", pa.int64())]))),
        ("stream", pa.string()),
        ("module", pa.binary()),
    ])
    export = pa.schema([
        ("file", pa.string()), ("server_version", pa.string()), ("db", pa.int32()),
        ("key", pa.binary()), ("type", pa.string()), ("encoding", pa.string()),
        ("memory_encoding", pa.string()), ("expire_at_ms", pa.int64()),
        ("stored_bytes", pa.int64()), ("memory_bytes", pa.int64()), ("elements", pa.int64()),
        ("value", value),
    ])
    memory = pa.schema([
        ("file", pa.string()), ("db", pa.int32()), ("key", pa.binary()), ("type", pa.string()),
        ("encoding", pa.string()), ("size", pa.int64()), ("usage", pa.int64()),
        ("elements", pa.int64()), ("largest", pa.int64()), ("expire_at_ms", pa.int64()),
        ("stored", pa.int64()),
    ])
    return export, memory


class _Rows:
    """Column lists flushed as one row group at a time."""

    def __init__(self, out: BinaryIO, schema) -> None:
        import pyarrow.parquet as pq

        self.schema = schema
        self.names = schema.names
        self.writer = pq.ParquetWriter(out, schema, compression="zstd")
        self.cols: dict[str, list] = {n: [] for n in self.names}
        self.rows = 0
        self.value_bytes = 0

    def flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        batch = pa.RecordBatch.from_arrays(
            [pa.array(self.cols[n], type=self.schema.field(n).type) for n in self.names],
            schema=self.schema)
        self.writer.write_batch(batch)
        self.cols = {n: [] for n in self.names}
        self.rows = 0
        self.value_bytes = 0

    def added(self, nbytes: int) -> None:
        self.rows += 1
        self.value_bytes += nbytes
        if self.rows >= ROWS_PER_GROUP or self.value_bytes >= GROUP_VALUE_BYTES:
            self.flush()

    def close(self) -> None:
        self.flush()
        self.writer.close()


class MemoryRowsParquet:
    """``memory --format parquet``: the memory rows of one file."""

    def __init__(self, out: BinaryIO) -> None:
        require_pyarrow()
        self.rows = _Rows(out, _schemas()[1])

    def write(self, rows, file: str) -> None:
        r = self.rows
        c = r.cols
        for row in rows:
            db, key, t, enc, usage, size, elements, largest, expire, stored = row
            c["file"].append(file)
            c["db"].append(db)
            c["key"].append(key)
            c["type"].append(t)
            c["encoding"].append(enc)
            c["size"].append(size)
            c["usage"].append(usage)
            c["elements"].append(elements)
            c["largest"].append(largest)
            c["expire_at_ms"].append(expire)
            c["stored"].append(stored)
            r.added(len(key))

    def close(self) -> None:
        self.rows.close()


def _value(rec, materialized):
    """The ``value`` struct of a record whose value was read into ``materialized``."""
    from persistkit.rdbtools import model
    from persistkit.rdbtools.export import stream_json

    v = {"string": None, "members": None, "zset": None, "hash": None, "stream": None, "module": None}
    t = rec.type
    if t == model.STRING:
        v["string"] = materialized
        size = len(materialized)
    elif t in (model.LIST, model.SET):
        v["members"] = materialized
        size = sum(len(x) for x in materialized)
    elif t == model.ZSET:
        v["zset"] = [{"member": m, "score": s} for m, s in materialized]
        size = sum(len(m) + 8 for m, _ in materialized)
    elif t == model.HASH:
        fe = rec.field_expires or {}
        v["hash"] = [{"field": f, "value": x, "expire_at_ms": fe.get(f)} for f, x in materialized]
        size = sum(len(f) + len(x) for f, x in materialized)
    elif t == model.STREAM:
        text = json.dumps(stream_json(materialized), ensure_ascii=False, separators=(",", ":"))
        v["stream"] = text
        size = len(text)
    else:
        v["module"] = materialized.raw or b""
        size = len(v["module"])
    return v, size


def export_parquet(path, out: BinaryIO, *, db: Optional[int] = None, match: Optional[str] = None,
                   type_: Optional[str] = None, progress=None) -> dict:
    """Write the keys of the RDB at ``path`` to ``out`` as Parquet (schema above)."""
    from persistkit.kvencoding.glob import key_matcher
    from persistkit.rdbtools import model
    from persistkit.rdbtools.memory.estimate import estimate
    from persistkit.rdbtools.memory.scan import open_reader
    from persistkit.rdbtools.reader import BigString

    require_pyarrow()
    matches = key_matcher(match)  # Redis glob, as every --match
    rows = _Rows(out, _schemas()[0])
    c = rows.cols
    reader, closer = open_reader(path)
    version = None
    stats = {"keys": 0}
    last = 0
    try:
        for item in reader:
            cls = item.__class__
            if cls is model.Aux:
                if item.key in (b"redis-ver", b"valkey-ver"):
                    version = item.value.decode("utf-8", "replace")
                continue
            if cls is not model.Record:
                continue
            rec = item
            keep = ((db is None or rec.db == db) and (type_ is None or rec.type == type_)
                    and (matches is None or matches(rec.key)))
            if not keep:
                continue
            value = rec.value
            if value.__class__ is BigString:
                value = value.tobytes()
            elif rec.type in (model.LIST, model.SET, model.ZSET, model.HASH):
                value = list(value)
            drain = getattr(rec.value, "drain", None)
            if drain is not None:
                drain()  # the reader's own drain finds it consumed
            src = reader.src
            stored = src.base + src.pos - rec.offset
            shown = model.Record(db=rec.db, key=rec.key, type=rec.type, rdb_type=rec.rdb_type,
                                 encoding=rec.encoding, offset=rec.offset, expire_ms=rec.expire_ms,
                                 value=value, field_expires=rec.field_expires,
                                 size_hint=rec.size_hint, layout=rec.layout)
            mem = estimate(shown)
            v, nbytes = _value(rec, value)
            c["file"].append(str(path))
            c["server_version"].append(version)
            c["db"].append(rec.db)
            c["key"].append(rec.key)
            c["type"].append(rec.type)
            c["encoding"].append(rec.encoding)
            c["memory_encoding"].append(mem[3] if mem else None)
            c["expire_at_ms"].append(rec.expire_ms)
            c["stored_bytes"].append(stored)
            c["memory_bytes"].append(mem[5] if mem else None)
            c["elements"].append(mem[6] if mem else 0)
            c["value"].append(v)
            rows.added(nbytes + len(rec.key))
            stats["keys"] += 1
            if progress is not None and rec.offset - last > (1 << 22):
                last = rec.offset
                progress(rec.offset, reader.src.size)
        rows.close()
    finally:
        if closer is not None:
            closer.close()
    return stats


def concat_parquet_parts(parts, out: BinaryIO) -> None:
    """Copy the row groups of the part files, in order, into one Parquet file."""
    import pyarrow.parquet as pq

    writer = None
    try:
        for part in parts:
            f = pq.ParquetFile(part)
            if writer is None:
                writer = pq.ParquetWriter(out, f.schema_arrow, compression="zstd")
            for i in range(f.num_row_groups):
                writer.write_table(f.read_row_group(i))
        if writer is None:
            raise UsageProblem("no input could be read: no Parquet file written")
    finally:
        if writer is not None:
            writer.close()


def write_dataset(parts, folder: str) -> None:
    """A dataset folder: one ``<n>-<input name>.parquet`` per input (each written
    atomically; the ``file`` and ``server_version`` columns say where rows come from)."""
    import os

    from persistkit.kvencoding.fileio import atomic_output

    os.makedirs(folder, exist_ok=True)
    for i, (path, part) in enumerate(parts):
        name = os.path.basename(os.path.normpath(str(path))) or "input"
        with atomic_output(os.path.join(folder, f"{i:05d}-{name}.parquet")) as out, open(part, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
