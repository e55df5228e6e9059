"""A seeded random keyspace, written into a real redis-server 7.0 through redis-py.

Not the corpus: every run of a seed makes other keys, values, encodings and mutation
histories. Encoding thresholds are changed with CONFIG SET before each key so that both
the compact encodings (listpack, intset, small quicklist nodes) and the big ones
(hashtable, skiplist, compressed quicklists, multi-node streams) appear, and keys are
then mutated (deleted, overwritten, shrunk, grown) so that encodings come from real
histories -- a listpack that shrank, an intset that went 64-bit and lost its big members.

Everything goes through one non-transactional pipeline per phase (CONFIG SET included:
the server runs a pipeline's commands in order), so a seed fills a server in well under
a second.

    gen = KeyspaceGen(seed)
    gen.fill(client)            # initial keyspace (dbs 0..3 and 15)
    gen.mutate(client, 300)     # more random writes to the same keys (e.g. after a rewrite)

Seeds used by the tests: ``seeds()`` -- 3 by default, ``PERSISTKIT_SEEDS=N`` or
``PERSISTKIT_SEEDS=1,5,9`` for more / other ones.
"""

from __future__ import annotations

import os
import random
import time

DBS = (0, 1, 2, 3, 15)

# Integers at every edge of the server's encodings (int8/16/32/64 in listpacks and
# intsets, shared integers, long long parse limits) and texts that look like numbers but
# are not canonical (must stay strings).
INT_EDGES = [0, 1, -1, 12, 127, -128, 128, -129, 4095, -4096, 4096, 32767, -32768, 32768, -32769,
             8388607, -8388608, 8388608, 2147483647, -2147483648, 2147483648, -2147483649,
             2 ** 53 - 1, 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, -2 ** 63, 9999, 10000]
NUMBERLIKE = [b"9223372036854775808", b"-9223372036854775809", b"012", b"+1", b" 1", b"-0",
              b"1.5", b"1e3", b"0x10", b"18446744073709551615", b""]
SCORES = [float("inf"), float("-inf"), 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
          -1.7976931348623157e308, -0.0, 0.0, 1.0, -3.0, 1e15, 1e17, 0.1, 1 / 3,
          float(2 ** 53 - 1), float(2 ** 53), float(2 ** 53 + 2), 123456789.0, -2.5e-10]

THRESHOLDS_SMALL = {
    "hash-max-listpack-entries": ["0", "1", "4", "8", "128", "512"],
    "hash-max-listpack-value": ["0", "4", "16", "64", "1024"],
    "set-max-intset-entries": ["0", "1", "4", "16", "512"],
    "zset-max-listpack-entries": ["0", "1", "4", "16", "128"],
    "zset-max-listpack-value": ["0", "4", "16", "64", "1024"],
    "list-max-listpack-size": ["-5", "-4", "-3", "-2", "-1", "1", "2", "3", "5", "16", "128"],
    "list-compress-depth": ["0", "0", "1", "2"],
    "stream-node-max-entries": ["1", "2", "3", "5", "100"],
    "stream-node-max-bytes": ["0", "64", "4096"],
}
DEFAULTS = {
    "hash-max-listpack-entries": "128", "hash-max-listpack-value": "64",
    "set-max-intset-entries": "512", "zset-max-listpack-entries": "128",
    "zset-max-listpack-value": "64", "list-max-listpack-size": "-2", "list-compress-depth": "0",
    "stream-node-max-entries": "100", "stream-node-max-bytes": "4096",
}
TYPES = ("string", "list", "set", "zset", "hash", "stream")


def seeds() -> list[int]:
    spec = os.environ.get("PERSISTKIT_SEEDS", "")
    if "," in spec:
        return [int(x) for x in spec.split(",") if x.strip()]
    n = int(spec) if spec.strip() else 3
    return [1000 + i for i in range(n)]


