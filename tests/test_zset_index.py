"""The sorted-set index (kvengine.values.SortedIndex) against a plain sorted list: the
same order, positions, slices and score bisects after random adds and removes, with
chunks small enough that every split and every emptied chunk happens."""

import bisect
import random

import pytest

from persistkit.kvengine.values import SortedIndex, ZSet


@pytest.fixture
def small_chunks(monkeypatch):
    def use(load):
        monkeypatch.setattr(SortedIndex, "LOAD", load)
    return use


@pytest.mark.parametrize("load", [1, 2, 3, 8, 512])
def test_matches_a_sorted_list(small_chunks, load):
    small_chunks(load)
    rng = random.Random(load)
    for _ in range(60):
        z = ZSet()
        ref: dict = {}
        for _ in range(rng.randint(0, 300)):
            m = b"m%d" % rng.randint(0, 60)
            if rng.random() < 0.3:
                assert z.remove(m) == (m in ref)
                ref.pop(m, None)
            else:
                sc = float(rng.randint(-5, 5))
                z.add(m, sc)
                ref[m] = sc
        want = sorted((s, k) for k, s in ref.items())
        idx = z.index
        assert list(idx) == want and len(idx) == len(want) and bool(idx) == bool(want)
        assert list(reversed(idx)) == want[::-1]
        for m, sc in ref.items():
            assert z.rank(m) == want.index((sc, m))
        for a in range(-3, len(want) + 3):
            for b in range(-3, len(want) + 3, 2):
                assert idx[a:b] == want[a:b]
            if -len(want) <= a < len(want):
                assert idx[a] == want[a]
        scores = [x[0] for x in want]
        for sc in range(-6, 7):
            assert idx.bisect_score(float(sc), True) == bisect.bisect_right(scores, sc)
            assert idx.bisect_score(float(sc), False) == bisect.bisect_left(scores, sc)
        copy = z.copy()
        z.add(b"new", 99.0)
        assert list(copy.index) == want


def test_out_of_range_position_raises():
    idx = SortedIndex([(1.0, b"a")])
    assert idx[-1] == (1.0, b"a")
    with pytest.raises(IndexError):
        idx[1]


def test_big_insert_moves_one_chunk_only():
    """A ZADD into a big set touches one chunk: chunk sizes stay within 2 * LOAD."""
    z = ZSet()
    rng = random.Random(5)
    for i in range(20000):
        z.add(b"e%d" % i, rng.random())
    sizes = [len(c) for c in z.index._chunks]
    assert sum(sizes) == 20000 and max(sizes) <= 2 * SortedIndex.LOAD
    assert list(z.index) == sorted((s, m) for m, s in z.scores.items())
