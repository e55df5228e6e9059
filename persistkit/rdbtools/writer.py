"""Streaming RDB writer: model objects in, RDB bytes out, one key at a time.

The writer does no file I/O of its own: it is handed a binary stream (the CLI gives it
``kvencoding.fileio.atomic_output``) and writes each item as it comes, so memory holds
one key at most. Layouts follow redis/redis ``src/rdb.c`` (``rdbSaveRio``,
``rdbSaveKeyValuePair``, ``rdbSaveObjectType``, ``rdbSaveObject``, ``rdbSaveStreamPEL``,
``rdbSaveStreamConsumers``, ``rdbSaveAuxField*``, ``rdbSaveFunctions``) and
valkey-io/valkey ``src/rdb.c`` for the ``VALKEY`` magic and its hash type 22.

``encodings="keep"`` writes each key in its source type (``Record.rdb_type``), using the
reader's ``Record.layout`` hints to reproduce the stored bytes (quicklist node
boundaries, containers and compression, intset width, listpack-ex minimum TTL, the
stored text of zset scores). Where the target version lacks that type the nearest
counterpart is used (see ``encoding_policy``). ``encodings="server"`` ignores the
hints and chooses as the target server would from its thresholds.

Layout hints read here (all optional; missing ones fall back to the server's choice):

``nodes``           list of per-node dicts ``{"count": n, "container": "packed"|"plain" (or 2|1),
                    "compressed": bool}`` (quicklist, quicklist v2; a bare int is a count)
``intset_width``    2, 4 or 8 (bytes per intset member)
``min_expire``      the stored minimum field TTL of a type 24/25 hash
``scores``          list of the stored score texts (bytes) of a ziplist/listpack zset
``ziplist_prevlen_wide`` set of entry indexes whose prevlen is stored in 5 bytes though
                    1 would do (a ziplist quirk: Redis never shrinks a prevlen); on a
                    single-ziplist value (types 10/12/13) or on a quicklist node dict
``ziplist_legacy_ints`` True for a ziplist from Redis < 2.6 (no 0-12 immediates, int8
                    or int24 encodings); same places as ``ziplist_prevlen_wide``
"""

from __future__ import annotations

import math
import struct
from typing import BinaryIO, Iterable, Optional

from persistkit import accel
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.keymeta import encode_key_meta
from persistkit.kvencoding.rdbarray import encode_array
from persistkit.kvencoding.streamext import encode_idmp, encode_nack_zone
from persistkit.kvencoding.lengths import encode_length, encode_lzf_blob, encode_string, encode_strings
from persistkit.kvencoding.listpack import entry_size as lp_entry_size
from persistkit.kvencoding.ziplist import entry_size as zl_entry_size
from persistkit.kvencoding.numbers import canonical_int
from persistkit.rdbtools import encoding_policy as policy
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools import rdbtypes as _rdbtypes

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
# Elements of a streamed plain collection encoded per batch (see _stream_plain).
_STREAM_BATCH = 256
_ID = struct.Struct(">QQ")

QL_PLAIN = 1
QL_PACKED = 2
# quicklist.c: a node is only stored compressed when LZF saves at least this much,
# and only nodes of at least MIN_COMPRESS_BYTES are tried.
MIN_COMPRESS_BYTES = 48
MIN_COMPRESS_IMPROVE = 8
SIZE_SAFETY_LIMIT = 8192
NEG_FILL_LIMITS = (4096, 8192, 16384, 32768, 65536)
# ebuckets.h EB_EXPIRE_TIME_INVALID: the "no TTL at all" minimum of a 24/25 hash.
EB_EXPIRE_TIME_INVALID = 1 << 48
UINT64_MAX = (1 << 64) - 1


class WriterError(ValueError):
    """The writer was asked for something the target format cannot hold."""


class EncodedValue:
    """A value already in its target form: the RDB type byte and the body that follows the
    key (what ``ValueEncoder.encode`` would give for it). ``RDBWriter.record`` writes it
    as it is; convert's compiled path (rdbtools.transcode) and the engine's compact
    keyspace hand values over this way."""

    __slots__ = ("rdb_type", "body", "made_for")

    def __init__(self, rdb_type: int, body: bytes, made_for: Optional[tuple] = None) -> None:
        self.rdb_type = rdb_type
        self.body = body
        # encoder_signature of the encoder the body was made for (None: this writer's);
        # a writer with another signature refuses it (the caller decodes such values:
        # kvengine.records.make_record hands over only bodies made for the writer).
        self.made_for = made_for

    def __len__(self) -> int:
        return len(self.body)


def encoder_signature(version: int, dialect: str, compress: bool, encodings: str, thresholds) -> tuple:
    """What decides the bytes a ValueEncoder writes for a value."""
    import dataclasses

    return (version, dialect, bool(compress), encodings, dataclasses.astuple(thresholds))


def header_bytes(version: int, dialect: str = "redis") -> bytes:
    if dialect == "valkey" and version >= 80:
        return b"VALKEY%03d" % version
    return b"REDIS%04d" % version


# ---------------------------------------------------------------------------
# doubles


