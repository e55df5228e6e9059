"""The lab's measurements, one function each, on servers started by ``servers``.

* ``loss_run``: a mode's acknowledged writes lost at kill -9 and at a power cut, its
  recovery time, file sizes and rewrite time;
* ``latency_run``: write latency while nothing, SAVE or BGSAVE runs, and fork time;
* ``cow_run``: copy-on-write bytes against the fraction of keys rewritten while the
  snapshot child runs.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import servers
from .client import ReplyError, RespClient, ServerGone, wait_until
from .timeline import (SYNC, FsEvent, build_post_cut, link_tree, read_trace, resolve_unfinished, sync_tree,
                       unsynced_name_changes)
from .workload import Workload, parse_write_key

Progress = Optional[Callable[[str], None]]


@dataclass
class AckLog:
    """Which writes were acknowledged, and when: writes are numbered from 0 and sent in
    order on one connection, so "acknowledged" is a prefix and one number says it."""

    ends: list[int] = field(default_factory=list)     # acknowledged count after each batch
    times: list[float] = field(default_factory=list)  # wall-clock time that batch was acknowledged

    @property
    def acked(self) -> int:
        return self.ends[-1] if self.ends else 0

    def record(self, end: int, t: float) -> None:
        self.ends.append(end)
        self.times.append(t)

    def ack_time(self, seq: int) -> float:
        return self.times[bisect.bisect_right(self.ends, seq)]

    def acked_after(self, t: float) -> int:
        """Writes acknowledged after wall-clock time ``t``."""
        i = bisect.bisect_right(self.times, t)
        before = self.ends[i - 1] if i else 0
        return self.acked - before


def write_batches(c: RespClient, wl: Workload, log: AckLog, seq: int, count: int, depth: int) -> int:
    """Send writes seq..seq+count in pipelined batches of ``depth``; every reply must be
    +OK. Returns the next seq."""
    end = seq + count
    while seq < end:
        n = min(depth, end - seq)
        c.send_raw(b"".join(wl.write_commands(seq, n)))
        for _ in range(n):
            reply = c.read_reply()
            if reply != b"OK":
                raise RuntimeError(f"write {seq} answered {reply!r}")
        seq += n
        log.record(seq, time.time())
    return seq


def _persistence(c: RespClient) -> dict[str, str]:
    return c.info("persistence")


def wait_bgsave_done(c: RespClient, timeout: float) -> dict[str, str]:
    return wait_until(lambda: (lambda p: p if p.get("rdb_bgsave_in_progress") == "0" else None)(_persistence(c)),
                      timeout, what="BGSAVE to finish")


def _fork_usec(c: RespClient) -> int:
    # Redis prints latest_fork_usec under INFO stats (the engine under both)
    return int(c.info("stats").get("latest_fork_usec", 0))


def folder_bytes(root: Path) -> dict[str, int]:
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            p = Path(folder) / n
            out[str(p.relative_to(root))] = p.stat().st_size
    return out


# ---------------------------------------------------------------------------------------
# recovery

@dataclass
class Recovery:
    started: bool
    recovered: int = 0              # acknowledged writes present
    lost: int = 0                   # acknowledged writes missing
    unacked_present: int = 0        # writes in flight at the crash that made it anyway
    first_lost: Optional[int] = None
    load_s: Optional[float] = None  # what the server logged for loading
    ready_s: float = 0.0            # spawn -> ready
    error: str = ""


def recover(kind: str, folder: Path, settings: dict, acked: int) -> Recovery:
    """Start a server on ``folder`` with the run's settings and count which acknowledged
    writes it has. A server that refuses to start recovered nothing."""
    try:
        srv = servers.start_server(kind, folder, settings)
    except RuntimeError as exc:
        lines = [ln for ln in str(exc).splitlines()[1:] if ln.strip()]
        return Recovery(False, lost=acked, first_lost=0 if acked else None,
                        error=(lines[-1] if lines else str(exc))[:300])
    try:
        with RespClient(srv.port) as c:
            keys = c.call("KEYS", "w:*")
        present = set()
        for k in keys:
            s = parse_write_key(k)
            if s is not None:
                present.add(s)
        recovered = sum(1 for s in present if s < acked)
        first_lost = next((s for s in range(acked) if s not in present), None)
        return Recovery(True, recovered, acked - recovered, len(present) - recovered, first_lost,
                        srv.load_seconds(), srv.ready_s)
    finally:
        srv.kill9()


# ---------------------------------------------------------------------------------------
# loss runs

@dataclass
class LossPlan:
    """How long the measured writes run. AOF modes write for ``rewrite_after_s``, start a
    BGREWRITEAOF while writing on, and keep writing ``tail_s`` after it finished, so that
    the crash finds a fresh base plus a tail of increments (what recovery loads). The rdb
    mode writes until the save point has produced a snapshot, then ``tail_s`` more (and
    at least ``phase_s`` in all): the crash then finds a snapshot and the writes after it.
    With ``crash_during_rewrite`` the appendfsync-always modes then start a second rewrite
    and crash while it runs."""

    preload_writes: int = 20_000
    phase_s: float = 3.0
    rewrite_after_s: float = 0.7
    tail_s: float = 1.5
    phase_writes: Optional[int] = None   # a fixed count instead of durations (tests)
    crash_during_rewrite: bool = True     # appendfsync always: crash while a second rewrite runs
    depth: int = 16
    save_seconds: int = 1
    seed: int = 11
    trace: bool = True
    timeout: float = 120.0


def _rewrite_done(c: RespClient) -> bool:
    p = _persistence(c)
    return p.get("aof_rewrite_in_progress") == "0" and p.get("aof_rewrite_scheduled") == "0"


class _SnapshotWatch:
    """Sees a snapshot that started after it was created finish, from INFO persistence
    polls. (``rdb_saves`` cannot say it: Redis counts a save when it starts, the engine
    when it ends.) A snapshot already running at the start was forked during the preload
    and is waited out first."""

    def __init__(self, p: dict) -> None:
        self.state = "old" if p.get("rdb_bgsave_in_progress") == "1" else "new"
        self.lastsave = p.get("rdb_last_save_time")

    def finished(self, p: dict) -> bool:
        running = p.get("rdb_bgsave_in_progress") == "1"
        if self.state == "old":
            if not running:
                self.state, self.lastsave = "new", p.get("rdb_last_save_time")
        elif self.state == "new":
            if running:
                self.state = "running"
            elif p.get("rdb_last_save_time") != self.lastsave:
                return True       # started and finished between two polls
        elif not running:
            return p.get("rdb_last_bgsave_status", "ok") == "ok" or self._again()
        return False

    def _again(self) -> bool:
        self.state = "new"        # a failed snapshot: wait for the next one
        return False


def _timed_phase(c: RespClient, wl: Workload, log: AckLog, seq: int, plan: LossPlan, aof: bool) -> tuple[int, Optional[float]]:
    """Write until ``tail_s`` after a persistence event: with an AOF, the end of a
    BGREWRITEAOF the lab starts after ``rewrite_after_s``; without, the end of a snapshot
    the save point starts during the phase (which lasts at least ``phase_s``). Returns the
    next seq and the rewrite time (BGREWRITEAOF sent -> finished, under the write load)."""
    start = time.monotonic()
    watch = None if aof else _SnapshotWatch(_persistence(c))
    end_at = None
    rewrite_started = rewrite_s = None
    last_check = start
    while True:
        seq = write_batches(c, wl, log, seq, plan.depth, plan.depth)
        now = time.monotonic()
        if aof and rewrite_started is None and now - start >= plan.rewrite_after_s:
            c.call("BGREWRITEAOF")
            rewrite_started = last_check = now
        elif end_at is None and now - last_check >= 0.05 and (rewrite_started is not None or not aof):
            last_check = now
            if aof and _rewrite_done(c):
                rewrite_s = now - rewrite_started
                end_at = now + plan.tail_s
            elif not aof and watch.finished(_persistence(c)):
                end_at = max(now + plan.tail_s, start + plan.phase_s)
            elif now - start > plan.timeout:
                raise TimeoutError("no rewrite or snapshot finished while writing")
        if end_at is not None and now >= end_at:
            return seq, rewrite_s


def _crash_into_rewrite(c: RespClient, wl: Workload, log: AckLog, seq: int, plan: LossPlan,
                        first_rewrite_s: float) -> tuple[int, bool]:
    """Start another BGREWRITEAOF and keep writing for a quarter of the time the first took,
    so that the crash comes while its child is writing the new base (the moment the
    manifest, the new incr file and the folder fsyncs have to be right). Returns the next
    seq and whether the rewrite was still running at the last look."""
    c.call("BGREWRITEAOF")
    started = time.monotonic()
    while time.monotonic() - started < first_rewrite_s / 4:
        seq = write_batches(c, wl, log, seq, plan.depth, plan.depth)
    in_flight = not _rewrite_done(c)
    return seq, in_flight


def loss_run(kind: str, mode: str, plan: LossPlan, work: Path, progress: Progress = None) -> dict:
    """One mode on one server: preload, write until the crash (rewriting the AOF on the
    way), kill -9 the server tree while a batch is in flight, then recover the files as
    the kill left them and as a power cut at the same moment would have left them."""
    say = progress or (lambda msg: None)
    data = work / "data"
    data.mkdir(parents=True)
    settings = servers.mode_settings(mode, plan.save_seconds)
    aof = settings["appendonly"] == "yes"
    tracing = plan.trace and servers.strace_usable()
    trace = work / "trace.txt" if tracing else None
    wl = Workload(seed=plan.seed)
    log = AckLog()
    row: dict = {"server": kind, "mode": mode, "settings": settings, "traced": tracing, "depth": plan.depth}
    say(f"{kind} {mode}: writing")
    srv = servers.start_server(kind, data, settings, trace_path=trace)
    try:
        c = RespClient(srv.port, timeout=plan.timeout)
        seq = write_batches(c, wl, log, 0, plan.preload_writes, 256)
        # Everything so far onto the disk (the lab's own fsync of the folder): the
        # power-cut model starts from a known durable state, as a server that has run
        # for a while has.
        sync_start = sync_tree(str(data))
        sync_end = time.time()
        phase_start = time.time()
        row["rewrite_s"] = None
        if plan.phase_writes is not None:
            half = plan.phase_writes // 2 if aof else plan.phase_writes
            seq = write_batches(c, wl, log, seq, half, plan.depth)
            if aof:
                t0 = time.perf_counter()
                c.call("BGREWRITEAOF")
                wait_until(lambda: _rewrite_done(c), plan.timeout, what="the AOF rewrite to finish")
                row["rewrite_s"] = time.perf_counter() - t0
                seq = write_batches(c, wl, log, seq, plan.phase_writes - half, plan.depth)
        else:
            seq, row["rewrite_s"] = _timed_phase(c, wl, log, seq, plan, aof)
            # Only the fsync-always modes crash into a rewrite: a rewrite fsyncs the log when
            # it starts, which would hide what everysec and no leave unsynced.
            if aof and plan.crash_during_rewrite and settings.get("appendfsync") == "always":
                seq, row["rewrite_in_flight_at_crash"] = _crash_into_rewrite(c, wl, log, seq, plan, row["rewrite_s"])
        # the crash: the next batch is on its way when the server dies
        c.send_raw(b"".join(wl.write_commands(seq, plan.depth)))
        kept = (link_tree(str(data), str(work / "kept")), str(work / "kept")) if tracing else None
        kill_t = srv.kill9()
        c.close()
    finally:
        srv.kill9()
    row["acked_writes"] = log.acked
    row["phase_s"] = kill_t - phase_start
    row["writes_per_s"] = (log.acked - plan.preload_writes) / max(1e-9, kill_t - phase_start)
    row["files"] = folder_bytes(data)
    row["files_bytes"] = sum(row["files"].values())

    say(f"{kind} {mode}: recovering after kill -9")
    kill_dir = work / "after-kill9"
    shutil.copytree(data, kill_dir)
    rk = recover(kind, kill_dir, settings, log.acked)
    row["lost_at_kill9"] = rk.lost
    row["recovery_s"] = rk.load_s if rk.load_s is not None else rk.ready_s
    # runs of different modes acknowledge different numbers of writes in the same time:
    # per-write figures compare them
    row["files_bytes_per_write"] = row["files_bytes"] / max(1, log.acked)
    row["recovery_us_per_write"] = 1e6 * row["recovery_s"] / max(1, log.acked)
    row["recovery"] = _recovery_dict(rk, log, kill_t)
    row["lost_at_power_cut"] = None
    if tracing:
        say(f"{kind} {mode}: rebuilding the files of a power cut")
        # a call the kill interrupted counts if the files it left say it happened
        traced = read_trace(trace, str(data), cwd=str(data))
        events = resolve_unfinished(traced)
        kept_ids = {id(e) for e in events}
        interrupted = [{"call": e.kind, "path": os.path.relpath(e.path, data.resolve()), "happened": id(e) in kept_ids}
                       for e in traced if e.unfinished]
        # what the server itself never made durable (the lab's own sync left out)
        row["unsynced_name_changes"] = unsynced_name_changes(events, str(data))
        events.append(FsEvent(sync_start, sync_end, 0, SYNC))
        events.sort(key=lambda e: e.start)
        cut_dir = work / "after-power-cut"
        pc = build_post_cut(events, kill_t, str(data), str(cut_dir), kept=kept)
        if pc.files == row["files"] and not pc.missing_content:
            rp = rk      # every byte was durable: the same files recover the same way
        else:
            rp = recover(kind, cut_dir, settings, log.acked)
        row["lost_at_power_cut"] = rp.lost
        row["power_cut"] = {**_recovery_dict(rp, log, kill_t), **pc.as_dict(),
                            "durable_point": _durable_point(pc, mode, kill_t),
                            "trace_events": len(events), "interrupted_calls": interrupted}
        row["power_cut"]["acked_after_durable_point"] = (
            log.acked_after(row["power_cut"]["durable_point"]) if row["power_cut"]["durable_point"] else None)
    row["snapshot_fork_before_kill"] = None
    if tracing and mode == "rdb":
        # the snapshot a kill -9 leaves was forked at this moment: every write acknowledged
        # after it must be lost, every one acknowledged before it kept
        t_fork = _last_snapshot_fork(events, data, kill_t)
        row["snapshot_fork_before_kill"] = t_fork
        row["recovery"]["acked_after_snapshot_fork"] = log.acked_after(t_fork) if t_fork else log.acked
    return row


def _recovery_dict(r: Recovery, log: AckLog, kill_t: float) -> dict:
    window = None
    if r.first_lost is not None:
        window = max(0.0, kill_t - (log.ack_time(r.first_lost - 1) if r.first_lost else log.times[0]))
    return {"started": r.started, "recovered": r.recovered, "lost": r.lost,
            "unacked_present": r.unacked_present, "first_lost": r.first_lost,
            "lost_window_s": window if r.lost else 0.0, "load_s": r.load_s, "ready_s": r.ready_s,
            "error": r.error}


def _durable_point(pc, mode: str, kill_t: float) -> Optional[float]:
    """The moment up to which the surviving files hold the writes: the fork of the
    surviving snapshot (rdb), or the entry of the last completed fsync of the newest
    AOF increment (aof modes)."""
    if mode == "rdb":
        pid = pc.creators.get("dump.rdb")
        return pc.forks.get(pid) if pid else None
    incrs = [rel for rel in pc.files if rel.endswith(".incr.aof")]
    if not incrs:
        return None
    newest = max(incrs, key=lambda r: int(r.rsplit(".", 3)[-3]) if r.rsplit(".", 3)[-3].isdigit() else 0)
    return pc.synced_at.get(newest) or None


def _last_snapshot_fork(events: list[FsEvent], data: Path, kill_t: float) -> Optional[float]:
    target = str(data / "dump.rdb")
    forks = {e.child: e.start for e in events if e.kind == "fork"}
    renames = [e for e in events if e.kind == "rename" and e.dest == target and e.end <= kill_t]
    if not renames:
        return None
    return forks.get(renames[-1].pid)


# ---------------------------------------------------------------------------------------
# latency during SAVE / BGSAVE

@dataclass
class LatencyPlan:
    keys: int = 50_000
    value_size: int = 100
    none_s: float = 1.0
    repeats: int = 2
    seed: int = 11
    timeout: float = 300.0


def preload(c: RespClient, wl: Workload, keys: int, value_size: int, generation: int = 0,
            start: int = 0, depth: int = 512) -> None:
    n = start
    end = start + keys
    while n < end:
        k = min(depth, end - n)
        c.send_raw(b"".join(wl.load_commands(n, k, value_size, generation)))
        for _ in range(k):
            r = c.read_reply()
            if r != b"OK":
                raise RuntimeError(f"preload answered {r!r}")
        n += k


def _probe(c: RespClient, cmd: bytes) -> float:
    t0 = time.perf_counter()
    c.send_raw(cmd)
    c.read_reply()
    return (time.perf_counter() - t0) * 1000.0


def summarize(samples: list[float]) -> dict:
    if not samples:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "samples": 0}
    s = sorted(samples)
    return {"p50_ms": _pct(s, 50), "p99_ms": _pct(s, 99), "max_ms": s[-1], "samples": len(s),
            "mean_ms": statistics.fmean(s)}


def _pct(sorted_samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_samples) - 1, math.ceil(p / 100.0 * len(sorted_samples)) - 1))
    return sorted_samples[k]


def latency_and_cow(kind: str, lat: LatencyPlan, cow: "CowPlan", work: Path, progress: Progress = None) -> dict:
    """One server, one preloaded keyspace: latency while nothing / SAVE / BGSAVE runs,
    fork times, then copy-on-write against the rewritten fraction."""
    say = progress or (lambda msg: None)
    data = work / "data"
    data.mkdir(parents=True)
    settings = servers.mode_settings("none", 1)
    srv = servers.start_server(kind, data, settings)
    wl = Workload(seed=lat.seed)
    out: dict = {"server": kind}
    try:
        c = RespClient(srv.port, timeout=lat.timeout)
        ctl = RespClient(srv.port, timeout=lat.timeout)
        say(f"{kind}: preloading {lat.keys:,} keys")
        preload(c, wl, lat.keys, lat.value_size)
        out["keys"] = lat.keys
        out["value_size"] = lat.value_size
        mem = c.info("memory")
        out["used_memory"] = int(mem.get("used_memory", 0))
        probe_cmds = wl.load_commands(0, 1, lat.value_size, generation=7)
        probe = probe_cmds[0]
        samples: dict[str, list[float]] = {"none": [], "save": [], "bgsave": []}
        say(f"{kind}: latency with nothing running")
        t_end = time.perf_counter() + lat.none_s
        while time.perf_counter() < t_end:
            samples["none"].append(_probe(c, probe))
        save_s, bgsave_s, fork_us = [], [], []
        for i in range(lat.repeats):
            say(f"{kind}: latency during SAVE ({i + 1}/{lat.repeats})")
            t0 = time.perf_counter()
            ctl.send("SAVE")
            while True:
                ms = _probe(c, probe)
                if ctl.reply_ready():
                    samples["save"].append(ms)   # this probe waited behind the SAVE
                    break
                samples["save"].append(ms)
            ctl.read_reply()
            save_s.append(time.perf_counter() - t0)
        for i in range(lat.repeats):
            say(f"{kind}: latency during BGSAVE ({i + 1}/{lat.repeats})")
            t0 = time.perf_counter()
            ctl.call("BGSAVE")
            last_check = 0.0
            while True:
                samples["bgsave"].append(_probe(c, probe))
                now = time.perf_counter()
                if now - last_check > 0.02:
                    last_check = now
                    p = _persistence(ctl)
                    if p.get("rdb_bgsave_in_progress") == "0":
                        break
                if now - t0 > lat.timeout:
                    raise TimeoutError("BGSAVE did not finish")
            bgsave_s.append(time.perf_counter() - t0)
            fork_us.append(_fork_usec(ctl))
        out["latency"] = [{"server": kind, "during": d, **summarize(v)} for d, v in samples.items()]
        out["save_s"] = save_s
        out["bgsave_s"] = bgsave_s
        out["fork_usec"] = fork_us
        out["rdb_bytes"] = (data / "dump.rdb").stat().st_size if (data / "dump.rdb").exists() else None
        out["cow"] = cow_series(kind, srv, c, ctl, wl, lat.keys, lat.value_size, cow, say)
        out["bases"] = rewrite_bases(kind, ctl, data, work, lat.keys, lat.timeout, say)
        c.close()
        ctl.close()
    finally:
        srv.kill9()
    return out


def rewrite_bases(kind: str, ctl: RespClient, data: Path, work: Path, keys: int, timeout: float, say) -> list[dict]:
    """The same keyspace rewritten twice by BGREWRITEAOF, as an RDB preamble and as
    commands, each loaded by a fresh server: the base size, rewrite time and load time
    of the two formats on identical data (the loss runs' bases differ in size)."""
    out = []
    for preamble in ("yes", "no"):
        label = "rdb-preamble" if preamble == "yes" else "commands"
        say(f"{kind}: AOF base as {label}")
        ctl.call("CONFIG", "SET", "aof-use-rdb-preamble", preamble)
        t0 = time.perf_counter()
        ctl.call("BGREWRITEAOF")
        wait_until(lambda: _rewrite_done(ctl), timeout, what="the AOF rewrite to finish")
        rewrite_s = time.perf_counter() - t0
        copy = work / f"base-{label}"
        shutil.copytree(data / "appendonlydir", copy / "appendonlydir")
        base = next((f for f in folder_bytes(copy) if ".base." in f), None)
        settings = {**servers.mode_settings("hybrid" if preamble == "yes" else "aof-always", 1)}
        r = recover_keys(kind, copy, settings)
        out.append({"server": kind, "base": label, "keys": keys, "rewrite_s": rewrite_s,
                    "base_bytes": folder_bytes(copy).get(base) if base else None,
                    "load_s": r["load_s"], "keys_loaded": r["keys"]})
    return out


def recover_keys(kind: str, folder: Path, settings: dict) -> dict:
    """Start a server on ``folder``: its logged load time and its key count."""
    srv = servers.start_server(kind, folder, settings)
    try:
        with RespClient(srv.port) as c:
            n = c.call("DBSIZE")
        return {"load_s": srv.load_seconds(), "keys": n}
    finally:
        srv.kill9()


# ---------------------------------------------------------------------------------------
# copy-on-write

@dataclass
class CowPlan:
    fractions: tuple = (0.0, 0.1, 0.5, 1.0)
    timeout: float = 300.0


def cow_series(kind: str, srv, c: RespClient, ctl: RespClient, wl: Workload, keys: int,
               value_size: int, plan: CowPlan, say) -> list[dict]:
    """For each fraction: BGSAVE, hold the child (SIGSTOP) so that it is certainly still
    running, rewrite that fraction of the keys in place (same sizes, new bytes), let the
    child go (SIGCONT) and read the copy-on-write size it reported (rdb_last_cow_size,
    the child's Private_Dirty at its end, as Redis measures it)."""
    out = []
    for gen, frac in enumerate(plan.fractions, start=1):
        say(f"{kind}: copy-on-write with {frac:.0%} of the keys rewritten")
        ctl.call("BGSAVE")
        children = srv.processes()
        child = next((p for p in children if p != srv.pid and p != srv.proc.pid), None)
        held = False
        if child is not None:
            try:
                os.kill(child, signal.SIGSTOP)
                held = True
            except OSError:
                held = False
        n = int(round(keys * frac))
        t0 = time.perf_counter()
        try:
            if n:
                preload(c, wl, n, value_size, generation=gen)
        finally:
            if held:
                try:
                    os.kill(child, signal.SIGCONT)
                except OSError:
                    pass
        rewrite_s = time.perf_counter() - t0
        p = wait_bgsave_done(ctl, plan.timeout)
        out.append({"server": kind, "rewritten_fraction": frac, "rewritten_keys": n,
                    "cow_bytes": int(p.get("rdb_last_cow_size", 0)), "child_held": held,
                    "rewrite_s": rewrite_s, "fork_usec": _fork_usec(ctl),
                    "bgsave_status": p.get("rdb_last_bgsave_status")})
    return out
