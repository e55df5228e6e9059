"""``export`` for AOF inputs: the commands as RESP or as JSON lines.

    from persistkit.aoftools.export import export_aof
    stats = export_aof(path, "jsonl", out_stream, db=None, match=None, type_=None)

``fmt="jsonl"`` writes one JSON object per command (UTF-8 text)::

    {"file": "appendonly.aof.2.incr.aof", "offset": 1234, "db": 0, "time": 1700000000,
     "args": ["SET", "k", {"hex": "00ff"}]}

args are BSTRs (render.common.bstr_json); ``"preamble": true`` marks commands made from
the keys of an RDB preamble (``offset`` is then that key's record offset). ``fmt="resp"``
writes an AOF (binary) that loads to the same data: the RDB preamble becomes commands,
SELECT and ``#TS:`` lines are written where needed.

Preamble keys become the commands Redis's AOF rewrite would log (``rewriteAppendOnlyFileRio``):
SET / RPUSH / SADD / ZADD / HSET in batches of 64 items, PEXPIREAT for a key TTL,
HPEXPIREAT for hash field TTLs, functions as FUNCTION LOAD. Streams are rebuilt
exactly instead (rdbtools.streamcmds: XADD, XSETID, XGROUP CREATE / CREATECONSUMER,
XCLAIM ... FORCE JUSTID, placeholders for pending entries of deleted messages), where
the server's rewrite would drop such pending entries.
Module values cannot be expressed as commands: they are skipped and counted in the
returned stats (``skipped_module_keys``).

Filters: ``db`` keeps commands of that db; ``match`` (a glob on the key, Redis style:
``*``, ``?``, ``[...]``) and ``type_`` (string/list/set/zset/hash/stream, by the command's
family for logged commands, by the key's type for preamble keys) keep only keyed commands,
so transactions and keyless commands (MULTI/EXEC, FLUSHDB, FUNCTION...) are dropped under them.
"""

from __future__ import annotations

import json
import math
import re
from typing import BinaryIO, Iterator, Optional

from persistkit.kvencoding.glob import key_matcher
from persistkit.kvencoding.resp import encode_annotation_ts, encode_command
from persistkit.kvencoding.bstr import bstr_json
from persistkit.rdbtools.streamcmds import stream_commands

from . import model
from .reader import AOFReader

BATCH = 64  # AOF_REWRITE_ITEMS_PER_CMD

# Commands whose first argument is not a key (or that have none).
_KEYLESS = {b"SELECT", b"MULTI", b"EXEC", b"DISCARD", b"FLUSHDB", b"FLUSHALL", b"FUNCTION", b"SWAPDB",
            b"SCRIPT", b"PING", b"EVAL", b"EVALSHA", b"FCALL", b"PUBLISH"}

_FAMILY = [
    ("stream", re.compile(rb"^X")),
    ("hash", re.compile(rb"^H")),
    ("zset", re.compile(rb"^(Z|BZ)")),
    ("set", re.compile(rb"^(S(ADD|REM|MOVE|POP|INTERSTORE|UNIONSTORE|DIFFSTORE))$")),
    ("list", re.compile(rb"^(L|R|BL|BR)(PUSH|PUSHX|POP|SET|INSERT|TRIM|REM|MOVE|POPLPUSH|MPOP)")),
    ("string", re.compile(rb"^(SET|SETEX|PSETEX|SETNX|MSET|MSETNX|APPEND|SETRANGE|INCR|INCRBY|DECR|"
                          rb"DECRBY|INCRBYFLOAT|GETSET|GETDEL|GETEX|SETBIT|BITOP|BITFIELD|PFADD|PFMERGE)$")),
]


def command_family(name: bytes) -> Optional[str]:
    for fam, rx in _FAMILY:
        if rx.match(name):
            return fam
    return None


def _score(s: float) -> bytes:
    if math.isinf(s):
        return b"inf" if s > 0 else b"-inf"
    if s == int(s) and abs(s) < 1e17:
        return b"%d" % int(s)
    return repr(float(s)).encode()


def _sid(sid) -> bytes:
    return b"%d-%d" % (sid[0], sid[1])


