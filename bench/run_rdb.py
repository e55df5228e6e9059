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


ROWS = {   # short name -> row label
    "verify": "persistkit verify",
    "quick": "persistkit verify --quick",
    "inspect": "persistkit inspect --json",
    "verify-pure": "persistkit verify (pure Python)",
    "quick-pure": "persistkit verify --quick (pure Python)",
    "inspect-pure": "persistkit inspect --json (pure Python)",
    "export": "persistkit export --format jsonl",
    "check": "redis-check-rdb",
    "rdbtools-json": "rdbtools json (file)",
    "rdbtools-devnull": "rdbtools json > /dev/null",
    "rdbtools-noop": "rdbtools no-op parse",
}
PK_ONLY_V10 = {"inspect", "inspect-pure"}     # on the v9 copies only with --full-v9
PURE_ENV = dict(os.environ, PERSISTKIT_PUREPYTHON="1")   # the pure-Python reference path
# verify / verify --quick throughput targets against redis-check-rdb, by file stem
VERIFY_TARGET = {"big": 1.5, "set10m": 1.0, "string500": 1.0}
QUICK_TARGET = {"big": 3.0}
V9_ONLY = {"rdbtools-json", "rdbtools-devnull", "rdbtools-noop"}


def rows_for(path: Path, tag: str, wanted: set[str]) -> list[H.Run]:
    """Run the wanted rows (short names) on one file, in a fixed order: persistkit first."""
    size = path.stat().st_size
    name = path.name
    runs: list[H.Run] = []

    def go(key, cmd, pk=False, **kw):
        if key not in wanted:
            return
        label = ROWS[key]
        print(f"  {name}: {'persistkit ' + ' '.join(cmd) if pk else ' '.join(map(str, cmd))}", flush=True)
        if pk:
            r = H.persistkit_run(label, cmd, in_bytes=size, mem_limit_mb=PK_MEM_MB, timeout=TIMEOUT, **kw)
        else:
            r = H.run(label, cmd, in_bytes=size, timeout=TIMEOUT, **kw)
        print(f"    -> {r.wall:.1f}s rss {r.rss_mb:.0f} MB {r.note}", flush=True)
        runs.append(r)

    out_jsonl = H.OUT / f"{path.stem}.export.jsonl"
    go("verify", ["verify", str(path)], pk=True)
    go("quick", ["verify", "--quick", str(path)], pk=True)
    go("inspect", ["inspect", str(path), "--json"], pk=True, stdout_path=H.OUT / f"{path.stem}.inspect.json")
    go("verify-pure", ["verify", str(path)], pk=True, env=PURE_ENV)
    go("quick-pure", ["verify", "--quick", str(path)], pk=True, env=PURE_ENV)
    go("inspect-pure", ["inspect", str(path), "--json"], pk=True, env=PURE_ENV,
       stdout_path=H.OUT / f"{path.stem}.inspect-pure.json")
    go("export", ["export", str(path), "--format", "jsonl", "-o", str(out_jsonl)], pk=True, out_path=out_jsonl)
    out_jsonl.unlink(missing_ok=True)
    # redis-check-rdb exits 0 on a good file; it prints its report on stdout
    go("check", [H.REDIS_CHECK_RDB, str(path)])
    if wanted & V9_ONLY and not H.RDB_TOOL.exists():
        runs.append(H.not_available("rdbtools json (file)", ["rdb", "--command", "json", str(path)],
                                    "bench/.venv-tools not set up (see bench/README.md)"))
        return runs
    out_json = H.OUT / f"{path.stem}.rdbtools.json"
    go("rdbtools-json", [H.RDB_TOOL, "--command", "json", "-f", str(out_json), str(path)], out_path=out_json)
    out_json.unlink(missing_ok=True)
    go("rdbtools-devnull", [H.RDB_TOOL, "--command", "json", str(path)])
    go("rdbtools-noop", [H.TOOLS_PY, H.BENCH / "rdbtools_noop.py", str(path)])
    return runs


def accelerator_line() -> str:
    """What ``persistkit --version`` says about the compiled accelerator."""
    import subprocess

    exe = H.persistkit_exe()
    if exe is None:
        return "accelerator: unknown (persistkit not installed)"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("accelerator:")]
    return lines[0] if lines else "accelerator: unknown"


