"""``persistkit convert``: re-encoding real server files for other targets.

The oracle is a real redis-server 7.0: what we convert for RDB 9 and 10 must load into
it with the same keyspace as the corpus's expected.json (less what the loss report
names). Conversions between the field-TTL hash forms (Redis 24/25, Valkey 22) are
checked by reading back, since no server here loads them.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpus import (REAL, alive_at, diff_keyspaces, expected_functions, expected_keyspace, keyspace_from_records,
                    real_folders, wall_clock_ms)
from realredis import load_rdb_into_redis, read_keyspace
from persistkit.cli import main
from persistkit.rdbtools import model
from persistkit.rdbtools.convert import convert_rdb
from persistkit.rdbtools.reader import RDBReader

FOLDERS = real_folders()
V12 = [f for f in FOLDERS if json.loads((f / "expected.json").read_text())["rdb_version"] in (12, 80)]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def records_of(path) -> list:
    return [i for i in RDBReader(Path(path).read_bytes()) if isinstance(i, model.Record)]


# -- identity and refusal -----------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_convert_to_own_version_reproduces_the_file(folder, tmp_path):
    out = tmp_path / "out.rdb"
    data = (folder / "dump.rdb").read_bytes()
    ver = json.loads((folder / "expected.json").read_text())["rdb_version"]
    checksum = data[-8:] != b"\0" * 8
    with open(out, "wb") as fh:
        res = convert_rdb(data, fh, version=ver, checksum=checksum)
    assert res.losses == []
    assert out.read_bytes() == data


@pytest.mark.parametrize("folder", V12, ids=[f.name for f in V12])
def test_lossy_conversion_is_refused_with_every_key_listed(folder, tmp_path):
    out = tmp_path / "out.rdb"
    r = run("convert", folder / "dump.rdb", "-o", out, "--rdb-version", 9, "--json")
    assert r.exit_code == 1
    assert not out.exists() and os.listdir(tmp_path) == []
    report = json.loads(r.output)
    assert report["written"] is False and report["output"] is None
    lost_keys = {(x["db"], x["key"]) for x in report["losses"] if x["kind"] == "field-ttl"}
    want = {(db, k.decode()) for (db, k), v in expected_keyspace(folder).items() if v["field_expires"]}
    assert lost_keys == want
    funcs = [x for x in report["losses"] if x["kind"] == "function"]
    assert len(funcs) == len(expected_functions(folder) or [])
    streams = {x["key"] for x in report["losses"] if x["kind"] == "stream-metadata"}
    assert streams == {k.decode() for (db, k), v in expected_keyspace(folder).items() if v["type"] == "stream"}


def test_allow_loss_writes_and_prints_the_same_report(tmp_path):
    folder = V12[0]
    out = tmp_path / "out.rdb"
    refused = json.loads(run("convert", folder / "dump.rdb", "-o", out, "--rdb-version", 9, "--json").output)
    r = run("convert", folder / "dump.rdb", "-o", out, "--rdb-version", 9, "--json", "--allow-loss")
    assert r.exit_code == 0, r.output
    written = json.loads(r.output)
    assert written["written"] is True and out.exists()
    assert written["losses"] == refused["losses"]
    assert RDBReader(out.read_bytes()).header.version == 9


# -- the server is the oracle --------------------------------------------------------


def _normalize_streams(got: dict, want: dict, target_version: int) -> None:
    for k, w in want.items():
        g = got.get(k)
        if not g or w["type"] != "stream":
            continue
        gv, wv = g["value"], w["value"]
        for f in ("entries_added", "max_deleted_entry_id", "recorded_first_entry_id"):
            # v1 streams do not carry these (the loading server derives them); a v1
            # source does not know them (expected null): nothing to compare either way.
            if target_version < 10 or wv[f] is None:
                gv[f] = wv[f]
        for gg, wg in zip(gv["groups"], wv["groups"]):
            if target_version < 10 or wg["entries_read"] is None:
                gg["entries_read"] = wg["entries_read"]
            for gc, wc in zip(gg["consumers"], wg["consumers"]):
                gc["active_time_ms"] = wc["active_time_ms"]  # 7.0 has no active time
                if wc["seen_time_ms"] is None:                # 5.0's expected.json does not know it
                    gc["seen_time_ms"] = None


SERVER_CASES = [(f, 10, "server") for f in FOLDERS if f.name in ("redis-5.0.14", "redis-7.4.1", "valkey-9.1.0")]


@pytest.mark.redis
@pytest.mark.parametrize("folder,target,encodings",
                         [(f, t, "keep") for f in FOLDERS for t in (9, 10)] + SERVER_CASES,
                         ids=[f"{f.name}-{t}-keep" for f in FOLDERS for t in (9, 10)]
                         + [f"{f.name}-{t}-server" for f, t, _ in SERVER_CASES])
def test_converted_file_loads_into_redis_70_with_the_expected_keyspace(folder, target, encodings, tmp_path):
    out = tmp_path / "out.rdb"
    r = run("convert", folder / "dump.rdb", "-o", out, "--rdb-version", target, "--allow-loss", "--json",
            "--encodings", encodings)
    assert r.exit_code == 0, r.output
    at = wall_clock_ms()  # the server drops keys whose TTL passed by its clock: compare as of now
    want = expected_keyspace(folder)
    for v in want.values():
        v["field_expires"] = None  # listed in the loss report below RDB 12; no 7.0 reports them
    want = alive_at(want, at)      # (after the line above: without field TTLs no field expires)
    server = load_rdb_into_redis(out, tmp_path / "srv")
    try:
        got = alive_at(read_keyspace(server), at)
        funcs = server.client().execute_command("FUNCTION", "LIST", "WITHCODE")
    finally:
        server.stop()
    # Fields whose TTL passed are gone on the source server only when it expired them;
    # with TTLs dropped they are all still here, as the loss report says.
    _normalize_streams(got, want, target)
    assert diff_keyspaces(got, want) == []
    expected_funcs = expected_functions(folder) or []
    assert len(funcs) == (len(expected_funcs) if target >= 10 else 0)
    from persistkit.rdbtools.encoding_policy import available_types

    assert {rec.rdb_type for rec in records_of(out)} <= available_types(target)


# -- dialects -----------------------------------------------------------------------


def _field_ttls(path) -> dict:
    return {(r.db, r.key): (r.rdb_type, r.field_expires) for r in records_of(path) if r.field_expires}


@pytest.mark.parametrize("source,target,types", [
    ("valkey-9.1.0", "redis-7.4", {24, 25}),
    ("redis-7.4.1", "valkey-9", {22}),
    ("redis-8.0-m01", "valkey-9", {22}),
])
def test_field_ttls_survive_between_redis_and_valkey_forms(source, target, types, tmp_path):
    src = REAL / source / "dump.rdb"
    if not src.exists():
        pytest.skip(f"no {source} in the corpus")
    out = tmp_path / "out.rdb"
    r = run("convert", src, "-o", out, "--target", target, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["losses"] == [] or target == "redis-7.4"
    before, after = _field_ttls(src), _field_ttls(out)
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}
    assert {v[0] for v in after.values()} <= types
    assert keyspace_from_records(records_of(out)) == keyspace_from_records(records_of(src))


def test_valkey_output_has_valkey_magic(tmp_path):
    out = tmp_path / "o.rdb"
    assert run("convert", REAL / "redis-7.2.6" / "dump.rdb", "-o", out, "--target", "valkey-9").exit_code == 0
    assert out.read_bytes()[:9] == b"VALKEY080"


# -- filters, inputs, usage errors ------------------------------------------------------


def test_filters_carve_a_smaller_snapshot(tmp_path):
    src = REAL / "redis-7.0.15" / "dump.rdb"
    out = tmp_path / "small.rdb"
    r = run("convert", src, "-o", out, "--db", 1, "--match", "ttl:*", "--type", "string", "--type", "list", "--json")
    assert r.exit_code == 0, r.output
    recs = records_of(out)
    allr = records_of(src)
    want = [(x.db, x.key) for x in allr if x.db == 1 and x.key.startswith(b"ttl:") and x.type in ("string", "list")]
    assert want and [(x.db, x.key) for x in recs] == want
    assert json.loads(r.output)["keys_filtered_out"] == len(allr) - len(want)


def test_compressed_input_and_lz4_output(tmp_path):
    src = REAL / "redis-7.0.15" / "dump.rdb"
    gz = tmp_path / "in.rdb.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    out = tmp_path / "out.rdb.lz4"
    assert run("convert", gz, "-o", out).exit_code == 0
    import lz4.frame

    assert lz4.frame.decompress(out.read_bytes()) == src.read_bytes()


def test_hybrid_aof_single_file_converts_its_rdb_part(tmp_path):
    aof = REAL / "redis-6.2.16" / "aof-hybrid" / "appendonly.aof"
    out = tmp_path / "base.rdb"
    r = run("convert", aof, "-o", out, "--rdb-version", 9, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["trailing_bytes"] > 0
    assert keyspace_from_records(records_of(out)) == expected_keyspace(REAL / "redis-6.2.16", "snapshot")


@pytest.mark.parametrize("args,needle", [
    (["--target", "redis-9.9"], "Invalid value"),
    (["--rdb-version", "15"], "cannot write RDB version 15"),
    (["--rdb-version", "9", "--target", "redis-7.0"], "not both"),
])
def test_usage_errors_exit_2_and_write_nothing(tmp_path, args, needle):
    out = tmp_path / "o.rdb"
    r = CliRunner().invoke(main, ["convert", str(REAL / "redis-7.0.15" / "dump.rdb"), "-o", str(out), *args])
    assert r.exit_code == 2
    assert needle in r.output
    assert os.listdir(tmp_path) == []


def test_output_equal_to_input_is_refused(tmp_path):
    src = tmp_path / "d.rdb"
    src.write_bytes((REAL / "redis-7.0.15" / "dump.rdb").read_bytes())
    before = src.read_bytes()
    r = run("convert", src, "-o", src)
    assert r.exit_code == 2 and "must not be the input" in r.output
    assert src.read_bytes() == before and os.listdir(tmp_path) == ["d.rdb"]


def test_unwritable_output_is_a_usage_error(tmp_path):
    r = run("convert", REAL / "redis-7.0.15" / "dump.rdb", "-o", tmp_path / "missing" / "o.rdb")
    assert r.exit_code == 2


def test_corrupt_input_exits_1_and_leaves_nothing(tmp_path):
    data = bytearray((REAL / "redis-7.0.15" / "dump.rdb").read_bytes())
    data = data[: len(data) // 2]
    src = tmp_path / "cut.rdb"
    src.write_bytes(bytes(data))
    r = run("convert", src, "-o", tmp_path / "o.rdb")
    assert r.exit_code == 1
    assert sorted(os.listdir(tmp_path)) == ["cut.rdb"]


def test_multipart_aof_folder_converts_its_rdb_base(tmp_path):
    folder = REAL / "redis-7.0.15"
    out = tmp_path / "base.rdb"
    r = run("convert", folder / "aof-hybrid" / "appendonlydir", "-o", out)
    assert r.exit_code == 0, r.output
    assert "1 increment file(s) not folded in" in r.output
    assert keyspace_from_records(records_of(out)) == expected_keyspace(folder, "snapshot")


def test_a_resp_base_is_a_usage_error(tmp_path):
    manifest = REAL / "redis-7.0.15" / "aof-plain" / "appendonlydir" / "appendonly.aof.manifest"
    r = run("convert", manifest, "-o", tmp_path / "o.rdb")
    assert r.exit_code == 2 and "RESP AOF" in r.output
    assert os.listdir(tmp_path) == []


def test_thresholds_steer_server_encodings(tmp_path):
    src = REAL / "redis-7.2.6" / "dump.rdb"
    out = tmp_path / "o.rdb"
    r = run("convert", src, "-o", out, "--encodings", "server", "--threshold", "zset-max-listpack-entries=100000",
            "--threshold", "zset-max-listpack-value=100000", "--threshold", "set-max-intset-entries=1")
    assert r.exit_code == 0, r.output
    recs = records_of(out)
    assert {x.rdb_type for x in recs if x.type == "zset"} == {17}
    assert not any(x.rdb_type == 11 and len(x.value) > 1 for x in recs if x.type == "set")
    assert keyspace_from_records(recs) == keyspace_from_records(records_of(src))


def test_unknown_threshold_is_a_usage_error(tmp_path):
    r = run("convert", REAL / "redis-7.2.6" / "dump.rdb", "-o", tmp_path / "o.rdb", "--threshold", "nope=1")
    assert r.exit_code == 2 and "unknown encoding threshold" in r.output
    assert os.listdir(tmp_path) == []


def test_output_to_stdout_for_pipes():
    src = REAL / "redis-7.0.15" / "dump.rdb"
    r = CliRunner().invoke(main, ["convert", str(src), "-o", "-"])
    assert r.exit_code == 0
    assert r.stdout_bytes == src.read_bytes()
    assert CliRunner().invoke(main, ["convert", str(src), "-o", "-", "--json"]).exit_code == 2


def test_a_huge_plain_key_converts_in_flat_memory():
    import hashlib
    import tracemalloc

    from persistkit.rdbtools.writer import RDBWriter

    n = 300_000
    src = io.BytesIO()
    w = RDBWriter(src, version=10)
    w.header()
    w.select_db(0)
    w.record(model.Record(db=0, key=b"big", type="set", rdb_type=2, encoding="hashtable", offset=0,
                          value=(b"member:%08d" % i for i in range(n)), size_hint=n))
    w.eof()
    data = src.getvalue()

    class Sink:  # a hash of the output, so only the converter's own memory is measured
        def __init__(self):
            self.h = hashlib.sha256()

        def write(self, b):
            self.h.update(b)
            return len(b)

    sink = Sink()
    tracemalloc.start()
    try:
        convert_rdb(io.BufferedReader(io.BytesIO(data), 1 << 16), sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.h.digest() == hashlib.sha256(data).digest()
    # The 300k members alone take about 17 MB as a Python list; streamed, the working
    # set is the reader's 1 MB chunks and the writer's 1 MB buffer (and their copies).
    assert peak < 8 << 20, peak


def test_an_old_source_needs_an_explicit_target(tmp_path):
    from corpus import PUBLIC

    old = next((p for p in sorted(PUBLIC.rglob("*.rdb")) if p.read_bytes()[:9] == b"REDIS0003"), None)
    if old is None:
        pytest.skip("no RDB 3 file in the public corpus")
    r = run("convert", old, "-o", tmp_path / "o.rdb")
    assert r.exit_code == 2 and "choose a target" in r.output and os.listdir(tmp_path) == []
    r = run("convert", old, "-o", tmp_path / "o.rdb", "--target", "redis-7.0")
    assert r.exit_code == 0, r.output
    assert keyspace_from_records(records_of(tmp_path / "o.rdb")) == keyspace_from_records(records_of(old))
