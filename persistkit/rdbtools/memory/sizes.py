"""Allocation facts of a 64-bit Redis 7.0 built with jemalloc (the Debian/Ubuntu and
official builds): structure sizes, jemalloc's size classes, sds headers, listpack entry
sizes and how a dict's bucket array grows while a key is loaded.

Every number here is read from the Redis 7.0 source (server.h, sds.h/sds.c, dict.h/dict.c,
quicklist.h, t_zset.c, stream.h, object.c) and jemalloc 5.x's size-class layout; the
estimator (``estimate``) combines them the way ``objectComputeSize`` (object.c) does for
``MEMORY USAGE key SAMPLES 0``.
"""

from __future__ import annotations

from persistkit.kvencoding.listpack import entry_size as lp_entry_size  # noqa: F401  (re-exported)
from persistkit.kvencoding.numbers import zset_listpack_score

# server.h / dict.h / quicklist.h / t_zset.c / stream.h, 64-bit.
ROBJ = 16                # struct redisObject: type/encoding/lru bitfields, refcount, ptr
DICT_ENTRY = 24          # struct dictEntry: key, v, next (no metadata outside cluster mode)
DICT = 56                # struct dict: type, ht_table[2], ht_used[2], rehashidx, pauserehash, ht_size_exp[2]
POINTER = 8
QUICKLIST = 40           # struct quicklist: head, tail, count, len, fill/compress/bookmark bitfields
QUICKLIST_NODE = 40      # struct quicklistNode: prev, next, entry, sz, count/encoding/... bitfields
ZSET = 16                # struct zset: dict*, zskiplist*
ZSKIPLIST = 32           # struct zskiplist: header, tail, length, level
ZSKIPLIST_MAXLEVEL = 32
ZSKIPLIST_P = 0.25
STREAM = 80              # struct stream (7.0): rax*, length, last_id, first_id, max_deleted_entry_id, entries_added, cgroups
STREAM_CG = 40           # struct streamCG: last_id, entries_read, pel, consumers
STREAM_CONSUMER = 24     # struct streamConsumer (7.0): seen_time, name, pel
STREAM_NACK = 24         # struct streamNACK: delivery_time, delivery_count, consumer
STREAM_ID = 16
RAX_NODE = 4             # struct raxNode header (bitfields)
RAX_NODE_EXTRA = 8 * 30  # streamRadixTreeMemoryUsage's fixed per-node overhead (sizeof(long)*30)
LISTPACK_EMPTY = 7       # 6-byte header + end byte
INTSET_HEADER = 8        # encoding + length

LIST_NODE_LIMIT = 8192   # list-max-listpack-size -2: optimization_level[1] (quicklist.c)
QUICKLIST_SIZE_ESTIMATE_OVERHEAD = 8
LARGE_ELEMENT = 1 << 30  # quicklist packed_threshold: bigger elements get a PLAIN node
LISTPACK_SAFETY = 1 << 30  # LISTPACK_MAX_SAFETY_SIZE (lpSafeToAdd)
OBJ_ENCODING_EMBSTR_SIZE_LIMIT = 44
DICT_HT_INITIAL_SIZE = 4
EMBSTR_OVERHEAD = ROBJ + 3 + 1   # robj + sdshdr8 + terminator in one allocation


class Thresholds:
    """The loading server's encoding limits. Defaults: the values compiled into 7.0
    (config.c), which a server started without a config file uses; the redis.conf shipped
    with Redis sets hash-max-listpack-entries 128 instead of 512."""

    NAMES = ("hash-max-listpack-entries", "hash-max-listpack-value", "set-max-intset-entries",
             "zset-max-listpack-entries", "zset-max-listpack-value")
    # Redis 6 spellings, accepted as aliases (config.c)
    ALIASES = {"hash-max-ziplist-entries": "hash-max-listpack-entries",
               "hash-max-ziplist-value": "hash-max-listpack-value",
               "zset-max-ziplist-entries": "zset-max-listpack-entries",
               "zset-max-ziplist-value": "zset-max-listpack-value"}

    __slots__ = ("hash_entries", "hash_value", "set_intset_entries", "zset_entries", "zset_value")

    def __init__(self, **overrides: int) -> None:
        self.hash_entries = 512
        self.hash_value = 64
        self.set_intset_entries = 512
        self.zset_entries = 128
        self.zset_value = 64
        for name, value in overrides.items():
            self.set(name, value)

    def set(self, name: str, value: int) -> None:
        name = self.ALIASES.get(name, name)
        if name not in self.NAMES:
            raise ValueError(f"unknown threshold {name!r} (known: {', '.join(self.NAMES)})")
        if value < 0:
            raise ValueError(f"threshold {name} must not be negative")
        attr = {"hash-max-listpack-entries": "hash_entries", "hash-max-listpack-value": "hash_value",
                "set-max-intset-entries": "set_intset_entries",
                "zset-max-listpack-entries": "zset_entries",
                "zset-max-listpack-value": "zset_value"}[name]
        # rdbLoadObject caps set-max-intset-entries at 2^30
        setattr(self, attr, min(value, 1 << 30) if attr == "set_intset_entries" else value)

    def as_dict(self) -> dict:
        return {"hash-max-listpack-entries": self.hash_entries,
                "hash-max-listpack-value": self.hash_value,
                "set-max-intset-entries": self.set_intset_entries,
                "zset-max-listpack-entries": self.zset_entries,
                "zset-max-listpack-value": self.zset_value}

    def as_tuple(self) -> tuple:
        return (self.hash_entries, self.hash_value, self.set_intset_entries, self.zset_entries,
                self.zset_value)