def record_commands(rec, stats: Optional[dict] = None) -> Iterator[list[bytes]]:
    """The commands that recreate one RDB record (see the module docstring)."""
    from persistkit.rdbtools import model as m

    k = rec.key
    v = rec.value
    t = rec.type
    if t == m.STRING:
        yield [b"SET", k, v]
    elif t in (m.LIST, m.SET):
        verb = b"RPUSH" if t == m.LIST else b"SADD"
        for i in range(0, len(v), BATCH):
            yield [verb, k, *v[i:i + BATCH]]
    elif t == m.ZSET:
        for i in range(0, len(v), BATCH):
            args = [b"ZADD", k]
            for member, score in v[i:i + BATCH]:
                args += [_score(score), member]
            yield args
    elif t == m.HASH:
        for i in range(0, len(v), BATCH):
            args = [b"HSET", k]
            for f, x in v[i:i + BATCH]:
                args += [f, x]
            yield args
        for f, ms in (rec.field_expires or {}).items():
            yield [b"HPEXPIREAT", k, b"%d" % ms, b"FIELDS", b"1", f]
    elif t == m.STREAM:
        yield from _stream_commands(k, v)
    else:
        if stats is not None:
            stats["skipped_module_keys"] = stats.get("skipped_module_keys", 0) + 1
        return
    if rec.expire_ms is not None:
        yield [b"PEXPIREAT", k, b"%d" % rec.expire_ms]


def _stream_commands(k, sv) -> Iterator[list[bytes]]:
    # The exact rebuild (deleted-but-pending entries, consumers without pending
    # entries, 7.0 metadata): one generator for every RESP output (rdbtools.streamcmds).
    return stream_commands(k, sv)


def _glob(pattern: Optional[str]):
    # Redis glob (util.c stringmatchlen), the one matcher of the package.
    return key_matcher(pattern)


def _items(path, stats, aof_set=None, opened=None) -> Iterator[tuple]:
    """(file, offset, db, time, args, preamble, family) for everything in the AOF."""
    from persistkit.rdbtools import model as m

    reader = AOFReader(path, decode=True, aof_set=aof_set, opened=opened)
    for item in reader:
        if type(item) is model.AOFCommand:
            yield item.file, item.offset, item.db, item.time, item.args, False, None
        elif isinstance(item, m.Record):
            fname = reader.position[0]
            for args in record_commands(item, stats):
                yield fname, item.offset, item.db, None, args, True, item.type
        elif isinstance(item, m.Function):
            yield reader.position[0], item.offset, None, None, [b"FUNCTION", b"LOAD", item.code], True, None


def export_aof(path, fmt: str, out_stream: BinaryIO, db: Optional[int] = None,
               match: Optional[str] = None, type_: Optional[str] = None, *,
               aof_set=None, opened=None) -> dict:
    """``aof_set`` / ``opened``: the set and open streams the caller has already (see
    ``AOFReader``), so the input is not opened again."""
    if fmt not in ("resp", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r} (resp or jsonl)")
    key_ok = _glob(match)
    stats = {"commands": 0, "preamble_commands": 0, "filtered_out": 0}
    last_time = None
    cur_db = None
    for fname, offset, cdb, time, args, preamble, family in _items(path, stats, aof_set, opened):
        name = args[0].upper() if args else b""
        if name == b"SELECT":
            continue  # regenerated where needed
        keyed = len(args) > 1 and name not in _KEYLESS
        if db is not None and cdb is not None and cdb != db:
            stats["filtered_out"] += 1
            continue
        if db is not None and cdb is None:  # functions belong to no db
            stats["filtered_out"] += 1
            continue
        if (key_ok or type_) and not keyed:
            stats["filtered_out"] += 1
            continue
        if key_ok and not key_ok(args[1]):
            stats["filtered_out"] += 1
            continue
        if type_ and (family or command_family(name)) != type_:
            stats["filtered_out"] += 1
            continue
        stats["commands"] += 1
        if preamble:
            stats["preamble_commands"] += 1
        if fmt == "jsonl":
            obj = {"file": fname, "offset": offset, "db": cdb, "time": time,
                   "args": [bstr_json(a) for a in args]}
            if preamble:
                obj["preamble"] = True
            out_stream.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")
        else:
            if time is not None and time != last_time:
                out_stream.write(encode_annotation_ts(time))
                last_time = time
            if cdb is not None and cdb != cur_db:
                out_stream.write(encode_command([b"SELECT", b"%d" % cdb]))
                cur_db = cdb
            out_stream.write(encode_command(args))
    return stats


__all__ = ["export_aof", "record_commands", "command_family"]
