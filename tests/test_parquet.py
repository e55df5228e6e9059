"""``export --format parquet`` and ``memory --format parquet``: read back with DuckDB,
equal to ``export --format jsonl`` / ``memory --format jsonl``; a missing pyarrow is a
usage error (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import REAL
from persistkit.kvencoding.bstr import bstr_json

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

PK = [sys.executable, "-m", "persistkit"]
FILES = [Path(REAL) / v / "dump.rdb" for v in ("redis-6.2.16", "redis-7.0.15", "redis-7.4.1",
                                               "valkey-9.1.0")]


def _jsonl(path: Path) -> dict:
    out = subprocess.run(PK + ["export", str(path), "--format", "jsonl"], capture_output=True,
                         check=True).stdout
    keys = {}
    for line in out.splitlines():
        d = json.loads(line)
        if d.get("kind") == "key":
            keys[(d["db"], json.dumps(d["key"]))] = d
    return keys


def _b(x) -> object:
    return None if x is None else bstr_json(bytes(x))


def _value_as_jsonl(t: str, v: dict):
    if t == "string":
        return _b(v["string"])
    if t in ("list", "set"):
        return [_b(m) for m in v["members"]]
    if t == "zset":
        return [[_b(e["member"]), repr(float(e["score"]))] for e in v["zset"]]
    if t == "hash":
        return [[_b(e["field"]), _b(e["value"])] for e in v["hash"]]
    if t == "stream":
        return json.loads(v["stream"])
    return None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_parquet_equals_jsonl(path, tmp_path):
    out = tmp_path / "x.parquet"
    subprocess.run(PK + ["export", str(path), "--format", "parquet", "-o", str(out)], check=True)
    want = _jsonl(path)
    con = duckdb.connect()
    rows = con.execute(f"select db, key, type, encoding, expire_at_ms, value, memory_bytes, "
                       f"stored_bytes, file, server_version from '{out}'").fetchall()
    assert len(rows) == len(want)
    for db, key, t, enc, exp, value, mem, stored, file, version in rows:
        w = want[(db, json.dumps(_b(key)))]
        assert (t, enc, exp) == (w["type"], w["encoding"], w["expire_at_ms"])
        if t != "module":
            assert _value_as_jsonl(t, value) == w["value"], key
        if t == "hash" and w.get("field_expire_at_ms"):
            got = sorted([_b(e["field"]), e["expire_at_ms"]] for e in value["hash"]
                         if e["expire_at_ms"] is not None)
            assert got == sorted(w["field_expire_at_ms"])
        assert mem > 0 and stored > 0 and file == str(path) and version


def test_parquet_memory_equals_memory_jsonl(tmp_path):
    out = tmp_path / "m.parquet"
    args = [str(f) for f in FILES]
    subprocess.run(PK + ["memory", *args, "--format", "parquet", "-o", str(out), "--jobs", "2"],
                   check=True)
    lines = subprocess.run(PK + ["memory", *args, "--format", "jsonl"], capture_output=True,
                           check=True).stdout.splitlines()
    want = [json.loads(x) for x in lines]
    got = duckdb.connect().execute(
        f"select file, db, key, type, encoding, size, usage, elements, largest, expire_at_ms, "
        f"stored from '{out}'").fetchall()
    assert [(w["file"], w["db"], w["key"], w["type"], w["encoding"], w["size"], w["usage"],
             w["elements"], w["largest"], w["expire_at_ms"], w["stored"]) for w in want] == \
        [(f, db, _b(k), t, e, s, u, el, lg, x, st) for f, db, k, t, e, s, u, el, lg, x, st in got]


def test_dataset_folder_and_prefix_query(tmp_path):
    folder = tmp_path / "ds"
    subprocess.run(PK + ["export", *[str(f) for f in FILES], "--format", "parquet",
                         "-o", str(folder) + "/", "--jobs", "2"], check=True)
    parts = sorted(folder.glob("*.parquet"))
    assert len(parts) == len(FILES)
    # the README's query: prefixes ranked by memory across all shards
    top = duckdb.connect().execute(f"""
        select split_part(key::varchar, ':', 1) as prefix, count(*) as keys,
               sum(memory_bytes) as bytes, count(distinct file) as shards
        from '{folder}/*.parquet' group by prefix order by bytes desc limit 3""").fetchall()
    assert top[0][0] == "str" and top[0][3] == len(FILES)
    versions = duckdb.connect().execute(
        f"select distinct server_version from '{folder}/*.parquet'").fetchall()
    assert len(versions) == len(FILES)


def test_missing_pyarrow_is_a_usage_error(tmp_path):
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None; "
            "from persistkit.cli import main; sys.argv = ['persistkit'] + sys.argv[1:]; main()")
    for cmd in (["export", str(FILES[0]), "--format", "parquet", "-o", str(tmp_path / "a.parquet")],
                ["memory", str(FILES[0]), "--format", "parquet", "-o", str(tmp_path / "b.parquet")]):
        r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True)
        assert r.returncode == 2, r.stderr
        assert b"pyarrow" in r.stderr and b"Traceback" not in r.stderr
        assert not (tmp_path / "a.parquet").exists()
