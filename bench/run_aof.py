#!/usr/bin/env python3
"""AOF verify benchmark: `persistkit verify` against `redis-check-aof` (7.0.15) on the
same files in one run, as throughput ratios, with peak RSS.

Files (made by bench/gen_aof.py with a real redis-server):
  incr      bench/data/aof-1m/appendonly.aof.1.incr.aof   ~2M mixed write commands, plain RESP
  base      bench/data/aof-1m/appendonly.aof.1.base.aof   rewrite of the 1M-key dataset, no preamble
  manifest  bench/data/aof-1m/appendonly.aof.manifest     the whole set (base + incr)

  python3 bench/run_aof.py [--only incr base manifest] [--persistkit-only] [--no-results]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402
from run_rdb import speed_ratio, find, RSS_TARGET_MB, PK_MEM_MB, TIMEOUT  # noqa: E402

SPEED_TARGET = 1.5  # verify throughput vs redis-check-aof, compiled path

SET = H.DATA / "aof-1m"
FILES = {
    "incr": SET / "appendonly.aof.1.incr.aof",
    "base": SET / "appendonly.aof.1.base.aof",
    "manifest": SET / "appendonly.aof.manifest",
}


def set_dir(d: Path):
    global SET
    SET = d
    FILES.update(incr=d / "appendonly.aof.1.incr.aof", base=d / "appendonly.aof.1.base.aof",
                 manifest=d / "appendonly.aof.manifest")


def input_size(kind: str, path: Path) -> int:
    if kind == "manifest":
        return sum(p.stat().st_size for p in SET.glob("appendonly.aof.*.aof"))
    return path.stat().st_size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=["incr", "base"],
                    help="incr base manifest (default incr base: the manifest row verifies both again)")
    ap.add_argument("--persistkit-only", action="store_true")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--no-pure", action="store_true", help="skip the pure-Python (PERSISTKIT_PUREPYTHON=1) rows")
    ap.add_argument("--set", default=str(SET), help="AOF directory (default bench/data/aof-1m)")
    a = ap.parse_args()
    set_dir(Path(a.set))
    ctx = H.context_line()
    print(ctx)
    meta = H.load_meta(SET / "set")
    table, ratios = [], []
    for kind in a.only:
        path = FILES[kind]
        if not path.exists():
            print(f"{path}: missing (run bench/gen_aof.py) - skipped")
            continue
        size = input_size(kind, path)
        runs = []
        print(f"  {kind}: persistkit verify {path.name}", flush=True)
        r = H.persistkit_run("persistkit verify", ["verify", str(path)], in_bytes=size,
                             mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT)
        print(f"    -> {r.wall:.1f}s rss {r.rss_mb:.0f} MB {r.note}", flush=True)
        runs.append(r)
        if not a.no_pure:
            print(f"  {kind}: persistkit verify (pure Python) {path.name}", flush=True)
            pure = H.persistkit_run("persistkit verify (PERSISTKIT_PUREPYTHON=1)", ["verify", str(path)],
                                    in_bytes=size, mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT,
                                    env=dict(os.environ, PERSISTKIT_PUREPYTHON="1"))
            print(f"    -> {pure.wall:.1f}s rss {pure.rss_mb:.0f} MB {pure.note}", flush=True)
            runs.append(pure)
        cache = H.OUT / f"aof-{kind}.json"
        if a.persistkit_only and cache.exists():
            d = json.loads(cache.read_text())
            for x in d["runs"]:
                if not x["label"].startswith("persistkit") and d.get("size") == size:
                    b = H.Run(**x)
                    b.cached = True
                    b.note = (b.note + f" (from the run of {d['when']})").strip()
                    runs.append(b)
        else:
            print(f"  {kind}: redis-check-aof {path.name}", flush=True)
            b = H.run("redis-check-aof", [H.REDIS_CHECK_AOF, str(path)], in_bytes=size, timeout=TIMEOUT)
            print(f"    -> {b.wall:.1f}s rss {b.rss_mb:.0f} MB {b.note}", flush=True)
            runs.append(b)
            H.save_runs(f"aof-{kind}", runs, {"size": size})
        ncmds = meta.get("log", {}).get("commands") if kind == "incr" else None
        for x in runs:
            cps = int(ncmds / x.wall) if ncmds and x.ok and x.wall else None
            table.append([f"{kind} ({path.name})", x.label, H.fmt(x.wall if x.ok else None, 1), H.fmt(x.mbps(), 1),
                          H.fmt(cps), H.fmt(x.rss_mb if x.ok else None, 0), x.note])
        rr = speed_ratio(find(runs, "persistkit verify"), find(runs, "redis-check-aof"))
        ratios.append([kind, "verify vs redis-check-aof (throughput)", f"{rr:.2f}x" if rr else "–",
                       f">= {SPEED_TARGET}x",
                       "met" if rr and rr >= SPEED_TARGET else ("MISSED" if rr else "n/a")])
        pr = speed_ratio(find(runs, "persistkit verify (PERSISTKIT_PUREPYTHON=1)"), find(runs, "redis-check-aof"))
        if pr:
            ratios.append([kind, "pure-Python verify vs redis-check-aof (throughput)", f"{pr:.2f}x", "–", ""])
        if r.ok:
            ratios.append([kind, "persistkit verify peak RSS", f"{r.rss_mb:.0f} MB", f"<= {RSS_TARGET_MB} MB",
                           "met" if r.rss_mb <= RSS_TARGET_MB else "MISSED"])
    headers = ["file", "command", "wall s", "MB/s", "commands/s", "peak RSS MB", "note"]
    hr = ["file", "comparison (same file, same run)", "value", "target", ""]
    print()
    H.print_table(headers, table)
    print()
    H.print_table(hr, ratios)
    if a.no_results:
        return
    sizes = ", ".join(f"{n} {s / H.MB:,.0f} MB" for n, s in meta.get("files", {}).items() if n.endswith(".aof"))
    md = [f"_{ctx}_", "",
          f"Files: bench/data/aof-1m/ ({sizes}); the incr file holds {meta.get('log', {}).get('commands', '?'):,} "
          "commands written through a real redis-server 7.0.15." if meta else "", "",
          "```", "persistkit verify FILE", "redis-check-aof FILE", "```", "",
          H.md_table(headers, table), "", H.md_table(hr, ratios)]
    H.update_results("aof", "\n".join(md))
    print("\nRESULTS.md section 'aof' updated")


if __name__ == "__main__":
    main()
