#!/usr/bin/env python3
"""Engine benchmarks: the persistkit engine against a real redis-server 7.0.15.

1. redis-benchmark (SET GET INCR LPUSH HSET ZADD; -c 50 -r 100000; without and with -P 16)
   against the engine (compiled and pure-Python path) and redis-server in one run: ops/s and
   the ratio engine / Redis (targets with -P 16: >= 50%, ZADD >= 35%; without pipelining the
   compiled path no slower than the pure one).
2. Write latency (one client doing SET in a loop, each round trip timed) p50/p99/max
   while SAVE runs vs while BGSAVE runs, on a 1M-key keyspace; also with nothing running.
3. Copy-on-write: INFO persistence rdb_last_cow_size after a BGSAVE during whose child
   0%, 10% and 50% of the keys were rewritten (the share actually rewritten before the
   child ended is reported: the writer cannot outrun a child that finishes first).

  python3 bench/run_engine.py [--only throughput latency cow] [--servers engine engine-pure redis] [--no-results]
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

TESTS = "set,get,incr,lpush,hset,zadd"
NKEYS = 1_000_000
VALUE = 100                      # bytes per value in the 1M-key keyspace


class EngineProc(H.RedisProc):
    """`persistkit engine serve` started like a redis-server (same port/dir handling, stopped by pid).
    ``pure=True`` runs it on the pure-Python path (PERSISTKIT_PUREPYTHON=1)."""

    def __init__(self, workdir: Path, port: int | None = None, pure: bool = False):
        super().__init__(workdir, binary=H.persistkit_exe() or "persistkit", port=port)
        self.env = dict(os.environ, PERSISTKIT_PUREPYTHON="1") if pure else None

    def args(self) -> list[str]:
        return [self.binary, "engine", "serve", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "", "--appendonly", "no"]

    def start(self, wait_loaded=True, timeout=120):
        self.t_start = time.perf_counter()
        self.log = open(self.workdir / "engine.log", "wb")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        H._STARTED.append(self.proc)
        self.wait_ready(wait_loaded, timeout)
        return self

    def log_tail(self, n=20):
        try:
            return "\n".join((self.workdir / "engine.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def make_server(kind: str) -> H.RedisProc:
    work = H.OUT / f"engine-bench-{kind}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if kind in ("engine", "engine-pure"):
        return EngineProc(work, pure=kind == "engine-pure")
    return H.RedisProc(work)


def start_server(kind: str):
    """``make_server(kind)`` started, or None (said on stdout) when it cannot start."""
    srv = make_server(kind)
    try:
        srv.start()
    except Exception as e:
        print(f"  {kind}: not available ({e})")
        return None
    return srv


def server_rss_mb(srv: H.RedisProc) -> float:
    try:
        for line in open(f"/proc/{srv.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ------------------------------------------------------------------ 1. throughput

def redis_benchmark(port: int, pipeline: int, n: int) -> dict[str, float]:
    cmd = [H.REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(port), "-t", TESTS, "-n", str(n),
           "-r", "100000", "-c", "50", "-P", str(pipeline), "--csv", "-q"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    out = {}
    for row in csv.reader(io.StringIO(p.stdout)):
        if len(row) >= 2 and row[0] != "test":
            try:
                out[row[0].split()[0]] = float(row[1])
            except ValueError:
                pass
    return out


# -P 16 targets: engine (compiled path) ops/s as a share of redis-server's; without pipelining
# the compiled path must be no slower than the pure one.
PIPELINED_TARGET = {"ZADD": 0.35}
PIPELINED_TARGET_DEFAULT = 0.50


def throughput(servers: list[str], n_plain: int, n_pipe: int, repeat: int = 2):
    """Every server runs, in turn, the same redis-benchmark invocation (all servers up at
    once, so a change of load hits them alike); the whole round is repeated and the best
    ops/s of each cell kept."""
    res: dict[tuple[str, int], dict] = {}
    rss = {}
    procs = {}
    try:
        for kind in servers:
            srv = start_server(kind)
            if srv is not None:
                procs[kind] = srv
        for _ in range(repeat):
            for P, n in ((1, n_plain), (16, n_pipe)):
                for kind, srv in procs.items():
                    print(f"  redis-benchmark -P {P} -n {n} against {kind}", flush=True)
                    got = redis_benchmark(srv.port, P, n)
                    best = res.setdefault((kind, P), {})
                    for t, v in got.items():
                        best[t] = max(best.get(t, 0.0), v)
                    srv.client().flushall()
        for kind, srv in procs.items():
            rss[kind] = server_rss_mb(srv)
    finally:
        for srv in procs.values():
            srv.stop()
    rows = []
    for P in (1, 16):
        for t in TESTS.upper().split(","):
            e = res.get(("engine", P), {}).get(t)
            ep = res.get(("engine-pure", P), {}).get(t)
            r = res.get(("redis", P), {}).get(t)
            ratio = e / r if e and r else None
            pure_ratio = ep / r if ep and r else None
            vs_pure = e / ep if e and ep else None
            if P == 16:
                goal = PIPELINED_TARGET.get(t, PIPELINED_TARGET_DEFAULT)
                target = f">= {goal * 100:.0f}% of redis"
                status = ("met" if ratio >= goal else "MISSED") if ratio else "n/a"
            else:
                target = "compiled >= pure"
                status = ("met" if vs_pure >= 0.95 else "MISSED") if vs_pure else "n/a"
            rows.append([t, P, H.fmt(e, 0), H.fmt(ep, 0), H.fmt(r, 0),
                         f"{ratio * 100:.0f}%" if ratio else "–",
                         f"{pure_ratio * 100:.0f}%" if pure_ratio else "–",
                         f"{vs_pure:.2f}x" if vs_pure else "–", target, status])
    return rows, rss


# ------------------------------------------------------------------ 2. latency during SAVE / BGSAVE

def populate(srv: H.RedisProc, nkeys: int | None = None, salt: bytes = b"a"):
    nkeys = nkeys or NKEYS
    load = H.Loader([srv], batch_cmds=200)
    val = (salt * VALUE)[:VALUE]
    for start in range(0, nkeys, 100):
        args = [b"MSET"]
        for i in range(start, min(start + 100, nkeys)):
            args += [b"key:%d" % i, val]
        load.add(*args)
    load.close()


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency_window(srv: H.RedisProc, op: str | None, idle_seconds: float = 3.0) -> dict:
    """Latencies (ms) of SETs whose round trip overlaps the window of `op` (SAVE / BGSAVE / None)."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    wc = srv.client()
    val = b"w" * VALUE

    def writer():
        i = 0
        pc = time.perf_counter
        while not stop.is_set():
            t = pc()
            wc.set(b"lat:%d" % (i % 10000), val)
            samples.append((t, pc() - t))
            i += 1

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    time.sleep(0.5)                 # writer warmed up before the window opens
    c = srv.client()
    t0 = time.perf_counter()
    if op == "SAVE":
        c.execute_command("SAVE")
    elif op == "BGSAVE":
        c.execute_command("BGSAVE")
        while int(c.info("persistence")["rdb_bgsave_in_progress"]):
            time.sleep(0.05)        # polling another process's state, not test synchronisation
    else:
        time.sleep(idle_seconds)
    t1 = time.perf_counter()
    stop.set()
    th.join()
    fork_us = int(c.info("stats").get("latest_fork_usec", 0)) if op == "BGSAVE" else None
    lat = [l * 1000 for t, l in samples if t <= t1 and t + l >= t0]
    return {"op": op or "nothing", "window_s": t1 - t0, "n": len(lat), "p50": pct(lat, 0.50),
            "p99": pct(lat, 0.99), "max": max(lat) if lat else None,
            "fork_ms": fork_us / 1000 if fork_us is not None else None}


