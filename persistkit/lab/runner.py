"""Runs the whole lab and writes its outputs.

The engine and Redis run the same step one after the other (engine rdb, Redis rdb,
engine aof-always, ...), so that both sides of a comparison ran under the same load.
Everything runs in one temporary folder, removed at the end; every server started is
killed in ``finally`` (Ctrl-C included).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from . import experiments, incremental, report as rep, servers
from .experiments import CowPlan, LatencyPlan, LossPlan


@dataclass
class LabPlan:
    quick: bool = True
    modes: tuple = servers.MODES
    servers: tuple = (servers.ENGINE, servers.REDIS)
    loss: LossPlan = field(default_factory=LossPlan)
    latency: LatencyPlan = field(default_factory=LatencyPlan)
    cow: CowPlan = field(default_factory=CowPlan)
    incremental: bool = True
    scale: float = 1.0

def quick_plan(seed: int = 11) -> LabPlan:
    return LabPlan(quick=True,
                   loss=LossPlan(preload_writes=4_000, phase_s=1.5, rewrite_after_s=0.4, tail_s=1.15, depth=16,
                                 save_seconds=1, seed=seed),
                   latency=LatencyPlan(keys=10_000, value_size=100, none_s=0.4, repeats=1, seed=seed))


def full_plan(seed: int = 11) -> LabPlan:
    return LabPlan(quick=False,
                   loss=LossPlan(preload_writes=100_000, phase_s=12.0, rewrite_after_s=4.0, tail_s=3.0, depth=16,
                                 save_seconds=3, seed=seed),
                   latency=LatencyPlan(keys=200_000, value_size=100, none_s=2.0, repeats=4, seed=seed))


def scaled(plan: LabPlan, factor: float) -> LabPlan:
    """The plan with its key counts and durations multiplied by ``factor`` (a smoke run
    at 0.05; the save interval and the fsync policies do not scale)."""
    if factor == 1.0:
        return plan
    loss, lat = plan.loss, plan.latency
    return replace(plan,
                   scale=factor,
                   loss=replace(loss, preload_writes=max(16, int(loss.preload_writes * factor)),
                                phase_s=loss.phase_s * factor, rewrite_after_s=loss.rewrite_after_s * factor,
                                tail_s=loss.tail_s * factor),
                   latency=replace(lat, keys=max(64, int(lat.keys * factor)), none_s=max(0.05, lat.none_s * factor)))


class LabError(Exception):
    """The lab could not run (the engine did not start or stalled)."""


class Progress:
    """What the lab reports while it runs: ``total`` steps, a message per sub-step."""

    def __init__(self, on_message: Optional[Callable[[str], None]] = None,
                 on_step: Optional[Callable[[], None]] = None) -> None:
        self.on_message = on_message or (lambda msg: None)
        self.on_step = on_step or (lambda: None)
        self.total = 0


def available_servers(requested) -> tuple[list[str], list[str]]:
    """The servers that can run, and notes on those that cannot."""
    ok, notes = [], []
    for s in requested:
        if s == servers.REDIS and servers.redis_binary() is None:
            notes.append("redis-server is not on PATH: only the engine was measured")
            continue
        ok.append(s)
    return ok, notes


def step_count(plan: LabPlan, kinds: list[str]) -> int:
    return len(kinds) * (len(plan.modes) + 1) + (1 if plan.incremental else 0)


def run_lab(plan: LabPlan, progress: Optional[Progress] = None, *, workroot: Optional[str] = None) -> dict:
    progress = progress or Progress()
    kinds, notes = available_servers(plan.servers)
    progress.total = step_count(plan, kinds)
    started = time.time()
    load_start = list(os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="persistkit-lab-", dir=workroot))
    runs, latency, cow, bases, datasets = [], [], [], [], {}
    tracing = plan.loss.trace and servers.strace_usable()
    if plan.loss.trace and not tracing:
        notes.append("strace is not usable here (missing, or ptrace not permitted): the power-cut losses "
                     "were not measured")
    failed: set[str] = set()

    def guarded_step(kind, what, fn):
        """A server that cannot start or stalls is reported and left out of the remaining
        steps (a redis-server too old for the settings, say); the engine failing is fatal."""
        try:
            return fn()
        except (RuntimeError, TimeoutError, OSError) as exc:
            if kind == servers.ENGINE:
                raise LabError(f"the engine failed during {what}: {exc}") from None
            failed.add(kind)
            first = str(exc).strip().splitlines()
            notes.append(f"{kind} failed during {what} and was left out of the rest: "
                         f"{' / '.join(first[-3:]) if first else type(exc).__name__}")
            return None

    try:
        for mode in plan.modes:
            for kind in kinds:
                if kind in failed:
                    progress.on_step()
                    continue
                t0 = time.perf_counter()
                row = guarded_step(kind, f"the {mode} run", lambda: experiments.loss_run(
                    kind, mode, plan.loss, tmp / kind / mode, progress.on_message))
                if row is not None:
                    row["elapsed_s"] = round(time.perf_counter() - t0, 2)
                    runs.append(row)
                progress.on_step()
        for kind in kinds:
            if kind in failed:
                progress.on_step()
                continue
            t0 = time.perf_counter()
            lc = guarded_step(kind, "the latency and copy-on-write runs", lambda: experiments.latency_and_cow(
                kind, plan.latency, plan.cow, tmp / kind / "latency", progress.on_message))
            if lc is None:
                progress.on_step()
                continue
            lc["elapsed_s"] = round(time.perf_counter() - t0, 2)
            latency += lc.pop("latency")
            cow += lc.pop("cow")
            bases += lc.pop("bases")
            datasets[kind] = lc
            progress.on_step()
        inc = {}
        if plan.incremental:
            progress.on_message("incremental-snapshot table")
            inc = incremental.table(cow_per_key=_cow_per_key(cow))
            progress.on_step()
    finally:
        servers.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return assemble(plan, kinds, runs, latency, cow, bases, datasets, inc, notes, started, load_start)


def _cow_per_key(cow: list[dict]) -> dict:
    """Copy-on-write bytes per rewritten key, from the 0 % and 100 % points."""
    out = {}
    for s in {r["server"] for r in cow}:
        pts = {r["rewritten_fraction"]: r for r in cow if r["server"] == s}
        if 0.0 in pts and 1.0 in pts and pts[1.0]["rewritten_keys"]:
            out[s] = round((pts[1.0]["cow_bytes"] - pts[0.0]["cow_bytes"]) / pts[1.0]["rewritten_keys"], 1)
    return out


def _versions(kinds) -> dict:
    from .. import __version__
    from ..accel import active

    out = {}
    if servers.ENGINE in kinds:
        out[servers.ENGINE] = {"version": f"persistkit {__version__}", "accelerator": active()}
    if servers.REDIS in kinds:
        binary = servers.redis_binary()
        out[servers.REDIS] = {"version": servers.redis_version(binary), "binary": binary}
    return out


def assemble(plan, kinds, runs, latency, cow, bases, datasets, inc, notes, started, load_start) -> dict:
    settings = {"modes": list(plan.modes), "save_seconds": plan.loss.save_seconds, "scale": plan.scale,
                "loss": asdict(plan.loss), "latency": asdict(plan.latency), "cow": asdict(plan.cow),
                "mode_settings": {m: servers.mode_settings(m, plan.loss.save_seconds) for m in plan.modes}}
    checks = rep.checks(runs, kinds)
    verdicts = rep.verdicts(runs, latency, settings, bases)
    fork = [{"server": k, "fork_usec": d.get("fork_usec"), "keys": d.get("keys"), "used_memory": d.get("used_memory")}
            for k, d in datasets.items()]
    rewrite = [{"server": r["server"], "mode": r["mode"], "rewrite_s": r["rewrite_s"]} for r in runs
               if r.get("rewrite_s") is not None]
    notes = list(notes) + [
        "kill -9 kills the server and its fork children at the same instant; the files are then as the "
        "kernel holds them (every write kept). aof-always and hybrid crash while a second BGREWRITEAOF "
        "runs (rewrite_in_flight_at_crash says whether it was still running at the last look); everysec "
        "and no crash after a steady tail of writes (a rewrite fsyncs the log when it starts, which would "
        "hide what they leave unsynced).",
        "Power cut: the server runs under strace (-f -ttt -T -y) during its loss run; the files a cut at the "
        "kill moment leaves are rebuilt from that timeline and loaded by the same server. strace slows the "
        "server (see writes_per_s); latency and copy-on-write runs are not traced.",
        "Copy-on-write: after BGSAVE the child is held (SIGSTOP) while the parent rewrites the fraction, then "
        "released, so that every rewrite lands while the child runs; the figure is the child's own report "
        "(rdb_last_cow_size).",
        "recovery_s is the load time the restarted server logs ('DB loaded from ...'), the time from start to "
        "ready when it logs none (an empty start).",
    ]
    return {
        "schema": rep.SCHEMA_VERSION,
        "tool": "persistkit lab",
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "quick": plan.quick,
        "duration_s": round(time.time() - started, 1),
        "servers": _versions(kinds),
        "environment": {"cores": os.cpu_count(), "load_average_start": [round(x, 2) for x in load_start],
                        "load_average_end": [round(x, 2) for x in os.getloadavg()],
                        "python": sys.version.split()[0], "platform": sys.platform,
                        "strace": servers.strace_usable()},
        "settings": settings,
        "power_cut_model": rep.POWER_CUT_MODEL,
        "runs": rep.public_rows(runs, rep.RUN_KEYS),
        "cow": rep.public_rows(cow, rep.COW_KEYS),
        "latency": rep.public_rows(latency, rep.LATENCY_KEYS),
        "fork": fork,
        "rewrite": rewrite,
        "bases": bases,
        "datasets": datasets,
        "incremental": inc,
        "checks": checks,
        "durability_findings": rep.durability_findings(runs),
        "verdicts": verdicts,
        "notes": notes,
        "plots": [],
    }


def write_outputs(report: dict, out_dir: str) -> list[str]:
    """PNGs (when matplotlib is installed), report.json and index.html into ``out_dir``
    (each written to a temp file, fsynced, renamed). Returns the names written."""
    from ..kvencoding.fileio import atomic_output
    from . import html, plots

    os.makedirs(out_dir, exist_ok=True)
    names = []
    if plots.available():
        report["plots"] = plots.write_all(report, out_dir)
        names += report["plots"]
    else:
        report.setdefault("notes", []).append("matplotlib is not installed (pip install 'persistkit[lab]'): no plots")
    with atomic_output(os.path.join(out_dir, "report.json")) as fh:
        fh.write(json.dumps(report, indent=2, default=_json_default).encode() + b"\n")
    with atomic_output(os.path.join(out_dir, "index.html")) as fh:
        fh.write(html.render(report).encode())
    return names + ["report.json", "index.html"]


def _json_default(o):
    if isinstance(o, (bytes, bytearray)):
        return o.decode("utf-8", "replace")
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
