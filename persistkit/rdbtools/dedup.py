"""Find repeated items (keys of a db, members of a collection) in bounded memory.

``verify`` must notice a key stored twice in a db, or a member stored twice in a set,
without holding millions of items: a 10M-member set held as Python objects takes
about 1 GB. Items are compared by their 64-bit ``hash()`` (as the key check always
did: a false duplicate needs a 64-bit collision).

``RepeatFinder`` works in two phases:

* up to ``exact_limit`` distinct hashes: an exact dict (hash -> first offset); a repeat
  is reported at once (``add`` returns the first offset);
* beyond that, the dict is folded into a 2-probe Bloom filter of at most 16 MB; a
  filter hit is only a *candidate* (``candidates``). The caller then walks the items
  again (``confirm``): every occurrence of a candidate hash is counted, and
  occurrences after the first are real repeats (those already reported in the exact
  phase are not reported twice). A Bloom filter has no false negatives, so every real
  repeat is among the candidates.

With 10M items and 2^27 bits, about 0.7% of the insertions are candidates (~70k small
ints), so the whole check stays within ~20 MB.
"""

from __future__ import annotations

from typing import Iterable, Optional

EXACT_LIMIT = 20_000
COMPACT_KEYS = 1_500_000  # 12 MB of key hashes
MAX_KEY_BITS_LOG2 = 26  # 8 MB filter for files with more keys than that
MAX_BITS_LOG2 = 27  # 16 MB filter
_MIX = 0x9E3779B97F4A7C15
_U64 = (1 << 64) - 1


def mix_db(h: int, db: int) -> int:
    """One hash space for all dbs: a key's hash combined with its db number (a signed
    64-bit value, like ``hash()``)."""
    if not db:
        return h
    x = (h ^ (db * _MIX)) & _U64
    return x - (1 << 64) if x >> 63 else x


class KeyRepeatFinder:
    """Repeated keys of a whole file (hashes mixed with the db, see ``mix_db``).

    Up to ``compact_limit`` keys the hashes are kept exactly but compactly: 8 bytes a
    key in 256 ``array('q')`` buckets (1M keys: 8 MB), checked per bucket at the end;
    beyond that they are folded into a RepeatFinder filter. Either way a repeat is only
    known as a hash: the candidates are confirmed (and reported with their keys and
    offsets) by a second walk (``confirmer``), which only happens when there is a
    repeat (exact phase) or when the filter phase was reached."""

    def __init__(self, compact_limit: Optional[int] = None) -> None:
        from array import array

        self.compact_limit = COMPACT_KEYS if compact_limit is None else compact_limit
        self.buckets: Optional[list] = [array("q") for _ in range(256)]
        self.count = 0
        self.filter: Optional[RepeatFinder] = None

    def add(self, h: int) -> None:
        buckets = self.buckets
        if buckets is not None:
            buckets[h & 255].append(h)
            self.count += 1
            if self.count > self.compact_limit:
                self._to_filter()
            return
        self.filter._probe(h)

    def _to_filter(self) -> None:
        f = RepeatFinder(exact_limit=0)
        f.exact = None
        f._size_filter(1 << (MAX_KEY_BITS_LOG2 - 4))
        for bucket in self.buckets:
            for h in bucket:
                f._probe(h)
        self.buckets = None
        self.filter = f

    def finish(self) -> set:
        """The candidate hashes (empty: no repeat at all)."""
        if self.filter is not None:
            return self.filter.candidates
        out = set()
        for bucket in self.buckets:
            if len(set(bucket)) != len(bucket):
                seen = set()
                for h in bucket:
                    if h in seen:
                        out.add(h)
                    seen.add(h)
        return out

    def confirmer(self) -> "Confirmer":
        candidates = self.finish()
        self.buckets = self.filter = None  # the second walk needs only the candidates
        return Confirmer(candidates, {})


