#!/usr/bin/env python3
"""export benchmarks: every persistkit export format on the compiled path, jsonl on the
pure-Python path (PERSISTKIT_PUREPYTHON=1), and redis-rdb-tools 0.1.15 ``rdb --command
json`` to a file, on the SAME v9 file in ONE run (rdbtools reads RDB up to v9 only).

Ratios are throughput ratios (rdbtools wall time / persistkit wall time) of the same
run; CPU seconds (user + sys) are shown too, since the machine is shared: a wall-time
ratio moves with the load of the moment, the CPU ratio much less. The load average is
recorded at the start and at the end. Rewrites the ``export`` section of RESULTS.md
(``--no-results`` only prints).

    python3 bench/run_export.py                       # big-v9, set10m-v9
    python3 bench/run_export.py --files set10m --no-rdbtools
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

FORMATS = ("jsonl", "json", "csv", "resp")
PURE_ENV = dict(os.environ, PERSISTKIT_PUREPYTHON="1")
TIMEOUT = 3 * 3600
PK_MEM_MB = 4096
TARGET = {"big": 15.0}


def rows_for(path: Path, rdbtools: bool) -> list[H.Run]:
    size = path.stat().st_size
    runs = []

    def go(run):
        print(f"    -> {run.label}: {run.wall:.1f}s wall, {run.user + run.sys:.1f}s cpu, "
              f"rss {run.rss_mb:.0f} MB {run.note}", flush=True)
        runs.append(run)

    for fmt in FORMATS:
        out = H.OUT / f"{path.stem}.export.{fmt}"
        go(H.persistkit_run(f"persistkit export --format {fmt}", ["export", str(path), "--format", fmt,
                                                                  "-o", str(out)],
                            in_bytes=size, out_path=out, mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT))
        out.unlink(missing_ok=True)
    out = H.OUT / f"{path.stem}.export-pure.jsonl"
    go(H.persistkit_run("persistkit export --format jsonl (pure Python)",
                        ["export", str(path), "--format", "jsonl", "-o", str(out)], env=PURE_ENV,
                        in_bytes=size, out_path=out, mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT))
    out.unlink(missing_ok=True)
    if rdbtools:
        out = H.OUT / f"{path.stem}.rdbtools.json"
        if H.RDB_TOOL.exists():
            go(H.run("rdbtools json (file)", [H.RDB_TOOL, "--command", "json", "-f", str(out), str(path)],
                     in_bytes=size, out_path=out, timeout=TIMEOUT))
        else:
            runs.append(H.not_available("rdbtools json (file)", ["rdb"], "bench/.venv-tools not set up"))
        out.unlink(missing_ok=True)
    return runs


def _find(runs, label):
    return next((r for r in runs if r.label == label and r.ok), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="*", default=["big", "set10m"])
    ap.add_argument("--no-rdbtools", action="store_true")
    ap.add_argument("--no-results", action="store_true")
    a = ap.parse_args()
    H.OUT.mkdir(parents=True, exist_ok=True)
    context = H.context_line()
    rows, ratios, all_runs = [], [], []
    for stem in a.files:
        path = H.DATA / f"{stem}-v9.rdb"
        if not path.exists():
            print(f"missing {path} (bench/gen_rdb.py)")
            continue
        print(f"{path.name}:", flush=True)
        runs = rows_for(path, not a.no_rdbtools)
        all_runs += runs
        for r in runs:
            rows.append([path.name, r.label, H.fmt(r.wall), H.fmt(r.user + r.sys), H.fmt(r.mbps()),
                         H.fmt(r.rss_mb, 0), H.fmt(r.out_bytes / H.MB, 0) if r.out_bytes else "–", r.note])
        base = _find(runs, "rdbtools json (file)")
        for label in ("persistkit export --format jsonl", "persistkit export --format jsonl (pure Python)"):
            pk = _find(runs, label)
            if pk is None or base is None:
                continue
            wall = base.wall / pk.wall
            cpu = (base.user + base.sys) / (pk.user + pk.sys)
            target = TARGET.get(stem)
            verdict = "" if target is None or "pure" in label else ("met" if wall >= target else "MISSED")
            ratios.append([path.name, f"{label} vs rdbtools json", f"{wall:.2f}x", f"{cpu:.2f}x",
                           f">= {target:.0f}x" if target and not verdict == "" else "–", verdict])
        worst = max((r for r in runs if r.ok and r.label.startswith("persistkit")), key=lambda r: r.maxrss_kb,
                    default=None)
        if worst is not None:
            ratios.append([path.name, f"peak RSS of every persistkit export (worst: {worst.label})",
                           f"{worst.rss_mb:.0f} MB", "", "<= 64 MB", "met" if worst.rss_mb <= 64 else "MISSED"])
    end_load = H.load_avg()
    t1 = H.md_table(["file", "command", "wall s", "cpu s", "MB/s", "peak RSS MB", "out MB", "note"], rows)
    t2 = H.md_table(["file", "comparison (same file, same run)", "wall ratio", "cpu ratio", "target", ""], ratios)
    md = (f"_{context}; load average at the end {end_load}; accelerator: compiled unless marked pure_\n\n"
          "```\npersistkit export FILE --format jsonl|json|csv|resp -o out/FILE.export.FMT\n"
          "PERSISTKIT_PUREPYTHON=1 persistkit export FILE --format jsonl -o out/FILE.export-pure.jsonl\n"
          "bench/.venv-tools/bin/rdb --command json -f out/FILE.rdbtools.json FILE\n```\n\n"
          f"{t1}\n\n{t2}\n")
    print(md)
    H.save_runs("export", all_runs)
    if not a.no_results:
        H.update_results("export", md)


if __name__ == "__main__":
    main()
