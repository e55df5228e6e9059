"""Output of ``persistkit memory``: per-key rows (CSV, JSON lines) and the summary
(rich tables; the JSON document is ``Summary.as_dict()``).

The CSV is redis-rdb-tools' ``rdb -c memory`` layout, column for column, so spreadsheets
made for it keep working: ``database,type,key,size_in_bytes,encoding,num_elements,
len_largest_element,expiry``; ``type`` uses its names (``sortedset`` for a zset), the key is
written as its bytes (quoted, CSV style, only when it holds a comma, a quote or a line
break), ``expiry`` is the UTC time ``datetime.isoformat()`` prints (microseconds only when
not zero), empty without a TTL. ``encoding`` is the loading server's OBJECT ENCODING.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import BinaryIO

from rich.console import Console
from rich.table import Table

from persistkit.kvencoding.bstr import bstr_json
from persistkit.rdbtools.memory.estimate import (DB, ELEMENTS, ENCODING, EXPIRE, KEY, LARGEST,
                                                 SIZE, STORED, TYPE, USAGE)
from persistkit.render.common import display_bytes

CSV_HEADER = b"database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry\n"
RDBTOOLS_TYPES = {"zset": "sortedset"}
_TYPE_BYTES = {t: RDBTOOLS_TYPES.get(t, t).encode()
               for t in ("string", "list", "set", "zset", "hash", "stream", "module")}
_ENCODING_BYTES = {e: e.encode() for e in ("int", "embstr", "raw", "quicklist", "listpack",
                                          "hashtable", "intset", "skiplist", "stream")}
_EPOCH = datetime.datetime(1970, 1, 1)
_MAX_SECONDS = 221925052800  # redis-rdb-tools clamps here (to_datetime)


def expiry_text(ms) -> str:
    if ms is None:
        return ""
    usecs = ms * 1000
    seconds = min(usecs // 1000000, _MAX_SECONDS)
    try:
        dt = _EPOCH + datetime.timedelta(seconds=seconds, microseconds=usecs % 1000000)
    except OverflowError:
        return ""
    return dt.isoformat()


_NEEDS_QUOTES = re.compile(rb'[,"\r\n]')


def _csv_key(key: bytes) -> bytes:
    if _NEEDS_QUOTES.search(key) is None:
        return key
    return b'"' + key.replace(b'"', b'""') + b'"'


class CsvRows:
    """redis-rdb-tools' memory CSV."""

    def __init__(self, out: BinaryIO, header: bool = True) -> None:
        self.out = out
        if header:
            out.write(CSV_HEADER)

    def write(self, rows, file: str) -> None:
        types = _TYPE_BYTES
        encs = _ENCODING_BYTES
        search = _NEEDS_QUOTES.search
        lines = []
        append = lines.append
        for r in rows:
            key = r[KEY]
            if search(key) is not None:
                key = _csv_key(key)
            exp = r[EXPIRE]
            append(b"%d,%s,%s,%d,%s,%d,%d,%s\n" % (
                r[DB], types[r[TYPE]], key, r[SIZE], encs.get(r[ENCODING]) or r[ENCODING].encode(),
                r[ELEMENTS], r[LARGEST], b"" if exp is None else expiry_text(exp).encode()))
        self.out.write(b"".join(lines))

    def close(self) -> None:
        pass


class JsonRows:
    """One JSON object per key (``file`` names the input)."""

    def __init__(self, out: BinaryIO, header: bool = True) -> None:
        self.out = out

    def write(self, rows, file: str) -> None:
        out = self.out
        dumps = json.dumps
        for r in rows:
            out.write(dumps({"file": file, "db": r[DB], "key": bstr_json(r[KEY]), "type": r[TYPE],
                             "encoding": r[ENCODING], "size": r[SIZE], "usage": r[USAGE],
                             "elements": r[ELEMENTS], "largest": r[LARGEST],
                             "expire_at_ms": r[EXPIRE], "stored": r[STORED]},
                            ensure_ascii=False, separators=(",", ":")).encode() + b"\n")

    def close(self) -> None:
        pass


ROW_WRITERS = {"csv": CsvRows, "jsonl": JsonRows}


def _size(n) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _text(x) -> str:
    if x is None:
        return "(other)"
    if isinstance(x, dict):
        return "hex:" + x["hex"][:60]
    return display_bytes(x.encode("utf-8", "surrogateescape"), 60)


def _pct(part: int, total: int) -> str:
    return f"{100.0 * part / total:.1f}%" if total else "-"


def render_summary(doc: dict, console: Console, *, prefix_rows: int = 30) -> None:
    total = doc["size"]
    t = Table(title="Files", show_edge=False)
    for c in ("file", "RDB", "keys", "file size", "memory"):
        t.add_column(c, justify="left" if c == "file" else "right")
    for f in doc["files"]:
        usage = f.get("usage")
        t.add_row(f["path"], f"{f.get('magic') or '?'} {f.get('version') or ''}", f"{f['keys']:,}",
                  _size(f["size"]), _size(usage) if usage is not None else "-")
    console.print(t, emoji=False)
    t = Table(title="By type and encoding (as a loading server holds them)", show_edge=False)
    for c in ("type", "encoding", "keys", "elements", "memory", "share"):
        t.add_column(c, justify="left" if c in ("type", "encoding") else "right")
    for r in doc["by_type"]:
        t.add_row(r["type"], r["encoding"], f"{r['keys']:,}", f"{r['elements']:,}", _size(r["size"]),
                  _pct(r["size"], total))
    console.print(t, emoji=False)
    t = Table(title="By database", show_edge=False)
    for c in ("db", "keys", "with TTL", "memory"):
        t.add_column(c, justify="right")
    for r in doc["by_db"]:
        t.add_row(str(r["db"]), f"{r['keys']:,}", f"{r['expires']:,}", _size(r["size"]))
    console.print(t, emoji=False)
    if doc["prefixes"]:
        t = Table(title=f"Key prefixes (depth {doc['prefix_depth']}, by memory)", show_edge=False)
        for c in ("prefix", "keys", "memory", "share"):
            t.add_column(c, justify="left" if c == "prefix" else "right")
        shown = 0

        def walk(nodes, depth):
            nonlocal shown
            for n in nodes:
                if shown >= prefix_rows:
                    return
                shown += 1
                t.add_row("  " * depth + _text(n["prefix"]), f"{n['keys']:,}", _size(n["size"]),
                          _pct(n["size"], total))
                walk(n["children"], depth + 1)

        walk(doc["prefixes"], 0)
        console.print(t, emoji=False)
    if doc["top"]:
        t = Table(title=f"Biggest keys (top {len(doc['top'])})", show_edge=False)
        for c in ("db", "key", "type", "encoding", "elements", "memory"):
            t.add_column(c, justify="right" if c in ("db", "elements", "memory") else "left")
        for r in doc["top"]:
            t.add_row(str(r["db"]), _text(r["key"]), r["type"], r["encoding"], f"{r['elements']:,}",
                      _size(r["size"]))
        console.print(t, emoji=False)
    console.print(f"keys: {doc['keys']:,}  with TTL: {doc['expires']:,}  estimated memory: "
                  f"{_size(total)} ({doc['model']})", emoji=False, highlight=False)
