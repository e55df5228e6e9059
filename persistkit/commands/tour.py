"""`persistkit tour`: the whole story on real files, in under a minute.

It runs the real commands (as subprocesses, printed as ``$ persistkit ...``) on the
bundled fixtures and on files the bundled engine writes live: hybrid AOF, BGSAVE with
its copy-on-write figure, an AOF rewrite, a kill -9, verification, damage and repair,
an accidental FLUSHALL undone by ``replay --skip FLUSHALL``, ``diff`` and ``inspect``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule

from persistkit.cli_contract import guarded

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


class Tour:
    def __init__(self, workdir: Path, console: Console) -> None:
        self.work = workdir
        self.console = console
        self.env = dict(os.environ)
        if console.is_terminal:
            self.env["FORCE_COLOR"] = "1"
            self.env["COLUMNS"] = str(console.width)
        self.engine: subprocess.Popen | None = None
        self.port: int | None = None

    # -- output -------------------------------------------------------------
    def step(self, title: str, why: str) -> None:
        self.console.print()
        self.console.print(Rule(f"[bold]{title}"))
        self.console.print(f"[dim]{why}[/dim]")

    def run(self, *args: str, expect: tuple[int, ...] = (0,), head: int | None = None) -> subprocess.CompletedProcess:
        shown = " ".join(_shell_quote(_short(a, self.work)) for a in args)
        self.console.print(f"[bold cyan]$ persistkit {shown}[/bold cyan]")
        proc = subprocess.run([sys.executable, "-m", "persistkit", *args], cwd=self.work,
                              env=self.env, capture_output=True, text=True)
        out = proc.stdout
        if head is not None:
            lines = out.splitlines()
            out = "\n".join(lines[:head]) + (f"\n… ({len(lines) - head} more lines)" if len(lines) > head else "")
        if out.strip():
            sys.stdout.write(out if out.endswith("\n") else out + "\n")
        if proc.stderr.strip():
            sys.stdout.write(proc.stderr if proc.stderr.endswith("\n") else proc.stderr + "\n")
        self.console.print(f"[dim]exit code {proc.returncode}[/dim]")
        if proc.returncode not in expect:
            raise click.ClickException(f"tour step failed: persistkit {shown} exited {proc.returncode}")
        sys.stdout.flush()
        return proc

    # -- engine ---------------------------------------------------------------
    def start_engine(self, data: Path) -> None:
        data.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "persistkit", "engine", "serve", "--port", "0", "--dir", str(data),
               "--save", "", "--appendonly", "yes", "--aof-use-rdb-preamble", "yes",
               "--aof-timestamp-enabled", "yes", "--appendfsync", "always"]
        self.console.print("[bold cyan]$ persistkit engine serve --port 0 --dir engine --appendonly yes "
                           "--aof-use-rdb-preamble yes --aof-timestamp-enabled yes --appendfsync always[/bold cyan]")
        self.engine = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        assert self.engine.stdout is not None
        for raw in self.engine.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if "Ready to accept connections" in line:
                self.port = int(line.rsplit("port=", 1)[1])
                break
            if time.monotonic() > deadline:
                break
        if self.port is None:
            raise click.ClickException("the engine did not start")
        self.console.print(f"engine pid {self.engine.pid} listening on 127.0.0.1:{self.port}")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)

    def wait_info(self, field: str, value: str, timeout: float = 60) -> dict:
        r = self.client()
        deadline = time.monotonic() + timeout
        while True:
            info = r.info("persistence")
            if str(info.get(field)) == value:
                return info
            if time.monotonic() > deadline:
                raise click.ClickException(f"engine: {field} did not become {value}")
            time.sleep(0.05)  # polling a live server for a background job, not test synchronisation

    def kill_engine(self) -> None:
        if self.engine and self.engine.poll() is None:
            os.kill(self.engine.pid, signal.SIGKILL)
            self.engine.wait()
            if self.engine.stdout:
                self.engine.stdout.close()


def _short(arg: str, work: Path) -> str:
    return arg.replace(str(work) + os.sep, "")


def _shell_quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./:=*" for c in arg) else "'" + arg.replace("'", "'\\''") + "'"


def workload(r, rng: random.Random, n: int) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"user:{i}:name", f"name-{rng.randrange(10**6)}")
        pipe.set(f"user:{i}:visits", rng.randrange(10**4))
        if i % 10 == 0:
            pipe.hset(f"profile:{i}", mapping={"email": f"u{i}@example.com", "plan": rng.choice(["free", "pro"]),
                                              "score": rng.randrange(100)})
            pipe.rpush(f"events:{i}", *[f"ev{j}" for j in range(rng.randrange(1, 20))])
            pipe.sadd(f"tags:{i}", *[rng.choice(["a", "b", "c", "d", "e", "f"]) for _ in range(4)])
            pipe.zadd("leaderboard", {f"user:{i}": rng.random() * 1000})
        if i % 25 == 0:
            pipe.set(f"session:{i}", "token", ex=3600)
        if i % 50 == 0:
            pipe.xadd("audit", {"user": str(i), "action": "login"})
    pipe.execute()


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where the tour writes its files (default: a temporary folder, removed at the end).")
@click.option("--keep", is_flag=True, help="Keep the work folder to look at the files afterwards.")
@click.option("--keys", default=2000, show_default=True, help="Users written by the workload.")
@guarded
def tour(workdir, keep, keys):
    """Run the whole persistkit story on the bundled fixtures and a live engine."""
    console = Console(highlight=False)
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="persistkit-tour-"))
    work.mkdir(parents=True, exist_ok=True)
    t = Tour(work.resolve(), console)
    started = time.monotonic()
    console.print(Panel.fit(
        "persistkit audits and recovers Redis persistence files.\n"
        f"This tour runs the real commands; files go to [bold]{work}[/bold].", title="persistkit tour"))
    try:
        _fixtures(t)
        _engine_story(t, keys)
    finally:
        t.kill_engine()
        if not keep and workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    console.print()
    console.print(Panel.fit(f"Tour done in {time.monotonic() - started:.1f} s."
                            + (f" Files kept in {work}." if keep or workdir else "")
                            + "\nNext: `persistkit lab --quick -o lab-report` measures what each persistence "
                              "mode costs and loses (about 90 s; plots and index.html in lab-report/).",
                            title="done"))
    return 0


def _fixtures(t: Tour) -> None:
    if not FIXTURES.is_dir():
        t.console.print("[yellow]fixtures/ not found next to the package (installed without the repo); "
                        "skipping the fixtures part[/yellow]")
        return
    fx = t.work / "fixtures"
    shutil.copytree(FIXTURES, fx, dirs_exist_ok=True)
    t.step("0. Which build", "--version says whether the compiled accelerator or the pure-Python "
           "reference runs (both give the same results; PERSISTKIT_PUREPYTHON=1 forces the latter).")
    t.run("--version")
    t.step("1. What is in a snapshot", "inspect: header, aux fields, per-db counts, types and encodings, TTLs, "
           "biggest keys — a real Redis 7.0.15 dump.")
    t.run("inspect", str(fx / "redis-7.0.15-dump.rdb"), "--top", "5")
    t.step("1b. What it costs in memory", "memory: each key as a loading server would hold it "
           "(encodings, jemalloc size classes), by type, db and key prefix.")
    t.run("memory", str(fx / "redis-7.0.15-dump.rdb"), "--top", "5", "--prefix-depth", "1")
    t.step("2. Is it intact?", "verify: exit 0 when every file is intact, 1 when a problem is found — "
           "two of these fixtures are damaged on purpose (a corrupt ziplist, a wrong CRC64).")
    t.run("verify", *(str(p) for p in sorted(fx.glob("*.rdb"))), str(fx / "rdb-preamble.aof"),
          str(fx / "appendonlydir"), *(str(p) for p in sorted((fx / "damaged").glob("*.rdb"))), expect=(1,))
    t.step("3. Export", "export: lossless JSON lines (binary-safe), or RESP commands for redis-cli --pipe.")
    t.run("export", str(fx / "encodings-v4.rdb"), "--format", "jsonl", "--match", "*zipped*")


def _engine_story(t: Tour, keys: int) -> None:
    data = t.work / "engine"
    t.step("4. The engine writes real files", "The bundled engine is a small Redis-compatible server: hybrid AOF "
           "with #TS annotations and appendfsync always.")
    t.start_engine(data)
    r = t.client()
    rng = random.Random(7)
    workload(r, rng, keys)
    t.console.print(f"workload written: {r.dbsize()} keys")

    t.step("5. BGSAVE: fork + copy-on-write", "The child writes the snapshot while the parent keeps serving; "
           "writes during the child's life cost copied pages (rdb_last_cow_size).")
    r.bgsave()
    for i in range(0, keys, 3):  # writes while the child runs make the COW figure visible
        r.set(f"user:{i}:visits", i)
    info = t.wait_info("rdb_bgsave_in_progress", "0")
    t.console.print(f"BGSAVE status {info.get('rdb_last_bgsave_status')}, fork {info.get('latest_fork_usec')} µs, "
                    f"copy-on-write {info.get('rdb_last_cow_size', 0):,} bytes")

    t.step("6. AOF rewrite (Redis 7 multi-part)", "BGREWRITEAOF: a new base (RDB preamble), a new incr file, "
           "the manifest replaced atomically.")
    r.bgrewriteaof()
    t.wait_info("aof_rewrite_in_progress", "0")
    t.wait_info("aof_rewrite_scheduled", "0")
    manifest = next((data / "appendonlydir").glob("*.manifest"), None)
    if manifest:
        t.console.print(manifest.read_text().rstrip())
    for i in range(0, 200):
        r.incr("page:hits")
        r.hset(f"profile:{i * 10}", "last_seen", i)

    t.step("7. The accident", "Someone runs FLUSHALL on production; the app keeps writing; then the server "
           "is killed with SIGKILL.")
    t.console.print("[bold red]> FLUSHALL[/bold red]")
    before = r.dbsize()
    r.flushall()
    t.console.print(f"keys: {before} before, {r.dbsize()} after")
    r.set("after:flush", "written after the accident")
    r.rpush("queue:jobs", "job-1", "job-2")
    t.kill_engine()
    t.console.print(f"engine killed with SIGKILL (pid {t.engine.pid if t.engine else '?'})")

    t.step("8. Verify everything the engine left", "The snapshot from BGSAVE and the multi-part AOF.")
    t.run("verify", str(data / "dump.rdb"), str(data / "appendonlydir"))

    t.step("9. Damage and repair", "A copy of the AOF loses its last bytes (a torn write) and a copy of the "
           "snapshot gets one flipped byte.")
    broken = t.work / "broken"
    shutil.copytree(data / "appendonlydir", broken / "appendonlydir")
    incr = sorted((broken / "appendonlydir").glob("*.incr.aof"))[-1]
    size = incr.stat().st_size
    with open(incr, "r+b") as fh:
        fh.truncate(size - 9)
    rdb = bytearray((data / "dump.rdb").read_bytes())
    rdb[len(rdb) // 2] ^= 0x20
    (broken / "dump.rdb").write_bytes(bytes(rdb))
    t.run("verify", str(broken / "appendonlydir"), str(broken / "dump.rdb"), expect=(1,))
    t.run("repair", str(broken / "appendonlydir"), "-o", str(t.work / "repaired-aof"), expect=(0, 1))
    t.run("repair", str(broken / "dump.rdb"), "-o", str(t.work / "salvaged.rdb"), expect=(0, 1))
    t.run("verify", str(t.work / "repaired-aof"))

    t.step("10. Undo the FLUSHALL", "replay the AOF offline, skipping the FLUSHALL: every key written before "
           "it, and everything written after it, in one snapshot.")
    t.run("replay", str(data / "appendonlydir"), "--skip", "FLUSHALL", "-o", str(t.work / "recovered.rdb"))

    t.step("11. What changed", "diff the BGSAVE snapshot against the recovered state (exit 1: they differ).")
    t.run("diff", str(data / "dump.rdb"), str(t.work / "recovered.rdb"), expect=(1,), head=16)

    t.step("12. The recovered snapshot", "inspect the result; it is a normal RDB that redis-server loads.")
    t.run("inspect", str(t.work / "recovered.rdb"), "--top", "5")
    _load_into_real_redis(t, t.work / "recovered.rdb")


def _load_into_real_redis(t: Tour, rdb: Path) -> None:
    server = shutil.which("redis-server")
    if server is None:
        t.console.print("[dim](redis-server is not installed: skipping the load into a real server)[/dim]")
        return
    import redis

    folder = t.work / "real-redis"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(rdb, folder / "dump.rdb")
    port = _free_port()
    t.console.print(f"[bold cyan]$ redis-server --dir real-redis --port {port} --save '' --appendonly no[/bold cyan]")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if b"Ready to accept connections" in raw:
                break
        r = redis.Redis(host="127.0.0.1", port=port)
        version = r.info("server").get("redis_version")
        t.console.print(f"real Redis {version} loaded the recovered snapshot: DBSIZE {r.dbsize()}, "
                        f"GET after:flush = {r.get('after:flush')!r}")
    finally:
        proc.terminate()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _free_port() -> int:
    """A free loopback port (bound, then released for the server to take)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def register(main) -> None:
    main.add_command(tour)
