"""inspect against the real corpus: counts, encodings, TTLs, biggest keys, functions."""

from __future__ import annotations

import collections

import pytest

from corpus import PUBLIC, REAL, bstr, load_expected, real_ids
from persistkit.rdbtools.inspect import inspect_rdb


@pytest.mark.parametrize("folder", real_ids())
def test_inspect_counts_match_expected(folder):
    data = load_expected(folder)
    root = REAL / folder
    snap = data["states"]["snapshot"]
    now = 1_700_000_000_000
    info = inspect_rdb(root / "dump.rdb", top=5, now_ms=now)
    assert info["version"] == data["rdb_version"]
    assert {db: {"keys": d["keys"], "expires": d["expires"]} for db, d in info["dbs"].items()} == \
           {db: {"keys": d["keys"], "expires": d["expires"]} for db, d in snap["dbs"].items()}
    keys = snap["keys"]
    assert info["keys"] == len(keys)
    by_type = collections.Counter(k["type"] for k in keys)
    assert {t: v["keys"] for t, v in info["types"].items()} == dict(by_type)
    # Every encoding the server reported is found (strings aside: history-made "raw").
    got_encs = {k.split("/")[1] for k in info["encodings"]}
    for t, encs in data["encodings"]["snapshot"].items():
        for e in encs:
            e = e.split("+")[0]
            if (t, e) in (("string", "raw"),) or e == "unknown":
                continue
            assert e in got_encs, (t, e)
    # TTL buckets against a fixed "now"
    exp = [k["expire_at_ms"] for k in keys if k["expire_at_ms"] is not None]
    ttl = info["ttl"]
    assert ttl["none"] == len(keys) - len(exp)
    assert ttl["expired"] == sum(1 for e in exp if e <= now)
    assert sum(ttl[b] for b in ("expired", "lt_1h", "lt_1d", "lt_30d", "later")) == len(exp)
    # Biggest keys: sorted by serialized size, the 1 MiB string first.
    sizes = [b["bytes"] for b in info["biggest"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 5
    assert bstr(info["biggest"][0]["key"], root) == b"str:1mb"
    funcs = snap.get("functions") or []
    assert sorted(f["library"] for f in info["functions"]) == sorted(f["name"] for f in funcs)
    assert info["checksum"] == ("disabled" if folder == "redis-5.0.14" else "ok")
    assert info["memory_estimate"] > sum(v["bytes"] for v in info["types"].values())
    assert "redis-ver" in info["aux"] or "valkey-ver" in info["aux"]


def test_inspect_modules_and_empty_keys():
    info = inspect_rdb(PUBLIC / "redis__librdb/module.rdb")
    assert info["modules"] and info["modules"][0]["keys"] == 1
    info = inspect_rdb(PUBLIC / "redis__redis/corrupt_empty_keys.rdb")
    assert info["keys"] == 0 and info["empty_keys"] == 9
