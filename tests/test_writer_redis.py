"""What the writer produces loads into a real redis-server 7.0 with exactly the content given.

The records are built by hand (no reader involved), written for every RDB version a
7.0 server can load (6-10) with both encoding policies, loaded at server start-up,
and the live keyspace is compared with what was written. Every value is also sent
through DUMP-payload encoding and RESTOREd.
"""

from __future__ import annotations

import functools
import time

import pytest

from corpus import alive_at, diff_keyspaces, keyspace_from_records, wall_clock_ms
from realredis import load_rdb_into_redis, read_keyspace
from persistkit.rdbtools import model
from persistkit.rdbtools.writer import RDBWriter, encode_payload

pytestmark = pytest.mark.redis

FUTURE = int(time.time() * 1000) + 10 * 365 * 86400 * 1000


def R(db, key, ktype, value, expire=None):
    return model.Record(db=db, key=key, type=ktype, rdb_type=None, encoding="", offset=0,
                        expire_ms=expire, value=value)


def _stream(with_groups=True, v2_meta=True):
    e = [model.StreamEntry((1000 + i, 0), [(b"f", str(i).encode()), (b"g", b"x" * i)]) for i in range(5)]
    e.append(model.StreamEntry((2000, 1), [(b"other", b"fields"), (b"f", b"dup"), (b"f", b"dup2")]))
    e[2].deleted = True
    node = model.StreamNode((1000, 0), [b"f", b"g"], e)
    groups = []
    if with_groups:
        pel = [model.StreamPendingEntry((1001, 0), 1600000000000, 3),
               model.StreamPendingEntry((1003, 0), 1600000001000, 1),
               model.StreamPendingEntry((999, 0), 1600000002000, 7)]  # a PEL id no longer in the stream
        groups = [model.StreamGroup(b"g1", (1003, 0), 4 if v2_meta else None, pel,
                                    [model.StreamConsumer(b"alice", 1600000000000, None, [(999, 0), (1001, 0)]),
                                     model.StreamConsumer(b"bob", 1600000005000, None, [(1003, 0)]),
                                     model.StreamConsumer(b"idle", 1600000009000, None, [])]),
                  model.StreamGroup(b"empty", (0, 0), 0 if v2_meta else None, [], [])]
    return model.StreamValue(nodes=[node], length=5, last_id=(3000, 7),
                             first_id=(1000, 0) if v2_meta else None,
                             max_deleted_id=(1002, 0) if v2_meta else None,
                             entries_added=7 if v2_meta else None, groups=groups)


def sample_records(version: int) -> list[model.Record]:
    recs = [
        R(0, b"str", "string", b"hello"),
        R(0, b"empty", "string", b""),
        R(0, b"", "string", b"empty key"),
        R(0, b"int", "string", b"12345"),
        R(0, b"bigint", "string", b"-9223372036854775808"),
        R(0, b"notint", "string", b"007"),
        R(0, b"compressible", "string", b"abc" * 200),
        R(0, b"bin\x00\xff\r\n", "string", bytes(range(256))),
        R(0, b"big", "string", b"w" * (1 << 20)),
        R(0, b"list:small", "list", [b"a", b"1", b"-5", b"", b"x" * 300]),
        R(0, b"list:big", "list", [str(i).encode() * (i % 40) for i in range(2000)]),
        R(0, b"list:elem", "list", [b"y" * 20000, b"z", b"q" * 9000]),
        R(0, b"set:ints", "set", [b"1", b"-70000", b"3"]),
        R(0, b"set:int64", "set", [b"9223372036854775807", b"-1"]),
        R(0, b"set:strs", "set", [b"a", b"b", b"c\x00"]),
        R(0, b"set:bigints", "set", [str(i).encode() for i in range(600)]),
        R(0, b"zset:small", "zset", [(b"a", 1.5), (b"b", -3.0), (b"inf", float("inf")),
                                     (b"ninf", float("-inf")), (b"tenth", 0.1), (b"big", 1e300)]),
        R(0, b"zset:big", "zset", [(str(i).encode(), i / 7) for i in range(300)]),
        R(0, b"hash:small", "hash", [(b"f", b"v"), (b"n", b"12"), (b"e", b"")]),
        R(0, b"hash:big", "hash", [(b"f%d" % i, b"v" * (i % 90)) for i in range(700)]),
        R(1, b"ttl:str", "string", b"v", expire=FUTURE),
        R(1, b"ttl:list", "list", [b"a"], expire=FUTURE + 1),
        R(1, b"str", "string", b"same key, other db"),
        R(5, b"ttl:hash", "hash", [(b"a", b"b")], expire=FUTURE + 2),
    ]
    if version >= 9:
        recs.append(R(0, b"stream:main", "stream", _stream(v2_meta=version >= 10)))
        recs.append(R(0, b"stream:bare", "stream", _stream(with_groups=False, v2_meta=version >= 10)))
        recs.append(R(0, b"stream:empty", "stream",
                      model.StreamValue(nodes=[], length=0, last_id=(0, 0), groups=[
                          model.StreamGroup(b"grp", (0, 0), 0 if version >= 10 else None, [], [])],
                          first_id=(0, 0) if version >= 10 else None,
                          max_deleted_id=(0, 0) if version >= 10 else None,
                          entries_added=0 if version >= 10 else None)))
    return recs


