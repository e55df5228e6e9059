"""RDB opcode and value-type numbers, per dialect (Redis / Valkey), and version rules.

Sources: redis/redis ``src/rdb.h`` (RDB_VERSION 12, types 0-25, opcodes 244-255) and
valkey-io/valkey ``src/rdb.h`` (RDB_VERSION 80/81 with the ``VALKEY`` magic, type 22 =
RDB_TYPE_HASH_2, opcode 243 = RDB_OPCODE_SLOT_IMPORT, versions 12-79 "foreign").

The dialect is chosen by the magic: a ``REDIS`` header numbers types the Redis way
(22/23 = 7.4 release-candidate hashes with field TTLs, 24/25 their GA forms), a
``VALKEY`` header the Valkey way (22 = hash with per-field expiry; 23-25 unknown).
"""

from __future__ import annotations

from persistkit.rdbtools import rdbtypes as _rt

# -- opcodes ------------------------------------------------------------------
OP_SLOT_IMPORT = 243      # Valkey 9.0+ only (Redis 8.x uses 243 for KEY_META in RDB 13+)
OP_KEY_META = 243         # Redis RDB 13+ (REDIS magic): key metadata before a type byte
OP_HASH_TEMPLATE = 242    # Redis RDB 15+ (REDIS magic): a hash template record
OP_SLOT_INFO = 244
OP_FUNCTION2 = 245
OP_FUNCTION_PRE_GA = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

OPCODE_NAMES = {
    OP_SLOT_IMPORT: "SLOT_IMPORT", OP_SLOT_INFO: "SLOT_INFO", OP_FUNCTION2: "FUNCTION2",
    OP_FUNCTION_PRE_GA: "FUNCTION_PRE_GA", OP_MODULE_AUX: "MODULE_AUX", OP_IDLE: "IDLE",
    OP_FREQ: "FREQ", OP_AUX: "AUX", OP_RESIZEDB: "RESIZEDB", OP_EXPIRETIME_MS: "EXPIRETIME_MS",
    OP_EXPIRETIME: "EXPIRETIME", OP_SELECTDB: "SELECTDB", OP_EOF: "EOF",
}

# -- value types ----------------------------------------------------------------
T_STRING = 0
T_LIST = 1
T_SET = 2
T_ZSET = 3
T_HASH = 4
T_ZSET_2 = 5
T_MODULE_PRE_GA = 6
T_MODULE_2 = 7
T_HASH_ZIPMAP = 9
T_LIST_ZIPLIST = 10
T_SET_INTSET = 11
T_ZSET_ZIPLIST = 12
T_HASH_ZIPLIST = 13
T_LIST_QUICKLIST = 14
T_STREAM_LISTPACKS = 15
T_HASH_LISTPACK = 16
T_ZSET_LISTPACK = 17
T_LIST_QUICKLIST_2 = 18
T_STREAM_LISTPACKS_2 = 19
T_SET_LISTPACK = 20
T_STREAM_LISTPACKS_3 = 21
T_HASH_METADATA_PRE_GA = 22     # Redis 7.4 RC
T_HASH_LISTPACK_EX_PRE_GA = 23  # Redis 7.4 RC
T_HASH_METADATA = 24            # Redis 7.4 GA+
T_HASH_LISTPACK_EX = 25         # Redis 7.4 GA+
T_VALKEY_HASH_2 = 22            # Valkey 9 (VALKEY magic)
T_STREAM_LISTPACKS_4 = 26       # Redis 8.6 (RDB 13): stream with IDMP state
T_STREAM_LISTPACKS_5 = 27       # Redis 8.8 (RDB 14): stream with NACK zones
T_ARRAY = 28                    # Redis 8.8 (RDB 14): sparse array
T_HASH_TMPL_LP = 29             # Redis 8.10 (RDB 15): template hash, listpack, self-contained
T_HASH_TMPL_LP_REF = 30         #   listpack values, template from an opcode-242 record
T_HASH_TMPL_ARRAY = 31          #   array of values, self-contained
T_HASH_TMPL_ARRAY_REF = 32      #   array of values, template from an opcode-242 record

# Module value sub-opcodes (rdb.h RDB_MODULE_OPCODE_*).
MOD_EOF, MOD_SINT, MOD_UINT, MOD_FLOAT, MOD_DOUBLE, MOD_STRING = range(6)

# Quicklist 2 node containers (quicklist.h).
QL_PLAIN = 1
QL_PACKED = 2

# The per-type facts (family, OBJECT ENCODING rule, reader and writer entries, first
# version) are rows of ``rdbtypes``; these views keep the older (family, name) shape.
REDIS_TYPES = {code: (row.family, row.name) for code, row in _rt.REDIS_TABLE.items()}
VALKEY_TYPES = {code: (row.family, row.name) for code, row in _rt.VALKEY_TABLE.items()}

# -- versions -------------------------------------------------------------------
REDIS_MAX_VERSION = 15     # 12: Redis 7.4 - 8.4, 13: 8.6, 14: 8.8, 15: 8.10 (see UNCONFIRMED)
VALKEY_VERSIONS = (80,)    # VALKEY080 (Valkey 9.0/9.1)
KEY_META_SINCE = 13        # Redis RDB version that has opcode 243 KEY_META
HASH_TEMPLATE_SINCE = 15   # Redis RDB version that has opcode 242 HASH_TEMPLATE
KNOWN_NEWER_REDIS = ()

# Type bytes and opcodes a newer server writes that this tool does not read: refused by
# name. {(code, first RDB version): (what, why)}. The RDB 14 tree (redis/redis src/rdb.h)
# numbers GCRA 29 only under ENABLE_GCRA, which releases are built without (server.h:
# "Code related to GCRA is disabled by default"), so a 29 in an RDB 14 file comes from
# such a build and no released server loads it. In RDB 15 (Redis 8.10) GCRA moves to 33,
# after the hash templates (29-32, see kvencoding.hashtemplate), as other RDB tools'
# type lists give it; no RDB 15 rdb.c was at hand to show its stored form.
UNCONFIRMED = {
    (29, 14): ("GCRA, an ENABLE_GCRA build of Redis 8.8",
               "Redis 8.8 releases are built without GCRA, so none writes or loads it"),
    (33, 15): ("GCRA, Redis 8.10", "its layout could not be confirmed"),
}
# Valkey versions newer than this tool reads, refused by name.
UNCONFIRMED_VALKEY = {81: "Valkey 9.2"}


def unconfirmed(code: int, version: int, dialect: str = "redis"):
    """``(what, why)`` when ``code`` is a known type/opcode of a newer server that this
    tool does not read, else None."""
    if dialect != "redis":
        return None
    best = None
    for (c, since), info in UNCONFIRMED.items():
        if c == code and since <= version and (best is None or since > best[0]):
            best = (since, info)
    return best[1] if best else None


def type_table(dialect: str) -> dict:
    """``{type byte: rdbtypes.RDBType}`` of the dialect the file's magic chose."""
    return _rt.table(dialect)


def type_name(rdb_type: int, dialect: str = "redis") -> str:
    row = _rt.lookup(rdb_type, dialect)
    return row.name if row else f"type-{rdb_type}"


def is_opcode(byte: int, dialect: str) -> bool:
    if byte >= OP_SLOT_INFO:
        return True
    return byte == OP_SLOT_IMPORT and dialect == "valkey"


def _check_constants() -> None:
    # Every row's constant is defined here with its number (rdbtypes "how to add a type").
    for t in _rt.TABLES.values():
        for code, row in t.items():
            if globals().get(row.const) != code:
                raise AssertionError(f"opcodes.{row.const} should be {code}")


_check_constants()
