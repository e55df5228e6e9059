"""Compact keyspace (kvengine.compact): replay/merge keep untouched collections as their
RDB body. Whatever is built from such a keyspace (RDB, AOF directory, RESP, records,
replies to commands) must equal what the ordinary keyspace gives."""

from __future__ import annotations

import io
import random

import pytest

from corpus import diff_keyspaces, expected_keyspace, keyspace_from_records, load_expected, real_folders, real_ids
from persistkit import accel
from persistkit.kvencoding.resp import encode_command
from persistkit.kvengine import Keyspace
from persistkit.kvengine.compact import CompactValue, freezer, thaw
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import RDBReader
from persistkit.recovery.merge import merge
from persistkit.recovery.output import Target, write_aof_dir, write_rdb, write_resp
from persistkit.recovery.replay import ReplayOptions, replay

def _needs_compiled():
    if accel.module("engine_save") is None:
        pytest.skip("pure path: values are never kept compact")


def random_log(seed: int, n: int = 3000) -> bytes:
    """A RESP log over a few dozen keys of every collection type, keys revisited at random
    (so frozen values are thawed, changed and frozen again), big and small encodings."""
    rng = random.Random(seed)
    out = []

    def cmd(*a):
        out.append(encode_command([x if isinstance(x, bytes) else str(x).encode() for x in a]))

    def member():
        r = rng.random()
        if r < 0.3:
            return rng.randrange(-10**6, 10**6)           # intset candidates
        if r < 0.35:
            return b"v" * rng.randrange(60, 90)             # past the listpack value limit
        return b"m%d" % rng.randrange(400)

    for i in range(n):
        k = rng.randrange(40)
        op = rng.random()
        if op < 0.2:
            cmd("RPUSH" if rng.random() < 0.5 else "LPUSH", b"l%d" % k, *[member() for _ in range(rng.randrange(1, 40))])
        elif op < 0.35:
            cmd("SADD", b"s%d" % k, *[member() for _ in range(rng.randrange(1, 60))])
        elif op < 0.5:
            pairs = []
            for _ in range(rng.randrange(1, 30)):
                pairs += [b"f%d" % rng.randrange(300), member()]
            cmd("HSET", b"h%d" % k, *pairs)
        elif op < 0.62:
            pairs = []
            for _ in range(rng.randrange(1, 30)):
                pairs += [rng.choice([rng.randrange(-50, 50), rng.random() * 100, "inf"]), member()]
            cmd("ZADD", b"z%d" % k, *pairs)
        elif op < 0.66:
            cmd("SREM", b"s%d" % k, member(), member())
        elif op < 0.7:
            cmd("HDEL", b"h%d" % k, b"f%d" % rng.randrange(300))
        elif op < 0.73:
            cmd("LPOP", b"l%d" % k, rng.randrange(1, 5))
        elif op < 0.76:
            cmd("ZINCRBY", b"z%d" % k, rng.randrange(-5, 5), member())
        elif op < 0.79:
            cmd("PEXPIREAT", rng.choice([b"l", b"s", b"h", b"z"]) + b"%d" % k, 4_000_000_000_000 + i)
        elif op < 0.81:
            cmd("DEL", rng.choice([b"l", b"s", b"h", b"z"]) + b"%d" % k)
        elif op < 0.84:
            cmd("MULTI")
            cmd("SADD", b"s%d" % k, member())
            cmd("HSET", b"h%d" % k, b"f1", member())
            cmd("EXEC")
        elif op < 0.86:
            cmd("SELECT", 1)
            cmd("RPUSH", b"l%d" % k, member())
            cmd("SELECT", 0)
        elif op < 0.88:
            cmd("SUNIONSTORE", b"s%d" % rng.randrange(40), b"s%d" % k, b"s%d" % rng.randrange(40))
        else:
            cmd("SET", b"str%d" % k, member())
    # big enough for several quicklist nodes and hashtable/skiplist encodings
    cmd("RPUSH", b"biglist", *[b"x%05d" % i for i in range(3000)])
    cmd("SADD", b"bigset", *[b"y%d" % i for i in range(600)])
    return b"".join(out)


def _records_part(data: bytes) -> bytes:
    """The RDB from its first SELECTDB/function to EOF, without the checksum (aux fields
    such as ctime, which the checksum covers, differ by run)."""
    for it in RDBReader(data, decode=False):
        if isinstance(it, (model.SelectDB, model.Function)):
            return data[it.offset:-8]
    return b""


def _rdb(ks: Keyspace, version: int = 10) -> bytes:
    buf = io.BytesIO()
    write_rdb(ks, buf, Target(version, "redis"))
    return buf.getvalue()


def _both(path):
    plain = replay(path, ReplayOptions()).keyspace
    compact = replay(path, ReplayOptions(compact=True)).keyspace
    return plain, compact


