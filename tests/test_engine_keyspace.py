"""The engine's keyspace and command layer as a library: Redis' replies, error texts,
logical time, and what each write logs to the AOF."""

from __future__ import annotations

import pytest

from persistkit.kvengine import CommandError, Keyspace, Status
from persistkit.kvengine.reply import NIL_ARRAY
from persistkit.rdbtools import model

T0 = 1_700_000_000_000


def run(s, *words, now=T0):
    return s.execute([w if isinstance(w, bytes) else str(w).encode() for w in words], now_ms=now)


@pytest.fixture
def logged():
    ks = Keyspace()
    out = []
    ks.propagate_sink = lambda db, args: out.append((db, [bytes(a) for a in args]))
    return ks, ks.session(), out


def test_error_texts_match_redis():
    s = Keyspace().session()
    assert run(s, "nosuch", "a", "b") == CommandError(
        "ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ")
    assert run(s, "get") == CommandError("ERR wrong number of arguments for 'get' command")
    run(s, "lpush", "l", "x")
    assert run(s, "get", "l") == CommandError(
        "WRONGTYPE Operation against a key holding the wrong kind of value")
    run(s, "set", "n", "007")
    assert run(s, "incr", "n") == CommandError("ERR value is not an integer or out of range")
    assert run(s, "set", "k", "v", "NX", "XX") == CommandError("ERR syntax error")
    assert run(s, "select", "16") == CommandError("ERR DB index is out of range")
    run(s, "set", "big", "9223372036854775807")
    assert run(s, "incr", "big") == CommandError("ERR increment or decrement would overflow")
    assert run(s, "exec") == CommandError("ERR EXEC without MULTI")


def test_replies_of_the_main_types():
    s = Keyspace().session()
    assert run(s, "set", "a", "1") == Status("OK")
    assert run(s, "incrby", "a", "41") == 42
    assert run(s, "rpush", "l", "a", "b", "c") == 3
    assert run(s, "lrange", "l", "0", "-1") == [b"a", b"b", b"c"]
    assert run(s, "hset", "h", "f", "v", "g", "w") == 2
    assert sorted(run(s, "hgetall", "h")) == sorted([b"f", b"v", b"g", b"w"])
    assert run(s, "zadd", "z", "2", "b", "1", "a", "1", "c") == 3
    assert run(s, "zrange", "z", "0", "-1", "WITHSCORES") == [(b"a", 1.0), (b"c", 1.0), (b"b", 2.0)]
    assert run(s, "zrangebyscore", "z", "(1", "+inf") == [b"b"]
    assert run(s, "sadd", "s", "1", "2", "2") == 2
    assert run(s, "type", "s") == Status("set")
    assert run(s, "object", "encoding", "s") == b"intset"
    assert run(s, "xadd", "st", "5-1", "f", "v") == b"5-1"
    assert run(s, "xadd", "st", "5-*", "f", "v") == b"5-2"
    assert run(s, "xrange", "st", "-", "+", "COUNT", "1") == [[b"5-1", [b"f", b"v"]]]
    assert run(s, "lpop", "missing", "2") is NIL_ARRAY
    assert run(s, "multi") == Status("OK")
    assert run(s, "incr", "a") == Status("QUEUED")
    assert run(s, "exec") == [43]


def test_ttl_is_evaluated_at_the_commands_own_time(logged):
    ks, s, out = logged
    run(s, "set", "k", "v", "EX", "10", now=T0)
    assert run(s, "pttl", "k", now=T0 + 4000) == 6000
    assert run(s, "get", "k", now=T0 + 9999) == b"v"
    assert run(s, "get", "k", now=T0 + 10000) is None
    assert (0, [b"DEL", b"k"]) in out          # lazy expiry is logged as DEL
    # loading semantics: nothing expires
    ks2 = Keyspace(expiry=False)
    s2 = ks2.session()
    run(s2, "set", "k", "v", "PXAT", str(T0))
    assert run(s2, "get", "k", now=T0 + 10**9) == b"v"


def test_writes_are_logged_the_way_redis_logs_them(logged):
    ks, s, out = logged
    run(s, "set", "a", "v", "EX", "100")
    run(s, "expire", "a", "50", "GT")
    run(s, "setex", "b", "5", "x")
    run(s, "SET", "f", "1.5")                 # logged as sent
    run(s, "incrbyfloat", "f", "0.25")
    run(s, "getset", "f", "9")
    run(s, "get", "a")                        # reads are not logged
    run(s, "select", "3")
    run(s, "multi"), run(s, "INCR", "c"), run(s, "INCR", "c"), run(s, "exec")
    run(s, "multi"), run(s, "INCR", "d"), run(s, "exec")
    assert out == [
        (0, [b"SET", b"a", b"v", b"PXAT", b"%d" % (T0 + 100_000)]),
        (0, [b"SET", b"b", b"x", b"PXAT", b"%d" % (T0 + 5000)]),
        (0, [b"SET", b"f", b"1.5"]),
        (0, [b"SET", b"f", b"1.75", b"KEEPTTL"]),
        (0, [b"SET", b"f", b"9"]),
        (3, [b"MULTI"]), (3, [b"INCR", b"c"]), (3, [b"INCR", b"c"]), (3, [b"EXEC"]),
        (3, [b"INCR", b"d"]),                 # a transaction of one write is not wrapped
    ]   # EXPIRE ... GT did not lower the TTL, so nothing was logged for it


