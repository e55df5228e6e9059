"""PNG plots of a lab report (matplotlib, the optional extra ``persistkit[lab]``).

Every plot is drawn from the report's rows only, so a report.json can be re-plotted.
Each function writes one PNG of ``SIZE`` pixels and returns its file name.
"""

from __future__ import annotations

import io
import os
from typing import Optional

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 4.8, 100
SIZE = (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))      # (width, height) in pixels
COLORS = {"engine": "#1f77b4", "redis": "#d62728"}
MODES = ("rdb", "aof-always", "aof-everysec", "aof-no", "hybrid")


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: str, name: str) -> str:
    """Render to memory, then write the file atomically (temp file, fsync, rename)."""
    from ..kvencoding.fileio import atomic_output

    fig.set_size_inches(WIDTH_IN, HEIGHT_IN)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    _plt().close(fig)
    with atomic_output(os.path.join(out_dir, name)) as fh:
        fh.write(buf.getvalue())
    return name


def _servers(rows) -> list[str]:
    return [s for s in ("engine", "redis") if any(r["server"] == s for r in rows)]


def _modes(rows) -> list[str]:
    present = {r["mode"] for r in rows}
    return [m for m in MODES if m in present]


def plot_loss(report: dict, out_dir: str) -> Optional[str]:
    """Acknowledged writes lost per mode, at kill -9 and at a power cut, as a share of the
    writes acknowledged (the bar label gives the count)."""
    runs = report.get("runs") or []
    if not runs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, sharey=True)
    servers, modes = _servers(runs), _modes(runs)
    width = 0.8 / max(1, len(servers))
    for ax, key, title in ((axes[0], "lost_at_kill9", "kill -9"), (axes[1], "lost_at_power_cut", "power cut")):
        for i, s in enumerate(servers):
            xs, ys, labels = [], [], []
            for j, m in enumerate(modes):
                r = next((r for r in runs if r["server"] == s and r["mode"] == m), None)
                if r is None or r[key] is None:
                    continue
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(100.0 * r[key] / max(1, r["acked_writes"]))
                labels.append(f"{r[key]:,}")
            bars = ax.bar(xs, ys, width, color=COLORS[s], label=s)
            for b, text in zip(bars, labels):
                ax.annotate(text, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                            fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels(modes, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_title(f"acknowledged writes lost at {title}")
        ax.set_ylim(0, 115)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("% of acknowledged writes lost")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "loss.png")


def plot_latency(report: dict, out_dir: str) -> Optional[str]:
    rows = report.get("latency") or []
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots()
    servers = _servers(rows)
    during = ("none", "save", "bgsave")
    stats = ("p50_ms", "p99_ms", "max_ms")
    groups = [(s, d) for s in servers for d in during]
    width = 0.8 / len(stats)
    shades = {"p50_ms": 1.0, "p99_ms": 0.65, "max_ms": 0.35}
    for k, st in enumerate(stats):
        xs, ys, cols = [], [], []
        for g, (s, d) in enumerate(groups):
            r = next((r for r in rows if r["server"] == s and r["during"] == d), None)
            if r is None or r.get(st) is None:
                continue
            xs.append(g + (k - 1) * width)
            ys.append(max(r[st], 1e-3))
            cols.append(COLORS[s])
        ax.bar(xs, ys, width, color=cols, alpha=shades[st], label=st.replace("_ms", ""))
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{s}\n{d}" for s, d in groups], fontsize=8)
    ax.set_ylabel("write latency (ms, log scale)")
    ax.set_title("write latency while nothing, SAVE or BGSAVE runs (p50 / p99 / max)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, out_dir, "latency.png")


def plot_cow(report: dict, out_dir: str) -> Optional[str]:
    rows = report.get("cow") or []
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots()
    for s in _servers(rows):
        pts = sorted((r["rewritten_fraction"], r["cow_bytes"]) for r in rows if r["server"] == s)
        ax.plot([100 * f for f, _ in pts], [b / 1e6 for _, b in pts], marker="o", color=COLORS[s], label=s)
        mem = (report.get("datasets") or {}).get(s, {}).get("used_memory")
        if mem:
            ax.axhline(mem / 1e6, color=COLORS[s], linestyle=":", alpha=0.6,
                       label=f"{s} used_memory before the fork")
    ax.set_xlabel("% of keys rewritten while the snapshot child runs")
    ax.set_ylabel("copy-on-write (MB, rdb_last_cow_size)")
    ax.set_title("copy-on-write bytes of a BGSAVE against the rewritten fraction")
    ax.set_xlim(-5, 105)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "cow.png")


def plot_recovery(report: dict, out_dir: str) -> Optional[str]:
    runs = report.get("runs") or []
    if not runs:
        return None
    plt = _plt()
    bases = report.get("bases") or []
    fig, axes = plt.subplots(1, 3 if bases else 2)
    servers, modes = _servers(runs), _modes(runs)
    width = 0.8 / max(1, len(servers))
    if bases:
        ax = axes[2]
        formats = ("rdb-preamble", "commands")
        for i, s in enumerate(_servers(bases)):
            xs, ys = [], []
            for j, f in enumerate(formats):
                b = next((b for b in bases if b["server"] == s and b["base"] == f), None)
                if b and b.get("load_s") is not None:
                    xs.append(j + (i - (len(_servers(bases)) - 1) / 2) * width)
                    ys.append(b["load_s"])
            ax.bar(xs, ys, width, color=COLORS[s], label=s)
        ax.set_xticks(range(len(formats)))
        ax.set_xticklabels(["RDB preamble", "commands"], fontsize=8)
        keys = bases[0].get("keys")
        ax.set_title(f"AOF base load (s), {keys:,} keys", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax, key, label, scale in ((axes[0], "recovery_s", "recovery after the crash (s)", 1.0),
                                  (axes[1], "files_bytes", "files at the crash (MB, temp incl.)", 1e-6)):
        for i, s in enumerate(servers):
            xs, ys = [], []
            for j, m in enumerate(modes):
                r = next((r for r in runs if r["server"] == s and r["mode"] == m), None)
                if r is None or r.get(key) is None:
                    continue
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(r[key] * scale)
            ax.bar(xs, ys, width, color=COLORS[s], label=s)
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels(modes, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "recovery.png")


def plot_incremental(report: dict, out_dir: str) -> Optional[str]:
    inc = report.get("incremental") or {}
    rows = inc.get("rows") or []
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots()
    xs = [r["value_bytes"] for r in rows]
    ax.plot(xs, [100 * r["break_even_fraction"] for r in rows], marker="o", color="#2ca02c",
            label="break-even: tracking costs more than it saves above this")
    ax.fill_between(xs, [100 * r["break_even_fraction"] for r in rows], 100, color="#d62728", alpha=0.08,
                    label="full snapshot cheaper")
    ax.fill_between(xs, 0, [100 * r["break_even_fraction"] for r in rows], color="#2ca02c", alpha=0.08,
                    label="incremental snapshot cheaper")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("value size (bytes, log scale)")
    ax.set_ylabel("% of keys changed between snapshots")
    ax.set_ylim(0, 100)
    ax.set_title(f"incremental snapshots: break-even at {inc.get('metadata_bytes_per_changed_key', 40)} B "
                 "metadata per changed key")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, out_dir, "incremental.png")


def write_all(report: dict, out_dir: str) -> list[str]:
    """Every plot the report has data for; the file names written."""
    names = []
    for fn in (plot_loss, plot_latency, plot_cow, plot_recovery, plot_incremental):
        name = fn(report, out_dir)
        if name:
            names.append(name)
    return names
