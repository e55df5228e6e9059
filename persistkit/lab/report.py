"""report.json: the measured rows, the checks of the claims, and the three pieces of
advice restated with the measured numbers (``verdicts``).

Schema (keys other tools may rely on; everything else is extra):

* ``runs``: ``{"server": "engine"|"redis", "mode", "acked_writes", "lost_at_kill9",
  "lost_at_power_cut", "recovery_s", "files_bytes"}`` per server and mode
  (``lost_at_power_cut`` is null when the timeline could not be traced);
* ``cow``: ``{"server", "rewritten_fraction", "cow_bytes"}``;
* ``latency``: ``{"server", "during": "none"|"save"|"bgsave", "p50_ms", "p99_ms", "max_ms"}``;
* ``verdicts``: strings.
"""

from __future__ import annotations

import os
from typing import Optional

SCHEMA_VERSION = 1
RUN_KEYS = ("server", "mode", "acked_writes", "lost_at_kill9", "lost_at_power_cut", "recovery_s", "files_bytes")
COW_KEYS = ("server", "rewritten_fraction", "cow_bytes")
LATENCY_KEYS = ("server", "during", "p50_ms", "p99_ms", "max_ms")
DURING = ("none", "save", "bgsave")

# "at most about one second": the everysec fsync runs once a second (bio thread / the
# engine's fsync worker), the fsync itself takes a while, and a write acknowledged just
# after an fsync started waits for the next one. Two seconds is that claim with room for
# one slow fsync on a shared disk.
EVERYSEC_WINDOW_S = 2.0

POWER_CUT_MODEL = (
    "strict POSIX: file data survives up to the last fsync/fdatasync of that file that returned before "
    "the cut (covering what was written before it was called); a create, rename or unlink survives once "
    "its folder was fsynced afterwards; the lab fsyncs the server's folder once before the measured "
    "writes start; pages the kernel might have written back on its own are counted as lost")


def validate(report: dict) -> list[str]:
    """Schema problems of a report (empty when it has every required key and type)."""
    problems = []
    for name, keys in (("runs", RUN_KEYS), ("cow", COW_KEYS), ("latency", LATENCY_KEYS)):
        rows = report.get(name)
        if not isinstance(rows, list):
            problems.append(f"{name}: not a list")
            continue
        for i, row in enumerate(rows):
            missing = [k for k in keys if k not in row]
            if missing:
                problems.append(f"{name}[{i}]: missing {', '.join(missing)}")
            if row.get("server") not in ("engine", "redis"):
                problems.append(f"{name}[{i}]: server {row.get('server')!r}")
    for i, row in enumerate(report.get("latency") or []):
        if row.get("during") not in DURING:
            problems.append(f"latency[{i}]: during {row.get('during')!r}")
    v = report.get("verdicts")
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        problems.append("verdicts: not a list of strings")
    return problems


def _row(runs, server, mode) -> Optional[dict]:
    return next((r for r in runs if r["server"] == server and r["mode"] == mode), None)


def _fmt_lost(n: Optional[int]) -> str:
    return "not measured" if n is None else f"{n:,}"


def _window(row: dict, failure: str) -> Optional[float]:
    part = row.get("recovery") if failure == "kill9" else row.get("power_cut")
    return part.get("lost_window_s") if part else None