def format_score(score: float, version: int) -> bytes:
    """A zset score as the target stores it in a ziplist/listpack (t_zset.c ``zzlInsertAt``).

    From 7.0 (RDB >= 10) a score that ``double2ll`` accepts (integral, |x| <= 2^62) is
    stored as an integer (-0.0 as 0), anything else as d2string text: ``%.17g`` in
    7.0, the shortest round-trip text (fpconv_dtoa) from 7.2 (RDB >= 11). Up to 6.2
    every score went through d2string: integers only in (-2^52, 2^52), "-0" kept.
    (Checked against DUMP output of a real 7.0 in tests/test_writer_redis.py.)"""
    if math.isnan(score):
        return b"nan"
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    if version >= 10:
        if -4611686018427387904.0 <= score <= 4611686018427387904.0 and score == int(score):
            return str(int(score)).encode()
        return _shortest_double(score) if version >= 11 else b"%.17g" % score
    if score == 0:
        return b"-0" if math.copysign(1.0, score) < 0 else b"0"
    if -4503599627370495 < score < 4503599627370496 and score == int(score):
        return str(int(score)).encode()
    return b"%.17g" % score


def _shortest_double(score: float) -> bytes:
    """fpconv_dtoa (Redis 7.2+ d2string): the shortest round-trip digits (grisu2; taken
    here from Python's repr, which agrees on them) laid out by fpconv's emit_digits:
    a plain integer while the exponent is small, a plain decimal for 1e-6 <= |x| < 1
    and the like, else d.ddde[+-]x with no zero padding in the exponent."""
    neg = score < 0
    mant, _, exp = repr(abs(score)).partition("e")
    whole, _, frac = mant.partition(".")
    if frac == "0":
        frac = ""
    digits = (whole + frac).lstrip("0")
    # K: the power of ten of the last digit
    K = (int(exp) if exp else 0) - len(frac)
    stripped = digits.rstrip("0")
    K += len(digits) - len(stripped)
    digits = stripped or "0"
    nd = len(digits)
    e = abs(K + nd - 1)
    if K >= 0 and e < nd + 7:
        text = digits + "0" * K
    elif K < 0 and (K > -7 or e < 4):
        offset = nd + K
        text = "0." + "0" * -offset + digits if offset <= 0 else digits[:offset] + "." + digits[offset:]
    else:
        nd = min(nd, 18 - neg)
        x = K + len(digits) - 1
        text = digits[0] + ("." + digits[1:nd] if nd > 1 else "") + "e" + ("-" if x < 0 else "+") + str(abs(x))
    return (("-" if neg else "") + text).encode()


def rdb_text_double(score: float) -> bytes:
    """rdbSaveDoubleValue (type 3 zsets): length byte + %.17g text, 253/254/255 for nan/+inf/-inf."""
    if math.isnan(score):
        return b"\xfd"
    if math.isinf(score):
        return b"\xfe" if score > 0 else b"\xff"
    if -4503599627370495 < score < 4503599627370496 and score == int(score):
        text = str(int(score)).encode()
    else:
        text = b"%.17g" % score
    return bytes((len(text),)) + text


# ---------------------------------------------------------------------------
# blob codecs (other modules; imported late so the writer imports while they land)


def _listpack(items: list) -> bytes:
    from persistkit.kvencoding.listpack import listpack_encode
    return listpack_encode(items)


def _ziplist(items: list, hints: Optional[dict] = None) -> bytes:
    from persistkit.kvencoding.ziplist import ziplist_encode
    if not hints:
        return ziplist_encode(items)
    wide = hints.get("ziplist_prevlen_wide")
    return ziplist_encode(items, wide_prevlen=set(wide) if wide else None,
                          legacy_ints=bool(hints.get("ziplist_legacy_ints")))


def _intset(values: list, width: Optional[int]) -> bytes:
    from persistkit.kvencoding.intset import intset_encode
    return intset_encode(values, width=width)


def _zipmap(pairs: list) -> bytes:
    from persistkit.kvencoding.zipmap import zipmap_encode
    return zipmap_encode(pairs)


def _stream_node(node: model.StreamNode):
    from persistkit.kvencoding.streamnode import encode_stream_node
    return encode_stream_node(node)


def _lzf(data: bytes, max_out: int) -> Optional[bytes]:
    from persistkit.kvencoding.lzf import compress
    out = compress(data, max_out)
    return out or None


def _fast(fn, *args):
    """A compiled encoder's bytes, or None when it leaves the input to the pure encoder
    (items that are not bytes, see _accel/rdbwrite.pyx ``Fallback``)."""
    try:
        return fn(*args)
    except TypeError:
        return None


def _as_list(v) -> list:
    return v if type(v) is list else list(v)


def _zl_quirks(hints: Optional[dict]) -> bool:
    """Ziplist hints the compiled encoder does not reproduce (wide prevlens, pre-2.6 ints)."""
    return bool(hints) and bool(hints.get("ziplist_prevlen_wide") or hints.get("ziplist_legacy_ints"))


def _plain_by_size(version: int, packed_threshold: int, dialect: str) -> bool:
    """plan_list_nodes' ``fill_rule``: whether elements over the node limit get PLAIN nodes."""
    return packed_threshold == 1 << 30 and (version >= 12 or (dialect == "valkey" and version >= 11))


def _lzf_blob(packed: bytes, original_len: int) -> bytes:
    return encode_lzf_blob(packed, original_len)  # the one LZF string layout (lengths)


# ---------------------------------------------------------------------------
# sizes the server's node-split rules look at


