"""Damaged input never crashes the reader: every truncation point, a bit flip at every
byte, and thousands of seeded random mutations end in a result or a clean FormatError
-- never another exception, a hang, or a huge allocation. (bench/fuzz_rdb.py runs the
same checks for as long as you like.)"""

from __future__ import annotations

import random
import resource
import signal
import time

import pytest

from corpus import PUBLIC, REAL
from persistkit.kvencoding.errors import FormatError
from persistkit.rdbtools import model
from persistkit.rdbtools.dump import decode_payload
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.verify import verify_rdb

SMALL = [
    PUBLIC / "redis__redis/encodings.rdb",                             # v4: zipmap, ziplists, intsets, LZF
    PUBLIC / "sripathikrishnan__redis-rdb-tools/redis_50_with_streams.rdb",  # v9 stream with groups
    PUBLIC / "redis__librdb/hash_lp_with_hexpire_v12.rdb",             # pre-GA listpack-ex
    PUBLIC / "HDT3213__rdb/hash_with_hfe.rdb",                          # GA hash metadata
    PUBLIC / "HDT3213__rdb/valkey_hash2_with_hfe.rdb",                  # VALKEY080
    PUBLIC / "redis__librdb/module.rdb",                               # MODULE_2
    PUBLIC / "redis__librdb/quicklist2_v11.rdb",
    PUBLIC / "redis__librdb/stream_v11.rdb",
]
MAX_RSS_GROWTH_KB = 300 * 1024


def _exercise(data: bytes) -> None:
    """Every reading mode over ``data``; only FormatError may come out."""
    for kw in ({"decode": True}, {"decode": False}, {"iterate": True}):
        try:
            for item in RDBReader(data, **kw):
                if kw.get("iterate") and isinstance(item, model.Record) and \
                        item.type in (model.LIST, model.SET, model.ZSET, model.HASH):
                    for _ in item.value:
                        pass
        except FormatError as exc:
            assert exc.offset is None or 0 <= exc.offset <= len(data) + 16, exc
    verify_rdb("fuzz.rdb", data=data)  # recover mode: records problems, never raises


class _Deadline:
    def __init__(self, seconds: int):
        self.seconds = seconds

    def __enter__(self):
        def boom(*_):
            raise AssertionError(f"reader hung for more than {self.seconds}s")
        self.old = signal.signal(signal.SIGALRM, boom)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.parametrize("path", SMALL[:4], ids=lambda p: p.name)
def test_every_truncation_point_fails_cleanly(path):
    data = path.read_bytes()
    with _Deadline(60):
        for n in range(len(data)):
            with pytest.raises(FormatError):
                list(RDBReader(data[:n]))
            _exercise(data[:n])


@pytest.mark.parametrize("path", SMALL[:3], ids=lambda p: p.name)
def test_bit_flip_at_every_byte(path):
    data = path.read_bytes()
    with _Deadline(120):
        for i in range(len(data)):
            m = bytearray(data)
            m[i] ^= 1 << (i % 8)
            _exercise(bytes(m))


def mutate(data: bytes, rng: random.Random) -> bytes:
    m = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        i = rng.randrange(len(m)) if m else 0
        if kind < 0.4 and m:
            m[i] = rng.randrange(256)
        elif kind < 0.55 and m:
            m[i] = rng.choice((0x00, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xC0, 0xC3, 0xFE, 0xFF))
        elif kind < 0.7:
            del m[i:i + rng.randint(1, 8)]
        elif kind < 0.85:
            m[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif m:
            j = rng.randrange(len(m))
            m[i:i + 4] = m[j:j + 4]
    return bytes(m)


def test_random_mutations_of_corpus_files():
    rng = random.Random(20261125)
    files = [p.read_bytes() for p in SMALL]
    payloads = [p.read_bytes() for p in sorted((REAL / "redis-7.2.6" / "dumps").glob("*.bin"))[:12]]
    before = _rss_kb()
    start = time.monotonic()
    n = 0
    with _Deadline(240):
        while n < 10000:
            data = mutate(files[n % len(files)], rng)
            _exercise(data)
            n += 1
            if n % 4 == 0:
                p = mutate(payloads[n % len(payloads)], rng)
                for check in (True, False):
                    try:
                        decode_payload(p, check_crc=check)
                    except FormatError:
                        pass
    assert n == 10000
    assert _rss_kb() - before < MAX_RSS_GROWTH_KB
    assert time.monotonic() - start < 240


def test_mutations_of_a_full_real_dump():
    # Bigger values (quicklists of many nodes, 1 MiB string, streams of many nodes).
    rng = random.Random(7)
    data = (REAL / "redis-7.4.1" / "dump.rdb").read_bytes()
    with _Deadline(240):
        for _ in range(60):
            m = mutate(data, rng)
            try:
                list(RDBReader(m, strict_crc=False))
            except FormatError:
                pass
            verify_rdb("fuzz.rdb", data=m)


def _rdb(body: bytes, version: int = 12) -> bytes:
    from persistkit.kvencoding.crc64 import crc64

    raw = b"REDIS%04d" % version + b"\xfe\x00" + body + b"\xff"
    return raw + crc64(raw).to_bytes(8, "little")


def test_odd_element_counts_are_reported_not_crashed():
    # Found by bench/fuzz_rdb.py: a listpack-ex whose element count is not a multiple
    # of 3 (and a zset listpack with an odd count) must be a reported problem.
    from persistkit.kvencoding.lengths import encode_string
    from persistkit.kvencoding.listpack import listpack_encode

    lp_ex = listpack_encode([b"f1", b"v1", 0, b"f2"])
    bad_ex = b"\x19" + encode_string(b"h", compress=False) + (0).to_bytes(8, "little") + \
        encode_string(lp_ex, compress=False)
    bad_z = b"\x11" + encode_string(b"z", compress=False) + \
        encode_string(listpack_encode([b"m1", 1, b"m2"]), compress=False)
    good = b"\x00" + encode_string(b"k", compress=False) + encode_string(b"v", compress=False)
    data = _rdb(bad_ex + bad_z + good)
    with pytest.raises(FormatError):
        list(RDBReader(data))
    rep = verify_rdb("odd.rdb", data=data)
    assert sorted(p.key for p in rep.problems if p.code == "bad-value") == [b"h", b"z"]
    assert rep.stats["keys"] == 1
