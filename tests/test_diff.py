"""diff: key-level differences between inputs; on the real corpus the keys the command
log changed; --commands turns A into B; exit codes and JSON shape."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from corpus import diff_keyspaces, expected_keyspace, load_expected, real_folders, real_ids
from persistkit.cli import main
from persistkit.kvencoding.resp import CommandParser
from persistkit.kvencoding.source import ByteSource
from persistkit.kvengine import Keyspace
from persistkit.recovery.diff import compare_keyspaces, diff_inputs
from persistkit.recovery.replay import load_state

FOLDERS = real_folders()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def log_changed_keys(folder) -> set:
    """Keys whose content differs between the snapshot and the replayed AOF, from expected.json."""
    snap = expected_keyspace(folder, "snapshot")
    aof = expected_keyspace(folder, "aof-hybrid")
    out = set()
    for k in set(snap) | set(aof):
        if k not in snap or k not in aof or diff_keyspaces({k: aof[k]}, {k: snap[k]}):
            out.add(k)
    return out


@pytest.mark.parametrize("folder", FOLDERS, ids=real_ids())
def test_dump_vs_aof_names_exactly_the_keys_the_log_changed(folder):
    compat = load_expected(folder)["server"]["redis_compat_version"]
    d = diff_inputs(folder / "dump.rdb", folder / "aof-hybrid", compat=compat)
    want = log_changed_keys(folder)
    assert len(want) > 50
    assert d.changed_keys() == want
    snap = expected_keyspace(folder, "snapshot")
    aof = expected_keyspace(folder, "aof-hybrid")
    for db, dd in d.dbs.items():
        assert all((db, k) not in snap and (db, k) in aof for k in dd.added)
        assert all((db, k) in snap and (db, k) not in aof for k in dd.removed)
        for k, what in dd.changed:
            if "type" in what:
                assert snap[(db, k)]["type"] != aof[(db, k)]["type"]
            if "ttl" in what:
                assert snap[(db, k)]["expire_ms"] != aof[(db, k)]["expire_ms"]


@pytest.mark.parametrize("name", ["redis-7.0.15", "redis-7.4.1", "valkey-9.1.0"])
def test_commands_turn_a_into_b(name, tmp_path):
    folder = next(f for f in FOLDERS if f.name == name)
    r = run("diff", folder / "dump.rdb", folder / "aof-hybrid", "--commands")
    assert r.exit_code == 1
    resp = r.stdout_bytes
    a = load_state(folder / "dump.rdb").keyspace
    s = a.session(0)
    for _, args in CommandParser(ByteSource(resp)):
        reply = s.execute(args, now_ms=0)
        assert not hasattr(reply, "message"), (args[:3], reply)
    b = load_state(folder / "aof-hybrid").keyspace
    left = compare_keyspaces(a, b)
    # the plain rebuild of a stream cannot recreate PEL entries of deleted messages
    # (corpus README, AOF notes (2)) nor consumer times: streams may still differ there
    for db, dd in left.dbs.items():
        assert dd.added == [] and dd.removed == []
        for k, what in dd.changed:
            assert what == ["value"] and b.type_of(k, db) == "stream", (db, k, what)


def test_equal_inputs_exit_0():
    folder = next(f for f in FOLDERS if f.name == "redis-7.2.6")
    base = next((folder / "aof-hybrid/appendonlydir").glob("*.base.rdb"))
    r = run("diff", folder / "dump.rdb", base, "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["equal"] is True and doc["counts"] == {"added": 0, "removed": 0, "changed": 0, "functions": 0}
    assert doc["dbs"] == {}
    assert run("diff", folder / "dump.rdb", base).exit_code == 0


def test_json_shape_and_ttl_only_change(tmp_path):
    a, b = Keyspace(expiry=False), Keyspace(expiry=False)
    for ks in (a, b):
        ks.execute([b"SET", b"same", b"v"])
        ks.execute([b"SET", b"ttl", b"v"])
        ks.execute([b"RPUSH", b"kind", b"x"])
    b.execute([b"PEXPIREAT", b"ttl", b"99999999999999"])
    a.execute([b"SET", b"gone", b"1"], db=3)
    b.execute([b"HSET", b"new", b"f", b"v"], db=3)
    b.execute([b"DEL", b"kind"])
    b.execute([b"SET", b"kind", b"x"])
    from persistkit.recovery.output import Target, write_rdb_file

    write_rdb_file(a, tmp_path / "a.rdb", Target(10, "redis"))
    write_rdb_file(b, tmp_path / "b.rdb", Target(10, "redis"))
    r = run("diff", tmp_path / "a.rdb", tmp_path / "b.rdb", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.output)
    assert doc["equal"] is False and doc["counts"] == {"added": 1, "removed": 1, "changed": 2, "functions": 0}
    assert doc["dbs"]["3"]["added"] == [{"key": "new", "type": "hash"}]
    assert doc["dbs"]["3"]["removed"] == [{"key": "gone", "type": "string"}]
    changed = {c["key"]: c for c in doc["dbs"]["0"]["changed"]}
    assert changed["ttl"]["what"] == ["ttl"] and changed["ttl"]["ttl_ms"] == [None, 99999999999999]
    assert changed["kind"]["what"] == ["type"] and changed["kind"]["type"] == ["list", "string"]
    # TTL-only changes become PEXPIREAT, not a rebuild
    r = run("diff", tmp_path / "a.rdb", tmp_path / "b.rdb", "--commands")
    cmds = [args for _, args in CommandParser(ByteSource(r.stdout_bytes))]
    assert [b"PEXPIREAT", b"ttl", b"99999999999999"] in cmds
    assert [b"DEL", b"gone"] in cmds and not any(c[:2] == [b"DEL", b"ttl"] for c in cmds)


def test_usage_and_unreadable_inputs_exit_2(tmp_path):
    folder = FOLDERS[0]
    assert run("diff", folder / "dump.rdb", tmp_path / "missing").exit_code == 2
    bad = tmp_path / "bad.rdb"
    bad.write_bytes((folder / "dump.rdb").read_bytes()[:200])
    r = run("diff", folder / "dump.rdb", bad)
    assert r.exit_code == 2 and "bad.rdb" in r.output
    assert run("diff", folder / "dump.rdb", folder / "dump.rdb", "--json", "--commands").exit_code == 2


def test_both_sides_are_compared_at_the_same_moment(tmp_path):
    # A snapshot holding a key that expired before the log's last #TS, and an AOF set
    # with that snapshot as its base: the expired key is gone from both, not "removed".
    from persistkit.aoftools.writer import AOFWriter, MultiPartWriter
    from persistkit.recovery.output import Target, rdb_items, write_rdb_file

    t0 = 1_700_000_000
    ks = Keyspace(expiry=False)
    ks.execute([b"SET", b"keep", b"1"])
    ks.execute([b"SET", b"old", b"x", b"PXAT", b"%d" % (t0 * 1000 + 5000)])
    write_rdb_file(ks, tmp_path / "a.rdb", Target(10, "redis"))
    out = tmp_path / "aof"
    with MultiPartWriter(out) as mp:
        mp.write_base_rdb(list(rdb_items(ks)), version=10)
        mp.write_incr(())
    with open(out / "appendonly.aof.1.incr.aof", "wb") as fh:
        AOFWriter(fh, timestamps=True).command([b"SET", b"new", b"2"], db=0, time=t0 + 60)
    d = diff_inputs(tmp_path / "a.rdb", out)
    assert d.changed_keys() == {(0, b"new")}
    assert d.dbs[0].added == [b"new"] and d.dbs[0].removed == []