def plan_list_nodes(values: list, version: int, fill: int, packed_threshold: int = 1 << 30,
                    dialect: str = "redis") -> list[dict]:
    """Node boundaries a server of ``version`` builds by RPUSHing ``values`` in order
    (quicklist.c ``_quicklistNodeAllowInsert`` / ``quicklistNodeExceedsLimit``).

    PLAIN nodes (``isLargeElement``): Redis 7.0 and 7.2 give one only to an element of
    ``packed_threshold`` bytes (1 GB unless changed with DEBUG); Redis 7.4+ (RDB 12)
    and Valkey 8+ also to any element bigger than the node limit (the negative fill's
    byte limit, or 8 KB with a count fill) -- seen in the corpus: a 10000-byte element
    is packed by 7.2.6 and PLAIN by 7.4.1 and Valkey 8.0.1."""
    fill_rule = _plain_by_size(version, packed_threshold, dialect)
    neg_limit = NEG_FILL_LIMITS[min(-fill - 1, 4)] if fill < 0 else None
    packed = version >= 10
    nodes: list[dict] = []
    cur = None
    prev = 0
    for item in values:
        sz = len(item)
        if packed and (sz >= packed_threshold or fill_rule and (
                sz > neg_limit if fill < 0 else sz > SIZE_SAFETY_LIMIT)):
            nodes.append({"count": 1, "container": QL_PLAIN})
            cur = None
            continue
        if cur is not None:
            if version >= 11:
                new_sz = cur["sz"] + sz + 8  # SIZE_ESTIMATE_OVERHEAD
                if fill < 0:
                    allow = new_sz <= neg_limit
                else:
                    allow = cur["count"] + 1 <= fill and new_sz <= SIZE_SAFETY_LIMIT
            else:
                if packed:
                    new_sz = cur["sz"] + sz + 8
                else:
                    new_sz = cur["sz"] + sz + (1 if sz < 254 else 5) + (1 if sz < 64 else 2 if sz < 16384 else 5)
                if fill < 0 and new_sz <= neg_limit:
                    allow = True
                elif new_sz > SIZE_SAFETY_LIMIT:
                    allow = False
                else:
                    allow = cur["count"] < fill
            if not allow:
                cur = None
        if cur is None:
            cur = {"count": 0, "container": QL_PACKED, "sz": 7 if packed else 11}
            nodes.append(cur)
            prev = 0
        cur["count"] += 1
        if packed:
            cur["sz"] += lp_entry_size(item)
        else:
            e = zl_entry_size(item, prev)
            cur["sz"] += e
            prev = e
    for n in nodes:
        n.pop("sz", None)
    return nodes


# t_stream.c STREAM_LISTPACK_MAX_SIZE: the hard cap on a node whatever the config says.
STREAM_LISTPACK_MAX_SIZE = 1 << 30


def _int_size(v: int) -> int:
    return lp_entry_size(str(v).encode())


def plan_stream_nodes(sv: model.StreamValue, max_bytes: int, max_entries: int) -> list:
    """The listpack nodes XADDing the live entries in order would build (t_stream.c
    ``streamAppendItem``): a new node when the node's bytes plus the new entry's field
    and value lengths reach ``stream-node-max-bytes``, or when it holds
    ``stream-node-max-entries`` entries. Tombstones of deleted entries are not kept."""
    if max_bytes <= 0 or max_bytes > STREAM_LISTPACK_MAX_SIZE:
        max_bytes = STREAM_LISTPACK_MAX_SIZE
    nodes: list[model.StreamNode] = []
    cur: Optional[model.StreamNode] = None
    size = 0
    for e in sv.entries():
        total = sum(len(f) + len(v) for f, v in e.fields)
        if cur is not None and (size + total >= max_bytes or (max_entries and len(cur.entries) >= max_entries)):
            cur = None
        if cur is None:
            cur = model.StreamNode(e.id, [f for f, _ in e.fields], [])
            nodes.append(cur)
            # header + end byte, master entry: count, deleted, field count, fields, 0
            size = 7 + _int_size(1) + _int_size(0) + _int_size(len(e.fields)) \
                + sum(lp_entry_size(f) for f in cur.master_fields) + 1
        same = [f for f, _ in e.fields] == cur.master_fields
        ms, seq = e.id[0] - cur.master_id[0], e.id[1] - cur.master_id[1]
        size += _int_size(2 if same else 0) + _int_size(ms) + _int_size(seq)
        if same:
            size += sum(lp_entry_size(v) for _, v in e.fields) + _int_size(len(e.fields) + 3)
        else:
            size += _int_size(len(e.fields)) + sum(lp_entry_size(f) + lp_entry_size(v) for f, v in e.fields) \
                + _int_size(2 * len(e.fields) + 4)
        cur.entries.append(model.StreamEntry(e.id, list(e.fields)))
    return nodes


def _node_hints(layout: Optional[dict], total: int) -> Optional[list[dict]]:
    if not layout or not layout.get("nodes"):
        return None
    nodes = []
    for n in layout["nodes"]:
        if isinstance(n, int):
            nodes.append({"count": n, "container": QL_PACKED})
        else:
            container = n.get("container", QL_PACKED)
            if isinstance(container, str):
                container = QL_PLAIN if container == "plain" else QL_PACKED
            nodes.append({"count": int(n.get("count", 0)), "container": int(container),
                          "compressed": bool(n.get("compressed", False)),
                          "ziplist_prevlen_wide": n.get("ziplist_prevlen_wide"),
                          "ziplist_legacy_ints": n.get("ziplist_legacy_ints")})
    if sum(n["count"] for n in nodes) != total:
        return None  # hints that do not describe this value are ignored, not trusted
    return nodes


# ---------------------------------------------------------------------------
# values