def write_file(path, records, version, encodings, functions=()):
    with open(path, "wb") as fh:
        w = RDBWriter(fh, version=version, encodings=encodings)
        w.header()
        w.standard_aux(redis_ver=b"7.0.15", ctime=1700000000, used_mem=1000000)
        for code in functions:
            w.function(code)
        by_db: dict[int, list] = {}
        for r in records:
            by_db.setdefault(r.db, []).append(r)
        for db in sorted(by_db):
            recs = by_db[db]
            w.select_db(db, len(recs), sum(1 for r in recs if r.expire_ms is not None))
            for r in recs:
                w.record(r)
        w.eof()


@pytest.mark.parametrize("version", [6, 7, 8, 9, 10])
@pytest.mark.parametrize("encodings", ["keep", "server"])
def test_written_file_loads_with_same_keyspace(tmp_path, version, encodings):
    recs = sample_records(version)
    path = tmp_path / "out.rdb"
    write_file(path, recs, version, encodings)
    server = load_rdb_into_redis(path, tmp_path / "srv")
    try:
        got = read_keyspace(server, dbs=(0, 1, 5))
    finally:
        server.stop()
    want = keyspace_from_records(recs)
    if version < 10:
        # v1 streams carry no entries_added / max-deleted / first id / entries_read: the
        # loading server derives them; compare the rest of the stream exactly.
        for k, v in got.items():
            if v["type"] == "stream":
                for f in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
                    v["value"][f] = want[k]["value"][f]
                for g, wg in zip(v["value"]["groups"], want[k]["value"]["groups"]):
                    g["entries_read"] = wg["entries_read"]
    assert diff_keyspaces(got, want) == []


def test_functions_load_into_redis_7(tmp_path):
    code = b"#!lua name=wlib\nredis.register_function('wf', function(keys, args) return 42 end)\n"
    path = tmp_path / "f.rdb"
    write_file(path, [R(0, b"k", "string", b"v")], 10, "server", functions=[code])
    server = load_rdb_into_redis(path, tmp_path / "srv")
    try:
        r = server.client()
        assert r.execute_command("FCALL", "wf", 0) == 42
        libs = r.execute_command("FUNCTION", "LIST", "WITHCODE")
        lib = libs[0]
        got = lib[b"library_code"] if isinstance(lib, dict) else lib[-1]
        assert got == code
    finally:
        server.stop()


@pytest.mark.parametrize("version", [9, 10])
def test_restore_accepts_every_payload(redis_server, version):
    r = redis_server.client()
    recs = [x for x in sample_records(version) if x.db == 0]
    for i, rec in enumerate(recs):
        key = b"restored:%d" % i
        r.execute_command("RESTORE", key, 0, encode_payload(rec, version))
    got = read_keyspace(redis_server, dbs=(0,))
    got = {(0, k[1][len(b"restored:"):]): v for k, v in got.items()}
    idx = {str(i).encode(): rec for i, rec in enumerate(recs)}
    got = {(0, idx[k[1]].key): v for k, v in got.items()}
    want = keyspace_from_records(recs)
    for k, v in got.items():
        if v["type"] == "stream" and version < 10:
            for f in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
                v["value"][f] = want[k]["value"][f]
            for g, wg in zip(v["value"]["groups"], want[k]["value"]["groups"]):
                g["entries_read"] = wg["entries_read"]
    assert diff_keyspaces(got, want) == []


def test_server_refuses_payload_of_newer_version(redis_server):
    import redis

    r = redis_server.client()
    with pytest.raises(redis.ResponseError):
        r.execute_command("RESTORE", b"k", 0, encode_payload(R(0, b"k", "string", b"v"), 11))


