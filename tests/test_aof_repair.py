"""AOF repair: keeps exactly the commands before the damage, in any file of a set; reports
what it dropped; never touches its input; its output is valid for redis-check-aof and loads
into a real redis-server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from corpus import REAL
from realredis import RedisServer, redis_binary
from test_aof_verify import HYBRID70, _copy_dir, check_aof, small_aof

from persistkit.aoftools import model
from persistkit.aoftools.reader import AOFReader
from persistkit.aoftools.repair import repair_aof
from persistkit.aoftools.verify import verify_aof
from persistkit.aoftools.writer import MultiPartWriter
from persistkit.kvencoding.resp import CommandParser
from persistkit.kvencoding.source import ByteSource


def _digest(path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _commands_before(data: bytes, limit: int) -> list:
    out = []
    p = CommandParser(ByteSource(data))
    try:
        for off, args in p:
            if p.end > limit:
                break
            out.append(args)
    except Exception:
        pass
    return out


def test_truncation_at_every_offset_keeps_exactly_the_commands_before(tmp_path):
    data = small_aof()
    f = tmp_path / "in.aof"
    out = tmp_path / "out.aof"
    for cut in range(1, len(data) + 1):
        f.write_bytes(data[:cut])
        rep = repair_aof(f, out)
        vr = verify_aof(f)
        limit = vr.valid_up_to
        assert out.read_bytes() == data[:limit]
        kept = [c.args for c in AOFReader(out).commands()]
        assert kept == _commands_before(data, limit)
        assert rep["kept"]["commands"] == len(kept)
        assert (rep["damage"] is None) == vr.ok
        if rep["damage"]:
            assert rep["dropped"]["bytes"] == cut - limit
            # every complete command past the valid end is counted as dropped
            assert rep["dropped"]["commands"] == len(_commands_before(data[:cut], cut)) - len(kept)
            assert rep["dropped"]["unreadable_bytes"] <= cut - limit


def test_corrupted_length_repair_is_valid_for_redis(tmp_path):
    data = small_aof().replace(b"$1\r\nk\r\n$4", b"$1\r\nk\r\n$x", 1)
    f = tmp_path / "in.aof"
    f.write_bytes(data)
    before = _digest(f)
    out = tmp_path / "out.aof"
    rep = repair_aof(f, out)
    assert rep["damage"]["code"] == "format-error"
    ok, _, _, text = check_aof(out)
    assert ok, text
    assert _digest(f) == before
    assert [c.args for c in AOFReader(out).commands()] == [[b"SELECT", b"0"]]


def _three_part_dir(tmp_path):
    """base.aof + two incr files, each command carrying a #TS."""
    d = tmp_path / "src"
    with MultiPartWriter(d, timestamps=True) as mp:
        mp.write_base_resp([model.AOFCommand("", 0, 0, 0, [b"SET", b"base", b"1"], 100)])
        mp.write_incr([model.AOFCommand("", 0, 0, 0, [b"SET", b"a%d" % i, b"x"], 200 + i) for i in range(5)])
        mp.write_incr([model.AOFCommand("", 0, 0, 0, [b"SET", b"b%d" % i, b"y"], 300 + i) for i in range(4)])
    for p in [d, *d.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return d


def test_damage_in_a_middle_incr_drops_the_later_files(tmp_path):
    d = _three_part_dir(tmp_path)
    incr1 = d / "appendonly.aof.1.incr.aof"
    data = incr1.read_bytes()
    incr1.write_bytes(data.replace(b"$2\r\na2", b"$x\r\na2"))  # damage inside the 3rd SET
    before = _digest(d)
    out = tmp_path / "out"
    rep = repair_aof(d, out)
    assert _digest(d) == before
    assert rep["damage"]["file"] == incr1.name
    assert rep["kept"]["files"] == ["appendonly.aof.1.base.aof", incr1.name]
    assert rep["dropped"]["files"] == ["appendonly.aof.2.incr.aof"]
    # a3 and a4 sit after the framing error: unreadable bytes, not commands; then the 4 b's
    assert rep["dropped"]["commands"] == 4
    assert rep["dropped"]["unreadable_bytes"] == incr1.stat().st_size - rep["damage"]["valid_up_to"]
    assert rep["dropped"]["time_range"] == [300, 303]
    assert rep["kept"]["time_range"] == [100, 201]
    cmds = [c.args[1] for c in AOFReader(out).commands() if c.name == b"SET"]
    assert cmds == [b"base", b"a0", b"a1"]
    ok, _, _, text = check_aof(out)
    assert ok, text


def test_cut_real_incr_loads_into_redis(tmp_path):
    d = _copy_dir(HYBRID70, tmp_path / "appendonlydir")
    incr = d / "appendonly.aof.2.incr.aof"
    incr.write_bytes(incr.read_bytes()[:9000])
    out = tmp_path / "fixed"
    rep = repair_aof(d, out)
    assert rep["damage"]["code"] in ("truncated", "multi-without-exec")
    expected_cmds = [c.args for c in AOFReader(out).commands()]
    assert expected_cmds and verify_aof(out).ok
    redis_binary()
    work = tmp_path / "redis"
    shutil.copytree(out, work / "appendonlydir")
    with RedisServer(work, "--appenddirname", "appendonlydir", appendonly=True) as server:
        r = server.client()
        assert r.dbsize() > 50
        # the last SET kept in db 0 is visible
        last_set = [a for a in expected_cmds if a[0].upper() == b"SET"][-1]
        assert r.exists(last_set[1])


def test_damaged_preamble_keeps_keys_read_before(tmp_path):
    d = _copy_dir(HYBRID70, tmp_path / "appendonlydir")
    base = d / "appendonly.aof.2.base.rdb"
    data = bytearray(base.read_bytes())
    base.write_bytes(bytes(data[: len(data) // 2]))      # cut inside the preamble
    out = tmp_path / "fixed"
    rep = repair_aof(d, out)
    assert rep["damage"]["preamble"] and rep["kept"]["preamble_keys"] > 10
    assert rep["dropped"]["files"] == ["appendonly.aof.2.incr.aof"]
    assert verify_aof(out).ok
    assert [p.name for p in AOFReader(out).parts] == ["appendonly.aof.2.base.rdb"]


def test_intact_input_gives_a_clean_copy(tmp_path):
    out = tmp_path / "copy"
    rep = repair_aof(HYBRID70, out)
    assert rep["damage"] is None and rep["dropped"]["bytes"] == 0
    for f in HYBRID70.iterdir():
        assert (out / f.name).read_bytes() == f.read_bytes()


def _cli(*args):
    return subprocess.run([sys.executable, "-c", "from persistkit.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_repair(tmp_path):
    f = tmp_path / "in.aof"
    f.write_bytes(small_aof()[:-3])
    out = tmp_path / "out.aof"
    r = _cli("repair", f, "-o", out, "--json")
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert rep["damage"]["code"] == "truncated" and out.exists()
    r = _cli("repair", f, "--dry-run")
    assert r.returncode == 1 and "dropped" in r.stdout
    r = _cli("repair", f)
    assert r.returncode == 2
    r = _cli("repair", f, "-o", f)
    assert r.returncode == 2
    r = _cli("repair", REAL / "redis-7.0.15" / "aof-plain" / "appendonlydir", "-o", tmp_path / "d")
    assert r.returncode == 0, r.stderr


def test_missing_base_gives_a_loadable_empty_set(tmp_path):
    from corpus import PUBLIC
    out = tmp_path / "out"
    rep = repair_aof(PUBLIC / "RediSearch__RediSearch" / "appendonlydir", out)
    assert rep["damage"]["code"] == "missing-file"
    assert rep["dropped"]["files"] == ["appendonly.aof.26.base.rdb"] and rep["kept"]["files"] == []
    ok, _, _, text = check_aof(out)
    assert ok, text
    assert verify_aof(out).ok and list(AOFReader(out).commands()) == []


def test_cli_repair_of_a_hybrid_with_a_damaged_preamble(tmp_path):
    data = bytearray((REAL / "redis-6.2.16" / "aof-hybrid" / "appendonly.aof").read_bytes())
    data[300000] ^= 0xFF
    data[300001] ^= 0xFF
    f = tmp_path / "hybrid.aof"
    f.write_bytes(bytes(data))
    out = tmp_path / "fixed.aof"
    r = _cli("repair", f, "-o", out, "--json")
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    # handled as an AOF (its aux fields say aof-preamble), not salvaged as a bare RDB
    assert rep["damage"]["preamble"] and rep["kept"]["preamble_keys"] > 10
    assert rep["dropped"]["bytes"] == len(data) - rep["damage"]["offset"]
    assert verify_aof(out).ok


from test_aof_verify import test_corruptions_agree as _corruptions  # noqa: E402

_CORRUPTIONS = [m.args for m in _corruptions.pytestmark if m.name == "parametrize"][0][1]


@pytest.mark.parametrize("old,new", _CORRUPTIONS)
def test_every_corrupted_copy_repairs_to_the_commands_before(tmp_path, old, new):
    data = small_aof().replace(old, new, 1)
    f = tmp_path / "in.aof"
    f.write_bytes(data)
    out = tmp_path / "out.aof"
    rep = repair_aof(f, out)
    limit = rep["damage"]["valid_up_to"]
    assert out.read_bytes() == data[:limit]
    assert [c.args for c in AOFReader(out).commands()] == _commands_before(data, limit)
    ok, _, _, text = check_aof(out)
    assert ok, text


@pytest.mark.parametrize("where", ["single", "multipart"])
def test_single_bit_flip_in_a_preamble_is_undone(tmp_path, where):
    if where == "single":
        src = REAL / "redis-6.2.16" / "aof-hybrid" / "appendonly.aof"
        f = tmp_path / "appendonly.aof"
        data = bytearray(src.read_bytes())
        pos = 123457
        data[pos] ^= 0x08
        f.write_bytes(bytes(data))
        target, damaged = f, f
    else:
        target = _copy_dir(HYBRID70, tmp_path / "appendonlydir")
        damaged = target / "appendonly.aof.2.base.rdb"
        data = bytearray(damaged.read_bytes())
        pos = 200001
        data[pos] ^= 0x80
        damaged.write_bytes(bytes(data))
        src = HYBRID70
    assert not verify_aof(target).ok
    out = tmp_path / "out"
    rep = repair_aof(target, out)
    assert rep["damage"] is None and rep["corrected"][0]["offset"] == pos
    if where == "single":
        assert out.read_bytes() == src.read_bytes()
    else:
        for p in src.iterdir():
            assert (out / p.name).read_bytes() == p.read_bytes()
