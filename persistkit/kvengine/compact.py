"""Compact values: a keyspace value kept as its RDB encoding until a command needs it.

merge and replay rebuild whole keyspaces offline; held as Python objects (a bytes
object and a container slot per element) a 1M-key, 70M-element state costs ~8 GB. A
``CompactValue`` is the value's RDB body as the writer would save it (RDB 10, the
server's encodings at the default thresholds: ``rdbfile``'s compiled serializer makes it),
so it costs about what the file does. ``Session.lookup`` turns it back into the engine's
value type (``thaw``) the first time a command touches the key; ``records.iter_records``
hands untouched ones to an RDB writer of the same target as ``EncodedValue`` (copied as
they are) and decodes them for any other consumer.

Only collections are kept compact (lists, sets, zsets, hashes without field TTLs);
strings already are bytes, streams stay objects.
"""

from __future__ import annotations

import struct
from collections import deque
from functools import lru_cache
from typing import Callable, Optional

from .. import accel
from ..rdbtools.encoding_policy import default_thresholds
from .encodings import serializer_limits

# What a CompactValue's body was encoded for: the RDB version, dialect, rdbcompression and
# the thresholds the writer's "server" encodings use (writer.ValueEncoder.signature).
VERSION = 10
_U16 = struct.Struct("<H")


class CompactValue:
    """A value held as (RDB type, body); see the module docstring."""

    __slots__ = ("rdb_type", "body")

    def __init__(self, rdb_type: int, body: bytes) -> None:
        self.rdb_type = rdb_type
        self.body = body


@lru_cache(maxsize=None)
def signature() -> tuple:
    """The writer signature CompactValue bodies are encoded for."""
    from ..rdbtools.writer import encoder_signature

    return encoder_signature(VERSION, "redis", True, "server", default_thresholds(VERSION, "redis"))


def freezer() -> Optional[Callable]:
    """``freeze(db, key)``: replace a collection value by its CompactValue (a no-op for
    anything else); None when the compiled serializer is not available."""
    es = accel.module("engine_save")
    if es is None:
        return None
    from .values import Hash, ZSet

    limits = serializer_limits(default_thresholds(VERSION, "redis"), VERSION, True)
    encode = es.encode_value
    kinds = (deque, set, Hash, ZSet)

    def freeze(db, key) -> None:
        v = db.data.get(key)
        if v.__class__ in kinds:
            got = encode(v, limits, Hash, ZSet, deque)
            if got is not None:
                db.data[key] = CompactValue(*got)

    return freeze


def payload(v: CompactValue) -> bytes:
    """The DUMP payload of the value (type, body, RDB version, CRC64)."""
    from ..kvencoding.crc64 import crc64

    data = bytes((v.rdb_type,)) + v.body + _U16.pack(VERSION)
    return data + struct.pack("<Q", crc64(data))


def thaw(v: CompactValue):
    """The engine value (deque, set, Hash, ZSet) the body encodes: the compiled decoder
    (engine_save.decode_value, tests/test_compact_keyspace.py holds it to this function's
    pure path) or the reader's own DUMP-payload decoding."""
    es = accel.module("engine_save")
    if es is not None:
        from .values import Hash, ZSet

        got = es.decode_value(v.rdb_type, v.body, Hash, ZSet, deque)
        if got is not None:
            return got
    return thaw_pure(v)


def thaw_pure(v: CompactValue):
    """thaw through rdbtools.dump.decode_payload and loadvalues.value_from_model."""
    from ..rdbtools.dump import decode_payload
    from .loadvalues import value_from_model

    rec, _ = decode_payload(payload(v))
    return value_from_model(rec.type, rec.value, rec.field_expires)


def model_value(v: CompactValue):
    """(type, model value) of the body, for consumers of model records."""
    from ..rdbtools.dump import decode_payload

    rec, _ = decode_payload(payload(v))
    return rec.type, rec.value
