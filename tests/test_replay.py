"""replay: every real AOF set rebuilds the state its server loaded; point-in-time
recovery against live snapshots of an engine session; stops, skips, CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpus import (diff_keyspaces, expected_functions, expected_keyspace, keyspace_from_records,
                    load_expected, real_folders, real_ids)
from persistkit.aoftools.writer import AOFWriter, MultiPartWriter, write_resp_file
from persistkit.cli import main
from persistkit.kvengine import Keyspace
from persistkit.rdbtools.reader import read_rdb
from persistkit.recovery.output import rdb_items
from persistkit.recovery.replay import RecoveryError, ReplayOptions, SkipRule, replay

FOLDERS = real_folders()


def compat_of(folder) -> str:
    return load_expected(folder)["server"]["redis_compat_version"]


def state_of(ks: Keyspace) -> dict:
    return keyspace_from_records(ks.iter_records())


def functions_of(ks: Keyspace) -> list:
    return sorted(f.code for f in ks.iter_functions())


# ---------------------------------------------------------------------------
# the real-server corpus


@pytest.mark.parametrize("folder", FOLDERS, ids=real_ids())
@pytest.mark.parametrize("aof", ["aof-hybrid", "aof-plain"])
def test_replay_equals_the_state_the_server_loaded(folder, aof):
    res = replay(folder / aof, ReplayOptions(compat=compat_of(folder)))
    diff = diff_keyspaces(state_of(res.keyspace), expected_keyspace(folder, aof), consumer_times_wildcard=True)
    assert diff == []
    assert functions_of(res.keyspace) == (expected_functions(folder, aof) or [])
    assert res.commands_applied > 100
    assert res.stop is None and res.skipped == [] and res.truncated is None


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f.name in ("redis-5.0.14", "redis-7.2.6")],
                         ids=lambda p: p.name)
def test_compat_defaults_to_the_snapshot_redis_ver(folder):
    # no --compat: the hybrid preamble's redis-ver decides (5.0: no stream v2 metadata)
    res = replay(folder / "aof-hybrid")
    assert res.compat == ".".join(compat_of(folder).split(".")[:2])
    diff = diff_keyspaces(state_of(res.keyspace), expected_keyspace(folder, "aof-hybrid"),
                          consumer_times_wildcard=True)
    assert diff == []


def test_rdb_input_is_a_snapshot_with_no_log():
    folder = next(f for f in FOLDERS if f.name == "redis-7.0.15")
    res = replay(folder / "dump.rdb")
    assert res.commands_read == 0
    assert diff_keyspaces(state_of(res.keyspace), expected_keyspace(folder, "snapshot")) == []


# ---------------------------------------------------------------------------
# point in time: an engine session writes a timestamped multi-part AOF


T0 = 1_700_000_000


class LoggedSession:
    """The engine as a live server: commands run at chosen times, writes are logged the
    way Redis logs them (propagate_sink) and snapshots of the live state are taken."""

    def __init__(self) -> None:
        self.ks = Keyspace()
        self.log: list = []          # (db, args, time_s)
        self.now = T0
        self.ks.propagate_sink = lambda db, args: self.log.append((db, list(args), self.now))
        self.session = self.ks.session(0)

    def run(self, t: int, *commands) -> None:
        self.now = t
        for c in commands:
            args = [a if isinstance(a, bytes) else str(a).encode() for a in c]
            reply = self.session.execute(args, now_ms=t * 1000 + 250)
            assert not hasattr(reply, "message"), (c, reply)

    def snapshot(self) -> dict:
        # What a client would read live at that moment (expired keys are not visible).
        # Consumer seen/active times are nulled: an AOF does not carry them (the replay
        # sets its own), so compare them with consumer_times_wildcard=True.
        state = keyspace_from_records(self.ks.iter_records(now_ms=self.now * 1000 + 250))
        for v in state.values():
            if v["type"] == "stream":
                for g in v["value"]["groups"]:
                    for c in g["consumers"]:
                        c["seen_time_ms"] = c["active_time_ms"] = None
        return state


def diff_from_live(got: dict, live: dict) -> list:
    """diff_keyspaces of a replayed state against a live snapshot, for what an AOF carries:
    consumer times are the replay's own (wildcard), and a group's entries_read after
    XREADGROUP is not logged by Redis 7.0 (it propagates XCLAIM ... LASTID, and XGROUP
    SETID ... ENTRIESREAD only with NOACK), so it is left out on both sides."""
    def blank(state):
        state = {k: dict(v) for k, v in state.items()}
        for v in state.values():
            if v["type"] == "stream":
                v["value"] = dict(v["value"], groups=[dict(g, entries_read=None) for g in v["value"]["groups"]])
        return state

    return diff_keyspaces(blank(got), blank(live), consumer_times_wildcard=True)


def write_set(out: Path, base_ks: Keyspace, log: list) -> Path:
    """A multi-part AOF: the base snapshot, then the logged commands in one incr file
    with SELECT and #TS lines written by AOFWriter as the server writes them."""
    with MultiPartWriter(out, timestamps=True) as mp:
        mp.write_base_rdb(list(rdb_items(base_ks)), version=10)
        mp.write_incr(())
    with open(out / "appendonly.aof.1.incr.aof", "wb") as fh:
        aw = AOFWriter(fh, timestamps=True)
        for db, args, t in log:
            aw.command(args, db=db, time=t)
    return out


