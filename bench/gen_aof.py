#!/usr/bin/env python3
"""Make the AOF benchmark files with a REAL redis-server 7.0.15 (resumable: kept if present).

One server session, started on bench/data/big-v10.rdb (run gen_rdb.py first):
  1. load the 1M-key snapshot (appendonly no);
  2. CONFIG SET aof-use-rdb-preamble no + appendonly yes: Redis rewrites the dataset
     as plain RESP -> appendonly.aof.1.base.aof (the "rewrite of the 1M-key dataset");
  3. ~2M mixed write commands through pipelined redis-py (fixed seed) -> they land in
     appendonly.aof.1.incr.aof (the "write log", plain RESP, >= 100 MB);
  4. SHUTDOWN (flushes the AOF); the whole appendonlydir moves to bench/data/aof-1m/.

bench/data/aof-1m/ is then the "AOF set" (manifest + base + incr) that run_merge.py uses.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

SEED = 20261126
FAR_FUTURE_MS = 4_102_444_800_000
TARGET_DIR = H.DATA / "aof-1m"


def write_log(load: H.Loader, ncmds: int, nkeys: int, seed: int) -> dict:
    """~ncmds mixed writes against the keyspace of gen_rdb (same key prefixes and types)."""
    rng = random.Random(seed)
    blob = rng.randbytes(2 * H.MB).hex().encode()
    words = (b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
             b"incididunt ut labore et dolore magna aliqua ") * 40

    def val():
        n = rng.randint(20, 300)
        if rng.random() < 0.5:
            o = rng.randrange(0, len(blob) - n)
            return blob[o:o + n]
        o = rng.randrange(0, len(words) - n)
        return words[o:o + n]

    def k(prefix):
        return b"%s:%d" % (prefix, rng.randrange(nkeys))

    counts: dict[str, int] = {}
    sent = 0
    add = load.add
    t0 = time.time()
    while sent < ncmds:
        x = rng.random()
        if x < 0.30:
            add(b"SET", k(b"s"), val()); c = "SET"
        elif x < 0.36:
            add(b"SET", k(b"s"), val(), b"EX", b"315360000"); c = "SET EX"
        elif x < 0.44:
            add(b"INCR", b"c:%d" % rng.randrange(100_000)); c = "INCR"
        elif x < 0.46:
            add(b"INCRBY", b"c:%d" % rng.randrange(100_000), b"%d" % rng.randint(-100, 1000)); c = "INCRBY"
        elif x < 0.54:
            n = rng.randint(1, 3)
            args = [b"HSET", k(b"h")]
            for _ in range(n):
                args += [b"f%d" % rng.randrange(40), val()[:rng.randint(4, 60)]]
            add(*args); c = "HSET"
        elif x < 0.62:
            add(rng.choice((b"RPUSH", b"LPUSH")), k(b"l"), *[val()[:30] for _ in range(rng.randint(1, 5))]); c = "LPUSH/RPUSH"
        elif x < 0.68:
            add(b"SADD", k(b"t"), *[b"%d" % rng.randrange(10**9) for _ in range(rng.randint(1, 4))]); c = "SADD"
        elif x < 0.74:
            add(b"ZADD", k(b"z"), b"%d" % rng.randrange(10**6), val()[:16]); c = "ZADD"
        elif x < 0.77:
            add(b"ZINCRBY", k(b"z"), b"1.5", val()[:16]); c = "ZINCRBY"
        elif x < 0.81:
            add(b"DEL", k(rng.choice((b"s", b"h", b"l", b"t", b"z")))); c = "DEL"
        elif x < 0.86:
            add(b"PEXPIREAT", k(rng.choice((b"s", b"h", b"l", b"t", b"z"))),
                b"%d" % (FAR_FUTURE_MS + rng.randrange(10**9))); c = "PEXPIREAT"
        elif x < 0.89:
            add(b"APPEND", k(b"s"), val()[:40]); c = "APPEND"
        elif x < 0.90:
            add(b"HDEL", k(b"h"), b"f%d" % rng.randrange(20)); c = "HDEL"
        elif x < 0.91:
            add(b"LPOP", k(b"l")); c = "LPOP"
        elif x < 0.92:
            add(b"SREM", k(b"t"), b"%d" % rng.randrange(10**9)); c = "SREM"
        elif x < 0.95:
            add(b"MSET", k(b"s"), val(), k(b"s"), val(), k(b"s"), val()); c = "MSET"
        elif x < 0.97:
            add(b"MULTI")
            add(b"SET", k(b"s"), val())
            add(b"INCR", b"c:%d" % rng.randrange(100_000))
            add(b"EXEC"); c = "MULTI/EXEC"; sent += 3
        elif x < 0.9702:
            add(b"SELECT", b"1")             # a little traffic in db 1, as real AOFs have
            for _ in range(50):
                add(b"SET", b"db1:%d" % rng.randrange(10_000), val())
            add(b"SELECT", b"0"); c = "SELECT+SET db1"; sent += 51
        else:
            add(b"SETNX", b"n:%d" % rng.randrange(nkeys), val()); c = "SETNX"
        counts[c] = counts.get(c, 0) + 1
        sent += 1
        if sent % 250_000 < 1:
            print(f"  {sent:,} commands, {time.time() - t0:.0f}s", flush=True)
    load.flush()
    return {"commands": sent, "by_kind": counts}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commands", type=int, default=2_000_000)
    ap.add_argument("--rdb", default=str(H.DATA / "big-v10.rdb"))
    ap.add_argument("--out", default=str(TARGET_DIR))
    a = ap.parse_args()
    target = Path(a.out)
    if (target / "appendonly.aof.manifest").exists():
        print(f"{target}: exists, skipped")
        return
    rdb = Path(a.rdb)
    if not rdb.exists():
        sys.exit(f"{rdb} missing: run bench/gen_rdb.py first")
    meta = H.load_meta(rdb)
    nkeys = int(meta.get("dbsize") or 1_000_000)
    work = H.OUT / "gen-aof"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.symlink(rdb.resolve(), work / "dump.rdb")       # read only at startup; never written (no SAVE)
    srv = H.RedisProc(work, conf={"appendonly": "no", "aof-use-rdb-preamble": "no",
                                  "appenddirname": "appendonlydir", "appendfsync": "everysec"})
    t0 = time.time()
    try:
        srv.start(timeout=3600)
        c = srv.client()
        print(f"loaded {rdb.name}: {c.dbsize():,} keys in {time.time() - t0:.0f}s", flush=True)
        t1 = time.time()
        c.config_set("appendonly", "yes")                # starts the rewrite of the base file
        info = srv.wait_bg_done("aof")
        assert info.get("aof_last_bgrewrite_status") == "ok", info
        t_rewrite = time.time() - t1
        print(f"base rewrite done in {t_rewrite:.0f}s", flush=True)
        load = H.Loader([srv])
        t2 = time.time()
        log = write_log(load, a.commands, nkeys, SEED)
        load.close()
        t_log = time.time() - t2
        dbsize = c.dbsize()
        srv.stop(nosave=True)                             # SHUTDOWN flushes and fsyncs the AOF
        src = work / "appendonlydir"
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.move(str(src), str(tmp))
        os.replace(tmp, target)
        files = {p.name: p.stat().st_size for p in sorted(target.iterdir())}
        H.write_meta(target / "set", {"source_rdb": rdb.name, "keys_loaded": nkeys, "dbsize_after": dbsize,
                                      "rewrite_seconds": round(t_rewrite, 1), "log_seconds": round(t_log, 1),
                                      "seed": SEED, "log": log, "files": files, "made": H.now_utc()})
        for n, s in files.items():
            print(f"  {n}: {s / H.MB:,.1f} MB")
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
