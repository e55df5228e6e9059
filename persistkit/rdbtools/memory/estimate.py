"""Per-key memory estimate: what a Redis 7.0 server loading the snapshot would hold.

The reference (pure-Python) estimator: it takes a ``model.Record`` from
``RDBReader(iterate=True)`` and consumes its value once. The loading server, not the
writer, decides the encoding (rdb.c rdbLoadObject with 7.0's default thresholds): a
small type-4 hash becomes a listpack, a ziplist becomes a listpack, a set of integers an
intset, a big listpack a hashtable. Sizes follow object.c objectComputeSize, which is
what ``MEMORY USAGE key SAMPLES 0`` answers, plus the key's sds and its dictEntry
(memoryCommand); ``size`` adds the dictEntry of the expires dict for keys with a TTL.

A listpack's size is computed from its elements (7 header/end bytes plus each entry as
lpAppend encodes it): for listpacks a server wrote this is the stored blob's length, and
for ziplists converted on load it is the listpack the server builds. Stream listpacks are
the stored node blobs.

Rows are tuples (see ``ROW_FIELDS``) so the compiled scanner can produce the same ones.
"""

from __future__ import annotations

from typing import Optional

from persistkit.kvencoding.listpack import canonical_int
from persistkit.kvencoding.streamnode import encode_stream_node
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools.memory import sizes as S

ROW_FIELDS = ("db", "key", "type", "encoding", "usage", "size", "elements", "largest",
              "expire_ms", "stored")
DB, KEY, TYPE, ENCODING, USAGE, SIZE, ELEMENTS, LARGEST, EXPIRE, STORED = range(10)

_jem = S.jemalloc_size
_sds = S.sds_alloc
_lpe = S.lp_entry_size


def key_overhead(key: bytes) -> int:
    """memoryCommand's additions to objectComputeSize: the key's sds and its dictEntry."""
    return _sds(len(key)) + S.DICT_ENTRY


def make_row(rec: model.Record, value_bytes: int, encoding: str, elements: int,
             largest: int) -> list:
    usage = value_bytes + key_overhead(rec.key)
    size = usage + (S.DICT_ENTRY if rec.expire_ms is not None else 0)
    return [rec.db, rec.key, rec.type, encoding, usage, size, elements, largest,
            rec.expire_ms, 0]


# ---------------------------------------------------------------------------
# per type; each returns (value bytes, encoding, elements, largest) or None for a
# collection the server would skip as empty


def _string(rec: model.Record, th: S.Thresholds):
    v = rec.value
    n = len(v)
    is_int = rec.encoding == "int"
    if not is_int and n <= 20 and v.__class__ is bytes:
        is_int = canonical_int(v) is not None
    b, enc = S.string_value(n, is_int)
    return b, enc, n, n


def _hashtable(base: int, elesize: int, n: int) -> int:
    return S.float_total(base, elesize, n, n)


def _set_hashtable(members_sds: int, n: int, slots: int) -> int:
    return _hashtable(S.ROBJ + S.DICT + S.POINTER * slots, members_sds + n * S.DICT_ENTRY, n)


def _list(rec: model.Record, th: S.Thresholds):
    t = rec.rdb_type
    nodes_sz = 0   # sum of (quicklistNode + zmalloc_size(listpack)) over nodes
    n_nodes = 0
    count = 0
    largest = 0
    if t in (op.T_LIST, op.T_LIST_ZIPLIST):
        # quicklistPushTail with fill -2: a node takes an element while its listpack
        # plus the element plus 8 stays within 8 KiB (_quicklistNodeAllowInsert).
        cur = 0  # current node's listpack bytes, 0 = no node yet
        for e in rec.value:
            n = len(e)
            count += 1
            if n > largest:
                largest = n
            if n >= S.LARGE_ELEMENT:
                if cur:
                    nodes_sz += S.QUICKLIST_NODE + _jem(cur)
                nodes_sz += S.QUICKLIST_NODE + _jem(n)
                n_nodes += 1
                cur = 0
                continue
            es = _lpe(e)
            if cur and cur + n + S.QUICKLIST_SIZE_ESTIMATE_OVERHEAD <= S.LIST_NODE_LIMIT:
                cur += es
            else:
                if cur:
                    nodes_sz += S.QUICKLIST_NODE + _jem(cur)
                n_nodes += 1
                cur = S.LISTPACK_EMPTY + es
        if cur:
            nodes_sz += S.QUICKLIST_NODE + _jem(cur)
    else:
        # Stored nodes are kept as nodes: a listpack as loaded, a ziplist converted to a
        # listpack and shrunk to fit; empty ones are dropped (rdbLoadObject).
        nodes = rec.layout["nodes"]
        idx = 0
        left = 0
        cur = 0
        plain = False
        for e in rec.value:
            if left == 0:
                if cur:
                    nodes_sz += S.QUICKLIST_NODE + _jem(cur)
                    n_nodes += 1
                while left == 0:
                    node = nodes[idx]
                    idx += 1
                    left = node["count"]
                plain = node["container"] == "plain"
                cur = 0 if plain else S.LISTPACK_EMPTY
            n = len(e)
            count += 1
            if n > largest:
                largest = n
            cur += n if plain else _lpe(e)
            left -= 1
        if count:
            nodes_sz += S.QUICKLIST_NODE + _jem(cur)
            n_nodes += 1
    if not count:
        return None
    return S.float_total(S.ROBJ + S.QUICKLIST, nodes_sz, n_nodes, n_nodes), "quicklist", count, largest


