"""The plain-value model shared by the RDB reader, the RDB writer, the AOF tools and the engine.

This module is the contract between packages: the reader produces these objects,
the writer consumes them, the engine's keyspace converts to and from them. It holds
data only (no decoding, no I/O).

Value representation per key type (``Record.value`` once decoded):

=========  ===================================================================
string     ``bytes``
list       ``list[bytes]`` head to tail
set        ``list[bytes]`` in file order (order matters for byte-exact rewrite)
zset       ``list[tuple[bytes, float]]`` in file order
hash       ``list[tuple[bytes, bytes]]`` in file order; field TTLs, where the
           type has them, in ``Record.field_expires`` (field -> absolute unix ms)
stream     ``StreamValue``
module     ``ModuleValue``
array      ``ArrayValue`` (Redis 8.8+, RDB type 28): ``elements`` (index, tag, value)
           in file order and the insert cursor; ``items()`` gives (index, text)
=========  ===================================================================

Key metadata (Redis 8.6+, opcode 243 before the type byte) is in ``Record.key_meta``:
a list of ``KeyMeta`` (class name, version, flags, the stored value bytes).

Integers stored in compact encodings (int-encoded strings, listpack/ziplist/intset
integers) are given back as their canonical decimal text, like the server does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

# Key types, as TYPE answers.
STRING = "string"
LIST = "list"
SET = "set"
ZSET = "zset"
HASH = "hash"
STREAM = "stream"
MODULE = "module"
ARRAY = "array"

from persistkit.kvencoding.streamtypes import StreamEntry, StreamID, StreamNode  # noqa: F401  (re-exported)
from persistkit.kvencoding.keymeta import KeyMeta  # noqa: F401,E402  (re-exported)
from persistkit.kvencoding.rdbarray import ArrayElement, ArrayValue  # noqa: F401,E402  (re-exported)
from persistkit.kvencoding.streamext import IdmpProducer, StreamIdmp  # noqa: F401,E402  (re-exported)


def format_stream_id(sid: StreamID) -> str:
    return f"{sid[0]}-{sid[1]}"


def parse_stream_id(text: str) -> StreamID:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass(slots=True)
class StreamPendingEntry:
    id: StreamID
    delivery_time_ms: int
    delivery_count: int
    consumer: Optional[bytes] = None  # filled from the consumers' PELs after loading


@dataclass(slots=True)
class StreamConsumer:
    name: bytes
    seen_time_ms: int
    active_time_ms: Optional[int]  # RDB stream v3 (type 21) only
    pel: list[StreamID]


@dataclass(slots=True)
class StreamGroup:
    name: bytes
    last_id: StreamID
    entries_read: Optional[int]  # v2+; None when not stored (v1) -- the server's "nil"
    pel: list[StreamPendingEntry]
    consumers: list[StreamConsumer]
    # Stream v5 (type 27, RDB 14): PEL entries released by XNACK (owned by no consumer),
    # in stored order; None for older stream types.
    nacked: Optional[list[StreamID]] = None


@dataclass(slots=True)
class StreamValue:
    nodes: list[StreamNode]
    length: int                       # live entries, as stored
    last_id: StreamID
    first_id: Optional[StreamID] = None        # v2+
    max_deleted_id: Optional[StreamID] = None  # v2+
    entries_added: Optional[int] = None        # v2+
    groups: list[StreamGroup] = field(default_factory=list)
    # Stream v4+ (types 26/27, RDB 13+): idempotent-producer state; None for older types.
    idmp: Optional[StreamIdmp] = None

    def entries(self):
        """Live entries in id order."""
        for node in self.nodes:
            for entry in node.entries:
                if not entry.deleted:
                    yield entry


@dataclass(slots=True)
class ModuleValue:
    """A module value. ``raw`` is the serialized body after the type byte (module id
    included), kept so a writer can copy it unchanged; ``name`` is the 9-char module
    name decoded from the id, ``encver`` its encoding version."""

    module_id: int
    name: str
    encver: int
    raw: Optional[bytes] = None
    when: Optional[int] = None  # MODULE_AUX only


# ---------------------------------------------------------------------------
# Records yielded by the reader, in file order.


@dataclass(slots=True)
class Header:
    magic: str          # "REDIS" or "VALKEY"
    version: int
    offset: int = 0
    length: int = 9


@dataclass(slots=True)
class Aux:
    key: bytes
    value: bytes
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class SelectDB:
    db: int
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class ResizeDB:
    db_size: int
    expires_size: int
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class SlotInfo:
    slot_id: int
    slot_size: int
    expires_slot_size: int
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class Function:
    """A function library (FUNCTION2, or the pre-GA FUNCTION form)."""

    code: bytes
    opcode: int = 245
    name: Optional[bytes] = None    # pre-GA layout only
    engine: Optional[bytes] = None  # pre-GA layout only
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class ModuleAux:
    value: ModuleValue
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class Opaque:
    """An opcode this tool skips by its documented framing (e.g. Valkey SLOT_IMPORT)."""

    opcode: int
    name: str
    raw: bytes
    offset: int = 0
    length: int = 0


@dataclass(slots=True)
class EOF:
    checksum: Optional[int]      # stored CRC64 (None for versions < 5)
    computed: Optional[int]      # what the bytes hash to (None when not computed)
    offset: int = 0
    length: int = 1

    @property
    def checksum_disabled(self) -> bool:
        return self.checksum == 0

    @property
    def checksum_ok(self) -> Optional[bool]:
        if self.checksum is None or self.checksum == 0 or self.computed is None:
            return None
        return self.checksum == self.computed


@dataclass(slots=True)
class Record:
    """One key.

    ``offset`` is where the record starts in the input (its first expiry/idle/freq
    opcode, or the type byte); ``length`` covers everything up to the next record.
    ``value`` is None when the reader was asked not to decode values; ``size_hint``
    then still gives the element count where the encoding states it cheaply.

    ``encoding`` is the server's OBJECT ENCODING name the loading server would
    report for the stored form where that is fixed by the RDB type (``listpack``,
    ``quicklist``, ``intset``, ``hashtable``, ``skiplist``, ``ziplist``, ``zipmap``,
    ``listpackex``, ``stream``, ``int``/``embstr``/``raw`` for strings...).

    ``layout`` carries hints that let the writer reproduce the stored bytes exactly
    when converting with ``keep`` encodings (e.g. quicklist node boundaries and
    which nodes were compressed, an intset's stored width). See rdbtools.writer.
    """

    db: int
    key: bytes
    type: str
    rdb_type: int
    encoding: str
    offset: int
    length: int = 0
    expire_ms: Optional[int] = None
    idle: Optional[int] = None
    freq: Optional[int] = None
    value: Any = None
    field_expires: Optional[dict[bytes, int]] = None
    size_hint: Optional[int] = None
    layout: Optional[dict] = None
    key_meta: Optional[list[KeyMeta]] = None   # RDB 13+: KEY_META classes before the type
