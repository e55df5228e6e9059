"""Files and the engine, both ways, with real Redis as the judge.

* What real servers wrote (the corpus: dump.rdb, hybrid and plain multi-part AOF sets of
  every version) loads into the engine's keyspace with the expected content.
* What the engine writes (RDB, hybrid and plain AOF sets) passes redis-check-rdb /
  redis-check-aof and loads into a real redis-server 7.0 with the same keyspace.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from corpus import REAL, alive_at, diff_keyspaces, expected_keyspace, keyspace_from_records, real_ids, wall_clock_ms
from realredis import RedisServer, read_keyspace, redis_binary
from persistkit.kvengine import Keyspace
from persistkit.kvengine.persistence import AppendOnlyFile, load_aof, load_rdb_file, save_rdb_file

V70 = "redis-7.0.15"


def _compat(folder: str) -> str:
    # the server generation whose replay rules apply (XCLAIM consumer creation changed in 7.2)
    name, ver = folder.split("-", 1)
    if name == "valkey":
        return "7.2"
    return {"5.0": "5.0", "6.2": "6.2", "7.0": "7.0"}.get(ver[:3], "7.4")


def _aof_copy(folder: str, state: str, tmp_path):
    src = REAL / folder / state / "appendonlydir"
    if src.is_dir():
        dst = tmp_path / state
        shutil.copytree(src, dst)
        return dst
    dst = tmp_path / "appendonly.aof"
    shutil.copyfile(REAL / folder / state / "appendonly.aof", dst)
    return dst


@pytest.mark.parametrize("folder", real_ids())
def test_corpus_rdb_loads_with_expected_content(folder):
    ks = Keyspace(compat=_compat(folder))
    load_rdb_file(ks, str(REAL / folder / "dump.rdb"))
    got = keyspace_from_records(ks.iter_records())
    want = expected_keyspace(folder, "snapshot")
    diff = diff_keyspaces(got, want, consumer_times_wildcard=folder.startswith("redis-5"))
    assert diff == []


@pytest.mark.parametrize("state", ["aof-hybrid", "aof-plain"])
@pytest.mark.parametrize("folder", real_ids())
def test_corpus_aof_sets_replay_to_expected_content(folder, state, tmp_path):
    ks = Keyspace(compat=_compat(folder))
    res = load_aof(ks, str(_aof_copy(folder, state, tmp_path)))
    assert res.commands > 0 and res.truncated_at is None
    got = keyspace_from_records(ks.iter_records())
    assert diff_keyspaces(got, expected_keyspace(folder, state), consumer_times_wildcard=True) == []


def test_truncated_last_command_is_dropped_like_aof_load_truncated(tmp_path):
    d = _aof_copy(V70, "aof-hybrid", tmp_path)
    incr = next(d.glob("*.incr.aof"))
    data = incr.read_bytes()
    cut = data.rfind(b"*3\r\n$3\r\nSET")
    incr.write_bytes(data[:cut + 12])            # half of the last SET
    ks = Keyspace()
    res = load_aof(ks, str(d))
    assert res.truncated_at == (incr.name, cut)
    assert incr.stat().st_size == cut            # the file is cut back to the last whole command
    with pytest.raises(Exception):
        incr.write_bytes(data[:cut + 12])
        load_aof(Keyspace(), str(d), load_truncated=False)


def _engine_keyspace_from_corpus() -> Keyspace:
    ks = Keyspace()
    load_rdb_file(ks, str(REAL / V70 / "dump.rdb"))
    return ks


def test_engine_rdb_passes_check_rdb_and_loads_into_redis(tmp_path):
    redis_binary()
    ks = _engine_keyspace_from_corpus()
    path = tmp_path / "dump.rdb"
    save_rdb_file(ks, str(path), version=10)
    check = subprocess.run([redis_binary("redis-check-rdb"), str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "RDB looks OK" in check.stdout
    (tmp_path / "r2").mkdir()
    shutil.copyfile(path, tmp_path / "r2" / "dump.rdb")
    at = wall_clock_ms()  # a server drops corpus TTLs passed by its clock: compare as of now
    with RedisServer(tmp_path / "r2") as real:
        got = read_keyspace(real)
    assert diff_keyspaces(alive_at(got, at), alive_at(expected_keyspace(V70, "snapshot"), at)) == []


@pytest.mark.parametrize("preamble", [True, False])
def test_engine_aof_sets_pass_check_aof_and_load_into_redis(tmp_path, preamble):
    redis_binary()
    ks = Keyspace()
    load_aof(ks, str(_aof_copy(V70, "aof-hybrid", tmp_path)))
    work = tmp_path / "real"
    aof = AppendOnlyFile(str(work / "appendonlydir"), fsync="always", timestamps=True, preamble=preamble)
    aof.create(ks)
    # writes after the base land in the incr file, as a running engine logs them
    ks.propagate_sink = aof.feed
    s = ks.session()
    s.execute([b"SET", b"after:base", b"1", b"EX", b"100000"])
    s.execute([b"SELECT", b"5"])
    s.execute([b"RPUSH", b"after:list", b"a", b"b"])
    aof.close()
    manifest = (work / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert ("appendonly.aof.1.base.rdb" if preamble else "appendonly.aof.1.base.aof") in manifest
    check = subprocess.run([redis_binary("redis-check-aof"), str(work / "appendonlydir" / "appendonly.aof.manifest")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # the oracle: the same files replayed by the engine (a plain rewrite logs a PEL as
    # XCLAIMs, which drop entries whose message is gone, in Redis and here alike)
    again = Keyspace()
    load_aof(again, str(work / "appendonlydir"))
    want = keyspace_from_records(again.iter_records())
    if preamble:
        assert want == keyspace_from_records(ks.iter_records())
    else:
        for v in want.values():   # consumer times are set by whoever replays the XCLAIMs
            if v["type"] == "stream":
                for g in v["value"]["groups"]:
                    for c in g["consumers"]:
                        c["seen_time_ms"] = c["active_time_ms"] = None
    at = wall_clock_ms()
    with RedisServer(work, appendonly=True) as real:
        got = read_keyspace(real)
    assert diff_keyspaces(alive_at(got, at), alive_at(want, at), consumer_times_wildcard=True) == []
    assert (0, b"after:base") in got and got[(5, b"after:list")]["value"] == [b"a", b"b"]


def test_restore_of_real_dump_payloads_and_dump_back_into_real_redis(tmp_path):
    from corpus import bstr, load_expected

    data = load_expected(V70)
    want = expected_keyspace(V70, "snapshot")
    ks = Keyspace()
    s = ks.session()
    payloads = {}
    for d in data["dumps"]:
        key = bstr(d["key"], data["_root"])
        payload = (REAL / V70 / d["file"]).read_bytes()
        s.select(d["db"])
        assert s.execute([b"RESTORE", key, b"0", payload, b"REPLACE"]) == "OK"
        got = keyspace_from_records(ks.iter_records(dbs=[d["db"]]))
        k = (d["db"], key)
        assert diff_keyspaces({k: got[k]}, {k: dict(want[k], expire_ms=None)}) == []
        payloads[k] = s.execute([b"DUMP", key])
    assert s.execute([b"RESTORE", b"x", b"0", b"garbage"]).message == \
        "ERR DUMP payload version or checksum are wrong"
    # what DUMP gives back restores in a real Redis 7.0 to the same value
    with RedisServer(tmp_path / "real") as real:
        for (db, key), payload in payloads.items():
            real.client(db=db).restore(key, 0, payload, replace=True)
        got = read_keyspace(real)
    for k in payloads:
        assert diff_keyspaces({k: got[k]}, {k: dict(want[k], expire_ms=None)}) == []


def test_engine_server_starts_from_real_redis_files(tmp_path):
    """The server's start-up path: dump.rdb when appendonly is off, the AOF set when on."""
    from test_engine_support import EngineProcess

    rdb_dir = tmp_path / "rdb"
    rdb_dir.mkdir()
    shutil.copyfile(REAL / V70 / "dump.rdb", rdb_dir / "dump.rdb")
    at = wall_clock_ms()  # the engine server expires by the wall clock: compare as of now
    with EngineProcess(rdb_dir) as eng:
        got = read_keyspace(eng)
    assert diff_keyspaces(alive_at(got, at), alive_at(expected_keyspace(V70, "snapshot"), at)) == []
    aof_dir = tmp_path / "aof"
    aof_dir.mkdir()
    shutil.copytree(REAL / V70 / "aof-hybrid" / "appendonlydir", aof_dir / "appendonlydir")
    at = wall_clock_ms()
    with EngineProcess(aof_dir, appendonly="yes") as eng:
        got = read_keyspace(eng)
        eng.client().set("new", "1")
    assert diff_keyspaces(alive_at(got, at), alive_at(expected_keyspace(V70, "aof-hybrid"), at),
                          consumer_times_wildcard=True) == []
    # it appended to the set's last incr file
    assert b"new" in (aof_dir / "appendonlydir" / "appendonly.aof.2.incr.aof").read_bytes()[-40:]


