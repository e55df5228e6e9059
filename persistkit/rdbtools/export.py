"""``export``: an RDB's content as JSON lines, one JSON document, CSV, or RESP commands.

JSON lines (``jsonl``, lossless) -- one object per line, in file order. Every line has
a ``kind``:

``{"kind": "key", ...}``  one key::

    {"kind": "key", "db": 0, "key": BSTR, "type": "string"|"list"|"set"|"zset"|"hash"|"stream"|"module",
     "encoding": "embstr",            # OBJECT ENCODING a loading server reports (reader docs)
     "rdb_type": 0,                   # the stored RDB type byte
     "expire_at_ms": 1795506490123|null,   # absolute Unix time in ms
     "idle": 12|null, "freq": 5|null,       # LRU idle seconds / LFU counter when stored
     "value": VALUE,
     "field_expire_at_ms": [[FIELD BSTR, ms], ...]   # hashes with field TTLs only
    }

  VALUE by type: string: BSTR; list: [BSTR, ...] head to tail; set: [BSTR, ...] in
  file order; zset: [[member BSTR, score], ...] in file order, ``score`` a string
  (Python ``repr`` of the double: "1.5", "inf", "-inf", "1e+300"); hash: [[field, value],
  ...] in file order; stream::

    {"length": 380, "last_id": "1700000010139-5", "entries_added": 460|null,
     "max_deleted_entry_id": "..."|null, "recorded_first_entry_id": "..."|null,
     "entries": [{"id": "1700000001434-0", "fields": [[BSTR, BSTR], ...]}, ...],   # live entries
     "groups": [{"name": BSTR, "last_delivered_id": "...", "entries_read": 50|null,
                 "pel": [{"id": "...", "consumer": BSTR|null, "delivery_time_ms": ..., "delivery_count": 5}],
                 "consumers": [{"name": BSTR, "seen_time_ms": ..., "active_time_ms": ...|null,
                                "pel": ["id", ...]}]}]}

  module: ``{"module": "9-char name", "encver": 0, "module_id": N, "raw": {"hex": ...}}``
  where ``raw`` is the serialized value after the type byte (module id included).

``{"kind": "function", "code": BSTR}`` a function library (FUNCTION LOAD source);
``{"kind": "module-aux", "module": name, "encver": N, "when": N, "raw": {"hex": ...}}``.
With a key filter (``db``, ``match``, ``type_``) only keys are written.

BSTR is the binary-safe string convention of the corpus: a JSON string when the bytes
are UTF-8 without control characters other than tab/CR/LF, else ``{"hex": "..."}``.
Blobs are always inline.

``json``: one document ``{"keys": [KEY...], "functions": [...], "module_aux": [...]}``
with KEY objects as above without ``kind``.

``csv``: header ``db,key,type,encoding,expire_at_ms,size,value``; key and string values
as text, or ``hex:`` + hex digits when not plain text; collection values as their
JSON text (the jsonl VALUE).

``resp``: commands that rebuild the data (``| redis-cli --pipe``): SELECT, SET /
RPUSH / SADD / ZADD / HSET (big collections in batches of ``BATCH`` elements),
PEXPIREAT, HPEXPIREAT ... FIELDS (field TTLs, Redis 7.4+), streams with XADD, XSETID
... ENTRIESADDED ... MAXDELETEDID (7.0+ metadata when stored), XGROUP CREATE ...
ENTRIESREAD, XGROUP CREATECONSUMER, XCLAIM ... TIME ... RETRYCOUNT ... FORCE JUSTID
for pending entries (a deleted message still pending gets a placeholder entry, claimed,
then trimmed or deleted again: rdbtools.streamcmds), FUNCTION LOAD REPLACE for
libraries, and RESTORE of a DUMP payload for module values (the module must be loaded
on the target). Not carried: LRU/LFU hints, consumer seen/active times (the server
sets them).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from itertools import islice
from typing import BinaryIO, Callable, Optional

from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.fileio import input_name, input_size, open_input
from persistkit.kvencoding.resp import encode_command
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import exportfast, model
from persistkit.kvencoding.glob import key_matcher
from persistkit.rdbtools.reader import BigString, RDBReader
from persistkit.rdbtools.streamcmds import stream_commands
from persistkit.kvencoding.bstr import bstr_json
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.keymeta import decode_module_items
from persistkit.kvencoding.rdbarray import TAG_NAMES as _ARRAY_TAGS

FORMATS = ("jsonl", "json", "csv", "resp")
BATCH = 500
# Raw string values longer than this are written to JSON in chunks, never held whole.
BIG_STRING = 1 << 22

Progress = Optional[Callable[[int, Optional[int]], None]]


def _sid(sid) -> Optional[str]:
    return None if sid is None else model.format_stream_id(sid)


def stream_json(sv: model.StreamValue) -> dict:
    return {
        "length": sv.length,
        "last_id": _sid(sv.last_id),
        "entries_added": sv.entries_added,
        "max_deleted_entry_id": _sid(sv.max_deleted_id),
        "recorded_first_entry_id": _sid(sv.first_id),
        "entries": [{"id": _sid(e.id), "fields": [[bstr_json(f), bstr_json(v)] for f, v in e.fields]}
                    for e in sv.entries()],
        "groups": [{
            "name": bstr_json(g.name),
            "last_delivered_id": _sid(g.last_id),
            "entries_read": g.entries_read,
            "pel": [{"id": _sid(p.id), "consumer": bstr_json(p.consumer) if p.consumer is not None else None,
                     "delivery_time_ms": p.delivery_time_ms, "delivery_count": p.delivery_count}
                    for p in g.pel],
            "consumers": [{"name": bstr_json(c.name), "seen_time_ms": c.seen_time_ms,
                           "active_time_ms": c.active_time_ms, "pel": [_sid(i) for i in c.pel]}
                          for c in g.consumers],
            **({"nacked": [_sid(i) for i in g.nacked]} if g.nacked is not None else {}),
        } for g in sv.groups],
        **({"idmp": idmp_json(sv.idmp)} if sv.idmp is not None else {}),
    }


def idmp_json(i: model.StreamIdmp) -> dict:
    """Stream v4+ idempotent-producer state (see the module docstring)."""
    return {"duration": i.duration, "max_entries": i.max_entries,
            "producers": [{"pid": bstr_json(p.pid),
                           "entries": [{"iid": bstr_json(iid), "id": _sid(sid)} for iid, sid in p.entries]}
                          for p in i.producers],
            "iids_added": i.iids_added, "iids_duplicates": i.iids_duplicates}


def array_json(a: model.ArrayValue) -> dict:
    """An ARRAY value: indices as decimal strings (they reach 2^64-2), each element's
    stored tag and its text as ARGET shows it (floats: shortest round-trip digits)."""
    return {"insert_idx": None if a.insert_idx is None else str(a.insert_idx),
            "elements": [{"index": str(e.index), "tag": _ARRAY_TAGS[e.tag], "value": bstr_json(e.text())}
                         for e in a.elements]}


def key_meta_json(metas) -> list:
    """Key metadata classes (RDB 13+): name, version, flags, the stored value bytes and
    the values inside them (module opcodes: [kind, value])."""
    out = []
    for m in metas:
        try:
            items = [[k, bstr_json(v) if isinstance(v, bytes) else v]
                     for k, v in decode_module_items(m.raw)]
        except FormatError:
            items = None
        out.append({"class": m.name, "version": m.version, "flags": m.flags,
                    "raw": {"hex": bytes(m.raw).hex()}, "items": items})
    return out


COLLECTIONS = (model.LIST, model.SET, model.ZSET, model.HASH)


def element_json(t: str, x):
    """One element of a collection value in the jsonl VALUE form."""
    if t == model.ZSET:
        return [bstr_json(x[0]), repr(float(x[1]))]
    if t == model.HASH:
        return [bstr_json(x[0]), bstr_json(x[1])]
    return bstr_json(x)


def value_json(rec: model.Record):
    return value_to_json(rec.type, rec.value)


def value_to_json(t: str, v):
    """A decoded value in the jsonl VALUE form (see the module docstring)."""
    if t == model.STRING:
        return bstr_json(v)
    if t in COLLECTIONS:
        return [element_json(t, x) for x in v]
    if t == model.STREAM:
        return stream_json(v)
    if t == model.MODULE:
        return {"module": v.name, "encver": v.encver, "module_id": v.module_id,
                "raw": {"hex": (v.raw or b"").hex()}}
    if t == model.ARRAY:
        return array_json(v)
    return None


def _key_head(rec: model.Record, kind: bool) -> dict:
    out = {"kind": "key"} if kind else {}
    out.update({"db": rec.db, "key": bstr_json(rec.key), "type": rec.type, "encoding": rec.encoding,
                "rdb_type": rec.rdb_type, "expire_at_ms": rec.expire_ms, "idle": rec.idle,
                "freq": rec.freq})
    return out


def key_json(rec: model.Record, kind: bool = True) -> dict:
    out = _key_head(rec, kind)
    out["value"] = value_json(rec)
    if rec.field_expires:
        out["field_expire_at_ms"] = [[bstr_json(f), ms] for f, ms in rec.field_expires.items()]
    if rec.key_meta:
        out["key_meta"] = key_meta_json(rec.key_meta)
    return out


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_key_json(out: BinaryIO, rec: model.Record, kind: bool = True) -> None:
    """One key object; a collection value is written element by element as it is read
    (iterate mode), so a huge set is never held whole; a BigString in chunks."""
    if rec.value.__class__ is BigString:
        head = _dumps(_key_head(rec, kind))
        out.write(head[:-1] + b',"value":')
        _write_big_bstr(out, rec.value)
        if rec.key_meta:
            out.write(b',"key_meta":' + _dumps(key_meta_json(rec.key_meta)))
        out.write(b"}")
        return
    if rec.type not in COLLECTIONS:
        out.write(_dumps(key_json(rec, kind)))
        return
    head = _dumps(_key_head(rec, kind))
    out.write(head[:-1] + b',"value":[')
    sep = b""
    for text in _value_batches(rec):
        out.write(sep + text)
        sep = b","
    out.write(b"]")
    _write_key_tail(out, rec)


def _value_batches(rec: model.Record):
    """A collection value's jsonl VALUE text without its brackets, BATCH elements at a
    time as they are read (``_dumps(element_json(t, x))`` of each, joined by commas):
    a huge set is never held whole."""
    t = rec.type
    fast = exportfast.compiled()
    if fast is not None:
        # the same texts from the compiled renderer, one call per batch
        kind = fast.ELEMENTS_ZSET if t == model.ZSET else fast.ELEMENTS_HASH if t == model.HASH \
            else fast.ELEMENTS_PLAIN
        render = fast.json_elements
        for batch in iter(lambda: list(islice(rec.value, BATCH)), []):
            yield render(kind, batch)
        return
    enc = _bstr_text
    if t == model.ZSET:
        texts = ('[%s,"%s"]' % (enc(m), repr(float(sc))) for m, sc in rec.value)
    elif t == model.HASH:
        texts = ("[%s,%s]" % (enc(f), enc(v)) for f, v in rec.value)
    else:
        texts = map(enc, rec.value)
    for batch in iter(lambda: list(islice(texts, BATCH)), []):
        yield ",".join(batch).encode("utf-8")


def _write_key_tail(out: BinaryIO, rec: model.Record) -> None:
    """What follows a collection's value in its key object (read once it is drained)."""
    if rec.field_expires:
        out.write(b',"field_expire_at_ms":' + _dumps([[bstr_json(f), ms] for f, ms in rec.field_expires.items()]))
    if rec.key_meta:
        out.write(b',"key_meta":' + _dumps(key_meta_json(rec.key_meta)))
    out.write(b"}")


