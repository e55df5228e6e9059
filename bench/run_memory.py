#!/usr/bin/env python3
"""Memory report benchmark: `persistkit memory` against redis-rdb-tools 0.1.15 `rdb -c memory`
on the same file in one run (both write the per-key CSV), and `--jobs` on 8 shard files
(one job and two jobs alternated ROUNDS times; the best wall of each is compared, since the
machine is shared and other work slows single runs at random).

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
    ap.add_argument("--rounds", type=int, default=3, help="--jobs 1 / --jobs 2 alternations")
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
        rows.append([file, r.label, H.fmt(r.wall), H.fmt(r.user + r.sys), H.fmt(r.mbps()),
                     f"{r.in_bytes and 1_000_000 / r.wall:,.0f}" if r.ok and r.wall else "–",
                     f"{r.rss_mb:.0f}", f"{r.out_bytes / H.MB:,.0f}" if r.out_bytes else "–", r.note])
        print(rows[-1], H.load_avg(), flush=True)
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
    same_jobs = None
    if shards:
        ssize = sum(p.stat().st_size for p in shards)
        tries = {1: [], 2: []}
        for rnd in range(1, max(1, a.rounds) + 1):
            for jobs in (1, 2):
                csv_out = out / f"shards.memory-j{jobs}.csv"
                r = row("shards-v10 (8 files)", pk(
                    f"persistkit memory --format csv --jobs {jobs} (round {rnd})",
                    ["memory", *map(str, shards), "--format", "csv", "--jobs", str(jobs),
                     "-o", str(csv_out)], ssize, csv_out))
                tries[jobs].append(r)
            if tries[1][-1].ok and tries[2][-1].ok:
                same = (out / "shards.memory-j1.csv").read_bytes() == (out / "shards.memory-j2.csv").read_bytes()
                same_jobs = same if same_jobs is None else (same_jobs and same)
        ok1 = [r for r in tries[1] if r.ok]
        ok2 = [r for r in tries[2] if r.ok]
        j1 = min(ok1, key=lambda r: r.wall) if ok1 else None
        j2 = min(ok2, key=lambda r: r.wall) if ok2 else None
    same_csv = None
    if pure is not None and pure.ok and comp.ok:
        same_csv = (out / "big-v9.memory.csv").read_bytes() == (out / "big-v9.memory-pure.csv").read_bytes()

    headers = ["file", "command", "wall s", "cpu s", "MB/s", "keys/s", "peak RSS MB", "out MB", "note"]
    H.print_table(headers, rows)
    lines = [f"_{ctx}_", "", "Commands (FILE = bench/data/<file>, OUT = bench/out/...):", "", "```",
             "persistkit memory FILE --format csv -o OUT.csv",
             "persistkit memory FILE --json -o OUT.json",
             "PERSISTKIT_PUREPYTHON=1 persistkit memory FILE --format csv -o OUT.csv",
             "bench/.venv-tools/bin/rdb -c memory -f OUT.csv FILE",
             "persistkit memory shards-v10/shard-*.rdb --format csv [--jobs 2] -o OUT.csv",
             "```", "", H.md_table(headers, rows), "",
             f"Load average at the end: {H.load_avg()}. cpu s = user + system time of the "
             "process and its workers.", ""]
    verdicts = []
    if tools is not None and tools.ok and comp.ok:
        verdicts.append(f"- `memory` vs rdbtools `rdb -c memory` on big-v9.rdb (same run): "
                        f"**{tools.wall / comp.wall:.1f}x** faster compiled (target >= {SPEED_TARGET:.0f}x)"
                        + (f", {tools.wall / pure.wall:.1f}x on the pure path" if pure is not None and pure.ok else ""))
    if pure is not None and pure.ok and comp.ok:
        verdicts.append(f"- compiled vs pure path on big-v9.rdb: {pure.wall / comp.wall:.1f}x; "
                        f"the two CSVs are {'byte-identical' if same_csv else 'DIFFERENT'}")
    if j1 is not None and j2 is not None:
        verdicts.append(f"- `--jobs 2` on the 8 shards: **{j1.wall / j2.wall:.2f}x** the speed of one job "
                        f"(best wall of {a.rounds} alternated runs each: {j1.wall:.1f} s vs {j2.wall:.1f} s; "
                        f"2 cores); CPU time {(j2.user + j2.sys) / (j1.user + j1.sys):.2f}x that of one job; "
                        f"outputs {'byte-identical' if same_jobs else 'DIFFERENT'} in every round")
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
