"""``memory``: estimates against a real redis-server 7.0's MEMORY USAGE, the size rules,
the summaries and the CLI outputs (CSV in redis-rdb-tools' layout, JSON, jsonl)."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import REAL as CORPUS_REAL
from persistkit import accel
from persistkit.rdbtools.memory import FileMeta, Summary, iter_rows
from persistkit.rdbtools.memory import sizes as S
from persistkit.rdbtools.memory.estimate import ENCODING, KEY, SIZE, USAGE
from realredis import RedisServer, load_rdb_into_redis

PK = [sys.executable, "-m", "persistkit"]
# Dumps a 7.0 server can load (RDB 9 and 10).
LOADABLE = ["redis-5.0.14", "redis-6.2.16", "redis-7.0.15"]


def _dump(version: str) -> Path:
    return Path(CORPUS_REAL) / version / "dump.rdb"


# ---------------------------------------------------------------- size rules


def test_jemalloc_size_classes():
    # jemalloc 5, 16-byte quantum: 8, 16..128 by 16, then four classes per doubling
    want = [8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640]
    got = sorted({S.jemalloc_size(n) for n in range(0, 641)})
    assert got == want
    assert S.jemalloc_size(4097) == 5120
    assert S.jemalloc_size(1 << 20) == 1 << 20
    assert S.jemalloc_size((1 << 20) + 1) == 1310720


def test_sds_and_strings():
    assert S.sds_alloc(0) == 8           # type 8 header for an empty sds: 3 + 0 + 1
    assert S.sds_alloc(31) == 48         # type 5: 1 + 31 + 1 = 33
    assert S.sds_alloc(32) == 48         # type 8: 3 + 32 + 1 = 36
    assert S.string_value(44, False) == (64, "embstr")   # 16 + 3 + 44 + 1 = 64
    assert S.string_value(45, False) == (16 + 64, "raw")
    assert S.string_value(5, True) == (16, "int")


def test_dict_model_growth_and_presize():
    assert S.presized_slots(600) == 1024
    assert S.presized_slots(3) == 4
    assert S.grown_slots(4) == 4
    # the 5th add starts a rehash to 8 buckets; both tables count until it is done
    assert S.grown_slots(5) == 4 + 8
    for n in (50, 200, 1000):
        slots = S.grown_slots(n)
        top = S.next_power(n)
        assert slots in (top, top + top // 2)


def test_rax_nodes_single_and_shared_prefix():
    assert S.rax_nodes([]) == 1
    assert S.rax_nodes([b"a" * 16]) == 2
    # two keys that differ in the last byte: root (compressed), branch, two leaves
    assert S.rax_nodes([b"a" * 15 + b"x", b"a" * 15 + b"y"]) == 4


def test_thresholds_aliases_and_errors():
    th = S.Thresholds(**{"hash-max-ziplist-entries": 128})
    assert th.hash_entries == 128
    with pytest.raises(ValueError):
        S.Thresholds(**{"no-such-limit": 1})


# ---------------------------------------------------------------- vs a real server


def _memory_usage(server: RedisServer, rows) -> dict:
    got = {}
    for r in rows:
        c = server.client(db=r[0])
        real = c.execute_command("MEMORY", "USAGE", r[KEY], "SAMPLES", "0")
        enc = c.object("encoding", r[KEY])
        if real is not None:
            got[(r[0], r[KEY])] = (real, enc.decode())
    return got


def _check_against(rows, real: dict, *, tolerance: float = 0.10, exact_share: float = 0.9):
    """Every key the server holds has the server's encoding, keys above 1 KiB are within
    ``tolerance``, and most keys are exact (the skiplist levels are random)."""
    exact = 0
    n = 0
    for r in rows:
        k = (r[0], r[KEY])
        if k not in real:
            continue  # expired on load
        n += 1
        usage, enc = real[k]
        assert r[ENCODING] == enc, (k, r[ENCODING], enc)
        if r[USAGE] == usage:
            exact += 1
        if usage >= 1024:
            assert abs(r[USAGE] - usage) <= tolerance * usage, (k, r[USAGE], usage)
    assert n
    assert exact >= exact_share * n, (exact, n)


@pytest.mark.parametrize("version", LOADABLE)
def test_corpus_estimates_match_memory_usage(version, tmp_path):
    rows = list(iter_rows(_dump(version)))
    with load_rdb_into_redis(_dump(version), tmp_path / "r") as server:
        real = _memory_usage(server, rows)
    _check_against(rows, real)
    total_est = sum(r[USAGE] for r in rows if (r[0], r[KEY]) in real)
    total_real = sum(u for u, _ in real.values())
    assert abs(total_est - total_real) <= 0.01 * total_real


def _fill(c, rnd: random.Random) -> None:
    """Keys of every encoding, big and small, written with raised limits so that the
    loading server (default limits) has to convert some of them."""
    p = c.pipeline(transaction=False)
    for i in range(300):
        p.set(f"s:int:{i}", rnd.randrange(-10**12, 10**12))
        p.set(f"s:emb:{i}", "x" * rnd.randrange(1, 45))
        p.set(f"s:raw:{i}", rnd.randbytes(rnd.randrange(45, 5000)))
    p.set("s:big", rnd.randbytes(3 << 20))
    for name, n, size in (("small", 50, 10), ("big", 20000, 30), ("fat", 300, 3000)):
        p.rpush(f"l:{name}", *[rnd.randbytes(rnd.randrange(1, size)) for _ in range(n)])
    p.rpush("l:ints", *range(5000))
    p.sadd("set:ints_small", *range(100))
    p.sadd("set:ints_big", *[rnd.randrange(-2**40, 2**40) for _ in range(5000)])
    p.sadd("set:str", *[f"member:{i}:{rnd.random()}" for i in range(3000)])
    p.sadd("set:mixed_small", *range(60), "not-a-number")
    p.zadd("z:small", {f"m{i}": rnd.random() for i in range(40)})
    p.zadd("z:big", {f"member-{i}-{rnd.random()}": rnd.random() * 1000 for i in range(4000)})
    p.zadd("z:intscores", {f"m{i}": i for i in range(90)})
    p.hset("h:small", mapping={f"f{i}": f"v{i}" for i in range(30)})
    p.hset("h:big", mapping={f"field:{i}": rnd.randbytes(rnd.randrange(1, 60)) for i in range(5000)})
    p.hset("h:longval", mapping={"a": "1", "b": "x" * 200, **{f"f{i}": str(i) for i in range(40)}})
    p.hset("h:300", mapping={f"f{i}": f"value-{i}" for i in range(300)})
    p.execute()


@pytest.mark.parametrize("written_with", ["defaults", "raised"])
def test_generated_keyspace_estimates(written_with, start_redis, tmp_path):
    """Big and small keys of every type; with ``raised`` the writer kept listpacks and
    intsets far beyond the loading server's limits (the loader converts them)."""
    args = ()
    if written_with == "raised":
        args = ("--hash-max-listpack-entries", "100000", "--hash-max-listpack-value", "100000",
                "--zset-max-listpack-entries", "100000", "--zset-max-listpack-value", "100000",
                "--set-max-intset-entries", "100000")
    writer = start_redis(tmp_path / "w", *args)
    _fill(writer.client(), random.Random(13))
    writer.client().save()
    dump = tmp_path / "w" / "dump.rdb"
    rows = list(iter_rows(dump))
    writer.stop()
    with accel.forced_pure(True):
        assert list(iter_rows(dump)) == rows   # the reference path gives the same rows
    with load_rdb_into_redis(dump, tmp_path / "r") as server:
        real = _memory_usage(server, rows)
    _check_against(rows, real, exact_share=0.85)
    # the keys that dominate memory are all within 10 %
    for r in sorted(rows, key=lambda r: -r[SIZE])[:15]:
        usage = real[(r[0], r[KEY])][0]
        assert abs(r[USAGE] - usage) <= 0.10 * usage


