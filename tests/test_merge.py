"""merge: AOF sets folded into one snapshot (read back with our reader), several inputs
with conflict policies, the CLI contract. The real-server loads are in
test_recovery_redis.py."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from corpus import (diff_keyspaces, expected_functions, expected_keyspace, keyspace_from_records,
                    load_expected, real_folders, real_ids)
from persistkit.cli import main
from persistkit.kvengine import Keyspace
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import RDBReader, read_rdb
from persistkit.recovery.merge import merge
from persistkit.recovery.output import Target, write_rdb_file

FOLDERS = real_folders()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def has_field_ttls(folder) -> bool:
    return any(k.get("field_expire_at_ms") for k in load_expected(folder)["states"]["aof-hybrid"]["keys"])


@pytest.mark.parametrize("folder", FOLDERS, ids=real_ids())
@pytest.mark.parametrize("aof", ["aof-hybrid", "aof-plain"])
def test_merge_aof_set_into_one_rdb(folder, aof, tmp_path):
    out = tmp_path / "merged.rdb"
    # a plain AOF names no server version: say which semantics to follow
    compat = load_expected(folder)["server"]["redis_compat_version"]
    # a plain AOF has no snapshot header either: pre-7.0 sets are written as their server
    # would (RDB 9, no stream v2 metadata); later ones take the default
    version = ["--rdb-version", "9"] if load_expected(folder)["rdb_version"] < 10 else []
    r = run("merge", folder / aof, "-o", out, "--compat", compat, "--json", *version)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["merge"]["conflicts"] == 0 and doc["merge"]["inputs"][0]["kind"] == "log"
    items = read_rdb(str(out))
    header = RDBReader(open(out, "rb").read()).header
    if has_field_ttls(folder):
        # field TTLs need RDB 12 (Redis 7.4+) or VALKEY080
        assert (header.magic, header.version) in (("REDIS", 12), ("VALKEY", 80))
    else:
        assert header.version <= 11
    got = keyspace_from_records(items)
    assert diff_keyspaces(got, expected_keyspace(folder, aof), consumer_times_wildcard=True) == []
    codes = sorted(i.code for i in items if isinstance(i, model.Function))
    assert codes == (expected_functions(folder, aof) or [])


def test_merge_to_aof_directory(tmp_path):
    folder = next(f for f in FOLDERS if f.name == "redis-7.4.1")
    out = tmp_path / "rewritten"
    r = run("merge", folder / "aof-hybrid", "-o", out, "--format", "aof")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof",
                                                     "appendonly.aof.manifest"]
    from persistkit.recovery.replay import replay

    got = keyspace_from_records(replay(out).keyspace.iter_records())
    assert diff_keyspaces(got, expected_keyspace(folder, "aof-hybrid"), consumer_times_wildcard=True) == []


def test_explicit_version_that_cannot_hold_field_ttls_is_refused(tmp_path):
    folder = next(f for f in FOLDERS if f.name == "redis-7.4.1")
    out = tmp_path / "x.rdb"
    r = run("merge", folder / "aof-hybrid", "-o", out, "--rdb-version", "10")
    assert r.exit_code == 2 and "field TTLs" in r.output and not out.exists()


# ---------------------------------------------------------------------------
# several inputs


def make_rdb(path, entries, version=10):
    """entries: {(db, key): value bytes} written as strings."""
    ks = Keyspace(expiry=False)
    for (db, key), value in entries.items():
        ks.execute([b"SET", key, value], db=db)
    write_rdb_file(ks, path, Target(version, "redis"))
    return path


@pytest.fixture
def shards(tmp_path):
    a = make_rdb(tmp_path / "a.rdb", {(0, b"k1"): b"a1", (0, b"shared"): b"from-a", (2, b"only-a"): b"x"})
    b = make_rdb(tmp_path / "b.rdb", {(0, b"k2"): b"b2", (0, b"shared"): b"from-b", (2, b"only-a"): b"y"})
    c = make_rdb(tmp_path / "c.rdb", {(1, b"k3"): b"c3", (0, b"shared"): b"from-c"})
    return a, b, c


def strings(path):
    return {(r.db, r.key): r.value for r in read_rdb(str(path)) if isinstance(r, model.Record)}


def test_policy_last(shards, tmp_path):
    out = tmp_path / "m.rdb"
    r = run("merge", *shards, "-o", out, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)["merge"]
    assert strings(out) == {(0, b"k1"): b"a1", (0, b"k2"): b"b2", (1, b"k3"): b"c3",
                            (0, b"shared"): b"from-c", (2, b"only-a"): b"y"}
    a, b, c = map(str, shards)
    assert doc["conflicts"] == 3
    assert sorted((x["db"], x["key"], tuple(x["inputs"]), x["winner"]) for x in doc["conflict_list"]) == sorted([
        (0, "shared", (a, b), b), (0, "shared", (b, c), c), (2, "only-a", (a, b), b)])


def test_policy_first(shards, tmp_path):
    out = tmp_path / "m.rdb"
    r = run("merge", *shards, "-o", out, "--on-conflict", "first", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)["merge"]
    assert strings(out)[(0, b"shared")] == b"from-a" and strings(out)[(2, b"only-a")] == b"x"
    a = str(shards[0])
    assert {x["winner"] for x in doc["conflict_list"]} == {a} and doc["conflicts"] == 3


def test_policy_error_writes_nothing(shards, tmp_path):
    out = tmp_path / "m.rdb"
    r = run("merge", *shards, "-o", out, "--on-conflict", "error", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.output)
    assert doc["output"] is None and doc["merge"]["conflicts"] == 3
    assert all(x["winner"] is None for x in doc["merge"]["conflict_list"])
    assert not out.exists()
    r = run("merge", *shards, "-o", out, "--on-conflict", "error")
    assert r.exit_code == 1 and "nothing written" in r.output


def test_no_conflict_merge_of_disjoint_shards(tmp_path):
    a = make_rdb(tmp_path / "a.rdb", {(0, b"a"): b"1"})
    b = make_rdb(tmp_path / "b.rdb", {(0, b"b"): b"2"})
    res = merge([a, b], "error")
    assert res.conflicts == [] and res.keyspace.total_keys() == 2


def test_merge_snapshot_with_aof_set(tmp_path):
    # a snapshot of old keys plus an AOF set: the AOF's final state wins where they overlap
    folder = next(f for f in FOLDERS if f.name == "redis-7.0.15")
    old = make_rdb(tmp_path / "old.rdb", {(0, b"str:empty"): b"OLD", (7, b"archive"): b"kept"})
    res = merge([old, folder / "aof-hybrid"], "last")
    got = keyspace_from_records(res.keyspace.iter_records())
    want = expected_keyspace(folder, "aof-hybrid")
    assert got.pop((7, b"archive"))["value"] == b"kept"
    assert diff_keyspaces(got, want, consumer_times_wildcard=True) == []
    assert [(c.db, c.key) for c in res.conflicts] == [(0, b"str:empty")]
    assert [i["kind"] for i in res.summary()["inputs"]] == ["snapshot", "log"]


def test_functions_conflict_when_code_differs(tmp_path):
    folder = next(f for f in FOLDERS if f.name == "redis-7.0.15")
    res = merge([folder / "dump.rdb", folder / "aof-hybrid/appendonlydir/appendonly.aof.2.base.rdb"], "last")
    # the same libraries with the same code are not conflicts; every key is
    assert all(c.kind == "key" for c in res.conflicts)
    assert len(res.conflicts) == len(expected_keyspace(folder, "snapshot"))


def test_merge_usage_errors(shards, tmp_path):
    assert run("merge", shards[0], "-o", shards[0]).exit_code == 2
    assert run("merge", tmp_path / "missing.rdb", "-o", tmp_path / "o.rdb").exit_code == 2
    assert run("merge", shards[0], "-o", tmp_path / "o.rdb", "--on-conflict", "nope").exit_code == 2
