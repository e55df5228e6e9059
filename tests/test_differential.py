"""Differential tests on fresh, seeded random keyspaces (tests/gen_keyspace.py) made by a
real redis-server 7.0: whatever persistkit reads, exports, converts, replays or merges
must load back into a fresh real server as the very keyspace the live server showed.

One "world" per seed (module scope): a server filled and mutated, its SAVE snapshot and
the live keyspace read right after; an AOF server per preamble mode, rewritten, written to
again with timestamps on, and its keyspace read right before its files are copied.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpus import diff_keyspaces, keyspace_from_records, normalize_record
from gen_keyspace import KeyspaceGen, seeds, wait_persistence_idle
from persistkit.cli import main
from persistkit.rdbtools.dump import decode_payload
from persistkit.rdbtools.reader import read_rdb
from realredis import RedisServer, read_keyspace, redis_binary

SEEDS = seeds()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def live_only(ks: dict, now_ms: int | None = None) -> dict:
    """What a server loading ``ks`` now keeps (expired keys are dropped on load)."""
    now_ms = now_ms or int(time.time() * 1000)
    return {k: copy.deepcopy(v) for k, v in ks.items() if v["expire_ms"] is None or v["expire_ms"] > now_ms}


def loaded_keyspace(rdb: Path, workdir: Path) -> dict:
    """Start a fresh real server on ``rdb`` and read its keyspace."""
    workdir.mkdir(parents=True)
    shutil.copyfile(rdb, workdir / "dump.rdb")
    with RedisServer(workdir) as server:
        assert any("DB loaded from disk" in line for line in server.log), "".join(server.log)
        return read_keyspace(server)


class World:
    """Files and live keyspaces made by real servers for one seed."""

    def __init__(self, seed: int, root: Path):
        self.seed = seed
        self.root = root
        redis_binary()
        # --- RDB: fill, mutate, SAVE, read the live keyspace
        with RedisServer(root / "rdbsrv") as server:
            client = server.client()
            self.gen = KeyspaceGen(seed)
            self.gen.fill(client)
            self.gen.mutate(client, 120)
            client.save()
            self.live = read_keyspace(server)
            self.rdb = root / "snapshot.rdb"
            shutil.copyfile(root / "rdbsrv" / "dump.rdb", self.rdb)
            # a second state for diff: more writes, SAVE again
            self.gen.mutate(client, 60)
            client.save()
            self.live2 = read_keyspace(server)
            self.rdb2 = root / "snapshot2.rdb"
            shutil.copyfile(root / "rdbsrv" / "dump.rdb", self.rdb2)
            # DUMP payloads of random keys with their live values
            rng = random.Random(seed)
            self.dumps = []
            for db, key in rng.sample(sorted(self.live2), min(25, len(self.live2))):
                c = server.client(db=db)
                self.dumps.append(((db, key), c.dump(key)))
        # --- AOF, with and without RDB preamble
        self.aof = {}
        for preamble in ("yes", "no"):
            work = root / f"aof-{preamble}"
            # appendfsync always: with everysec a pending background fsync lets the server
            # postpone the write() of the AOF buffer (flushAppendOnlyFile) while replies
            # still go out, so a copy could miss the last writes the keyspace read shows
            with RedisServer(work, "--aof-use-rdb-preamble", preamble, "--aof-timestamp-enabled", "yes",
                             "--appendfsync", "always", appendonly=True) as server:
                client = server.client()
                gen = KeyspaceGen(seed + 7919)
                gen.fill(client)
                client.bgrewriteaof()
                wait_persistence_idle(client)
                gen.mutate(client, 150)
                wait_persistence_idle(client)
                live = read_keyspace(server)
                # every reply is sent after its write()+fsync to the AOF (beforeSleep), so
                # the copy holds everything the keyspace read shows
                copy = root / f"aof-{preamble}-copy"
                shutil.copytree(work / "appendonlydir", copy)
                self.aof[preamble] = (copy, live)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def world(request, tmp_path_factory):
    return World(request.param, tmp_path_factory.mktemp(f"world{request.param}"))


def test_reader_equals_live_keyspace(world):
    got = keyspace_from_records(read_rdb(world.rdb.read_bytes()))
    assert len(got) > 50
    assert diff_keyspaces(got, world.live) == []
    got2 = keyspace_from_records(read_rdb(world.rdb2.read_bytes()))
    assert diff_keyspaces(got2, world.live2) == []


def test_verify_is_clean(world):
    for path in (world.rdb, world.rdb2, world.aof["yes"][0], world.aof["no"][0]):
        r = run("verify", path)
        assert r.exit_code == 0, r.output


def test_export_resp_rebuilds_the_keyspace(world, tmp_path):
    out = tmp_path / "dump.resp"
    r = run("export", world.rdb, "--format", "resp", "-o", out)
    assert r.exit_code == 0, r.output
    with RedisServer(tmp_path / "fresh") as server:
        p = subprocess.run([redis_binary("redis-cli"), "-p", str(server.port), "--pipe"],
                           stdin=open(out, "rb"), capture_output=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        assert b"errors: 0" in p.stdout, p.stdout
        got = read_keyspace(server)
    want = live_only(world.live)
    blank_consumer_seen_times(got, want)
    assert diff_keyspaces(got, want) == []


def blank_consumer_seen_times(got: dict, want: dict) -> None:
    """No command sets a consumer's seen-time (it is 'now' when the consumer is made or
    used), so a keyspace rebuilt from commands differs there and only there."""
    for ks in (got, want):
        for v in ks.values():
            if v["type"] == "stream":
                for g in v["value"]["groups"]:
                    for c in g["consumers"]:
                        c["seen_time_ms"] = None


@pytest.mark.parametrize("args", [("--rdb-version", "8", "--allow-loss"), ("--rdb-version", "9", "--allow-loss"),
                                  ("--rdb-version", "10", "--encodings", "server")],
                         ids=["v8", "v9", "v10-server"])
def test_converted_snapshot_loads_into_real_server(world, tmp_path, args):
    out = tmp_path / "conv.rdb"
    r = run("convert", world.rdb, "-o", out, *args)
    assert r.exit_code == 0, r.output
    assert run("verify", out).exit_code == 0
    got = loaded_keyspace(out, tmp_path / "srv")
    want = live_only(world.live)
    if args[1] in ("8", "9"):
        blank_stream_v2_meta(got, want)
    if args[1] == "8":   # streams arrived with RDB 9: --allow-loss leaves them out
        want = {k: v for k, v in want.items() if v["type"] != "stream"}
    assert diff_keyspaces(got, want) == []


@pytest.mark.parametrize("version", ["11", "12"])
def test_converted_to_newer_versions_reads_back_equal(world, tmp_path, version):
    """RDB 11/12 (7.2 / 7.4) cannot load into 7.0: our own reader is the check there."""
    out = tmp_path / "conv.rdb"
    r = run("convert", world.rdb, "-o", out, "--rdb-version", version)
    assert r.exit_code == 0, r.output
    assert run("verify", out).exit_code == 0
    got = keyspace_from_records(read_rdb(out.read_bytes()))
    assert diff_keyspaces(got, world.live) == []


def blank_stream_v2_meta(got: dict, want: dict) -> None:
    """RDB 9 has no stream v2 metadata (entries_added, max deleted id, first id, group
    entries_read): a 7.0 server loading it derives its own. Compare the rest."""
    for k, w in want.items():
        if w["type"] == "stream" and k in got:
            for side in (got[k]["value"], w["value"]):
                for f in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
                    side[f] = None
                for g in side["groups"]:
                    g["entries_read"] = None


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_aof_verify_replay_merge_equal_live(world, tmp_path, preamble):
    folder, live = world.aof[preamble]
    r = run("verify", folder)
    assert r.exit_code == 0, r.output
    # The oracle: a real 7.0 loading the copied AOF set. It equals the live keyspace except
    # for streams, where 7.0 itself does not carry everything through an AOF (consumer
    # seen-times become the loader's 'now'; XCLAIM drops PEL entries of deleted messages;
    # some XREADGROUP histories leave entries_read unset): there the loading server wins.
    real_dir = tmp_path / "real"
    shutil.copytree(folder, real_dir / "appendonlydir")
    with RedisServer(real_dir, appendonly=True) as server:
        real = read_keyspace(server)
    blank_consumer_seen_times(real, {})
    non_stream = {k: v for k, v in live_only(live).items() if v["type"] != "stream"}
    assert diff_keyspaces({k: v for k, v in real.items() if v["type"] != "stream"}, non_stream) == []
    assert set(real) == set(live_only(live))
    for cmd in ("replay", "merge"):
        out = tmp_path / f"{cmd}.rdb"
        r = run(cmd, folder, "-o", out)
        assert r.exit_code == 0, r.output
        got = loaded_keyspace(out, tmp_path / f"{cmd}-srv")
        blank_consumer_seen_times(got, {})
        assert diff_keyspaces(got, live_only(real)) == [], cmd


def test_diff_reports_exactly_the_changed_keys(world):
    r = run("diff", world.rdb, world.rdb2, "--json")
    assert r.exit_code == (0 if world.live == world.live2 else 1), r.output
    doc = json.loads(r.output)
    want = {"added": set(world.live2) - set(world.live), "removed": set(world.live) - set(world.live2),
            "changed": {k for k in set(world.live) & set(world.live2) if world.live[k] != world.live2[k]}}
    got = diff_key_sets(doc)
    assert got == want


def diff_key_sets(doc: dict) -> dict:
    from persistkit.kvencoding.bstr import bstr_from_json
    out = {"added": set(), "removed": set(), "changed": set()}
    for db, db_doc in doc["dbs"].items():
        for cat in out:
            for item in db_doc[cat]:
                out[cat].add((int(db), bstr_from_json(item["key"])))
    return out


def test_dump_payloads_decode_to_live_values(world, tmp_path):
    for (db, key), payload in world.dumps:
        rec, _version = decode_payload(payload)
        rec.db, rec.key, rec.expire_ms = db, key, None
        _, got = normalize_record(rec)
        want = dict(world.live2[(db, key)], expire_ms=None)
        assert diff_keyspaces({(db, key): got}, {(db, key): want}) == []
        path = tmp_path / "payload.bin"
        path.write_bytes(payload)
        r = run("payload", "decode", "--json", path)
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["type"] == want["type"]
