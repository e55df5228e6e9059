"""The corpus as inputs for the compiled-vs-pure differential tests.

* ``rdb_inputs()``: every RDB-shaped file of ``corpus/real`` (dump.rdb, the RDB base of
  each hybrid AOF, the single-file hybrid AOFs, each DUMP payload wrapped into a
  one-key RDB) and every ``.rdb`` of ``corpus/public`` (the corrupt ones included),
  as ``(name, bytes)``.
* ``corpus_blobs()``: every inner blob (ziplist, listpack, intset, zipmap, stream node)
  those files hold, pulled out with the pure codecs.
"""

from __future__ import annotations

import functools
from pathlib import Path

from corpus import PUBLIC, REAL
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import encode_string, read_length, read_string
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import RDBReader


def _dump_as_rdb(payload: bytes) -> bytes | None:
    """A DUMP payload (type, value, 2-byte RDB version, CRC64) as a one-key RDB file of
    that version."""
    if len(payload) < 11:
        return None
    version = int.from_bytes(payload[-10:-8], "little")
    if not 1 <= version <= 12:
        return None
    body = (b"REDIS%04d" % version + b"\xfe\x00" + payload[:1] + encode_string(b"dumped-key")
            + payload[1:-10] + b"\xff")
    return body + (crc64(body).to_bytes(8, "little") if version >= 5 else b"")


@functools.lru_cache(maxsize=1)
def rdb_inputs() -> tuple[tuple[str, bytes], ...]:
    out = []
    if REAL.exists():
        for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
            dump = folder / "dump.rdb"
            if dump.exists():
                out.append((f"real/{folder.name}/dump.rdb", dump.read_bytes()))
            for base in sorted((folder / "aof-hybrid").rglob("*")):
                if base.is_file() and base.read_bytes()[:5] == b"REDIS" or \
                        base.is_file() and base.read_bytes()[:6] == b"VALKEY":
                    out.append((f"real/{base.relative_to(REAL)}", base.read_bytes()))
            for payload in sorted((folder / "dumps").glob("*.bin")):
                rdb = _dump_as_rdb(payload.read_bytes())
                if rdb is not None:
                    out.append((f"real/{payload.relative_to(REAL)}", rdb))
    if PUBLIC.exists():
        for f in sorted(PUBLIC.rglob("*.rdb")):
            out.append((f"public/{f.relative_to(PUBLIC)}", f.read_bytes()))
    return tuple(out)


SINGLE = {9: "zipmap", 10: "ziplist", 11: "intset", 12: "ziplist", 13: "ziplist",
          16: "listpack", 17: "listpack", 20: "listpack", 23: "listpack", 25: "listpack"}


def _string(src: ByteSource):
    try:
        return read_string(src)
    except FormatError:
        return None


def _value_blobs(data: bytes, rec: model.Record) -> list:
    src = ByteSource(data)
    src.pos = rec.offset
    while True:
        t = src.read_byte()
        if t == 252:
            src.pos += 8
        elif t == 253:
            src.pos += 4
        elif t == 248:
            read_length(src)
        elif t == 249:
            src.pos += 1
        else:
            break
    read_string(src)  # the key
    out = []
    if t in SINGLE:
        if t == 25:
            src.pos += 8
        blob = _string(src)
        if blob is not None:
            out.append((SINGLE[t], blob, None))
    elif t in (14, 18):
        for _ in range(read_length(src)):
            container = read_length(src) if t == 18 else 2
            blob = _string(src)
            if blob is None:
                break
            if container == 2:
                out.append(("listpack" if t == 18 else "ziplist", blob, None))
    elif t in (15, 19, 21):
        for _ in range(read_length(src)):
            master = _string(src)
            blob = _string(src)
            if master is None or blob is None:
                break
            out.append(("stream", blob, master))
    return out


@functools.lru_cache(maxsize=1)
def corpus_blobs() -> tuple[tuple[str, bytes, bytes | None, str], ...]:
    """(kind, blob, stream master key or None, source name), each distinct blob once."""
    seen = set()
    out = []
    for name, data in rdb_inputs():
        records = []
        try:
            for item in RDBReader(data, decode=False, recover=True, strict_crc=False):
                if isinstance(item, model.Record):
                    records.append(item)
        except FormatError:
            pass
        for rec in records:
            try:
                blobs = _value_blobs(data, rec)
            except FormatError:
                continue
            for kind, blob, master in blobs:
                if (kind, blob, master) in seen:
                    continue
                seen.add((kind, blob, master))
                out.append((kind, blob, master, name))
    return tuple(out)


def corpus_file(name: str) -> Path:
    head, _, rest = name.partition("/")
    return (REAL if head == "real" else PUBLIC) / rest
