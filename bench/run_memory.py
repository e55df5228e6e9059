#!/usr/bin/env python3
"""Memory report benchmark: `persistkit memory` against redis-rdb-tools 0.1.15 `rdb -c memory`
on the same file in one run (both write the per-key CSV), and `--jobs` on 8 shard files.

  python3 bench/run_memory.py                 # big-v9 (both tools), big-v10, the shards
  python3 bench/run_memory.py --no-pure       # skip the pure-Python row (~6 min)
  python3 bench/run_memory.py --no-results    # print only

The shards (bench/data/shards-v10/shard-0..7.rdb) are big-v10.rdb split by key hash:
`python3 bench/split_rdb.py bench/data/big-v10.rdb --shards 8`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

TIMEOUT = 3600
PK_MEM_MB = 4096
RSS_TARGET_MB = 64
SPEED_TARGET = 20.0


def pk(label, args, in_bytes, out=None, pure=False):
    env = dict(os.environ)
    if pure:
        env["PERSISTKIT_PUREPYTHON"] = "1"
    return H.persistkit_run(label, args, in_bytes=in_bytes, out_path=out, timeout=TIMEOUT,
                            env=env, mem_limit_mb=PK_MEM_MB)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-pure", action="store_true")
    ap.add_argument("--no-rdbtools", action="store_true", help="skip the redis-rdb-tools row (~19 min)")
    ap.add_argument("--no-results", action="store_true")
    a = ap.parse_args()
    ctx = H.context_line()
    print(ctx)
    out = H.OUT
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    rows = []
    v9 = H.DATA / "big-v9.rdb"
    v10 = H.DATA / "big-v10.rdb"
    size9 = v9.stat().st_size
    size10 = v10.stat().st_size

    def row(file, r):
        runs.append(r)
        rows.append([file, r.label, H.fmt(r.wall), H.fmt(r.mbps()),
                     f"{r.in_bytes and 1_000_000 / r.wall:,.0f}" if r.ok and r.wall else "–",
                     f"{r.rss_mb:.0f}", f"{r.out_bytes / H.MB:,.0f}" if r.out_bytes else "–", r.note])
        print(rows[-1])
        return r

    comp = row("big-v9.rdb", pk("persistkit memory --format csv", [
        "memory", str(v9), "--format", "csv", "-o", str(out / "big-v9.memory.csv")], size9,
        out / "big-v9.memory.csv"))
    summ = row("big-v9.rdb", pk("persistkit memory --json (summary only)", [
        "memory", str(v9), "--json", "-o", str(out / "big-v9.memory.json")], size9,
        out / "big-v9.memory.json"))
    pure = None
    if not a.no_pure:
        pure = row("big-v9.rdb", pk("persistkit memory --format csv (pure Python)", [
            "memory", str(v9), "--format", "csv", "-o", str(out / "big-v9.memory-pure.csv")], size9,
            out / "big-v9.memory-pure.csv", pure=True))
    tools = None
    if not a.no_rdbtools:
        exe = H.BENCH / ".venv-tools" / "bin" / "rdb"
        tools = row("big-v9.rdb", H.run("rdbtools rdb -c memory", [
            str(exe), "-c", "memory", "-f", str(out / "big-v9.rdbtools-memory.csv"), str(v9)],
            in_bytes=size9, out_path=out / "big-v9.rdbtools-memory.csv", timeout=TIMEOUT * 2))
    row("big-v10.rdb", pk("persistkit memory --format csv", [
        "memory", str(v10), "--format", "csv", "-o", str(out / "big-v10.memory.csv")], size10,
        out / "big-v10.memory.csv"))
    shards = sorted((H.DATA / "shards-v10").glob("shard-*.rdb"))
    j1 = j2 = None
    if shards:
        ssize = sum(p.stat().st_size for p in shards)
        j1 = row("shards-v10 (8 files)", pk("persistkit memory --format csv --jobs 1", [
            "memory", *map(str, shards), "--format", "csv", "-o", str(out / "shards.memory-j1.csv")],
            ssize, out / "shards.memory-j1.csv"))
        j2 = row("shards-v10 (8 files)", pk("persistkit memory --format csv --jobs 2", [
            "memory", *map(str, shards), "--format", "csv", "--jobs", "2",
            "-o", str(out / "shards.memory-j2.csv")], ssize, out / "shards.memory-j2.csv"))
    same_csv = None
    if pure is not None and pure.ok and comp.ok:
        same_csv = (out / "big-v9.memory.csv").read_bytes() == (out / "big-v9.memory-pure.csv").read_bytes()
    same_jobs = None
    if j1 is not None and j1.ok and j2.ok:
        same_jobs = (out / "shards.memory-j1.csv").read_bytes() == (out / "shards.memory-j2.csv").read_bytes()

    headers = ["file", "command", "wall s", "MB/s", "keys/s", "peak RSS MB", "out MB", "note"]
    H.print_table(headers, rows)
    lines = [f"_{ctx}_", "", "Commands (FILE = bench/data/<file>, OUT = bench/out/...):", "", "```",
             "persistkit memory FILE --format csv -o OUT.csv",
             "persistkit memory FILE --json -o OUT.json",
             "PERSISTKIT_PUREPYTHON=1 persistkit memory FILE --format csv -o OUT.csv",
             "bench/.venv-tools/bin/rdb -c memory -f OUT.csv FILE",
             "persistkit memory shards-v10/shard-*.rdb --format csv [--jobs 2] -o OUT.csv",
             "```", "", H.md_table(headers, rows), ""]
    verdicts = []
    if tools is not None and tools.ok and comp.ok:
        verdicts.append(f"- `memory` vs rdbtools `rdb -c memory` on big-v9.rdb (same run): "
                        f"**{tools.wall / comp.wall:.1f}x** faster compiled (target >= {SPEED_TARGET:.0f}x)"
                        + (f", {tools.wall / pure.wall:.1f}x on the pure path" if pure is not None and pure.ok else ""))
    if pure is not None and pure.ok and comp.ok:
        verdicts.append(f"- compiled vs pure path on big-v9.rdb: {pure.wall / comp.wall:.1f}x; "
                        f"the two CSVs are {'byte-identical' if same_csv else 'DIFFERENT'}")
    if j1 is not None and j1.ok and j2.ok:
        verdicts.append(f"- `--jobs 2` on the 8 shards: **{j1.wall / j2.wall:.2f}x** the speed of one job "
                        f"(2 cores); outputs {'byte-identical' if same_jobs else 'DIFFERENT'}")
    peak = max((r.rss_mb for r in runs if r.ok and r.label.startswith("persistkit")), default=0)
    verdicts.append(f"- peak RSS of any persistkit process (a worker included): {peak:.0f} MB "
                    f"(target <= {RSS_TARGET_MB} MB)")
    lines += verdicts
    print("\n".join(verdicts))
    H.save_runs("memory", runs)
    if not a.no_results:
        H.update_results("memory", "\n".join(lines))


if __name__ == "__main__":
    main()
