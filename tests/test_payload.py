"""``persistkit payload decode|encode``: DUMP / RESTORE payloads from the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from corpus import REAL, bstr, expected_keyspace, load_expected, normalize_value, real_folders
from persistkit.cli import main
from persistkit.rdbtools.dump import decode_payload

FOLDERS = real_folders()


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def _value_back(doc):
    """A decoded payload's JSON value, normalized like tests/corpus.py does."""
    t = doc["type"]
    v = doc["value"]
    if t == "zset":
        v = [[m, float(s)] for m, s in v]
    return normalize_value(t, v, None, expected=True) if t != "stream" else v


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_decode_shows_each_dump_value(folder):
    exp = load_expected(folder)
    want = expected_keyspace(folder)
    for d in exp["dumps"][:12]:
        r = run("payload", "decode", folder / d["file"], "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        assert doc["rdb_version"] == d["payload_rdb_version"] and doc["type"] == d["type"]
        key = (d["db"], bstr(d["key"], exp["_root"]))
        if d["type"] != "stream":
            assert _value_back(doc) == want[key]["value"]


def test_decode_reads_hex_from_stdin():
    payload = (REAL / "redis-7.0.15" / "dumps").glob("*.bin").__next__().read_bytes()
    r = run("payload", "decode", "-", "--json", input=payload.hex() + "\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["rdb_version"] == 10


def test_decode_of_a_damaged_payload_exits_1():
    payload = bytearray(next((REAL / "redis-7.0.15" / "dumps").glob("*.bin")).read_bytes())
    payload[3] ^= 0xFF
    r = run("payload", "decode", "-", "--hex", input=payload.hex())
    assert r.exit_code == 1 and "checksum" in r.output


@pytest.mark.parametrize("ktype,value", [
    ("string", "hello"),
    ("string", {"hex": "00ff10"}),
    ("list", ["a", "1", {"hex": "ff"}]),
    ("set", ["1", "2", "3"]),
    ("set", ["a", "b"]),
    ("zset", [["a", "1.5"], ["b", "-inf"], ["c", 3]]),
    ("hash", {"f": "v", "n": "12"}),
    ("stream", {"entries": [{"id": "1-1", "fields": [["a", "1"]]}, {"id": "2-0", "fields": [["b", "2"]]}],
                "last_id": "5-0"}),
])
@pytest.mark.parametrize("target", ["redis-6.2", "redis-7.0", "redis-7.2", "redis-7.4", "valkey-9"])
def test_encode_then_decode_gives_the_value(ktype, value, target):
    r = run("payload", "encode", "--type", ktype, "--value", json.dumps(value), "--target", target, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    rec, version = decode_payload(bytes.fromhex(doc["payload_hex"]))
    assert rec.type == ktype and version == doc["rdb_version"]


@pytest.mark.redis
def test_encoded_payloads_restore_into_redis_70(redis_server, tmp_path):
    r = redis_server.client()
    cases = {
        b"s": ("string", "hello world " * 10),
        b"l": ("list", [str(i) for i in range(1000)]),
        b"st": ("set", ["x", "y", "1"]),
        b"z": ("zset", [["m%d" % i, i / 3] for i in range(200)]),
        b"h": ("hash", {"f%d" % i: "v" * i for i in range(80)}),
    }
    for key, (ktype, value) in cases.items():
        out = tmp_path / f"{key.decode()}.bin"
        res = run("payload", "encode", "--type", ktype, "--value", json.dumps(value), "--rdb-version", 10,
                  "-o", out)
        assert res.exit_code == 0, res.output
        r.execute_command("RESTORE", key, 0, out.read_bytes())
    assert r.get(b"s") == b"hello world " * 10
    assert r.lrange(b"l", 0, -1) == [str(i).encode() for i in range(1000)]
    assert r.smembers(b"st") == {b"x", b"y", b"1"}
    assert r.zrange(b"z", 0, -1, withscores=True) == sorted(
        [(b"m%d" % i, i / 3) for i in range(200)], key=lambda p: (p[1], p[0]))
    assert r.hgetall(b"h") == {b"f%d" % i: b"v" * i for i in range(80)}


def test_encode_accepts_an_export_line_with_field_ttls():
    line = {"db": 0, "key": "h", "type": "hash", "value": [["a", "1"], ["b", "2"]],
            "field_expire_at_ms": [["a", 4102444800000]]}
    r = run("payload", "encode", "--from", "-", "--target", "redis-7.4", "--json", input=json.dumps(line))
    assert r.exit_code == 0, r.output
    rec, _ = decode_payload(bytes.fromhex(json.loads(r.output)["payload_hex"]))
    assert rec.field_expires == {b"a": 4102444800000}


@pytest.mark.parametrize("args", [
    ["--type", "zset", "--value", '[["a"]]'],
    ["--type", "hash", "--value", "not json"],
    ["--value", '"x"'],
    ["--type", "string", "--value", '"x"', "--rdb-version", "99"],
])
def test_encode_usage_errors_exit_2(args):
    assert CliRunner().invoke(main, ["payload", "encode", *args]).exit_code == 2


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_an_export_line_encodes_back_to_the_servers_dump(folder):
    """export's JSON line of a key (from dump.rdb) -> payload encode --encodings keep ->
    the very DUMP payload the server produced for that key. Lists are left out: their
    quicklist node boundaries are not part of an export line."""
    from persistkit.rdbtools.export import key_json
    from persistkit.rdbtools.reader import RDBReader

    exp = load_expected(folder)
    recs = {(r.db, r.key): r for r in RDBReader((folder / "dump.rdb").read_bytes())
            if getattr(r, "key", None) is not None and hasattr(r, "rdb_type")}
    checked = 0
    for d in exp["dumps"]:
        rec = recs[(d["db"], bstr(d["key"], exp["_root"]))]
        if rec.type == "list":
            continue
        payload = (folder / d["file"]).read_bytes()
        version = d["payload_rdb_version"]
        line = json.dumps(key_json(rec))
        r = run("payload", "encode", "--from", "-", "--rdb-version", version, "--encodings", "keep", "--json",
                input=line)
        assert r.exit_code == 0, r.output
        assert bytes.fromhex(json.loads(r.output)["payload_hex"]) == payload, d["file"]
        checked += 1
    assert checked >= 10
