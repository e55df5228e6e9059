"""What stream types 26 and 27 add to stream v3 (RDB 13 / RDB 14).

redis/redis ``src/rdb.c`` (``rdbSaveObject`` / ``rdbLoadObject`` for streams,
``rdbSaveStreamIdmpEntries`` / ``rdbLoadStreamIdmpEntries``):

* type 26 ``RDB_TYPE_STREAM_LISTPACKS_4`` (Redis 8.6, RDB 13): after the consumer
  groups, the idempotent-producer (IDMP) state of the stream::

      length: IDMP duration (seconds, 1-86400)   length: IDMP max entries (1-10000)
      length: producer count
      per producer: string pid, length n, n x (string iid, length ms, length seq)
      length: iids added (all time)   length: iids duplicates (all time)

  A producer may be written with n = 0 (all its entries had expired at save time);
  the loader skips it. A repeated pid is corrupt; a repeated iid is dropped by the
  loader. The loader (and the saver) also drop entries whose stream ID is older than
  the duration, measured on the wall clock of the server doing it.

* type 27 ``RDB_TYPE_STREAM_LISTPACKS_5`` (Redis 8.8, RDB 14): also, in each consumer
  group right after its consumers, the NACK zone: ``length n`` then n raw 16-byte
  stream IDs (big-endian ms, seq) of group-PEL entries that ``XNACK`` released. Each
  must be in the group PEL and owned by no consumer; with deep sanitization every PEL
  entry outside the zone must be owned by one.

No I/O: readers take a ``ByteSource``; encoders return bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import encode_length, encode_string, read_length, read_string
from persistkit.kvencoding.source import ByteSource
from persistkit.kvencoding.streamtypes import StreamID

# server.h CONFIG_STREAM_IDMP_* ranges the loader enforces.
IDMP_MIN_DURATION, IDMP_MAX_DURATION = 1, 86400
IDMP_MIN_MAXSIZE, IDMP_MAX_MAXSIZE = 1, 10000
# The stream defaults (XINFO shows them for a stream never configured).
IDMP_DEFAULT_DURATION = 100
IDMP_DEFAULT_MAXSIZE = 100

_STREAM_ID = struct.Struct(">QQ")


@dataclass(slots=True)
class IdmpProducer:
    pid: bytes
    entries: list[tuple[bytes, StreamID]] = field(default_factory=list)   # (iid, stream id)


@dataclass(slots=True)
class StreamIdmp:
    duration: int = IDMP_DEFAULT_DURATION
    max_entries: int = IDMP_DEFAULT_MAXSIZE
    producers: list[IdmpProducer] = field(default_factory=list)
    iids_added: int = 0
    iids_duplicates: int = 0

    @property
    def tracked(self) -> int:
        return sum(len(p.entries) for p in self.producers)

    def is_default(self) -> bool:
        """Nothing a stream v3 would lose: default configuration, no entries, no counts."""
        return (self.duration == IDMP_DEFAULT_DURATION and self.max_entries == IDMP_DEFAULT_MAXSIZE
                and not self.tracked and not self.iids_added and not self.iids_duplicates)


def read_idmp(src: ByteSource) -> StreamIdmp:
    at = src.tell()
    duration = read_length(src, "stream IDMP duration")
    if not IDMP_MIN_DURATION <= duration <= IDMP_MAX_DURATION:
        raise FormatError("stream IDMP duration out of range", at,
                          expected=f"{IDMP_MIN_DURATION}-{IDMP_MAX_DURATION} seconds", found=str(duration))
    at = src.tell()
    max_entries = read_length(src, "stream IDMP max entries")
    if not IDMP_MIN_MAXSIZE <= max_entries <= IDMP_MAX_MAXSIZE:
        raise FormatError("stream IDMP max entries out of range", at,
                          expected=f"{IDMP_MIN_MAXSIZE}-{IDMP_MAX_MAXSIZE}", found=str(max_entries))
    n = read_length(src, "stream IDMP producer count")
    producers = []
    seen = set()
    for _ in range(n):
        at = src.tell()
        pid = read_string(src, "stream IDMP producer id")
        if pid in seen:
            # rdbLoadStreamIdmpEntries: raxTryInsert fails -> the load fails.
            raise FormatError("duplicate stream IDMP producer", at, expected="unique producer ids",
                              found=repr(pid[:40]))
        seen.add(pid)
        count = read_length(src, "stream IDMP entry count")
        entries = []
        for _ in range(count):
            iid = read_string(src, "stream IDMP idempotent id")
            ms = read_length(src, "stream IDMP entry ID ms")
            seq = read_length(src, "stream IDMP entry ID seq")
            entries.append((iid, (ms, seq)))
        producers.append(IdmpProducer(pid, entries))
    added = read_length(src, "stream IDMP iids added")
    dups = read_length(src, "stream IDMP iids duplicates")
    return StreamIdmp(duration, max_entries, producers, added, dups)


def encode_idmp(idmp: Optional[StreamIdmp], *, compress: bool = True) -> bytes:
    """The IDMP block (the defaults of a stream never configured when ``idmp`` is None)."""
    if idmp is None:
        idmp = StreamIdmp()
    parts = [encode_length(idmp.duration), encode_length(idmp.max_entries),
             encode_length(len(idmp.producers))]
    for p in idmp.producers:
        parts.append(encode_string(bytes(p.pid), compress=compress))
        parts.append(encode_length(len(p.entries)))
        for iid, (ms, seq) in p.entries:
            parts.append(encode_string(bytes(iid), compress=compress))
            parts.append(encode_length(ms) + encode_length(seq))
    parts.append(encode_length(idmp.iids_added))
    parts.append(encode_length(idmp.iids_duplicates))
    return b"".join(parts)


def read_nack_zone(src: ByteSource, owner_of: dict, problem) -> list[StreamID]:
    """A group's NACK zone. ``owner_of`` maps each group-PEL ID to its consumer name (or
    None); ``problem(FormatError)`` reports a value-level problem (recoverable)."""
    n = read_length(src, "stream NACK zone count")
    out = []
    for _ in range(n):
        at = src.tell()
        sid = _STREAM_ID.unpack(src.read(16, "stream NACK zone entry ID"))
        text = f"{sid[0]}-{sid[1]}"
        if sid not in owner_of:
            problem(FormatError("stream NACK zone entry not found in group PEL", at,
                                expected="an ID of the group PEL", found=text))
        elif owner_of[sid] is not None:
            problem(FormatError("stream NACK zone entry has a consumer assigned", at,
                                expected="an entry no consumer owns", found=f"{text} owned by "
                                f"{owner_of[sid]!r}"))
        out.append(sid)
    return out


def encode_nack_zone(ids) -> bytes:
    ids = list(ids or ())
    return encode_length(len(ids)) + b"".join(_STREAM_ID.pack(*i) for i in ids)