def _set(rec: model.Record, th: S.Thresholds):
    t = rec.rdb_type
    if t == op.T_SET_INTSET:
        width = rec.layout.get("intset_width", 2) if rec.layout else 2
        count = 0
        largest = 0
        members_sds = 0
        for e in rec.value:
            n = len(e)
            count += 1
            if n > largest:
                largest = n
            members_sds += _sds(n)
        if not count:
            return None
        if count > th.set_intset_entries:
            return _set_hashtable(members_sds, count, S.next_power(count)), "hashtable", count, largest
        return S.ROBJ + _jem(S.INTSET_HEADER + count * width), "intset", count, largest
    # RDB_TYPE_SET (and the 7.2+ listpack set, loaded as a 7.0 server loads a plain set)
    total = rec.size_hint or 0
    presized = total > th.set_intset_entries
    converted_at = -1   # members before the first non-integer, once there is one
    width = 2
    count = 0
    largest = 0
    members_sds = 0
    for e in rec.value:
        n = len(e)
        if n > largest:
            largest = n
        members_sds += _sds(n)
        if not presized and converted_at < 0:
            v = canonical_int(e) if n <= 20 else None
            if v is not None:
                w = 2 if -32768 <= v <= 32767 else 4 if -2147483648 <= v <= 2147483647 else 8
                if w > width:
                    width = w
            else:
                converted_at = count
        count += 1
    if not count:
        return None
    if presized:
        return _set_hashtable(members_sds, count, S.next_power(count)), "hashtable", count, largest
    if converted_at < 0:
        return S.ROBJ + _jem(S.INTSET_HEADER + count * width), "intset", count, largest
    slots = S.mixed_set_slots(converted_at, total, count)
    return _set_hashtable(members_sds, count, slots), "hashtable", count, largest


def _skiplist(members_sds: int, n: int, slots: int) -> int:
    base = (S.ROBJ + S.ZSET + S.ZSKIPLIST + S.DICT + S.POINTER * slots + S.SKIPLIST_HEADER)
    elesize = (members_sds + n * S.DICT_ENTRY) + n * S.SKIPLIST_NODE_MEAN
    return int(base + elesize / n * n)


def _zset(rec: model.Record, th: S.Thresholds):
    t = rec.rdb_type
    count = 0
    largest = 0
    members_sds = 0
    lp = S.LISTPACK_EMPTY
    total_len = 0
    for m, score in rec.value:
        n = len(m)
        count += 1
        total_len += n
        if n > largest:
            largest = n
        members_sds += _sds(n)
        lp += _lpe(m) + S.zset_score_entry_size(score)
    if not count:
        return None
    if t in (op.T_ZSET, op.T_ZSET_2):
        # loaded into a presized skiplist, converted to a listpack after loading when small
        if (count <= th.zset_entries and largest <= th.zset_value
                and total_len <= S.LISTPACK_SAFETY):
            return S.ROBJ + _jem(lp), "listpack", count, largest
        return _skiplist(members_sds, count, S.next_power(count)), "skiplist", count, largest
    # ziplist / listpack: kept when small (entry count only), else zsetConvert, whose
    # dict is not presized
    if count > th.zset_entries:
        return _skiplist(members_sds, count, S.grown_slots(count)), "skiplist", count, largest
    return S.ROBJ + _jem(lp), "listpack", count, largest


def _hash_table(pairs_sds: int, n: int, slots: int) -> int:
    return _hashtable(S.ROBJ + S.DICT + S.POINTER * slots, pairs_sds + n * S.DICT_ENTRY, n)


