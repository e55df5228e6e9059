"""The engine's score parser: the fast path (float() for a finite, non-zero decimal)
answers exactly what the strtod rules answer, on the forms where the two could differ
and on seeded random text."""

import math
import random

from persistkit.kvengine.numbers import _parse_float_exact, parse_float

EDGES = [b"1", b"-1", b"1.5", b"1e500", b"-1e500", b"1e-400", b"0", b"0.0", b"-0", b"inf", b"-inf",
         b"+inf", b"nan", b"-nan", b"1_0", b" 1", b"1 ", b"0x10", b"1e-310", b"\t2", b"", b"abc", b".5",
         b"5.", b"+3", b"1e", b"\xff1", b"infinity", b"1\x00", b"\x001", b"12\n", b"\xd9\xa1"]


def _same(a, b):
    return (a is None and b is None) or (a is not None and b is not None and (a == b or math.isnan(a) and math.isnan(b)))


def test_fast_path_equals_the_exact_rules():
    r = random.Random(20261208)
    cases = list(EDGES)
    for _ in range(50_000):
        cases.append(bytes(r.choice(b"0123456789.-+eE _xXinfa\t\x00\xff") for _ in range(r.randrange(1, 8))))
        cases.append(repr(r.uniform(-1e300, 1e300)).encode())
    bad = [c for c in cases if not _same(parse_float(c), _parse_float_exact(c))]
    assert bad == []
    assert parse_float(b"1e500") is None and parse_float(b"1e-400") is None   # strtod's ERANGE
    assert parse_float(b"1_0") is None and parse_float(b" 1") is None and parse_float(b"nan") is None
    assert parse_float(b"2.5") == 2.5 and parse_float(b"-inf") == -math.inf


def test_get_floats_equals_get_float_item_by_item():
    from persistkit.kvengine.numbers import get_float, get_floats
    from persistkit.kvengine.reply import CommandError

    r = random.Random(7)
    for _ in range(3000):
        items = [r.choice(EDGES + [b"1.25", b"-3", b"7e2"]) for _ in range(r.randrange(1, 6))]
        try:
            want = [get_float(b) for b in items]
        except CommandError as exc:
            want = str(exc)
        try:
            got = get_floats(items)
        except CommandError as exc:
            got = str(exc)
        assert got == want, items