class ValueEncoder:
    """Encodes one decoded value into (rdb_type, body bytes) for a target."""

    def __init__(self, version: int, dialect: str = "redis", *, compress: bool = True,
                 encodings: str = "keep", thresholds: Optional[dict] = None,
                 source_dialect: Optional[str] = None) -> None:
        policy.check_target(version, dialect)
        if encodings not in ("keep", "server"):
            raise ValueError("encodings must be 'keep' or 'server'")
        self.version = version
        self.dialect = dialect
        self.compress = compress
        self.encodings = encodings
        self.source_dialect = source_dialect or dialect
        self.thresholds = policy.default_thresholds(version, dialect).with_overrides(thresholds)
        self.available = policy.available_types(version, dialect)
        # The compiled encoders (same bytes as the pure ones; tests/test_accel_writer.py),
        # looked up once per encoder so accel.forced_pure() reaches it.
        self._rw = accel.module("rdbwrite")
        self.signature = encoder_signature(version, dialect, compress, encodings, self.thresholds)

    # -- choice --------------------------------------------------------------
    def choose_type(self, rec: model.Record) -> int:
        if rec.value.__class__ is EncodedValue:
            return rec.value.rdb_type
        if rec.type == model.MODULE:
            if op.T_MODULE_2 not in self.available:
                raise WriterError(f"module values need RDB version 8 or later (target {self.version})")
            return op.T_MODULE_2
        if self.encodings == "keep" and rec.rdb_type is not None:
            return policy.keep_type(rec, self.version, self.dialect, self.thresholds, self.source_dialect)
        return policy.server_type(rec, self.version, self.dialect, self.thresholds)

    def _hints(self, rec: model.Record, rdb_type: int) -> Optional[dict]:
        # Hints describe the stored source bytes: only meaningful when the type is kept.
        if self.encodings == "keep" and rec.rdb_type == rdb_type:
            return rec.layout or None
        return None

    def encode(self, rec: model.Record) -> tuple[int, bytes]:
        if rec.value is None:
            raise WriterError("the writer needs decoded values (read with decode=True)")
        t = self.choose_type(rec)
        hints = self._hints(rec, t)
        return t, self.encode_as(t, rec, hints)

    def encode_as(self, t: int, rec: model.Record, hints: Optional[dict] = None) -> bytes:
        # The type table (rdbtypes) names the encoder of each type byte in this dialect.
        row = _rdbtypes.lookup(t, self.dialect)
        w = row.writer if row is not None else None
        v = rec.value
        s = self._str
        if w == "string":
            return s(v)
        if w == "quicklist":
            return self._quicklist(t, v, hints)
        rw = self._rw
        if w == "list_ziplist":
            if rw is not None and not _zl_quirks(hints):
                out = _fast(rw.ziplist_string, _as_list(v), False, self.compress)
                if out is not None:
                    return out
            return s(_ziplist(v, hints))
        if w == "plain_list" or w == "plain_set":
            if rw is not None:
                out = _fast(rw.encode_plain, _as_list(v), self.compress)
                if out is not None:
                    return out
            return encode_length(len(v)) + b"".join(s(x) for x in v)
        if w == "intset":
            width = hints.get("intset_width") if hints else None
            ints = [canonical_int(m) for m in v]
            if any(i is None for i in ints):
                raise WriterError("an intset holds only integers")
            return s(_intset(sorted(ints), width))
        if w == "set_listpack":
            if rw is not None:
                out = _fast(rw.listpack_string, _as_list(v), False, self.compress)
                if out is not None:
                    return out
            return s(_listpack(list(v)))
        if w == "zset_packed":
            return self._zset_packed(t, v, hints, self._keeps_order(rec, t))
        if w == "zset_skiplist":
            return self._zset_skiplist(t, v, rec)
        if w == "plain_hash":
            if rw is not None:
                out = _fast(rw.encode_pairs, _as_list(v), True, self.compress)
                if out is not None:
                    return out
            return encode_length(len(v)) + b"".join(s(f) + s(x) for f, x in v)
        if w == "hash_ziplist":
            if rw is not None and not _zl_quirks(hints):
                out = _fast(rw.ziplist_string, _as_list(v), True, self.compress)
                if out is not None:
                    return out
            return s(_ziplist([x for pair in v for x in pair], hints))
        if w == "hash_listpack":
            if rw is not None:
                out = _fast(rw.listpack_string, _as_list(v), True, self.compress)
                if out is not None:
                    return out
            return s(_listpack([x for pair in v for x in pair]))
        if w == "zipmap":
            return s(_zipmap(list(v)))
        if w == "hash_ttl_redis":
            return self._hash_ttl_redis(t, rec, hints)
        if w == "hash_ttl_valkey":
            return self._hash_ttl_valkey(rec)
        if w == "array":
            return encode_array(v, compress=self.compress)
        if w == "stream":
            return self._stream(t, v)
        if w == "module":
            if not isinstance(v, model.ModuleValue) or v.raw is None:
                raise WriterError("a module value can only be copied from its raw bytes")
            return bytes(v.raw)
        raise WriterError(f"cannot write value type {t} in RDB version {self.version}")

    # -- pieces -----------------------------------------------------------------
    def _str(self, data) -> bytes:
        if self._rw is not None and type(data) is bytes:
            return self._rw.encode_string(data, self.compress)
        return encode_string(bytes(data), compress=self.compress)

    def _node_string(self, blob: bytes, compressed: bool) -> bytes:
        if compressed:
            # quicklist.c __quicklistCompressNode: LZF into a buffer of the node's size;
            # rdbSaveObject then writes that blob as is (rdbSaveLzfBlob), whatever
            # rdbcompression says.
            packed = _lzf(blob, len(blob))
            if packed is not None and len(packed) + MIN_COMPRESS_IMPROVE < len(blob):
                return _lzf_blob(packed, len(blob))
        return self._str(blob)

    def _quicklist(self, t: int, values: list, hints: Optional[dict]) -> bytes:
        nodes = _node_hints(hints, len(values))
        if nodes is None:
            th = self.thresholds
            nodes = None
            plan_version = self.version if t == op.T_LIST_QUICKLIST_2 else min(self.version, 9)
            if self._rw is not None:
                values = _as_list(values)
                planned = _fast(self._rw.plan_list_nodes, values, plan_version, th.list_max_listpack_size,
                                th.list_packed_threshold,
                                _plain_by_size(plan_version, th.list_packed_threshold, self.dialect))
                if planned is not None:
                    nodes = [{"count": c, "container": k} for c, k in planned]
            if nodes is None:
                nodes = plan_list_nodes(values, plan_version,
                                        th.list_max_listpack_size, th.list_packed_threshold, self.dialect)
            depth = th.list_compress_depth
            if depth > 0:
                for i, n in enumerate(nodes):
                    n["compressed"] = depth <= i < len(nodes) - depth
        out = [encode_length(len(nodes))]
        pos = 0
        for n in nodes:
            items = values[pos:pos + n["count"]]
            pos += n["count"]
            compressed = n.get("compressed", False)
            if t == op.T_LIST_QUICKLIST_2:
                container = n.get("container", QL_PACKED)
                out.append(encode_length(container))
                if container == QL_PLAIN:
                    if len(items) != 1:
                        raise WriterError("a PLAIN quicklist node holds exactly one element")
                    blob = bytes(items[0])
                    if compressed and len(blob) >= MIN_COMPRESS_BYTES:
                        out.append(self._node_string(blob, True))
                    else:
                        out.append(self._str(blob))
                    continue
                blob = self._fast_blob(items, True, None) or _listpack(items)
            else:
                blob = self._fast_blob(items, False, n) or _ziplist(items, n)
            out.append(self._node_string(blob, compressed and len(blob) >= MIN_COMPRESS_BYTES))
        return b"".join(out)

    def _fast_blob(self, items: list, listpack: bool, hints: Optional[dict]) -> Optional[bytes]:
        """A quicklist node's listpack/ziplist from the compiled encoder (None: use the pure one)."""
        if self._rw is None or (not listpack and _zl_quirks(hints)):
            return None
        return _fast(self._rw.listpack if listpack else self._rw.ziplist, _as_list(items))

    def _keeps_order(self, rec: model.Record, t: int) -> bool:
        # keep mode writes elements in their source order whenever the source was a
        # compact encoding of the same family (its order is the server's order).
        if self.encodings != "keep" or rec.rdb_type is None:
            return False
        if rec.rdb_type == t:
            return True
        compact = {op.T_ZSET_ZIPLIST, op.T_ZSET_LISTPACK, op.T_HASH_LISTPACK_EX, 23}
        return rec.rdb_type in compact and t in compact

    def _zset_packed(self, t: int, pairs: list, hints: Optional[dict], keep_order: bool) -> bytes:
        if not keep_order:
            pairs = sorted(pairs, key=lambda p: (p[1], p[0]))
        texts = hints.get("scores") if hints else None
        if texts is None or len(texts) != len(pairs):
            texts = [format_score(sc, self.version) for _, sc in pairs]
        items = []
        for (m, _), txt in zip(pairs, texts):
            items.append(m)
            items.append(txt)
        rw = self._rw
        if rw is not None and (t == op.T_ZSET_LISTPACK or not _zl_quirks(hints)):
            out = _fast(rw.listpack_string if t == op.T_ZSET_LISTPACK else rw.ziplist_string,
                        items, False, self.compress)
            if out is not None:
                return out
        if t == op.T_ZSET_LISTPACK:
            return self._str(_listpack(items))
        return self._str(_ziplist(items, hints))

    def _zset_skiplist(self, t: int, pairs: list, rec: model.Record) -> bytes:
        if not (self.encodings == "keep" and rec.rdb_type in (op.T_ZSET, op.T_ZSET_2)):
            # rdbSaveObject walks the skiplist from the tail: greatest element first.
            pairs = sorted(pairs, key=lambda p: (p[1], p[0]), reverse=True)
        if t == op.T_ZSET_2 and self._rw is not None:
            body = _fast(self._rw.encode_zset2, _as_list(pairs), True, self.compress)
            if body is not None:
                return body
        out = [encode_length(len(pairs))]
        for m, sc in pairs:
            out.append(self._str(m))
            out.append(_F64.pack(sc) if t == op.T_ZSET_2 else rdb_text_double(sc))
        return b"".join(out)

    def _hash_ttl_redis(self, t: int, rec: model.Record, hints: Optional[dict]) -> bytes:
        fe = rec.field_expires or {}
        pairs = rec.value
        min_expire = hints.get("min_expire") if hints else None
        if min_expire is None:
            min_expire = min(fe.values()) if fe else EB_EXPIRE_TIME_INVALID
        if t == op.T_HASH_LISTPACK_EX:
            if not self._keeps_order(rec, t):
                # listpackEx keeps fields with a TTL sorted by it, the others after them.
                with_ttl = sorted((p for p in pairs if p[0] in fe), key=lambda p: fe[p[0]])
                pairs = with_ttl + [p for p in pairs if p[0] not in fe]
            items = []
            for f, x in pairs:
                items += [f, x, str(fe.get(f, 0)).encode()]  # HASH_LP_NO_TTL = 0
            return _U64.pack(min_expire) + self._str(_listpack(items))
        out = [_U64.pack(min_expire), encode_length(len(pairs))]
        for f, x in pairs:
            ttl = fe.get(f)
            # rdbSaveObject: each TTL relative to the minimum, +1 so that 0 means none.
            out.append(encode_length(0 if ttl is None else ttl - min_expire + 1))
            out.append(self._str(f))
            out.append(self._str(x))
        return b"".join(out)

    def _hash_ttl_valkey(self, rec: model.Record) -> bytes:
        fe = rec.field_expires or {}
        out = [encode_length(len(rec.value))]
        for f, x in rec.value:
            # valkey rdb.c: field, value, then the absolute expiry in ms (-1: none).
            out.append(self._str(f) + self._str(x) + _I64.pack(fe.get(f, -1)))
        return b"".join(out)

    def _stream(self, t: int, sv: model.StreamValue) -> bytes:
        s = self._str
        nodes = sv.nodes
        if self.encodings == "server":
            th = self.thresholds
            nodes = plan_stream_nodes(sv, th.stream_node_max_bytes, th.stream_node_max_entries)
        out = [encode_length(len(nodes))]
        for node in nodes:
            key, lp = _stream_node(node)
            out.append(s(key))
            out.append(s(lp))
        out.append(encode_length(sv.length))
        out.append(encode_length(sv.last_id[0]) + encode_length(sv.last_id[1]))
        v2 = t != op.T_STREAM_LISTPACKS
        # Types 26/27 (Redis RDB 13/14) are v3 plus IDMP state (and NACK zones).
        v3 = t >= op.T_STREAM_LISTPACKS_3
        v4 = t >= op.T_STREAM_LISTPACKS_4
        v5 = t >= op.T_STREAM_LISTPACKS_5
        if v2:
            first = sv.first_id
            if first is None:
                live = next(sv.entries(), None)
                first = live.id if live is not None else (0, 0)
            maxdel = sv.max_deleted_id or (0, 0)
            added = sv.entries_added if sv.entries_added is not None else sv.length
            out.append(encode_length(first[0]) + encode_length(first[1]))
            out.append(encode_length(maxdel[0]) + encode_length(maxdel[1]))
            out.append(encode_length(added))
        out.append(encode_length(len(sv.groups)))
        for g in sv.groups:
            out.append(s(g.name))
            out.append(encode_length(g.last_id[0]) + encode_length(g.last_id[1]))
            if v2:
                er = g.entries_read
                # SCG_INVALID_ENTRIES_READ (-1) is saved as a 64-bit length of all ones.
                out.append(encode_length(UINT64_MAX if er is None or er < 0 else er))
            pel = g.pel
            if g.nacked and not v5:
                # NACKed entries belong to no consumer: older loaders require every PEL
                # entry to be owned, so they are left out (convert reports the loss).
                zone = set(g.nacked)
                pel = [p for p in pel if p.id not in zone]
            out.append(encode_length(len(pel)))
            for p in pel:
                out.append(_ID.pack(*p.id) + _I64.pack(p.delivery_time_ms) + encode_length(p.delivery_count))
            out.append(encode_length(len(g.consumers)))
            for c in g.consumers:
                out.append(s(c.name))
                out.append(_I64.pack(c.seen_time_ms))
                if v3:
                    at = c.active_time_ms
                    out.append(_I64.pack(at if at is not None else c.seen_time_ms))
                out.append(encode_length(len(c.pel)))
                out.append(b"".join(_ID.pack(*i) for i in c.pel))
            if v5:
                nacked = g.nacked
                if nacked is None:
                    # A value without NACK-zone data (another stream type, the engine):
                    # in a v5 group a PEL entry no consumer owns can only be a NACKed one
                    # (rdbLoadObject rejects it anywhere else).
                    owned = {i for c in g.consumers for i in c.pel}
                    nacked = [p.id for p in pel if p.id not in owned]
                out.append(encode_nack_zone(nacked))
        if v4:
            out.append(encode_idmp(sv.idmp, compress=self.compress))
        return b"".join(out)


