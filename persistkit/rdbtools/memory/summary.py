"""Summaries of memory rows: totals, by type/encoding, by db, a key-prefix tree and the
top N keys. One ``Summary`` per file, merged in input order, so a report over many files
is the same whether they were read by one process or several.

Memory is bounded whatever the key count: the prefix tree keeps at most
``MAX_PREFIXES`` prefixes per file (later new prefixes are counted in their parent's
"other" bucket), and the top list is a heap of N rows.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Optional

from persistkit.kvencoding.bstr import bstr_json
from persistkit.rdbtools.memory.estimate import (DB, ELEMENTS, ENCODING, EXPIRE, KEY, LARGEST,
                                                 SIZE, STORED, TYPE, USAGE)

MAX_PREFIXES = 20000
OTHER = None   # the child key of a prefix's "other" bucket


class Summary:
    def __init__(self, *, top: int = 10, prefix_depth: int = 2, separator: bytes = b":",
                 max_prefixes: int = MAX_PREFIXES) -> None:
        self.top = top
        self.depth = prefix_depth
        self.sep = separator
        self.max_prefixes = max_prefixes
        self.files: list[dict] = []
        self.keys = 0
        self.size = 0
        self.usage = 0
        self.stored = 0
        self.expires = 0
        self.by_type: dict[str, list[int]] = {}     # "type/encoding" -> [keys, size, elements]
        self.by_db: dict[int, list[int]] = {}       # db -> [keys, expires, size]
        # prefix tuple (parts...) or (parts..., OTHER) -> [keys, size]
        self.prefixes: dict[tuple, list[int]] = {}
        self._heap: list = []
        self._seq = 0
        self._file_index = 0

    # -------------------------------------------------------------- adding rows
    def start_file(self, meta: dict) -> None:
        self._file_index = len(self.files)
        self.files.append(dict(meta, keys=0, size=0, usage=0))

    def add(self, row) -> None:
        self.add_rows((row,))

    def add_rows(self, rows: Iterable) -> None:
        """Count ``rows`` (the hot loop of a report: state in locals)."""
        f = self.files[-1]
        by_type = self.by_type
        by_db = self.by_db
        heap = self._heap
        top = self.top
        fidx = -self._file_index
        depth = self.depth
        add_prefixes = self._add_prefixes
        keys = size_sum = usage_sum = stored_sum = expires = 0
        seq = self._seq
        for row in rows:
            size = row[SIZE]
            usage = row[USAGE]
            keys += 1
            size_sum += size
            usage_sum += usage
            stored_sum += row[STORED]
            exp = row[EXPIRE] is not None
            expires += exp
            te = row[TYPE] + "/" + row[ENCODING]
            t = by_type.get(te)
            if t is None:
                t = by_type[te] = [0, 0, 0]
            t[0] += 1
            t[1] += size
            t[2] += row[ELEMENTS]
            d = by_db.get(row[DB])
            if d is None:
                d = by_db[row[DB]] = [0, 0, 0]
            d[0] += 1
            d[1] += exp
            d[2] += size
            if depth:
                add_prefixes(row[KEY], size)
            if top:
                seq += 1
                if len(heap) < top:
                    heapq.heappush(heap, (size, fidx, -seq, row))
                elif size >= heap[0][0]:
                    entry = (size, fidx, -seq, row)
                    if entry > heap[0]:
                        heapq.heapreplace(heap, entry)
        self._seq = seq
        self.keys += keys
        self.size += size_sum
        self.usage += usage_sum
        self.stored += stored_sum
        self.expires += expires
        f["keys"] += keys
        f["size"] += size_sum
        f["usage"] += usage_sum

    def _add_prefixes(self, key: bytes, size: int) -> None:
        parts = key.split(self.sep, self.depth)
        # only proper prefixes: the last part is the rest of the key
        prefixes = self.prefixes
        path: tuple = ()
        for part in parts[:-1]:
            path = path + (part,)
            node = prefixes.get(path)
            if node is None:
                if len(prefixes) >= self.max_prefixes:
                    other = path[:-1] + (OTHER,)
                    node = prefixes.get(other)
                    if node is None:
                        node = prefixes[other] = [0, 0]
                    node[0] += 1
                    node[1] += size
                    return
                node = prefixes[path] = [0, 0]
            node[0] += 1
            node[1] += size

    # -------------------------------------------------------------- merging
    def merge(self, other: "Summary") -> None:
        """Add ``other`` (the summary of later files) to this one."""
        base = len(self.files)
        self.files.extend(other.files)
        self.keys += other.keys
        self.size += other.size
        self.usage += other.usage
        self.stored += other.stored
        self.expires += other.expires
        for k, v in other.by_type.items():
            t = self.by_type.setdefault(k, [0, 0, 0])
            for i in range(3):
                t[i] += v[i]
        for k, v in other.by_db.items():
            d = self.by_db.setdefault(k, [0, 0, 0])
            for i in range(3):
                d[i] += v[i]
        # Parents come before their children (insertion order); a prefix refused here
        # goes with all its keys into its parent's "other" bucket, its children are
        # already counted there.
        prefixes = self.prefixes
        refused: set = set()
        for k, v in other.prefixes.items():
            parent = k[:-1]
            if parent in refused or (parent and parent not in prefixes):
                if k[-1] is not OTHER:
                    refused.add(k)
                continue
            p = prefixes.get(k)
            if p is None:
                if k[-1] is not OTHER and len(prefixes) >= self.max_prefixes:
                    refused.add(k)
                    k = parent + (OTHER,)
                    p = prefixes.get(k)
                if p is None:
                    p = prefixes[k] = [0, 0]
            p[0] += v[0]
            p[1] += v[1]
        for size, fidx, seq, row in other._heap:
            entry = (size, fidx - base, seq, row)
            if len(self._heap) < self.top:
                heapq.heappush(self._heap, entry)
            elif entry > self._heap[0]:
                heapq.heapreplace(self._heap, entry)

    # -------------------------------------------------------------- output
    def top_rows(self) -> list:
        """(file index, row) of the biggest keys, biggest first."""
        return [(-fidx, row) for _, fidx, _, row in sorted(self._heap, reverse=True)]

    def prefix_tree(self, limit: Optional[int] = None) -> list[dict]:
        """The prefix tree as nested dicts, children biggest first (``limit`` children
        per node at most; the rest summed into one "other" entry)."""
        children: dict[tuple, list] = {}
        for path, (keys, size) in self.prefixes.items():
            children.setdefault(path[:-1], []).append((path, keys, size))

        sep = self.sep

        def build(parent: tuple) -> list[dict]:
            got = sorted(children.get(parent, ()), key=lambda c: (-c[2], _sort_key(c[0])))
            out = []
            rest_keys = rest_size = 0
            for i, (path, keys, size) in enumerate(got):
                if path[-1] is OTHER or (limit is not None and i >= limit):
                    rest_keys += keys
                    rest_size += size
                    continue
                text = sep.join(path) + sep
                out.append({"prefix": bstr_json(text), "keys": keys, "size": size,
                            "children": build(path)})
            if rest_keys:
                out.append({"prefix": None, "other": True, "keys": rest_keys, "size": rest_size,
                            "children": []})
            return out

        return build(())

    def as_dict(self, prefix_limit: Optional[int] = 50) -> dict:
        return {
            "model": "redis-7.0 (jemalloc, 64-bit, default thresholds)",
            "files": self.files,
            "keys": self.keys,
            "expires": self.expires,
            "size": self.size,
            "usage": self.usage,
            "stored": self.stored,
            "by_type": [{"type": k.split("/")[0], "encoding": k.split("/")[1], "keys": v[0],
                         "size": v[1], "elements": v[2]}
                        for k, v in sorted(self.by_type.items(), key=lambda kv: (-kv[1][1], kv[0]))],
            "by_db": [{"db": db, "keys": v[0], "expires": v[1], "size": v[2]}
                      for db, v in sorted(self.by_db.items())],
            "prefix_depth": self.depth,
            "separator": bstr_json(self.sep),
            "prefixes": self.prefix_tree(prefix_limit),
            "top": [dict(row_json(row), file=self.files[fidx]["path"]) for fidx, row in self.top_rows()],
        }


def _sort_key(path: tuple) -> tuple:
    return tuple(b"" if p is None else p for p in path)


def row_json(row) -> dict:
    return {"db": row[DB], "key": bstr_json(row[KEY]), "type": row[TYPE],
            "encoding": row[ENCODING], "size": row[SIZE], "usage": row[USAGE],
            "elements": row[ELEMENTS], "largest": row[LARGEST], "expire_at_ms": row[EXPIRE],
            "stored": row[STORED]}
