"""``inspect`` for RDB files: what is in a snapshot, from one pass without building values.

The result is a plain dict (the ``--json`` document)::

    {"path", "kind": "rdb", "magic", "version", "size",            # file bytes (None for stdin/compressed)
     "aux": {name: BSTR},                                           # AUX fields in file order
     "dbs": {"0": {"keys", "expires", "resize_hint": {"keys", "expires"}|null}},
     "keys", "expires",
     "types": {"hash": {"keys", "bytes", "elements"}},              # bytes = serialized record bytes
     "encodings": {"hash/listpack": {"keys", "bytes"}},
     "ttl": {"none", "expired", "lt_1h", "lt_1d", "lt_30d", "later", "reference_ms"},
     "biggest": [{"db", "key": BSTR, "type", "encoding", "bytes",  # bytes: serialized record
                  "elements",                                      # collections (None for strings)
                  "length", "offset"}],                            # strings: value length
     "functions": [{"library": name|null, "engine": "LUA"|null, "bytes"}],
     "modules": [{"module", "encver", "keys", "bytes"}], "module_aux": [{"module", "encver", "when"}],
     "slot_info": N, "opaque": [{"name", "offset", "bytes"}],
     "key_meta": {"keys": N, "classes": {"KMT1 v1": N}},          # RDB 13+ key metadata
     "empty_keys": N,
     "checksum": "ok"|"mismatch"|"disabled"|"absent (RDB version < 5)"|null,
     "memory_estimate": bytes}

TTL buckets are relative to ``now_ms`` (default: the current time). The memory estimate
is rough: per key a fixed overhead (dict entry, object, key sds) plus the serialized
value, plus a per-element overhead for the non-compact encodings (hashtable,
skiplist, quicklist nodes); compact encodings (listpack, intset, ziplist) are about
their serialized size in memory.

With the compiled accelerator the per-record figures of the records the compiled scan
accepts are gathered by it (``fastscan``); the document is the same either way.
"""

from __future__ import annotations

import heapq
import re
import time
from typing import Callable, Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import input_name, input_size, open_input
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import fastscan, model
from persistkit.rdbtools.reader import RDBReader
from persistkit.kvencoding.bstr import bstr_json

HOUR = 3600 * 1000
DAY = 24 * HOUR
KEY_OVERHEAD = 72          # dictEntry + robj + sds headers, roughly (64-bit build)
ELEMENT_OVERHEAD = {"hashtable": 56, "skiplist": 80, "quicklist": 0, "stream": 0}

_LIB = re.compile(rb"^#!(\w+)\s+name=(\S+)")

Progress = Optional[Callable[[int, Optional[int]], None]]


def inspect_rdb(path, *, top: int = 10, now_ms: Optional[int] = None, progress: Progress = None,
                data: Optional[bytes] = None, stream=None) -> dict:
    """Inspect the RDB at ``path`` (or ``data`` bytes, or an open binary ``stream``)."""
    if data is not None:
        return _inspect(ByteSource(data, name=str(path), crc=True), str(path), top, now_ms, progress)
    if stream is not None:
        src = ByteSource(stream, name=str(path), size=input_size(stream), crc=True)
        return _inspect(src, str(path), top, now_ms, progress)
    with open_input(path) as stream:
        src = ByteSource(stream, name=input_name(stream), size=input_size(stream), crc=True,
                         chunk=fastscan.source_chunk())
        return _inspect(src, str(path), top, now_ms, progress)


