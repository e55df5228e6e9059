"""Streams through every RESP output (export --format resp, replay --resp, diff
--commands) rebuild exactly what the snapshot holds, checked on real redis-server 7.0.

A source server is driven into the stream states a snapshot can hold -- messages
deleted after delivery (XREADGROUP, then XDEL), or trimmed away while pending,
consumers with nothing pending, empty streams with groups, delivery counts and times,
entries_read per group, entries_added / max_deleted_entry_id set by XSETID -- and
SAVEd; our commands for that snapshot are piped into a fresh server, and XINFO STREAM
key FULL and XPENDING (summary and extended) are compared with the source field by
field. Two things no command can set are left out of the comparison, and only those:
a consumer's seen-time (XCLAIM and XGROUP CREATECONSUMER stamp it with the server's
clock; 7.0 has no active-time) and the radix-tree-keys/nodes counts (how the entries
happen to be packed into listpack nodes, not stream state). XPENDING's idle times are
compared against the delivery times (the same instant on both sides up to the moment
of the query).
"""

from __future__ import annotations

import io
import subprocess
import time

import pytest

from corpus import REAL, real_ids
from realredis import RedisServer, redis_binary
from persistkit.rdbtools import model
from persistkit.rdbtools.export import export_rdb
from persistkit.rdbtools.reader import read_rdb
from persistkit.rdbtools.streamcmds import estimated_entries_read, stream_commands


def _exec(r, *args):
    return r.execute_command(*args)


def raw(client):
    """A RESP2 redis-py client on the same server and db that returns the replies as the
    server sends them (no reply parsing)."""
    import redis

    kw = client.connection_pool.connection_kwargs
    r = redis.Redis(host=kw["host"], port=kw["port"], db=kw.get("db", 0), protocol=2)
    r.response_callbacks.clear()
    return r


