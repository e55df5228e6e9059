"""Where a rebuilt keyspace goes: an RDB file, a fresh multi-part AOF, a RESP command
stream, or a live server (RESTORE, pipelined).

Every file output is atomic (``fileio.atomic_output`` / ``aoftools.writer.MultiPartWriter``):
an error part-way leaves nothing behind. Values are written with ``encodings="server"``,
i.e. in the encoding the target server would choose from its own limits.

Target RDB version (``choose_target``): the one asked for; otherwise the input
snapshot's version (its dialect too: a ``VALKEY080`` input gives ``VALKEY080``); otherwise
10 (Redis 7.0), raised to 12 when the state holds hash field TTLs, which nothing older
can store. An explicit version that cannot hold the state (field TTLs below 12 /
VALKEY080, functions below 10) is refused rather than silently losing data.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Iterator, Optional
from urllib.parse import urlparse

from persistkit.kvencoding.fileio import atomic_output
from persistkit.kvencoding.resp import encode_command
from persistkit.kvengine import Keyspace
from persistkit.rdbtools import encoding_policy as policy
from persistkit.rdbtools import model
from persistkit.rdbtools.writer import RDBWriter, encode_payload

from .replay import RecoveryError

# The redis-ver aux field we write per target RDB version (what that server would write).
REDIS_VER_OF = {6: b"2.6.17", 7: b"3.2.13", 8: b"4.0.14", 9: b"6.2.16", 10: b"7.0.15",
                11: b"7.2.6", 12: b"7.4.1", 80: b"7.2.4"}


@dataclass(frozen=True)
class Target:
    version: int
    dialect: str


def has_field_ttls(ks: Keyspace) -> bool:
    for db in ks.dbs:
        for v in db.data.values():
            if getattr(v, "fexp", None):
                return True
    return False


def choose_target(ks: Keyspace, version: Optional[int] = None, *, input_version: Optional[int] = None,
                  input_magic: Optional[str] = None) -> Target:
    field_ttls = has_field_ttls(ks)
    if version is None:
        if input_version is not None:
            version = input_version
            dialect = policy.VALKEY if (input_magic == "VALKEY" or version >= 80) else policy.REDIS
            if field_ttls and not policy.has_field_ttls(version, dialect):
                version = 12 if dialect == policy.REDIS else 80
        else:
            version = 12 if field_ttls else 10
            dialect = policy.REDIS
    else:
        dialect = policy.VALKEY if version >= 80 else policy.REDIS
    try:
        policy.check_target(version, dialect)
    except ValueError as exc:
        raise RecoveryError(f"--rdb-version {version}: {exc}") from None
    if field_ttls and not policy.has_field_ttls(version, dialect):
        raise RecoveryError(f"the state has hash field TTLs, which RDB version {version} cannot store "
                            "(use --rdb-version 12, or 80 for Valkey 9)")
    if ks.functions and version < 10:
        raise RecoveryError(f"the state has function libraries, which RDB version {version} cannot "
                            "store (use --rdb-version 10 or later)")
    return Target(version, dialect)


def rdb_items(ks: Keyspace, encoded_for: Optional[tuple] = None) -> Iterator:
    """The keyspace as writer items: functions, then per db SELECTDB, RESIZEDB, records.
    ``encoded_for``: the writer's signature (compact values made for it are copied)."""
    from persistkit.kvengine.records import iter_records

    yield from ks.iter_functions()
    for db in ks.dbs:
        if not db.data:
            continue
        yield model.SelectDB(db.id)
        yield model.ResizeDB(len(db.data), len(db.expires))
        yield from iter_records(ks, dbs=(db.id,), encoded_for=encoded_for)


def write_rdb(ks: Keyspace, stream, target: Target, *, aof_base: bool = False) -> RDBWriter:
    from persistkit.kvengine.rdbfile import write_keyspace

    w = RDBWriter(stream, version=target.version, dialect=target.dialect, encodings="server")
    w.header()
    w.standard_aux(redis_ver=REDIS_VER_OF.get(target.version, b"7.0.15"), aof_base=aof_base)
    for item in ks.iter_functions():
        w.write(item)
    # the engine's own snapshot writer: compiled where it applies, compact bodies copied
    write_keyspace(ks, w, with_meta=ks.compat >= (7, 0))
    w.eof()
    return w


