"""export: jsonl/json/csv content equals the real servers' snapshots; ``resp`` piped into
a real redis-server 7.0 rebuilds the keyspace."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from corpus import (REAL, alive_at, diff_keyspaces, expected_functions, expected_keyspace, load_expected,
                    normalize_value, real_ids, wall_clock_ms)
from persistkit.rdbtools.export import export_rdb
from realredis import RedisServer, read_keyspace, redis_binary

IDS = real_ids()


def _keyspace_from_json_keys(objs, root) -> dict:
    out = {}
    for o in objs:
        from corpus import bstr

        key = bstr(o["key"], root)
        fe = o.get("field_expire_at_ms")
        out[(o["db"], key)] = {
            "type": o["type"],
            "value": normalize_value(o["type"], o["value"], root, expected=True),
            "expire_ms": o["expire_at_ms"],
            "field_expires": {bstr(f, root): ms for f, ms in fe} if fe else None,
        }
    return out


def _export(folder, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    export_rdb(REAL / folder / "dump.rdb", fmt, buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("folder", IDS)
def test_jsonl_is_lossless(folder):
    root = REAL / folder
    lines = [json.loads(x) for x in _export(folder, "jsonl").decode().splitlines()]
    keys = [o for o in lines if o["kind"] == "key"]
    got = _keyspace_from_json_keys(keys, root)
    assert diff_keyspaces(got, expected_keyspace(folder),
                          consumer_times_wildcard=folder.startswith("redis-5.")) == []
    funcs = sorted(o["code"].encode() for o in lines if o["kind"] == "function")
    assert funcs == (expected_functions(folder) or [])
    by_key = {(o["db"], json.dumps(o["key"])): o for o in keys}
    for k in load_expected(folder)["states"]["snapshot"]["keys"]:
        o = by_key[(k["db"], json.dumps(k["key"]))] if isinstance(k["key"], (str, dict)) else None
        if o is not None and k["type"] != "string" and k["encoding"] != "unknown":
            assert o["encoding"] == k["encoding"]


def test_json_document_and_filters():
    folder = "redis-7.4.1"
    doc = json.loads(_export(folder, "json"))
    assert len(doc["keys"]) == len(expected_keyspace(folder))
    assert len(doc["functions"]) == len(expected_functions(folder))
    only = json.loads(_export(folder, "json", db=1, type_="hash", match="*ttl*"))
    want = [k for k in expected_keyspace(folder) if k[0] == 1 and expected_keyspace(folder)[k]["type"] == "hash"
            and b"ttl" in k[1]]
    assert sorted((o["db"], o["key"]) for o in only["keys"]) == sorted((k[0], k[1].decode()) for k in want)
    assert only["keys"], "filter selected nothing: the test would prove nothing"


def test_csv_rows():
    folder = "redis-7.2.6"
    csv.field_size_limit(1 << 30)  # the 1 MiB string is one cell
    rows = list(csv.reader(io.StringIO(_export(folder, "csv").decode("utf-8"))))
    assert rows[0] == ["db", "key", "type", "encoding", "expire_at_ms", "size", "value"]
    assert len(rows) - 1 == len(expected_keyspace(folder))
    strings = {r[1]: r for r in rows[1:] if r[2] == "string"}
    assert strings["str:embstr44"][6] == expected_keyspace(folder)[(0, b"str:embstr44")]["value"].decode()


def _normalize_for_replay(ks: dict, *, pel_ids_live=True) -> dict:
    """What RESP replay cannot carry (documented in export): consumer seen/active times,
    PEL entries of deleted messages; and entries_read/entries_added metadata that a
    pre-7.0 file does not store (the 7.0 server computes it)."""
    out = {}
    for k, v in ks.items():
        v = dict(v)
        if v["type"] == "stream":
            s = json.loads(json.dumps(v["value"], default=lambda b: b.hex() if isinstance(b, bytes) else b))
            live = {e[0] for e in s["entries"]}
            for g in s["groups"]:
                g["pel"] = [p for p in g["pel"] if p[0] in live]
                for c in g["consumers"]:
                    c["seen_time_ms"] = c["active_time_ms"] = None
                    c["pel"] = [i for i in c["pel"] if i in live]
            v["value"] = s
        out[k] = v
    return out


def _strip_pre7_metadata(got: dict, want: dict) -> None:
    for k, w in want.items():
        if w["type"] != "stream" or k not in got:
            continue
        g = got[k]["value"]
        w = w["value"]
        for field in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
            if w.get(field) is None:
                g[field] = None
        for gg, wg in zip(g["groups"], w["groups"]):
            if wg.get("entries_read") is None:
                gg["entries_read"] = None


@pytest.mark.parametrize("folder", [f for f in IDS if load_expected(f)["rdb_version"] <= 10])
def test_resp_export_rebuilds_keyspace_in_real_redis(folder, tmp_path):
    payload = _export(folder, "resp")
    redis_binary("redis-cli")
    at = wall_clock_ms()  # the server expires corpus TTLs by its clock: compare as of now
    with RedisServer(tmp_path / "r") as server:
        proc = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], input=payload,
                              capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert b"errors: 0" in proc.stdout, proc.stdout
        got = _normalize_for_replay(read_keyspace(server))
        funcs = server.client().execute_command("FUNCTION", "LIST", "WITHCODE")
    got = alive_at(got, at)
    want = alive_at(_normalize_for_replay(expected_keyspace(folder)), at)
    _strip_pre7_metadata(got, want)
    assert diff_keyspaces(got, want) == []
    libs = [f if isinstance(f, dict) else dict(zip(f[0::2], f[1::2])) for f in funcs]
    codes = sorted(lib.get(b"library_code", lib.get("library_code")) for lib in libs)
    assert codes == (expected_functions(folder) or [])


class _Sink:
    def __init__(self):
        self.n = 0

    def write(self, b):
        self.n += len(b)


def test_export_streams_a_big_set_without_holding_it():
    import tracemalloc

    from persistkit.kvencoding.crc64 import crc64
    from persistkit.kvencoding.lengths import encode_length, encode_string
    from persistkit.rdbtools.reader import read_rdb

    n = 150_000
    body = b"REDIS0009\xfe\x00\x02" + encode_string(b"bigset", compress=False) + encode_length(n)
    body += b"".join(encode_string(b"member:%09d" % i, compress=False) for i in range(n))
    body += b"\xff"
    data = body + crc64(body).to_bytes(8, "little")

    tracemalloc.start()
    sink = _Sink()
    export_rdb("big.rdb", "jsonl", sink, data=data)
    streamed_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    held = read_rdb(data)
    held_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(held[2].value) == n and sink.n > 18 * n
    # Streaming holds about the input bytes; decoding holds 150k bytes objects on top.
    assert streamed_peak < len(data) + (held_peak - len(data)) / 4, (streamed_peak, held_peak)


def test_module_values_export_as_restore_payloads():
    from corpus import PUBLIC
    from persistkit.kvencoding.resp import parse_commands
    from persistkit.rdbtools.dump import decode_payload

    buf = io.BytesIO()
    export_rdb(PUBLIC / "redis__librdb/module.rdb", "resp", buf)
    restores = [c for c in parse_commands(buf.getvalue()) if c[0] == b"RESTORE"]
    assert len(restores) == 1
    rec, version = decode_payload(restores[0][3])
    assert rec.type == "module" and rec.value.name == "test__rdb" and version == 11
    line = json.loads(_export_path(PUBLIC / "redis__librdb/module.rdb", "jsonl").splitlines()[0])
    assert line["value"]["raw"]["hex"] == rec.value.raw.hex()


def _export_path(path, fmt) -> bytes:
    buf = io.BytesIO()
    export_rdb(path, fmt, buf)
    return buf.getvalue()