def build_stream_states(r) -> list[bytes]:
    """Drive a real server into the stream states of the module docstring; returns the
    stream keys."""
    keys = []

    # Deleted after delivery, in the middle and at the head; acked and unacked; two groups.
    k = b"s:deleted-pending"
    for i in range(1, 9):
        _exec(r, "XADD", k, f"{i}-0", "f", f"v{i}", "g", "x" * i)
    _exec(r, "XGROUP", "CREATE", k, "g1", "0")
    _exec(r, "XGROUP", "CREATE", k, "g2", "0")
    _exec(r, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", k, ">")
    _exec(r, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", "3", "STREAMS", k, ">")
    _exec(r, "XREADGROUP", "GROUP", "g2", "carol", "COUNT", "5", "STREAMS", k, ">")
    _exec(r, "XACK", k, "g1", "2-0")
    _exec(r, "XDEL", k, "1-0", "5-0", "7-0")   # 1-0 and 5-0 pending in g1, 1-0 and 5-0 in g2
    # delivery count up: read the pending history again, claim with a count
    _exec(r, "XREADGROUP", "GROUP", "g1", "alice", "STREAMS", k, "0")
    _exec(r, "XCLAIM", k, "g1", "bob", "0", "3-0", "RETRYCOUNT", "7")
    _exec(r, "XGROUP", "CREATECONSUMER", k, "g2", "idle-dave")   # nothing pending
    keys.append(k)

    # Every message deleted after delivery: an empty stream with pending entries.
    k = b"s:all-deleted"
    for i in range(1, 4):
        _exec(r, "XADD", k, f"10-{i}", "a", "b")
    _exec(r, "XGROUP", "CREATE", k, "g", "0", "ENTRIESREAD", "0")
    _exec(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", k, ">")
    _exec(r, "XDEL", k, "10-1", "10-2", "10-3")
    keys.append(k)

    # Trimmed away while pending (max_deleted_entry_id does not move on trimming).
    k = b"s:trimmed-pending"
    for i in range(1, 11):
        _exec(r, "XADD", k, f"20-{i}", "n", str(i))
    _exec(r, "XGROUP", "CREATE", k, "g", "0")
    _exec(r, "XREADGROUP", "GROUP", "g", "c", "COUNT", "6", "STREAMS", k, ">")
    _exec(r, "XTRIM", k, "MAXLEN", "5")
    _exec(r, "XDEL", k, "20-9")
    keys.append(k)

    # Empty streams with groups: made by MKSTREAM, and emptied by XDEL.
    k = b"s:empty-mkstream"
    _exec(r, "XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    _exec(r, "XGROUP", "CREATECONSUMER", k, "g", "nobody")
    keys.append(k)
    k = b"s:emptied"
    _exec(r, "XADD", k, "30-1", "a", "b")
    _exec(r, "XDEL", k, "30-1")
    _exec(r, "XGROUP", "CREATE", k, "g", "$")
    keys.append(k)

    # Metadata set by hand; groups at $, at an arbitrary ID, with ENTRIESREAD and SETID.
    k = b"s:meta"
    for i in range(1, 6):
        _exec(r, "XADD", k, f"40-{i}", "a", str(i))
    _exec(r, "XDEL", k, "40-2")
    _exec(r, "XSETID", k, "50-0", "ENTRIESADDED", "99", "MAXDELETEDID", "45-0")
    _exec(r, "XGROUP", "CREATE", k, "at-end", "$")
    _exec(r, "XGROUP", "CREATE", k, "mid", "40-3")
    _exec(r, "XGROUP", "CREATE", k, "explicit", "40-1", "ENTRIESREAD", "17")
    _exec(r, "XGROUP", "CREATE", k, "moved", "0")
    _exec(r, "XGROUP", "SETID", k, "moved", "40-4", "ENTRIESREAD", "3")
    _exec(r, "XREADGROUP", "GROUP", "mid", "m", "STREAMS", k, ">")
    keys.append(k)

    # Binary names and values, and a key TTL.
    k = b"s:\xff\x00bin"
    _exec(r, "XADD", k, "60-1", b"\x00f", b"\xfe\xff")
    _exec(r, "XADD", k, "60-2", b"f", b"v")
    _exec(r, "XGROUP", "CREATE", k, b"g\x01", "0")
    _exec(r, "XREADGROUP", "GROUP", b"g\x01", b"c\xff", "STREAMS", k, ">")
    _exec(r, "XDEL", k, "60-1")
    _exec(r, "PEXPIREAT", k, str(int(time.time() * 1000) + 86_400_000))
    keys.append(k)
    return keys


def _pairs(flat) -> dict:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def stream_state(r, key: bytes) -> dict:
    """XINFO STREAM FULL and XPENDING of ``key`` in a comparable form (see the module
    docstring for what is left out)."""
    info = _pairs(_exec(r, "XINFO", "STREAM", key, "FULL", "COUNT", "0"))
    now = int(_exec(r, "TIME")[0]) * 1000
    info.pop(b"radix-tree-keys")
    info.pop(b"radix-tree-nodes")
    groups = []
    for g in info.pop(b"groups"):
        g = _pairs(g)
        consumers = []
        for c in g.pop(b"consumers"):
            c = _pairs(c)
            c.pop(b"seen-time")
            consumers.append(c)
        g[b"consumers"] = consumers
        name = g[b"name"]
        summary = _exec(r, "XPENDING", key, name)
        extended = _exec(r, "XPENDING", key, name, "-", "+", "1000")
        g[b"xpending"] = summary
        # [id, consumer, idle, count]: the idle time against the delivery time
        delivered = {p[0]: p[2] for p in g[b"pending"]}
        g[b"xpending-extended"] = [[p[0], p[1], p[3]] for p in extended]
        for p in extended:
            assert abs((now - delivered[p[0]]) - p[2]) < 5_000
        groups.append(g)
    info[b"groups"] = groups
    info[b"pttl-set"] = _exec(r, "PTTL", key) >= 0
    return info


def _pipe(server: RedisServer, payload: bytes) -> None:
    redis_binary("redis-cli")
    proc = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], input=payload,
                          capture_output=True, timeout=120)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0 and "errors: 0" in out, out + proc.stderr.decode("utf-8", "replace")


def _export_resp(path, **kw) -> bytes:
    buf = io.BytesIO()
    export_rdb(path, "resp", buf, **kw)
    return buf.getvalue()


@pytest.fixture
def saved_states(start_redis, tmp_path):
    src = start_redis(tmp_path / "src")
    r = raw(src.client())
    keys = build_stream_states(r)
    want = {k: stream_state(r, k) for k in keys}
    _exec(r, "SAVE")
    return src, keys, want, tmp_path / "src" / "dump.rdb"


def _check(server: RedisServer, keys, want) -> None:
    r = raw(server.client())
    for k in keys:
        got = stream_state(r, k)
        assert got == want[k], k


def test_states_really_hold_what_a_plain_rebuild_loses(saved_states):
    """The source has pending entries of deleted messages and a consumer with nothing
    pending (the test would prove nothing otherwise)."""
    _, _, want, _ = saved_states
    g1 = want[b"s:deleted-pending"][b"groups"][0]
    ids = {e[0] for e in want[b"s:deleted-pending"][b"entries"]}
    assert any(p[0] not in ids for p in g1[b"pending"])
    assert want[b"s:all-deleted"][b"length"] == 0
    assert want[b"s:all-deleted"][b"groups"][0][b"pel-count"] == 3


def test_export_resp_rebuilds_stream_state_exactly(saved_states, start_redis, tmp_path):
    _, keys, want, rdb = saved_states
    dst = start_redis(tmp_path / "dst")
    _pipe(dst, _export_resp(rdb))
    _check(dst, keys, want)


def test_aof_export_resp_rebuilds_stream_state_exactly(saved_states, start_redis, tmp_path):
    """The RDB as the preamble of an AOF: aoftools.export writes the same commands."""
    from persistkit.aoftools.export import export_aof

    _, keys, want, rdb = saved_states
    buf = io.BytesIO()
    export_aof(str(rdb), "resp", buf)
    dst = start_redis(tmp_path / "dst")
    _pipe(dst, buf.getvalue())
    _check(dst, keys, want)


def test_replay_resp_and_diff_commands_rebuild_stream_state_exactly(saved_states, start_redis,
                                                                   tmp_path):
    from persistkit.kvengine import Keyspace
    from persistkit.kvencoding.resp import encode_command
    from persistkit.recovery.output import rebuild_commands

    _, keys, want, rdb = saved_states
    ks = Keyspace(expiry=False)
    ks.load_records([x for x in read_rdb(str(rdb)) if isinstance(x, model.Record)])
    payload = b"".join(encode_command(a) for a in rebuild_commands(ks))
    dst = start_redis(tmp_path / "dst")
    _pipe(dst, payload)
    _check(dst, keys, want)


def test_diff_commands_turn_an_empty_snapshot_into_the_states(saved_states, start_redis, tmp_path):
    from persistkit.kvencoding.resp import encode_command
    from persistkit.recovery.diff import diff_inputs

    src, keys, want, rdb = saved_states
    empty = start_redis(tmp_path / "empty")
    _exec(raw(empty.client()), "SAVE")
    d = diff_inputs(str(tmp_path / "empty" / "dump.rdb"), str(rdb))
    dst = start_redis(tmp_path / "dst")
    _pipe(dst, b"".join(encode_command(a) for a in d.commands()))
    _check(dst, keys, want)


def _loadable_by_70(folder: str) -> bool:
    return folder.startswith(("redis-5.", "redis-6.", "redis-7.0"))


@pytest.mark.parametrize("folder", real_ids())
def test_corpus_streams_through_export_resp(folder, start_redis, tmp_path):
    """Every server version's snapshot through export resp into a real 7.0: each
    stream's entries, groups, PELs and consumers as the snapshot stores them; for the
    files 7.0 itself loads, every XINFO FULL field as that server shows them."""
    rdb = REAL / folder / "dump.rdb"
    streams = {(x.db, x.key): x.value for x in read_rdb(str(rdb))
               if isinstance(x, model.Record) and x.type == model.STREAM}
    assert streams, folder
    dst = start_redis(tmp_path / "dst")
    # the streams only: a 7.0 has no command for some other data of newer servers
    _pipe(dst, _export_resp(rdb, type_="stream"))
    ref = None
    if _loadable_by_70(folder):
        import shutil

        (tmp_path / "ref").mkdir()
        shutil.copyfile(rdb, tmp_path / "ref" / "dump.rdb")
        ref = start_redis(tmp_path / "ref")
    for (db, key), sv in streams.items():
        got = stream_state(raw(dst.client(db=db)), key)
        _same_as_snapshot(got, sv)
        if ref is not None:
            want = stream_state(raw(ref.client(db=db)), key)
            if sv.entries_added is None and not sv.length:
                # rdb.c loads an empty pre-7.0 stream with streamGetEdgeID's "no entry"
                # answer, UINT64_MAX-UINT64_MAX, as its first ID; XADD, XTRIM and XDEL
                # leave an empty stream at 0-0, and no command sets it otherwise.
                assert want.pop(b"recorded-first-entry-id") == b"%d-%d" % (2 ** 64 - 1, 2 ** 64 - 1)
                assert got.pop(b"recorded-first-entry-id") == b"0-0"
            ghosts = _deleted_pending_after_first(sv)
            if sv.entries_added is None and ghosts:
                # The placeholder of a deleted message after the first live entry goes
                # with XDEL, which sets max_deleted_entry_id to its ID; the loader shows
                # 0-0 for a pre-7.0 stream, and XSETID cannot set 0-0 back.
                assert want.pop(b"max-deleted-entry-id") == b"0-0"
                assert got.pop(b"max-deleted-entry-id") == _sid(ghosts[-1])
            assert got == want, (folder, key)


def _sid(s) -> bytes:
    return b"%d-%d" % tuple(s)


def _deleted_pending_after_first(sv: model.StreamValue) -> list:
    live = [tuple(e.id) for e in sv.entries()]
    pending = {tuple(p.id) for g in sv.groups for p in g.pel}
    return sorted(p for p in pending - set(live) if live and p > live[0])


def _same_as_snapshot(got: dict, sv: model.StreamValue) -> None:
    live = list(sv.entries())
    assert got[b"length"] == len(live)
    assert got[b"last-generated-id"] == _sid(sv.last_id)
    if sv.entries_added is not None:
        assert got[b"entries-added"] == sv.entries_added
        assert got[b"max-deleted-entry-id"] == _sid(sv.max_deleted_id)
        if live:
            assert got[b"recorded-first-entry-id"] == _sid(live[0].id)
    assert [e[0] for e in got[b"entries"]] == [_sid(e.id) for e in live]
    assert [e[1] for e in got[b"entries"]] == [[x for fv in e.fields for x in fv] for e in live]
    groups = {g[b"name"]: g for g in got[b"groups"]}
    assert set(groups) == {g.name for g in sv.groups}
    for g in sv.groups:
        gg = groups[g.name]
        assert gg[b"last-delivered-id"] == _sid(g.last_id)
        if sv.entries_added is not None:
            assert gg[b"entries-read"] == g.entries_read
        owner = {tuple(i): c.name for c in g.consumers for i in c.pel}
        assert gg[b"pending"] == [[_sid(p.id), owner[tuple(p.id)], p.delivery_time_ms, p.delivery_count]
                                  for p in g.pel]
        assert {c[b"name"]: c[b"pel-count"] for c in gg[b"consumers"]} == \
            {c.name: len(c.pel) for c in g.consumers}


def _stream(live_ids, last, *, groups=(), pending=()):
    entries = [model.StreamEntry(i, [(b"f", b"v")]) for i in live_ids]
    nodes = [model.StreamNode(live_ids[0], [b"f"], entries)] if live_ids else []
    cons = [model.StreamConsumer(b"c", 0, None, list(pending))]
    grps = [model.StreamGroup(name, gid, None,
                              [model.StreamPendingEntry(p, 5, 1, b"c") for p in pending], cons)
            for name, gid in groups]
    return model.StreamValue(nodes=nodes, length=len(live_ids), last_id=last, groups=grps)


def test_pre_70_streams_get_the_loaders_metadata(start_redis, tmp_path):
    """A stream stored without 7.0 metadata (type 15): the commands give what a 7.0
    server computes when it loads it (entries_added = length, the entries_read estimate)."""
    sv = _stream([(1, 0), (2, 0), (3, 0)], (3, 0),
                 groups=[(b"before", (0, 0)), (b"first", (1, 0)), (b"mid", (2, 0)), (b"end", (3, 0))])
    cmds = list(stream_commands(b"k", sv))
    creates = {c[3]: c for c in cmds if c[:2] == [b"XGROUP", b"CREATE"]}
    assert creates[b"before"][-2:] == [b"ENTRIESREAD", b"0"]
    assert creates[b"first"][-2:] == [b"ENTRIESREAD", b"1"]
    assert b"ENTRIESREAD" not in creates[b"mid"]          # no estimate: nil
    assert creates[b"end"][-2:] == [b"ENTRIESREAD", b"3"]
    assert estimated_entries_read((5, 0), entries_added=3, length=3, last_id=(3, 0),
                                  first_id=(1, 0), max_deleted_id=(0, 0)) == -1