def test_thresholds_change_the_encoding(tmp_path):
    th = S.Thresholds(**{"hash-max-listpack-entries": 128})
    rows = {r[KEY]: r for r in iter_rows(_dump("redis-7.0.15"), thresholds=th)}
    default = {r[KEY]: r for r in iter_rows(_dump("redis-7.0.15"))}
    assert default[b"hash:lp_big"][ENCODING] == "listpack"     # 300 fields <= 512
    assert rows[b"hash:lp_big"][ENCODING] == "hashtable"


# ---------------------------------------------------------------- summary and CLI


def test_summary_prefix_tree_and_top():
    s = Summary(top=2, prefix_depth=2)
    s.start_file({"path": "x"})
    rows = [[0, b"user:1:name", "string", "embstr", 10, 10, 1, 1, None, 5],
            [0, b"user:2:name", "string", "embstr", 20, 20, 1, 1, None, 5],
            [0, b"user:2:mail", "string", "embstr", 30, 30, 1, 1, 5, 5],
            [1, b"plain", "string", "embstr", 5, 5, 1, 1, None, 5]]
    s.add_rows(rows)
    d = s.as_dict()
    assert d["keys"] == 4 and d["size"] == 65 and d["expires"] == 1
    top = d["prefixes"]
    assert [n["prefix"] for n in top] == ["user:"]
    assert top[0]["keys"] == 3 and top[0]["size"] == 60
    assert [(n["prefix"], n["size"]) for n in top[0]["children"]] == [("user:2:", 50), ("user:1:", 10)]
    assert [t["key"] for t in d["top"]] == ["user:2:mail", "user:2:name"]
    assert d["by_db"] == [{"db": 0, "keys": 3, "expires": 1, "size": 60},
                          {"db": 1, "keys": 1, "expires": 0, "size": 5}]