# 22 is Redis 7.4's pre-GA hashtable with TTLs and Valkey 9's RDB_TYPE_HASH_2: both plain
_PLAIN_HASHES = (op.T_HASH, op.T_HASH_METADATA, op.T_HASH_METADATA_PRE_GA)


def _hash(rec: model.Record, th: S.Thresholds):
    t = rec.rdb_type
    count = 0
    largest = 0
    pairs_sds = 0
    lp = S.LISTPACK_EMPTY
    if t in _PLAIN_HASHES:
        # RDB_TYPE_HASH: a listpack while the pairs stay small, else a hashtable
        # (also the field-TTL hashtables of Redis 7.4 / Valkey 9, TTLs not counted)
        total = rec.size_hint or 0
        converted_at = -1   # pairs before the first one too long for a listpack
        presized = total > th.hash_entries
        for f, v in rec.value:
            nf = len(f)
            nv = len(v)
            if nf > largest:
                largest = nf
            if nv > largest:
                largest = nv
            pairs_sds += _sds(nf) + _sds(nv)
            if not presized and converted_at < 0:
                if (nf > th.hash_value or nv > th.hash_value
                        or lp + nf + nv > S.LISTPACK_SAFETY):
                    converted_at = count
                else:
                    lp += _lpe(f) + _lpe(v)
            count += 1
        if not count:
            return None
        if presized:
            return _hash_table(pairs_sds, count, S.next_power(count)), "hashtable", count, largest
        if converted_at < 0:
            return S.ROBJ + _jem(lp), "listpack", count, largest
        slots = S.converted_hash_slots(converted_at, total, count)
        return _hash_table(pairs_sds, count, slots), "hashtable", count, largest
    # zipmap / ziplist / listpack (also the field-TTL forms, TTLs not counted): a
    # listpack unless there are too many pairs (zipmaps also check the lengths)
    for f, v in rec.value:
        nf = len(f)
        nv = len(v)
        if nf > largest:
            largest = nf
        if nv > largest:
            largest = nv
        pairs_sds += _sds(nf) + _sds(nv)
        lp += _lpe(f) + _lpe(v)
        count += 1
    if not count:
        return None
    if count > th.hash_entries or (
            t == op.T_HASH_ZIPMAP and largest > th.hash_value):
        return _hash_table(pairs_sds, count, S.next_power(count)), "hashtable", count, largest
    return S.ROBJ + _jem(lp), "listpack", count, largest


def _stream(rec: model.Record, th: S.Thresholds):
    sv: model.StreamValue = rec.value
    masters = []
    lp_total = 0
    largest = 0
    for node in sv.nodes:
        master, lp = encode_stream_node(node)
        masters.append(master)
        lp_total += _jem(len(lp))
        if len(lp) > largest:
            largest = len(lp)
    size = S.ROBJ + S.STREAM + S.rax_memory(len(masters), S.rax_nodes(masters)) + lp_total
    for g in sv.groups:
        pel = [_sid(p.id) for p in g.pel]
        size += S.STREAM_CG + S.rax_memory(len(pel), S.rax_nodes(pel)) + S.STREAM_NACK * len(pel)
        for c in g.consumers:
            cpel = [_sid(i) for i in c.pel]
            size += S.STREAM_CONSUMER + len(c.name) + S.rax_memory(len(cpel), S.rax_nodes(cpel))
    return size, "stream", sv.length, largest


def _sid(sid) -> bytes:
    return sid[0].to_bytes(8, "big") + sid[1].to_bytes(8, "big")


def _module(rec: model.Record, th: S.Thresholds):
    # A module reports its own usage (moduleGetMemUsage); without the module, count the
    # serialized value, which is what it has to hold at least.
    n = rec.size_hint or 0
    return S.ROBJ + n, "raw", 1, n


def _other(rec: model.Record, th: S.Thresholds):
    # A type a 7.0 server does not have (e.g. Redis 8.8 arrays): its stored size.
    n = rec.size_hint or 0
    return S.ROBJ + n, "raw", n, 0


_BY_TYPE = {model.STRING: _string, model.LIST: _list, model.SET: _set, model.ZSET: _zset,
            model.HASH: _hash, model.STREAM: _stream, model.MODULE: _module}


def estimate(rec: model.Record, thresholds: S.Thresholds = S.DEFAULT_THRESHOLDS) -> Optional[list]:
    """The memory row of one record (its value is consumed), or None for a collection the
    server would drop as empty."""
    got = _BY_TYPE.get(rec.type, _other)(rec, thresholds)
    if got is None:
        return None
    value_bytes, encoding, elements, largest = got
    return make_row(rec, value_bytes, encoding, elements, largest)
