"""index.html: the verdicts, the checks, the tables and the plots of one lab report, in
one self-contained page (the PNGs sit beside it)."""

from __future__ import annotations

from html import escape


def _cell(v) -> str:
    if v is None:
        return "<td class=na>n/a</td>"
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, int):
        return f"<td class=num>{v:,}</td>"
    if isinstance(v, float):
        return f"<td class=num>{v:,.4g}</td>"
    return f"<td>{escape(str(v))}</td>"


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(k)) for k, _ in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em}th{background:#f4f4f4}td.num{text-align:right}
td.na{color:#999}.ok{color:#1a7f37}.bad{color:#cf222e}.unk{color:#999}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}li{margin:.4em 0}
.small{font-size:.85em;color:#555}
"""


def render(report: dict) -> str:
    env = report.get("environment", {})
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>persistkit lab</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>persistkit lab: what each persistence mode costs and loses</h1>",
             f"<p class=small>{escape(report.get('created', ''))}; "
             f"{'quick run' if report.get('quick') else 'full run'}; servers: "
             + escape(", ".join(f"{k} {v.get('version', '')}" for k, v in (report.get("servers") or {}).items()))
             + f"; {escape(str(env.get('cores', '?')))} cores, load average at start "
             + escape(" ".join(str(x) for x in env.get("load_average_start", [])))
             + "</p>",
             "<h2>Verdicts</h2><ul>"]
    parts += [f"<li>{escape(v)}</li>" for v in report.get("verdicts", [])]
    parts.append("</ul><h2>Checks</h2><ul>")
    for c in report.get("checks", []):
        cls, word = {True: ("ok", "holds"), False: ("bad", "does not hold"), None: ("unk", "not measured")}[c["holds"]]
        parts.append(f"<li><b class={cls}>{word}</b>: {escape(c['claim'])}<br>"
                     f"<span class=small>{escape(c['detail'])}</span></li>")
    parts.append("</ul>")
    findings = report.get("durability_findings") or []
    if findings:
        parts.append("<h2>Name changes the servers never made durable</h2><ul>")
        parts += [f"<li>{escape(f)}</li>" for f in findings]
        parts.append("</ul>")
    plots = set(report.get("plots", []))
    sections = [
        ("Acknowledged writes lost", "loss.png", "runs", [
            ("server", "server"), ("mode", "mode"), ("acked_writes", "acknowledged writes"),
            ("lost_at_kill9", "lost at kill -9"), ("lost_at_power_cut", "lost at power cut"),
            ("power_cut_window_s", "power cut: seconds of writes lost"), ("recovery_s", "recovery (s)"),
            ("files_bytes", "files (bytes)"), ("files_bytes_per_write", "file bytes per write"),
            ("recovery_us_per_write", "recovery µs per write"), ("rewrite_s", "rewrite (s)"),
            ("rewrite_in_flight_at_crash", "crash during a rewrite"),
            ("writes_per_s", "writes/s")]),
        ("Recovery time and file sizes", "recovery.png", None, None),
        ("AOF base formats on the same keys: RDB preamble against commands", None, "bases", [
            ("server", "server"), ("base", "base"), ("keys", "keys"), ("base_bytes", "base (bytes)"),
            ("rewrite_s", "BGREWRITEAOF (s)"), ("load_s", "load (s)"), ("keys_loaded", "keys loaded")]),
        ("Write latency during SAVE and BGSAVE", "latency.png", "latency", [
            ("server", "server"), ("during", "during"), ("p50_ms", "p50 (ms)"), ("p99_ms", "p99 (ms)"),
            ("max_ms", "max (ms)"), ("samples", "samples")]),
        ("Copy-on-write against the rewritten fraction", "cow.png", "cow", [
            ("server", "server"), ("rewritten_fraction", "rewritten fraction"), ("rewritten_keys", "keys rewritten"),
            ("cow_bytes", "copy-on-write (bytes)"), ("fork_usec", "fork (µs)"), ("child_held", "child held")]),
    ]
    for title, png, key, cols in sections:
        parts.append(f"<h2>{escape(title)}</h2>")
        if png in plots:
            parts.append(f'<img src="{png}" alt="{escape(title)}">')
        if key:
            rows = report.get(key, [])
            if key == "runs":
                rows = [{**r, "power_cut_window_s": (r.get("power_cut") or {}).get("lost_window_s")} for r in rows]
            parts.append(_table(rows, cols))
    inc = report.get("incremental") or {}
    if inc:
        parts.append("<h2>Incremental snapshots: when tracking changes costs more than it saves</h2>")
        if "incremental.png" in plots:
            parts.append('<img src="incremental.png" alt="incremental snapshot break-even">')
        parts.append(f"<p class=small>Model: {escape(inc.get('model', ''))}.</p>")
        parts.append(_table(inc.get("rows", []), [
            ("value_bytes", "value (bytes)"), ("record_bytes", "record in a full snapshot (bytes)"),
            ("metadata_bytes", "metadata per changed key (bytes)"), ("metadata_per_record", "metadata / record"),
            ("break_even_fraction", "break-even changed fraction"),
            ("incremental_vs_full_at_10pct", "incremental / full at 10 % changed"),
            ("incremental_vs_full_at_50pct", "incremental / full at 50 % changed")]))
        cow = inc.get("cow_bytes_per_rewritten_key") or {}
        if cow:
            parts.append("<p class=small>Measured for comparison, what a fork snapshot paid per rewritten key "
                         "in copy-on-write: " + escape(", ".join(f"{k} {v:,.0f} bytes" for k, v in cow.items()))
                         + ".</p>")
    parts.append(f"<h2>How it was measured</h2><p class=small>Power-cut model: "
                 f"{escape(report.get('power_cut_model', ''))}.</p>")
    for note in report.get("notes", []):
        parts.append(f"<p class=small>{escape(note)}</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
