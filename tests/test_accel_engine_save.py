"""The engine's compiled SAVE serializer (``_accel/engine_save``) against the pure path.

A seeded random keyspace (every value type and encoding boundary: int-like and
compressible strings, lists across node limits and PLAIN-sized elements, intsets,
hashtable sets, small and big zsets with integer / fractional / signed-zero / infinite
scores, listpack and hashtable hashes, hashes with field TTLs, streams, expiries, several
dbs) is written by ``rdbfile.write_keyspace`` on both paths: the bytes must be equal.
Values the compiled path leaves to the pure writer (streams, field TTLs) are in it too.
A full ``save_rdb_file`` of the compiled path is then loaded by a real redis-server 7.0.
"""

from __future__ import annotations

import io
import random

import pytest

from corpus import diff_keyspaces, keyspace_from_records
from persistkit import accel
from persistkit.kvengine import Keyspace
from persistkit.kvengine.rdbfile import save_rdb_file, write_keyspace
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.writer import RDBWriter
from realredis import load_rdb_into_redis, read_keyspace

es = accel.compiled_available("engine_save")
pytestmark = pytest.mark.skipif(es is None, reason="compiled engine serializer not built")

FAR = 4102444800000  # 2100-01-01 in ms: nothing expires under the test


def _member(r: random.Random) -> bytes:
    k = r.random()
    if k < 0.3:
        return str(r.randint(-10**12, 10**12) if r.random() < 0.2 else r.randint(-70000, 70000)).encode()
    if k < 0.4:
        return r.choice([b"0", b"-0", b"01", b"", b"9223372036854775807", b"9223372036854775808",
                         b"-9223372036854775808", b"a" * 64, b"b" * 65])
    if k < 0.8:
        return bytes(r.choice(b"abcdxyz") for _ in range(r.randint(1, 40)))
    return r.randbytes(r.randint(0, 90))


def random_keyspace(seed: int, keys: int = 400) -> Keyspace:
    r = random.Random(seed)
    ks = Keyspace(expiry=False)
    for i in range(keys):
        db = r.choice((0, 0, 0, 1, 5))
        key = b"k:%d:" % i + bytes(r.choice(b"abc") for _ in range(r.randint(0, 30)))
        kind = r.choice(("string", "string", "list", "set", "intset", "zset", "hash", "hash",
                         "hash_ttl", "stream"))
        if kind == "string":
            v = r.choice((_member(r), b"v" * r.randint(20, 3000), r.randbytes(r.randint(1, 200))))
            ks.execute([b"SET", key, v], db=db)
        elif kind == "list":
            n = r.choice((1, 5, 200, 2000))
            items = [_member(r) for _ in range(n)]
            if r.random() < 0.1:
                items.append(b"z" * r.randint(8000, 20000))
            ks.execute([b"RPUSH", key, *items], db=db)
        elif kind == "set":
            ks.execute([b"SADD", key, *[_member(r) for _ in range(r.choice((1, 10, 300)))]], db=db)
        elif kind == "intset":
            n = r.choice((1, 20, 600))
            width = r.choice((100, 40000, 3 * 10**9, 2**62))
            ks.execute([b"SADD", key, *[str(r.randint(-width, width)).encode() for _ in range(n)]], db=db)
        elif kind == "zset":
            n = r.choice((1, 10, 127, 129, 400))
            args = []
            for _ in range(n):
                sc = r.choice((str(r.randint(-10**6, 10**6)), "%.3f" % r.uniform(-1e6, 1e6), "-0", "0",
                               "inf", "-inf", "1e300", str(2**60 + 1), "0.1"))
                args += [sc.encode(), _member(r)]
            ks.execute([b"ZADD", key, *args], db=db)
        elif kind in ("hash", "hash_ttl"):
            n = r.choice((1, 10, 129, 300))
            args = []
            for _ in range(n):
                args += [_member(r) or b"f", _member(r)]
            ks.execute([b"HSET", key, *args], db=db)
            if kind == "hash_ttl":
                ks.execute([b"HPEXPIREAT", key, b"%d" % FAR, b"FIELDS", b"1", args[0]], db=db)
        else:
            for j in range(r.randint(1, 5)):
                ks.execute([b"XADD", key, b"%d-1" % (j + 1), b"f", _member(r) or b"x"], db=db)
        if r.random() < 0.2:
            ks.execute([b"PEXPIREAT", key, b"%d" % (FAR + i)], db=db)
    return ks


def _save(ks: Keyspace, pure: bool, version: int = 10, compress: bool = True) -> bytes:
    out = io.BytesIO()
    with accel.forced_pure(pure):
        w = RDBWriter(out, version=version, encodings="server", compress=compress)
        w.header()
        n = write_keyspace(ks, w, version)
        w.eof()
    assert n == ks.total_keys()
    return out.getvalue()


@pytest.mark.parametrize("seed", range(6))
def test_random_keyspace_saves_identically(seed):
    ks = random_keyspace(seed)
    for version in (10, 11, 12):
        assert _save(ks, False, version) == _save(ks, True, version), version
    assert _save(ks, False, 10, compress=False) == _save(ks, True, 10, compress=False)


def test_compiled_save_reads_back_to_the_same_keyspace():
    ks = random_keyspace(42)
    data = _save(ks, False)
    back = Keyspace(expiry=False)
    back.load_records(RDBReader(data, decode=True))
    for db_a, db_b in zip(ks.dbs, back.dbs):
        assert db_a.expires == db_b.expires
        assert set(db_a.data) == set(db_b.data)


def test_engine_save_loads_into_real_redis(tmp_path):
    ks = random_keyspace(7, keys=300)
    # Redis 7.0 knows no hash field TTLs: leave those hashes out of this file
    for db in ks.dbs:
        for k in [k for k, v in db.data.items() if getattr(v, "fexp", None)]:
            del db.data[k]
            db.expires.pop(k, None)
    path = tmp_path / "dump.rdb"
    with accel.forced_pure(False):
        save_rdb_file(ks, str(path))
    want = keyspace_from_records(RDBReader(path.read_bytes(), decode=True))
    with load_rdb_into_redis(path, tmp_path / "redis") as server:
        got = read_keyspace(server)
    assert got.keys() == want.keys()
    assert diff_keyspaces(got, want) == []