def default_rows(tag: str, persistkit_only: bool, full_v9: bool) -> set[str]:
    rows = set(ROWS)
    if tag != "v9":
        rows -= V9_ONLY
    elif not full_v9:
        rows -= PK_ONLY_V10
    if persistkit_only:
        rows = {r for r in rows if ROWS[r].startswith("persistkit")}
    return rows


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


def mixed(a: H.Run | None, b: H.Run | None) -> str:
    """Flag a ratio whose two sides did not run in the same script run."""
    if a and b and a.cached != b.cached:
        return " [sides from different runs]"
    if a and b and a.cached and b.cached:
        return " [both from the earlier run]"
    return ""


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
    ap.add_argument("--rerun", help="re-run only these rows, e.g. big-v10:verify,big-v10:check,big-v9:export,"
                    "big-v9:rdbtools-json (rows: " + " ".join(ROWS) + "); every other row of the table comes "
                    "from the last full run on the same file, marked as such")
    a = ap.parse_args()
    rerun = None
    if a.rerun:
        rerun = {}
        for item in a.rerun.split(","):
            stem, row = item.split(":")
            assert row in ROWS, f"unknown row {row}: one of {' '.join(ROWS)}"
            rerun.setdefault(stem, set()).add(row)

    ctx = H.context_line() + f", {accelerator_line()}"
    print(ctx)
    table, ratios = [], []
    for stem in a.files:
        for tag in ("v10", "v9"):
            path = H.DATA / f"{stem}-{tag}.rdb"
            if not path.exists():
                print(f"{path.name}: missing (run bench/gen_rdb.py) - skipped")
                continue
            meta = H.load_meta(path)
            keys = meta.get("dbsize")
            if rerun is not None:
                runs = rows_for(path, tag, rerun.get(path.stem, set()))
                runs += cached_rows(path, {r.label for r in runs})
            else:
                runs = rows_for(path, tag, default_rows(tag, a.persistkit_only, a.full_v9))
                if a.persistkit_only:
                    runs += cached_rows(path, {r.label for r in runs})
                else:
                    st = path.stat()
                    H.save_runs(f"rdb-{path.stem}", runs, {"file_size": st.st_size, "file_mtime": st.st_mtime})
            runs.sort(key=lambda r: list(ROWS.values()).index(r.label) if r.label in ROWS.values() else 99)
            for r in runs:
                kps = (keys / r.wall) if (keys and keys >= 100 and r.ok and r.wall) else None  # not for 1-key files
                table.append([path.name, r.label, H.fmt(r.wall if r.ok else None, 1), H.fmt(r.mbps(), 1),
                              H.fmt(int(kps) if kps else None), H.fmt(r.rss_mb if r.ok else None, 0),
                              H.fmt(r.out_bytes / H.MB if r.out_bytes else None, 0),
                              "" if r.ok or not r.available else "", r.note])
            c = find(runs, "redis-check-rdb")
            family = path.stem.rsplit("-", 1)[0]
            for label, what, target in (
                    ("persistkit verify", "verify", VERIFY_TARGET.get(family, 1.0)),
                    ("persistkit verify --quick", "verify --quick", QUICK_TARGET.get(family)),
                    ("persistkit verify (pure Python)", "verify, pure Python", None),
                    ("persistkit verify --quick (pure Python)", "verify --quick, pure Python", None)):
                v = find(runs, label)
                if v is None:
                    continue
                rr = speed_ratio(v, c)
                ratios.append([path.name, f"{what} vs redis-check-rdb (throughput)" + mixed(v, c),
                               H.fmt(rr, 2) + "x" if rr else "–",
                               f">= {target}x" if target else "(reference)",
                               ("met" if rr and rr >= target else ("MISSED" if rr else "n/a"))
                               if target else ""])
            if tag == "v9":
                e = find(runs, "persistkit export --format jsonl")
                j = find(runs, "rdbtools json (file)")
                rr = speed_ratio(e, j)
                ratios.append([path.name, "export jsonl vs rdbtools json (throughput)" + mixed(e, j),
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
        "PERSISTKIT_PUREPYTHON=1 persistkit verify [--quick] FILE      # the pure-Python path",
        "PERSISTKIT_PUREPYTHON=1 persistkit inspect FILE --json > out/FILE.inspect-pure.json",
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
