"""Conversion between keyspace values and the shared value model (rdbtools.model).

``load_records`` takes what RDBReader yields; ``iter_records`` gives model.Record objects
that RDBWriter accepts (SAVE, BGSAVE and the AOF rewrite preamble go through it).
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator, Optional

from ..kvencoding.funclib import LibraryMetadataError, library_metadata
from ..rdbtools import model
from ..rdbtools.writer import EncodedValue
from .loadvalues import stream_from_model, value_from_model  # noqa: F401  (re-exported)
from .compact import CompactValue, model_value as compact_model_value, signature as compact_signature, thaw
from .encodings import encoding_of
from .reply import CommandError
from .values import Hash, Stream, ZSet

STREAM_NODE_MAX_ENTRIES = 100


def stream_to_model(st: Stream, with_meta: bool = True) -> model.StreamValue:
    nodes = []
    ids = st.ids
    for i in range(0, len(ids), STREAM_NODE_MAX_ENTRIES):
        chunk = ids[i:i + STREAM_NODE_MAX_ENTRIES]
        entries = [model.StreamEntry(sid, list(st.entries[sid])) for sid in chunk]
        nodes.append(model.StreamNode(chunk[0], [f for f, _ in entries[0].fields], entries))
    groups = []
    for _, g in sorted(st.groups.items()):   # radix-tree order, as the server saves them
        pel = [model.StreamPendingEntry(sid, n.delivery_time, n.delivery_count, n.consumer)
               for sid, n in sorted(g.pel.items())]
        consumers = [model.StreamConsumer(c.name, c.seen_time, c.active_time,
                                          sorted(c.pel)) for _, c in sorted(g.consumers.items())]
        groups.append(model.StreamGroup(g.name, g.last_id,
                                        None if g.entries_read == -1 or not with_meta else g.entries_read,
                                        pel, consumers))
    if not with_meta:  # servers before 7.0 keep no stream metadata
        return model.StreamValue(nodes=nodes, length=len(ids), last_id=st.last_id, groups=groups)
    return model.StreamValue(nodes=nodes, length=len(ids), last_id=st.last_id, first_id=st.first_id,
                             max_deleted_id=st.max_deleted_id, entries_added=st.entries_added,
                             groups=groups)


def value_to_model(v, with_meta: bool = True):
    """(type, model value, field_expires) of a keyspace value."""
    t = type(v)
    if t is CompactValue:
        rtype, mv = compact_model_value(v)
        return rtype, mv, None
    if t is bytes:
        return model.STRING, v, None
    if t is deque:
        return model.LIST, list(v), None
    if t is set:
        return model.SET, sorted(v), None
    if t is ZSet:
        return model.ZSET, [(m, sc) for sc, m in v.index], None
    if t is Hash:
        return model.HASH, list(v.items()), (dict(v.fexp) if v.fexp else None)
    if t is Stream:
        return model.STREAM, stream_to_model(v, with_meta), None
    raise TypeError(t.__name__)


def make_record(dbid: int, key: bytes, v, expire_ms, limits, rdb_version: int = 10,
                with_meta: bool = True, encoded_for: Optional[tuple] = None) -> model.Record:
    """The model.Record of a keyspace value. A CompactValue whose body was made for the
    writer signature ``encoded_for`` comes as an EncodedValue (copied by that writer)."""
    if type(v) is CompactValue:
        if encoded_for is not None and encoded_for == compact_signature():
            from ..rdbtools.rdbtypes import lookup as rdb_type_row

            return model.Record(db=dbid, key=key, type=rdb_type_row(v.rdb_type).family,
                                rdb_type=v.rdb_type, encoding="", offset=0, expire_ms=expire_ms,
                                value=EncodedValue(v.rdb_type, v.body, encoded_for))
        v = thaw(v)
    rtype, mv, fexp = value_to_model(v, with_meta)
    enc, rdb_type = encoding_of(v, limits, rdb_version)
    return model.Record(db=dbid, key=key, type=rtype, rdb_type=rdb_type, encoding=enc, offset=0,
                        expire_ms=expire_ms, value=mv, field_expires=fexp)


def load_records(ks, records: Iterable, *, now_ms: Optional[int] = None, skip_expired: bool = False) -> int:
    n = 0
    for rec in records:
        if isinstance(rec, model.Record):
            if skip_expired and rec.expire_ms is not None and now_ms is not None and rec.expire_ms <= now_ms:
                continue
            if rec.value is None:
                raise ValueError("load_records needs decoded values (RDBReader(decode=True))")
            if rec.type == model.MODULE or rec.type == model.ARRAY:
                continue  # module values and Redis 8.8 arrays cannot live in this engine
            db = ks.dbs[rec.db]
            db.data[bytes(rec.key)] = value_from_model(rec.type, rec.value, rec.field_expires)
            if rec.field_expires:
                db.hfe.add(bytes(rec.key))
            if rec.expire_ms is not None:
                db.expires[bytes(rec.key)] = rec.expire_ms
            else:
                db.expires.pop(bytes(rec.key), None)
            n += 1
        elif isinstance(rec, model.Function):
            code = bytes(rec.code)
            try:
                name = library_metadata(code)[1]
            except LibraryMetadataError:
                name = rec.name or code[:32]
            ks.functions[name] = code
    return n


def iter_records(ks, now_ms: Optional[int] = None, dbs=None, rdb_version: int = 10,
                 encoded_for: Optional[tuple] = None) -> Iterator[model.Record]:
    for db in ks.dbs if dbs is None else (ks.dbs[i] for i in dbs):
        exp = db.expires
        for key in sorted(db.data):
            t = exp.get(key)
            if t is not None and now_ms is not None and t <= now_ms:
                continue
            v = db.data[key]
            if now_ms is not None and type(v) is Hash and v.fexp and min(v.fexp.values()) <= now_ms:
                v = v.copy()                      # fields whose TTL passed are left out
                for f in [f for f, ft in v.fexp.items() if ft <= now_ms]:
                    del v[f]
                    del v.fexp[f]
                if not v:
                    continue
            yield make_record(db.id, key, v, t, ks.limits, rdb_version, ks.compat >= (7, 0), encoded_for)


def iter_functions(ks) -> Iterator[model.Function]:
    for name in sorted(ks.functions):
        yield model.Function(code=ks.functions[name])


# -- DUMP / RESTORE payloads (need rdbtools.dump) -------------------------------------

def dump_payload(ks, key: bytes, v) -> bytes:
    from ..rdbtools.writer import encode_payload

    rec = make_record(0, key, v, None, ks.limits)
    return encode_payload(rec, version=10, encodings="server")


def value_from_payload(payload: bytes):
    from ..kvencoding.errors import FormatError
    from ..rdbtools.dump import decode_payload

    try:
        rec, _version = decode_payload(payload)
    except FormatError:
        raise CommandError("ERR DUMP payload version or checksum are wrong") from None
    return value_from_model(rec.type, rec.value, rec.field_expires)