@pytest.fixture(scope="module")
def pit(tmp_path_factory):
    """Data, a live snapshot, a FLUSHALL, more writes; the AOF set and the snapshots."""
    s = LoggedSession()
    s.run(T0, ["SET", "base:1", "one"], ["HSET", "base:h", "f", "v"])
    base = Keyspace(expiry=False)
    base.load_records(s.ks.iter_records())
    s.log.clear()
    s.run(T0 + 1, ["SET", "user:1", "alice"], ["SET", "user:2", "bob", "EX", "100"],
          ["RPUSH", "queue", "a", "b", "c"], ["ZADD", "board", "1", "x", "2.5", "y"],
          ["SET", "short", "lived", "PX", "3000"])
    s.run(T0 + 2, ["SELECT", "3"], ["SADD", "tags", "red", "green"], ["SELECT", "0"],
          ["XADD", "events", "1-1", "k", "v"], ["XGROUP", "CREATE", "events", "g", "0"],
          ["XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "events", ">"])
    s.run(T0 + 5, ["INCRBY", "counter", "5"], ["MULTI"], ["SET", "tx:a", "1"], ["LPUSH", "queue", "z"],
          ["EXEC"])
    live_before_flush = s.snapshot()
    s.run(T0 + 10, ["FLUSHALL"])
    s.run(T0 + 12, ["SET", "user:1", "mallory"], ["SET", "after", "flush"], ["DEL", "base:1"])
    live_final = s.snapshot()
    folder = write_set(tmp_path_factory.mktemp("pit") / "appendonlydir", base, s.log)
    # the oracle for --skip FLUSHALL: the same writes on a server that never flushed
    o = LoggedSession()
    o.ks.load_records(base.iter_records())
    for db, args, t in s.log:
        if args[0] != b"FLUSHALL":
            o.now = t
            o.ks.execute(args, db=db, now_ms=t * 1000 + 250)
    o.now = T0 + 12
    return {"dir": folder, "before_flush": live_before_flush, "final": live_final,
            "no_flush": o.snapshot(), "log": s.log}


def test_pit_full_replay_is_the_final_live_state(pit):
    res = replay(pit["dir"])
    assert diff_from_live(state_of(res.keyspace), pit["final"]) == []


def test_pit_until_just_before_the_flushall(pit):
    res = replay(pit["dir"], ReplayOptions(until_time=T0 + 9))
    assert res.stop["reason"] == "until-time" and res.stop["time"] == T0 + 10
    got = state_of(res.keyspace)
    assert diff_from_live(got, pit["before_flush"]) == []
    # short (PX 3000 at T0+1) had expired at T0+9: dropped, and said so
    assert (0, b"short") not in got and res.expired_dropped == 1


def test_pit_until_iso_time_and_keep_expired(pit):
    from persistkit.commands.recovery import parse_time

    t = parse_time("2023-11-14T22:13:29Z")  # = T0 + 9
    assert t == T0 + 9
    res = replay(pit["dir"], ReplayOptions(until_time=t, keep_expired=True))
    assert (0, b"short") in state_of(res.keyspace) and res.expired_dropped == 0


def test_pit_skip_flushall_recovers_everything(pit):
    seen = []
    res = replay(pit["dir"], ReplayOptions(skips=[SkipRule.parse("flushall")]), on_skip=seen.append)
    assert [r.args for r in res.skipped] == [[b"FLUSHALL"]] and seen == res.skipped
    ref = res.skipped[0]
    assert ref.file == "appendonly.aof.1.incr.aof" and ref.time == T0 + 10 and ref.offset > 0
    got = state_of(res.keyspace)
    assert diff_keyspaces(got, pit["no_flush"], consumer_times_wildcard=True) == []
    assert got[(0, b"user:1")]["value"] == b"mallory" and (3, b"tags") in got
    # the live DEL base:1 after the flush found nothing, so it was never logged: the key survives
    assert (0, b"base:1") in got


def test_pit_until_offset_of_the_flushall(pit):
    res = replay(pit["dir"], ReplayOptions(skips=[SkipRule.parse("FLUSHALL")]))
    flush = res.skipped[0]
    res2 = replay(pit["dir"], ReplayOptions(until_offset=("appendonly.aof.1.incr.aof", flush.offset)))
    assert res2.stop["reason"] == "until-offset" and res2.stop["offset"] == flush.offset
    assert diff_from_live(state_of(res2.keyspace), pit["before_flush"]) == []
    # --until-command: the same point by count
    res3 = replay(pit["dir"], ReplayOptions(until_command=flush.index - 1))
    assert diff_from_live(state_of(res3.keyspace), pit["before_flush"]) == []


def test_pit_skip_with_key_glob(pit):
    res = replay(pit["dir"], ReplayOptions(skips=[SkipRule.parse("SET user:*")]))
    assert sorted(r.args[1] for r in res.skipped) == [b"user:1", b"user:1", b"user:2"]
    got = state_of(res.keyspace)
    assert (0, b"user:1") not in got and (0, b"after") in got


def test_stop_inside_a_transaction_leaves_it_unapplied(pit):
    log = pit["log"]
    # the log holds MULTI, SET tx:a, LPUSH queue, EXEC: stop on the LPUSH
    res = replay(pit["dir"], ReplayOptions(skips=[SkipRule.parse("FLUSHALL")]))
    full = state_of(res.keyspace)
    from persistkit.aoftools.reader import AOFReader

    lpush_index = next(i for i, item in enumerate(AOFReader(pit["dir"]).commands(), 1)
                       if item.args[0] == b"LPUSH")
    assert any(a[0] == b"MULTI" for _, a, _ in log)
    cut = replay(pit["dir"], ReplayOptions(until_command=lpush_index - 1))
    assert cut.stop["inside_transaction"] is True
    assert cut.discarded_transaction == 1      # SET tx:a was queued, never EXECed
    got = state_of(cut.keyspace)
    assert (0, b"tx:a") not in got and (0, b"tx:a") in full


def test_skip_inside_multi_drops_only_that_command(tmp_path):
    path = tmp_path / "tx.aof"
    write_resp_file(path, [[b"SET", b"k0", b"0"], [b"MULTI"], [b"SET", b"a", b"1"], [b"FLUSHALL"],
                           [b"SET", b"b", b"2"], [b"EXEC"]])
    res = replay(path, ReplayOptions(skips=[SkipRule.parse("FLUSHALL")]))
    assert res.skipped[0].in_multi
    assert sorted(k for _, k in state_of(res.keyspace)) == [b"a", b"b", b"k0"]
    res = replay(path)
    assert sorted(k for _, k in state_of(res.keyspace)) == [b"b"]


def test_unskippable_and_bad_rules():
    for bad in ("MULTI", "exec", "SELECT 1", "", "DEL a b"):
        with pytest.raises(RecoveryError):
            SkipRule.parse(bad)
    rule = SkipRule.parse("del user:[0-9]*")
    assert rule.matches(b"DEL", [b"DEL", b"user:7x"]) and not rule.matches(b"DEL", [b"DEL", b"users"])
    assert not rule.matches(b"DEL", [b"DEL"])


def test_until_time_without_ts_is_an_error():
    folder = next(f for f in FOLDERS if f.name.startswith("redis-6"))
    with pytest.raises(RecoveryError, match="no #TS"):
        replay(folder / "aof-plain", ReplayOptions(until_time=T0))


def test_truncated_last_command_loads_up_to_it(tmp_path):
    path = tmp_path / "cut.aof"
    write_resp_file(path, [[b"SET", b"a", b"1"], [b"SET", b"b", b"2"]])
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    res = replay(path)
    assert res.truncated["offset"] == data.index(b"*3", 1)
    assert [k for _, k in state_of(res.keyspace)] == [b"a"]


# ---------------------------------------------------------------------------
# CLI


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_replay_to_rdb_and_json(pit, tmp_path):
    out = tmp_path / "out.rdb"
    r = run("replay", pit["dir"], "-o", out, "--skip", "FLUSHALL", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    rep = doc["replay"]
    assert rep["commands_skipped"] == 1 and rep["skipped"][0]["command"] == ["FLUSHALL"]
    assert rep["skipped"][0]["file"] == "appendonly.aof.1.incr.aof" and rep["skipped"][0]["time"] == T0 + 10
    assert set(rep) >= {"commands_applied", "stop", "dbs", "keys", "log_time", "expired_dropped"}
    assert doc["output"]["format"] == "rdb" and doc["output"]["rdb_version"] == 10
    got = keyspace_from_records(read_rdb(str(out)))
    assert diff_keyspaces(got, pit["no_flush"], consumer_times_wildcard=True) == []
    assert rep["dbs"] == {str(db): {"keys": n, "expires": e} for db, n, e in
                          _db_counts(pit["no_flush"])}


def _db_counts(state):
    out = {}
    for (db, _), v in state.items():
        n, e = out.get(db, (0, 0))
        out[db] = (n + 1, e + (v["expire_ms"] is not None))
    return [(db, n, e) for db, (n, e) in sorted(out.items())]


def test_cli_replay_to_aof_dir_and_resp(pit, tmp_path):
    out = tmp_path / "aofdir"
    r = run("replay", pit["dir"], "-o", out, "--format", "aof", "--until", T0 + 9)
    assert r.exit_code == 0, r.output
    assert diff_from_live(state_of(replay(out).keyspace), pit["before_flush"]) == []
    resp = tmp_path / "state.resp"
    r = run("replay", pit["dir"], "--resp", resp)
    assert r.exit_code == 0, r.output
    # the RESP stream rebuilds the same state on an empty engine
    ks = Keyspace(expiry=False)
    state = replay(resp, keyspace=ks)
    assert diff_from_live(state_of(state.keyspace), pit["final"]) == []


def test_cli_replay_dry_run_writes_nothing(pit, tmp_path):
    r = run("replay", pit["dir"], "--dry-run", "--skip", "FLUSHALL", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["dry_run"] is True and doc["output"] is None and doc["replay"]["commands_skipped"] == 1
    r = run("replay", pit["dir"], "--dry-run", "-o", tmp_path / "x.rdb", "--json")
    assert r.exit_code == 0
    assert json.loads(r.output)["output"] == {"format": "rdb", "path": str(tmp_path / "x.rdb"),
                                              "rdb_version": 10, "dialect": "redis", "written": False}
    assert list(tmp_path.iterdir()) == []
    # the target is checked in a dry run too
    r = run("replay", pit["dir"], "--dry-run", "-o", tmp_path / "x.rdb", "--rdb-version", "5")
    assert r.exit_code == 2 and "cannot be written" in r.output


@pytest.mark.parametrize("args, needle", [
    ([], "needs -o"),
    (["-o", "x.rdb", "--resp", "-"], "one of"),
    (["--resp", "-", "--json"], "cannot be combined"),
    (["--dry-run", "--skip", "MULTI"], "cannot be skipped"),
    (["--dry-run", "--until", "yesterday"], "ISO-8601"),
    (["--dry-run", "--until-offset", "nofile.aof:10"], "not a file of this input"),
    (["--dry-run", "--until-offset", "abc"], "FILE:BYTES"),
    (["--format", "aof", "--resp", "-"], "needs -o DIR"),
])
def test_cli_replay_usage_errors(pit, args, needle):
    r = run("replay", pit["dir"], *args)
    assert r.exit_code == 2, r.output
    assert needle in r.output


def test_cli_until_without_ts_exit_2():
    folder = next(f for f in FOLDERS if f.name.startswith("redis-5"))
    r = run("replay", folder / "aof-plain", "--dry-run", "--until", "2024-01-01T00:00:00")
    assert r.exit_code == 2 and "no #TS annotations" in r.output


def test_cli_missing_and_damaged_input(tmp_path):
    assert run("replay", tmp_path / "nope.aof", "--dry-run").exit_code == 2
    bad = tmp_path / "bad.aof"
    bad.write_bytes(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\nXX\r\n*1\r\n$4\r\nPING\r\n")
    r = run("replay", bad, "--dry-run")
    assert r.exit_code == 1 and "bad.aof" in r.output


def test_cli_unknown_command_needs_skip(tmp_path):
    path = tmp_path / "mod.aof"
    write_resp_file(path, [[b"SET", b"a", b"1"], [b"MYMODULE.ADD", b"k", b"v"]])
    r = run("replay", path, "--dry-run")
    assert r.exit_code == 1 and "MYMODULE.ADD" in r.output
    r = run("replay", path, "--dry-run", "--skip", "mymodule.add", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["replay"]["keys"] == 1


def test_skip_glob_applies_to_the_first_key():
    import persistkit.kvengine.commands  # noqa: F401  (the full command table)

    xgroup = SkipRule.parse("XGROUP s*")
    assert xgroup.matches(b"XGROUP", [b"XGROUP", b"CREATE", b"s1", b"g", b"$"])
    assert not xgroup.matches(b"XGROUP", [b"XGROUP", b"CREATE", b"t1", b"g", b"$"])
    assert not SkipRule.parse("FLUSHALL *").matches(b"FLUSHALL", [b"FLUSHALL", b"ASYNC"])
    assert SkipRule.parse("DEL u*").matches(b"DEL", [b"DEL", b"u1", b"x"])
