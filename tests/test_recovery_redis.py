"""Recovery outputs checked by a real redis-server 7.0 on loopback: merged AOF sets load
with the state the original server had; ``replay --to`` gives the same keyspace as
``replay -o``."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from click.testing import CliRunner

from corpus import (alive_at, diff_keyspaces, expected_functions, expected_keyspace, load_expected, real_folders,
                    wall_clock_ms)
from persistkit.aoftools.writer import write_resp_file
from persistkit.cli import main
from realredis import read_keyspace

FOLDERS = real_folders()
NO_FIELD_TTLS = [f for f in FOLDERS
                 if not any(k.get("field_expire_at_ms") for k in load_expected(f)["states"]["aof-hybrid"]["keys"])]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def used_dbs(state) -> list:
    return sorted({db for db, _ in state})


STREAM_V2_META = ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id")


def blank_pre70_stream_meta(got: dict, want: dict) -> None:
    """Servers before 7.0 have no stream v2 metadata (expected null); Redis 7.0 computes
    its own when loading. Blank it where the expected state has none. And the loading
    7.0 server has no consumer active-time (7.2+): expect any."""
    for k, w in want.items():
        if w["type"] != "stream" or k not in got:
            continue
        gv, wv = got[k]["value"], w["value"]
        for f in STREAM_V2_META:
            if wv.get(f) is None:
                gv[f] = None
        for gg, wg in zip(gv["groups"], wv["groups"]):
            if wg.get("entries_read") is None:
                gg["entries_read"] = None
            # consumer active-time arrived with 7.2 (stream v3): a 7.0 server cannot hold it
            for wc in wg["consumers"]:
                wc["active_time_ms"] = None


@pytest.mark.parametrize("folder", NO_FIELD_TTLS, ids=[f.name for f in NO_FIELD_TTLS])
@pytest.mark.parametrize("aof", ["aof-hybrid", "aof-plain"])
def test_merged_aof_set_loads_into_redis_70(folder, aof, tmp_path, start_redis):
    work = tmp_path / "srv"
    work.mkdir()
    out = work / "dump.rdb"
    compat = load_expected(folder)["server"]["redis_compat_version"]
    r = run("merge", folder / aof, "-o", out, "--rdb-version", "10"
            if load_expected(folder)["rdb_version"] >= 10 else "9", "--compat", compat)
    assert r.exit_code == 0, r.output
    at = wall_clock_ms()  # the server drops keys whose TTL passed by its clock: compare as of now
    server = start_redis(work)
    want = expected_keyspace(folder, aof)
    got = alive_at(read_keyspace(server, dbs=used_dbs(want)), at)
    want = alive_at(want, at)
    blank_pre70_stream_meta(got, want)
    assert diff_keyspaces(got, want, consumer_times_wildcard=True) == []
    names = sorted(code.split(b"name=")[1].split()[0] for code in (expected_functions(folder, aof) or []))
    assert library_names(server) == names


def library_names(server) -> list:
    """FUNCTION LIST library names (redis-py gives dicts or flat lists depending on version)."""
    out = []
    for lib in server.client().execute_command("FUNCTION", "LIST"):
        if not isinstance(lib, dict):
            lib = dict(zip(lib[0::2], lib[1::2]))
        lib = {(k.decode() if isinstance(k, bytes) else k): v for k, v in lib.items()}
        name = lib["library_name"]
        out.append(name if isinstance(name, bytes) else name.encode())
    return sorted(out)


def test_replay_to_redis_equals_replay_to_file(tmp_path, start_redis):
    folder = next(f for f in FOLDERS if f.name == "redis-7.0.15")
    work = tmp_path / "from-file"
    work.mkdir()
    r = run("replay", folder / "aof-hybrid", "-o", work / "dump.rdb", "--skip", "FLUSHDB")
    assert r.exit_code == 0, r.output
    at = wall_clock_ms()  # both servers expire corpus TTLs by their clock: compare as of now
    from_file = start_redis(work)
    live = start_redis(tmp_path / "live")
    r = run("replay", folder / "aof-hybrid", "--to", live.url, "--skip", "FLUSHDB", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["output"]["errors"] == 0 and doc["output"]["payload_rdb_version"] == 10
    assert doc["output"]["keys_sent"] == doc["replay"]["keys"] > 100
    a = alive_at(read_keyspace(from_file), at)
    b = alive_at(read_keyspace(live), at)
    assert len(a) > 100
    assert diff_keyspaces(b, a) == []
    assert library_names(from_file) == library_names(live) and len(library_names(live)) == 2


def test_replay_to_redis_db_in_url(tmp_path, start_redis):
    path = tmp_path / "one-db.aof"
    write_resp_file(path, [[b"SELECT", b"2"], [b"SET", b"a", b"1"], [b"RPUSH", b"l", b"x", b"y"],
                           [b"PEXPIREAT", b"a", b"99999999999999"]])
    live = start_redis(tmp_path / "live")
    r = run("replay", path, "--to", live.url + "/3")
    assert r.exit_code == 0, r.output
    assert "sent 2 key(s)" in r.output
    c = live.client(db=3)
    assert c.get(b"a") == b"1" and c.lrange(b"l", 0, -1) == [b"x", b"y"]
    assert int(c.execute_command("PEXPIRETIME", b"a")) == 99999999999999
    assert live.client(db=2).dbsize() == 0
    # a state spread over several dbs cannot go into one
    multi = tmp_path / "multi.aof"
    write_resp_file(multi, [[b"SET", b"a", b"1"], [b"SELECT", b"1"], [b"SET", b"b", b"2"]])
    r = run("replay", multi, "--to", live.url + "/3")
    assert r.exit_code == 2 and "dbs 0, 1" in r.output


def test_replay_to_redis_70_refuses_field_ttls(tmp_path, start_redis):
    folder = next(f for f in FOLDERS if f.name == "redis-7.4.1")
    live = start_redis(tmp_path / "live")
    r = run("replay", folder / "aof-hybrid", "--to", live.url)
    assert r.exit_code == 2 and "field TTLs" in r.output
    assert live.client().dbsize() == 0


def test_replayed_aof_directory_loads_into_redis(tmp_path, start_redis):
    folder = next(f for f in FOLDERS if f.name == "redis-7.0.15")
    work = tmp_path / "srv"
    work.mkdir()
    # a plain AOF names no server version: 7.0 semantics asked for (XCLAIM of a deleted
    # message creates no consumer before 7.2)
    r = run("replay", folder / "aof-plain", "-o", work / "appendonlydir", "--format", "aof",
            "--compat", "7.0")
    assert r.exit_code == 0, r.output
    at = wall_clock_ms()
    server = start_redis(work, appendonly=True)
    want = alive_at(expected_keyspace(folder, "aof-plain"), at)
    got = alive_at(read_keyspace(server, dbs=used_dbs(want)), at)
    assert diff_keyspaces(got, want, consumer_times_wildcard=True) == []
    shutil.rmtree(work, ignore_errors=True)


def test_resp_stream_piped_into_redis_gives_the_aof_state(tmp_path, start_redis):
    # Our RESP rebuild is the AOF rewrite's plain form except for streams, which are
    # rebuilt exactly (rdbtools.streamcmds): a server fed with it holds what the AOF
    # holds, without the PEL entry Redis's own plain rewrite (aof-plain) loses.
    import subprocess

    from realredis import redis_binary

    folder = next(f for f in FOLDERS if f.name == "redis-7.0.15")
    resp = tmp_path / "state.resp"
    at = wall_clock_ms()
    r = run("replay", folder / "aof-hybrid", "--resp", resp)
    assert r.exit_code == 0, r.output
    live = start_redis(tmp_path / "live")
    with open(resp, "rb") as fh:
        done = subprocess.run([redis_binary("redis-cli"), "-p", str(live.port), "--pipe"], stdin=fh,
                              capture_output=True, timeout=60)
    assert done.returncode == 0 and b"errors: 0" in done.stdout, done.stdout
    want = alive_at(expected_keyspace(folder, "aof-hybrid"), at)
    got = alive_at(read_keyspace(live, dbs=used_dbs(want)), at)
    # consumer seen/active times: the server stamps them, no command sets them
    for ks in (got, want):
        for v in ks.values():
            if v["type"] == "stream":
                for g in v["value"]["groups"]:
                    for c in g["consumers"]:
                        c["seen_time_ms"] = c["active_time_ms"] = None
    assert diff_keyspaces(got, want) == []
    assert len(library_names(live)) == 2


def test_unreachable_server_is_exit_2(tmp_path):
    from realredis import free_port

    path = tmp_path / "a.aof"
    write_resp_file(path, [[b"SET", b"a", b"1"]])
    r = run("replay", path, "--to", f"redis://127.0.0.1:{free_port()}")
    assert r.exit_code == 2 and "--to redis://127.0.0.1:" in r.output
    assert run("replay", path, "--to", "http://example/").exit_code == 2


# ---------------------------------------------------------------------------
# point in time on a real server's own AOF (#TS annotations, Redis 7.0)

PHASE1 = [
    (0, ["SET", "user:1", "alice"]), (0, ["SET", "user:2", "bob", "PXAT", "99999999999000"]),
    (0, ["RPUSH", "queue", "a", "b", "c"]), (0, ["ZADD", "board", "1", "x", "2.5", "y"]),
    (0, ["HSET", "h", "f1", "v1", "f2", "v2"]), (0, ["SADD", "s", "1", "2", "3"]),
    (0, ["XADD", "ev", "1-1", "k", "v"]), (0, ["XGROUP", "CREATE", "ev", "g", "0"]),
    (2, ["SET", "other", "db2"]), (2, ["INCRBY", "n", "7"]),
]
PHASE3 = [
    (0, ["SET", "user:1", "mallory"]), (0, ["LPUSH", "queue", "z"]), (0, ["SET", "after", "flush"]),
    (2, ["HSET", "h2", "a", "b"]),
]


def _next_second() -> int:
    """Wait for the wall clock to enter a new second: #TS annotations have a resolution of
    one second, so each phase must be logged in its own second (this waits for time
    itself, not for another process)."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.01)
    return int(time.time())