# ---------------------------------------------------------------------------
# the file


class RDBWriter:
    """Write an RDB file to ``stream`` item by item (see the module docstring)."""

    def __init__(self, stream: BinaryIO, version: int = 12, dialect: str = "redis", *,
                 checksum: bool = True, compress: bool = True, encodings: str = "keep",
                 thresholds: Optional[dict] = None, source_dialect: Optional[str] = None) -> None:
        self.values = ValueEncoder(version, dialect, compress=compress, encodings=encodings,
                                   thresholds=thresholds, source_dialect=source_dialect)
        self.version = version
        self.dialect = dialect
        self.checksum = checksum
        # KEY_META (opcode 243) exists in Redis RDB 13+ only; convert reports the loss.
        self.key_meta = policy.has_key_meta(version, dialect)
        self._stream = stream
        self._crc = 0
        self._started = False
        self._done = False
        self.bytes_written = 0
        self.keys_written = 0

    # -- raw output -----------------------------------------------------------------
    def _w(self, data: bytes) -> None:
        if self._done:
            raise WriterError("the file is already finished (eof() was called)")
        self._stream.write(data)
        if self.checksum:
            self._crc = crc64(data, self._crc)
        self.bytes_written += len(data)

    def _begin(self) -> None:
        if not self._started:
            self.header()

    # -- file items -------------------------------------------------------------------
    def header(self) -> None:
        if self._started:
            raise WriterError("header already written")
        self._started = True
        self._w(header_bytes(self.version, self.dialect))

    def aux(self, key: bytes, value) -> None:
        """An AUX field (rdbSaveAuxField); an int value is saved as its decimal text."""
        if self.version < 7:
            return  # AUX fields arrived with RDB 7 (3.2); older loaders would fail on them
        self._begin()
        if isinstance(value, int):
            value = str(value).encode()
        self._w(bytes((op.OP_AUX,)) + self.values._str(_b(key)) + self.values._str(_b(value)))

    def standard_aux(self, *, redis_ver: bytes = b"7.0.15", ctime: Optional[int] = None,
                     used_mem: int = 0, aof_base: bool = False, extra: Iterable = ()) -> None:
        """The fields rdbSaveInfoAuxFields writes: redis-ver, redis-bits, ctime, used-mem,
        then aof-base (for an AOF base file), then any ``extra`` (key, value) pairs."""
        import time

        self.aux(b"redis-ver", redis_ver)
        self.aux(b"redis-bits", 64)
        self.aux(b"ctime", int(time.time()) if ctime is None else ctime)
        self.aux(b"used-mem", used_mem)
        if aof_base:
            self.aux(b"aof-base", 1)
        for k, v in extra:
            self.aux(k, v)

    def select_db(self, db: int, db_size: Optional[int] = None, expires_size: Optional[int] = None) -> None:
        self._begin()
        self._w(bytes((op.OP_SELECTDB,)) + encode_length(db))
        if db_size is not None:
            self.resize_db(db_size, expires_size or 0)

    def resize_db(self, db_size: int, expires_size: int) -> None:
        if self.version < 7:
            return
        self._begin()
        self._w(bytes((op.OP_RESIZEDB,)) + encode_length(db_size) + encode_length(expires_size))

    def slot_info(self, slot_id: int, slot_size: int, expires_slot_size: int) -> None:
        if self.version < 12 and self.dialect == "redis":
            return  # a sizing hint only Redis 7.4+ understands
        self._begin()
        self._w(bytes((op.OP_SLOT_INFO,)) + encode_length(slot_id) + encode_length(slot_size)
                + encode_length(expires_slot_size))

    def function(self, code) -> None:
        """A function library (FUNCTION2: the whole source as one string)."""
        if isinstance(code, model.Function):
            item = code
            code = item.code
            if item.name is not None and not code.startswith(b"#!"):
                # A 7.0 release-candidate library (FUNCTION_PRE_GA: name and engine stored
                # apart, which 7.0 GA refuses): FUNCTION2 wants them in the shebang line.
                engine = (item.engine or b"LUA").decode("ascii", "replace").lower()
                code = b"#!%s name=%s\n" % (engine.encode(), item.name) + code
        if self.version < 10:
            raise WriterError(f"functions need RDB version 10 or later (target {self.version})")
        self._begin()
        self._w(bytes((op.OP_FUNCTION2,)) + self.values._str(_b(code)))

    def module_aux(self, item: model.ModuleAux) -> None:
        if self.version < 9:
            raise WriterError(f"module aux data needs RDB version 9 or later (target {self.version})")
        if item.value.raw is None:
            raise WriterError("module aux data can only be copied from its raw bytes")
        self._begin()
        self._w(bytes((op.OP_MODULE_AUX,)) + bytes(item.value.raw))

    def opaque(self, item: model.Opaque) -> None:
        self._begin()
        self._w(bytes((item.opcode,)) + bytes(item.raw))

    def record(self, rec: model.Record) -> None:
        """One key: [EXPIRETIME_MS] [IDLE] [FREQ] type key value (rdbSaveKeyValuePair).

        A value given as an iterator (the reader's ``iterate=True``) of a plain
        collection kept in its own type (1-5: a count, then strings) is streamed to
        the output element by element, so a key of millions of members costs no
        memory; any other iterator is gathered into a list first."""
        self._begin()
        v = rec.value
        if v.__class__ is EncodedValue:
            if v.made_for is None or v.made_for == self.values.signature:
                self._w(self._key_head(rec, v.rdb_type) + v.body)
                self.keys_written += 1
                return
            raise ValueError(f"{rec.key!r}: an encoded value made for another encoder "
                             f"({v.made_for[:4]}) reached this writer ({self.values.signature[:4]})")
        if v is not None and not isinstance(v, (list, tuple, bytes, bytearray, model.StreamValue,
                                                model.ModuleValue, model.ArrayValue)):
            if self._streams_plain(rec):
                self._stream_plain(rec)
                return
            rec.value = list(v)
        t, body = self.values.encode(rec)
        self._w(self._key_head(rec, t) + body)
        self.keys_written += 1

    def write_encoded(self, data: bytes, keys: int = 0) -> None:
        """Key records already encoded for this target (the engine's compiled serializer)."""
        self._begin()
        self._w(data)
        self.keys_written += keys

    def _key_head(self, rec: model.Record, t: int) -> bytes:
        parts = []
        if rec.expire_ms is not None:
            parts.append(bytes((op.OP_EXPIRETIME_MS,)) + _I64.pack(rec.expire_ms))
        if self.version >= 8:  # LRU/LFU opcodes arrived with 4.0
            if rec.idle is not None:
                parts.append(bytes((op.OP_IDLE,)) + encode_length(rec.idle))
            if rec.freq is not None:
                parts.append(bytes((op.OP_FREQ, rec.freq & 0xFF)))
        if rec.key_meta and self.key_meta:
            # rdbSaveKeyValuePair: key metadata right before the type byte (RDB 13+).
            parts.append(encode_key_meta(rec.key_meta))
        parts.append(bytes((t,)))
        parts.append(self.values._str(rec.key))
        return b"".join(parts)

    _PLAIN = (op.T_LIST, op.T_SET, op.T_ZSET, op.T_HASH, op.T_ZSET_2)

    def _streams_plain(self, rec: model.Record) -> bool:
        return (self.values.encodings == "keep" and rec.rdb_type in self._PLAIN
                and rec.rdb_type in self.values.available and rec.size_hint is not None
                and not rec.field_expires)

    def _stream_plain(self, rec: model.Record) -> None:
        t = rec.rdb_type
        s = self.values._str
        buf = bytearray(self._key_head(rec, t))
        buf += encode_length(rec.size_hint)
        n = 0
        # Batches of elements (at most _STREAM_BATCH, and no more than about 1 MB of
        # element bytes, so huge elements are not gathered), each encoded by one
        # encode_strings loop.
        compress = self.values.compress
        pack = _F64.pack
        rw = self.values._rw
        batch: list = []
        size = 0
        for item in rec.value:
            batch.append(item)
            size += len(item) if t <= op.T_SET else len(item[0]) + (len(item[1]) if t == op.T_HASH else 8)
            if len(batch) >= _STREAM_BATCH or size >= 1 << 20:
                n += len(batch)
                self._encode_plain_batch(buf, t, batch, compress, pack, s, rw)
                batch = []
                size = 0
                if len(buf) >= 1 << 20:
                    self._w(bytes(buf))
                    buf.clear()
        if batch:
            n += len(batch)
            self._encode_plain_batch(buf, t, batch, compress, pack, s, rw)
        if n != rec.size_hint:
            raise WriterError(f"the value gave {n} elements, its count said {rec.size_hint}")
        self._w(bytes(buf))
        self.keys_written += 1

    @staticmethod
    def _encode_plain_batch(buf: bytearray, t: int, batch: list, compress: bool, pack, s, rw=None) -> None:
        if rw is not None and t != op.T_ZSET:
            if t == op.T_LIST or t == op.T_SET:
                out = _fast(rw.encode_strings, batch, compress)
            elif t == op.T_HASH:
                out = _fast(rw.encode_pairs, batch, False, compress)
            else:
                out = _fast(rw.encode_zset2, batch, False, compress)
            if out is not None:
                buf += out
                return
        if t == op.T_LIST or t == op.T_SET:
            buf += b"".join(encode_strings(batch, compress=compress))
        elif t == op.T_HASH:
            buf += b"".join(encode_strings([x for pair in batch for x in pair], compress=compress))
        elif t == op.T_ZSET_2:
            members = encode_strings([m for m, _ in batch], compress=compress)
            for m, (_, sc) in zip(members, batch):
                buf += m
                buf += pack(sc)
        else:
            for m, sc in batch:
                buf += s(m)
                buf += rdb_text_double(sc)

    def write(self, item) -> None:
        """Write any reader item (model.Header is taken as the header)."""
        if isinstance(item, model.Record):
            self.record(item)
        elif isinstance(item, model.Aux):
            self.aux(item.key, item.value)
        elif isinstance(item, model.SelectDB):
            self.select_db(item.db)
        elif isinstance(item, model.ResizeDB):
            self.resize_db(item.db_size, item.expires_size)
        elif isinstance(item, model.Function):
            self.function(item)
        elif isinstance(item, model.ModuleAux):
            self.module_aux(item)
        elif isinstance(item, model.SlotInfo):
            self.slot_info(item.slot_id, item.slot_size, item.expires_slot_size)
        elif isinstance(item, model.Opaque):
            self.opaque(item)
        elif isinstance(item, model.Header):
            self.header()
        elif isinstance(item, model.EOF):
            self.eof()
        else:
            raise TypeError(f"cannot write {type(item).__name__}")

    def eof(self) -> None:
        """EOF opcode and the CRC64 trailer (all zeros with checksum off, as rdbchecksum no)."""
        self._begin()
        self._w(bytes((op.OP_EOF,)))
        if self.version >= 5:
            crc = self._crc if self.checksum else 0
            self._stream.write(_U64.pack(crc))
            self.bytes_written += 8
        self._done = True