class KeyspaceGen:
    def __init__(self, seed: int, n_keys: int = 90):
        self.seed = seed
        self.rng = random.Random(seed)
        self.n_keys = n_keys
        self.keys: dict[tuple[int, bytes], str] = {}   # (db, key) -> type, as the generator believes
        self._counter = 0
        self.now_ms = int(time.time() * 1000)

    # ------------------------------------------------------------------ values

    def blob(self, max_len: int = 24) -> bytes:
        r = self.rng
        kind = r.random()
        if kind < 0.15:
            return str(r.choice(INT_EDGES)).encode()
        if kind < 0.22:
            return r.choice(NUMBERLIKE)
        if kind < 0.30:
            return r.choice([b"", b"\x00", b"\xff", b"\r\n", b"a\x00b\xff\r\n", b"\xff\xfe\x00\x00"])
        if kind < 0.45:
            return bytes(r.randrange(256) for _ in range(r.randrange(max_len + 1)))
        if kind < 0.5:
            return bytes(r.randrange(256) for _ in range(r.choice([20, 21, 44, 45, 63, 64, 65])))
        return (r.choice(["f", "val", "x", "é", "k:"]) + str(r.randrange(10 ** r.randrange(1, 8)))).encode()

    def big_string(self) -> bytes:
        r = self.rng
        n = r.choice([20, 21, 44, 45, 255, 256, 1000, 4096, 9000, 20000])
        if r.random() < 0.5:  # compressible (LZF in the RDB)
            unit = bytes(r.randrange(256) for _ in range(r.randrange(1, 12)))
            return (unit * (n // len(unit) + 1))[:n]
        return r.randbytes(n)

    def new_key(self, ktype: str) -> bytes:
        self._counter += 1
        r = self.rng
        style = r.random()
        if style < 0.2:
            key = b"bin\x00\xff\r\n" + r.randbytes(r.randrange(4)) + str(self._counter).encode()
        elif style < 0.3:
            key = str(r.choice(INT_EDGES)).encode() + b"#" + str(self._counter).encode()
        else:
            key = f"{ktype}:{self.seed}:{self._counter}".encode()
        return key

    def thresholds(self, pipe, names) -> None:
        # half the keys get roomy limits (compact encodings), half random ones (often big)
        roomy = self.rng.random() < 0.5
        for name in names:
            choices = THRESHOLDS_SMALL[name]
            value = choices[-1] if roomy and name != "list-compress-depth" else self.rng.choice(choices)
            pipe.execute_command("CONFIG", "SET", name, value)

    # ------------------------------------------------------------------ fill

    def fill(self, client) -> None:
        pipe = client.pipeline(transaction=False)
        for _ in range(self.n_keys):
            db = self.rng.choice(DBS)
            ktype = self.rng.choice(TYPES)
            pipe.execute_command("SELECT", db)
            key = self.new_key(ktype)
            getattr(self, "make_" + ktype)(pipe, key)
            self.keys[(db, key)] = ktype
            self.maybe_ttl(pipe, key)
        pipe.execute_command("SELECT", 0)
        check_replies(pipe.execute(raise_on_error=False))
        self.reset_config(client)
        self.forget_gone(client)

    def reset_config(self, client) -> None:
        pipe = client.pipeline(transaction=False)
        for k, v in DEFAULTS.items():
            pipe.execute_command("CONFIG", "SET", k, v)
        pipe.execute()

    def maybe_ttl(self, pipe, key) -> None:
        r = self.rng.random()
        if r < 0.15:
            pipe.execute_command("PEXPIREAT", key, self.now_ms + self.rng.randrange(3_600_000, 10 ** 10))
        elif r < 0.2:
            pipe.execute_command("EXPIRE", key, self.rng.randrange(3600, 10 ** 7))

    def make_string(self, pipe, key) -> None:
        r = self.rng.random()
        if r < 0.3:
            value = str(self.rng.choice(INT_EDGES)).encode()
        elif r < 0.4:
            value = self.rng.choice(NUMBERLIKE)
        elif r < 0.7:
            value = self.big_string()
        else:
            value = self.blob(60)
        pipe.set(key, value)
        if self.rng.random() < 0.2:
            pipe.append(key, self.blob(10))
        if self.rng.random() < 0.1:
            pipe.setrange(key, self.rng.randrange(0, 40), self.blob(8) or b"z")

    def make_list(self, pipe, key) -> None:
        self.thresholds(pipe, ["list-max-listpack-size", "list-compress-depth"])
        r = self.rng
        n = r.choice([1, 2, 5, 10, 40, 150])
        for _ in range(n):
            vals = [self.blob() if r.random() < 0.9 else self.big_string() for _ in range(r.randrange(1, 4))]
            if r.random() < 0.15:
                vals.append(b"pivot")
            (pipe.lpush if r.random() < 0.5 else pipe.rpush)(key, *vals)
        self.list_edits(pipe, key, r.randrange(0, 6))

    def list_edits(self, pipe, key, n) -> None:
        r = self.rng
        for _ in range(n):
            op = r.random()
            if op < 0.25:
                pipe.execute_command("LREM", key, r.choice([0, 1, -1, 2]), r.choice([b"pivot", self.blob()]))
            elif op < 0.45:
                # LSET on index 0 always exists while the key lives
                pipe.execute_command("LSET", key, 0, self.blob())
            elif op < 0.65:
                # "pivot" is pushed into lists now and then so that LINSERT / LREM really hit
                pipe.execute_command("LINSERT", key, r.choice(["BEFORE", "AFTER"]), b"pivot",
                                     self.blob() if r.random() < 0.8 else self.big_string())
            elif op < 0.8:
                pipe.execute_command(r.choice(["LPOP", "RPOP"]), key)
            elif op < 0.9:
                pipe.execute_command("LTRIM", key, r.randrange(0, 3), r.choice([-1, -2, 50]))
            else:
                pipe.rpush(key, *[str(v).encode() for v in r.sample(INT_EDGES, 4)])

    def make_set(self, pipe, key) -> None:
        self.thresholds(pipe, ["set-max-intset-entries"])
        r = self.rng
        kind = r.random()
        if kind < 0.5:   # integers: an intset grows from int16 to int64 ...
            members = [str(r.choice(INT_EDGES) + r.randrange(-3, 4) * (r.random() < 0.3)).encode()
                       for _ in range(r.randrange(1, 30))]
            members = [m for m in members if -2 ** 63 <= int(m) < 2 ** 63] or [b"1"]
            pipe.sadd(key, *members)
            if r.random() < 0.5:  # ... and loses its big members again (stays int64 encoded)
                pipe.srem(key, *[str(v).encode() for v in INT_EDGES if abs(v) > 32767])
                pipe.sadd(key, b"7")
        else:
            members = [self.blob() for _ in range(r.randrange(1, r.choice([10, 80, 600])))]
            pipe.sadd(key, *members)
            if r.random() < 0.3 and len(members) > 1:
                pipe.srem(key, *members[: len(members) // 2])
                pipe.sadd(key, b"keep")

    def make_zset(self, pipe, key) -> None:
        self.thresholds(pipe, ["zset-max-listpack-entries", "zset-max-listpack-value"])
        r = self.rng
        n = r.choice([1, 3, 10, 50, 200])
        mapping = {}
        for _ in range(n):
            score = r.choice(SCORES) if r.random() < 0.4 else r.choice(
                [float(r.randrange(-1000, 1000)), r.uniform(-1e6, 1e6), r.randrange(-2 ** 62, 2 ** 62) * 1.0])
            mapping[self.blob()] = score
        pipe.zadd(key, mapping)
        if r.random() < 0.3:
            pipe.zincrby(key, r.choice([1.5, -2, 1e300]), next(iter(mapping)))
        if r.random() < 0.3 and len(mapping) > 2:
            pipe.zrem(key, *list(mapping)[: len(mapping) // 2])
            pipe.zadd(key, {b"keep": 0.5})

    def make_hash(self, pipe, key) -> None:
        self.thresholds(pipe, ["hash-max-listpack-entries", "hash-max-listpack-value"])
        r = self.rng
        n = r.choice([1, 2, 8, 60, 300, 700])
        mapping = {}
        for i in range(n):
            f = self.blob() if r.random() < 0.7 else b"field:%d" % i
            mapping[f] = self.blob(r.choice([10, 80])) if r.random() < 0.95 else self.big_string()
        pipe.hset(key, mapping=mapping)
        if r.random() < 0.4 and len(mapping) > 1:   # a listpack that shrank
            pipe.hdel(key, *list(mapping)[: max(1, len(mapping) // 2)])
            pipe.hset(key, b"keep", b"1")
        if r.random() < 0.2:
            pipe.hincrby(key, b"counter", r.choice(INT_EDGES[:20]))

    def make_stream(self, pipe, key) -> None:
        self.thresholds(pipe, ["stream-node-max-entries", "stream-node-max-bytes"])
        r = self.rng
        ms = r.choice([0, 1, 1_600_000_000_000, self.now_ms])
        seq = 0
        ids = []
        fields_pool = [self.blob(8) or b"f" for _ in range(3)]
        for _ in range(r.choice([1, 3, 10, 40])):
            if r.random() < 0.5:
                ms += r.randrange(0, 3)
                seq = seq + 1 if r.random() < 0.7 else seq + 2 ** r.randrange(1, 40)
            else:
                ms += r.randrange(1, 10 ** 6)
                seq = r.randrange(0, 3)
            eid = f"{ms}-{seq}"
            ids.append(eid)
            same = r.random() < 0.6
            flds = {f: self.blob() for f in (fields_pool if same else [self.blob(6) or b"g" for _ in range(r.randrange(1, 4))])}
            pipe.xadd(key, flds, id=eid)
        if r.random() < 0.3 and len(ids) > 2:
            pipe.xdel(key, *r.sample(ids, len(ids) // 3))
        if r.random() < 0.2:
            pipe.execute_command("XTRIM", key, "MAXLEN", r.randrange(0, len(ids) + 1))
        if r.random() < 0.15:
            pipe.execute_command("XSETID", key, f"{ms + 5}-{r.randrange(10)}", "ENTRIESADDED", len(ids) + 7,
                                 "MAXDELETEDID", f"{ms}-{seq}")
        for g in range(r.choice([0, 0, 1, 2])):
            group = self.blob(6) or b"grp"
            pipe.execute_command("XGROUP", "CREATE", key, group, r.choice(["0", "$", ids[0]]), "MKSTREAM",
                                 "ENTRIESREAD", r.randrange(0, 5)) if r.random() < 0.3 else \
                pipe.execute_command("XGROUP", "CREATE", key, group, r.choice(["0", "$", ids[0]]), "MKSTREAM")
            for c in range(r.randrange(0, 3)):
                consumer = b"c%d" % c + self.blob(3)
                pipe.execute_command("XREADGROUP", "GROUP", group, consumer, "COUNT", r.randrange(1, 6),
                                     "STREAMS", key, ">")
                if r.random() < 0.3:
                    pipe.execute_command("XACK", key, group, r.choice(ids))
            if r.random() < 0.3:
                pipe.execute_command("XGROUP", "CREATECONSUMER", key, group, b"idle" + self.blob(3))
            if r.random() < 0.2:
                pipe.execute_command("XCLAIM", key, group, b"claimer", 0, r.choice(ids))

    # ------------------------------------------------------------------ mutate

    def mutate(self, client, n: int) -> None:
        """``n`` random writes to the keys made so far (and a few new keys), across dbs."""
        r = self.rng
        pipe = client.pipeline(transaction=False)
        for _ in range(n):
            if not self.keys or r.random() < 0.1:
                db = r.choice(DBS)
                ktype = r.choice(TYPES)
                key = self.new_key(ktype)
                pipe.execute_command("SELECT", db)
                getattr(self, "make_" + ktype)(pipe, key)
                self.keys[(db, key)] = ktype
                self.maybe_ttl(pipe, key)
                continue
            (db, key) = r.choice(sorted(self.keys))
            ktype = self.keys[(db, key)]
            pipe.execute_command("SELECT", db)
            op = r.random()
            if op < 0.07:
                pipe.delete(key)
                del self.keys[(db, key)]
            elif op < 0.12:
                pipe.delete(key)
                self.make_string(pipe, key)            # overwritten with another type
                self.keys[(db, key)] = "string"
            elif op < 0.17:
                pipe.execute_command("PERSIST", key)
            elif op < 0.22:
                self.maybe_ttl(pipe, key)
            else:
                self.grow(pipe, key, ktype)
        pipe.execute_command("SELECT", 0)
        check_replies(pipe.execute(raise_on_error=False))
        self.reset_config(client)
        self.forget_gone(client)

    def forget_gone(self, client) -> None:
        """Keys the server removed (popped empty, trimmed away) leave the generator's table."""
        order = sorted(self.keys)
        pipe = client.pipeline(transaction=False)
        for db, key in order:
            pipe.execute_command("SELECT", db)
            pipe.exists(key)
        pipe.execute_command("SELECT", 0)
        replies = pipe.execute()
        for (db, key), exists in zip(order, replies[1::2]):
            if not exists:
                del self.keys[(db, key)]

    def grow(self, pipe, key, ktype) -> None:
        r = self.rng
        if ktype == "string":
            op = r.random()
            if op < 0.3:
                pipe.set(key, str(r.choice(INT_EDGES[:-4])).encode())
                pipe.execute_command("INCRBY", key, r.randrange(-100, 100))
            elif op < 0.6:
                pipe.append(key, self.blob(30))
            else:
                pipe.set(key, self.big_string() if r.random() < 0.5 else self.blob())
        elif ktype == "list":
            self.thresholds(pipe, ["list-max-listpack-size", "list-compress-depth"])
            pipe.rpush(key, *[self.blob() for _ in range(r.randrange(1, 20))])
            self.list_edits(pipe, key, 3)
        elif ktype == "set":
            self.thresholds(pipe, ["set-max-intset-entries"])
            pipe.sadd(key, *[self.blob() if r.random() < 0.5 else str(r.choice(INT_EDGES)).encode()
                             for _ in range(r.randrange(1, 10))])
            if r.random() < 0.3:
                pipe.execute_command("SPOP", key)
        elif ktype == "zset":
            self.thresholds(pipe, ["zset-max-listpack-entries", "zset-max-listpack-value"])
            pipe.zadd(key, {self.blob(): r.choice(SCORES) for _ in range(r.randrange(1, 10))})
            if r.random() < 0.3:
                pipe.execute_command("ZPOPMIN", key)
        elif ktype == "hash":
            self.thresholds(pipe, ["hash-max-listpack-entries", "hash-max-listpack-value"])
            pipe.hset(key, mapping={self.blob(): self.blob(40) for _ in range(r.randrange(1, 12))})
            if r.random() < 0.3:
                pipe.hdel(key, self.blob())
        elif ktype == "stream":
            pipe.xadd(key, {self.blob(6) or b"f": self.blob()})
            if r.random() < 0.3:
                pipe.execute_command("XTRIM", key, "MAXLEN", "~", r.randrange(0, 10))


# Errors a random history may legitimately meet: LSET on a list that an earlier LPOP /
# LTRIM emptied, a second group of the same name, an XSETID below the last entry.
ALLOWED_ERRORS = ("no such key", "BUSYGROUP", "smaller than the target stream top item",
                  "smaller than the target stream", "ENTRIESADDED", "WRONGTYPE")


def check_replies(replies) -> None:
    for reply in replies:
        if isinstance(reply, Exception) and not any(a in str(reply) for a in ALLOWED_ERRORS):
            raise reply


def wait_persistence_idle(client, deadline_s: float = 30.0) -> None:
    """Poll INFO persistence until no BGSAVE / AOF rewrite runs or is scheduled (live-server poll)."""
    end = time.monotonic() + deadline_s
    while True:
        info = client.info("persistence")
        busy = (info.get("rdb_bgsave_in_progress") or info.get("aof_rewrite_in_progress")
                or info.get("aof_rewrite_scheduled"))
        if not busy:
            if info.get("aof_last_bgrewrite_status", "ok") != "ok" or info.get("rdb_last_bgsave_status", "ok") != "ok":
                raise RuntimeError(f"background persistence failed: {info}")
            return
        if time.monotonic() > end:
            raise TimeoutError(f"persistence still busy after {deadline_s}s: {info}")
        time.sleep(0.02)
