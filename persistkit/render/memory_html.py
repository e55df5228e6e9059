"""``memory --format html``: one self-contained HTML file (inline CSS and SVG, no script,
nothing fetched from the network) with a treemap of the key prefixes by memory and the
summary tables. Hover a rectangle for its prefix, key count and bytes."""

from __future__ import annotations

import html
from typing import Iterable

WIDTH = 1100
HEIGHT = 560
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _label(prefix) -> str:
    if prefix is None:
        return "(other)"
    if isinstance(prefix, dict):
        return "hex:" + prefix.get("hex", "")[:40]
    return str(prefix)


def _squarify(values: list[float], x: float, y: float, w: float, h: float) -> list[tuple]:
    """Rectangles (x, y, w, h) for ``values`` (sorted, biggest first) filling the box,
    kept close to square (Bruls, Huizing and van Wijk's squarified layout)."""
    out: list[tuple] = []
    total = sum(values)
    if total <= 0 or w <= 0 or h <= 0:
        return [(x, y, 0.0, 0.0) for _ in values]
    scale = w * h / total
    areas = [v * scale for v in values]
    i = 0
    while i < len(areas):
        short = min(w, h)
        row = [areas[i]]
        i += 1

        def worst(r):
            s = sum(r)
            return max(max(s * s / (short * short * a), short * short * a / (s * s)) for a in r) if s else 0

        while i < len(areas) and worst(row + [areas[i]]) <= worst(row):
            row.append(areas[i])
            i += 1
        s = sum(row)
        if w >= h:   # a column on the left
            cw = s / h if h else 0
            cy = y
            for a in row:
                ch = a / cw if cw else 0
                out.append((x, cy, cw, ch))
                cy += ch
            x += cw
            w -= cw
        else:        # a row on top
            rh = s / w if w else 0
            cx = x
            for a in row:
                cwid = a / rh if rh else 0
                out.append((cx, y, cwid, rh))
                cx += cwid
            y += rh
            h -= rh
    return out


def _treemap(nodes: list[dict], total: int) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="key prefixes by memory">']
    shown = [n for n in nodes if n["size"] > 0]
    rest = total - sum(n["size"] for n in shown)
    items = shown + ([{"prefix": "(keys without a prefix)", "size": rest, "keys": None, "children": []}]
                     if rest > 0 else [])
    items.sort(key=lambda n: -n["size"])
    for i, (node, (x, y, w, h)) in enumerate(zip(items, _squarify([n["size"] for n in items],
                                                                    0, 0, WIDTH, HEIGHT))):
        color = PALETTE[i % len(PALETTE)]
        name = _label(node["prefix"]) if not node.get("other") else "(other prefixes)"
        keys = "" if node.get("keys") is None else f", {node['keys']:,} keys"
        tip = html.escape(f"{name}: {_size(node['size'])}{keys} ({100.0 * node['size'] / total:.1f}%)")
        parts.append(f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                     f'height="{h:.1f}" fill="{color}" stroke="#fff" stroke-width="2"/></g>')
        kids = [c for c in node.get("children", []) if c["size"] > 0]
        if kids and w > 40 and h > 30:
            pad = 3
            inner = _squarify([c["size"] for c in kids] + [max(0, node["size"] - sum(c["size"] for c in kids))],
                              x + pad, y + 18, w - 2 * pad, h - 18 - pad)
            for c, (cx, cy, cw, ch) in zip(kids, inner):
                cname = _label(c["prefix"]) if not c.get("other") else "(other)"
                ctip = html.escape(f"{cname}: {_size(c['size'])}, {c['keys']:,} keys")
                parts.append(f'<g><title>{ctip}</title><rect x="{cx:.1f}" y="{cy:.1f}" '
                             f'width="{cw:.1f}" height="{ch:.1f}" fill="{color}" fill-opacity="0.55" '
                             f'stroke="#fff" stroke-width="1"/>')
                if cw > 60 and ch > 14:
                    parts.append(f'<text x="{cx + 3:.1f}" y="{cy + 12:.1f}" font-size="10" '
                                 f'fill="#111">{html.escape(cname[: int(cw / 6)])}</text>')
                parts.append("</g>")
        if w > 50 and h > 16:
            parts.append(f'<text x="{x + 4:.1f}" y="{y + 13:.1f}" font-size="12" font-weight="bold" '
                         f'fill="#fff">{html.escape(name[: int(w / 7)])} {html.escape(_size(node["size"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(title: str, header: Iterable[str], rows: Iterable[Iterable]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _prefix_rows(nodes, depth=0, out=None, limit=200):
    out = [] if out is None else out
    for n in nodes:
        if len(out) >= limit:
            break
        name = "(other)" if n.get("other") else _label(n["prefix"])
        out.append(("\u00a0\u00a0" * depth + name, f"{n['keys']:,}", _size(n["size"]), n["size"]))
        _prefix_rows(n["children"], depth + 1, out, limit)
    return out


def render_html(doc: dict) -> str:
    total = doc["size"] or 0
    pct = (lambda n: f"{100.0 * n / total:.1f}%") if total else (lambda n: "-")
    files = _table("Files", ("file", "RDB", "keys", "memory", "problem"),
                   [(f["path"], f"{f.get('magic') or '?'} {f.get('version') or ''}", f"{f['keys']:,}",
                     _size(f["size"]), f.get("error") or "") for f in doc["files"]])
    types = _table("By type and encoding (as a loading server holds them)",
                   ("type", "encoding", "keys", "elements", "memory", "share"),
                   [(r["type"], r["encoding"], f"{r['keys']:,}", f"{r['elements']:,}", _size(r["size"]),
                     pct(r["size"])) for r in doc["by_type"]])
    dbs = _table("By database", ("db", "keys", "with TTL", "memory"),
                 [(r["db"], f"{r['keys']:,}", f"{r['expires']:,}", _size(r["size"])) for r in doc["by_db"]])
    prefixes = _table(f"Key prefixes (depth {doc['prefix_depth']})", ("prefix", "keys", "memory", "share"),
                      [(a, b, c, pct(d)) for a, b, c, d in _prefix_rows(doc["prefixes"])])
    top = _table(f"Biggest keys (top {len(doc['top'])})",
                 ("file", "db", "key", "type", "encoding", "elements", "memory"),
                 [(t["file"], t["db"], _label(t["key"]), t["type"], t["encoding"], f"{t['elements']:,}",
                   _size(t["size"])) for t in doc["top"]])
    th = doc.get("thresholds") or {}
    limits = ", ".join(f"{k} {v}" for k, v in th.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>persistkit memory report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 18px; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }}
td:nth-child(n+3) {{ text-align: right; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 22px; }}
.note {{ color: #666; font-size: 12px; }}
svg text {{ pointer-events: none; font-family: system-ui, sans-serif; }}
</style></head><body>
<h1>Memory of {doc['keys']:,} keys: {_size(total)} estimated</h1>
<p class="note">{html.escape(doc['model'])}; {html.escape(limits)}. Sizes are what
<code>MEMORY USAGE key SAMPLES 0</code> reports plus the expires-dict entry of keys with a TTL.
{len(doc['files'])} file(s), {doc['expires']:,} keys with a TTL.</p>
<h2>Key prefixes by memory</h2>
{_treemap(doc['prefixes'], total)}
{files}{types}{dbs}{prefixes}{top}
</body></html>
"""
