"""Damage the corpus does not have, done to fresh files a real redis-server 7.0 wrote for a
seeded random keyspace (tests/gen_keyspace.py, via test_differential.World).

For every kind: ``verify`` exits 1 (never 0, never a traceback) and names a byte offset
at or after the damage; AOF damage agrees with redis-check-aof (run on a temp copy) on
ok / not ok and on the valid prefix; ``repair`` writes output that verifies clean and
keeps every key (RDB) or command (AOF) before the damage, and never touches its input.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import lz4.frame
import pytest
from click.testing import CliRunner

from corpus import diff_keyspaces, keyspace_from_records
from gen_keyspace import seeds
from persistkit.cli import main
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import read_rdb
from realredis import redis_binary
from test_differential import World, blank_consumer_seen_times

SEED = seeds()[0]
PAGE = 4096


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def sha(path: Path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def verify_json(path) -> tuple[int, dict]:
    r = run("verify", "--json", path)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.output)


def problem_offsets(doc: dict) -> list[int]:
    return [p["offset"] for rep in doc["reports"] for p in rep["problems"] if p.get("offset") is not None]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(SEED, tmp_path_factory.mktemp("damage-world"))


# ---------------------------------------------------------------------------------- RDB

def torn_page(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(PAGE) + data[at + PAGE:]


def repeated_block(data: bytes, at: int) -> bytes:
    return data[:at + PAGE] + data[at:at + PAGE] + data[at + PAGE:]


def removed_block(data: bytes, at: int) -> bytes:
    return data[:at] + data[at + PAGE:]


def random_bytes(data: bytes, at: int) -> bytes:
    rng = random.Random(at)
    out = bytearray(data)
    for i in range(6):
        pos = at + rng.randrange(0, 64) + i * 97
        out[pos] ^= rng.randrange(1, 256)
    return bytes(out)


RDB_DAMAGE = {"torn-page": torn_page, "repeated-block": repeated_block, "removed-block": removed_block,
              "random-bytes": random_bytes}


def record_start(records, at: int) -> int:
    for r in records:
        off, length = getattr(r, "offset", None), getattr(r, "length", None)
        if off is not None and length and off <= at < off + length:
            return off
    return at - 16


def keys_before(records, offset: int) -> dict:
    """Keys whose whole record lies before ``offset``."""
    return keyspace_from_records(r for r in records if isinstance(r, model.Record) and r.offset + r.length <= offset)


def check_rdb_repair(src: Path, damage_at: int, original_records, tmp_path: Path) -> dict:
    before = sha(src)
    out = tmp_path / "repaired.rdb"
    r = run("repair", src, "-o", out, "--json")
    assert r.exit_code == 1, r.output          # damage found (and repaired)
    assert sha(src) == before                  # the input is never modified
    code, doc = verify_json(out)
    assert code == 0, doc
    got = keyspace_from_records(read_rdb(out.read_bytes()))
    want = keys_before(original_records, damage_at)
    assert diff_keyspaces({k: got.get(k) for k in want if k in got}, want) == []
    assert set(want) <= set(got)
    return got


@pytest.mark.parametrize("kind", sorted(RDB_DAMAGE))
def test_rdb_damage(world, tmp_path, kind):
    data = world.rdb.read_bytes()
    records = read_rdb(data)
    at = len(data) // 2
    damaged = RDB_DAMAGE[kind](data, at)
    src = tmp_path / f"{kind}.rdb"
    src.write_bytes(damaged)
    code, doc = verify_json(src)
    assert code == 1, doc
    offs = problem_offsets(doc)
    # nothing flagged before the record the damage falls in (a problem inside a value is
    # reported at its record's start)
    assert offs and min(offs) >= record_start(records, at), offs
    check_rdb_repair(src, at, records, tmp_path)


def test_rdb_bytes_after_trailer(world, tmp_path):
    data = world.rdb.read_bytes()
    src = tmp_path / "trailing.rdb"
    src.write_bytes(data + b"\x00garbage after EOF\r\n")
    code, doc = verify_json(src)
    assert code == 1, doc
    assert min(problem_offsets(doc)) >= len(data) - 9
    got = check_rdb_repair(src, len(data), read_rdb(data), tmp_path)
    assert diff_keyspaces(got, world.live) == []


@pytest.mark.parametrize("codec", ["gzip", "lz4"])
def test_compressed_rdb_cut(world, tmp_path, codec):
    data = world.rdb.read_bytes()
    packed = gzip.compress(data) if codec == "gzip" else lz4.frame.compress(data)
    src = tmp_path / ("cut.rdb.gz" if codec == "gzip" else "cut.rdb.lz4")
    src.write_bytes(packed[: len(packed) // 2])
    code, doc = verify_json(src)
    assert code == 1, doc
    assert [p["code"] for p in doc["reports"][0]["problems"]] == ["truncated"]
    before = sha(src)
    out = tmp_path / "repaired.rdb"
    r = run("repair", src, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(src) == before
    assert verify_json(out)[0] == 0
    # every key that decompressed whole before the cut (the reported offset) is kept
    got = keyspace_from_records(read_rdb(out.read_bytes()))
    want = keys_before(read_rdb(data), problem_offsets(doc)[0])
    assert len(want) > 3 and set(want) <= set(got)
    assert diff_keyspaces(got, {k: world.live[k] for k in got}) == []


# ---------------------------------------------------------------------------------- AOF

def check_aof(path: Path, tmp_path: Path) -> tuple[bool, int | None]:
    """redis-check-aof's verdict on a temp copy: (ok, ok_up_to of the last file analysed)."""
    copy = tmp_path / "check-copy"
    if copy.exists():
        shutil.rmtree(copy)
    if path.is_dir():
        shutil.copytree(path, copy)
        target = next(copy.glob("*.manifest"))
    else:
        copy.mkdir()
        target = copy / path.name
        shutil.copyfile(path, target)
    p = subprocess.run([redis_binary("redis-check-aof"), str(target)], capture_output=True, timeout=60)
    text = (p.stdout + p.stderr).decode("utf-8", "replace")   # it echoes the damaged bytes
    ups = re.findall(r"ok_up_to=(\d+)", text)
    return p.returncode == 0, int(ups[-1]) if ups else None


