"""RDB 13 / 14 through live servers.

* What ``convert`` writes from the RDB 14 fixture for RDB 10 loads into the installed
  redis-server 7.0 and holds exactly what the loss report said would be left.
* With a Redis 8.6-era (RDB 13) or 8.8-era (RDB 14) server at hand -- built from the
  commits tests/data/newformats/README.md names, pointed to by
  ``PERSISTKIT_REDIS13_SERVER`` / ``PERSISTKIT_REDIS14_SERVER`` and the key-metadata
  test module of the same tree by ``PERSISTKIT_REDIS13_KEYMETA`` / ``PERSISTKIT_REDIS14_KEYMETA``
  -- files and payloads persistkit writes load into it and read back as the fixture's
  expected.json says. Without them these tests skip (CI has no such build: the fixtures
  written by those servers carry the proof there, see test_new_formats.py).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import pytest

from corpus import alive_at, diff_keyspaces, keyspace_from_records, wall_clock_ms
from persistkit.rdbtools import model
from persistkit.rdbtools.convert import convert_rdb
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.writer import RDBWriter, encode_payload
from realredis import RedisServer, read_keyspace, redis_binary

NF = Path(__file__).resolve().parent / "data" / "newformats"


def _generator():
    spec = importlib.util.spec_from_file_location("newformats_generate", NF / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _records(data: bytes) -> list:
    return [i for i in RDBReader(data) if isinstance(i, model.Record)]


# ---------------------------------------------------------------------------
# down to Redis 7.0


def test_rdb14_converted_to_rdb10_loads_into_redis_70(tmp_path):
    redis_binary()
    data = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    out = io.BytesIO()
    res = convert_rdb(data, out, version=10, allow_loss=True)
    assert res.keys_lost == sum(1 for r in _records(data) if r.type == model.ARRAY)
    work = tmp_path / "r70"
    work.mkdir()
    (work / "dump.rdb").write_bytes(out.getvalue())
    at = wall_clock_ms()
    with RedisServer(work, "--sanitize-dump-payload", "yes") as srv:
        got = read_keyspace(srv, dbs=(0, 2))
        # deep sanitization on load would reject a PEL entry without an owner
        assert srv.client().execute_command("DBSIZE") == len([k for k in got if k[0] == 0])
    want = keyspace_from_records(_records(out.getvalue()))
    for v in want.values():
        v["field_expires"] = None      # read_keyspace does not read field TTLs (RDB 10 has none)
    assert diff_keyspaces(alive_at(got, at), alive_at(want, at), consumer_times_wildcard=True) == []
    names = {k[1] for k in got}
    assert b"stream:idmp" in names and b"hash:small" in names and b"array:mixed" not in names


# ---------------------------------------------------------------------------
# Redis 8.6 / 8.8 builds


def _built(version: int):
    server = os.environ.get(f"PERSISTKIT_REDIS{version}_SERVER")
    module = os.environ.get(f"PERSISTKIT_REDIS{version}_KEYMETA")
    if not (server and module and os.path.exists(server) and os.path.exists(module)):
        pytest.skip(f"no RDB {version} Redis build (PERSISTKIT_REDIS{version}_SERVER / _KEYMETA)")
    return server, module


class _Loaded:
    """A built server with the fixture's key-metadata classes registered, then an RDB
    file loaded with DEBUG RELOAD NOSAVE (classes must exist before the load: a class
    without ALLOW_IGNORE that is not registered fails the load)."""

    def __init__(self, version: int, tmp: Path) -> None:
        server, module = _built(version)
        self.gen = _generator()
        tmp.mkdir(parents=True, exist_ok=True)
        self.srv = self.gen.Server(server, module, tmp)
        self.dir = tmp
        r = self.srv.client(0)
        r.execute_command("DEBUG", "enable-keymeta-runtime-registration", "1")
        for name, ver, flags in self.gen.KEYMETA_CLASSES:
            r.execute_command("KEYMETA.REGISTER", name, ver, flags)

    def load(self, data: bytes) -> None:
        (self.dir / "dump.rdb").write_bytes(data)
        self.srv.client(0).execute_command("DEBUG", "RELOAD", "NOSAVE")

    def keys(self) -> dict:
        out = {}
        for db in (0, 2):
            r = self.srv.client(db)
            for key in r.keys("*"):
                out[(db, key)] = self.gen.read_key(r, db, key, {"idmp": {}})
        return out

    def close(self) -> None:
        self.srv.stop()


def _expected(version: int) -> dict:
    exp = json.loads((NF / f"redis-rdb{version}" / "expected.json").read_text())
    return {(k["db"], k["key"].encode() if isinstance(k["key"], str) else bytes.fromhex(k["key"]["hex"])): k
            for k in exp["states"]["snapshot"]["keys"]}


def _comparable(entry: dict) -> dict:
    e = json.loads(json.dumps(entry))
    if e["type"] == "stream":
        e["value"].get("idmp", {}).pop("entries", None)   # not listable through commands
        for g in e["value"]["groups"]:
            if not g.get("nacked_count"):
                g.pop("nacked_count", None)   # an RDB 13 server has no such field
            for c in g["consumers"]:
                c.pop("seen_time_ms", None)
                c.pop("active_time_ms", None)
    return e


def _assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k in want:
        assert _comparable(got[k]) == _comparable(want[k]), k


@pytest.mark.parametrize("version", [13, 14])
def test_what_persistkit_writes_loads_into_the_server_of_its_version(tmp_path, version):
    data = (NF / f"redis-rdb{version}" / "dump.rdb").read_bytes()
    srv = _Loaded(version, tmp_path / "srv")
    try:
        # 1. the file rewritten from decoded values, server encodings (nodes re-planned)
        reader = RDBReader(data)
        out = io.BytesIO()
        w = RDBWriter(out, version=version, encodings="server")
        for item in reader:
            w.write(item)
        srv.load(out.getvalue())
        _assert_same(srv.keys(), _expected(version))
        # 2. every key as a DUMP payload persistkit encoded, RESTOREd
        srv.load(b"REDIS%04d\xff" % version + b"\0" * 8)
        for rec in _records(data):
            r = srv.srv.client(rec.db)
            r.execute_command("RESTORE", rec.key, 0, encode_payload(rec, version, "redis"), "REPLACE")
            if rec.expire_ms:
                r.pexpireat(rec.key, rec.expire_ms)
        _assert_same(srv.keys(), _expected(version))
    finally:
        srv.close()


def test_rdb13_converted_up_and_rdb14_converted_down_load(tmp_path):
    d13 = (NF / "redis-rdb13" / "dump.rdb").read_bytes()
    d14 = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    up = io.BytesIO()
    convert_rdb(d13, up, version=14)
    srv = _Loaded(14, tmp_path / "s14")
    try:
        srv.load(up.getvalue())
        _assert_same(srv.keys(), _expected(13))
    finally:
        srv.close()
    down = io.BytesIO()
    res = convert_rdb(d14, down, version=13, allow_loss=True)
    srv = _Loaded(13, tmp_path / "s13")
    try:
        srv.load(down.getvalue())
        got = srv.keys()
        want = {k: v for k, v in _expected(14).items() if v["type"] != "array"}
        assert set(got) == set(want) and res.keys_lost == 5
        for k, v in want.items():
            if k[1] == b"stream:groups":
                # the NACKed entries are gone from the group PEL, the rest is unchanged
                for g in v["value"]["groups"]:
                    g["pel"] = [p for p in g["pel"] if p["consumer"] != ""]
                    g.pop("nacked_count", None)
            assert _comparable(got[k]) == _comparable(v), k
    finally:
        srv.close()


def test_resp_export_rebuilds_the_data(tmp_path):
    """export --format resp replayed into a fresh server: ARMSET/ARSEEK for arrays,
    RESTORE for keys carrying key metadata, IDMP state or NACK zones."""
    from persistkit.kvencoding.resp import parse_commands
    from persistkit.rdbtools.export import export_rdb

    data = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    out = io.BytesIO()
    export_rdb("dump.rdb", "resp", out, stream=io.BytesIO(data))
    srv = _Loaded(14, tmp_path / "srv")
    try:
        srv.load(b"REDIS0014\xff" + b"\0" * 8)
        r = srv.srv.client(0)
        conn = r.connection_pool.get_connection()
        try:
            for args in parse_commands(out.getvalue()):
                conn.send_command(*args)
                reply = conn.read_response()     # an error reply raises
                assert reply is not None or args[0].upper() in (b"SELECT",)
        finally:
            r.connection_pool.release(conn)
        got = srv.keys()
    finally:
        srv.close()
    want = _expected(14)
    assert set(got) == set(want)
    for k, v in want.items():
        assert _comparable(got[k]) == _comparable(v), k


def test_rdb15_templates_converted_to_rdb14_load(tmp_path):
    """Hash templates (read from the layout librdb and the Redis test suite give) become
    plain hashes for RDB 14; the RDB 14 server loads them as such."""
    import test_new_formats as nf

    out = io.BytesIO()
    convert_rdb(nf._rdb15_with_templates(), out, version=14)
    srv = _Loaded(14, tmp_path / "srv")
    try:
        srv.load(out.getvalue())
        got = srv.keys()
    finally:
        srv.close()
    want = {(0, r.key): sorted([list(map(bytes.decode, p)) for p in r.value])
            for r in _records(nf._rdb15_with_templates())}
    assert {k: sorted(v["value"]) for k, v in got.items()} == want
