"""RDBWriter contract and encoding choices, and reader(writer(x)) == x round trips."""

from __future__ import annotations

import errno
import io
import math
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corpus import keyspace_from_records
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.fileio import atomic_output
from persistkit.kvencoding.ziplist import ziplist_encode
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools.encoding_policy import available_types
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.writer import (RDBWriter, ValueEncoder, WriterError, encode_payload,
                                        format_score, plan_list_nodes, rdb_text_double)

VERSIONS = [(6, "redis"), (7, "redis"), (8, "redis"), (9, "redis"), (10, "redis"), (11, "redis"),
            (12, "redis"), (80, "valkey")]


def R(key, ktype, value, db=0, expire=None, field_expires=None):
    return model.Record(db=db, key=key, type=ktype, rdb_type=None, encoding="", offset=0,
                        expire_ms=expire, value=value, field_expires=field_expires)


def write(records, version=10, dialect="redis", **kw) -> bytes:
    buf = io.BytesIO()
    w = RDBWriter(buf, version=version, dialect=dialect, **kw)
    w.header()
    w.aux(b"redis-ver", b"7.0.15")
    db = None
    for r in records:
        if r.db != db:
            w.select_db(r.db, 1, 0)
            db = r.db
        w.record(r)
    w.eof()
    return buf.getvalue()


def read_records(data: bytes) -> list:
    return [i for i in RDBReader(data) if isinstance(i, model.Record)]


# -- file framing ---------------------------------------------------------------------


@pytest.mark.parametrize("version,dialect", VERSIONS)
def test_header_and_crc_trailer(version, dialect):
    data = write([R(b"k", "string", b"v")], version, dialect)
    assert data[:9] == (b"VALKEY080" if dialect == "valkey" else b"REDIS%04d" % version)
    assert crc64(data) == 0  # the trailer is the CRC64 of everything before it
    assert data[-9] == 0xFF


def test_checksum_off_writes_a_zero_trailer():
    data = write([R(b"k", "string", b"v")], checksum=False)
    assert data[-8:] == b"\0" * 8
    assert [r.value for r in read_records(data)] == [b"v"]


def test_nothing_can_be_written_after_eof():
    w = RDBWriter(io.BytesIO(), version=10)
    w.eof()
    with pytest.raises(WriterError):
        w.record(R(b"k", "string", b"v"))


def test_key_opcodes_in_server_order():
    rec = R(b"k", "string", b"v", expire=1234567890123)
    rec.idle, rec.freq = 7, None
    data = write([rec], 10)
    i = data.index(b"\xfc")
    assert data[i:i + 9] == b"\xfc" + struct.pack("<q", 1234567890123)
    assert data[i + 9:i + 11] == b"\xf8\x07"         # IDLE after the expiry
    assert data[i + 11:i + 14] == b"\x00\x01k"        # then type, key
    back = read_records(data)[0]
    assert (back.expire_ms, back.idle) == (1234567890123, 7)


def test_lru_lfu_opcodes_are_left_out_before_rdb_8():
    rec = R(b"k", "string", b"v")
    rec.freq = 5
    assert b"\xf9" not in write([rec], 7)
    assert b"\xf9\x05" in write([rec], 8)


def test_functions_and_modules_need_their_versions():
    w = RDBWriter(io.BytesIO(), version=9)
    with pytest.raises(WriterError):
        w.function(b"#!lua name=x\n")
    mod = R(b"m", "module", model.ModuleValue(module_id=1, name="x", encver=0, raw=b"\x01\x00"))
    with pytest.raises(WriterError):
        ValueEncoder(7).encode(mod)
    t, body = ValueEncoder(8).encode(mod)
    assert (t, body) == (op.T_MODULE_2, b"\x01\x00")


class FullDisk(io.RawIOBase):
    """A stream that accepts ``room`` bytes, then fails like a full disk."""

    def __init__(self, room: int) -> None:
        self.room = room

    def writable(self):
        return True

    def write(self, b):
        if len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return len(b)