def write_rdb_file(ks: Keyspace, path, target: Target) -> dict:
    with atomic_output(path) as out:
        w = write_rdb(ks, out, target)
    return {"format": "rdb", "path": str(path), "rdb_version": target.version,
            "dialect": target.dialect, "keys": w.keys_written, "bytes": w.bytes_written}


def write_aof_dir(ks: Keyspace, out_dir, target: Target) -> dict:
    """A fresh Redis 7 multi-part AOF: an RDB base (aof-use-rdb-preamble yes) and an
    empty incr file, as the server leaves a directory right after BGREWRITEAOF."""
    from persistkit.aoftools.writer import MultiPartWriter

    with MultiPartWriter(out_dir) as mp:
        base = mp.write_base_rdb(_base_items(ks, target), version=target.version, dialect=target.dialect,
                                 encodings="server")
        mp.write_incr(())
    return {"format": "aof", "path": str(out_dir), "base": base, "rdb_version": target.version,
            "dialect": target.dialect, "keys": ks.total_keys()}


def _base_items(ks: Keyspace, target: Target):
    from persistkit.rdbtools.encoding_policy import default_thresholds
    from persistkit.rdbtools.writer import encoder_signature

    for k, v in ((b"redis-ver", REDIS_VER_OF.get(target.version, b"7.0.15")), (b"redis-bits", b"64"),
                 (b"aof-base", b"1")):
        yield model.Aux(k, v)
    # the base writer: "server" encodings at the target's default thresholds, compressed
    sig = encoder_signature(target.version, target.dialect, True, "server",
                            default_thresholds(target.version, target.dialect))
    yield from rdb_items(ks, sig)


# -- RESP ---------------------------------------------------------------------------------

def rebuild_commands(ks: Keyspace) -> Iterator[list]:
    """Commands that rebuild ``ks`` on an empty server (the AOF rewrite's plain form:
    functions, then per db SELECT and one command per key, TTLs as PEXPIREAT).
    Streams are rebuilt exactly (rdbtools.streamcmds: also the pending entries of deleted
    messages, which the rewrite's XCLAIM ... FORCE would drop) in place of the rewrite's
    own stream commands."""
    from persistkit.kvengine.persistence import rewrite_commands
    from persistkit.kvengine.records import stream_to_model
    from persistkit.kvengine.values import Stream
    from persistkit.rdbtools.streamcmds import stream_commands

    done = set()
    for db, args in rewrite_commands(ks):
        if args[:2] == [b"FUNCTION", b"LOAD"]:
            args = [b"FUNCTION", b"LOAD", b"REPLACE", args[2]]
        elif args[0] in _STREAM_REWRITE:
            key = args[2] if args[0] == b"XGROUP" else args[1]
            if type(ks.dbs[db].data.get(key)) is Stream:
                if (db, key) not in done:
                    done.add((db, key))
                    yield from stream_commands(key, stream_to_model(ks.dbs[db].data[key]))
                continue
        yield args


# The commands the rewrite writes for a stream (kvengine.aof._stream_commands).
_STREAM_REWRITE = frozenset((b"XADD", b"XSETID", b"XGROUP", b"XCLAIM"))


def write_resp(ks: Keyspace, out) -> int:
    n = 0
    for args in rebuild_commands(ks):
        out.write(encode_command(args))
        n += 1
    return n


def write_resp_target(ks: Keyspace, target: str) -> dict:
    if target == "-":
        out = sys.stdout.buffer
        n = write_resp(ks, out)
        out.flush()
    else:
        with atomic_output(target) as out:
            n = write_resp(ks, out)
    return {"format": "resp", "path": target, "commands": n, "keys": ks.total_keys()}


# -- a live server ---------------------------------------------------------------------------

def parse_redis_url(url: str) -> tuple[str, Optional[int]]:
    """(url without the db path, db or None)."""
    u = urlparse(url)
    if u.scheme not in ("redis", "rediss", "unix"):
        raise RecoveryError(f"--to {url!r}: expected redis://HOST:PORT[/DB]")
    path = u.path.strip("/")
    db = None
    if path and u.scheme != "unix":
        if not path.isdigit():
            raise RecoveryError(f"--to {url!r}: the path must be a db number")
        db = int(path)
    base = url if db is None else url[: url.rstrip("/").rfind("/")]
    return base, db