def _send(server, commands) -> None:
    for db, args in commands:
        server.client(db=db).execute_command(*args)


def _no_consumer_times(state: dict) -> dict:
    for v in state.values():
        if v["type"] == "stream":
            for g in v["value"]["groups"]:
                for c in g["consumers"]:
                    c["seen_time_ms"] = c["active_time_ms"] = None
    return state


def test_point_in_time_on_a_real_redis_aof(tmp_path, start_redis):
    from persistkit.recovery.replay import ReplayOptions, SkipRule, replay
    from corpus import keyspace_from_records

    live = start_redis(tmp_path / "live", "--aof-timestamp-enabled", "yes", "--appendfsync", "always",
                       appendonly=True)
    _next_second()
    _send(live, PHASE1)
    before = _no_consumer_times(read_keyspace(live, dbs=[0, 2]))
    t1 = int(time.time())
    t2 = _next_second()
    live.client().flushall()
    _next_second()
    _send(live, PHASE3)
    final = _no_consumer_times(read_keyspace(live, dbs=[0, 2]))
    live.stop()
    aof = tmp_path / "live" / "appendonlydir"

    def state(res):
        return keyspace_from_records(res.keyspace.iter_records())

    res = replay(aof)
    assert diff_keyspaces(state(res), final, consumer_times_wildcard=True) == []
    res = replay(aof, ReplayOptions(until_time=t1))
    assert res.stop["reason"] == "until-time" and res.stop["time"] >= t2
    assert diff_keyspaces(state(res), before, consumer_times_wildcard=True) == []
    # --skip FLUSHALL: everything; the oracle is a second server that never flushed
    res = replay(aof, ReplayOptions(skips=[SkipRule.parse("FLUSHALL")]))
    assert [r.args for r in res.skipped] == [[b"FLUSHALL"]] and res.skipped[0].time >= t2
    oracle = start_redis(tmp_path / "oracle")
    _send(oracle, PHASE1 + PHASE3)
    want = _no_consumer_times(read_keyspace(oracle, dbs=[0, 2]))
    assert diff_keyspaces(state(res), want, consumer_times_wildcard=True) == []
    # the CLI writes that recovered state into a file a real server loads
    work = tmp_path / "recovered"
    work.mkdir()
    r = run("replay", aof, "--skip", "FLUSHALL", "-o", work / "dump.rdb")
    assert r.exit_code == 0, r.output
    back = start_redis(work)
    assert diff_keyspaces(_no_consumer_times(read_keyspace(back, dbs=[0, 2])), want,
                          consumer_times_wildcard=True) == []