def test_full_disk_error_reaches_the_caller():
    w = RDBWriter(FullDisk(100), version=10)
    w.header()
    with pytest.raises(OSError) as exc:
        w.record(R(b"big", "string", os.urandom(1000)))
    assert exc.value.errno == errno.ENOSPC


def test_full_disk_through_atomic_output_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.rdb"

    class Failing:
        def __init__(self, inner):
            self.inner, self.n = inner, 0

        def write(self, b):
            self.n += len(b)
            if self.n > 5000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.inner.write(b)

    with pytest.raises(OSError):
        with atomic_output(target) as out:
            w = RDBWriter(Failing(out), version=10)
            w.header()
            for i in range(100):
                w.record(R(b"k%d" % i, "string", os.urandom(200)))
            w.eof()
    assert os.listdir(tmp_path) == []


# -- encoding choices -----------------------------------------------------------------


def chosen(rec, version=11, dialect="redis", **th):
    return ValueEncoder(version, dialect, encodings="server", thresholds=th or None).choose_type(rec)


def test_server_choice_for_sets():
    assert chosen(R(b"s", "set", [b"1", b"2"])) == op.T_SET_INTSET
    assert chosen(R(b"s", "set", [b"1", b"x"])) == op.T_SET_LISTPACK
    assert chosen(R(b"s", "set", [b"1", b"x"]), version=10) == op.T_SET
    assert chosen(R(b"s", "set", [b"%d" % i for i in range(513)])) == op.T_SET
    assert chosen(R(b"s", "set", [b"%d" % i for i in range(513)]), set_max_intset_entries=1000) == op.T_SET_INTSET
    assert chosen(R(b"s", "set", [b"007"])) == op.T_SET_LISTPACK  # not canonical: no intset
    assert chosen(R(b"s", "set", [b"x" * 65])) == op.T_SET


def test_server_choice_for_zsets_and_hashes():
    small = R(b"z", "zset", [(b"a", 1.0)])
    big = R(b"z", "zset", [(b"%d" % i, float(i)) for i in range(129)])
    assert [chosen(small, v) for v in (7, 9, 10)] == [op.T_ZSET_ZIPLIST, op.T_ZSET_ZIPLIST, op.T_ZSET_LISTPACK]
    assert [chosen(big, v) for v in (7, 8, 10)] == [op.T_ZSET, op.T_ZSET_2, op.T_ZSET_2]
    assert chosen(big, 10, zset_max_listpack_entries=200) == op.T_ZSET_LISTPACK
    h = R(b"h", "hash", [(b"f", b"v")])
    assert [chosen(h, v) for v in (9, 10)] == [op.T_HASH_ZIPLIST, op.T_HASH_LISTPACK]
    assert chosen(R(b"h", "hash", [(b"f", b"v" * 65)]), 10) == op.T_HASH
    ttl = R(b"h", "hash", [(b"f", b"v")], field_expires={b"f": 1 << 45})
    assert chosen(ttl, 12) == op.T_HASH_LISTPACK_EX
    assert chosen(R(b"h", "hash", [(b"f", b"v" * 65)], field_expires={b"f": 1 << 45}), 12) == op.T_HASH_METADATA
    assert chosen(ttl, 80, "valkey") == op.T_VALKEY_HASH_2
    assert chosen(ttl, 11) == op.T_HASH_LISTPACK  # no field TTLs before 12: plain hash


def test_every_choice_is_a_type_the_target_loads():
    recs = [R(b"a", "list", [b"x"]), R(b"b", "set", [b"x"]), R(b"c", "zset", [(b"x", 1.0)]),
            R(b"d", "hash", [(b"x", b"y")], field_expires={b"x": 10 ** 13})]
    for version, dialect in VERSIONS:
        for rec in recs:
            for mode in ("keep", "server"):
                rec.rdb_type = op.T_HASH_LISTPACK_EX if rec.type == "hash" else None
                t = ValueEncoder(version, dialect, encodings=mode).choose_type(rec)
                assert t in available_types(version, dialect), (version, rec.type, mode, t)


