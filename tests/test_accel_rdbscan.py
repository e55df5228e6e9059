"""The compiled RDB scan (persistkit/_accel/rdbscan.pyx, driven by rdbtools/fastscan.py)
gives exactly what the pure path gives: verify reports (problems with codes, offsets,
keys, messages; stats) in deep and --quick mode, and inspect documents.

Over every RDB of the corpus (real and public, the corrupt ones included), over seeded
mutations of them (truncations, bit flips, byte overwrites, spliced and repeated
records), through small windows (refills inside records) and through the streaming
path for records bigger than a window. Also: the reader contract the driver relies on,
and the compiled twin of the key-repeat filter.
"""

from __future__ import annotations

import io
import json
import random

import pytest

from accel_corpus import rdb_inputs
from corpus import REAL
from persistkit import accel
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import open_input
from persistkit.kvencoding.lengths import encode_length, encode_string
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import dedup, fastscan, model
from persistkit.rdbtools.inspect import inspect_rdb
from persistkit.rdbtools.reader import RDBReader, read_rdb
from persistkit.rdbtools.verify import verify_rdb

rdbscan = accel.compiled_available("rdbscan")
needs_compiled = pytest.mark.skipif(rdbscan is None, reason="compiled accelerator not built")

NOW = 1_796_677_675_000


def verify_doc(path, data=None, quick=False):
    return verify_rdb(path, data=data, quick=quick).as_dict()


def inspect_doc(path, data=None):
    try:
        return inspect_rdb(path, data=data, now_ms=NOW, top=4)
    except FormatError as exc:
        return {"error": exc.as_dict()}


def both(fn, *args, **kw):
    with accel.forced_pure():
        pure = fn(*args, **kw)
    with accel.forced_pure(False):
        fast = fn(*args, **kw)
    return json.dumps(pure, sort_keys=False, default=repr), json.dumps(fast, sort_keys=False, default=repr)


# ---------------------------------------------------------------------------
# the reader contract


def _dump_bytes():
    return (REAL / "redis-7.0.15" / "dump.rdb").read_bytes()


def test_reader_rereads_pos_and_db_between_items():
    """Between two yielded items the reader's walker takes ``src.pos`` and ``reader.db``
    afresh: a driver may move the position over whole records and set the db."""
    data = _dump_bytes()
    records = [r for r in read_rdb(data, decode=False) if isinstance(r, model.Record)]
    assert len(records) >= 4
    first, skipped, landing = records[0], records[1], records[2]
    assert skipped.offset + skipped.length == landing.offset
    src = ByteSource(data, crc=True)
    reader = RDBReader(src, decode=False)
    it = iter(reader)
    for item in it:
        if isinstance(item, model.Record):
            break
    assert item.offset == first.offset
    # Jump over the next record and pretend a SELECTDB 7 was read.
    assert src.tell() == skipped.offset
    src.pos += skipped.length
    reader.db = 7
    item = next(it)
    assert (item.offset, item.key, item.db) == (landing.offset, landing.key, 7)
    # The CRC is folded over every consumed byte, skipped ones included.
    rest = list(it)
    assert rest[-1].__class__ is model.EOF and rest[-1].checksum_ok


def test_reader_rereads_pos_after_an_opcode_item():
    data = _dump_bytes()
    items = read_rdb(data, decode=False)
    aux = [i for i in items if isinstance(i, model.Aux)]
    records = [r for r in items if isinstance(r, model.Record)]
    src = ByteSource(data, crc=True)
    reader = RDBReader(src, decode=False)
    it = iter(reader)
    for item in it:
        if isinstance(item, model.Aux) and item.offset == aux[-1].offset:
            break
    # From the last AUX straight to the second record.
    src.pos = records[1].offset - src.base
    item = next(it)
    assert (item.offset, item.key) == (records[1].offset, records[1].key)


# ---------------------------------------------------------------------------
# the corpus


@needs_compiled
@pytest.mark.parametrize("quick", [False, True], ids=["deep", "quick"])
def test_verify_identical_on_the_corpus(quick):
    n = 0
    for name, data in rdb_inputs():
        pure, fast = both(verify_doc, name, data, quick)
        assert fast == pure, name
        n += 1
    assert n > 500


@needs_compiled
def test_inspect_identical_on_the_corpus():
    for name, data in rdb_inputs():
        pure, fast = both(inspect_doc, name, data)
        assert fast == pure, name