def test_summary_prefix_cap_folds_into_other():
    s = Summary(top=0, prefix_depth=1, max_prefixes=3)
    s.start_file({"path": "x"})
    for i in range(10):
        s.add([0, b"p%d:x" % i, "string", "embstr", 1, 1, 1, 1, None, 1])
    tree = s.as_dict()["prefixes"]
    assert len(tree) == 4 and tree[-1]["other"] and tree[-1]["keys"] == 7
    assert sum(n["keys"] for n in tree) == 10


def test_cli_csv_matches_rdbtools_layout():
    out = subprocess.run(PK + ["memory", str(_dump("redis-7.0.15")), "--format", "csv"],
                         capture_output=True, check=True).stdout
    lines = out.split(b"\n")
    assert lines[0] == b"database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry"
    rows = list(csv.reader(io.StringIO(out.decode("utf-8", "surrogateescape"))))
    body = rows[1:]
    assert len(body) == len(list(iter_rows(_dump("redis-7.0.15"))))
    by_key = {r[2]: r for r in body}
    assert by_key["zset:big"][1] == "sortedset"
    ttl = by_key["ttl:setex"]
    assert ttl[7].startswith("2026-11-26T07:46:56") and "+" not in ttl[7]
    assert by_key["str:1mb"][7] == ""
    # a key with a line break is quoted, CSV style
    assert any("\r\n" in r[2] for r in body)


def test_cli_json_and_jsonl_agree():
    doc = json.loads(subprocess.run(PK + ["memory", str(_dump("redis-6.2.16")), "--json", "--top", "5"],
                                    capture_output=True, check=True).stdout)
    lines = subprocess.run(PK + ["memory", str(_dump("redis-6.2.16")), "--format", "jsonl"],
                           capture_output=True, check=True).stdout.splitlines()
    rows = [json.loads(x) for x in lines]
    assert doc["keys"] == len(rows)
    assert doc["size"] == sum(r["size"] for r in rows)
    assert [t["key"] for t in doc["top"]] == [r["key"] for r in sorted(rows, key=lambda r: -r["size"])[:5]]
    assert doc["files"][0]["version"] == 9


def test_cli_damaged_file_exit_1_and_aof_exit_2(tmp_path):
    data = _dump("redis-7.0.15").read_bytes()
    bad = tmp_path / "cut.rdb"
    bad.write_bytes(data[: len(data) // 2])
    r = subprocess.run(PK + ["memory", str(bad), str(_dump("redis-7.0.15")), "--json"],
                       capture_output=True)
    assert r.returncode == 1
    assert b"Traceback" not in r.stderr and b"cut.rdb" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["files"][0]["error"] and doc["files"][1]["error"] is None
    aof = Path(CORPUS_REAL) / "redis-7.0.15" / "aof-hybrid" / "appendonlydir"
    r = subprocess.run(PK + ["memory", str(aof)], capture_output=True)
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_cli_html_report_is_self_contained(tmp_path):
    out = tmp_path / "r.html"
    files = [str(_dump("redis-7.0.15")), str(_dump("redis-6.2.16"))]
    subprocess.run(PK + ["memory", *files, "--format", "html", "-o", str(out)], check=True)
    text = out.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # nothing fetched: no external scripts, styles, images or fonts
    for bad in ("<script src", "<link", "<img", "url(", "@import"):
        assert bad not in text
    assert text.count("http://") == text.count('xmlns="http://www.w3.org/2000/svg"') == 1
    doc = json.loads(subprocess.run(PK + ["memory", *files, "--json"], capture_output=True,
                                    check=True).stdout)
    biggest = doc["prefixes"][0]
    assert f"<title>{biggest['prefix']}:" in text or f"<title>{biggest['prefix']} " in text
    assert text.count("<rect") >= len(doc["prefixes"])


def test_cli_stdin_and_compressed_input(tmp_path):
    import lz4.frame

    dump = _dump("redis-7.0.15")
    want = subprocess.run(PK + ["memory", str(dump), "--format", "csv"], capture_output=True,
                          check=True).stdout
    with open(dump, "rb") as f:
        got = subprocess.run(PK + ["memory", "-", "--format", "csv"], stdin=f, capture_output=True,
                             check=True).stdout
    assert got == want
    packed = tmp_path / "dump.rdb.lz4"
    packed.write_bytes(lz4.frame.compress(dump.read_bytes()))
    got = subprocess.run(PK + ["memory", str(packed), "--format", "csv"], capture_output=True,
                         check=True).stdout
    assert got == want