def _secs(x: Optional[float]) -> str:
    return "n/a" if x is None else (f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s")


def _mb(n: Optional[int]) -> str:
    return "n/a" if n is None else f"{n / 1e6:.1f} MB"


def checks(runs: list[dict], servers: list[str]) -> list[dict]:
    """The claims the lab tests, each with ``holds`` (True / False / None = not measured)."""
    out = []

    def add(claim, holds, detail):
        out.append({"claim": claim, "holds": holds, "detail": detail})

    for mode in ("aof-always", "hybrid"):
        rows = [r for r in runs if r["mode"] == mode]
        if not rows:
            continue
        measured = [r for r in rows if r["lost_at_power_cut"] is not None]
        holds = all(r["lost_at_kill9"] == 0 for r in rows) and all(r["lost_at_power_cut"] == 0 for r in measured)
        add(f"{mode} (appendfsync always) loses no acknowledged write at kill -9 or at a power cut",
            holds if measured or not holds else None,
            "; ".join(f"{r['server']}: {r['lost_at_kill9']:,} / {_fmt_lost(r['lost_at_power_cut'])} of "
                      f"{r['acked_writes']:,}" for r in rows))
    rows = [r for r in runs if r["mode"] == "aof-everysec"]
    if rows:
        windows = [(r["server"], _window(r, "power_cut")) for r in rows]
        measured = [w for _, w in windows if w is not None]
        add(f"aof-everysec loses at most about one second of acknowledged writes at a power cut "
            f"(checked: <= {EVERYSEC_WINDOW_S:.0f} s) and none at kill -9",
            (all(w <= EVERYSEC_WINDOW_S for w in measured) and all(r["lost_at_kill9"] == 0 for r in rows))
            if measured else None,
            "; ".join(f"{s}: {_fmt_lost(r['lost_at_power_cut'])} writes = {_secs(w)}" for (s, w), r in zip(windows, rows)))
    rows = [r for r in runs if r["mode"] == "rdb"]
    if rows:
        parts, holds = [], True
        for r in rows:
            after = (r.get("recovery") or {}).get("acked_after_snapshot_fork")
            depth = r.get("depth", 16)
            if after is None:
                parts.append(f"{r['server']}: lost {r['lost_at_kill9']:,} (snapshot fork time not traced)")
                holds = holds and r["lost_at_kill9"] > 0
                continue
            ok = after - depth <= r["lost_at_kill9"] <= after
            holds = holds and ok
            parts.append(f"{r['server']}: lost {r['lost_at_kill9']:,}, acknowledged after the last snapshot's "
                         f"fork {after:,}")
        add("rdb loses the writes since the last save (exactly those acknowledged after the surviving "
            "snapshot's fork, up to one pipelined batch)", holds, "; ".join(parts))
    if len(servers) == 2:
        disagreements, compared = [], 0
        for mode in sorted({r["mode"] for r in runs}):
            e, rd = _row(runs, "engine", mode), _row(runs, "redis", mode)
            if not e or not rd:
                continue
            for key in ("lost_at_kill9", "lost_at_power_cut"):
                if e[key] is None or rd[key] is None:
                    continue
                compared += 1
                if (e[key] > 0) != (rd[key] > 0):
                    disagreements.append(f"{mode} {key}: engine {e[key]:,}, redis {rd[key]:,}")
        add("the engine and Redis agree on which modes lose acknowledged writes at each failure",
            (not disagreements) if compared else None,
            "; ".join(disagreements) if disagreements else f"{compared} mode/failure pairs agree")
    return out


def verdicts(runs: list[dict], latency: list[dict], settings: dict, bases: list[dict] = ()) -> list[str]:
    """The three pieces of advice, each restated with what was measured."""
    out = []
    save_s = settings.get("save_seconds")

    def per_server(fn) -> str:
        return "; ".join(f"{s}: {fn(s)}" for s in ("engine", "redis") if any(r["server"] == s for r in runs))

    if any(r["mode"] == "hybrid" for r in runs):
        def hybrid(s):
            h = _row(runs, s, "hybrid")
            text = (f"lost {h['lost_at_kill9']:,} of {h['acked_writes']:,} acknowledged writes at kill -9 and "
                    f"{_fmt_lost(h['lost_at_power_cut'])} at a power cut")
            rdb_base = next((b for b in bases if b["server"] == s and b["base"] == "rdb-preamble"), None)
            cmd_base = next((b for b in bases if b["server"] == s and b["base"] == "commands"), None)
            if rdb_base and cmd_base and rdb_base["load_s"] and cmd_base["load_s"] and cmd_base["base_bytes"]:
                ratio = cmd_base["load_s"] / rdb_base["load_s"]
                text += (f"; on the same {rdb_base['keys']:,} keys its RDB-preamble base was "
                         f"{100 * (1 - rdb_base['base_bytes'] / cmd_base['base_bytes']):.0f} % smaller than a command "
                         f"base and loaded in {_secs(rdb_base['load_s'])} against {_secs(cmd_base['load_s'])} "
                         + (f"({ratio:.1f}x faster)" if ratio >= 1 else f"({1 / ratio:.1f}x slower)"))
            return text
        out.append("Hybrid (RDB-preamble AOF with appendfsync always) when nothing may be lost: " + per_server(hybrid)
                   + ". Nothing acknowledged is lost because every write is fsynced before its reply; the preamble "
                   "makes the rewritten base smaller, and faster to load where the server decodes an RDB faster "
                   "than it replays commands.")
    if any(r["mode"] == "rdb" for r in runs):
        def rdb(s):
            r = _row(runs, s, "rdb")
            return (f"lost {r['lost_at_kill9']:,} of {r['acked_writes']:,} acknowledged writes at kill -9 "
                    f"({_secs(_window(r, 'kill9'))} of writes) and {_fmt_lost(r['lost_at_power_cut'])} at a power cut")
        out.append(f"RDB alone when minutes of loss are acceptable: with save point \"{save_s} 1\", " + per_server(rdb)
                   + ". It loses every write since the fork of the last snapshot that finished, so the window is "
                   "the save interval plus the time a snapshot takes: with save points of minutes, minutes of writes.")
    if any(r["mode"] == "aof-everysec" for r in runs):
        def everysec(s):
            r = _row(runs, s, "aof-everysec")
            return (f"lost {r['lost_at_kill9']:,} at kill -9 and {_fmt_lost(r['lost_at_power_cut'])} of "
                    f"{r['acked_writes']:,} at a power cut ({_secs(_window(r, 'power_cut'))} of writes)")
        extra = ""
        no = [r for r in runs if r["mode"] == "aof-no" and r["lost_at_power_cut"] is not None]
        if no:
            extra = (" For comparison appendfsync no lost "
                     + ", ".join(f"{r['lost_at_power_cut']:,} ({r['server']})" for r in no)
                     + " at the power cut: everything since its last rewrite.")
        out.append("AOF alone with appendfsync everysec: " + per_server(everysec)
                   + ". A kill -9 loses nothing (the kernel keeps what was written); a power cut loses what the "
                   "last once-a-second fsync had not yet covered." + extra)
    lat = {(r["server"], r["during"]): r for r in latency}
    if lat:
        def blocking(s):
            sv, bg, none = lat.get((s, "save")), lat.get((s, "bgsave")), lat.get((s, "none"))
            if not sv or not bg or not none or sv["max_ms"] is None:
                return "not measured"
            return (f"write latency max {sv['max_ms']:.0f} ms during SAVE, p99 {bg['p99_ms']:.1f} ms / max "
                    f"{bg['max_ms']:.1f} ms during BGSAVE, p99 {none['p99_ms']:.2f} ms with nothing running")
        out.append("SAVE blocks, BGSAVE does not: " + per_server(blocking) + ".")
    return out


def durability_findings(runs: list[dict]) -> list[str]:
    """Name changes a server never made durable itself (from its traced timeline, the lab's
    own sync left out), temp files aside: under strict POSIX a power cut could undo them."""
    seen: dict[tuple, list[str]] = {}
    for r in runs:
        for u in r.get("unsynced_name_changes") or []:
            if os.path.basename(u["path"]).startswith("temp-"):
                continue
            seen.setdefault((r["server"], u["op"], u["path"]), []).append(r["mode"])
    words = {"mkdir": "created the folder", "name": "created or renamed", "remove": "removed"}
    return [f"{server} {words.get(op, op)} {path} and never fsynced the folder holding it "
            f"(modes: {', '.join(modes)}): a power cut before anything else syncs that folder could undo it"
            for (server, op, path), modes in sorted(seen.items())]


def public_rows(rows: list[dict], keys: tuple) -> list[dict]:
    """Rows with the schema keys first, extras after (everything JSON-able)."""
    out = []
    for r in rows:
        d = {k: r.get(k) for k in keys}
        d.update({k: v for k, v in r.items() if k not in d})
        out.append(d)
    return out
