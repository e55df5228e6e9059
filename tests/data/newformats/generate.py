"""Make the RDB 13/14 fixtures of this folder with a real Redis server.

    python tests/data/newformats/generate.py --server /path/to/redis-server \
        --module /path/to/test_keymeta.so --out tests/data/newformats/redis-rdb14

The server binary and the key-metadata test module (``tests/modules/test_keymeta.c``
of the same Redis tree) are given on the command line; this script only drives them.
It starts the server on a loopback port in a temporary folder, writes a small dataset
that exercises what the version added (key metadata written by a module class, streams
with idempotent-producer (IDMP) state, NACKed pending entries, ARRAY values) next to
ordinary data, runs ``SAVE`` and ``DUMP`` for every key, reads the content back through
the server's own commands and writes ``expected.json`` (schema below).

Every timestamp a test could see expire is far in the future: key TTLs and hash-field
TTLs in 2100, IDMP entries carry stream IDs in 2100 (the server drops IDMP entries
older than the stream's IDMP duration when it saves or loads).

expected.json (the corpus schema, plus the new parts):
  server        {"name", "version", "git_sha1", "rdb_version", "build"}
  files.rdb     {"path", "size", "sha256", "rdb_version"}
  states.snapshot.keys[]: {"db", "key", "type", "encoding", "expire_at_ms", "value",
      "field_expire_at_ms"?, "key_meta"?: [{"class", "value"}]}
    stream values add "idmp": {"duration", "max_entries", "pids_tracked", "iids_tracked",
      "iids_added", "iids_duplicates", "entries": [[pid, iid, id]] (as written)} and
      per group "nacked_count" (RDB 14)
    array values: {"count", "len", "next_insert_index", "elements": [[index, value]]}
  dumps[]       {"file", "db", "key", "type", "size", "payload_rdb_version", "sha256"}
  key_meta_classes  [{"class", "version", "flags"}] registered before the data was written
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

FAR = 4102444800000          # 2100-01-01T00:00:00Z in ms
SLICE = 4096                 # ar-slice-size default: indices beyond it use more slices


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(b):
    if isinstance(b, bytes):
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            return {"hex": b.hex()}
        if all(c >= " " or c in "\t\r\n" for c in s):
            return s
        return {"hex": b.hex()}
    return b


def _wait(cond, what, deadline=20.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if cond():
                return
        except (redis.ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Server:
    def __init__(self, binary: str, module: str, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(workdir), "--dbfilename", "dump.rdb",
                "--enable-debug-command", "yes", "--loadmodule", module,
                "--logfile", str(workdir / "server.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.r = self.client(0)
        _wait(self.r.ping, "the server to answer PING")

    def client(self, db: int) -> redis.Redis:
        r = redis.Redis(host="127.0.0.1", port=self.port, db=db)
        for name in list(r.response_callbacks):
            if name.startswith(("XINFO", "AR")):   # keep the server's flat replies
                del r.response_callbacks[name]
        return r

    def stop(self) -> None:
        try:
            self.r.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        self.proc.wait(timeout=20)


# ---------------------------------------------------------------------------
# the dataset

KEYMETA_CLASSES = [  # name, version, module flags (ALLOWIGNORE is RDB flag bit 0)
    ("KMT1", 1, "ALLOWIGNORE:RDBLOAD:RDBSAVE"),
    ("KMT2", 3, "RDBLOAD:RDBSAVE"),
]


def write_dataset(r: redis.Redis, r2: redis.Redis, rdb_version: int) -> dict:
    """Fill dbs 0 and 2. Returns what was written that the server cannot list back
    (the IDMP entries)."""
    notes = {"idmp": {}}
    r.execute_command("DEBUG", "enable-keymeta-runtime-registration", "1")
    for name, ver, flags in KEYMETA_CLASSES:
        r.execute_command("KEYMETA.REGISTER", name, ver, flags)

    p = r
    # ordinary data
    p.set("str:int", 12345)
    p.set("str:short", "hello")
    p.set("str:long", "x" * 40 + "compressible" * 10)
    p.set("str:ttl", "expires in 2100")
    p.pexpireat("str:ttl", FAR)
    p.rpush("list:small", "a", "b", "3", "-7")
    p.rpush("list:big", *[f"item-{i}" for i in range(200)])
    p.sadd("set:ints", 1, 2, 3, 100000)
    p.sadd("set:small", "apple", "banana", "cherry")
    p.sadd("set:big", *[f"member-{i}" for i in range(150)])
    p.zadd("zset:small", {"a": 1.5, "b": -2, "c": 3e100})
    p.zadd("zset:big", {f"m{i}": i / 7 for i in range(150)})
    p.hset("hash:small", mapping={"f1": "v1", "f2": "22", "f3": "v3"})
    p.hset("hash:big", mapping={f"field{i}": f"value{i}" for i in range(200)})
    p.hset("hash:ttl", mapping={"a": "1", "b": "2", "c": "3"})
    p.execute_command("HPEXPIREAT", "hash:ttl", FAR, "FIELDS", 2, "a", "b")

    # key metadata (opcode 243 before the type byte): one class, two classes, with a TTL
    p.execute_command("KEYMETA.SET", "KMT1", "str:short", "meta-one")
    p.execute_command("KEYMETA.SET", "KMT1", "hash:small", "meta-hash")
    p.execute_command("KEYMETA.SET", "KMT2", "hash:small", "second-class")
    p.execute_command("KEYMETA.SET", "KMT2", "str:ttl", "meta-with-ttl")

    # streams: plain, with IDMP state, with consumer groups (and NACKs on RDB 14)
    p.xadd("stream:plain", {"f": "v"}, id="1-1")
    p.xadd("stream:plain", {"f": "v2", "g": "w"}, id="1-2")
    entries = []
    # IDMP needs auto IDs; after a first entry in 2100 the auto IDs stay in 2100.
    first = f"{FAR}-0"
    p.xadd("stream:idmp", {"n": "first"}, id=first)
    # before any IDMP entry: XCFGSET clears the IDMP tracking of a stream
    p.execute_command("XCFGSET", "stream:idmp", "IDMP-DURATION", 86400, "IDMP-MAXSIZE", 500)
    for i, (pid, iid) in enumerate([("prodA", "i-1"), ("prodA", "i-2"), ("prodB", "x-9")]):
        sid = p.execute_command("XADD", "stream:idmp", "IDMP", pid, iid, "*", "n", str(i)).decode()
        entries.append([pid, iid, sid])
    # a duplicate: the server answers with the first ID and counts it
    p.execute_command("XADD", "stream:idmp", "IDMP", "prodA", "i-1", "*", "n", "dup")
    # the command an AOF rewrite uses to restore IDMP state for an existing entry
    p.execute_command("XIDMPRECORD", "stream:idmp", "prodC", "c-1", first)
    entries.append(["prodC", "c-1", first])
    notes["idmp"]["stream:idmp"] = entries
    p.execute_command("KEYMETA.SET", "KMT1", "stream:idmp", "meta-stream")

    for i in range(1, 9):
        p.xadd("stream:groups", {"k": f"v{i}"}, id=f"5-{i}")
    p.xgroup_create("stream:groups", "g1", id="0")
    p.xgroup_create("stream:groups", "g2", id="5-4")
    p.xreadgroup("g1", "alice", {"stream:groups": ">"}, count=3)
    p.xreadgroup("g1", "bob", {"stream:groups": ">"}, count=3)
    p.xreadgroup("g2", "carol", {"stream:groups": ">"}, count=2)
    p.xack("stream:groups", "g1", "5-2")
    if rdb_version >= 14:
        # XNACK releases entries back to the group: they stay in the group PEL with no
        # owner (the "NACK zone", stream type 27).
        p.execute_command("XNACK", "stream:groups", "g1", "SILENT", "IDS", 2, "5-3", "5-5")
        p.execute_command("XNACK", "stream:groups", "g2", "SILENT", "IDS", 1, "5-6")

    if rdb_version >= 14:
        # ARRAY (type 28): int / float / small string / long string elements, a sparse
        # index far away, an insert cursor, one array with no insert ever, a ring.
        p.execute_command("ARSET", "array:mixed", 0, "this_is_a_long_sds_string_value",
                          "42", "1.5", "abc", "-9000000000", "2.0", "0.1", "")
        p.execute_command("ARSET", "array:mixed", 1 << 40, "far-away")
        p.execute_command("ARSET", "array:noinsert", 7, "seven")
        p.execute_command("ARINSERT", "array:insert", "a", "b", "c")
        p.execute_command("ARSET", "array:insert", SLICE * 3 + 5, "z")
        p.execute_command("ARRING", "array:ring", 4, "r1", "r2", "r3", "r4", "r5", "r6")
        p.execute_command("ARSET", "array:ttl", 3, "value")
        p.pexpireat("array:ttl", FAR)
        p.execute_command("KEYMETA.SET", "KMT1", "array:mixed", "meta-array")

    r2.set("db2:str", "in db 2")
    r2.execute_command("KEYMETA.SET", "KMT2", "db2:str", "meta-db2")
    r2.rpush("db2:list", "x", "y")
    return notes


# ---------------------------------------------------------------------------
# reading it back


def _pairs(flat):
    if isinstance(flat, dict):
        return [[k, v] for k, v in flat.items()]
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]


def _as_dict(flat):
    if isinstance(flat, dict):   # a client-side reply callback already paired it
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in flat.items()}
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def read_stream(r, key, notes) -> dict:
    full = _as_dict(r.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", 0))
    entries = [{"id": e[0].decode(), "fields": [[_text(f), _text(v)] for f, v in _pairs(e[1])]}
               for e in full["entries"]]
    groups = []
    for g in full["groups"]:
        g = _as_dict(g)
        consumers = []
        for c in g["consumers"]:
            c = _as_dict(c)
            consumers.append({"name": _text(c["name"]), "seen_time_ms": c["seen-time"],
                              "active_time_ms": c.get("active-time"),
                              "pel": [p[0].decode() for p in c["pending"]]})
        grp = {"name": _text(g["name"]), "last_delivered_id": g["last-delivered-id"].decode(),
               "entries_read": g["entries-read"],
               "pel": [{"id": p[0].decode(), "consumer": _text(p[1]) if p[1] is not None else None,
                        "delivery_time_ms": p[2], "delivery_count": p[3]} for p in g["pending"]],
               "consumers": consumers}
        if "nacked-count" in g:
            grp["nacked_count"] = g["nacked-count"]
        groups.append(grp)
    value = {"length": full["length"], "entries": entries,
             "last_id": full["last-generated-id"].decode(),
             "entries_added": full["entries-added"],
             "max_deleted_entry_id": full["max-deleted-entry-id"].decode(),
             "recorded_first_entry_id": full["recorded-first-entry-id"].decode(),
             "groups": groups}
    if "idmp-duration" in full:
        value["idmp"] = {"duration": full["idmp-duration"], "max_entries": full["idmp-maxsize"],
                         "pids_tracked": full["pids-tracked"], "iids_tracked": full["iids-tracked"],
                         "iids_added": full["iids-added"], "iids_duplicates": full["iids-duplicates"],
                         "entries": notes["idmp"].get(key.decode(), [])}
    return value


def read_array(r, key) -> dict:
    info = _as_dict(r.execute_command("ARINFO", key))
    flat = r.execute_command("ARSCAN", key, 0, (1 << 64) - 2)
    pairs = flat if flat and isinstance(flat[0], list) else _pairs(flat)
    elements = [[int(i), _text(v)] for i, v in pairs]
    return {"count": info["count"], "len": info["len"],
            "next_insert_index": info["next-insert-index"], "elements": elements}


def read_key(r, db: int, key: bytes, notes) -> dict:
    ktype = r.type(key).decode()
    enc = r.object("encoding", key).decode()
    pexp = r.pexpiretime(key)
    out = {"db": db, "key": _text(key), "type": ktype, "encoding": enc,
           "expire_at_ms": pexp if pexp >= 0 else None}
    if ktype == "string":
        out["value"] = _text(r.get(key))
    elif ktype == "list":
        out["value"] = [_text(x) for x in r.lrange(key, 0, -1)]
    elif ktype == "set":
        out["value"] = [_text(x) for x in sorted(r.smembers(key))]
    elif ktype == "zset":
        out["value"] = [[_text(m), repr(s)] for m, s in r.zrange(key, 0, -1, withscores=True)]
    elif ktype == "hash":
        flat = r.execute_command("HGETALL", key)
        pairs = sorted(_pairs(flat))
        out["value"] = [[_text(f), _text(v)] for f, v in pairs]
        fields = [f for f, _ in pairs]
        ttls = r.execute_command("HPEXPIRETIME", key, "FIELDS", len(fields), *fields)
        fe = [[_text(f), t] for f, t in zip(fields, ttls) if t >= 0]
        if fe:
            out["field_expire_at_ms"] = fe
    elif ktype == "stream":
        out["value"] = read_stream(r, key, notes)
    elif ktype == "array":
        out["value"] = read_array(r, key)
    else:
        raise SystemExit(f"unexpected type {ktype} for {key!r}")
    metas = []
    for name, _ver, _flags in KEYMETA_CLASSES:
        got = r.execute_command("KEYMETA.GET", name, key)
        if got is not None:
            metas.append({"class": name, "value": _text(got)})
    if metas:
        out["key_meta"] = metas
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", default="", help="where the server was built from (for expected.json)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="newformats-"))
    srv = Server(args.server, args.module, tmp)
    try:
        r = srv.r
        info = r.info("server")
        r.set("__probe__", "1")
        rdb_version = int.from_bytes(r.dump("__probe__")[-10:-8], "little")
        r.delete("__probe__")
        r2 = srv.client(2)
        notes = write_dataset(r, r2, rdb_version)
        r.save()
        if out.exists():
            shutil.rmtree(out)
        (out / "dumps").mkdir(parents=True)
        shutil.copyfile(tmp / "dump.rdb", out / "dump.rdb")
        keys, dumps = [], []
        for db, rd in ((0, r), (2, r2)):
            for key in sorted(rd.keys("*")):
                keys.append(read_key(rd, db, key, notes))
                payload = rd.dump(key)
                name = ("" if db == 0 else f"db{db}-") + key.hex() + ".bin"
                (out / "dumps" / name).write_bytes(payload)
                dumps.append({"file": f"dumps/{name}", "db": db, "key": _text(key),
                              "type": keys[-1]["type"], "size": len(payload),
                              "payload_rdb_version": int.from_bytes(payload[-10:-8], "little"),
                              "sha256": hashlib.sha256(payload).hexdigest()})
        data = (out / "dump.rdb").read_bytes()
        expected = {
            "schema": "persistkit-newformats/1",
            "server": {"name": "redis", "version": info["redis_version"],
                       "git_sha1": info.get("redis_git_sha1"), "build_id": info.get("redis_build_id"),
                       "source": args.source, "rdb_version": rdb_version},
            "key_meta_classes": [{"class": n, "version": v, "flags": f} for n, v, f in KEYMETA_CLASSES],
            "files": {"rdb": {"path": "dump.rdb", "size": len(data),
                              "sha256": hashlib.sha256(data).hexdigest(),
                              "rdb_version": int(data[5:9])}},
            "states": {"snapshot": {"keys": keys}},
            "dumps": dumps,
        }
        (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=False) + "\n")
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {out} (RDB {rdb_version}, {len(keys)} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