def _corpus_dumps():
    from corpus import load_expected, real_folders

    out = []
    for folder in real_folders():
        exp = load_expected(folder)
        for d in exp.get("dumps", []):
            out.append((folder, d))
    return out


@pytest.mark.parametrize("encodings", ["keep", "server"])
def test_every_corpus_payload_reencoded_for_70_restores_to_its_value(redis_server, encodings):
    """Each real DUMP payload (RDB 9-12, Valkey 80), decoded and encoded for RDB 10, is
    accepted by RESTORE on 7.0 and gives the key's expected value (field TTLs aside:
    RDB 10 has none)."""
    from corpus import bstr, expected_keyspace
    from persistkit.rdbtools.dump import decode_payload

    r = redis_server.client()
    want, names = {}, {}
    for i, (folder, d) in enumerate(_corpus_dumps()):
        rec, _ = decode_payload((folder / d["file"]).read_bytes())
        name = b"p%d" % i
        r.execute_command("RESTORE", name, 0, encode_payload(rec, 10, encodings=encodings))
        key = (d["db"], bstr(d["key"], folder))
        w = dict(expected_keyspace(folder)[key])
        w["expire_ms"], w["field_expires"] = None, None
        want[(0, name)] = w
        names[name] = (folder.name, d["file"])
    assert len(want) > 100
    got = read_keyspace(redis_server, dbs=(0,))
    for k, v in got.items():
        if v["type"] == "stream":
            wv = want[k]["value"]
            for f in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
                if wv[f] is None:  # a v1 payload (5.0/6.2) does not know them
                    v["value"][f] = None
            for g, wg in zip(v["value"]["groups"], wv["groups"]):
                if wg["entries_read"] is None:
                    g["entries_read"] = None
                for c, wc in zip(g["consumers"], wg["consumers"]):
                    c["active_time_ms"] = wc["active_time_ms"]
                    if wc["seen_time_ms"] is None:
                        c["seen_time_ms"] = None
    assert diff_keyspaces(got, want) == []


def test_server_refuses_a_nan_score_in_a_skiplist_zset(redis_server):
    """rdbLoadObject refuses a NaN score in a skiplist zset, as our reader does. (A
    listpack zset with a "nan" score text is accepted by 7.0's RESTORE: its integrity
    check does not parse scores; the reader is stricter there.)"""
    import math

    import redis

    rec = R(0, b"z", "zset", [(b"a%d" % i, math.nan if i == 0 else float(i)) for i in range(200)])
    with pytest.raises(redis.ResponseError, match="Bad data format"):
        redis_server.client().execute_command("RESTORE", b"z", 0, encode_payload(rec, 10))


def _dump_cases():
    import random

    rnd = random.Random(7)
    scores = [1e-5, 1e-6, 1e-7, 0.1, 1.5, -3.5, 1e300, -1e-300, 1.7976931348623157e+308, 123456789012345678.0,
              1.5e17, 9007199254740993.0, 3.141592653589793, 0.0001, 1e16, 1e22, 12345.678, float("inf"),
              float("-inf"), 0.0, -0.0, 2.5e-310, 2.0 ** 62, 2.0 ** 62 + 2048, -(2.0 ** 62), 2.0 ** 63]
    scores += [rnd.uniform(-1e6, 1e6) for _ in range(40)] + [rnd.random() * 10 ** rnd.randint(-30, 30) for _ in range(40)]
    cases = [("zset", [(b"m", sc)]) for sc in scores]
    cases.append(("zset", [(b"m%d" % i, sc) for i, sc in enumerate(scores[:100])]))
    cases += [("string", v) for v in (b"", b"1", b"-1", b"007", b"12345678901", b"123456789012", b"a" * 21,
                                      b"abc" * 100, b"4294967296", b"-2147483648", bytes(range(256)) * 4)]
    cases += [("list", [b"a", b"1", b"-129", b"70000", b"x" * 70, b"5" * 19]),
              ("list", [b"%d" % i * 30 for i in range(1000)]),
              ("set", [b"1", b"2", b"-3"]), ("set", [b"9223372036854775807", b"-9223372036854775808"]),
              ("set", [b"a", b"b"]),
              ("hash", [(b"f%d" % i, b"%d" % (i * 1000)) for i in range(30)]),
              ("hash", [(b"f", b"v" * 65)])]
    return cases