def latency(servers: list[str]):
    rows = []
    for kind in servers:
        srv = start_server(kind)
        if srv is None:
            continue
        try:
            t = time.time()
            populate(srv)
            print(f"  {kind}: {NKEYS:,} keys loaded in {time.time() - t:.0f}s", flush=True)
            for op in (None, "SAVE", "BGSAVE"):
                print(f"  {kind}: latency during {op or 'nothing'}", flush=True)
                d = latency_window(srv, op)
                rows.append([kind, d["op"], H.fmt(d["window_s"], 2), d["n"], H.fmt(d["p50"], 3),
                             H.fmt(d["p99"], 3), H.fmt(d["max"], 1), H.fmt(d["fork_ms"], 1)])
            rows[-1].append(f"server peak RSS {server_rss_mb(srv):,.0f} MB")
        finally:
            srv.stop()
    return rows


# ------------------------------------------------------------------ 3. COW

def cow(servers: list[str], redis_delay_us: int):
    rows = []
    for kind in servers:
        srv = start_server(kind)
        if srv is None:
            continue
        try:
            populate(srv)
            c = srv.client()
            if kind == "redis" and redis_delay_us:
                # stretch the child's life so that the writer can rewrite 50% of keys during it
                c.config_set("rdb-key-save-delay", str(redis_delay_us))
            for share in (0.0, 0.10, 0.50):
                target = int(NKEYS * share)
                salt = b"bcd"[int(share * 10) % 3:][:1]
                val = salt * VALUE
                t0 = time.perf_counter()
                c.execute_command("BGSAVE")
                done = 0
                load = H.Loader([srv], batch_cmds=50)
                alive = True
                while done < target:
                    args = [b"MSET"]
                    for i in range(done, min(done + 100, target)):
                        args += [b"key:%d" % i, val]
                    load.add(*args)
                    done = min(done + 100, target)
                    if done % 10_000 == 0:
                        load.flush()
                        if not int(c.info("persistence")["rdb_bgsave_in_progress"]):
                            alive = False
                            break
                load.close()
                info = srv.wait_bg_done("rdb")
                t1 = time.perf_counter()
                cow_b = int(info.get("rdb_last_cow_size", 0))
                rows.append([kind, f"{share * 100:.0f}%", f"{done / NKEYS * 100:.1f}%" + ("" if alive else " (child ended first)"),
                             H.fmt(t1 - t0, 1), H.fmt(cow_b / H.MB, 1), info.get("rdb_last_bgsave_status")])
                print(f"  {kind} {share:.0%}: rewritten {done:,}, cow {cow_b / H.MB:.1f} MB, {t1 - t0:.1f}s", flush=True)
        finally:
            srv.stop()
    return rows