def aof_replay_keyspace(path: Path, tmp_path: Path, name: str) -> dict:
    out = tmp_path / f"{name}.rdb"
    r = run("replay", path, "-o", out)
    assert r.exit_code == 0, r.output
    ks = keyspace_from_records(read_rdb(out.read_bytes()))
    blank_consumer_seen_times(ks, {})   # set to the replay's own 'now'
    return ks


@pytest.mark.parametrize("kind", sorted(RDB_DAMAGE))
def test_single_aof_damage_agrees_with_redis_check_aof(world, tmp_path, kind):
    folder, _ = world.aof["no"]
    data = (folder / "appendonly.aof.2.incr.aof").read_bytes()
    at = len(data) // 3
    src = tmp_path / "damaged.aof"
    src.write_bytes(RDB_DAMAGE[kind](data, at))
    ok, ok_up_to = check_aof(src, tmp_path)
    code, doc = verify_json(src)
    assert (code == 0) == ok, (doc, ok_up_to)
    if ok:
        return
    report = doc["reports"][0]
    assert report["valid_up_to"] == ok_up_to
    assert min(problem_offsets(doc)) >= ok_up_to
    before = sha(src)
    out = tmp_path / "repaired.aof"
    r = run("repair", src, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(src) == before
    assert verify_json(out)[0] == 0
    assert check_aof(out, tmp_path)[0]
    # what redis-check-aof --fix would keep: the damaged file's valid prefix (a repeated
    # block can frame as a valid continuation for a while, like in the server's loader)
    assert ok_up_to >= command_start_before(data, at)
    prefix = tmp_path / "prefix.aof"
    prefix.write_bytes(src.read_bytes()[:ok_up_to])
    assert diff_keyspaces(aof_replay_keyspace(out, tmp_path, "rep"),
                          aof_replay_keyspace(prefix, tmp_path, "prefix")) == []


def command_start_before(data: bytes, at: int) -> int:
    """Offset of the last command (or MULTI) that starts at or before ``at``: every
    command before it is intact in the damaged file."""
    cut = data[:at]
    starts = [m.start() for m in re.finditer(rb"(?:^|\r\n)\*\d+\r\n\$", cut)]
    multi = cut.rfind(b"*1\r\n$5\r\nMULTI\r\n")
    exec_ = cut.rfind(b"*1\r\n$4\r\nEXEC\r\n")
    start = max(starts) if starts else 0
    if multi > exec_:          # inside a transaction: redis-check-aof keeps up to the MULTI
        start = min(start, multi)
    return max(0, start - 20)  # slack for a #TS annotation line


def damaged_set(world, tmp_path: Path, preamble: str) -> Path:
    folder, _ = world.aof[preamble]
    dst = tmp_path / f"set-{preamble}"
    shutil.copytree(folder, dst)
    return dst


def manifest_of(folder: Path) -> Path:
    return next(folder.glob("*.manifest"))


def test_truncated_manifest(world, tmp_path):
    folder = damaged_set(world, tmp_path, "yes")
    m = manifest_of(folder)
    text = m.read_bytes()
    m.write_bytes(text[: len(text) - 20])
    ok, _ = check_aof(folder, tmp_path)
    assert not ok
    code, doc = verify_json(folder)
    assert code == 1, doc
    assert problem_offsets(doc) == [text.index(b"\n") + 1]   # the cut line
    refuses_to_repair_manifest(folder, tmp_path)


def refuses_to_repair_manifest(folder: Path, tmp_path: Path) -> None:
    """Like the server, a manifest it cannot trust is not guessed around: exit 1, nothing
    written, input untouched."""
    before = sha(folder)
    out = tmp_path / "repaired"
    r = run("repair", folder, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(folder) == before and not out.exists()


def test_manifest_pointing_outside_its_folder(world, tmp_path):
    folder = damaged_set(world, tmp_path, "yes")
    m = manifest_of(folder)
    (tmp_path / "outside.aof").write_bytes(b"*1\r\n$4\r\nPING\r\n")
    m.write_bytes(m.read_bytes().replace(b"file appendonly.aof.2.incr.aof", b"file ../outside.aof"))
    ok, _ = check_aof(folder, tmp_path)
    assert not ok
    code, doc = verify_json(folder)
    assert code == 1, doc
    assert [p["code"] for rep in doc["reports"] for p in rep["problems"]] == ["manifest-unsafe-name"]
    refuses_to_repair_manifest(folder, tmp_path)
    for cmd in ("replay", "merge"):   # nothing reads ../outside.aof
        r = run(cmd, folder, "-o", tmp_path / f"{cmd}.rdb")
        assert r.exit_code == 1 and "../outside.aof" in r.output, r.output


def test_incr_replaced_by_garbage(world, tmp_path):
    folder = damaged_set(world, tmp_path, "yes")
    incr = next(folder.glob("*.incr.aof"))
    incr.write_bytes(random.Random(SEED).randbytes(3000))
    ok, _ = check_aof(folder, tmp_path)
    code, doc = verify_json(folder)
    assert (code == 0) == ok and code == 1, doc
    before = sha(folder)
    out = tmp_path / "repaired"
    r = run("repair", folder, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(folder) == before
    assert verify_json(out)[0] == 0
    # everything before the damage is the base: the repaired set holds the base's keys
    base = next(folder.glob("*.base.rdb"))
    want = keyspace_from_records(read_rdb(base.read_bytes()))
    blank_consumer_seen_times(want, {})
    assert diff_keyspaces(aof_replay_keyspace(out, tmp_path, "rep"), want) == []


def test_base_rdb_bad_crc_in_multipart_set(world, tmp_path):
    folder = damaged_set(world, tmp_path, "yes")
    base = next(folder.glob("*.base.rdb"))
    data = bytearray(base.read_bytes())
    data[-3] ^= 0x5A          # inside the CRC64 trailer
    base.write_bytes(bytes(data))
    ok, _ = check_aof(folder, tmp_path)
    assert not ok
    code, doc = verify_json(folder)
    assert code == 1, doc
    assert min(problem_offsets(doc)) >= len(data) - 8 - 1
    before = sha(folder)
    out = tmp_path / "repaired"
    r = run("repair", folder, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(folder) == before
    assert verify_json(out)[0] == 0
    ok, _ = check_aof(out, tmp_path)
    assert ok
    # the damage is in the base: its keys are kept, the increments after it are dropped
    want = keyspace_from_records(read_rdb(bytes(data), strict_crc=False))
    blank_consumer_seen_times(want, {})
    assert diff_keyspaces(aof_replay_keyspace(out, tmp_path, "rep"), want) == []


@pytest.mark.parametrize("kind", sorted(RDB_DAMAGE))
def test_multipart_incr_damage(world, tmp_path, kind):
    folder = damaged_set(world, tmp_path, "yes")
    incr = next(folder.glob("*.incr.aof"))
    data = incr.read_bytes()
    at = len(data) // 2
    incr.write_bytes(RDB_DAMAGE[kind](data, at))
    ok, ok_up_to = check_aof(folder, tmp_path)
    code, doc = verify_json(folder)
    assert (code == 0) == ok, doc
    if ok:
        return
    assert doc["reports"][0]["valid_up_to"] == ok_up_to
    before = sha(folder)
    out = tmp_path / "repaired"
    r = run("repair", folder, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(folder) == before
    assert verify_json(out)[0] == 0 and check_aof(out, tmp_path)[0]
    # base + the incr's valid prefix, as redis-check-aof --fix would leave it
    prefix = tmp_path / "prefix-set"
    shutil.copytree(folder, prefix)
    (prefix / incr.name).write_bytes(incr.read_bytes()[:ok_up_to])
    assert diff_keyspaces(aof_replay_keyspace(out, tmp_path, "rep"),
                          aof_replay_keyspace(prefix, tmp_path, "prefix")) == []


@pytest.mark.parametrize("kind", sorted(RDB_DAMAGE))
def test_hybrid_single_file_damage(world, tmp_path, kind):
    """An old-style appendonly.aof with an RDB preamble, damaged in its command part."""
    folder, _ = world.aof["yes"]
    base = next(folder.glob("*.base.rdb")).read_bytes()
    data = base + next(folder.glob("*.incr.aof")).read_bytes()
    at = len(base) + (len(data) - len(base)) // 2
    src = tmp_path / "appendonly.aof"
    src.write_bytes(RDB_DAMAGE[kind](data, at))
    ok, ok_up_to = check_aof(src, tmp_path)
    code, doc = verify_json(src)
    assert (code == 0) == ok, doc
    if ok:
        return
    assert doc["reports"][0]["valid_up_to"] == ok_up_to
    before = sha(src)
    out = tmp_path / "repaired.aof"
    r = run("repair", src, "-o", out)
    assert r.exit_code == 1, r.output
    assert sha(src) == before
    assert verify_json(out)[0] == 0 and check_aof(out, tmp_path)[0]
    prefix = tmp_path / "prefix.aof"
    prefix.write_bytes(src.read_bytes()[:ok_up_to])
    assert diff_keyspaces(aof_replay_keyspace(out, tmp_path, "rep"),
                          aof_replay_keyspace(prefix, tmp_path, "prefix")) == []


# ------------------------------------------------------------------ longer sweeps (slow)

@pytest.mark.slow
@pytest.mark.parametrize("seed", seeds())
def test_damage_sweep(seed, tmp_path):
    """Every damage kind at many seeded positions of the RDB and of the plain AOF."""
    w = World(seed, tmp_path / "world")
    rng = random.Random(seed)
    data = w.rdb.read_bytes()
    records = read_rdb(data)
    aof_data = (w.aof["no"][0] / "appendonly.aof.2.incr.aof").read_bytes()
    for i in range(40):
        kind = rng.choice(sorted(RDB_DAMAGE))
        work = tmp_path / f"case{i}"
        work.mkdir()
        at = rng.randrange(9, len(data) - 2 * PAGE)
        src = work / "d.rdb"
        src.write_bytes(RDB_DAMAGE[kind](data, at))
        code, doc = verify_json(src)
        assert code == 1, (kind, at, doc)
        offs = problem_offsets(doc)
        assert offs and min(offs) >= record_start(records, at), (kind, at, offs)
        check_rdb_repair(src, at, records, work)
        at = rng.randrange(0, len(aof_data) - 2 * PAGE)
        src = work / "d.aof"
        src.write_bytes(RDB_DAMAGE[kind](aof_data, at))
        ok, ok_up_to = check_aof(src, work)
        code, doc = verify_json(src)
        assert (code == 0) == ok, (kind, at, doc)
        if not ok:
            assert doc["reports"][0]["valid_up_to"] == ok_up_to, (kind, at)
            out = work / "rep.aof"
            assert run("repair", src, "-o", out).exit_code == 1
            prefix = work / "prefix.aof"
            prefix.write_bytes(src.read_bytes()[:ok_up_to])
            assert diff_keyspaces(aof_replay_keyspace(out, work, "rep"),
                                  aof_replay_keyspace(prefix, work, "prefix")) == [], (kind, at)


@pytest.mark.parametrize("kind", sorted(RDB_DAMAGE))
def test_other_commands_report_damage_without_traceback(world, tmp_path, kind):
    """inspect / export / replay / diff on damaged files: an exit code, never a traceback."""
    data = world.rdb.read_bytes()
    rdb = tmp_path / "d.rdb"
    rdb.write_bytes(RDB_DAMAGE[kind](data, len(data) // 2))
    aof = tmp_path / "d.aof"
    incr = (world.aof["no"][0] / "appendonly.aof.2.incr.aof").read_bytes()
    aof.write_bytes(RDB_DAMAGE[kind](incr, len(incr) // 2))
    for path in (rdb, aof):
        for args in (["inspect", path], ["export", path, "-o", tmp_path / "x.jsonl"],
                     ["export", path, "--format", "resp", "-o", tmp_path / "x.resp"],
                     ["replay", path, "-o", tmp_path / "x.rdb"], ["diff", path, world.rdb]):
            r = run(*args)       # catch_exceptions=False: a traceback fails the test
            # diff follows diff(1): 2 for unreadable input
            assert r.exit_code in ((0, 1, 2) if args[0] == "diff" else (0, 1)), (args, r.output)
    assert run("export", rdb, "-o", tmp_path / "y.jsonl").exit_code == 1
    # damage inside a bulk payload can leave a valid AOF (redis-check-aof agrees, see above)
    assert run("replay", aof, "-o", tmp_path / "y.rdb").exit_code == verify_json(aof)[0]
