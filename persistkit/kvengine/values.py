"""In-memory value types of the keyspace.

The Python type of a stored value says its Redis type:

=========  ============================================================
string     ``bytes``
list       ``collections.deque`` of bytes
hash       ``Hash`` (a dict field -> value, plus per-field expiry times)
set        ``set`` of bytes
zset       ``ZSet`` (member -> score, plus a sorted index)
stream     ``Stream``
=========  ============================================================
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import dataclass, field
from itertools import chain
from typing import Optional

from .reply import WRONGTYPE, CommandError


class Hash(dict):
    """field -> value; ``fexp`` holds absolute unix-ms expiry times of fields that have one."""

    __slots__ = ("fexp",)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.fexp: dict[bytes, int] = {}

    def copy(self) -> "Hash":
        h = Hash(self)
        h.fexp = dict(self.fexp)
        return h


class SortedIndex:
    """(score, member) pairs in ascending order, kept as a list of sorted chunks.

    An insert or a delete moves at most one chunk (``LOAD`` to ``2 * LOAD`` items), not
    the whole sequence, so a ZADD into a large sorted set costs two bisects and a short
    list insert (Redis keeps a skiplist for the same reason, t_zset.c zslInsert). It reads
    like the sorted list it replaces: ``len``, iteration, ``[i]``, ``[a:b]`` (a list),
    ``bisect_left``; positions come from per-chunk offsets rebuilt after a change.
    """

    __slots__ = ("_chunks", "_maxes", "_len", "_offsets")

    LOAD = 512

    def __init__(self, items=()) -> None:
        """``items`` must already be sorted."""
        self._load(list(items))

    def _load(self, items: list) -> None:
        """Hold exactly the sorted ``items``, in chunks of ``LOAD``."""
        load = self.LOAD
        self._chunks: list[list] = [items[i:i + load] for i in range(0, len(items), load)]
        self._maxes: list = [c[-1] for c in self._chunks]
        self._len = len(items)
        self._offsets: Optional[list[int]] = None

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self):
        return chain.from_iterable(self._chunks)

    def __reversed__(self):
        for c in reversed(self._chunks):
            yield from reversed(c)

    def __repr__(self) -> str:
        return f"SortedIndex({list(self)!r})"

    def __eq__(self, other) -> bool:
        if isinstance(other, SortedIndex):
            return self._len == other._len and list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def add(self, item) -> None:
        maxes = self._maxes
        self._offsets = None
        self._len += 1
        if not maxes:
            self._chunks.append([item])
            maxes.append(item)
            return
        k = bisect_left(maxes, item)
        if k == len(maxes):  # past the last item: append to the last chunk
            k -= 1
            chunk = self._chunks[k]
            chunk.append(item)
            maxes[k] = item
        else:
            chunk = self._chunks[k]
            insort(chunk, item)
        if len(chunk) > 2 * self.LOAD:
            half = chunk[self.LOAD:]
            del chunk[self.LOAD:]
            self._chunks.insert(k + 1, half)
            maxes[k] = chunk[-1]
            maxes.insert(k + 1, half[-1])

    def update(self, items: list) -> None:
        """Add many items, none of them present, ``items`` sorted. A batch that is large
        against the index is merged in one sort (two sorted runs: a linear merge) and the
        chunks rebuilt; a small one goes item by item, so a big index is never rebuilt
        for a few items."""
        if not items:
            return
        if len(items) * 8 < self._len:
            for it in items:
                self.add(it)
            return
        merged = list(self)
        merged.extend(items)
        merged.sort()
        self._load(merged)

    def remove(self, item) -> None:
        """Remove ``item``, which must be present."""
        k = bisect_left(self._maxes, item)
        chunk = self._chunks[k]
        del chunk[bisect_left(chunk, item)]
        self._len -= 1
        self._offsets = None
        if chunk:
            self._maxes[k] = chunk[-1]
        else:
            del self._chunks[k]
            del self._maxes[k]

    def _offset(self, k: int) -> int:
        off = self._offsets
        if off is None:
            off = [0]
            total = 0
            for c in self._chunks:
                total += len(c)
                off.append(total)
            self._offsets = off
        return off[k]

    def bisect_left(self, item) -> int:
        """Position of ``item`` (or where it would go)."""
        maxes = self._maxes
        k = bisect_left(maxes, item)
        if k == len(maxes):
            return self._len
        return self._offset(k) + bisect_left(self._chunks[k], item)

    def bisect_score(self, score: float, right: bool) -> int:
        """First position whose score is > ``score`` (``right``) or >= ``score``."""
        chunks = self._chunks
        lo, hi = 0, len(chunks)
        while lo < hi:  # the first chunk whose last score passes the bound
            mid = (lo + hi) // 2
            last = chunks[mid][-1][0]
            if last <= score if right else last < score:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(chunks):
            return self._len
        return self._offset(lo) + _bisect_score(chunks[lo], score, right)

    def _locate(self, i: int) -> tuple[int, int]:
        """(chunk, index inside it) of position ``i`` (0 <= i < len)."""
        self._offset(0)
        off = self._offsets
        k = bisect_right(off, i) - 1
        return k, i - off[k]

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step != 1:
                return list(self)[i]
            if start >= stop:
                return []
            k, j = self._locate(start)
            out: list = []
            need = stop - start
            chunks = self._chunks
            while need > 0:
                piece = chunks[k][j:j + need]
                out += piece
                need -= len(piece)
                k += 1
                j = 0
            return out
        n = self._len
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("SortedIndex index out of range")
        if i == 0:
            return self._chunks[0][0]
        if i == n - 1:
            return self._chunks[-1][-1]
        k, j = self._locate(i)
        return self._chunks[k][j]

    def copy(self) -> "SortedIndex":
        c = SortedIndex.__new__(SortedIndex)
        c._chunks = [list(x) for x in self._chunks]
        c._maxes = list(self._maxes)
        c._len = self._len
        c._offsets = None
        return c


class ZSet:
    """Sorted set: a dict for member lookups and a SortedIndex of (score, member) for ranges.

    Redis orders equal scores by member bytes (zslInsert compares sdscmp), which is
    exactly Python's tuple ordering of (float, bytes).
    """

    __slots__ = ("scores", "index")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.index = SortedIndex()

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: bytes, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            self.index.remove((old, member))
        self.scores[member] = score
        self.index.add((score, member))

    def add_many(self, pairs) -> tuple[int, int]:
        """``add(member, score)`` for every (score, member) of ``pairs`` in order, with the
        new members put into the index in one batch: (members added, existing members
        whose score changed)."""
        scores = self.scores
        fresh: dict = {}
        updates = []
        changed = 0
        for score, m in pairs:
            if m in scores:
                updates.append((score, m))
            else:
                if m in fresh and fresh[m] != score:
                    changed += 1
                fresh[m] = score
        if fresh:
            scores.update(fresh)
            self.index.update(sorted([(sc, m) for m, sc in fresh.items()]))
        for score, m in updates:
            if scores[m] != score:
                changed += 1
                self.add(m, score)
        return len(fresh), changed

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.index.remove((old, member))
        return True

    def rank(self, member: bytes) -> Optional[int]:
        s = self.scores.get(member)
        if s is None:
            return None
        return self.index.bisect_left((s, member))

    def score_range_indices(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple[int, int]:
        idx = self.index
        start = idx.bisect_score(lo, right=lo_ex)
        stop = idx.bisect_score(hi, right=not hi_ex)
        return start, max(start, stop)

    def copy(self) -> "ZSet":
        z = ZSet()
        z.scores = dict(self.scores)
        z.index = self.index.copy()
        return z


def _bisect_score(idx, score: float, right: bool) -> int:
    """Bisect a sorted list of (score, member) on the score alone."""
    lo, hi = 0, len(idx)
    if right:
        while lo < hi:
            mid = (lo + hi) // 2
            if idx[mid][0] <= score:
                lo = mid + 1
            else:
                hi = mid
    else:
        while lo < hi:
            mid = (lo + hi) // 2
            if idx[mid][0] < score:
                lo = mid + 1
            else:
                hi = mid
    return lo


# ---------------------------------------------------------------------------
# streams

StreamID = tuple[int, int]
UINT64_MAX = (1 << 64) - 1


@dataclass(slots=True)
class PendingEntry:
    consumer: bytes
    delivery_time: int
    delivery_count: int


@dataclass(slots=True)
class Consumer:
    name: bytes
    seen_time: int
    active_time: Optional[int] = None  # 7.2+ (RDB stream v3); kept as loaded
    pel: dict = field(default_factory=dict)  # id -> PendingEntry (shared with the group PEL)


@dataclass(slots=True)
class Group:
    name: bytes
    last_id: StreamID
    entries_read: int  # -1 = unknown (SCG_INVALID_ENTRIES_READ)
    pel: dict = field(default_factory=dict)        # id -> PendingEntry, kept sorted on output
    consumers: dict = field(default_factory=dict)  # name -> Consumer


class Stream:
    """Entries by id (ascending ``ids`` list + dict), and the 7.0 metadata."""

    __slots__ = ("ids", "entries", "last_id", "first_id", "max_deleted_id", "entries_added", "groups")

    def __init__(self) -> None:
        self.ids: list[StreamID] = []
        self.entries: dict[StreamID, list[tuple[bytes, bytes]]] = {}
        self.last_id: StreamID = (0, 0)
        self.first_id: StreamID = (0, 0)
        self.max_deleted_id: StreamID = (0, 0)
        self.entries_added: int = 0
        self.groups: dict[bytes, Group] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, sid: StreamID, fields: list) -> None:
        self.ids.append(sid)
        self.entries[sid] = fields
        if len(self.ids) == 1:
            self.first_id = sid
        self.last_id = sid
        self.entries_added += 1

    def delete(self, sid: StreamID) -> bool:
        if sid not in self.entries:
            return False
        del self.entries[sid]
        i = bisect_left(self.ids, sid)
        del self.ids[i]
        if sid > self.max_deleted_id:
            self.max_deleted_id = sid
        if i == 0:
            self.first_id = self.ids[0] if self.ids else (0, 0)
        return True

    def range_indices(self, start: StreamID, end: StreamID) -> tuple[int, int]:
        a = bisect_left(self.ids, start)
        b = bisect_right(self.ids, end)
        return a, max(a, b)

    def copy(self) -> "Stream":
        import copy as _copy

        return _copy.deepcopy(self)


def type_name(value) -> str:
    t = type(value)
    if t is bytes:
        return "string"
    if t is deque:
        return "list"
    if t is Hash:
        return "hash"
    if t is set:
        return "set"
    if t is ZSet:
        return "zset"
    if t is Stream:
        return "stream"
    return "none"


def copy_value(value):
    t = type(value)
    if t is bytes:
        return value
    if t is deque:
        return deque(value)
    if t is set:
        return set(value)
    return value.copy()


def expect(value, cls):
    """Raise WRONGTYPE unless ``value`` is None or of class ``cls``."""
    if value is not None and type(value) is not cls:
        raise CommandError(WRONGTYPE)
    return value
