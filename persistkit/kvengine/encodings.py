"""Which encoding a real Redis 7.0 would use for a value (OBJECT ENCODING, RDB type).

Redis converts a value to its large encoding when a limit is crossed and never back
until a reload; judging from the current content gives what a freshly loaded server
would answer, which is what matters for files and replays.
"""

from __future__ import annotations

from collections import deque

from .numbers import parse_int
from .values import Hash, Stream, ZSet


# Encoding limits that decide OBJECT ENCODING and the RDB type of a value (Redis 7.0 defaults).
DEFAULT_LIMITS = {
    "hash-max-listpack-entries": 128,
    "hash-max-listpack-value": 64,
    "set-max-intset-entries": 512,
    "set-max-listpack-entries": 128,
    "set-max-listpack-value": 64,
    "zset-max-listpack-entries": 128,
    "zset-max-listpack-value": 64,
    "list-max-listpack-size": -2,
    "list-compress-depth": 0,
    "stream-node-max-bytes": 4096,
    "stream-node-max-entries": 100,
}

# RDB type numbers (redis/src/rdb.h)
RDB_STRING = 0
RDB_SET = 2
RDB_ZSET_2 = 5
RDB_HASH = 4
RDB_SET_INTSET = 11
RDB_HASH_LISTPACK = 16
RDB_ZSET_LISTPACK = 17
RDB_LIST_QUICKLIST_2 = 18
RDB_STREAM_LISTPACKS_2 = 19
RDB_SET_LISTPACK = 20
RDB_STREAM_LISTPACKS_3 = 21
RDB_HASH_METADATA = 24
RDB_HASH_LISTPACK_EX = 25


def string_encoding(v: bytes) -> str:
    if len(v) <= 20 and parse_int(v) is not None:
        return "int"
    return "embstr" if len(v) <= 44 else "raw"


def encoding_of(value, limits: dict, rdb_version: int = 10) -> tuple[str, int]:
    """(OBJECT ENCODING name, RDB type) for ``value``."""
    t = type(value)
    if t is bytes:
        return string_encoding(value), RDB_STRING
    if t is deque:
        if rdb_version >= 11:
            size = limits["list-max-listpack-size"]
            small = (len(value) <= size) if size > 0 else \
                sum(len(x) + 11 for x in value) <= 4096 * (1 << (-size - 1))
            return ("listpack" if small else "quicklist"), RDB_LIST_QUICKLIST_2
        return "quicklist", RDB_LIST_QUICKLIST_2
    if t is Hash:
        small = (len(value) <= limits["hash-max-listpack-entries"]
                 and all(len(f) <= limits["hash-max-listpack-value"]
                         and len(v) <= limits["hash-max-listpack-value"] for f, v in value.items()))
        if value.fexp:
            return ("listpackex", RDB_HASH_LISTPACK_EX) if small else ("hashtable", RDB_HASH_METADATA)
        return ("listpack", RDB_HASH_LISTPACK) if small else ("hashtable", RDB_HASH)
    if t is set:
        if len(value) <= limits["set-max-intset-entries"] and all(parse_int(m) is not None for m in value):
            return "intset", RDB_SET_INTSET
        if (rdb_version >= 11 and len(value) <= limits["set-max-listpack-entries"]
                and all(len(m) <= limits["set-max-listpack-value"] for m in value)):
            return "listpack", RDB_SET_LISTPACK
        return "hashtable", RDB_SET
    if t is ZSet:
        if len(value) <= limits["zset-max-listpack-entries"] and all(
                len(m) <= limits["zset-max-listpack-value"] for m in value.scores):
            return "listpack", RDB_ZSET_LISTPACK
        return "skiplist", RDB_ZSET_2
    if t is Stream:
        return "stream", (RDB_STREAM_LISTPACKS_3 if rdb_version >= 11 else RDB_STREAM_LISTPACKS_2)
    raise TypeError(f"not a keyspace value: {t.__name__}")


def serializer_limits(th, version: int, compress: bool) -> tuple:
    """The limits tuple of the compiled serializer (_accel/engine_save: write_db,
    encode_value) for thresholds ``th`` (rdbtools.encoding_policy), in its order."""
    return (th.hash_max_listpack_entries, th.hash_max_listpack_value, th.set_max_intset_entries,
            th.set_max_listpack_entries, th.set_max_listpack_value, th.zset_max_listpack_entries,
            th.zset_max_listpack_value, th.list_max_listpack_size, version, compress)