def test_xreadgroup_is_logged_as_xclaim(logged):
    ks, s, out = logged
    run(s, "xadd", "st", "1-1", "f", "v")
    run(s, "xgroup", "create", "st", "g", "0")
    out.clear()
    reply = run(s, "xreadgroup", "group", "g", "alice", "streams", "st", ">")
    assert reply == [(b"st", [[b"1-1", [b"f", b"v"]]])]
    assert out[0] == (0, [b"XCLAIM", b"st", b"g", b"alice", b"0", b"1-1", b"TIME", b"%d" % T0,
                          b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", b"1-1"])
    assert len(out) == 1   # the XCLAIM carries the group's new last id (LASTID)
    out.clear()
    run(s, "xadd", "st", "2-1", "f", "v")
    run(s, "xadd", "st", "3-1", "f", "v")
    out.clear()
    run(s, "xreadgroup", "group", "g", "bob", "streams", "st", ">")
    # two entries: one execution unit of two commands, wrapped like propagatePendingCommands
    assert [op[1][0] for op in out] == [b"MULTI", b"XCLAIM", b"XCLAIM", b"EXEC"]


def test_records_round_trip_through_the_value_model():
    ks = Keyspace()
    s = ks.session()
    run(s, "set", "s", "v", "PXAT", str(T0 + 5000))
    run(s, "rpush", "l", "1", "2")
    run(s, "zadd", "z", "1.5", "m")
    run(s, "xadd", "st", "1-1", "f", "v")
    run(s, "xgroup", "create", "st", "g", "0")
    run(s, "xreadgroup", "group", "g", "c", "streams", "st", ">")
    run(s, "function", "load", "#!lua name=lib\nredis.register_function('f', function() return 1 end)")
    recs = list(ks.iter_records())
    assert [r.key for r in recs] == [b"l", b"s", b"st", b"z"]
    assert recs[1].expire_ms == T0 + 5000 and recs[1].type == model.STRING
    ks2 = Keyspace()
    ks2.load_records(recs + list(ks.iter_functions()))
    again = list(ks2.iter_records())
    assert [(r.key, r.type, r.expire_ms) for r in again] == [(r.key, r.type, r.expire_ms) for r in recs]
    assert again[2].value.groups[0].pel[0].consumer == b"c"
    assert set(ks2.functions) == {b"lib"}
    assert ks2.dbsize(0) == 4 and ks2.keys(0)


def test_hash_field_ttls(logged):
    ks, s, out = logged
    run(s, "hset", "h", "a", "1", "b", "2")
    assert run(s, "hpexpire", "h", "1000", "FIELDS", "2", "a", "zz") == [1, -2]
    assert run(s, "hpttl", "h", "FIELDS", "1", "a", now=T0 + 400) == [600]
    assert out[-1] == (0, [b"HPEXPIREAT", b"h", b"%d" % (T0 + 1000), b"FIELDS", b"1", b"a"])
    assert run(s, "hgetall", "h", now=T0 + 1000) == [b"b", b"2"]
    assert (0, [b"HDEL", b"h", b"a"]) in out
    assert run(s, "hpersist", "h", "FIELDS", "1", "b") == [-1]


def test_hyperloglog_bytes_match_a_real_sparse_encoding():
    s = Keyspace().session()
    assert run(s, "pfadd", "h", "a", "b", "c") == 1
    assert run(s, "pfcount", "h") == 3
    v = s.ks.get(b"h")
    assert v.startswith(b"HYLL\x01") and run(s, "pfadd", "h", "a") == 0


def test_watch_aborts_exec_when_a_watched_key_changes():
    ks = Keyspace()
    a, b = ks.session(), ks.session()
    run(a, "set", "k", "1")
    assert run(a, "watch", "k", "other") == Status("OK")
    run(b, "incr", "k")                      # another client changes k
    run(a, "multi"), run(a, "set", "k", "mine")
    assert run(a, "exec") is NIL_ARRAY
    assert run(a, "get", "k") == b"2"
    # untouched keys, or changes before WATCH, let EXEC run; EXEC forgets the watches
    run(a, "watch", "k")
    run(b, "set", "unrelated", "x")
    run(a, "multi"), run(a, "set", "k", "mine")
    assert run(a, "exec") == [Status("OK")]
    run(b, "set", "k", "again")
    run(a, "multi"), run(a, "get", "k")
    assert run(a, "exec") == [b"again"]
    # FLUSHDB touches every watched key of its db; an expired watched key counts too
    run(a, "watch", "k")
    run(b, "flushdb")
    run(a, "multi"), run(a, "ping")
    assert run(a, "exec") is NIL_ARRAY
    run(a, "set", "t", "v", "PX", "10")
    run(a, "watch", "t")
    run(b, "get", "t", now=T0 + 50)
    run(a, "multi"), run(a, "ping")
    assert run(a, "exec", now=T0 + 50) is NIL_ARRAY
    assert ks.watchers == {}
