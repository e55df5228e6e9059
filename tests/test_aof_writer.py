"""AOF writer: round trips (read -> write -> read), byte identity with Redis-written files,
atomic multi-part directories, and a real redis-server 7.0 loading what we write."""

from __future__ import annotations

import io
import os
import shutil

import pytest

from corpus import REAL, alive_at, diff_keyspaces, expected_keyspace, keyspace_from_records, wall_clock_ms
from realredis import RedisServer, read_keyspace, redis_binary
from test_aof_verify import check_aof

from persistkit.aoftools import model
from persistkit.aoftools.manifest import parse_manifest
from persistkit.aoftools.reader import AOFReader
from persistkit.aoftools.verify import verify_aof
from persistkit.aoftools.writer import (AOFWriter, MultiPartWriter, write_hybrid_file, write_resp_file)
from persistkit.kvencoding.resp import encode_command
from persistkit.rdbtools import model as rdbmodel


def _input(d):
    sub = d / "appendonlydir"
    return sub if sub.is_dir() else d / "appendonly.aof"


def _split(reader):
    rdb, cmds = [], []
    for item in reader:
        (cmds if isinstance(item, model.AOFCommand) else rdb).append(item)
    return rdb, cmds


def _cmd_view(cmds):
    return [(c.db, c.args, c.time) for c in cmds]


@pytest.mark.parametrize("d", sorted(REAL.glob("*/aof-*")), ids=lambda d: f"{d.parent.name}/{d.name}")
def test_round_trip_every_real_set(tmp_path, d):
    src = AOFReader(_input(d))
    rdb, cmds = _split(src)
    version = next((i.version for i in rdb if isinstance(i, rdbmodel.Header)), 10)
    dialect = next(("valkey" for i in rdb if isinstance(i, rdbmodel.Header) and i.magic == "VALKEY"), "redis")
    if src.aof_set.layout == model.MULTIPART:
        out = tmp_path / "appendonlydir"
        by_file = {}
        for c in cmds:
            by_file.setdefault(c.file, []).append(c)
        with MultiPartWriter(out, timestamps=True) as mp:
            for part in src.parts:
                if part.role == model.ROLE_BASE:
                    if part.format == model.FMT_RDB:
                        mp.write_base_rdb(rdb, version=version, dialect=dialect)
                    else:
                        mp.write_base_resp(by_file.get(part.name, []))
                else:
                    mp.write_incr(by_file.get(part.name, []))
    elif src.aof_set.hybrid:
        out = tmp_path / "appendonly.aof"
        write_hybrid_file(out, rdb, cmds, version=version, dialect=dialect, timestamps=True)
    else:
        out = tmp_path / "appendonly.aof"
        write_resp_file(out, cmds, timestamps=True)
    again = AOFReader(out)
    rdb2, cmds2 = _split(again)
    assert _cmd_view(cmds2) == _cmd_view(cmds)
    assert diff_keyspaces(keyspace_from_records(rdb2), keyspace_from_records(rdb)) == []
    assert verify_aof(out).ok


def test_resp_files_rewrite_byte_identical():
    for f in sorted(REAL.glob("*/aof-*/appendonlydir/*.aof")) + sorted(REAL.glob("*/aof-plain/appendonly.aof")):
        buf = io.BytesIO()
        AOFWriter(buf, timestamps=True).write_all(AOFReader(f).commands())
        assert buf.getvalue() == f.read_bytes(), f


def test_writer_select_and_timestamps():
    buf = io.BytesIO()
    w = AOFWriter(buf, timestamps=True)
    w.command([b"SET", b"a", b"1"], db=0, time=10)
    w.command([b"SET", b"b", b"2"], db=0, time=10)
    w.command([b"SET", b"c", b"3"], db=3, time=11)
    assert buf.getvalue() == (b"#TS:10\r\n" + encode_command([b"SELECT", b"0"])
                              + encode_command([b"SET", b"a", b"1"]) + encode_command([b"SET", b"b", b"2"])
                              + b"#TS:11\r\n" + encode_command([b"SELECT", b"3"])
                              + encode_command([b"SET", b"c", b"3"]))
    assert w.commands_written == 3 and w.bytes_written == len(buf.getvalue())


def test_multipart_is_atomic(tmp_path):
    out = tmp_path / "appendonlydir"
    with pytest.raises(RuntimeError):
        with MultiPartWriter(out) as mp:
            mp.write_incr([[b"SET", b"k", b"v"]])
            raise RuntimeError("crash while writing")
    assert not out.exists() and os.listdir(tmp_path) == []
    with MultiPartWriter(out) as mp:
        mp.write_base_resp([[b"SET", b"k", b"v"]])
        mp.write_incr([[b"DEL", b"k"]])
        mp.write_incr([])
    m = parse_manifest((out / "appendonly.aof.manifest").read_bytes())
    assert m.base.name == "appendonly.aof.1.base.aof"
    assert [(i.name, i.seq) for i in m.incrs] == [("appendonly.aof.1.incr.aof", 1), ("appendonly.aof.2.incr.aof", 2)]
    ok, _, _, text = check_aof(out)
    assert ok, text
    with pytest.raises(FileExistsError):
        with MultiPartWriter(out):
            pass


# ---------------------------------------------------------------------------
# a real redis-server 7.0 loads what we write

def _load_dir_into_redis(tmp_path, aof_dir):
    redis_binary()
    work = tmp_path / "redis"
    work.mkdir()
    shutil.copytree(aof_dir, work / "appendonlydir")
    return RedisServer(work, "--appenddirname", "appendonlydir", "--aof-timestamp-enabled", "yes",
                       appendonly=True)


@pytest.mark.parametrize("which", ["aof-hybrid", "aof-plain"])
def test_real_redis_loads_written_multipart(tmp_path, which):
    folder = REAL / "redis-7.0.15"
    src = AOFReader(folder / which / "appendonlydir")
    rdb, cmds = _split(src)
    out = tmp_path / "written"
    by_file = {}
    for c in cmds:
        by_file.setdefault(c.file, []).append(c)
    with MultiPartWriter(out, timestamps=True) as mp:
        base = src.parts[0]
        if base.format == model.FMT_RDB:
            mp.write_base_rdb(rdb, version=10)
        else:
            mp.write_base_resp(by_file.get(base.name, []))
        for part in src.parts[1:]:
            mp.write_incr(by_file.get(part.name, []))
    at = wall_clock_ms()  # the server expires corpus TTLs by its clock: compare as of now
    with _load_dir_into_redis(tmp_path, out) as server:
        got = alive_at(read_keyspace(server, dbs=range(16)), at)
        assert len(server.client().function_list()) == 2  # both corpus libraries came through
    want = alive_at(expected_keyspace(folder, which), at)
    assert len(got) == len(want) > 100
    assert diff_keyspaces(got, want, consumer_times_wildcard=True) == []