def _compact_count(ks: Keyspace) -> int:
    return sum(1 for db in ks.dbs for v in db.data.values() if v.__class__ is CompactValue)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compact_replay_writes_the_same_rdb_bytes(tmp_path, seed):
    _needs_compiled()
    p = tmp_path / "log.aof"
    p.write_bytes(random_log(seed))
    plain, compact = _both(p)
    assert _compact_count(compact) > 20          # the mode is really on
    assert _compact_count(plain) == 0
    for version in (10, 11, 9):                   # 10: bodies copied; others: decoded and re-encoded
        assert _records_part(_rdb(compact, version)) == _records_part(_rdb(plain, version)), version
    assert _compact_count(compact) > 20          # writing did not thaw them


@pytest.mark.parametrize("seed", [4, 5])
def test_compiled_snapshot_writer_writes_the_record_loop_bytes(tmp_path, monkeypatch, seed):
    """write_rdb's compiled path (rdbfile.write_keyspace through engine_save.write_db,
    compact bodies copied in C) gives the bytes of its record-by-record loop, on plain and
    compact keyspaces."""
    _needs_compiled()
    import persistkit.kvengine.rdbfile as rdbfile

    p = tmp_path / "log.aof"
    p.write_bytes(random_log(seed))
    plain, compact = _both(p)
    for version in (10, 11, 12):
        fast = {name: _records_part(_rdb(ks, version)) for name, ks in (("plain", plain), ("compact", compact))}
        with monkeypatch.context() as m:
            m.setattr(rdbfile, "_compiled_saver", lambda w: None)
            slow = {name: _records_part(_rdb(ks, version)) for name, ks in (("plain", plain), ("compact", compact))}
        assert fast == slow, version
        assert fast["plain"] == fast["compact"]
    buf = io.BytesIO()
    w = write_rdb(compact, buf, Target(10, "redis"))
    assert w.keys_written == sum(len(db.data) for db in compact.dbs)


def test_compact_replay_gives_the_same_resp_aof_and_records(tmp_path):
    _needs_compiled()
    p = tmp_path / "log.aof"
    p.write_bytes(random_log(7))
    plain, compact = _both(p)
    assert list(compact.iter_records()) == list(plain.iter_records())
    write_aof_dir(plain, tmp_path / "a", Target(10, "redis"))
    write_aof_dir(compact, tmp_path / "b", Target(10, "redis"))
    base = "appendonly.aof.1.base.rdb"
    assert _records_part((tmp_path / "b" / base).read_bytes()) == _records_part((tmp_path / "a" / base).read_bytes())
    a, b = io.BytesIO(), io.BytesIO()
    write_resp(plain, a)
    before = _compact_count(compact)
    write_resp(compact, b)
    assert a.getvalue() == b.getvalue() and len(a.getvalue()) > 10000
    assert _compact_count(compact) == before > 20   # the commands thaw one key at a time


def test_commands_on_frozen_keys_answer_as_on_plain_ones(tmp_path):
    _needs_compiled()
    p = tmp_path / "log.aof"
    p.write_bytes(random_log(11))
    plain, compact = _both(p)
    keys = sorted(plain.keys(0))
    frozen = [k for k in keys if compact.dbs[0].data[k].__class__ is CompactValue]
    assert len(frozen) > 20
    sp, sc = plain.session(0), compact.session(0)
    for k in frozen:
        for c in ([b"TYPE", k], [b"OBJECT", b"ENCODING", k], [b"DUMP", k]):
            assert sc.execute(c) == sp.execute(c), (k, c)
        assert compact.ttl_ms(k) == plain.ttl_ms(k)
        t = plain.type_of(k)
        read = {"list": [b"LRANGE", k, b"0", b"-1"], "set": [b"SMEMBERS", k], "hash": [b"HGETALL", k],
                "zset": [b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]}[t]
        got, want = sc.execute(read), sp.execute(read)
        assert (sorted(got) if t == "set" else got) == (sorted(want) if t == "set" else want)
    # a command's lookup keeps the thawed value (the next write changes that object)
    assert all(compact.dbs[0].data[k].__class__ is not CompactValue for k in frozen)


def test_freeze_and_thaw_round_trip_and_keyspace_accessors():
    _needs_compiled()
    ks = Keyspace(expiry=False)
    s = ks.session(0)
    s.execute([b"RPUSH", b"l", b"a", b"1", b"b"])
    s.execute([b"SADD", b"s", b"3", b"1", b"2"])
    s.execute([b"HSET", b"h", b"f", b"v", b"g", b"w"])
    s.execute([b"ZADD", b"z", b"2", b"b", b"1", b"a"])
    s.execute([b"SET", b"str", b"x"])
    def content():
        return [(r.key, r.type, r.value) for r in ks.iter_records()]

    before = content()
    freeze = freezer()
    for k in list(ks.keys()):
        freeze(ks.dbs[0], k)
    assert _compact_count(ks) == 4                      # strings stay bytes
    assert ks.dbs[0].data[b"str"] == b"x"
    assert thaw(ks.dbs[0].data[b"l"]) is not ks.dbs[0].data[b"l"]
    assert content() == before                          # records of frozen values
    assert ks.type_of(b"z") == "zset" and ks.type_of(b"h") == "hash"
    assert _compact_count(ks) == 2                      # z and h were thawed by type_of
    assert content() == before