def test_engine_upgrades_a_pre_7_0_single_file_aof(tmp_path):
    """aofUpgradePrepare: a 6.2 appendonly.aof (RDB preamble + commands) is moved into the
    AOF folder as its base; the content loads and new writes go to a fresh incr file."""
    from test_engine_support import EngineProcess

    folder = "redis-6.2.16"
    shutil.copyfile(REAL / folder / "aof-hybrid" / "appendonly.aof", tmp_path / "appendonly.aof")
    at = wall_clock_ms()  # the engine server expires by the wall clock (and logs DELs for it)
    want = alive_at(expected_keyspace(folder, "aof-hybrid"), at)
    with EngineProcess(tmp_path, appendonly="yes") as eng:
        r = eng.client()
        for db, key in want:
            assert r.execute_command("SELECT", db) and r.type(key).decode() == want[(db, key)]["type"]
        r.execute_command("SELECT", 0)
        r.set("after-upgrade", "1")
    manifest = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert manifest.startswith("file appendonly.aof seq 1 type b\n") and "appendonly.aof.1.incr.aof" in manifest
    assert not (tmp_path / "appendonly.aof").exists()
    ks = Keyspace(compat="6.2")
    load_aof(ks, str(tmp_path / "appendonlydir"))
    # the incr file holds the DELs of keys the server expired; keys expiring within the
    # margin may or may not have been expired yet, so they are left out of the count
    got = alive_at(keyspace_from_records(ks.iter_records()), at)
    assert ks.get(b"after-upgrade") == b"1" and len(got) == len(want) + 1
