#!/usr/bin/env python3
"""RDB read benchmarks: persistkit verify / inspect / export against redis-check-rdb
and redis-rdb-tools 0.1.15, on the same file in one run, as ratios.

  python3 bench/run_rdb.py                       # big, string500, set10m (v10 and v9 copies)
  python3 bench/run_rdb.py --files big           # just the 1M-key snapshot
  python3 bench/run_rdb.py --persistkit-only     # re-run persistkit rows, keep the last baseline rows
  python3 bench/run_rdb.py --no-results          # print only, leave RESULTS.md alone

rdbtools reads RDB only up to v9, so its rows and the export ratio use the v9 copy
(the same data written by Redis 6.2); redis-check-rdb 7.0 reads both.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

PK_MEM_MB = 4096          # RLIMIT_AS for persistkit: a runaway reader must not take the machine down
TIMEOUT = 3600
RSS_TARGET_MB = 64


PK_ROWS = ("verify", "quick", "inspect", "export")


def rows_for(path: Path, tag: str, only_pk: bool, full_v9: bool, pk_rows=PK_ROWS) -> list[H.Run]:
    size = path.stat().st_size
    name = path.name
    out_jsonl = H.OUT / f"{path.stem}.export.jsonl"
    runs: list[H.Run] = []
    want_all_pk = tag == "v10" or full_v9

    def pk(label, args, **kw):
        key = {"persistkit verify": "verify", "persistkit verify --quick": "quick",
               "persistkit inspect --json": "inspect"}.get(label, "export")
        if key not in pk_rows:
            return None
        print(f"  {name}: persistkit {' '.join(args)}", flush=True)
        r = H.persistkit_run(label, args, in_bytes=size, mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT, **kw)
        print(f"    -> {r.wall:.1f}s rss {r.rss_mb:.0f} MB {r.note}", flush=True)
        runs.append(r)
        return r

    def base(label, cmd, **kw):
        print(f"  {name}: {' '.join(map(str, cmd))}", flush=True)
        r = H.run(label, cmd, in_bytes=size, timeout=TIMEOUT, **kw)
        print(f"    -> {r.wall:.1f}s rss {r.rss_mb:.0f} MB {r.note}", flush=True)
        runs.append(r)
        return r

    # ---- persistkit
    pk("persistkit verify", ["verify", str(path)])
    if want_all_pk:
        pk("persistkit verify --quick", ["verify", "--quick", str(path)])
        pk("persistkit inspect --json", ["inspect", str(path), "--json"],
           stdout_path=H.OUT / f"{path.stem}.inspect.json")
    pk("persistkit export --format jsonl", ["export", str(path), "--format", "jsonl", "-o", str(out_jsonl)],
       out_path=out_jsonl)
    out_jsonl.unlink(missing_ok=True)
    if only_pk:
        return runs
    # ---- baselines
    # redis-check-rdb exits 0 on a good file; it prints its report on stdout
    base("redis-check-rdb", [H.REDIS_CHECK_RDB, str(path)])
    if tag == "v9":
        if not H.RDB_TOOL.exists():
            runs.append(H.not_available("rdbtools json", ["rdb", "--command", "json", str(path)],
                                        "bench/.venv-tools not set up (see bench/README.md)"))
        else:
            out_json = H.OUT / f"{path.stem}.rdbtools.json"
            base("rdbtools json (file)", [H.RDB_TOOL, "--command", "json", "-f", str(out_json), str(path)],
                 out_path=out_json)
            out_json.unlink(missing_ok=True)
            base("rdbtools json > /dev/null", [H.RDB_TOOL, "--command", "json", str(path)])
            base("rdbtools no-op parse", [H.TOOLS_PY, H.BENCH / "rdbtools_noop.py", str(path)])
    return runs


def cached_rows(path: Path, have: set[str]) -> list[H.Run]:
    """Rows of the last full run on this same file whose label was not re-run now."""
    p = H.OUT / f"rdb-{path.stem}.json"
    if not p.exists():
        return []
    d = json.loads(p.read_text())
    st = path.stat()
    if d.get("file_size") != st.st_size or d.get("file_mtime") != st.st_mtime:
        return []
    out = []
    for r in d["runs"]:
        if r["label"] not in have:
            run = H.Run(**r)
            run.cached = True
            run.note = (run.note + f" (from the run of {d['when']})").strip()
            out.append(run)
    return out


def find(runs, label):
    for r in runs:
        if r.label == label:
            return r
    return None


def speed_ratio(pk: H.Run | None, base: H.Run | None) -> float | None:
    """Throughput ratio on the same file = baseline wall time / persistkit wall time."""
    if not pk or not base or not pk.ok or not base.ok or pk.wall <= 0:
        return None
    return base.wall / pk.wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="*", default=["big", "string500", "set10m"])
    ap.add_argument("--persistkit-only", action="store_true",
                    help="re-run only the persistkit rows; baseline rows come from the last run on the same file")
    ap.add_argument("--full-v9", action="store_true", help="also inspect / verify --quick the v9 copies")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--pk-rows", default=",".join(PK_ROWS), help="persistkit rows to run (default all: "
                    + ",".join(PK_ROWS) + ")")
    ap.add_argument("--tags", default="v10,v9", help="which copies (default v10,v9)")
    a = ap.parse_args()

    ctx = H.context_line()
    print(ctx)
    table, ratios = [], []
    for stem in a.files:
        for tag in a.tags.split(","):
            path = H.DATA / f"{stem}-{tag}.rdb"
            if not path.exists():
                print(f"{path.name}: missing (run bench/gen_rdb.py) - skipped")
                continue
            meta = H.load_meta(path)
            keys = meta.get("dbsize")
            runs = rows_for(path, tag, a.persistkit_only, a.full_v9, a.pk_rows.split(","))
            if a.persistkit_only:
                runs += cached_rows(path, {r.label for r in runs})
            else:
                st = path.stat()
                H.save_runs(f"rdb-{path.stem}", runs, {"file_size": st.st_size, "file_mtime": st.st_mtime})
            for r in runs:
                kps = (keys / r.wall) if (keys and r.ok and r.wall) else None
                table.append([path.name, r.label, H.fmt(r.wall if r.ok else None, 1), H.fmt(r.mbps(), 1),
                              H.fmt(int(kps) if kps else None), H.fmt(r.rss_mb if r.ok else None, 0),
                              H.fmt(r.out_bytes / H.MB if r.out_bytes else None, 0),
                              "" if r.ok or not r.available else "", r.note])
            v = find(runs, "persistkit verify")
            c = find(runs, "redis-check-rdb")
            rr = speed_ratio(v, c)
            ratios.append([path.name, "verify vs redis-check-rdb (throughput)", H.fmt(rr, 2) + "x" if rr else "–",
                           ">= 1.0x", "met" if rr and rr >= 1.0 else ("MISSED" if rr else "n/a")])
            if tag == "v9":
                e = find(runs, "persistkit export --format jsonl")
                j = find(runs, "rdbtools json (file)")
                rr = speed_ratio(e, j)
                ratios.append([path.name, "export jsonl vs rdbtools json (throughput)",
                               H.fmt(rr, 2) + "x" if rr else "–", ">= 10x",
                               "met" if rr and rr >= 10 else ("MISSED" if rr else "n/a")])
            pk_rss = [r for r in runs if r.label.startswith("persistkit") and r.ok]
            if pk_rss:
                worst = max(pk_rss, key=lambda r: r.maxrss_kb)
                ratios.append([path.name, f"peak RSS of every persistkit command (worst: {worst.label})",
                               f"{worst.rss_mb:.0f} MB", f"<= {RSS_TARGET_MB} MB",
                               "met" if worst.rss_mb <= RSS_TARGET_MB else "MISSED"])
    headers = ["file", "command", "wall s", "MB/s", "keys/s", "peak RSS MB", "out MB", "", "note"]
    headers_r = ["file", "comparison (same file, same run)", "value", "target", ""]
    print()
    H.print_table(headers[:-2] + ["note"], [r[:-2] + [r[-1]] for r in table])
    print()
    H.print_table(headers_r, ratios)
    if a.no_results:
        return
    cmds = [
        "persistkit verify FILE",
        "persistkit verify --quick FILE",
        "persistkit inspect FILE --json > out/FILE.inspect.json",
        "persistkit export FILE --format jsonl -o out/FILE.export.jsonl",
        "redis-check-rdb FILE",
        "bench/.venv-tools/bin/rdb --command json -f out/FILE.rdbtools.json FILE   # v9 only",
        "bench/.venv-tools/bin/rdb --command json FILE > /dev/null                # v9 only",
        "bench/.venv-tools/bin/python bench/rdbtools_noop.py FILE                 # v9 only: RdbParser + do-nothing callback",
    ]
    md = [f"_{ctx}_", "", "Commands (FILE = bench/data/<file>):", "", "```", *cmds, "```", "",
          H.md_table(["file", "command", "wall s", "MB/s", "keys/s", "peak RSS MB", "out MB", "note"],
                     [r[:7] + [r[8]] for r in table]),
          "", H.md_table(headers_r, ratios)]
    H.update_results("rdb", "\n".join(md))
    print(f"\nRESULTS.md section 'rdb' updated")


if __name__ == "__main__":
    main()