# Bytes that make bstr_json choose hex besides invalid UTF-8: C0 controls other than
# tab/LF/CR, and DEL (all ASCII: inside valid UTF-8 they only stand for themselves).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


_encode_basestring = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def _bstr_text(b: bytes) -> str:
    """``json.dumps(bstr_json(b), ensure_ascii=False, separators=(",", ":"))``, faster:
    the control-byte test on the bytes (see _CONTROL_BYTES), then the json module's
    own string escaper."""
    if not _CONTROL_BYTES.search(b):
        try:
            return _encode_basestring(b.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return '{"hex":"' + b.hex() + '"}'


def _write_big_bstr(out: BinaryIO, value: "BigString") -> None:
    """``_dumps(bstr_json(value))`` written in chunks: one pass decides text or hex, a
    second one writes."""
    dec = codecs.getincrementaldecoder("utf-8")()
    text = True
    try:
        for chunk in value.chunks():
            if _CONTROL_BYTES.search(chunk):
                text = False
                break
            dec.decode(chunk)
        else:
            dec.decode(b"", True)
    except UnicodeDecodeError:
        text = False
    if not text:
        out.write(b'{"hex":"')
        for chunk in value.chunks():
            out.write(chunk.hex().encode())
        out.write(b'"}')
        return
    dec = codecs.getincrementaldecoder("utf-8")()
    out.write(b'"')
    for chunk in value.chunks():
        out.write(json.dumps(dec.decode(chunk), ensure_ascii=False)[1:-1].encode("utf-8"))
    out.write(json.dumps(dec.decode(b"", True), ensure_ascii=False)[1:-1].encode("utf-8"))
    out.write(b'"')


class _Filter:
    def __init__(self, db: Optional[int], match: Optional[str], type_: Optional[str]) -> None:
        self.db = db
        self.match = key_matcher(match)  # Redis glob (kvencoding.glob), bytes-exact
        self.type = type_
        self.any = db is not None or match is not None or type_ is not None

    def __call__(self, rec: model.Record) -> bool:
        if self.db is not None and rec.db != self.db:
            return False
        if self.type is not None and rec.type != self.type:
            return False
        if self.match is not None and not self.match(rec.key):
            return False
        return True


def export_rdb(path, fmt: str, out: BinaryIO, *, db: Optional[int] = None, match: Optional[str] = None,
               type_: Optional[str] = None, progress: Progress = None, data: Optional[bytes] = None,
               stream=None) -> dict:
    """Write the content of the RDB at ``path`` (or ``data`` bytes, or an open binary
    ``stream``) to ``out`` (binary). Returns counts."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    # iterate mode: collection values are streamed from the file while being written;
    # for JSON, long strings too (BigString).
    big = BIG_STRING if fmt in ("jsonl", "json") else None
    if data is not None:
        return _export(RDBReader(data, name=str(path), iterate=True, big_strings=big), fmt, out,
                       _Filter(db, match, type_), progress, None)
    if stream is not None:
        src = ByteSource(stream, name=str(path), size=input_size(stream), crc=True,
                         chunk=exportfast.source_chunk())
        return _export(RDBReader(src, iterate=True, big_strings=big), fmt, out,
                       _Filter(db, match, type_), progress, src.size)
    with open_input(path) as stream:
        src = ByteSource(stream, name=input_name(stream), size=input_size(stream), crc=True,
                         chunk=exportfast.source_chunk())
        return _export(RDBReader(src, iterate=True, big_strings=big), fmt, out,
                       _Filter(db, match, type_), progress, src.size)


def _export(reader: RDBReader, fmt: str, out: BinaryIO, keep: _Filter, progress: Progress,
            total: Optional[int]) -> dict:
    writer = {"jsonl": _JsonLines, "json": _JsonDoc, "csv": _Csv, "resp": _Resp}[fmt](out, reader)
    stats = {"keys": 0, "functions": 0, "module_aux": 0, "skipped": 0}
    fast = exportfast.compiled()
    if fast is not None:
        # The compiled renderer takes the records it can; the loop below is its reference.
        exportfast.export_items(fast, reader, fmt, writer, keep, stats, progress, total)
        writer.close()
        if progress is not None:
            progress(total or 0, total)
        return stats
    last = 0
    for item in reader:
        cls = item.__class__
        if cls is model.Record:
            if not keep(item):
                stats["skipped"] += 1
                continue
            writer.key(item)
            stats["keys"] += 1
            if progress is not None and item.offset - last > (1 << 20):
                last = item.offset
                progress(item.offset, total)
        elif keep.any:
            continue  # a key filter selects keys only
        elif cls is model.Function:
            writer.function(item)
            stats["functions"] += 1
        elif cls is model.ModuleAux:
            writer.module_aux(item)
            stats["module_aux"] += 1
    writer.close()
    if progress is not None:
        progress(total or 0, total)
    return stats


class _JsonLines:
    def __init__(self, out: BinaryIO, reader: RDBReader) -> None:
        self.out = out

    def _line(self, obj) -> None:
        self.out.write(_dumps(obj))
        self.out.write(b"\n")

    def key(self, rec):
        write_key_json(self.out, rec)
        self.out.write(b"\n")

    def function(self, fn):
        self._line({"kind": "function", "code": bstr_json(fn.code)})

    def module_aux(self, aux):
        v = aux.value
        self._line({"kind": "module-aux", "module": v.name, "encver": v.encver, "when": v.when,
                    "raw": {"hex": (v.raw or b"").hex()}})

    def close(self):
        pass


class _JsonDoc(_JsonLines):
    def __init__(self, out, reader):
        super().__init__(out, reader)
        self.first = True
        self.functions = []
        self.aux = []
        out.write(b'{"keys": [')

    def key(self, rec):
        self.out.write(b"\n  " if self.first else b",\n  ")
        self.first = False
        write_key_json(self.out, rec, kind=False)

    def function(self, fn):
        self.functions.append({"code": bstr_json(fn.code)})

    def module_aux(self, aux):
        v = aux.value
        self.aux.append({"module": v.name, "encver": v.encver, "when": v.when,
                         "raw": {"hex": (v.raw or b"").hex()}})

    def close(self):
        self.out.write(b"\n],\n" if not self.first else b"],\n")
        self.out.write(b'"functions": ' + json.dumps(self.functions, ensure_ascii=False).encode() + b",\n")
        self.out.write(b'"module_aux": ' + json.dumps(self.aux, ensure_ascii=False).encode() + b"}\n")


def _csv_field(s: str) -> str:
    """One field as csv.writer's excel dialect writes it (QUOTE_MINIMAL)."""
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _text_cell(b: bytes) -> str:
    j = bstr_json(b)
    return j if isinstance(j, str) else "hex:" + j["hex"]


class _Csv(_JsonLines):
    def __init__(self, out, reader):
        super().__init__(out, reader)
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.w = csv.writer(self.text)
        self.w.writerow(["db", "key", "type", "encoding", "expire_at_ms", "size", "value"])

    def key(self, rec):
        if rec.type in COLLECTIONS:
            self._collection_row(rec)
            return
        if rec.type == model.STRING:
            value = _text_cell(rec.value)
            size = len(rec.value)
        else:
            value = json.dumps(value_json(rec), ensure_ascii=False, separators=(",", ":"))
            size = rec.size_hint if rec.size_hint is not None else ""
        self.w.writerow([rec.db, _text_cell(rec.key), rec.type, rec.encoding,
                         "" if rec.expire_ms is None else rec.expire_ms, size, value])

    def _collection_row(self, rec):
        """The row of a collection, its value cell written batch by batch as it is read
        (a huge set is never held whole): the same bytes csv.writer gives for the whole
        JSON text (a non-empty collection's JSON always holds a quote, so it is quoted)."""
        size = rec.size_hint if rec.size_hint is not None else ""
        head = [str(rec.db), _text_cell(rec.key), rec.type, rec.encoding,
                "" if rec.expire_ms is None else str(rec.expire_ms), str(size)]
        out = self.out
        self.text.flush()
        out.write(",".join(map(_csv_field, head)).encode("utf-8") + b",")
        first = True
        for text in _value_batches(rec):
            out.write((b'"[' if first else b",") + text.replace(b'"', b'""'))
            first = False
        out.write(b'[]\r\n' if first else b']"\r\n')

    def function(self, fn):
        pass

    def module_aux(self, aux):
        pass

    def close(self):
        self.text.flush()
        self.text.detach()


def _needs_restore(rec: model.Record) -> bool:
    if rec.key_meta:
        return True
    v = rec.value
    if rec.type == model.STREAM and isinstance(v, model.StreamValue):
        if v.idmp is not None and not v.idmp.is_default():
            return True
        return any(g.nacked for g in v.groups)
    return False


def _score(s: float) -> bytes:
    return repr(float(s)).encode()


class _Resp:
    """RESP commands that rebuild the keys (see the module docstring)."""

    def __init__(self, out: BinaryIO, reader: RDBReader) -> None:
        self.out = out
        self.reader = reader
        self.db = None

    def _cmd(self, *args) -> None:
        self.out.write(encode_command([a if isinstance(a, bytes) else str(a).encode() for a in args]))

    def _batched(self, head: tuple, items, width: int = 1) -> None:
        batch: list = []
        for it in items:
            if width == 1:
                batch.append(it)
            else:
                batch.extend(it)
            if len(batch) >= BATCH * width:
                self._cmd(*head, *batch)
                batch = []
        if batch:
            self._cmd(*head, *batch)

    def key(self, rec: model.Record) -> None:
        if rec.db != self.db:
            self._cmd(b"SELECT", rec.db)
            self.db = rec.db
        k = rec.key
        t = rec.type
        v = rec.value
        if _needs_restore(rec):
            self._restore(rec)
            if rec.expire_ms is not None:
                self._cmd(b"PEXPIREAT", k, rec.expire_ms)
            return
        if t == model.STRING:
            self._cmd(b"SET", k, v)
        elif t == model.LIST:
            self._batched((b"RPUSH", k), v)
        elif t == model.SET:
            self._batched((b"SADD", k), v)
        elif t == model.ZSET:
            self._batched((b"ZADD", k), ((_score(s), m) for m, s in v), 2)
        elif t == model.HASH:
            self._batched((b"HSET", k), v, 2)
        elif t == model.STREAM:
            self._stream(k, v)
        elif t == model.MODULE:
            self._module(rec)
        elif t == model.ARRAY:
            self._array(k, v)
        if rec.expire_ms is not None:
            self._cmd(b"PEXPIREAT", k, rec.expire_ms)
        if rec.field_expires:
            by_ms: dict[int, list[bytes]] = {}
            for f, ms in rec.field_expires.items():
                by_ms.setdefault(ms, []).append(f)
            for ms, fields in by_ms.items():
                for i in range(0, len(fields), BATCH):
                    part = fields[i:i + BATCH]
                    self._cmd(b"HPEXPIREAT", k, ms, b"FIELDS", len(part), *part)

    def _stream(self, k: bytes, sv: model.StreamValue) -> None:
        for args in stream_commands(k, sv):
            self._cmd(*args)

    def _array(self, k: bytes, a: model.ArrayValue) -> None:
        self._batched((b"ARMSET", k), ((str(i).encode(), text) for i, text in a.items()), 2)
        if a.insert_idx is not None:
            # ARINSERT continues after the last index it wrote (the stored insert_idx).
            self._cmd(b"ARSEEK", k, a.insert_idx + 1)

    def _restore(self, rec: model.Record) -> None:
        """Keys whose metadata no plain command recreates (key metadata, stream IDMP
        state and NACK zones): RESTORE of their DUMP payload for the source's version."""
        from persistkit.rdbtools.writer import encode_payload

        version = self.reader.header.version
        v = rec.value
        if isinstance(v, BigString):
            rec.value = v.tobytes()
        elif not isinstance(v, (bytes, bytearray, list, tuple, model.StreamValue, model.ArrayValue,
                                model.ModuleValue)):
            rec.value = list(v)   # a streamed collection, gathered for its payload
        payload = encode_payload(rec, version, self.reader.dialect, encodings="keep")
        self._cmd(b"RESTORE", rec.key, 0, payload, b"REPLACE")

    def _module(self, rec: model.Record) -> None:
        mv = rec.value
        body = bytes([rec.rdb_type]) + (mv.raw or b"")
        body += self.reader.header.version.to_bytes(2, "little")
        payload = body + crc64(body).to_bytes(8, "little")
        self._cmd(b"RESTORE", rec.key, 0, payload, b"REPLACE")

    def function(self, fn: model.Function) -> None:
        self._cmd(b"FUNCTION", b"LOAD", b"REPLACE", fn.code)

    def module_aux(self, aux) -> None:
        pass

    def close(self) -> None:
        pass