def _b(x) -> bytes:
    return x.encode() if isinstance(x, str) else bytes(x)


# ---------------------------------------------------------------------------
# DUMP payloads


def encode_payload(rec_or_value, version: int = 10, dialect: str = "redis", *,
                   key_type: Optional[str] = None, compress: bool = True,
                   encodings: str = "server", thresholds: Optional[dict] = None) -> bytes:
    """A DUMP payload (cluster.c createDumpPayload): type byte, value as in an RDB,
    the 2-byte little-endian RDB version, then the CRC64 of all that.

    Takes a model.Record (its value, type, field TTLs and, with ``encodings="keep"``,
    its rdb_type and layout) or a bare value with ``key_type``."""
    if isinstance(rec_or_value, model.Record):
        rec = rec_or_value
    else:
        if key_type is None:
            raise ValueError("key_type is needed with a bare value")
        rec = model.Record(db=0, key=b"", type=key_type, rdb_type=None, encoding="", offset=0,
                           value=rec_or_value)
    enc = ValueEncoder(version, dialect, compress=compress, encodings=encodings, thresholds=thresholds)
    t, body = enc.encode(rec)
    # createDumpPayload: key metadata (RDB 13+) leads the payload, before the type byte.
    meta = encode_key_meta(rec.key_meta) if rec.key_meta and policy.has_key_meta(version, dialect) else b""
    payload = meta + bytes((t,)) + body + struct.pack("<H", version)
    return payload + _U64.pack(crc64(payload))
