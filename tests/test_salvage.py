"""RDB salvage: intact keys survive damage, compared with expected.json via tests/corpus.py."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from corpus import REAL, alive_at, diff_keyspaces, expected_keyspace, keyspace_from_records, real_folders, wall_clock_ms
from realredis import load_rdb_into_redis, read_keyspace, redis_binary

from persistkit.rdbtools import model
from persistkit.rdbtools.reader import read_rdb
from persistkit.rdbtools.salvage import locate_bit_flip, salvage_rdb

F70 = REAL / "redis-7.0.15"


def _records(path):
    return [r for r in read_rdb(str(path)) if isinstance(r, model.Record)]


def _ks(path):
    return keyspace_from_records(read_rdb(str(path)))


def _want(folder, keep=None):
    ks = expected_keyspace(folder, "snapshot")
    if keep is not None:
        ks = {k: v for k, v in ks.items() if k in keep}
    return ks


@pytest.mark.parametrize("folder", real_folders(), ids=lambda p: p.name)
def test_intact_files_are_copied_whole(tmp_path, folder):
    out = tmp_path / "out.rdb"
    rep = salvage_rdb(folder / "dump.rdb", out)
    assert rep["lost"] == [] and rep["corrected"] is None
    assert diff_keyspaces(_ks(out), _want(folder), consumer_times_wildcard=True) == []


def test_truncation_keeps_every_key_before_the_cut(tmp_path):
    src = F70 / "dump.rdb"
    data = src.read_bytes()
    recs = _records(src)
    rng = random.Random(5)
    cuts = sorted({r.offset for r in recs[::10]} | {r.offset + 3 for r in recs[::13]}
                  | {rng.randrange(100, len(data) - 1) for _ in range(8)})
    cut_file = tmp_path / "cut.rdb"
    out = tmp_path / "out.rdb"
    for cut in cuts:
        cut_file.write_bytes(data[:cut])
        rep = salvage_rdb(cut_file, out)
        before = {(r.db, r.key) for r in recs if r.offset + r.length <= cut}
        assert rep["kept_keys"] == len(before), cut
        assert diff_keyspaces(_ks(out), _want(F70, before), consumer_times_wildcard=True) == [], cut
        assert rep["lost"] and rep["lost"][-1]["end"] == cut


def test_single_bit_flips_are_located_and_undone(tmp_path):
    src = F70 / "dump.rdb"
    data = src.read_bytes()
    recs = _records(src)
    rng = random.Random(7)
    f = tmp_path / "flip.rdb"
    out = tmp_path / "out.rdb"
    for rec in rng.sample(recs, 6):
        pos = rec.offset + rng.randrange(rec.length)
        bit = rng.randrange(8)
        b = bytearray(data)
        b[pos] ^= 1 << bit
        f.write_bytes(bytes(b))
        rep = salvage_rdb(f, out)
        assert rep["corrected"]["offset"] == pos and rep["corrected"]["bit"] == bit
        assert rep["lost"] == []
        assert out.read_bytes() and diff_keyspaces(_ks(out), _want(F70), consumer_times_wildcard=True) == []
    assert locate_bit_flip(data, len(data) - 8, int.from_bytes(data[-8:], "little")) is None


def _unchecked_ziplist_record():
    """A ziplist-encoded key of the 5.0 dump (written with rdbchecksum no) stored uncompressed."""
    src = REAL / "redis-5.0.14" / "dump.rdb"
    for r in _records(src):
        if r.encoding == "ziplist" and not (r.layout or {}).get("compressed") and r.rdb_type in (12, 13):
            return src, r
    pytest.skip("no uncompressed ziplist record")


def test_bit_flip_in_a_value_without_checksum_costs_that_key_only(tmp_path):
    src, rec = _unchecked_ziplist_record()
    data = bytearray(src.read_bytes())
    assert data[-8:] == b"\0" * 8  # checksum disabled: nothing can locate the flip
    data[rec.offset + rec.length - 1] ^= 0x01  # the ziplist's end marker 0xFF
    f = tmp_path / "flip.rdb"
    f.write_bytes(bytes(data))
    out = tmp_path / "out.rdb"
    rep = salvage_rdb(f, out)
    assert rep["corrected"] is None
    lost_keys = [k for region in rep["lost"] for k in region["keys"]]
    from persistkit.render.common import bstr_json
    assert lost_keys == [bstr_json(rec.key)]
    want = _want(REAL / "redis-5.0.14")
    del want[(rec.db, rec.key)]
    assert diff_keyspaces(_ks(out), want, consumer_times_wildcard=True) == []


def test_garbage_over_a_record_boundary_resynchronises(tmp_path):
    src = F70 / "dump.rdb"
    data = bytearray(src.read_bytes())
    recs = _records(src)
    victim = recs[40]
    start = victim.offset + victim.length - 6
    rng = random.Random(3)
    for i in range(start, start + 14):       # the end of one record, the start of the next
        data[i] = rng.randrange(256)
    f = tmp_path / "garbage.rdb"
    f.write_bytes(bytes(data))
    out = tmp_path / "out.rdb"
    rep = salvage_rdb(f, out)
    assert rep["resyncs"] >= 1 and rep["corrected"] is None
    damaged = {(r.db, r.key) for r in recs if r.offset < start + 14 and r.offset + r.length > start}
    survivors = {(r.db, r.key) for r in recs} - damaged
    got = _ks(out)
    # nothing invented, every key outside the damage kept exactly; a damaged key whose
    # framing still holds (a plain string whose bytes changed) may survive with a bad value
    assert survivors <= set(got) <= survivors | damaged
    assert diff_keyspaces({k: got[k] for k in survivors}, _want(F70, survivors),
                          consumer_times_wildcard=True) == []
    assert rep["lost"][0]["start"] <= start + 14 <= rep["lost"][0]["end"]


def test_salvaged_file_loads_into_real_redis(tmp_path):
    src = F70 / "dump.rdb"
    data = src.read_bytes()
    recs = _records(src)
    cut = recs[80].offset + 2
    f = tmp_path / "cut.rdb"
    f.write_bytes(data[:cut])
    out = tmp_path / "out.rdb"
    salvage_rdb(f, out)
    redis_binary()
    at = wall_clock_ms()  # the server drops keys whose TTL passed by its clock: compare as of now
    with load_rdb_into_redis(out, tmp_path / "redis") as server:
        got = alive_at(read_keyspace(server), at)
    keep = set(alive_at(keyspace_from_records(recs[:80]), at))
    assert set(got) == keep and len(keep) > 40


def test_cli_repair_of_an_rdb_salvages(tmp_path):
    data = (F70 / "dump.rdb").read_bytes()
    f = tmp_path / "cut.rdb"
    f.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.rdb"
    r = subprocess.run([sys.executable, "-c", "from persistkit.cli import main; main()", "repair", str(f),
                        "-o", str(out), "--json"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert rep["kept_keys"] > 0 and rep["lost"] and out.exists()
