"""The RDB value-type table: one row per type byte, per dialect.

Every fact about an RDB value type lives in its row, and every module that needs one
reads it here: ``opcodes`` (numbers and names), the reader (which strategy entry reads
the value), the writer (which encoder writes it) and ``encoding_policy`` (which types a
target version can express, families, field-TTL types).

Sources: redis/redis ``src/rdb.h`` (``RDB_TYPE_*``, ``rdb_type_string`` in rdb.c,
``rdbLoadObject`` for the layouts) and valkey-io/valkey ``src/rdb.h``. The two dialects
share types 0-21; from 22 on they diverge: in a ``REDIS`` file 22/23 are Redis 7.4
release-candidate hashes with field TTLs and 24/25 their GA forms, in a ``VALKEY`` file
22 is ``RDB_TYPE_HASH_2`` (Valkey 9). The magic of the file picks the table
(``table(dialect)``); a DUMP payload has no magic, its version picks it.

Columns of a row (``RDBType``):

``code``      the type byte.
``const``     the constant's name in ``opcodes`` (``T_...``).
``name``      the server's name for it (rdb.c ``rdb_type_string``).
``family``    the key type: ``model.STRING`` / LIST / SET / ZSET / HASH / STREAM / MODULE / ARRAY.
``encoding``  the OBJECT ENCODING name a server that wrote this type reported for the key:
              a fixed name, or a function of the RDB version. ``BY_VALUE`` means the reader
              decides per value (strings: int/embstr/raw; quicklist v2: listpack for one
              packed node on RDB 11+; streams: "unknown" under Redis 5.0).
``reader``    the reader's strategy entry: ``ValueStrategy.v_<reader>`` reads the value.
``writer``    the writer's encoder for it (``RDBWriter`` encodes a value of this type), or
              None when no server should get this type written any more (pre-GA forms).
``since``     the first RDB version whose loader accepts it (what a writer may emit).
``field_ttls`` True for hash types that carry per-field TTLs.

How to add a type
-----------------
1. Add a ``T_...`` constant in ``opcodes`` (the number only).
2. Add an ``RDBType`` row to ``_COMMON`` (both dialects), ``_REDIS_ONLY`` or
   ``_VALKEY_ONLY`` below, with the first RDB version that has it.
3. Write the reader entry ``v_<reader>`` in ``rdbtools.strategies.ValueStrategy``
   (framing through ``kvencoding.lengths``; build / stream / validate / skip behaviour
   comes from the strategy flags, see that module). A test of ``tests/test_rdbtypes.py``
   fails while a row names an entry that does not exist.
4. For writing, name an encoder in ``writer`` and handle that name in
   ``rdbtools.writer``; leave ``writer=None`` for a read-only type.
5. If a version number is new, teach ``opcodes`` (``REDIS_MAX_VERSION`` /
   ``VALKEY_VERSIONS``) and ``encoding_policy.SUPPORTED_VERSIONS`` about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

from persistkit.rdbtools import model

REDIS = "redis"
VALKEY = "valkey"

# ``encoding`` marker: the reader decides per value (see the module docstring).
BY_VALUE = "by-value"


def _ziplist_before_10(version: int) -> str:
    # Redis 7.0 (RDB 10) converts a loaded zset ziplist to a listpack; before it the
    # server kept (and OBJECT ENCODING said) "ziplist".
    return "ziplist" if version < 10 else "listpack"


@dataclass(frozen=True)
class RDBType:
    code: int
    const: str
    name: str
    family: str
    encoding: Union[str, Callable[[int], str]]
    reader: str
    writer: Optional[str]
    since: int
    field_ttls: bool = False

    def object_encoding(self, version: int) -> str:
        """The OBJECT ENCODING name for this type in a file of ``version`` (``BY_VALUE``
        when the reader must look at the value)."""
        enc = self.encoding
        return enc if enc.__class__ is str else enc(version)


_S, _L, _T, _Z, _H, _X, _M = (model.STRING, model.LIST, model.SET, model.ZSET, model.HASH,
                              model.STREAM, model.MODULE)

_COMMON = (
    RDBType(0, "T_STRING", "string", _S, BY_VALUE, "string", "string", 1),
    RDBType(1, "T_LIST", "list-linked", _L, "quicklist", "plain_list", "plain_list", 1),
    RDBType(2, "T_SET", "set-hashtable", _T, "hashtable", "plain_set", "plain_set", 1),
    RDBType(3, "T_ZSET", "zset-v1", _Z, "skiplist", "plain_zset", "zset_skiplist", 1),
    RDBType(4, "T_HASH", "hash-hashtable", _H, "hashtable", "plain_hash", "plain_hash", 1),
    RDBType(5, "T_ZSET_2", "zset-v2", _Z, "skiplist", "plain_zset", "zset_skiplist", 8),
    RDBType(6, "T_MODULE_PRE_GA", "module-pre-release", _M, "raw", "module_pre_ga", None, 8),
    RDBType(7, "T_MODULE_2", "module-value", _M, "raw", "module", "module", 8),
    RDBType(9, "T_HASH_ZIPMAP", "hash-zipmap", _H, "zipmap", "zipmap", "zipmap", 1),
    RDBType(10, "T_LIST_ZIPLIST", "list-ziplist", _L, "quicklist", "list_ziplist",
            "list_ziplist", 1),
    RDBType(11, "T_SET_INTSET", "set-intset", _T, "intset", "intset", "intset", 1),
    RDBType(12, "T_ZSET_ZIPLIST", "zset-ziplist", _Z, _ziplist_before_10, "zset_blob",
            "zset_packed", 1),
    RDBType(13, "T_HASH_ZIPLIST", "hash-ziplist", _H, "ziplist", "hash_blob", "hash_ziplist", 1),
    RDBType(14, "T_LIST_QUICKLIST", "list-quicklist", _L, "quicklist", "quicklist",
            "quicklist", 7),
    RDBType(15, "T_STREAM_LISTPACKS", "stream", _X, BY_VALUE, "stream", "stream", 9),
    RDBType(16, "T_HASH_LISTPACK", "hash-listpack", _H, "listpack", "hash_blob",
            "hash_listpack", 10),
    RDBType(17, "T_ZSET_LISTPACK", "zset-listpack", _Z, "listpack", "zset_blob",
            "zset_packed", 10),
    RDBType(18, "T_LIST_QUICKLIST_2", "list-quicklist-v2", _L, BY_VALUE, "quicklist",
            "quicklist", 10),
    RDBType(19, "T_STREAM_LISTPACKS_2", "stream-v2", _X, BY_VALUE, "stream", "stream", 10),
    RDBType(20, "T_SET_LISTPACK", "set-listpack", _T, "listpack", "set_listpack",
            "set_listpack", 11),
    RDBType(21, "T_STREAM_LISTPACKS_3", "stream-v3", _X, BY_VALUE, "stream", "stream", 11),
)

_REDIS_ONLY = (
    # Redis 7.4 release candidates (RDB 12): still read, but no server should get them
    # written any more (their GA forms are 24/25), so they have no writer.
    RDBType(22, "T_HASH_METADATA_PRE_GA", "hash-hashtable-md-pre-ga", _H, "hashtable",
            "hash_metadata", None, 12, field_ttls=True),
    RDBType(23, "T_HASH_LISTPACK_EX_PRE_GA", "hash-listpackex-pre-ga", _H, "listpackex",
            "hash_listpack_ex", None, 12, field_ttls=True),
    RDBType(24, "T_HASH_METADATA", "hash-hashtable-md", _H, "hashtable", "hash_metadata",
            "hash_ttl_redis", 12, field_ttls=True),
    RDBType(25, "T_HASH_LISTPACK_EX", "hash-listpackex", _H, "listpackex", "hash_listpack_ex",
            "hash_ttl_redis", 12, field_ttls=True),
    # Redis 8.6 (RDB 13) / 8.8 (RDB 14): streams with IDMP state (26), plus NACK zones
    # (27); the sparse ARRAY type (28, OBJECT ENCODING "sliced-array").
    RDBType(26, "T_STREAM_LISTPACKS_4", "stream-v4", _X, BY_VALUE, "stream", "stream", 13),
    RDBType(27, "T_STREAM_LISTPACKS_5", "stream-v5", _X, BY_VALUE, "stream", "stream", 14),
    RDBType(28, "T_ARRAY", "array", model.ARRAY, "sliced-array", "array", "array", 14),
    # Redis 8.10 (RDB 15): hashes whose field names live in a template (an opcode-242
    # record for the REF forms, inline for the self-contained ones DUMP writes). Read
    # only: no Redis 8.10 server could check what the writer would produce.
    RDBType(29, "T_HASH_TMPL_LP", "hash-template-listpack", _H, "template-listpack",
            "hash_template", None, 15),
    RDBType(30, "T_HASH_TMPL_LP_REF", "hash-template-listpack-ref", _H, "template-listpack",
            "hash_template", None, 15),
    RDBType(31, "T_HASH_TMPL_ARRAY", "hash-template-array", _H, "template-array",
            "hash_template", None, 15),
    RDBType(32, "T_HASH_TMPL_ARRAY_REF", "hash-template-array-ref", _H, "template-array",
            "hash_template", None, 15),
)

_VALKEY_ONLY = (
    RDBType(22, "T_VALKEY_HASH_2", "hash-2", _H, "hashtable", "valkey_hash2",
            "hash_ttl_valkey", 80, field_ttls=True),
)


def _build(*groups) -> dict:
    out: dict = {}
    for group in groups:
        for row in group:
            if row.code in out:
                raise AssertionError(f"RDB type {row.code} twice in one dialect's table")
            out[row.code] = row
    return out


REDIS_TABLE: dict = _build(_COMMON, _REDIS_ONLY)
VALKEY_TABLE: dict = _build(_COMMON, _VALKEY_ONLY)
TABLES = {REDIS: REDIS_TABLE, VALKEY: VALKEY_TABLE}


def table(dialect: str) -> dict:
    """``{type byte: RDBType}`` of a dialect (``"redis"`` or ``"valkey"``)."""
    return VALKEY_TABLE if dialect == VALKEY else REDIS_TABLE


def lookup(code: int, dialect: str = REDIS) -> Optional[RDBType]:
    return table(dialect).get(code)


def same_meaning(code: int, dialect_a: str, dialect_b: str) -> bool:
    """True when ``code`` is the same type in both dialects (22 is not)."""
    a = lookup(code, dialect_a)
    b = lookup(code, dialect_b)
    return a is not None and b is not None and a.name == b.name


def writable(version: int, dialect: str) -> frozenset:
    """Type bytes a loader of ``version`` accepts and the writer can encode."""
    return frozenset(r.code for r in table(dialect).values()
                     if r.writer is not None and r.since <= version)


def field_ttl_types(dialect: str) -> frozenset:
    return frozenset(r.code for r in table(dialect).values() if r.field_ttls)


def families() -> dict:
    """``{type byte: family}`` over both dialects (a byte whose family differs between
    the dialects is left out: ask ``lookup(code, dialect).family`` for it)."""
    out: dict = {}
    clash = set()
    for t in TABLES.values():
        for code, row in t.items():
            if code in out and out[code] != row.family:
                clash.add(code)
            out[code] = row.family
    for code in clash:
        del out[code]
    return out