def test_server_encodings_match_redis_70_dump_bytes(redis_server):
    """The oracle for encodings="server": for each value, what real 7.0 DUMPs after
    building it with commands is byte for byte what we encode for RDB 10 (int/LZF string
    choice, listpack score text, intset widths, quicklist node split)."""
    r = redis_server.client()
    bad = []
    for i, (ktype, value) in enumerate(_dump_cases()):
        key = b"k%d" % i
        if ktype == "string":
            r.set(key, value)
        elif ktype == "list":
            r.rpush(key, *value)
        elif ktype == "set":
            r.sadd(key, *value)
        elif ktype == "zset":
            r.zadd(key, dict(value))
        else:
            r.hset(key, mapping=dict(value))
        if ktype in ("set", "hash"):
            continue  # hashtable/listpack order follows the server's dict, checked below by content
        mine = encode_payload(R(0, key, ktype, value), 10, encodings="server")
        if r.dump(key) != mine:
            bad.append((ktype, value if len(repr(value)) < 80 else repr(value)[:80]))
    assert bad == []


def test_server_encodings_of_small_sets_and_hashes_match_redis_70(redis_server):
    r = redis_server.client()
    r.sadd(b"s", b"5", b"-70000", b"1")                 # intset: sorted, 32-bit width
    r.hset(b"h", mapping={b"a": b"1", b"b": b"x" * 64})  # listpack in insertion order
    assert r.dump(b"s") == encode_payload(R(0, b"s", "set", [b"5", b"-70000", b"1"]), 10, encodings="server")
    assert r.dump(b"h") == encode_payload(R(0, b"h", "hash", [(b"a", b"1"), (b"b", b"x" * 64)]), 10,
                                          encodings="server")


@functools.lru_cache(maxsize=1)
def _public_records():
    import hashlib

    from corpus import PUBLIC
    from persistkit.rdbtools.reader import RDBReader

    seen, out = set(), []
    for path in sorted(PUBLIC.rglob("*.rdb")) if PUBLIC.is_dir() else []:
        data = path.read_bytes()
        digest = hashlib.sha256(data).digest()
        if digest in seen:
            continue
        seen.add(digest)
        try:
            items = list(RDBReader(data))
        except Exception:  # corrupt on purpose, or a version we do not read
            continue
        recs = [i for i in items if isinstance(i, model.Record)]
        if any(r.type == "module" for r in recs):
            continue  # the 7.0 under test has no modules loaded
        if any(r.type == "array" for r in recs):
            continue  # ARRAY values (Redis 8.8, RDB 14) cannot be written for RDB 10
        out.append((path, recs[:300]))  # two files hold 10k-92k near-identical keys
    return out


@pytest.mark.parametrize("encodings", ["keep", "server"])
def test_every_public_file_value_restores_into_redis_70(redis_server, encodings):
    """Values of every readable public RDB (RDB 2-12, Valkey 80: zipmaps, old ziplists,
    intsets, streams, field-TTL hashes...) encoded for RDB 10 are accepted by RESTORE
    on a real 7.0 and read back the same (field TTLs aside: RDB 10 has none)."""
    r = redis_server.client()
    at = wall_clock_ms()  # the server expires by its clock: compare as of now (corpus.alive_at)
    want = {}
    files = _public_records()
    assert len(files) > 50
    for n, (path, recs) in enumerate(files):
        for rec in recs:
            name = b"f%d:db%d:" % (n, rec.db) + rec.key
            args = ["RESTORE", name, rec.expire_ms or 0, encode_payload(rec, 10, encodings=encodings), "REPLACE"]
            if rec.expire_ms:
                args.append("ABSTTL")
            r.execute_command(*args)
            k, v = keyspace_from_records([rec]).popitem()
            v["field_expires"] = None
            want[(0, name)] = v
    # RESTORE ... ABSTTL of a time already passed stores nothing (restoreCommand): those
    # keys, and any expiring while the test runs, are left out on both sides
    got = alive_at(read_keyspace(redis_server, dbs=(0,)), at)
    want = alive_at(want, at)
    for k, v in got.items():
        if v["type"] == "stream" and k in want:
            wv = want[k]["value"]
            for f in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
                if wv[f] is None:
                    v["value"][f] = None
            for g, wg in zip(v["value"]["groups"], wv["groups"]):
                if wg["entries_read"] is None:
                    g["entries_read"] = None
                for c, wc in zip(g["consumers"], wg["consumers"]):
                    c["active_time_ms"] = wc["active_time_ms"]
    assert diff_keyspaces(got, want) == []