@pytest.mark.parametrize("folder", real_folders(), ids=real_ids())
def test_compact_merge_of_real_aof_sets_equals_the_state_the_server_loaded(folder):
    compat = load_expected(folder)["server"]["redis_compat_version"]
    for aof in ("aof-hybrid", "aof-plain"):
        res = merge([folder / aof], compat=compat)
        got = keyspace_from_records(res.keyspace.iter_records())
        assert diff_keyspaces(got, expected_keyspace(folder, aof), consumer_times_wildcard=True) == []
        if accel.module("engine_save") is not None:
            assert _compact_count(res.keyspace) > 0, aof    # snapshot and log keys kept encoded
        # record for record (streams aside: their consumer times come from the wall clock)
        plain = replay(folder / aof, ReplayOptions(compat=compat)).keyspace
        mine = [r for r in res.keyspace.iter_records() if r.type != model.STREAM]
        assert mine == [r for r in plain.iter_records() if r.type != model.STREAM] and mine


def _content(v):
    """Everything a thawed value holds, in its order (ZSet: index and score dict)."""
    from persistkit.kvengine.values import ZSet

    if isinstance(v, ZSet):
        return ("zset", list(v.index), v.scores)
    if isinstance(v, set):
        return ("set", v)
    return (type(v).__name__, list(v.items()) if isinstance(v, dict) else list(v))


def _random_values(rng: random.Random, n: int):
    from collections import deque as dq

    from persistkit.kvengine.values import Hash, ZSet

    def elem():
        r = rng.random()
        if r < 0.25:
            return b"%d" % rng.randrange(-2**63, 2**63)              # int-encoded strings
        if r < 0.35:
            return b"%d" % rng.randrange(-300, 300)
        if r < 0.45:
            return bytes([rng.randrange(97, 99)]) * rng.randrange(20, 300)   # LZF-compressible
        if r < 0.5:
            return b""
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))

    for _ in range(n):
        size = rng.choice([1, 2, 5, 50, 127, 128, 129, 513, 2000])
        kind = rng.randrange(5)
        if kind == 0:
            yield dq(elem() for _ in range(size))
        elif kind == 1:
            yield {elem() for _ in range(size)} or {b"x"}
        elif kind == 2:
            yield {b"%d" % rng.randrange(-2**40, 2**40) for _ in range(size)}         # intsets
        elif kind == 3:
            yield Hash((elem(), elem()) for _ in range(size)) or Hash({b"f": b"v"})
        else:
            z = ZSet()
            for _ in range(size):
                z.add(elem(), rng.choice([float(rng.randrange(-1000, 1000)), rng.uniform(-1e20, 1e20), float("inf"),
                                          float("-inf"), 0.1, 2.0**60]))
            yield z


def test_compiled_thaw_equals_the_pure_thaw_on_random_values_and_survives_mutations():
    _needs_compiled()
    from persistkit.kvengine.compact import thaw_pure

    rng = random.Random(20261208)
    ks = Keyspace(expiry=False)
    freeze = freezer()
    db = ks.dbs[0]
    seen = set()
    bodies = []
    for i, v in enumerate(_random_values(rng, 300)):
        db.data[b"k"] = v
        freeze(db, b"k")
        cv = db.data[b"k"]
        assert cv.__class__ is CompactValue
        seen.add(cv.rdb_type)
        assert _content(thaw(cv)) == _content(thaw_pure(cv)) == _content(v), cv.rdb_type
        bodies.append(cv)
    assert seen >= {2, 4, 5, 11, 16, 17, 18}        # every body form encode_value writes
    es = accel.module("engine_save")
    from persistkit.kvengine.values import Hash, ZSet
    from collections import deque as dq

    for cv in bodies[:120]:
        for _ in range(20):
            b = bytearray(cv.body)
            if rng.random() < 0.3:
                b = b[:rng.randrange(len(b))]
            else:
                for _ in range(rng.randrange(1, 4)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
            got = es.decode_value(cv.rdb_type, bytes(b), Hash, ZSet, dq)   # never crashes
            if got is None:
                continue
            try:
                want = thaw_pure(CompactValue(cv.rdb_type, bytes(b)))
            except Exception:
                continue
            assert _content(got) == _content(want)