class RepeatFinder:
    """See the module docstring. ``expected``: how many items will come, when known
    (sizes the filter); ``exact_limit=None`` keeps the exact phase for ever (an input
    that cannot be walked twice)."""

    __slots__ = ("exact", "exact_limit", "bits", "shift", "mask", "candidates", "reported",
                 "expected")

    def __init__(self, expected: Optional[int] = None, exact_limit: Optional[int] = EXACT_LIMIT) -> None:
        self.exact: Optional[dict] = {}
        self.exact_limit = exact_limit
        self.expected = expected
        self.bits: Optional[bytearray] = None
        self.shift = 0
        self.mask = 0
        self.candidates: set = set()
        self.reported: dict = {}  # hash -> repeats already reported in the exact phase

    @property
    def needs_confirm(self) -> bool:
        """True when candidates from the filter phase must be confirmed by a second walk."""
        return bool(self.candidates)

    def add(self, h: int, offset=None):
        """Record one item's hash. Returns the first occurrence's offset (or True when it
        had none) for a certain repeat, else None (new, or only a filter candidate)."""
        exact = self.exact
        if exact is not None:
            first = exact.get(h, exact)
            if first is not exact:
                self.reported[h] = self.reported.get(h, 0) + 1
                return True if first is None else first
            exact[h] = offset
            if self.exact_limit is not None and len(exact) > self.exact_limit:
                self._to_filter()
            return None
        self._probe(h)
        return None

    def add_hashes(self, hashes: Iterable[int]) -> Optional[list]:
        """Many hashes at once (no offsets). Returns the hashes that were certain repeats
        (exact phase), or None when there were none."""
        exact = self.exact
        if exact is not None:
            hashes = list(hashes)
            repeats = None
            if len(set(hashes)) == len(hashes) and exact.keys().isdisjoint(hashes):
                exact.update(dict.fromkeys(hashes))
            else:
                repeats = []
                for h in hashes:
                    if h in exact:
                        repeats.append(h)
                        self.reported[h] = self.reported.get(h, 0) + 1
                    else:
                        exact[h] = None
            if self.exact_limit is not None and len(exact) > self.exact_limit:
                self._to_filter()
            return repeats
        bits = self.bits
        mask = self.mask
        shift = self.shift
        cand = self.candidates
        for h in hashes:
            i = h & mask
            j = (h >> shift) & mask
            a = i >> 3
            b = j >> 3
            mi = 1 << (i & 7)
            mj = 1 << (j & 7)
            if bits[a] & mi and bits[b] & mj:
                cand.add(h)
            else:
                bits[a] |= mi
                bits[b] |= mj
        return None

    def _probe(self, h: int) -> None:
        bits = self.bits
        i = h & self.mask
        j = (h >> self.shift) & self.mask
        mi = 1 << (i & 7)
        mj = 1 << (j & 7)
        if bits[i >> 3] & mi and bits[j >> 3] & mj:
            self.candidates.add(h)
        else:
            bits[i >> 3] |= mi
            bits[j >> 3] |= mj

    def _size_filter(self, n: int) -> None:
        log2 = min(MAX_BITS_LOG2, max(16, (16 * n - 1).bit_length()))
        self.bits = bytearray(1 << (log2 - 3))
        self.mask = (1 << log2) - 1
        self.shift = 64 - log2  # the top bits: independent of the low ones for siphash

    def _to_filter(self) -> None:
        self._size_filter(max(self.expected or 0, 16 * len(self.exact)))
        exact = self.exact
        self.exact = None
        for h in exact:
            self._probe(h)
        # Folding distinct hashes into the filter can make candidates only by filter
        # collisions; they are confirmed like the others.

    # -- second walk -----------------------------------------------------------
    def confirmer(self) -> "Confirmer":
        """The second walk's checker. The filter is released first: the second walk
        needs only the candidates (so its own dict never adds to the filter's memory)."""
        self.bits = None
        return Confirmer(self.candidates, self.reported)


class Confirmer:
    """Second walk: ``see(h, offset)`` for every item in the same order as the first
    walk; returns the first occurrence's offset (True when it had none) for each
    occurrence that is a real repeat not reported before, else None. Memory: one dict
    entry per candidate hash seen."""

    __slots__ = ("candidates", "reported", "first")

    def __init__(self, candidates: set, reported: dict) -> None:
        self.candidates = candidates
        self.reported = reported
        self.first: dict = {}

    def see(self, h: int, offset=None):
        if h not in self.candidates:
            return None
        first = self.first.get(h, self)
        if first is self:
            self.first[h] = offset
            return None
        r = self.reported.get(h, 0)
        if r:
            self.reported[h] = r - 1  # already reported in the exact phase
            return None
        return True if first is None else first
