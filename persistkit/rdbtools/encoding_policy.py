"""Which RDB value type a key gets in a given target, and the limits that decide it.

Two questions live here, and nothing else:

* What can a target *express*? ``available_types(version, dialect)`` is the set of
  value types a loader of that RDB version accepts (rdb.h ``rdbIsObjectType`` of each
  release), so a writer never emits a type the target server would refuse.
* What would the target server *choose*? ``choose_type`` answers it from the
  encoding limits (``Thresholds``) the way the server's ``*TypeConvert`` /
  ``*TryConversion`` checks do, with defaults per version taken from the servers'
  own compiled-in defaults (config.c, confirmed by CONFIG GET on real servers of
  each version).

``keep`` mode keeps the source type whenever the target has it; when it does not,
the nearest type of the same family is taken (listpack -> ziplist, stream v3 -> v2 ->
v1, quicklist v2 -> quicklist, Redis 24/25 <-> Valkey 22), falling back to the
server's choice where no direct counterpart exists (a listpack set before 7.2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Optional

from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools import rdbtypes as _rt
from persistkit.kvencoding.numbers import canonical_int

REDIS = "redis"
VALKEY = "valkey"

# Families and field-TTL types: columns of the type table (rdbtypes).
FAMILY = _rt.families()
FIELD_TTL_TYPES = {REDIS: _rt.field_ttl_types(REDIS), VALKEY: _rt.field_ttl_types(VALKEY)}

# Named targets for ``convert --target``: (RDB version, dialect).
TARGETS = {
    "redis-6.2": (9, REDIS),
    "redis-7.0": (10, REDIS),
    "redis-7.2": (11, REDIS),
    "redis-7.4": (12, REDIS),
    "redis-8.0": (12, REDIS),
    "valkey-8": (11, VALKEY),
    "valkey-9": (80, VALKEY),
    "redis-8.6": (13, REDIS),
    "redis-8.8": (14, REDIS),
}

# 13 and 14: Redis 8.6 / 8.8, their layouts checked against files those servers wrote.
SUPPORTED_VERSIONS = (6, 7, 8, 9, 10, 11, 12, 13, 14, 80)


def check_target(version: int, dialect: str) -> None:
    if dialect not in (REDIS, VALKEY):
        raise ValueError(f"unknown dialect {dialect!r} (redis or valkey)")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"RDB version {version} cannot be written (supported: 6-14, 80)")
    if version == 80 and dialect != VALKEY:
        raise ValueError("RDB version 80 is Valkey's (VALKEY080): use dialect valkey")


@lru_cache(maxsize=64)
def available_types(version: int, dialect: str = REDIS) -> frozenset:
    """Value types a loader of ``version`` accepts (what a writer may emit): the rows of
    the type table with a writer and ``since <= version``."""
    return _rt.writable(version, dialect)


def has_key_meta(version: int, dialect: str) -> bool:
    """Key metadata (opcode 243 KEY_META) exists in Redis RDB 13+ only."""
    return dialect == REDIS and 13 <= version < 80


def has_array(version: int, dialect: str) -> bool:
    return dialect == REDIS and 14 <= version < 80


def has_field_ttls(version: int, dialect: str) -> bool:
    return (dialect == VALKEY and version >= 80) or (dialect == REDIS and version >= 12)


# ---------------------------------------------------------------------------
# thresholds


@dataclass(frozen=True)
class Thresholds:
    """The server's encoding limits (CONFIG names with '-' as '_')."""

    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    set_max_listpack_entries: int = 128
    set_max_listpack_value: int = 64
    list_max_listpack_size: int = -2
    list_compress_depth: int = 0
    stream_node_max_bytes: int = 4096
    stream_node_max_entries: int = 100
    # quicklist.c packed_threshold (DEBUG QUICKLIST-PACKED-THRESHOLD, default 1 GB):
    # from 7.0 an element this big gets a PLAIN node of its own.
    list_packed_threshold: int = 1 << 30

    @classmethod
    def names(cls) -> list[str]:
        return [f.name.replace("_", "-") for f in fields(cls)]

    def with_overrides(self, overrides: Optional[dict]) -> "Thresholds":
        """Apply CONFIG-style overrides; the older ``ziplist`` names are aliases."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        changes = {}
        for name, value in overrides.items():
            attr = str(name).replace("-", "_").replace("ziplist", "listpack")
            if attr not in known:
                raise ValueError(f"unknown encoding threshold {name!r} (known: {', '.join(self.names())})")
            changes[attr] = int(value)
        return replace(self, **changes)


def default_thresholds(version: int, dialect: str = REDIS) -> Thresholds:
    """Compiled-in defaults of the server that writes ``version`` (config.c).

    They have not changed between 2.8 and Valkey 9 for the limits used here
    (the corpus's CONFIG GET of 5.0-9.1 agrees); listpack sets only exist from 7.2,
    where ``set_max_listpack_*`` applies."""
    return Thresholds()


# ---------------------------------------------------------------------------
# choices


def is_intset_member(member: bytes) -> bool:
    # setTypeAdd -> string2ll: only canonical int64 text goes into an intset.
    return canonical_int(member) is not None


def _set_type(members: list, version: int, th: Thresholds) -> int:
    if len(members) <= th.set_max_intset_entries and all(is_intset_member(m) for m in members):
        return op.T_SET_INTSET
    if (version >= 11 and len(members) <= th.set_max_listpack_entries
            and all(len(m) <= th.set_max_listpack_value for m in members)):
        return op.T_SET_LISTPACK
    return op.T_SET


def _small_pairs(pairs, max_entries: int, max_value: int) -> bool:
    if len(pairs) > max_entries:
        return False
    for a, b in pairs:
        if len(a) > max_value or len(b) > max_value:
            return False
    return True


def _zset_type(pairs: list, version: int, th: Thresholds) -> int:
    small = len(pairs) <= th.zset_max_listpack_entries and all(
        len(m) <= th.zset_max_listpack_value for m, _ in pairs)
    if small:
        return op.T_ZSET_LISTPACK if version >= 10 else op.T_ZSET_ZIPLIST
    return op.T_ZSET_2 if version >= 8 else op.T_ZSET


def _hash_type(rec: model.Record, version: int, dialect: str, th: Thresholds) -> int:
    pairs = rec.value
    small = _small_pairs(pairs, th.hash_max_listpack_entries, th.hash_max_listpack_value)
    if rec.field_expires and has_field_ttls(version, dialect):
        if dialect == VALKEY:
            return op.T_VALKEY_HASH_2      # Valkey keeps volatile hashes as hashtables
        return op.T_HASH_LISTPACK_EX if small else op.T_HASH_METADATA
    if small:
        return op.T_HASH_LISTPACK if version >= 10 else op.T_HASH_ZIPLIST
    return op.T_HASH


def _list_type(version: int, values: list, th: Thresholds) -> int:
    if version >= 10:
        return op.T_LIST_QUICKLIST_2
    if version >= 7:
        return op.T_LIST_QUICKLIST
    # 2.8: one ziplist while small (list-max-ziplist-entries 512 / -value 64), else linked.
    if len(values) <= 512 and all(len(v) <= 64 for v in values):
        return op.T_LIST_ZIPLIST
    return op.T_LIST


def _stream_type(version: int, dialect: str = REDIS) -> int:
    if dialect == REDIS and 14 <= version < 80:
        return op.T_STREAM_LISTPACKS_5
    if dialect == REDIS and version == 13:
        return op.T_STREAM_LISTPACKS_4
    if version >= 11:
        return op.T_STREAM_LISTPACKS_3
    if version >= 10:
        return op.T_STREAM_LISTPACKS_2
    return op.T_STREAM_LISTPACKS


def server_type(rec: model.Record, version: int, dialect: str, th: Thresholds) -> int:
    """The value type the target server would save ``rec`` as (a decoded record)."""
    t = rec.type
    if t == model.STRING:
        return op.T_STRING
    if t == model.LIST:
        return _list_type(version, rec.value, th)
    if t == model.SET:
        return _set_type(rec.value, version, th)
    if t == model.ZSET:
        return _zset_type(rec.value, version, th)
    if t == model.HASH:
        return _hash_type(rec, version, dialect, th)
    if t == model.STREAM:
        return _stream_type(version, dialect)
    if t == model.MODULE:
        return op.T_MODULE_2
    if t == model.ARRAY:
        if not has_array(version, dialect):
            raise ValueError(f"array values need Redis RDB 14 (target {version})")
        return op.T_ARRAY
    raise ValueError(f"unknown key type {t!r}")


def source_type_has_field_ttls(rdb_type: int, source_dialect: str) -> bool:
    return rdb_type in FIELD_TTL_TYPES.get(source_dialect, ())


def keep_type(rec: model.Record, version: int, dialect: str, th: Thresholds,
              source_dialect: Optional[str] = None) -> int:
    """The record's own type when the target has it, else its nearest counterpart."""
    source_dialect = source_dialect or dialect
    avail = available_types(version, dialect)
    rt = rec.rdb_type
    # The same byte must mean the same type in both dialects (22 does not); Redis's 22/23
    # (7.4 release candidates) have no writer, so they are never in ``avail``.
    keep_ok = rt in avail and _rt.same_meaning(rt, source_dialect, dialect)
    if keep_ok:
        return rt
    fam = rec.type
    if fam == model.LIST:
        if rt == op.T_LIST_QUICKLIST_2 and op.T_LIST_QUICKLIST in avail:
            return op.T_LIST_QUICKLIST
        return _list_type(version, rec.value, th)
    if fam == model.ZSET:
        if rt == op.T_ZSET_LISTPACK:
            return op.T_ZSET_ZIPLIST
        if rt == op.T_ZSET_2:
            return op.T_ZSET
        return _zset_type(rec.value, version, th)
    if fam == model.HASH:
        ttl_source = source_type_has_field_ttls(rt, source_dialect)
        if ttl_source and rec.field_expires and has_field_ttls(version, dialect):
            if dialect == VALKEY:
                return op.T_VALKEY_HASH_2
            # Valkey keeps every volatile hash as a hashtable (22): the Redis
            # counterpart of a hashtable with TTLs is 24; 23 (pre-GA listpack) -> 25.
            return op.T_HASH_LISTPACK_EX if rt == 23 or rt == op.T_HASH_LISTPACK_EX else op.T_HASH_METADATA
        if rt in (op.T_HASH_LISTPACK, op.T_HASH_LISTPACK_EX, 23) and op.T_HASH_ZIPLIST in avail:
            return op.T_HASH_LISTPACK if op.T_HASH_LISTPACK in avail else op.T_HASH_ZIPLIST
        if rt in (op.T_HASH_METADATA, 22) or ttl_source:
            return op.T_HASH
        return _hash_type(rec, version, dialect, th)
    if fam == model.SET:
        return _set_type(rec.value, version, th)
    if fam == model.STREAM:
        return _stream_type(version, dialect)
    if fam == model.STRING:
        return op.T_STRING
    if fam == model.ARRAY:
        return server_type(rec, version, dialect, th)
    raise ValueError(f"{rec.type} values cannot be written for RDB version {version}")
