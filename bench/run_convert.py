#!/usr/bin/env python3
"""RDB convert benchmark: `persistkit convert` (v10 -> v9, v10 -> v10) against a real
redis-server 7.0.15 that loads the same file and SAVEs it (time from process start
to SAVE done), same file, same run, as ratios; peak RSS for each.

Every output is checked afterwards with redis-check-rdb (not timed).

  python3 bench/run_convert.py [--file bench/data/big-v10.rdb] [--persistkit-only] [--no-results]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402
from run_rdb import RSS_TARGET_MB, PK_MEM_MB, TIMEOUT  # noqa: E402


def redis_load_save(rdb: Path, label: str = "redis-server 7.0.15 load + SAVE") -> H.Run:
    """Process start -> dataset loaded -> SAVE returned. Peak RSS from wait4 at exit."""
    work = H.OUT / "convert-redis"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.symlink(rdb.resolve(), work / "in.rdb")
    srv = H.RedisProc(work, conf={"dbfilename": "in.rdb"})
    r = H.Run(label=label, cmd=[H.REDIS_SERVER, "--dir", "D", "--dbfilename", rdb.name, "; SAVE"],
              in_bytes=rdb.stat().st_size)
    try:
        t0 = time.perf_counter()
        srv.start(wait_loaded=True, timeout=TIMEOUT)
        t_loaded = time.perf_counter() - t0
        c = srv.client()
        # SAVE writes temp-<pid>.rdb and rename()s it over in.rdb: that replaces the
        # symlink, never the input file it points to
        c.execute_command("SAVE")
        r.wall = time.perf_counter() - t0
        assert not (work / "in.rdb").is_symlink()
        r.out_bytes = (work / "in.rdb").stat().st_size
        r.note = f"load {t_loaded:.1f}s + SAVE {r.wall - t_loaded:.1f}s"
        try:
            c.execute_command("SHUTDOWN", "NOSAVE")
        except Exception:
            pass
        ru = srv.wait_exit_rusage()
        r.rc = 0
        r.maxrss_kb, r.user, r.sys = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
    except Exception as e:
        r.rc = 1
        r.note = f"FAILED: {e}"
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return r


def check_output(path: Path) -> str:
    p = subprocess.run([H.REDIS_CHECK_RDB, str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    tail = (p.stdout.strip().splitlines() or [""])[-1]
    return "redis-check-rdb OK" if p.returncode == 0 else f"redis-check-rdb FAILED: {tail[:100]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=str(H.DATA / "big-v10.rdb"))
    ap.add_argument("--persistkit-only", action="store_true")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--no-pure", action="store_true", help="leave out the pure-Python runs")
    a = ap.parse_args()
    src = Path(a.file)
    if not src.exists():
        sys.exit(f"{src} missing: run bench/gen_rdb.py")
    ctx = H.context_line()
    print(ctx)
    size = src.stat().st_size
    runs = []
    pure_env = dict(os.environ, PERSISTKIT_PUREPYTHON="1")
    plan = [(ver, False) for ver in (9, 10)] + ([] if a.no_pure else [(ver, True) for ver in (9, 10)])
    for ver, pure in plan:
        out = H.OUT / f"{src.stem}.to-v{ver}.rdb"
        tag = " (pure Python)" if pure else ""
        print(f"  persistkit convert {src.name} -> v{ver}{tag}", flush=True)
        r = H.persistkit_run(f"persistkit convert -> v{ver}{tag}",
                             ["convert", str(src), "-o", str(out), "--rdb-version", str(ver)],
                             in_bytes=size, out_path=out, mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT,
                             env=pure_env if pure else None)
        if r.ok and out.exists():
            r.note = (r.note + " " + check_output(out)).strip()
        print(f"    -> {r.wall:.1f}s rss {r.rss_mb:.0f} MB {r.note}", flush=True)
        out.unlink(missing_ok=True)
        runs.append(r)
    cache = H.OUT / "convert.json"
    base = None
    if a.persistkit_only and cache.exists():
        d = json.loads(cache.read_text())
        for x in d["runs"]:
            if x["label"].startswith("redis-server") and d.get("size") == size:
                base = H.Run(**x)
                base.cached = True
                base.note += f" (from the run of {d['when']})"
    if base is None:
        print("  redis-server load + SAVE", flush=True)
        base = redis_load_save(src)
        print(f"    -> {base.wall:.1f}s rss {base.rss_mb:.0f} MB {base.note}", flush=True)
        H.save_runs("convert", runs + [base], {"size": size})
    runs.append(base)
    table = [[x.label, H.fmt(x.wall if x.ok else None, 1), H.fmt(x.mbps(), 1),
              H.fmt(x.rss_mb if x.ok else None, 0), H.fmt(x.out_bytes / H.MB if x.out_bytes else None, 0), x.note]
             for x in runs]
    ratios = []
    for x in runs[:-1]:
        rr = base.wall / x.wall if x.ok and base.ok and x.wall else None
        if "pure" in x.label:   # the readable reference path: shown, not held to the target
            ratios.append([f"{x.label} vs load+SAVE (speed)", f"{rr:.2f}x" if rr else "–", "(reference)", ""])
        else:
            ratios.append([f"{x.label} vs load+SAVE (speed)", f"{rr:.2f}x" if rr else "–", ">= 1.0x",
                           "met" if rr and rr >= 1 else ("MISSED" if rr else "n/a")])
        if x.ok:
            ratios.append([f"{x.label} peak RSS", f"{x.rss_mb:.0f} MB", f"<= {RSS_TARGET_MB} MB",
                           "met" if x.rss_mb <= RSS_TARGET_MB else "MISSED"])
    headers = ["command", "wall s", "MB/s in", "peak RSS MB", "out MB", "note"]
    hr = ["comparison (same file, same run)", "value", "target", ""]
    print()
    H.print_table(headers, table)
    print()
    H.print_table(hr, ratios)
    if a.no_results:
        return
    md = [f"_{ctx}_", "", f"Input: bench/data/{src.name} ({size / H.MB:,.0f} MB).", "", "```",
          f"persistkit convert {src.name} -o OUT --rdb-version 9",
          f"persistkit convert {src.name} -o OUT --rdb-version 10",
          "PERSISTKIT_PUREPYTHON=1 persistkit convert ...   # the pure-Python path",
          f"redis-server --dir D --dbfilename {src.name} --save ''   # then SAVE",
          "```", "", "Time for redis-server runs from process start to SAVE returning; outputs checked with "
          "redis-check-rdb afterwards (untimed).", "",
          H.md_table(headers, table), "", H.md_table(hr, ratios)]
    H.update_results("convert", "\n".join(md))
    print("\nRESULTS.md section 'convert' updated")


if __name__ == "__main__":
    main()