def _inspect(src: ByteSource, path: str, top: int, now_ms: Optional[int], progress: Progress) -> dict:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    reader = RDBReader(src, decode=False, name=path, strict_crc=False)
    h = reader.header
    out = {"path": path, "kind": "rdb", "magic": h.magic, "version": h.version, "size": src.size,
           "aux": {}, "dbs": {}, "keys": 0, "expires": 0, "types": {}, "encodings": {},
           "ttl": {"none": 0, "expired": 0, "lt_1h": 0, "lt_1d": 0, "lt_30d": 0, "later": 0,
                   "reference_ms": now},
           "biggest": [], "functions": [], "modules": [], "module_aux": [], "slot_info": 0,
           "opaque": [], "key_meta": {"keys": 0, "classes": {}}, "empty_keys": 0,
           "checksum": None, "memory_estimate": 0}
    dbs = out["dbs"]
    types = out["types"]
    encs = out["encodings"]
    ttl = out["ttl"]
    modules: dict[str, dict] = {}
    heap: list = []
    seq = mem = last = 0
    current_db = "0"
    Record = model.Record

    def take(item) -> None:
        nonlocal seq, mem, last, current_db
        cls = item.__class__
        if cls is Record:
            n = item.length
            d = dbs.get(str(item.db))
            if d is None:
                d = dbs[str(item.db)] = {"keys": 0, "expires": 0, "resize_hint": None}
            d["keys"] += 1
            out["keys"] += 1
            t = types.get(item.type)
            if t is None:
                t = types[item.type] = {"keys": 0, "bytes": 0, "elements": 0}
            t["keys"] += 1
            t["bytes"] += n
            elements = item.size_hint if item.type != model.STRING else 1
            t["elements"] += elements or 0
            ek = f"{item.type}/{item.encoding}"
            e = encs.get(ek)
            if e is None:
                e = encs[ek] = {"keys": 0, "bytes": 0}
            e["keys"] += 1
            e["bytes"] += n
            exp = item.expire_ms
            if exp is None:
                ttl["none"] += 1
            else:
                out["expires"] += 1
                d["expires"] += 1
                left = exp - now
                if left <= 0:
                    ttl["expired"] += 1
                elif left < HOUR:
                    ttl["lt_1h"] += 1
                elif left < DAY:
                    ttl["lt_1d"] += 1
                elif left < 30 * DAY:
                    ttl["lt_30d"] += 1
                else:
                    ttl["later"] += 1
            mem += KEY_OVERHEAD + len(item.key) + n + (elements or 0) * ELEMENT_OVERHEAD.get(item.encoding, 0)
            if item.key_meta:
                km = out["key_meta"]
                km["keys"] += 1
                for m in item.key_meta:
                    label = f"{m.name} v{m.version}"
                    km["classes"][label] = km["classes"].get(label, 0) + 1
            if item.type == model.MODULE and item.layout:
                mid = item.layout.get("module_id", 0)
                name = item.layout.get("module")
                m = modules.setdefault(name, {"module": name, "encver": mid & 1023, "keys": 0, "bytes": 0})
                m["keys"] += 1
                m["bytes"] += n
            if top > 0:
                seq += 1
                _biggest(heap, top, (n, -seq, item.db, item.key, item.type, item.encoding,
                                     item.size_hint, item.offset))
            if progress is not None and item.offset - last > (1 << 20):
                last = item.offset
                progress(item.offset, src.size)
        elif cls is model.Aux:
            out["aux"][item.key.decode("utf-8", "backslashreplace")] = bstr_json(item.value)
            if embed is not None:
                embed.aux(item.key, item.value)
        elif cls is model.SelectDB:
            current_db = str(item.db)
        elif cls is model.ResizeDB:
            d = dbs.setdefault(current_db, {"keys": 0, "expires": 0, "resize_hint": None})
            d["resize_hint"] = {"keys": item.db_size, "expires": item.expires_size}
        elif cls is model.Function:
            m = _LIB.match(item.code)
            out["functions"].append({
                "library": (m.group(2).decode("utf-8", "replace") if m else
                            (item.name.decode("utf-8", "replace") if item.name else None)),
                "engine": (m.group(1).decode().upper() if m else
                           (item.engine.decode("utf-8", "replace") if item.engine else None)),
                "bytes": len(item.code)})
        elif cls is model.ModuleAux:
            v = item.value
            out["module_aux"].append({"module": v.name, "encver": v.encver, "when": v.when})
        elif cls is model.SlotInfo:
            out["slot_info"] += 1
        elif cls is model.Opaque:
            out["opaque"].append({"name": item.name, "offset": item.offset, "bytes": item.length})
        elif cls is model.EOF:
            if item.checksum is None:
                out["checksum"] = "absent (RDB version < 5)"
            elif item.checksum == 0:
                out["checksum"] = "disabled"
            else:
                out["checksum"] = "ok" if item.checksum_ok else "mismatch"
        if scanner is not None and top > 0:
            scanner.seq = seq
            scanner.set_heap([entry[0] for entry in heap])

    def scanned(sc) -> None:
        """Add the records the compiled scan accepted (fastscan.walk)."""
        nonlocal seq, mem, last
        if not sc.keys:
            return
        db = current_db
        d = dbs.get(db)
        if d is None:
            d = dbs[db] = {"keys": 0, "expires": 0, "resize_hint": None}
        d["keys"] += sc.keys
        d["expires"] += sc.expires
        out["keys"] += sc.keys
        out["expires"] += sc.expires
        for rdb_type, enc in sc.touched:
            keys, nbytes, elements = sc.figures(rdb_type, enc)
            tname = type_names[rdb_type][0]
            t = types.get(tname)
            if t is None:
                t = types[tname] = {"keys": 0, "bytes": 0, "elements": 0}
            t["keys"] += keys
            t["bytes"] += nbytes
            t["elements"] += elements
            ek = f"{tname}/{enc_names[enc]}"
            e = encs.get(ek)
            if e is None:
                e = encs[ek] = {"keys": 0, "bytes": 0}
            e["keys"] += keys
            e["bytes"] += nbytes
        ttl["none"] += sc.ttl_none
        ttl["expired"] += sc.ttl_expired
        ttl["lt_1h"] += sc.ttl_1h
        ttl["lt_1d"] += sc.ttl_1d
        ttl["lt_30d"] += sc.ttl_30d
        ttl["later"] += sc.ttl_later
        mem += sc.memory
        if top > 0:
            # The scanner kept a twin of the heap's sizes: these are exactly the
            # records the heap takes, in file order.
            for n, seq, rdb_db, key, rdb_type, enc, hint, offset in sc.biggest:
                _biggest(heap, top, (n, -seq, rdb_db, key, type_names[rdb_type][0],
                                     enc_names[enc], hint, offset))
            seq = sc.seq
        sc.reset_stats()
        if progress is not None and src.tell() - last > (1 << 20):
            last = src.tell()
            progress(src.tell(), src.size)

    scan_mod = fastscan.compiled(h)
    scanner = None
    embed = None
    if scan_mod is not None:
        from persistkit.rdbtools import opcodes

        type_names = opcodes.VALKEY_TYPES if h.magic == "VALKEY" else opcodes.REDIS_TYPES
        enc_names = scan_mod.ENCODING_NAMES
        embed = fastscan.EmbedRule(h.magic)
        scanner = scan_mod.Scanner(deep=False, version=h.version, stats=True, top=top,
                                   overhead=[ELEMENT_OVERHEAD.get(e, 0) for e in enc_names],
                                   key_overhead=KEY_OVERHEAD, now_ms=now,
                                   **fastscan.scanner_options())
        fastscan.walk(reader, src, scanner, take, scanned, embed)
    else:
        for item in reader:
            take(item)
    out["modules"] = list(modules.values())
    out["empty_keys"] = len(reader.empty_keys)
    out["memory_estimate"] = mem
    out["biggest"] = [{"db": db, "key": bstr_json(key), "type": t, "encoding": enc, "bytes": n,
                       "elements": None if t == model.STRING else el,
                       "length": el if t == model.STRING else None, "offset": off}
                      for n, _, db, key, t, enc, el, off in sorted(heap, reverse=True)]
    if progress is not None:
        progress(src.tell(), src.size)
    return out


def _biggest(heap: list, top: int, entry: tuple) -> None:
    if len(heap) < top:
        heapq.heappush(heap, entry)
    elif entry[0] > heap[0][0]:
        heapq.heapreplace(heap, entry)


__all__ = ["inspect_rdb", "FormatError"]