def payload_target(info: dict, field_ttls: bool) -> Target:
    """The DUMP payload version the live server accepts (RESTORE refuses newer ones)."""
    if "valkey_version" in info or info.get("server_name") == "valkey":
        major = int(str(info.get("valkey_version", "8.0")).split(".")[0])
        if field_ttls and major >= 9:
            return Target(80, policy.VALKEY)
        return Target(11, policy.REDIS)
    parts = [int(x) for x in str(info.get("redis_version", "7.0.0")).split(".")[:2]]
    ver = (parts + [0])[:2]
    if ver >= [7, 4]:
        return Target(12, policy.REDIS)
    if ver >= [7, 2]:
        return Target(11, policy.REDIS)
    if ver >= [7, 0]:
        return Target(10, policy.REDIS)
    if ver >= [5, 0]:
        return Target(9, policy.REDIS)
    raise RecoveryError(f"the server runs Redis {info.get('redis_version')}: RESTORE ... ABSTTL needs 5.0 or later")


def send_to_redis(ks: Keyspace, url: str, *, batch: int = 500,
                  progress: Optional[Callable[[int], None]] = None) -> dict:
    """RESTORE every key (REPLACE ABSTTL) and FUNCTION LOAD REPLACE every library,
    pipelined; keys go to their own db, or all to the url's /DB when it names one
    (then the state must use a single db). Error replies are counted and returned;
    a server that cannot be reached (or goes away) is a RecoveryError."""
    import redis

    try:
        return _send(ks, url, batch, progress)
    except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
        raise RecoveryError(f"--to {url}: {exc}") from None


def _send(ks: Keyspace, url: str, batch: int, progress) -> dict:
    import redis

    base, only_db = parse_redis_url(url)
    used = [d.id for d in ks.dbs if d.data]
    if only_db is not None and len(used) > 1:
        raise RecoveryError(f"--to {url}: the state has keys in dbs {', '.join(map(str, used))}; "
                            "give the URL without /DB to write each db to its own number")
    field_ttls = has_field_ttls(ks)
    first = redis.Redis.from_url(base, db=only_db or 0)
    try:
        info = first.info("server")
    except redis.RedisError as exc:
        raise RecoveryError(f"--to {url}: {exc}") from None
    target = payload_target(info, field_ttls)
    if field_ttls and not policy.has_field_ttls(target.version, target.dialect):
        raise RecoveryError(f"--to {url}: the state has hash field TTLs and the server "
                            f"({info.get('redis_version')}) cannot store them")
    sent = errors = 0
    messages: list[str] = []
    for lib in ks.iter_functions():
        try:
            first.execute_command("FUNCTION", "LOAD", "REPLACE", lib.code)
        except redis.RedisError as exc:
            errors += 1
            messages.append(f"FUNCTION LOAD: {exc}")
    first.close()
    for db in ks.dbs:
        if not db.data:
            continue
        client = redis.Redis.from_url(base, db=db.id if only_db is None else only_db)
        pipe = client.pipeline(transaction=False)
        pending = 0
        for rec in ks.iter_records(dbs=(db.id,)):
            payload = encode_payload(rec, version=target.version, dialect=target.dialect, encodings="server")
            ttl = rec.expire_ms if rec.expire_ms is not None else 0
            if rec.expire_ms is not None:
                pipe.execute_command("RESTORE", rec.key, ttl, payload, "REPLACE", "ABSTTL")
            else:
                pipe.execute_command("RESTORE", rec.key, 0, payload, "REPLACE")
            pending += 1
            if pending >= batch:
                e, m = _flush(pipe)
                errors += e
                messages.extend(m)
                sent += pending
                pending = 0
                if progress is not None:
                    progress(sent)
        if pending:
            e, m = _flush(pipe)
            errors += e
            messages.extend(m)
            sent += pending
            if progress is not None:
                progress(sent)
        client.close()
    return {"format": "redis", "url": url, "payload_rdb_version": target.version,
            "keys_sent": sent, "errors": errors, "error_messages": messages[:20],
            "functions": len(ks.functions)}


def _flush(pipe) -> tuple[int, list[str]]:
    replies = pipe.execute(raise_on_error=False)
    errs = [str(r) for r in replies if isinstance(r, Exception)]
    return len(errs), errs
