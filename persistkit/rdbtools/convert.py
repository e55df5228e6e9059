"""Re-encode an RDB for another server version, with an honest report of what cannot go.

``convert_rdb`` streams the source through the reader (values decoded, one key at a
time) into an RDBWriter for the target. Whatever the target cannot express is listed
in a loss report, one entry per key and what it would lose:

* hash field TTLs before RDB 12 / VALKEY080 (the hash is written without them);
* function libraries before RDB 10; module aux data before RDB 9;
* module values before RDB 8, streams before RDB 9 (the key itself is lost);
* stream metadata of newer stream types: v2 (RDB 10) adds entries-added,
  max-deleted-entry-id, recorded-first-entry-id and each group's entries-read;
  v3 (RDB 11) adds each consumer's active time;
* opcodes of the other dialect (Valkey slot-import state written for Redis);
* Redis 8.6/8.8 additions: key metadata before RDB 13 (the key is written without it);
  a stream's IDMP state before stream v4 (RDB 13); NACKed pending entries before stream
  v5 (RDB 14): they are dropped from the group PEL, which older loaders require to be
  owned by a consumer; ARRAY values before RDB 14 (the key itself is lost).

With losses and ``allow_loss=False`` the whole input is still scanned (so the report
is complete) and ``LossRefused`` is raised at the end: the caller's atomic output
then discards the partial file. Key filters (db, glob, type) make the same pass carve
a smaller snapshot; RESIZEDB hints are then left out (the counts would be wrong).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Optional

from persistkit.kvencoding.funclib import library_label
from persistkit import accel
from persistkit.rdbtools import encoding_policy as policy
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools.writer import EncodedValue, RDBWriter, WriterError


@dataclass
class Loss:
    kind: str                  # field-ttl | function | module-aux | key | stream-metadata | stream-active-time | opcode
    detail: str
    db: Optional[int] = None
    key: Optional[bytes] = None

    def as_dict(self) -> dict:
        from persistkit.kvencoding.bstr import bstr_json

        return {"kind": self.kind, "db": self.db,
                "key": bstr_json(self.key) if self.key is not None else None, "detail": self.detail}


@dataclass
class ConvertResult:
    source_version: int
    source_dialect: str
    target_version: int
    target_dialect: str
    encodings: str
    keys_read: int = 0
    keys_written: int = 0
    keys_filtered: int = 0
    keys_lost: int = 0
    functions_written: int = 0
    losses: list[Loss] = field(default_factory=list)
    trailing_bytes: Optional[int] = None   # bytes after the RDB's end (a hybrid AOF's command tail)
    written: bool = False

    @property
    def lossy(self) -> bool:
        return bool(self.losses)

    def as_dict(self) -> dict:
        return {
            "source": {"rdb_version": self.source_version, "dialect": self.source_dialect},
            "target": {"rdb_version": self.target_version, "dialect": self.target_dialect},
            "encodings": self.encodings, "written": self.written,
            "keys_read": self.keys_read, "keys_written": self.keys_written,
            "keys_filtered_out": self.keys_filtered, "keys_lost": self.keys_lost,
            "functions_written": self.functions_written,
            "trailing_bytes": self.trailing_bytes,
            "lossy": self.lossy, "losses": [x.as_dict() for x in self.losses],
        }


class TargetError(ValueError):
    """The target version/dialect cannot be written (e.g. defaulting to an RDB 3 source's own)."""


class LossRefused(Exception):
    """The target cannot hold everything and loss was not allowed; ``result`` says what."""

    def __init__(self, result: ConvertResult) -> None:
        super().__init__(f"converting would lose data in {len(result.losses)} place(s)")
        self.result = result


def _stream_kind(rdb_type: int) -> int:
    return {op.T_STREAM_LISTPACKS: 1, op.T_STREAM_LISTPACKS_2: 2, op.T_STREAM_LISTPACKS_3: 3,
            op.T_STREAM_LISTPACKS_4: 4, op.T_STREAM_LISTPACKS_5: 5}.get(rdb_type, 0)


def record_losses(rec: model.Record, target_type: int, version: int, dialect: str) -> list[Loss]:
    """What writing ``rec`` as ``target_type`` for the target leaves out."""
    out = []
    if rec.type == model.HASH and rec.field_expires and not policy.has_field_ttls(version, dialect):
        out.append(Loss("field-ttl", f"TTLs of {len(rec.field_expires)} field(s) "
                        f"(field TTLs need RDB 12 or VALKEY080)", rec.db, rec.key))
    if rec.type == model.STREAM:
        src, dst = _stream_kind(rec.rdb_type), _stream_kind(target_type)
        sv: model.StreamValue = rec.value
        if dst < 2 <= src or (dst < 2 and src == 0 and sv.entries_added is not None):
            out.append(Loss("stream-metadata", "entries-added, max-deleted-entry-id, recorded-first-entry-id"
                            + (" and consumer groups' entries-read" if sv.groups else "")
                            + " (stream v2 needs RDB 10)", rec.db, rec.key))
        if dst < 3 and any(c.active_time_ms is not None for g in sv.groups for c in g.consumers):
            out.append(Loss("stream-active-time", "consumers' active time (stream v3 needs RDB 11)",
                            rec.db, rec.key))
        if dst < 4 and sv.idmp is not None and not sv.idmp.is_default():
            i = sv.idmp
            out.append(Loss("stream-idmp", f"IDMP state: {len(i.producers)} producer(s), {i.tracked} "
                            f"entries, duration {i.duration} s, max entries {i.max_entries}, "
                            f"{i.iids_added} added / {i.iids_duplicates} duplicates "
                            "(stream v4 needs RDB 13, Redis 8.6)", rec.db, rec.key))
        nacked = [(g.name, len(g.nacked)) for g in sv.groups if g.nacked]
        if dst < 5 and nacked:
            groups = ", ".join(f"{n} in {name.decode('utf-8', 'replace')!r}" for name, n in nacked)
            out.append(Loss("stream-nack", f"NACKed pending entries ({groups}), dropped from the "
                            "group PEL (stream v5 needs RDB 14, Redis 8.8)", rec.db, rec.key))
    if rec.key_meta and not policy.has_key_meta(version, dialect):
        from persistkit.kvencoding.keymeta import describe

        out.append(Loss("key-meta", f"key metadata of class(es) {describe(rec.key_meta)} "
                        "(key metadata needs RDB 13, Redis 8.6)", rec.db, rec.key))
    return out


def _key_lost(rec: model.Record, version: int, dialect: str = "redis") -> Optional[str]:
    if rec.type == model.STREAM and version < 9:
        return "the whole key: streams need RDB 9 (Redis 5.0)"
    if rec.type == model.MODULE and version < 8:
        return "the whole key: module values need RDB 8 (Redis 4.0)"
    if rec.type == model.ARRAY and not policy.has_array(version, dialect):
        return "the whole key: array values need RDB 14 (Redis 8.8)"
    return None


def convert_rdb(source, out: BinaryIO, *, version: Optional[int] = None, dialect: Optional[str] = None,
                encodings: str = "keep", thresholds: Optional[dict] = None,
                key_filter: Optional[Callable[[model.Record], bool]] = None,
                allow_loss: bool = False, compress: bool = True, checksum: bool = True,
                name: Optional[str] = None,
                progress: Optional[Callable[[int], None]] = None) -> ConvertResult:
    """Stream ``source`` (bytes, ByteSource or binary stream of an RDB) into ``out``.

    ``progress(offset)`` is called after each key with the input offset reached."""
    from persistkit.rdbtools.reader import RDBReader

    # iterate mode: plain collections (hashtable sets, skiplist zsets, ...) come as
    # iterators and are streamed through, so a huge key never sits in memory whole.
    # The compiled path (keep encodings): values are re-encoded straight from their stored
    # bytes (rdbtools.transcode; same output, no element objects).
    rw = accel.module("rdbwrite") if encodings == "keep" else None
    if rw is not None:
        from persistkit.rdbtools.transcode import TranscodeValues

        reader = RDBReader(source, strategy=TranscodeValues, name=name)
    else:
        reader = RDBReader(source, decode=True, iterate=True, name=name)
    src_version, src_dialect = reader.header.version, reader.dialect
    if version is None:
        version = src_version
    if dialect is None:
        # Below 80 both servers write the REDIS magic and the same types.
        dialect = "valkey" if version >= 80 else "redis"
    try:
        policy.check_target(version, dialect)
    except ValueError as exc:
        raise TargetError(f"{exc}; the input is RDB {src_version}: choose a target "
                          "(--rdb-version / --target)" if version == src_version else str(exc)) from None
    res = ConvertResult(src_version, src_dialect, version, dialect, encodings)
    w = RDBWriter(out, version=version, dialect=dialect, checksum=checksum, compress=compress,
                  encodings=encodings, thresholds=thresholds, source_dialect=src_dialect)
    if rw is not None:
        reader.strategy.enable(rw, w.values)
    filtering = key_filter is not None
    current_db: Optional[int] = None      # db the output has selected

    for item in reader:
        if isinstance(item, model.Record):
            res.keys_read += 1
            if progress is not None:
                progress(item.offset + item.length)
            if filtering and not key_filter(item):
                res.keys_filtered += 1
                continue
            if not w._streams_plain(item) and not isinstance(
                    item.value, (list, tuple, bytes, model.StreamValue, model.ModuleValue, EncodedValue,
                                 model.ArrayValue)):
                item.value = list(item.value)  # needed whole to choose and check it
            lost = _key_lost(item, version, dialect)
            if lost:
                res.losses.append(Loss("key", lost, item.db, item.key))
                res.keys_lost += 1
                continue
            try:
                target_type = w.values.choose_type(item)
            except WriterError as exc:
                res.losses.append(Loss("key", f"the whole key: {exc}", item.db, item.key))
                res.keys_lost += 1
                continue
            res.losses.extend(record_losses(item, target_type, version, dialect))
            if filtering and current_db != item.db:
                w.select_db(item.db)
                current_db = item.db
            w.record(item)
            res.keys_written += 1
        elif isinstance(item, model.SelectDB):
            if not filtering:  # filtered output selects a db only when a key of it is written
                w.select_db(item.db)
                current_db = item.db
        elif isinstance(item, model.ResizeDB):
            if not filtering:
                w.resize_db(item.db_size, item.expires_size)
        elif isinstance(item, model.SlotInfo):
            if not filtering:
                w.slot_info(item.slot_id, item.slot_size, item.expires_slot_size)
        elif isinstance(item, model.Function):
            if version < 10:
                res.losses.append(Loss("function", f"function library {library_label(item.code)!r} "
                                       "(functions need RDB 10, Redis 7.0)"))
            else:
                w.function(item)
                res.functions_written += 1
        elif isinstance(item, model.ModuleAux):
            if version < 9:
                res.losses.append(Loss("module-aux", f"aux data of module {item.value.name!r} "
                                       "(module aux data needs RDB 9)"))
            else:
                w.module_aux(item)
        elif isinstance(item, model.Opaque):
            if item.opcode == op.OP_HASH_TEMPLATE and item.name == "HASH_TEMPLATE":
                continue  # an encoding detail: the keys using it are written as plain hashes
            if dialect == src_dialect and version == src_version:
                w.opaque(item)
            else:
                res.losses.append(Loss("opcode", f"{item.name} data ({len(item.raw)} bytes): "
                                       f"a {src_dialect} {src_version} opcode the target does not have"))
        elif isinstance(item, model.Aux):
            w.aux(item.key, item.value)
        elif isinstance(item, model.Header):
            w.header()
        elif isinstance(item, model.EOF):
            w.eof()
    if not reader.src.at_eof():
        left = None if reader.src.size is None else reader.src.size - reader.src.tell()
        res.trailing_bytes = left if left is not None else -1
    if res.losses and not allow_loss:
        raise LossRefused(res)
    res.written = True
    return res
