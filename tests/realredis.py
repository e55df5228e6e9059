"""Start real redis-server processes on loopback for tests (the oracle).

A server is started in the foreground with its log on stdout; we wait for the
"Ready to accept connections" line (or its exit), never a fixed sleep.
Under ``CI=true`` a missing redis-server is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def redis_binary(name: str = "redis-server") -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true (apt-get install redis-server)")
        pytest.skip(f"{name} not installed (apt-get install redis-server)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process. ``args`` are extra command-line config pairs."""

    def __init__(self, workdir: Path, *args: str, dbfilename: str = "dump.rdb",
                 appendonly: bool = False, timeout: float = 30.0):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", str(self.workdir), "--dbfilename", dbfilename,
               "--save", "", "--appendonly", "yes" if appendonly else "no",
               "--daemonize", "no", "--logfile", "", "--protected-mode", "no",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.log: list[str] = []
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                raise RuntimeError("redis-server exited during start-up:\n" + "".join(self.log))
            text = line.decode("utf-8", "replace")
            self.log.append(text)
            if "Ready to accept connections" in text:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not become ready:\n" + "".join(self.log))

    def client(self, db: int = 0, decode_responses: bool = False):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, decode_responses=decode_responses)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def load_rdb_into_redis(rdb_path: Path, workdir: Path) -> RedisServer:
    """Start a server whose startup loads ``rdb_path`` (copied into ``workdir``); keys whose
    TTL has passed are dropped on load (see ``read_keyspace`` on comparing as of a moment)."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rdb_path, workdir / "dump.rdb")
    return RedisServer(workdir)


def read_keyspace(server: RedisServer, dbs=range(16)) -> dict:
    """Read the whole keyspace of a live server into the normalized form of tests/corpus.py.

    A live server drops keys whose TTL has passed by its clock: compare what this returns
    as of a moment, ``corpus.alive_at(got, at)`` against ``corpus.alive_at(want, at)`` with
    ``at = corpus.wall_clock_ms()`` taken before the data was loaded (tests/README.md).
    Hash-field TTLs are not read (the 7.0 under test has none): ``field_expires`` is None.
    """
    from persistkit.rdbtools import model

    out = {}
    for db in dbs:
        r = server.client(db=db)
        for key in r.scan_iter(count=1000):
            t = r.type(key).decode()
            pttl = r.pttl(key)
            expire_ms = None
            if pttl is not None and pttl >= 0:
                try:
                    expire_ms = int(r.execute_command("PEXPIRETIME", key))
                except Exception:  # servers before 7.0 have no PEXPIRETIME
                    expire_ms = int(time.time() * 1000) + pttl
            if t == "string":
                value = r.get(key)
            elif t == "list":
                value = r.lrange(key, 0, -1)
            elif t == "set":
                value = sorted(r.smembers(key))
            elif t == "zset":
                value = sorted(((m, float(s)) for m, s in r.zrange(key, 0, -1, withscores=True)),
                               key=lambda p: (p[1], p[0]))
            elif t == "hash":
                value = sorted(r.hgetall(key).items())
            elif t == "stream":
                value = _read_stream(r, key)
            else:
                value = None
            out[(db, key)] = {"type": t if t in (model.STRING, model.LIST, model.SET, model.ZSET,
                                                  model.HASH, model.STREAM) else t,
                              "value": value, "expire_ms": expire_ms, "field_expires": None}
    return out


def _read_stream(r, key) -> dict:
    def d(x):
        return x.decode() if isinstance(x, bytes) else x

    def as_dict(x) -> dict:
        # redis-py parses XINFO STREAM FULL into dicts (bytes keys); raw replies are flat lists.
        if isinstance(x, dict):
            return {d(k): v for k, v in x.items()}
        return dict(zip([d(k) for k in x[0::2]], x[1::2]))

    info = as_dict(r.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", 0))
    entries = [(d(eid), [(f, v) for f, v in zip(fields[0::2], fields[1::2])])
               for eid, fields in (info.get("entries") or [])]
    groups = []
    for g in info.get("groups") or []:
        g = as_dict(g)
        consumers = []
        for c in g.get("consumers") or []:
            c = as_dict(c)
            consumers.append({"name": c["name"], "seen_time_ms": c.get("seen-time"),
                              "active_time_ms": c.get("active-time"),
                              "pel": sorted(d(p[0]) for p in c.get("pending") or [])})
        pel_owner = {}
        for c in consumers:
            for pid in c["pel"]:
                pel_owner[pid] = c["name"]
        groups.append({"name": g["name"], "last_delivered_id": d(g["last-delivered-id"]),
                       "entries_read": g.get("entries-read"),
                       "pel": sorted((d(p[0]), pel_owner.get(d(p[0]), p[1]), p[2], p[3]) for p in g.get("pending") or []),
                       "consumers": sorted(consumers, key=lambda c: c["name"])})
    return {"length": info["length"], "entries": entries, "last_id": d(info["last-generated-id"]),
            "entries_added": info.get("entries-added"),
            "max_deleted_entry_id": d(info.get("max-deleted-entry-id")),
            "recorded_first_entry_id": d(info.get("recorded-first-entry-id")),
            "groups": sorted(groups, key=lambda g: g["name"])}
