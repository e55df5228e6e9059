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


class ZSet:
    """Sorted set: a dict for member lookups and a sorted list of (score, member) for ranges.

    Redis orders equal scores by member bytes (zslInsert compares sdscmp), which is
    exactly Python's tuple ordering of (float, bytes).
    """

    __slots__ = ("scores", "index")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.index: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: bytes, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            del self.index[bisect_left(self.index, (old, member))]
        self.scores[member] = score
        insort(self.index, (score, member))

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        del self.index[bisect_left(self.index, (old, member))]
        return True

    def rank(self, member: bytes) -> Optional[int]:
        s = self.scores.get(member)
        if s is None:
            return None
        return bisect_left(self.index, (s, member))

    def score_range_indices(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple[int, int]:
        idx = self.index
        # (score, b"") sorts before every member of that score; use a bisect on scores only.
        start = _bisect_score(idx, lo, right=lo_ex)
        stop = _bisect_score(idx, hi, right=not hi_ex)
        return start, max(start, stop)

    def copy(self) -> "ZSet":
        z = ZSet()
        z.scores = dict(self.scores)
        z.index = list(self.index)
        return z


def _bisect_score(idx, score: float, right: bool) -> int:
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
