#!/usr/bin/env python3
"""Merge benchmark: `persistkit merge` of the 1M-key AOF set (base + ~2M-command incr,
bench/data/aof-1m from gen_aof.py) into one RDB, against a real redis-server 7.0.15
that loads the same AOF set and runs SAVE (process start to SAVE done). Same files,
same run, as a ratio; peak RSS of both; both outputs checked by redis-check-rdb
(key counts compared; untimed).

  python3 bench/run_merge.py [--set bench/data/aof-1m] [--persistkit-only] [--no-results]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402
from run_rdb import TIMEOUT  # noqa: E402

MERGE_MEM_MB = 10 * 1024    # merge holds a keyspace; cap it so the shared machine survives
MERGE_TIMEOUT = 1500        # s: a bound, reported as such, so that one slow run cannot eat the session


def keys_in(rdb: Path) -> str:
    p = subprocess.run([H.REDIS_CHECK_RDB, str(rdb)], capture_output=True, text=True, timeout=TIMEOUT)
    m = re.search(r"(\d+) keys read", p.stdout)
    ok = "OK" if p.returncode == 0 else "FAILED"
    return f"redis-check-rdb {ok}, {m.group(1) if m else '?'} keys"


def redis_load_aof_save(aof_dir: Path) -> tuple[H.Run, str]:
    work = H.OUT / "merge-redis"
    shutil.rmtree(work, ignore_errors=True)
    (work / "appendonlydir").mkdir(parents=True)
    # symlinks to the AOF files, a private copy of the manifest: the server only reads them
    for p in aof_dir.iterdir():
        if p.name.endswith(".aof"):
            os.symlink(p.resolve(), work / "appendonlydir" / p.name)
        elif p.name.endswith(".manifest"):
            shutil.copy(p, work / "appendonlydir" / p.name)
    size = sum(p.stat().st_size for p in aof_dir.glob("*.aof"))
    srv = H.RedisProc(work, conf={"appendonly": "yes", "appenddirname": "appendonlydir",
                                  "dbfilename": "out.rdb", "appendfsync": "no"})
    r = H.Run(label="redis-server 7.0.15 load AOF set + SAVE",
              cmd=["redis-server", "--appendonly", "yes", "--dir", "D", "; SAVE"], in_bytes=size)
    check = ""
    try:
        t0 = time.perf_counter()
        srv.start(wait_loaded=True, timeout=TIMEOUT)
        t_loaded = time.perf_counter() - t0
        c = srv.client()
        c.execute_command("SAVE")
        r.wall = time.perf_counter() - t0
        r.out_bytes = (work / "out.rdb").stat().st_size
        r.note = f"load {t_loaded:.1f}s + SAVE {r.wall - t_loaded:.1f}s, dbsize {c.dbsize():,}"
        try:
            c.execute_command("SHUTDOWN", "NOSAVE")
        except Exception:
            pass
        ru = srv.wait_exit_rusage()
        r.rc = 0
        r.maxrss_kb, r.user, r.sys = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
        check = keys_in(work / "out.rdb")
    except Exception as e:
        r.rc = 1
        r.note = f"FAILED: {e}"
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return r, check


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=str(H.DATA / "aof-1m"))
    ap.add_argument("--persistkit-only", action="store_true")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--timeout", type=float, default=MERGE_TIMEOUT, help="seconds allowed to persistkit merge")
    ap.add_argument("--no-pure", action="store_true", help="leave out the pure-Python run")
    a = ap.parse_args()
    aof_dir = Path(a.set)
    if not (aof_dir / "appendonly.aof.manifest").exists():
        sys.exit(f"{aof_dir} has no manifest: run bench/gen_aof.py")
    ctx = H.context_line()
    print(ctx)
    size = sum(p.stat().st_size for p in aof_dir.glob("*.aof"))
    out = H.OUT / "merged.rdb"
    print(f"  persistkit merge {aof_dir} -o {out}", flush=True)
    pk = H.persistkit_run("persistkit merge", ["merge", str(aof_dir), "-o", str(out)], in_bytes=size,
                          out_path=out, mem_limit_mb=MERGE_MEM_MB, timeout=a.timeout)
    if pk.ok and out.exists():
        pk.note = (pk.note + " " + keys_in(out)).strip()
    out.unlink(missing_ok=True)
    print(f"    -> {pk.wall:.1f}s rss {pk.rss_mb:.0f} MB {pk.note}", flush=True)
    pure = None
    if not a.no_pure:
        print(f"  PERSISTKIT_PUREPYTHON=1 persistkit merge {aof_dir} -o {out}", flush=True)
        pure = H.persistkit_run("persistkit merge (pure Python)", ["merge", str(aof_dir), "-o", str(out)],
                                in_bytes=size, out_path=out, mem_limit_mb=MERGE_MEM_MB, timeout=a.timeout,
                                env=dict(os.environ, PERSISTKIT_PUREPYTHON="1"))
        if pure.ok and out.exists():
            pure.note = (pure.note + " " + keys_in(out)).strip()
        out.unlink(missing_ok=True)
        print(f"    -> {pure.wall:.1f}s rss {pure.rss_mb:.0f} MB {pure.note}", flush=True)
    base, check = None, ""
    cache = H.OUT / "merge.json"
    if a.persistkit_only and cache.exists():
        d = json.loads(cache.read_text())
        if d.get("size") == size:
            base = H.Run(**[x for x in d["runs"] if x["label"].startswith("redis")][0])
            base.cached = True
            check = d.get("check", "")
            base.note += f" (from the run of {d['when']})"
    if base is None:
        print("  redis-server load AOF set + SAVE", flush=True)
        base, check = redis_load_aof_save(aof_dir)
        print(f"    -> {base.wall:.1f}s rss {base.rss_mb:.0f} MB {base.note}; {check}", flush=True)
        H.save_runs("merge", [pk, base], {"size": size, "check": check})
    if check:
        base.note = f"{base.note}; {check}"
    runs = [pk] + ([pure] if pure is not None else []) + [base]
    table = [[x.label, H.fmt(x.wall if x.ok else None, 1), H.fmt(x.mbps(), 1), H.fmt(x.rss_mb if x.ok else None, 0),
              H.fmt(x.out_bytes / H.MB if x.out_bytes else None, 0), x.note] for x in runs]
    rr = base.wall / pk.wall if pk.ok and base.ok and pk.wall else None
    ratios = [["merge vs redis load AOF + SAVE (speed)", f"{rr:.2f}x" if rr else "–", ">= 1.0x",
               "met" if rr and rr >= 1 else ("MISSED" if rr else "n/a")]]
    if pk.ok and base.ok:
        ratios.append(["merge peak RSS vs redis-server's", f"{pk.rss_mb:,.0f} MB vs {base.rss_mb:,.0f} MB",
                       "<= redis", "met" if pk.rss_mb <= base.rss_mb else "MISSED"])
    if pure is not None and pure.ok and base.ok:
        ratios.append(["merge, pure Python vs redis load AOF + SAVE (speed)", f"{base.wall / pure.wall:.2f}x",
                       "(reference)", ""])
        ratios.append(["merge, pure Python peak RSS", f"{pure.rss_mb:,.0f} MB", "(reference)", ""])
    headers = ["command", "wall s", "MB/s in", "peak RSS MB", "out MB", "note"]
    hr = ["comparison (same files, same run)", "value", "target", ""]
    print()
    H.print_table(headers, table)
    print()
    H.print_table(hr, ratios)
    if a.no_results:
        return
    md = [f"_{ctx}_", "", f"Input: {aof_dir.relative_to(H.BENCH) if aof_dir.is_relative_to(H.BENCH) else aof_dir} "
          f"(base + incr, {size / H.MB:,.0f} MB).", "", "```",
          "persistkit merge bench/data/aof-1m -o out/merged.rdb",
          "PERSISTKIT_PUREPYTHON=1 persistkit merge ...   # the pure-Python path",
          "redis-server --appendonly yes --appenddirname appendonlydir --dir D   # then SAVE",
          "```", "", H.md_table(headers, table), "", H.md_table(hr, ratios)]
    H.update_results("merge", "\n".join(md))
    print("\nRESULTS.md section 'merge' updated")


if __name__ == "__main__":
    main()