def main():
    global NKEYS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=["throughput", "latency", "cow"])
    ap.add_argument("--servers", nargs="*", default=["engine", "engine-pure", "redis"],
                    help="engine (compiled path), engine-pure (PERSISTKIT_PUREPYTHON=1), redis")
    ap.add_argument("--repeat", type=int, default=2, help="throughput rounds (best ops/s kept)")
    ap.add_argument("-n", type=int, default=100_000, help="requests per test without pipelining")
    ap.add_argument("--n-pipelined", type=int, default=500_000, help="requests per test with -P 16")
    ap.add_argument("--redis-save-delay-us", type=int, default=-10,
                    help="rdb-key-save-delay for Redis in the COW test (default -10: Redis's debugDelay() "
                         "then sleeps 1 us for one key in 10, which really costs ~60 us of timer slack, "
                         "so ~6 us per key on average)")
    ap.add_argument("--keys", type=int, default=NKEYS, help="keyspace size for latency/COW (default 1M)")
    ap.add_argument("--no-results", action="store_true")
    a = ap.parse_args()
    NKEYS = a.keys
    ctx = H.context_line()
    print(ctx)
    md = [f"_{ctx}_", ""]
    if "throughput" in a.only:
        rows, rss = throughput(a.servers, a.n, a.n_pipelined, a.repeat)
        hdr = ["test", "-P", "engine ops/s", "engine pure-Python ops/s", "redis ops/s", "engine / redis",
               "pure / redis", "compiled / pure", "target", ""]
        print()
        H.print_table(hdr, rows)
        tp = [f"_{ctx}_", "", "### Throughput (redis-benchmark)", "", "```",
              f"redis-benchmark -h 127.0.0.1 -p PORT -t {TESTS} -n {a.n} -r 100000 -c 50 -P 1 --csv -q",
              f"redis-benchmark -h 127.0.0.1 -p PORT -t {TESTS} -n {a.n_pipelined} -r 100000 -c 50 -P 16 --csv -q",
              "persistkit engine serve --port PORT --bind 127.0.0.1 --dir D --save '' --appendonly no",
              "PERSISTKIT_PUREPYTHON=1 persistkit engine serve ...   # the pure-Python path",
              "redis-server --port PORT --save '' --appendonly no", "```", "",
              f"The three servers run at the same time and take turns with the same redis-benchmark "
              f"invocation; {a.repeat} rounds, best ops/s of each cell. redis-benchmark itself needs one "
              "of the two cores; all servers are single-threaded for commands. Peak RSS after the runs: " +
              ", ".join(f"{k} {v:,.0f} MB" for k, v in rss.items()) + ".", "",
              H.md_table(hdr, rows)]
        block = "<!-- BEGIN engine-throughput -->\n" + "\n".join(tp) + "\n<!-- END engine-throughput -->"
        if a.only == ["throughput"] and not a.no_results and "<!-- BEGIN engine-throughput -->" in (
                H.RESULTS.read_text() if H.RESULTS.exists() else ""):
            H.update_results("engine-throughput", "\n".join(tp))
            print("\nRESULTS.md block 'engine-throughput' updated")
            return
        md += [block, ""]
    elif H.RESULTS.exists():
        # keep the last throughput table when only the other parts run
        m = re.search(r"<!-- BEGIN engine-throughput -->.*?<!-- END engine-throughput -->",
                      H.RESULTS.read_text(), re.S)
        if m:
            md += [m.group(0), ""]
    # the pure-Python engine is a throughput reference only
    others = [k for k in a.servers if k != "engine-pure"]
    if "latency" in a.only:
        rows = latency(others)
        hdr = ["server", "during", "window s", "SETs timed", "p50 ms", "p99 ms", "max ms", "fork ms", ""]
        rows = [r + [""] * (len(hdr) - len(r)) for r in rows]
        print()
        H.print_table(hdr, rows)
        md += [f"### Write latency during SAVE vs BGSAVE ({NKEYS:,} keys of 100-byte strings)", "",
               "One redis-py client sends SET in a loop and times every round trip; the window opens when "
               "SAVE/BGSAVE is sent and closes when SAVE returns / INFO shows the child finished. "
               "Latencies include redis-py's own overhead (~0.05-0.1 ms).", "",
               H.md_table(hdr, rows), ""]
    if "cow" in a.only:
        rows = cow(others, a.redis_save_delay_us)
        hdr = ["server", "keys to rewrite", "rewritten while the child ran", "BGSAVE s", "rdb_last_cow_size MB", "status"]
        print()
        H.print_table(hdr, rows)
        md += [f"### Copy-on-write during BGSAVE ({NKEYS:,} keys of 100-byte strings)", "",
               f"BGSAVE, then MSET batches rewrite the first N keys with new 100-byte values while the child runs; "
               f"`rdb_last_cow_size` read from INFO persistence after it ends. Redis runs with "
               f"`rdb-key-save-delay {a.redis_save_delay_us}` so its child lives long enough "
               "for the writer; the engine has no such setting.", "",
               H.md_table(hdr, rows), ""]
    if not a.no_results:
        H.update_results("engine", "\n".join(md))
        print("\nRESULTS.md section 'engine' updated")


if __name__ == "__main__":
    main()
