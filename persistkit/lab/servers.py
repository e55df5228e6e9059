"""Starting, watching and killing the servers the lab measures.

Both servers get the same settings (redis.conf names) on a loopback port, in a folder
the lab created. A server can run under ``strace`` so that its write/fsync timeline is
recorded for the power-cut builder (``timeline``). Every process started here is kept
in a registry and killed by ``kill_all`` (the lab calls it in ``finally``, so Ctrl-C
leaves nothing running); nothing else is ever signalled.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ENGINE = "engine"
REDIS = "redis"

# The modes the lab compares. Plain AOF modes write a command base at a rewrite
# (aof-use-rdb-preamble no); hybrid writes an RDB preamble and fsyncs every write, the
# setting people choose when nothing may be lost. Automatic AOF rewrites are off so that
# every run does the same work; the lab starts the rewrites itself.
MODES = ("rdb", "aof-always", "aof-everysec", "aof-no", "hybrid")

# What strace records: every call that creates, writes, makes durable, renames or
# removes a file, plus fork/clone (the moment a snapshot child starts) and chdir (to
# resolve relative names).
TRACED_CALLS = ("open,openat,creat,write,pwrite64,writev,pwritev,fsync,fdatasync,sync,syncfs,"
                "rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir,ftruncate,truncate,"
                "chdir,fork,vfork,clone,clone3")


def mode_settings(mode: str, save_seconds: int) -> dict[str, str]:
    """The redis.conf settings of a mode (the same for the engine and Redis)."""
    common = {"dbfilename": "dump.rdb", "appenddirname": "appendonlydir",
              "auto-aof-rewrite-percentage": "0", "aof-timestamp-enabled": "no"}
    if mode == "rdb":
        return {**common, "save": f"{save_seconds} 1", "appendonly": "no"}
    if mode.startswith("aof-"):
        return {**common, "save": "", "appendonly": "yes", "appendfsync": mode[4:],
                "aof-use-rdb-preamble": "no"}
    if mode == "hybrid":
        return {**common, "save": "", "appendonly": "yes", "appendfsync": "always",
                "aof-use-rdb-preamble": "yes"}
    if mode == "none":
        return {**common, "save": "", "appendonly": "no"}
    raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")


def redis_binary() -> Optional[str]:
    return shutil.which("redis-server")


def redis_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    m = re.search(r"v=(\S+)", out)
    return m.group(1) if m else out.strip()


_STRACE_OK: Optional[bool] = None


def strace_usable() -> bool:
    """strace is installed and may trace here (ptrace can be forbidden in containers)."""
    global _STRACE_OK
    if _STRACE_OK is None:
        exe = shutil.which("strace")
        ok = False
        if exe:
            try:
                ok = subprocess.run([exe, "-f", "-qq", "-e", "trace=chdir", "-o", os.devnull, "true"],
                                    capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _STRACE_OK = ok
    return _STRACE_OK


def strace_command(trace_path: Path) -> list[str]:
    # -y: file descriptors printed with their paths (also for dup'ed fds in other
    # threads); -T: time spent in the call (an fsync is durable when it returns);
    # --seccomp-bpf: untraced calls cost nothing; -s 0: no data, only sizes.
    return [shutil.which("strace") or "strace", "-f", "-ttt", "-T", "-y", "-qq", "-s", "0",
            "--seccomp-bpf", "-e", "signal=none", "-e", f"trace={TRACED_CALLS}", "-o", str(trace_path)]


def free_port() -> int:
    """A loopback port that was free a moment ago (for redis-server, which cannot pick one;
    the engine picks its own with --port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LIVE: set["Server"] = set()
_LIVE_LOCK = threading.Lock()


def kill_all() -> None:
    """Kill every server (and its children) this process started and has not stopped."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for s in servers:
        s.kill9()


@dataclass
class Server:
    kind: str
    workdir: Path
    settings: dict
    proc: subprocess.Popen
    port: int = 0
    pid: int = 0                  # the server process (under strace, not proc.pid)
    started: float = 0.0          # wall clock at spawn
    ready_s: float = 0.0          # spawn -> ready line
    log: list[str] = field(default_factory=list)
    trace_path: Optional[Path] = None
    killed_at: Optional[float] = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: Optional[threading.Thread] = None

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other

    # -- log --------------------------------------------------------------------------
    def _read_log(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            if "Ready to accept connections" in line and not self._ready.is_set():
                m = re.search(r"port=(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                self.ready_s = time.time() - self.started
                self._ready.set()
        self._ready.set()     # exited: wake the waiter

    def load_seconds(self) -> Optional[float]:
        """What the server logged for loading its files ("DB loaded from ...: X seconds")."""
        # Redis 7 logs each AOF part ("from base file ...", "from incr file ...") and then
        # the total ("from append only file"); an RDB load is one line ("from disk")
        for line in self.log:
            m = re.search(r"DB loaded from (?:disk|append only file): ([0-9.]+) seconds", line)
            if m:
                return float(m.group(1))
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    # -- stopping ---------------------------------------------------------------------
    def processes(self) -> list[int]:
        """The server and every process below it (a BGSAVE / rewrite child); under strace
        the tracer itself is left out (it exits, flushing its trace, once they are gone)."""
        out: list[int] = [] if self.trace_path is not None else [self.proc.pid]
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            for child in _children(pid):
                out.append(child)
                todo.append(child)
        return out

    def kill9(self) -> float:
        """SIGKILL the server and its children at the same instant (a crash of the process
        tree; the kernel keeps what they wrote). Returns the wall-clock time of the kill."""
        if self.killed_at is not None:
            return self.killed_at
        victims = self.processes()
        t = time.time()
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.killed_at = t
        self._reap()
        return t

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(p) for p in fh.read().split()]
        except (OSError, ValueError):
            pass
    return out


def _engine_command(workdir: Path, settings: dict) -> list[str]:
    cmd = [sys.executable, "-m", "persistkit", "engine", "serve", "--port", "0", "--bind", "127.0.0.1",
           "--dir", str(workdir)]
    for name, value in settings.items():
        cmd += ["--set", name, value] if name != "save" else ["--save", value]
    return cmd


def _redis_command(binary: str, workdir: Path, port: int, settings: dict) -> list[str]:
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
           "--daemonize", "no", "--logfile", "", "--protected-mode", "no"]
    for name, value in settings.items():
        cmd += [f"--{name}", value]
    return cmd


def start_server(kind: str, workdir: Path, settings: dict, *, trace_path: Optional[Path] = None,
                 timeout: float = 60.0) -> Server:
    """Start a server on ``workdir`` and wait for its ready line (its log says when it is
    ready; it is not polled). Raises RuntimeError with the log when it exits instead."""
    workdir.mkdir(parents=True, exist_ok=True)
    attempts = 3 if kind == REDIS else 1
    last_log: list[str] = []
    for _ in range(attempts):
        port = 0
        if kind == ENGINE:
            cmd = _engine_command(workdir, settings)
        else:
            binary = redis_binary()
            if binary is None:
                raise RuntimeError("redis-server is not installed")
            port = free_port()
            cmd = _redis_command(binary, workdir, port, settings)
        if trace_path is not None:
            cmd = strace_command(trace_path) + cmd
        env = dict(os.environ)
        env.pop("FORCE_COLOR", None)
        started = time.time()
        # own session: a Ctrl-C at the terminal reaches the lab, which then kills these
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=str(workdir), env=env, start_new_session=True)
        srv = Server(kind, workdir, dict(settings), proc, port=port, started=started, trace_path=trace_path)
        with _LIVE_LOCK:
            _LIVE.add(srv)
        srv._reader = threading.Thread(target=srv._read_log, name="lab-server-log", daemon=True)
        srv._reader.start()
        srv._ready.wait(timeout)
        if srv._ready.is_set() and srv.alive() and srv.port:
            from .client import connect_when_ready

            with connect_when_ready(srv.port) as c:
                srv.pid = int(c.info("server").get("process_id", 0))
            return srv
        srv.kill9()
        last_log = srv.log
        if not any("Address already in use" in line for line in srv.log):
            break
    raise RuntimeError(f"{kind} did not start:\n" + "\n".join(last_log[-20:]))
