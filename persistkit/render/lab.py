"""Terminal tables of a ``persistkit lab`` report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _n(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _s(v) -> str:
    if v is None:
        return "n/a"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _mb(v) -> str:
    return "n/a" if v is None else f"{v / 1e6:.1f} MB"


def runs_table(report: dict) -> Table:
    t = Table(title="Acknowledged writes lost, recovery, files", title_justify="left")
    t.caption = ("lost: acknowledged writes missing after recovery; window: seconds of acknowledged writes the "
                 "power cut lost; load: recovery (load) time; w/s: write rate while traced")
    for col, just in (("server", "left"), ("mode", "left"), ("acked", "right"), ("lost kill", "right"),
                      ("lost cut", "right"), ("window", "right"),
                      ("load", "right"), ("files", "right"), ("rewrite", "right"), ("w/s", "right")):
        t.add_column(col, justify=just)
    for r in report.get("runs", []):
        pc = r.get("power_cut") or {}
        t.add_row(r["server"], r["mode"], _n(r["acked_writes"]), _n(r["lost_at_kill9"]),
                  _n(r["lost_at_power_cut"]), _s(pc.get("lost_window_s")) if pc else "n/a",
                  _s(r["recovery_s"]), _mb(r["files_bytes"]), _s(r.get("rewrite_s")),
                  f"{r['writes_per_s'] / 1000:.1f}k" if r.get("writes_per_s") else "n/a")
    return t


def latency_table(report: dict) -> Table:
    t = Table(title="Write latency (ms): idle, SAVE, BGSAVE", title_justify="left")
    for col, just in (("server", "left"), ("during", "left"), ("p50", "right"), ("p99", "right"),
                      ("max", "right"), ("samples", "right")):
        t.add_column(col, justify=just)
    for r in report.get("latency", []):
        t.add_row(r["server"], r["during"], _n(r["p50_ms"]), _n(r["p99_ms"]), _n(r["max_ms"]), _n(r.get("samples")))
    for f in report.get("fork", []):
        us = f.get("fork_usec") or []
        if us:
            t.caption = (t.caption + "; " if t.caption else "") + f"{f['server']} fork: {', '.join(f'{u:,} µs' for u in us)}"
    return t


def cow_table(report: dict) -> Table:
    t = Table(title="BGSAVE copy-on-write by keys rewritten", title_justify="left")
    for col, just in (("server", "left"), ("rewritten", "right"), ("keys", "right"), ("copy-on-write", "right"),
                      ("child held", "left")):
        t.add_column(col, justify=just)
    for r in report.get("cow", []):
        t.add_row(r["server"], f"{r['rewritten_fraction']:.0%}", _n(r.get("rewritten_keys")), _mb(r["cow_bytes"]),
                  "yes" if r.get("child_held") else "no")
    return t


def bases_table(report: dict) -> Table:
    t = Table(title="AOF base formats on the same keys", title_justify="left",
              caption="BGREWRITEAOF, then a fresh server loads the base")
    for col, just in (("server", "left"), ("base", "left"), ("keys", "right"), ("size", "right"),
                      ("rewrite", "right"), ("load", "right")):
        t.add_column(col, justify=just)
    for b in report.get("bases", []):
        t.add_row(b["server"], b["base"], _n(b["keys"]), _mb(b.get("base_bytes")), _s(b.get("rewrite_s")),
                  _s(b.get("load_s")))
    return t


def incremental_table(report: dict) -> Table:
    inc = report.get("incremental") or {}
    t = Table(title="Incremental snapshots: metadata per changed key against the record size",
              title_justify="left", caption=inc.get("model"))
    for col in ("value", "record", "metadata", "metadata/record", "break-even changed", "incr/full at 10%",
                "incr/full at 50%"):
        t.add_column(col, justify="right")
    for r in inc.get("rows", []):
        t.add_row(f"{r['value_bytes']:,} B", f"{r['record_bytes']:,.0f} B", f"{r['metadata_bytes']} B",
                  f"{r['metadata_per_record']:.2f}", f"{r['break_even_fraction']:.0%}",
                  f"{r['incremental_vs_full_at_10pct']:.2f}", f"{r['incremental_vs_full_at_50pct']:.2f}")
    return t


def render_report(report: dict, console: Console) -> None:
    console.print(runs_table(report))
    if report.get("latency"):
        console.print(latency_table(report))
    if report.get("cow"):
        console.print(cow_table(report))
    if report.get("bases"):
        console.print(bases_table(report))
    if report.get("incremental"):
        console.print(incremental_table(report))
    console.print("[bold]Checks[/bold]")
    for c in report.get("checks", []):
        mark = {True: "[green]holds[/green]", False: "[red]does not hold[/red]", None: "[dim]not measured[/dim]"}[c["holds"]]
        console.print(f"  {mark}: {c['claim']}\n    [dim]{c['detail']}[/dim]")
    findings = report.get("durability_findings") or []
    if findings:
        console.print("[bold]Name changes the servers never made durable[/bold]")
        for f in findings:
            console.print(f"  {f}")
    console.print("[bold]Verdicts[/bold]")
    for v in report.get("verdicts", []):
        console.print(f"  • {v}")
    for n in report.get("notes", []):
        if "not" in n.split(":")[0] or n.startswith("redis-server") or n.startswith("strace") or n.startswith("matplotlib"):
            console.print(f"[yellow]note:[/yellow] {n}")