def test_list_nodes_follow_the_size_limit():
    values = [b"x" * 100] * 200
    nodes = plan_list_nodes(values, 11, -2)
    assert sum(n["count"] for n in nodes) == 200
    # 8 KB nodes (list-max-listpack-size -2): ~102-byte entries + estimate overhead
    assert all(n["count"] <= 8192 // 100 for n in nodes) and len(nodes) == 3
    assert plan_list_nodes(values, 11, 5)[0]["count"] == 5


def test_big_elements_get_plain_nodes_from_74_and_valkey_8():
    values = [b"a", b"y" * 9000, b"b"]
    assert [n["container"] for n in plan_list_nodes(values, 12, -2)] == [2, 1, 2]
    assert [n["container"] for n in plan_list_nodes(values, 11, -2, dialect="valkey")] == [2, 1, 2]
    assert [n["container"] for n in plan_list_nodes(values, 11, -2)] == [2, 2, 2]
    assert [n["container"] for n in plan_list_nodes(values, 10, -2)] == [2, 2, 2]
    assert [n["container"] for n in plan_list_nodes(values, 10, -2, packed_threshold=5000)] == [2, 1, 2]


def _stored_lists(folder: str):
    from corpus import REAL

    data = (REAL / folder / "dump.rdb").read_bytes()
    return {r.key: r for r in read_records(data) if r.type == "list" and r.layout and "nodes" in r.layout}


@pytest.mark.parametrize("folder,version,dialect", [
    ("redis-5.0.14", 9, "redis"), ("redis-7.0.15", 10, "redis"), ("redis-7.2.6", 11, "redis"),
    ("redis-7.4.1", 12, "redis"), ("valkey-8.0.1", 11, "valkey"), ("valkey-9.1.0", 80, "valkey")])
def test_planned_list_nodes_match_what_servers_built(folder, version, dialect):
    # Lists the corpus built with default limits by RPUSH (list:compressed used a count
    # fill, list:plain a lowered DEBUG threshold, list:lpushed was built from the head).
    lists = _stored_lists(folder)
    for key in (b"list:big", b"list:bigelems", b"list:elem10k", b"list:strlens", b"list:ints"):
        if key not in lists:
            continue
        rec = lists[key]
        stored = [(n["count"], n["container"]) for n in rec.layout["nodes"]]
        planned = [(n["count"], "plain" if n["container"] == 1 else "packed")
                   for n in plan_list_nodes(rec.value, version, -2, dialect=dialect)]
        assert planned == stored, key


def test_list_compress_depth_compresses_inner_nodes():
    rec = R(b"l", "list", [b"%06d" % i * 10 for i in range(3000)])
    body = ValueEncoder(10, encodings="server", thresholds={"list-compress-depth": 1}).encode(rec)[1]
    # rdbcompression no: only the nodes quicklist compressed itself are stored LZF
    back = read_records(write([R(b"l", "list", rec.value)], 10, encodings="server", compress=False,
                              thresholds={"list-compress-depth": 1}))[0]
    assert back.value == rec.value
    flags = [n["compressed"] for n in back.layout["nodes"]]
    assert flags[0] is False and flags[-1] is False and all(flags[1:-1]) and len(flags) > 2
    assert b"\xc3" in body


def test_scores_as_each_version_formats_them():
    assert format_score(0.1, 10) == b"0.10000000000000001"
    assert format_score(0.1, 11) == b"0.1"
    assert format_score(42.0, 9) == b"42"
    assert format_score(-0.0, 9) == b"-0" and format_score(-0.0, 10) == b"0"   # 7.0: double2ll first
    assert format_score(1.5e17, 9) == b"1.5e+17" and format_score(1.5e17, 11) == b"150000000000000000"
    assert format_score(1e-5, 11) == b"0.00001" and format_score(1e-7, 11) == b"1e-7"   # fpconv layout
    assert format_score(1e300, 11) == b"1e+300"
    assert format_score(float("inf"), 11) == b"inf"
    assert rdb_text_double(float("nan")) == b"\xfd"
    assert rdb_text_double(float("-inf")) == b"\xff"
    assert rdb_text_double(1.5) == b"\x031.5"


def test_ziplist_prevlen_hint_reaches_the_encoder():
    rec = R(b"h", "hash", [(b"a", b"1"), (b"b", b"2")])
    rec.rdb_type, rec.layout = op.T_HASH_ZIPLIST, {"ziplist_prevlen_wide": {1}}
    t, body = ValueEncoder(9).encode(rec)
    blob = ziplist_encode([b"a", b"1", b"b", b"2"], wide_prevlen={1})
    assert body[1:] == blob and blob != ziplist_encode([b"a", b"1", b"b", b"2"])


def test_payload_footer():
    p = encode_payload(R(b"", "string", b"hello"), 10)
    assert p[:1] == b"\x00" and p[-10:-8] == b"\x0a\x00"
    assert int.from_bytes(p[-8:], "little") == crc64(p[:-8])
    with pytest.raises(ValueError):
        encode_payload(b"x", 10)  # a bare value needs its key type


# -- round trips --------------------------------------------------------------------

blob = st.binary(min_size=0, max_size=80)
member = st.one_of(blob, st.integers(-(1 << 63), (1 << 63) - 1).map(lambda i: str(i).encode()),
                   st.sampled_from([b"007", b"-0", b"+1", b"1.5", b"9223372036854775808", b"", b"\x00\xff"]))
score = st.one_of(st.floats(allow_nan=False), st.sampled_from([math.inf, -math.inf, 0.1, -0.0, 1e300, 2.0 ** 53 + 2]))


@st.composite
def keyspaces(draw, version, dialect):
    recs = []
    for db in draw(st.lists(st.sampled_from([0, 1, 7]), min_size=1, max_size=2, unique=True)):
        keys = draw(st.lists(blob, min_size=1, max_size=6, unique=True))
        for key in keys:
            kind = draw(st.sampled_from(["string", "list", "set", "zset", "hash", "hash-ttl", "stream"]))
            expire = draw(st.one_of(st.none(), st.integers(1, (1 << 52))))
            if kind == "string":
                v = draw(st.one_of(member, st.binary(min_size=20, max_size=600)))
                recs.append(R(key, "string", v, db, expire))
            elif kind == "list":
                v = draw(st.lists(st.one_of(member, st.binary(min_size=60, max_size=400)), min_size=1, max_size=300))
                recs.append(R(key, "list", v, db, expire))
            elif kind == "set":
                v = draw(st.lists(member, min_size=1, max_size=140, unique=True))
                recs.append(R(key, "set", v, db, expire))
            elif kind == "zset":
                v = draw(st.lists(st.tuples(member, score), min_size=1, max_size=140, unique_by=lambda p: p[0]))
                recs.append(R(key, "zset", v, db, expire))
            elif kind.startswith("hash"):
                v = draw(st.lists(st.tuples(member, member), min_size=1, max_size=40, unique_by=lambda p: p[0]))
                fe = None
                if kind == "hash-ttl" and ((version >= 12 and dialect == "redis") or dialect == "valkey"):
                    fe = {f: draw(st.integers(1, (1 << 47))) for f, _ in v[: draw(st.integers(1, len(v)))]}
                recs.append(R(key, "hash", v, db, expire, fe))
            elif version >= 9:
                n = draw(st.integers(1, 30))
                entries = [model.StreamEntry((1000 + i, i % 3), [(b"f", draw(member)), (draw(blob), b"v")])
                           for i in range(n)]
                node = model.StreamNode(entries[0].id, [b"f", entries[0].fields[1][0]], entries)
                sv = model.StreamValue(nodes=[node], length=n, last_id=entries[-1].id,
                                       first_id=entries[0].id if version >= 10 else None,
                                       max_deleted_id=(0, 0) if version >= 10 else None,
                                       entries_added=n if version >= 10 else None)
                recs.append(R(key, "stream", sv, db, expire))
    return recs


@pytest.mark.parametrize("version,dialect", [(9, "redis"), (10, "redis"), (11, "redis"),
                                             (12, "redis"), (80, "valkey"), (7, "redis")])
@pytest.mark.parametrize("encodings", ["server", "keep"])
def test_round_trip(version, dialect, encodings):
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(keyspaces(version, dialect))
    def check(recs):
        data = write(recs, version, dialect, encodings=encodings)
        back = read_records(data)
        assert keyspace_from_records(back) == keyspace_from_records(recs)
        for a, b in zip(back, recs):
            assert (a.db, a.key) == (b.db, b.key)
            if a.type == "list":
                assert a.value == b.value
        # and writing what was read gives the same bytes again (keep mode is exact)
        again = write(back, version, dialect, encodings="keep")
        assert again == data or encodings == "server"

    check()


def test_huge_and_empty_values_round_trip():
    recs = [R(b"", "string", b""), R(b"huge", "string", os.urandom(3 << 20)),
            R(b"hugelist", "list", [b"z" * (1 << 20), b""]),
            R(b"ints", "set", [str(v).encode() for v in (-(1 << 63), (1 << 63) - 1, 0)])]
    for version in (9, 10, 11):
        back = read_records(write(recs, version, encodings="server"))
        assert keyspace_from_records(back) == keyspace_from_records(recs)


def test_planned_stream_nodes_match_what_servers_built():
    from corpus import REAL
    from persistkit.rdbtools.writer import plan_stream_nodes

    for folder in ("redis-5.0.14", "redis-7.2.6", "valkey-9.1.0"):
        recs = {r.key: r for r in read_records((REAL / folder / "dump.rdb").read_bytes()) if r.type == "stream"}
        sv = recs[b"stream:bignodes"].value  # split on stream-node-max-bytes, no deletions
        stored = [[e.id for e in n.entries] for n in sv.nodes]
        assert [[e.id for e in n.entries] for n in plan_stream_nodes(sv, 4096, 100)] == stored
        main = recs[b"stream:main"].value
        planned = plan_stream_nodes(main, 4096, 100)
        assert [len(n.entries) for n in planned] == [100, 100, 100, main.length - 300]


@pytest.mark.parametrize("version", [7, 10])
def test_nan_score_is_written_as_the_server_would_and_refused_on_read_like_it(version):
    from persistkit.kvencoding.errors import FormatError

    rec = R(b"z", "zset", [(b"a%d" % i, math.nan if i == 0 else float(i)) for i in range(200)])
    data = write([rec], version, encodings="server")
    nan_bytes = b"\xfd" if version < 8 else struct.pack("<d", math.nan)
    assert nan_bytes in data
    with pytest.raises(FormatError, match="NaN"):  # rdbLoadObject: "Zset with NAN score detected"
        read_records(data)


@pytest.mark.parametrize("rdb_type,ktype,value", [
    (op.T_SET, "set", [b"a", b"1", b"x" * 100]),
    (op.T_LIST, "list", [b"a", b"b"]),
    (op.T_HASH, "hash", [(b"f", b"v"), (b"n", b"123")]),
    (op.T_ZSET_2, "zset", [(b"a", 2.5), (b"b", -math.inf)]),
    (op.T_ZSET, "zset", [(b"a", 2.5), (b"b", 0.1)]),
])
def test_iterator_values_of_plain_types_stream_to_the_same_bytes(rdb_type, ktype, value):
    def rec(v):
        r = R(b"k", ktype, v)
        r.rdb_type, r.size_hint = rdb_type, len(value)
        return r

    assert write([rec(iter(value))], 8) == write([rec(list(value))], 8)


def test_an_iterator_shorter_than_its_count_is_an_error():
    r = R(b"k", "set", iter([b"a"]))
    r.rdb_type, r.size_hint = op.T_SET, 2
    w = RDBWriter(io.BytesIO(), version=10)
    with pytest.raises(WriterError):
        w.record(r)
