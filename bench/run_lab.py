#!/usr/bin/env python3
"""`persistkit lab`: one run (quick by default) and its numbers as the "lab" section of
RESULTS.md. The lab compares the engine and redis-server itself (same workload, same
settings, one after the other); this script only runs it and formats what it measured.

  python3 bench/run_lab.py [--full] [--pure] [--no-results]

The report, plots and index.html stay in bench/out/lab/ (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402


def _n(v) -> str:
    return "n/a" if v is None else f"{v:,}"


def _s(v) -> str:
    if v is None:
        return "n/a"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _ms(v) -> str:
    return "n/a" if v is None else (f"{v:.2f}" if v < 10 else f"{v:,.0f}")


def markdown(report: dict, cmd: list[str], wall: float, load_start: str) -> str:
    out = [f"_{H.context_line()}; load average when the lab started {load_start}_", ""]
    versions = ", ".join(f"{k}: {v.get('version')}" + (f" ({v['accelerator']} accelerator)" if v.get("accelerator") else "")
                         for k, v in report["servers"].items())
    out += [f"`{' '.join(cmd)}` took {wall:.0f} s wall ({report['duration_s']:.0f} s measuring); {versions}.",
            "Loss rows ran under strace (slower servers: see writes/s); latency and copy-on-write rows did not.",
            ""]
    rows = []
    for r in report["runs"]:
        pc = r.get("power_cut") or {}
        rows.append([r["server"], r["mode"], _n(r["acked_writes"]), _n(r["lost_at_kill9"]), _n(r["lost_at_power_cut"]),
                     _s(pc.get("lost_window_s")) if pc else "n/a", _s(r["recovery_s"]),
                     f"{r['files_bytes'] / 1e6:.1f} MB", _s(r.get("rewrite_s")), f"{r['writes_per_s']:,.0f}"])
    out += ["### Acknowledged writes lost, recovery, files", "",
            H.md_table(["server", "mode", "acked writes", "lost at kill -9", "lost at power cut",
                        "power cut lost (s of writes)", "recovery (load)", "files", "BGREWRITEAOF", "writes/s"], rows), ""]
    rows = [[r["server"], r["during"], _ms(r["p50_ms"]), _ms(r["p99_ms"]), _ms(r["max_ms"]), _n(r.get("samples"))]
            for r in report["latency"]]
    forks = "; ".join(f"{f['server']} {', '.join(f'{u / 1000:.1f} ms' for u in f.get('fork_usec') or [])}"
                      for f in report.get("fork", []))
    keys = next(iter(report.get("datasets", {}).values()), {}).get("keys")
    out += [f"### Write latency (ms) while nothing, SAVE or BGSAVE runs ({_n(keys)} keys of 100 bytes)", "",
            H.md_table(["server", "during", "p50", "p99", "max", "samples"], rows), "", f"Fork time: {forks}.", ""]
    rows = [[r["server"], f"{r['rewritten_fraction']:.0%}", _n(r.get("rewritten_keys")),
             f"{r['cow_bytes'] / 1e6:.1f}", "yes" if r.get("child_held") else "no"] for r in report["cow"]]
    out += ["### Copy-on-write of a BGSAVE against the fraction of keys rewritten while the child runs", "",
            H.md_table(["server", "rewritten", "keys", "rdb_last_cow_size MB", "child held"], rows), ""]
    if report.get("bases"):
        rows = [[b["server"], b["base"], _n(b["keys"]), f"{(b.get('base_bytes') or 0) / 1e6:.2f} MB",
                 _s(b.get("rewrite_s")), _s(b.get("load_s"))] for b in report["bases"]]
        out += ["### AOF base formats on the same keys (BGREWRITEAOF, then a fresh server loads it)", "",
                H.md_table(["server", "base", "keys", "base size", "BGREWRITEAOF", "load"], rows), ""]
    inc = report.get("incremental") or {}
    if inc:
        rows = [[f"{r['value_bytes']:,}", f"{r['record_bytes']:,.0f}", r["metadata_bytes"],
                 f"{r['break_even_fraction']:.0%}", f"{r['incremental_vs_full_at_10pct']:.2f}"] for r in inc["rows"]]
        out += ["### Incremental snapshots (model; record sizes measured)", "", f"Model: {inc['model']}.", "",
                H.md_table(["value bytes", "record bytes", "metadata bytes per changed key",
                            "break-even changed fraction", "incremental / full at 10 % changed"], rows), ""]
        cow = inc.get("cow_bytes_per_rewritten_key") or {}
        if cow:
            out += ["Measured beside it, copy-on-write per rewritten key of a fork snapshot: "
                    + ", ".join(f"{k} {v:,.0f} bytes" for k, v in cow.items()) + ".", ""]
    out += ["### Checks", ""]
    out += [f"- **{'holds' if c['holds'] else 'does not hold' if c['holds'] is False else 'not measured'}**: "
            f"{c['claim']} ({c['detail']})" for c in report["checks"]]
    if report.get("durability_findings"):
        out += ["", "### Name changes the servers never made durable (from their traced timelines)", ""]
        out += [f"- {f}" for f in report["durability_findings"]]
    out += ["", "### Verdicts (as the lab printed them)", ""] + [f"- {v}" for v in report["verdicts"]]
    return "\n".join(out) + "\n"


def _run(cmd: list[str], env: dict | None = None) -> tuple[dict | None, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        return None, wall, proc.stderr
    return json.loads(proc.stdout), wall, ""


def engine_paths(compiled: dict, pure: dict) -> str:
    """The engine's figures with the compiled accelerator and with the pure path, side by
    side (two lab runs one after the other; the loss counts are exact either way)."""
    rows = []

    def run(rep, mode):
        return next((r for r in rep["runs"] if r["server"] == "engine" and r["mode"] == mode), None)

    for mode in compiled["settings"]["modes"]:
        a, b = run(compiled, mode), run(pure, mode)
        if a and b:
            rows.append([mode, f"{a['writes_per_s']:,.0f} / {b['writes_per_s']:,.0f}",
                         f"{_s(a['recovery_s'])} / {_s(b['recovery_s'])}",
                         f"{_n(a['lost_at_kill9'])} / {_n(b['lost_at_kill9'])}",
                         f"{_n(a['lost_at_power_cut'])} / {_n(b['lost_at_power_cut'])}"])
    lat = {(r["server"], r["during"], k): r for k, rep in (("c", compiled), ("p", pure)) for r in rep["latency"]}
    for during in ("none", "save", "bgsave"):
        a, b = lat.get(("engine", during, "c")), lat.get(("engine", during, "p"))
        if a and b:
            rows.append([f"latency during {during}", "", f"p99 {_ms(a['p99_ms'])} / {_ms(b['p99_ms'])} ms",
                         f"max {_ms(a['max_ms'])} / {_ms(b['max_ms'])} ms", ""])
    cow = {(r["rewritten_fraction"], k): r for k, rep in (("c", compiled), ("p", pure)) for r in rep["cow"]
           if r["server"] == "engine"}
    for f in (0.0, 1.0):
        a, b = cow.get((f, "c")), cow.get((f, "p"))
        if a and b:
            rows.append([f"copy-on-write at {f:.0%} rewritten", "", f"{a['cow_bytes'] / 1e6:.1f} / {b['cow_bytes'] / 1e6:.1f} MB",
                         "", ""])
    return ("### The engine: compiled accelerator / pure path (PERSISTKIT_PUREPYTHON=1)\n\n"
            "Two `--servers engine` lab runs one after the other, compiled first.\n\n"
            + H.md_table(["what", "writes/s (traced)", "recovery or latency", "lost at kill -9", "lost at power cut"], rows)
            + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the full run instead of --quick")
    ap.add_argument("--pure", action="store_true",
                    help="also run the engine alone with the compiled path and with the pure path")
    ap.add_argument("--no-results", action="store_true", help="print only, do not touch RESULTS.md")
    args = ap.parse_args()
    exe = H.persistkit_exe() or "persistkit"
    out_dir = H.OUT / "lab"
    cmd = [exe, "lab"] + ([] if args.full else ["--quick"]) + ["-o", str(out_dir), "--json"]
    load_start = H.load_avg()
    report, wall, err = _run(cmd)
    if report is None:
        sys.stderr.write(err)
        return 2
    shown = ["persistkit"] + cmd[1:-3] + ["-o", "DIR"]
    text = markdown(report, shown, wall, load_start)
    if args.pure:
        base = [exe, "lab"] + ([] if args.full else ["--quick"]) + ["--servers", "engine", "--json"]
        env = dict(os.environ)
        env.pop("PERSISTKIT_PUREPYTHON", None)
        compiled, _, err1 = _run(base, env)
        pure, _, err2 = _run(base, {**env, "PERSISTKIT_PUREPYTHON": "1"})
        if compiled and pure:
            text += "\n" + engine_paths(compiled, pure)
        else:
            sys.stderr.write(err1 + err2)
    print(text)
    if not args.no_results:
        H.update_results("lab", "## 6. lab: what each persistence mode loses and costs\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