@needs_compiled
def test_the_compiled_scan_takes_most_records():
    """The fast path is really used: on real dumps it accepts most key records."""
    data = _dump_bytes()
    for deep in (True, False):
        src = ByteSource(data, crc=True)
        reader = RDBReader(src, decode=deep, recover=True, strict_crc=False, values=False)
        scanner = rdbscan.Scanner(deep=deep, version=reader.header.version)
        exact = []
        fast = [0]

        def scanned(sc):
            fast[0] += sc.keys
            sc.reset_stats()

        fastscan.walk(reader, src, scanner, exact.append, scanned)
        records = [i for i in exact if isinstance(i, model.Record)]
        assert fast[0] > 3 * len(records), (deep, fast[0], len(records))
        assert isinstance(exact[-1], model.EOF) and exact[-1].checksum_ok


# ---------------------------------------------------------------------------
# files on disk: small windows, the streaming path, mutations


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of 256 bytes refilled 256 at a time: records cross window edges."""
    monkeypatch.setattr(fastscan, "SOURCE_CHUNK", 256)
    monkeypatch.setattr(fastscan, "WINDOW_MAX", 1024)
    monkeypatch.setattr(fastscan, "DEDUP_EXACT_MAX", 40)


def _on_disk(tmp_path, name, data):
    p = tmp_path / name.replace("/", "_")
    p.write_bytes(data)
    return p


def _compare_file(path):
    """verify (deep and --quick) and inspect of a file: the same on both paths."""
    for quick in (False, True):
        pure, fast = both(verify_doc, path, None, quick)
        assert fast == pure, (path, quick)
    pure, fast = both(inspect_doc, path)
    assert fast == pure, path


@needs_compiled
def test_real_dumps_through_small_windows(tmp_path, small_windows):
    for name, data in rdb_inputs():
        if name.startswith("real/") and name.endswith("dump.rdb"):
            _compare_file(_on_disk(tmp_path, name, data))


def _rdb(records: list[bytes], version: int = 10) -> bytes:
    body = b"REDIS%04d" % version + b"\xfa" + encode_string(b"redis-ver") + encode_string(b"7.0.15")
    body += b"\xfe\x00" + b"".join(records) + b"\xff"
    return body + crc64(body).to_bytes(8, "little")


def _plain(rdb_type: int, key: bytes, elements: list[bytes]) -> bytes:
    n = len(elements) // 2 if rdb_type == 4 else len(elements)
    return bytes([rdb_type]) + encode_string(key) + encode_length(n) + b"".join(
        encode_string(e) for e in elements)


def _zset2(key: bytes, members: list[bytes], scores: list[float]) -> bytes:
    import struct

    return b"\x05" + encode_string(key) + encode_length(len(members)) + b"".join(
        encode_string(m) + struct.pack("<d", s) for m, s in zip(members, scores))


def _big_collections(rng: random.Random, repeat: bool) -> bytes:
    members = [b"m%d" % i for i in range(3000)] + [b"%d" % (10 ** 6 + i) for i in range(2000)]
    rng.shuffle(members)
    if repeat:
        members[4000] = members[17]
    fields = []
    for i in range(1500):
        fields += [b"f%d" % i, b"v" * (i % 50)]
    if repeat:
        fields[2 * 900] = fields[2 * 3]
    recs = [
        _plain(2, b"big:set", members),
        _plain(1, b"big:list", members),
        _plain(4, b"big:hash", fields),
        _zset2(b"big:zset", members[:1200], [float(i) for i in range(1200)]),
        _plain(0, b"", []) if False else b"\x00" + encode_string(b"after") + encode_string(b"x"),
    ]
    return _rdb(recs)


@needs_compiled
@pytest.mark.parametrize("repeat", [False, True], ids=["unique", "repeated-members"])
def test_streaming_path_for_records_bigger_than_a_window(tmp_path, small_windows, repeat):
    data = _big_collections(random.Random(1), repeat)
    path = _on_disk(tmp_path, "big.rdb", data)
    _compare_file(path)
    rep = verify_rdb(path)
    assert rep.ok is not repeat
    if repeat:
        assert {p.key for p in rep.problems} == {b"big:set", b"big:hash"}
    # and the big records really went through the streaming walk
    with open_input(path) as f:
        src = ByteSource(f, size=len(data), crc=True, chunk=256)
        reader = RDBReader(src, decode=True, recover=True, strict_crc=False, values=False)
        scanner = rdbscan.Scanner(deep=True, version=10, window_max=1024, dedup_exact_max=40)
        fastscan.walk(reader, src, scanner, lambda item: None, lambda sc: None)
        # (a record with a problem goes to the exact reader, and the one after it too:
        # the reader yields nothing for a record it drops)
        assert scanner.streamed >= (0 if repeat else 4)


MUTATION_FILES = ("real/redis-7.2.6/dump.rdb", "real/redis-6.2.16/dump.rdb",
                  "real/valkey-9.1.0/dump.rdb", "real/redis-5.0.14/dump.rdb",
                  "real/valkey-8.1.7/dump.rdb", "real/redis-7.4.1/dump.rdb")


def _records(data):
    try:
        return [r for r in RDBReader(data, decode=False, recover=True, strict_crc=False)
                if isinstance(r, model.Record)]
    except FormatError:
        return []


def _mutate(data: bytes, recs, rng: random.Random) -> bytes:
    b = bytearray(data)
    how = rng.randrange(6)
    if how == 0:
        return bytes(b[:rng.randrange(9, len(b))])
    if how == 1:
        i = rng.randrange(9, len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif how == 2:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(9, len(b))] = rng.randrange(256)
    elif how == 3 and recs:
        # a record repeated (a duplicate key) somewhere else in the file
        r = rng.choice(recs)
        at = rng.choice(recs).offset
        b[at:at] = data[r.offset:r.offset + r.length]
    elif how == 4 and len(recs) > 1:
        # a record cut out
        r = rng.choice(recs)
        del b[r.offset:r.offset + r.length]
    elif recs:
        # a record's value bytes damaged near its end (inside blobs)
        r = rng.choice(recs)
        i = r.offset + r.length - 1 - rng.randrange(min(r.length, 12))
        b[i] = rng.randrange(256)
    if rng.random() < 0.5:
        # a correct CRC makes the damage inside the values the only problem
        b[-8:] = crc64(bytes(b[:-8])).to_bytes(8, "little")
    return bytes(b)


def _mutation_sweep(n_per_file: int, tmp_path, seed: int):
    rng = random.Random(seed)
    inputs = dict(rdb_inputs())
    files = [f for f in MUTATION_FILES if f in inputs]
    files += rng.sample([n for n in inputs if n.startswith("public/")], 4 if n_per_file < 100 else 12)
    results = set()
    for name in files:
        data = inputs[name]
        recs = _records(data)
        for k in range(n_per_file):
            m = _mutate(data, recs, rng)
            for quick in (False, True):
                pure, fast = both(verify_doc, name, m, quick)
                assert fast == pure, (name, k, quick)
                results.add(json.loads(pure)["ok"])
            pure, fast = both(inspect_doc, name, m)
            assert fast == pure, (name, k)
    assert results == {True, False}


@needs_compiled
def test_seeded_mutations(tmp_path):
    _mutation_sweep(12, tmp_path, 20261207)


@needs_compiled
def test_seeded_mutations_on_disk_with_small_windows(tmp_path, small_windows):
    rng = random.Random(99)
    inputs = dict(rdb_inputs())
    for name in MUTATION_FILES[:3]:
        data = inputs[name]
        recs = _records(data)
        for k in range(5):
            _compare_file(_on_disk(tmp_path, f"{k}-{name}", _mutate(data, recs, rng)))


@pytest.mark.slow
@needs_compiled
def test_seeded_mutations_long_sweep(tmp_path):
    _mutation_sweep(400, tmp_path, 7)


# ---------------------------------------------------------------------------
# the key-repeat filter twin


@needs_compiled
@pytest.mark.parametrize("limit", [10 ** 9, 300])
def test_key_filter_twin_gives_the_same_candidates(limit):
    rng = random.Random(limit)
    hashes = [rng.getrandbits(64) - (1 << 63) for _ in range(5000)]
    hashes += rng.sample(hashes, 40)
    rng.shuffle(hashes)
    pure = dedup.KeyRepeatFinder(compact_limit=limit)
    twin = rdbscan.KeyFilter(limit)
    for h in hashes:
        pure.add(h)
        twin.add(h)
    want = pure.finish()
    assert twin.finish() == want
    assert set(rng.sample(hashes, 0)) <= want
    if limit > len(hashes):
        assert len(want) == 40 or len(want) == len(set(h for h in hashes if hashes.count(h) > 1))


@needs_compiled
@pytest.mark.parametrize("limit", [10 ** 9, 20])
def test_repeated_keys_found_alike_in_the_compact_and_filter_phases(tmp_path, monkeypatch, limit):
    # limit 20: past the compact phase, the Bloom filter's candidates are confirmed
    # by the second walk (compiled: only candidate records are handed over).
    monkeypatch.setattr(dedup, "COMPACT_KEYS", limit)
    data = _dump_bytes()
    recs = _records(data)
    b = bytearray(data)
    at = recs[-1].offset
    same_db = [r for r in recs[:-1] if r.db == recs[-1].db]
    assert len(same_db) >= 3
    for r in (same_db[0], same_db[1], same_db[-1]):
        b[at:at] = data[r.offset:r.offset + r.length]
    b[-8:] = crc64(bytes(b[:-8])).to_bytes(8, "little")
    path = _on_disk(tmp_path, "dups.rdb", bytes(b))
    pure, fast = both(verify_doc, path)
    assert fast == pure
    dups = [p for p in json.loads(pure)["problems"] if p["code"] == "duplicate-key"]
    assert len(dups) == 3


def test_stdin_is_verified_on_the_pure_path_and_agrees():
    data = _dump_bytes()
    a = verify_rdb("-", stream=io.BufferedReader(io.BytesIO(data))).as_dict()
    b = verify_rdb("-", data=data).as_dict()
    assert a["problems"] == b["problems"] and a["stats"] == b["stats"]


@needs_compiled
def test_progress_is_reported_on_the_compiled_path(tmp_path, small_windows):
    data = _dump_bytes()
    path = _on_disk(tmp_path, "p.rdb", data)
    for fn in (lambda cb: verify_rdb(path, progress=cb), lambda cb: inspect_rdb(path, progress=cb)):
        calls = []
        fn(lambda at, total: calls.append((at, total)))
        assert calls and calls[-1] == (len(data), len(data))
        assert [a for a, _ in calls] == sorted(a for a, _ in calls)


def test_unknown_versions_stay_on_the_exact_reader():
    from persistkit.rdbtools.model import Header

    assert fastscan.compiled(Header(magic="REDIS", version=13, offset=0, length=9)) is None
    assert fastscan.compiled(Header(magic="VALKEY", version=81, offset=0, length=9)) is None
    if rdbscan is not None and not accel.forced():
        assert fastscan.compiled(Header(magic="REDIS", version=12, offset=0, length=9)) is not None


@needs_compiled
def test_repeated_keys_on_standard_input(tmp_path):
    # an input read once: the exact hash -> offset dict, reported as the keys come
    data = _dump_bytes()
    recs = _records(data)
    b = bytearray(data)
    at = recs[-1].offset
    same_db = [r for r in recs[:-1] if r.db == recs[-1].db]
    for r in (same_db[0], same_db[-1]):
        b[at:at] = data[r.offset:r.offset + r.length]
    b[-8:] = crc64(bytes(b[:-8])).to_bytes(8, "little")
    docs = []
    for pure in (True, False):
        with accel.forced_pure(pure):
            for quick in (False, True):
                rep = verify_rdb("-", stream=io.BufferedReader(io.BytesIO(bytes(b))), quick=quick)
                docs.append(json.dumps(rep.as_dict()))
    assert docs[0] == docs[2] and docs[1] == docs[3]
    assert sum(p["code"] == "duplicate-key" for p in json.loads(docs[0])["problems"]) == 2


# ---------------------------------------------------------------------------
# LZF headers whose claim no compressed data can meet


def _lzf_string(packed: bytes, claim: int) -> bytes:
    return b"\xc3" + encode_length(len(packed)) + encode_length(claim) + packed


@needs_compiled
@pytest.mark.parametrize("where", ["key", "string", "list", "hash-value", "set-member", "blob"])
def test_lzf_claim_past_the_expansion_bound_is_judged_alike(where):
    """An LZF header claiming more than its compressed bytes can expand to is an error
    on every path (lengths.check_lzf_lengths), decoding or skipping: verify, verify
    --quick and inspect agree on both paths, wherever the string sits."""
    from persistkit.kvencoding import lzf

    packed = lzf.compress(b"abcabcabc" * 40)
    assert packed is not None
    bad = _lzf_string(packed, lzf.max_decompressed_size(len(packed)) + 1)
    plain = b"\x00" + encode_string(b"before") + encode_string(b"v")
    after = b"\x00" + encode_string(b"after") + encode_string(b"w")
    if where == "key":
        rec = b"\x00" + bad + encode_string(b"v")
    elif where == "string":
        rec = b"\x00" + encode_string(b"k") + bad
    elif where == "list":
        rec = b"\x01" + encode_string(b"k") + encode_length(2) + encode_string(b"a") + bad
    elif where == "hash-value":
        rec = b"\x04" + encode_string(b"k") + encode_length(1) + encode_string(b"f") + bad
    elif where == "set-member":
        rec = b"\x02" + encode_string(b"k") + encode_length(2) + encode_string(b"a") + bad
    else:
        rec = b"\x10" + encode_string(b"k") + bad   # a hash listpack blob
    data = _rdb([plain, rec, after])
    for quick in (False, True):
        pure, fast = both(verify_doc, "lzf.rdb", data, quick)
        assert fast == pure, (where, quick)
        doc = json.loads(pure)
        assert not doc["ok"], (where, quick)
        assert any("LZF" in p["message"] for p in doc["problems"]), (where, quick, doc["problems"])
    pure, fast = both(inspect_doc, "lzf.rdb", data)
    assert fast == pure, where