DEFAULT_THRESHOLDS = Thresholds()


def jemalloc_size(n: int) -> int:
    """The usable size jemalloc 5 (4 KiB pages, 16-byte quantum) gives a request of
    ``n`` bytes: 8, then multiples of 16 up to 128, then four classes per doubling."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    step = 1 << ((n - 1).bit_length() - 3)
    return (n + step - 1) & ~(step - 1)


def sds_header(n: int) -> int:
    """Header bytes of an sds string of length ``n`` (sdsReqType; an empty string gets
    type 8, see _sdsnewlen)."""
    if n < 32:
        return 1 if n else 3
    if n < 256:
        return 3
    if n < 65536:
        return 5
    if n < 1 << 32:
        return 9
    return 17


def sds_alloc(n: int) -> int:
    """sdsZmallocSize of a freshly made sds of length ``n`` (header + bytes + NUL)."""
    return jemalloc_size(sds_header(n) + n + 1)


def string_value(n: int, is_int: bool) -> tuple[int, str]:
    """Bytes and OBJECT ENCODING of a string value of ``n`` bytes as rdbLoadObject +
    tryObjectEncoding leave it: ``int`` (the robj only, shared or not), ``embstr`` (robj
    and sds in one allocation), or ``raw`` (robj + its own sds)."""
    if is_int:
        return ROBJ, "int"
    if n <= OBJ_ENCODING_EMBSTR_SIZE_LIMIT:
        return jemalloc_size(EMBSTR_OVERHEAD + n), "embstr"
    return ROBJ + sds_alloc(n), "raw"


def int_entry_size(v: int) -> int:
    """Bytes of a listpack integer entry holding ``v`` (encoding, value and backlen)."""
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -2147483648 <= v <= 2147483647:
        return 6
    return 10


def zset_score_entry_size(score: float) -> int:
    """Bytes of the listpack entry a 7.0 server stores for a score (zzlInsertAt:
    double2ll first, else d2string's %.17g text)."""
    s = zset_listpack_score(score, "printf", int_first=True)
    if s.__class__ is int:
        return int_entry_size(s)
    return lp_entry_size(s)


def next_power(n: int) -> int:
    """_dictNextExp: the bucket count a dict expanded for ``n`` entries gets (at least 4)."""
    if n <= DICT_HT_INITIAL_SIZE:
        return DICT_HT_INITIAL_SIZE
    return 1 << (n - 1).bit_length()


def _skiplist_node_mean() -> float:
    """Mean zmalloc_size of a zskiplistNode: 24 bytes + 16 per level, the level drawn by
    zslRandomLevel (P = 0.25 per extra level, at most 32)."""
    mean = 0.0
    p_level = 1.0 - ZSKIPLIST_P
    for level in range(1, ZSKIPLIST_MAXLEVEL):
        mean += p_level * jemalloc_size(24 + 16 * level)
        p_level *= ZSKIPLIST_P
    # whatever probability is left lands on the maximum level
    mean += (ZSKIPLIST_P ** (ZSKIPLIST_MAXLEVEL - 1)) * jemalloc_size(24 + 16 * ZSKIPLIST_MAXLEVEL)
    return mean


SKIPLIST_NODE_MEAN = _skiplist_node_mean()
SKIPLIST_HEADER = jemalloc_size(24 + 16 * ZSKIPLIST_MAXLEVEL)


class DictModel:
    """How many buckets a dict holds after a sequence of dictExpand / dictAdd calls
    (dict.c 7.0), including an incremental rehash still in progress at the end.

    A rehash moves one non-empty bucket per dictAdd (_dictRehashStep); which buckets are
    empty depends on the server's random hash seed, so the count of non-empty buckets of
    the old table is its expected value for that many entries. Loading presizes most
    dicts (dictTryExpand to the element count), so the approximation only matters for
    small collections converted half-way.
    """

    __slots__ = ("size0", "used0", "size1", "used1", "steps_left")

    def __init__(self) -> None:
        self.size0 = 0
        self.used0 = 0
        self.size1 = 0
        self.used1 = 0
        self.steps_left = 0

    def expand(self, n: int) -> None:
        if self.size1 or self.used0 > n:
            return
        size = next_power(n)
        if size == self.size0:
            return
        if self.size0 == 0:
            self.size0 = size
            return
        self.size1 = size
        s = self.size0
        self.steps_left = int(round(s * (1.0 - (1.0 - 1.0 / s) ** self.used0)))

    def add(self) -> None:
        if self.size1:
            self.steps_left -= 1
            if self.steps_left <= 0 or self.used0 == 0:
                self._finish()
        if not self.size1:
            if self.size0 == 0:
                self.expand(DICT_HT_INITIAL_SIZE)
            elif self.used0 >= self.size0:
                self.expand(self.used0 + 1)
                if self.size1 and self.used0 == 0:
                    self._finish()
        if self.size1:
            self.used1 += 1
        else:
            self.used0 += 1

    def add_many(self, n: int) -> None:
        for _ in range(n):
            self.add()

    def _finish(self) -> None:
        self.size0 = self.size1
        self.used0 += self.used1
        self.size1 = 0
        self.used1 = 0
        self.steps_left = 0

    @property
    def slots(self) -> int:
        return self.size0 + self.size1


def presized_slots(n: int) -> int:
    """Buckets of a dict presized for its ``n`` entries before they are added."""
    return next_power(n)


def grown_slots(n: int) -> int:
    """Buckets of a dict that was not presized and got ``n`` entries one by one."""
    d = DictModel()
    d.add_many(n)
    return d.slots


def mixed_set_slots(ints_before: int, total: int, count: int) -> int:
    """Buckets of a plain set (RDB_TYPE_SET) of ``total`` members that was an intset until
    member ``ints_before`` (the first non-integer): setTypeConvert presizes for the
    integers so far, rdbLoadObject then dictTryExpand(total), and every member from the
    first non-integer on is added (``count`` members in all)."""
    d = DictModel()
    d.expand(ints_before)
    d.add_many(ints_before)
    d.expand(total)
    d.add_many(count - ints_before)
    return d.slots


def converted_hash_slots(pairs_before: int, total: int, count: int) -> int:
    """Buckets of a plain hash (RDB_TYPE_HASH) of ``total`` pairs that was a listpack until
    pair ``pairs_before`` (the first too long for a listpack): hashTypeConvertListpack
    presizes for the pairs so far, that pair is added, then dictTryExpand(pairs still to
    load) when above 4, then the rest (``count`` pairs in all)."""
    d = DictModel()
    d.expand(pairs_before)
    d.add_many(pairs_before)
    d.add()
    left = total - pairs_before - 1
    if left > DICT_HT_INITIAL_SIZE:
        d.expand(left)
    d.add_many(count - pairs_before - 1)
    return d.slots


def rax_nodes(keys: list[bytes]) -> int:
    """Nodes of a Redis rax holding ``keys`` (distinct, equal length, inserted only):
    the root, every branching point, every child of a branching point and every key's
    end node (rax.c splits compressed nodes exactly there)."""
    if not keys:
        return 1
    keys = sorted(keys)
    nodes = {b""}
    for a, b in zip(keys, keys[1:]):
        lcp = 0
        m = min(len(a), len(b))
        while lcp < m and a[lcp] == b[lcp]:
            lcp += 1
        nodes.add(a[:lcp])
        nodes.add(a[:lcp + 1])
        nodes.add(b[:lcp + 1])
    nodes.update(keys)
    return len(nodes)


def rax_memory(numele: int, numnodes: int) -> int:
    """streamRadixTreeMemoryUsage (object.c)."""
    return numele * STREAM_ID + numnodes * (RAX_NODE + RAX_NODE_EXTRA)


def float_total(base: int, elesize: int, samples: int, count: int) -> int:
    """``asize += (double)elesize/samples*count`` with size_t truncation, as
    objectComputeSize sums sampled elements (SAMPLES 0 samples all of them)."""
    if not samples:
        return base
    return int(base + elesize / samples * count)
