"""RDB 13 / 14 (Redis 8.6 / 8.8): key metadata, stream v4/v5, ARRAY -- against files real
servers wrote (tests/data/newformats, see its README), offline.

What the servers' own commands said the files hold is in each folder's expected.json;
every comparison here is strict (nothing in the fixtures expires before 2100).
Live-server checks are in test_new_formats_server.py.
"""

from __future__ import annotations

import io
import json
import random
import struct
from pathlib import Path

import pytest

from corpus import normalize_value
from persistkit.kvencoding import keymeta as km
from persistkit.kvencoding import rdbarray as ra
from persistkit.kvencoding import streamext as sx
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.errors import FormatError, UnsupportedVersionError
from persistkit.kvencoding.lengths import encode_length, encode_string
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools.convert import LossRefused, convert_rdb
from persistkit.rdbtools.dump import decode_payload
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.writer import RDBWriter, encode_payload

NF = Path(__file__).resolve().parent / "data" / "newformats"
FOLDERS = [NF / "redis-rdb13", NF / "redis-rdb14"]
IDS = [f.name for f in FOLDERS]


def _b(x) -> bytes:
    return x.encode() if isinstance(x, str) else bytes.fromhex(x["hex"])


def expected(folder: Path) -> dict:
    return json.loads((folder / "expected.json").read_text())


def expected_keys(folder: Path) -> dict:
    return {(k["db"], _b(k["key"])): k for k in expected(folder)["states"]["snapshot"]["keys"]}


def records(data: bytes, **kw) -> list:
    return [i for i in RDBReader(data, **kw) if isinstance(i, model.Record)]


# ---------------------------------------------------------------------------
# the content, compared with what the server said


def _check_stream(rec: model.Record, want: dict) -> None:
    sv: model.StreamValue = rec.value
    w = want["value"]
    got = normalize_value(model.STREAM, sv)
    # The server answers "" for the owner of a NACKed entry; the model says None.
    for g in got["groups"]:
        g["pel"] = sorted((i, b"" if c is None else c, t, n) for i, c, t, n in g["pel"])
    assert got == normalize_value(model.STREAM, w, NF, expected=True)
    for g, wg in zip(sorted(sv.groups, key=lambda g: g.name), sorted(w["groups"], key=lambda g: _b(g["name"]))):
        if rec.rdb_type >= 27:
            assert g.nacked is not None and len(g.nacked) == wg["nacked_count"]
            assert {model.format_stream_id(i) for i in g.nacked} == \
                {p["id"] for p in wg["pel"] if p["consumer"] == ""}
        else:
            assert g.nacked is None
    wi = w.get("idmp")
    assert (sv.idmp is None) == (wi is None) == (rec.rdb_type < 26)
    if wi is not None:
        i = sv.idmp
        assert (i.duration, i.max_entries, i.iids_added, i.iids_duplicates) == \
            (wi["duration"], wi["max_entries"], wi["iids_added"], wi["iids_duplicates"])
        assert i.tracked == wi["iids_tracked"]
        assert sum(1 for p in i.producers if p.entries) == wi["pids_tracked"]
        got = {(p.pid, iid, model.format_stream_id(sid)) for p in i.producers for iid, sid in p.entries}
        assert got == {(_b(a), _b(b), c) for a, b, c in wi["entries"]}


def check_record(rec: model.Record, want: dict) -> None:
    assert rec.type == want["type"]
    assert rec.encoding == want["encoding"], rec.key
    assert rec.expire_ms == want["expire_at_ms"]
    if rec.type == model.ARRAY:
        a: model.ArrayValue = rec.value
        wa = want["value"]
        assert [(i, t) for i, t in a.items()] == [(i, _b(t)) for i, t in wa["elements"]]
        assert len(a.elements) == wa["count"] and a.length == wa["len"]
        # ARINFO's next insert index is the stored last insert index + 1 (0: none yet).
        assert (0 if a.insert_idx is None else a.insert_idx + 1) == wa["next_insert_index"]
    elif rec.type == model.STREAM:
        _check_stream(rec, want)
    else:
        assert normalize_value(rec.type, rec.value) == normalize_value(rec.type, want["value"], NF, expected=True)
        fe = {_b(f): ms for f, ms in want.get("field_expire_at_ms", [])} or None
        assert (rec.field_expires or None) == fe
    metas = [(m.name, km.decode_module_items(m.raw)[0][1]) for m in rec.key_meta or []]
    assert metas == [(m["class"], _b(m["value"])) for m in want.get("key_meta", [])]


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_the_reader_gives_what_the_server_holds(folder):
    want = expected_keys(folder)
    data = (folder / "dump.rdb").read_bytes()
    reader = RDBReader(data)
    items = list(reader)
    assert items[0].version == expected(folder)["server"]["rdb_version"]
    recs = [i for i in items if isinstance(i, model.Record)]
    assert {(r.db, r.key) for r in recs} == set(want)
    for rec in recs:
        check_record(rec, want[(rec.db, rec.key)])
    assert items[-1].checksum_ok is True
    # the file really exercises what the version added
    assert any(r.key_meta for r in recs)
    types = {r.rdb_type for r in recs}
    assert (26 in types) if folder.name.endswith("13") else {27, 28} <= types


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_every_strategy_walks_the_same_records(folder):
    data = (folder / "dump.rdb").read_bytes()
    base = records(data)
    shape = [(r.db, r.key, r.rdb_type, r.offset, r.length, r.expire_ms,
              [(m.name, m.raw) for m in r.key_meta or []]) for r in base]
    for strategy in ("stream", "validate", "skip"):
        got = []
        for r in RDBReader(data, strategy=strategy):
            if isinstance(r, model.Record):
                if strategy == "stream" and r.type in (model.LIST, model.SET, model.ZSET, model.HASH):
                    r.value = list(r.value)
                got.append(r)
        assert [(r.db, r.key, r.rdb_type, r.offset, r.length, r.expire_ms,
                 [(m.name, m.raw) for m in r.key_meta or []]) for r in got] == shape, strategy
        if strategy == "stream":
            assert [r.value for r in got] == [r.value for r in base]
        if strategy == "skip":
            assert [r.size_hint for r in got if r.type == model.ARRAY] == \
                [len(r.value) for r in base if r.type == model.ARRAY]


def _rewrite(data: bytes) -> bytes:
    reader = RDBReader(data)
    out = io.BytesIO()
    w = RDBWriter(out, version=reader.header.version, dialect=reader.dialect, encodings="keep")
    for item in reader:
        w.write(item)
    return out.getvalue()


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_rewrite_is_byte_identical(folder):
    data = (folder / "dump.rdb").read_bytes()
    assert _rewrite(data) == data


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_dump_payloads_decode_and_reencode_byte_for_byte(folder):
    want = expected_keys(folder)
    dumps = expected(folder)["dumps"]
    assert len(dumps) == len(want)
    for d in dumps:
        payload = (folder / d["file"]).read_bytes()
        rec, version = decode_payload(payload)
        assert version == d["payload_rdb_version"] == expected(folder)["server"]["rdb_version"]
        w = dict(want[(d["db"], _b(d["key"]))], expire_at_ms=None)   # DUMP carries no TTL
        check_record(rec, w)
        assert encode_payload(rec, version, "redis", encodings="keep") == payload, d["key"]


# ---------------------------------------------------------------------------
# the codecs, on the servers' bytes


def test_array_tags_are_the_ones_the_server_chose():
    # Every element was set from a string: the stored tag is arEncode's choice, which
    # element_for_text must reproduce (integers, floats that survive the 2-bit trim,
    # strings up to 7 bytes inline, longer ones as SDS).
    data = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    seen = set()
    for rec in records(data):
        if rec.type == model.ARRAY:
            for e in rec.value.elements:
                assert ra.element_for_text(e.index, e.text()) == e
                seen.add(e.tag)
    assert seen == {ra.TAG_SDS, ra.TAG_INT, ra.TAG_FLOAT, ra.TAG_SMALLSTR}


def test_array_of_a_32bit_server_is_read():
    # skaslev/redis tests/assets/array-32bit.rdb (public corpus): a 32-bit build, so
    # small strings are at most 3 bytes there; the stored form is architecture-neutral.
    from corpus import PUBLIC

    path = PUBLIC / "skaslev__redis" / "array-32bit.rdb"
    if not path.exists():
        pytest.skip("public corpus not present")
    recs = records(path.read_bytes())
    assert recs and all(r.type == model.ARRAY for r in recs)
    ints = next(r for r in recs if r.key == b"ints").value
    assert ints.items()[:3] == [(0, b"0"), (1, b"1"), (2, b"-1")]
    assert _rewrite(path.read_bytes()) == path.read_bytes()


def test_class_spec_of_the_servers_classes():
    exp = expected(NF / "redis-rdb14")
    specs = {m.name: m for r in records((NF / "redis-rdb14" / "dump.rdb").read_bytes())
             for m in r.key_meta or []}
    for c in exp["key_meta_classes"]:
        m = specs[c["class"]]
        assert m.version == c["version"]
        assert m.allow_ignore == ("ALLOWIGNORE" in c["flags"])
        assert km.encode_class_spec(m.name, m.version, m.flags) == m.spec
        assert km.decode_class_spec(m.spec) == (m.name, m.version, m.flags)
    # keyMetaClassDecode cannot fail: every 32-bit value names some class
    rnd = random.Random(7)
    for _ in range(200):
        v = rnd.getrandbits(32)
        assert km.encode_class_spec(*km.decode_class_spec(v)) == v


def test_module_items_roundtrip():
    items = [("string", b"meta"), ("uint", 1), ("sint", (1 << 64) - 5), ("float", 1.5), ("double", -0.25)]
    raw = km.encode_module_items(items)
    assert km.decode_module_items(raw) == items
    src = ByteSource(raw + b"tail")
    assert km.capture_module_value(src, "x") == raw and src.tell() == len(raw)


# ---------------------------------------------------------------------------
# bad input: a FormatError with an offset, as the server's loader refuses it


def _lone_key(version: int, type_byte: int, body: bytes, meta: bytes = b"") -> bytes:
    head = b"REDIS%04d" % version
    data = head + meta + bytes((type_byte,)) + encode_string(b"k") + body + b"\xff"
    return data + struct.pack("<Q", crc64(data))


def _array_body(count=1, flag=0, elements=b"\x00\x01" + struct.pack("<q", 5)):
    return encode_length(count) + encode_length(flag) + elements


@pytest.mark.parametrize("body,needle", [
    (_array_body(count=0, elements=b""), "empty array"),
    (_array_body(flag=2), "insert-index flag"),
    (_array_body(elements=b"\x00\x07"), "unknown array element tag"),
    (_array_body(elements=b"\x00\x03" + encode_string(b"12345678x")), "small string too long"),
    (_array_body(elements=b"\x81" + b"\xff" * 8 + b"\x01" + b"\0" * 8), "invalid array index"),
    (_array_body(elements=b"\xc0\x01\x01" + b"\0" * 8), "invalid array index"),
    (_array_body(count=2), "invalid array index"),   # the count runs into the EOF byte
])
def test_bad_arrays_are_refused_with_an_offset(body, needle):
    data = _lone_key(14, 28, body)
    for strategy in ("build", "validate", "skip"):
        with pytest.raises(FormatError, match=needle) as ei:
            records(data, strategy=strategy)
        assert ei.value.offset is not None and 9 < ei.value.offset < len(data)


def _stream_v4(idmp: bytes) -> bytes:
    # an empty stream (no nodes, length 0), v2 metadata, no groups, then the IDMP block
    body = encode_length(0) + encode_length(0) + encode_length(0) + encode_length(0)
    body += encode_length(0) * 4 + encode_length(0) + encode_length(0)
    return body + idmp


def _idmp(duration=100, maxsize=100, producers=b"\x00", tail=b"\x00\x00"):
    return encode_length(duration) + encode_length(maxsize) + producers + tail


@pytest.mark.parametrize("idmp,needle", [
    (_idmp(duration=0), "IDMP duration out of range"),
    (_idmp(duration=86401), "IDMP duration out of range"),
    (_idmp(maxsize=10001), "IDMP max entries out of range"),
    (_idmp(producers=b"\x02" + encode_string(b"p") + b"\x00" + encode_string(b"p") + b"\x00"),
     "duplicate stream IDMP producer"),
])
def test_bad_idmp_state_is_refused(idmp, needle):
    with pytest.raises(FormatError, match=needle) as ei:
        records(_lone_key(13, 26, _stream_v4(idmp)))
    assert ei.value.offset > 9
    assert records(_lone_key(13, 26, _stream_v4(_idmp())))[0].value.idmp == sx.StreamIdmp()


def test_nack_zone_entries_must_be_unowned_pel_entries():
    data = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    rec = next(r for r in records(data) if r.key == b"stream:groups")
    sv = rec.value
    g1 = next(g for g in sv.groups if g.name == b"g1")
    owned = next(p.id for p in g1.pel if p.consumer is not None)
    unknown = (99, 99)
    for bad, needle in ((owned, "has a consumer assigned"), (unknown, "not found in group PEL")):
        g1.nacked[0] = bad
        payload = encode_payload(rec, 14, "redis", encodings="keep")
        with pytest.raises(FormatError, match=needle):
            decode_payload(payload)
    # and an unowned entry left out of the zone is an entry without an owner
    g1.nacked = g1.nacked[1:]
    with pytest.raises(FormatError, match="without consumer outside the NACK zone"):
        decode_payload(encode_payload(rec, 14, "redis", encodings="keep"))


def test_key_meta_must_be_followed_by_a_type_byte():
    meta = km.encode_key_meta([km.key_meta_from_items("KMT1", 1, 1, [("string", b"m")])])
    ok = _lone_key(13, 0, encode_string(b"v"), meta)
    assert records(ok)[0].key_meta[0].name == "KMT1"
    bad = b"REDIS0013" + meta + b"\xfc" + b"\0" * 8 + b"\x00" + encode_string(b"k") + encode_string(b"v") + b"\xff"
    with pytest.raises(FormatError, match="key metadata not followed by a value type"):
        records(bad + struct.pack("<Q", crc64(bad)))
    too_many = b"\xf3" + encode_length(8)
    with pytest.raises(FormatError, match="too many key metadata classes"):
        records(_lone_key(13, 0, encode_string(b"v"), too_many))
    # before RDB 13 the byte 243 is no opcode of a REDIS file
    with pytest.raises(FormatError, match="unknown value type or opcode 243"):
        records(_lone_key(12, 0, encode_string(b"v"), meta))


@pytest.mark.parametrize("version,byte,message", [
    (15, 33, "RDB type 33 (GCRA, Redis 8.10) is not supported: its layout could not be confirmed"),
    (14, 29, "RDB type 29 (GCRA, an ENABLE_GCRA build of Redis 8.8) is not supported: Redis 8.8 "
             "releases are built without GCRA, so none writes or loads it"),
])
def test_unconfirmed_types_are_refused_by_name(version, byte, message):
    data = _lone_key(version, byte, encode_string(b"v"))
    with pytest.raises(UnsupportedVersionError) as ei:
        records(data)
    assert ei.value.offset == 9 and str(ei.value).startswith(f"offset 9: {message} (expected")


def test_newer_types_are_unknown_in_older_versions():
    # the loader of RDB 13 has no type 27/28, the one of RDB 14 no templates
    for version, t in ((13, 27), (13, 28), (14, 30), (14, 32)):
        with pytest.raises(FormatError, match=f"unknown value type or opcode {t}"):
            records(_lone_key(version, t, encode_string(b"v")))
    with pytest.raises(FormatError, match="unknown value type or opcode 242"):
        records(b"REDIS0014\xf2\x00\x01" + encode_string(b"f") + b"\xff" + b"\0" * 8)


def test_rdb15_files_are_read_and_valkey081_is_refused():
    assert records(_lone_key(15, 28, _array_body()))[0].value.items() == [(0, b"5")]
    with pytest.raises(UnsupportedVersionError, match=r"VALKEY081, Valkey 9\.2\) is not supported"):
        RDBReader(b"VALKEY081\xff" + b"\0" * 8)


# -- RDB 15 hash templates: payloads of redis/redis tests/unit/type/hash-templates.tcl

_FIELDS_LP = b"\x17\x17\x00\x00\x00\x02\x00\x86field1\x07\x86field2\x07\xff"
_FOOTER15 = b"\x0f\x00" + b"\0" * 8     # RDB version 15, checksum off (as the tests send them)
TMPL_LP_OK = b"\x1d\x00" + _FIELDS_LP + b"\x0d\x0d\x00\x00\x00\x03\x00\x00\x01\x01\x01\x02\x01\xff" + _FOOTER15
TMPL_ARRAY_OK = b"\x1f\x01\x02\x06field1\x06field2\xc0\x01\xc0\x02" + _FOOTER15


def test_self_contained_template_payloads():
    # the test suite's "accepts sorted fields" expectation: {field1 1 field2 2}
    for payload, enc in ((TMPL_LP_OK, "template-listpack"), (TMPL_ARRAY_OK, "template-array")):
        rec, version = decode_payload(payload, check_crc=False)
        assert (version, rec.type, rec.encoding) == (15, model.HASH, enc)
        assert rec.value == [(b"field1", b"1"), (b"field2", b"2")]


@pytest.mark.parametrize("payload,needle", [
    # the malformed payloads of hash-templates.tcl, refused for the reason Redis logs
    (b"\x1d\x00" + _FIELDS_LP + b"\x0b\x0b\x00\x00\x00\x02\x00\x00\x01\x01\x01\xff" + _FOOTER15,
     "entry count does not match"),
    (b"\x1d\x00" + _FIELDS_LP + b"\x07\x07\x00\x00\x00\x00\x00\xff" + _FOOTER15, "listpack is empty"),
    (b"\x1d\x00" + _FIELDS_LP + b"\x0e\x0e\x00\x00\x00\x03\x00\x81\x78\x02\x01\x01\x02\x01\xff" + _FOOTER15,
     "first entry is not an integer"),
    (b"\x1d\x00\x07\x07\x00\x00\x00\x00\x00\xff\x0d\x0d\x00\x00\x00\x03\x00\x00\x01\x01\x01\x02\x01\xff"
     + _FOOTER15, "zero fields"),
    (TMPL_ARRAY_OK[:2] + b"\x00" + TMPL_ARRAY_OK[3:], "zero fields"),
    (b"\x1e\x0d\x0d\x00\x00\x00\x03\x00\x05\x01\x01\x01\x02\x01\xff" + _FOOTER15, "not valid in a DUMP payload"),
    (b"\x20\x05\xc0\x01\xc0\x02" + _FOOTER15, "not valid in a DUMP payload"),
    (TMPL_ARRAY_OK.replace(b"field1", b"fieldX").replace(b"field2", b"field1").replace(b"fieldX", b"field2"),
     "not strictly sorted"),
    (TMPL_ARRAY_OK.replace(b"field1", b"field2"), "not strictly sorted"),
    (TMPL_ARRAY_OK[:1] + b"\x02" + TMPL_ARRAY_OK[2:], "unknown hash template fields format"),
])
def test_malformed_template_payloads_are_refused(payload, needle):
    with pytest.raises(FormatError, match=needle):
        decode_payload(payload, check_crc=False)


def _rdb15_with_templates() -> bytes:
    """An RDB 15 file laid out as hash-templates.tcl's build_rdb describes (two keys
    sharing one template, REF forms) plus the self-contained forms."""
    fields = [b"field1", b"field2", b"field3", b"field4"]
    from persistkit.kvencoding.listpack import listpack_encode

    body = b"REDIS0015" + b"\xfe\x00"
    body += b"\xf2" + encode_length(0) + encode_length(4) + b"".join(encode_string(f) for f in fields)
    body += b"\xf2" + encode_length(1) + encode_length(2) + encode_string(b"a") + encode_string(b"bb")
    body += b"\x1e" + encode_string(b"k1") + encode_string(listpack_encode([0, 1, 2, 3, 4]))
    body += b"\x20" + encode_string(b"k2") + encode_length(0) + b"".join(encode_string(v) for v in
                                                                         (b"5", b"6", b"7", b"8"))
    body += b"\xfc" + struct.pack("<q", 4102444800000) + b"\x20" + encode_string(b"k3") + encode_length(1) \
        + encode_string(b"x") + encode_string(b"y")
    body += b"\x1d" + encode_string(b"k4") + TMPL_LP_OK[1:-10]
    body += b"\x1f" + encode_string(b"k5") + TMPL_ARRAY_OK[1:-10]
    body += b"\xff"
    return body + struct.pack("<Q", crc64(body))


def test_rdb15_hash_templates_are_read_as_hashes():
    data = _rdb15_with_templates()
    for strategy in ("build", "stream", "validate", "skip"):
        items = list(RDBReader(data, strategy=strategy))
        recs = [i for i in items if isinstance(i, model.Record)]
        assert [r.key for r in recs] == [b"k1", b"k2", b"k3", b"k4", b"k5"]
        assert [r.size_hint for r in recs] == [4, 4, 2, 2, 2]
        assert sum(1 for i in items if isinstance(i, model.Opaque) and i.name == "HASH_TEMPLATE") == 2
    recs = records(data)
    assert recs[0].value == [(b"field1", b"1"), (b"field2", b"2"), (b"field3", b"3"), (b"field4", b"4")]
    assert recs[1].value == [(b"field1", b"5"), (b"field2", b"6"), (b"field3", b"7"), (b"field4", b"8")]
    assert recs[2].value == [(b"a", b"x"), (b"bb", b"y")] and recs[2].expire_ms == 4102444800000
    assert [r.encoding for r in recs] == ["template-listpack", "template-array", "template-array",
                                          "template-listpack", "template-array"]
    # converted for RDB 14 (and older) they are plain hashes, nothing lost
    out = io.BytesIO()
    res = convert_rdb(data, out, version=14)
    assert not res.losses
    back = records(out.getvalue())
    assert [(r.key, r.rdb_type, r.value) for r in back] == [(r.key, 16, r.value) for r in recs]


@pytest.mark.parametrize("patch,needle", [
    ((b"\x1e\x02k1\x11\x11\x00\x00\x00\x05\x00\x00", b"\x1e\x02k1\x11\x11\x00\x00\x00\x05\x00\x05"),
     "unknown template id"),                                         # hash-templates.tcl: id 0 -> 5
    ((b"\x20\x02k2\x00", b"\x20\x02k2\x05"), "unknown template id"),
    ((b"\x04\x06field1", b"\x00\x06field1"), "zero fields"),       # the field-count byte
    ((b"field1", b"fieldZ"), "not strictly sorted"),
    ((b"\xf2\x01\x02", b"\xf2\x00\x02"), "duplicate hash template id"),
])
def test_corrupt_rdb15_templates_are_refused(patch, needle):
    data = _rdb15_with_templates()
    old, new = patch
    assert data.count(old) >= 1
    bad = data.replace(old, new, 1)
    for strategy in ("build", "skip"):
        with pytest.raises(FormatError, match=needle):
            records(bad, strategy=strategy, strict_crc=False)


# ---------------------------------------------------------------------------
# damage: never anything but a FormatError


def _mutations(data: bytes, rnd: random.Random, n: int, lo: int = 9):
    """Seeded truncations, bit flips and random byte changes after ``lo``."""
    hi = max(lo + 1, len(data) - 9)
    for _ in range(n):
        kind = rnd.randrange(3)
        b = bytearray(data)
        if kind == 0:
            yield bytes(b[:rnd.randrange(lo, len(b))])
        elif kind == 1:
            b[rnd.randrange(lo, hi)] ^= 1 << rnd.randrange(8)
            yield bytes(b)
        else:
            for _ in range(rnd.randrange(1, 4)):
                b[rnd.randrange(lo, hi)] = rnd.randrange(256)
            yield bytes(b)


def _read_with_every_strategy(data: bytes) -> int:
    """Read ``data`` with each value strategy; only FormatError may stop a read. Returns
    how many of the reads were stopped by one."""
    refused = 0
    for strategy in ("build", "validate", "skip"):
        try:
            for _ in RDBReader(data, strategy=strategy, strict_crc=False):
                pass
        except FormatError:
            refused += 1
    return refused


def _decode_payload_or_refuse(payload: bytes) -> None:
    """Decode a DUMP payload; only FormatError may refuse it."""
    try:
        decode_payload(payload, check_crc=False)
    except FormatError:
        pass


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_mutated_files_give_format_errors_only(folder):
    data = (folder / "dump.rdb").read_bytes()
    rnd = random.Random(1301 + len(data))
    for bad in _mutations(data, rnd, 120):
        _read_with_every_strategy(bad)


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_mutated_payloads_give_format_errors_only(folder):
    rnd = random.Random(77)
    for d in expected(folder)["dumps"]:
        payload = (folder / d["file"]).read_bytes()
        for bad in _mutations(payload, rnd, 6, lo=0):
            _decode_payload_or_refuse(bad)


def test_mutated_rdb15_templates_give_format_errors_only():
    data = _rdb15_with_templates()
    rnd = random.Random(1501)
    refused = sum(_read_with_every_strategy(bad) for bad in _mutations(data, rnd, 200))
    assert refused > 0
    for payload in (TMPL_LP_OK, TMPL_ARRAY_OK):
        for bad in _mutations(payload, rnd, 60, lo=0):
            _decode_payload_or_refuse(bad)


# ---------------------------------------------------------------------------
# convert


def test_convert_down_reports_every_loss():
    data = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    with pytest.raises(LossRefused) as ei:
        convert_rdb(data, io.BytesIO(), version=13)
    kinds = sorted({(x.kind, x.key) for x in ei.value.result.losses})
    arrays = sorted(r.key for r in records(data) if r.type == model.ARRAY)
    assert kinds == sorted([("key", k) for k in arrays] + [("stream-nack", b"stream:groups")])
    with pytest.raises(LossRefused) as ei:
        convert_rdb(data, io.BytesIO(), version=12)
    by_kind = {}
    for x in ei.value.result.losses:
        by_kind.setdefault(x.kind, set()).add(x.key)
    metas = {r.key for r in records(data) if r.key_meta and r.type != model.ARRAY}
    assert by_kind["key-meta"] == metas
    assert by_kind["stream-idmp"] == {b"stream:idmp"}
    assert "3 producer(s), 4 entries" in next(x.detail for x in ei.value.result.losses if x.kind == "stream-idmp")


@pytest.mark.parametrize("version", [10, 11, 12, 13])
def test_convert_down_writes_what_the_target_can_hold(version):
    data = (NF / "redis-rdb14" / "dump.rdb").read_bytes()
    out = io.BytesIO()
    res = convert_rdb(data, out, version=version, allow_loss=True)
    got = {(r.db, r.key): r for r in records(out.getvalue())}
    want = expected_keys(NF / "redis-rdb14")
    assert set(got) == {k for k, v in want.items() if v["type"] != "array"}
    assert res.keys_lost == sum(1 for v in want.values() if v["type"] == "array")
    for k, rec in got.items():
        assert rec.rdb_type not in (26, 27, 28) or version >= 13
        assert (rec.key_meta is not None) == (version >= 13 and "key_meta" in want[k])
        if rec.type == model.STREAM and rec.key == b"stream:groups":
            # NACKed entries leave the PEL; every remaining entry has its owner
            assert all(p.consumer is not None for g in rec.value.groups for p in g.pel)
            assert sum(len(g.pel) for g in rec.value.groups) == 4


def test_convert_to_the_same_version_is_identity():
    for folder in FOLDERS:
        data = (folder / "dump.rdb").read_bytes()
        out = io.BytesIO()
        res = convert_rdb(data, out)
        assert not res.losses and out.getvalue() == data


def test_convert_up_from_13_to_14():
    data = (NF / "redis-rdb13" / "dump.rdb").read_bytes()
    out = io.BytesIO()
    convert_rdb(data, out, version=14)
    want = expected_keys(NF / "redis-rdb13")
    recs = records(out.getvalue())
    assert {(r.db, r.key) for r in recs} == set(want)
    for rec in recs:
        check_record(rec, want[(rec.db, rec.key)])


# ---------------------------------------------------------------------------
# the compiled paths (verify scan, export renderer, memory walk) decline what they do not
# know and hand it to the reader: same verdicts, offsets and bytes as the pure path


def _verify_doc(data: bytes, quick: bool) -> dict:
    from persistkit.rdbtools.verify import verify_rdb

    return verify_rdb("f.rdb", data=data, quick=quick).as_dict()


def _export_out(data: bytes, fmt: str):
    from persistkit.rdbtools.export import export_rdb

    out = io.BytesIO()
    try:
        stats = export_rdb("f.rdb", fmt, out, stream=io.BytesIO(data))
        return out.getvalue(), stats, None
    except FormatError as exc:
        return out.getvalue(), None, (exc.offset, exc.message)


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_compiled_and_pure_paths_agree(folder):
    from persistkit import accel

    data = (folder / "dump.rdb").read_bytes()
    cases = [data] + list(_mutations(data, random.Random(4242), 30))
    for case in cases:
        for quick in (False, True):
            with accel.forced_pure():
                pure = _verify_doc(case, quick)
            assert _verify_doc(case, quick) == pure
        for fmt in ("jsonl", "resp", "csv"):
            with accel.forced_pure():
                pure = _export_out(case, fmt)
            assert _export_out(case, fmt) == pure, fmt
    assert _verify_doc(data, False)["ok"] is True


# ---------------------------------------------------------------------------
# replay / merge / diff: the engine has no arrays and keeps no key metadata, IDMP
# state or NACK zones; they are counted, and what it writes is still a valid file


def test_replay_and_merge_count_what_the_engine_cannot_hold(tmp_path):
    from click.testing import CliRunner

    from persistkit.cli import main

    src = NF / "redis-rdb14" / "dump.rdb"
    out = tmp_path / "replayed.rdb"
    r = CliRunner().invoke(main, ["replay", str(src), "-o", str(out), "--rdb-version", "14", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    summary = doc["replay"]
    assert summary["array_keys_dropped"] == 5
    assert summary["key_meta_dropped"] == 5      # the array with metadata counts as an array
    assert summary["stream_meta_dropped"] == 2   # stream:idmp (IDMP) and stream:groups (NACKs)
    recs = records(out.read_bytes())
    assert len(recs) == 19 and not any(r.type == model.ARRAY for r in recs)
    groups = next(r for r in recs if r.key == b"stream:groups").value.groups
    # the engine lost the zone; the writer puts the unowned entries back into one
    assert sorted(len(g.nacked) for g in groups) == [1, 2]
    merged = tmp_path / "merged.rdb"
    r = CliRunner().invoke(main, ["merge", str(src), str(NF / "redis-rdb13" / "dump.rdb"),
                                  "-o", str(merged), "--json"])
    assert r.exit_code in (0, 1) and "Traceback" not in r.output
    assert records(merged.read_bytes())
    r = CliRunner().invoke(main, ["diff", str(src), str(src)])
    assert r.exit_code == 0 and "Traceback" not in r.output


# ---------------------------------------------------------------------------
# the commands


def test_cli_verify_inspect_export_payload(tmp_path):
    from click.testing import CliRunner

    from persistkit import accel
    from persistkit.cli import main

    run = CliRunner().invoke
    for folder in FOLDERS:
        rdb = str(folder / "dump.rdb")
        r = run(main, ["verify", "--json", rdb])
        assert r.exit_code == 0, r.output
        rep = json.loads(r.output)["reports"][0]
        assert rep["ok"]
        # KMT2 has no ALLOW_IGNORE flag: a server without that class refuses the file
        warn = [p for p in rep["problems"] if p["code"] == "key-meta-required"]
        assert [p["found"] for p in warn] == ["KMT2 v3"] and warn[0]["severity"] == "warning"
        r = run(main, ["inspect", "--json", rdb])
        doc = json.loads(r.output)
        want = expected_keys(folder).values()
        assert doc["version"] == int(folder.name[-2:]) and doc["keys"] == len(want)
        assert doc["key_meta"]["keys"] == sum(1 for k in want if "key_meta" in k)
        with accel.forced_pure():
            pure = json.loads(run(main, ["inspect", "--json", rdb]).output)
        pure["ttl"]["reference_ms"] = doc["ttl"]["reference_ms"]   # "now" of each run
        assert pure == doc
        r = run(main, ["export", rdb, "--format", "jsonl"])
        lines = [json.loads(x) for x in r.output.splitlines()]
        keys = {(x["db"], _b(x["key"])): x for x in lines if x["kind"] == "key"}
        assert set(keys) == set(expected_keys(folder))
        # every exported line encodes back to the server's own DUMP payload
        for d in expected(folder)["dumps"]:
            line = json.dumps(keys[(d["db"], _b(d["key"]))])
            r = run(main, ["payload", "encode", "--from", "-", "--rdb-version", folder.name[-2:],
                           "--encodings", "keep", "--json"], input=line)
            assert r.exit_code == 0, r.output
            assert bytes.fromhex(json.loads(r.output)["payload_hex"]) == (folder / d["file"]).read_bytes()
        r = run(main, ["payload", "decode", "--json", str(folder / expected(folder)["dumps"][0]["file"])])
        assert r.exit_code == 0 and json.loads(r.output)["rdb_version"] == int(folder.name[-2:])
    r = run(main, ["convert", str(FOLDERS[1] / "dump.rdb"), "-o", str(tmp_path / "o.rdb"),
                   "--target", "redis-8.6", "--json"])
    assert r.exit_code == 1 and not (tmp_path / "o.rdb").exists()
    assert {x["kind"] for x in json.loads(r.output)["losses"]} == {"key", "stream-nack"}
    bad = tmp_path / "t33.rdb"
    bad.write_bytes(_lone_key(15, 33, encode_string(b"v")))   # GCRA
    r = run(main, ["verify", "--json", str(bad)])
    assert r.exit_code == 1 and "could not be confirmed" in r.output
    assert [p["code"] for p in json.loads(r.output)["reports"][0]["problems"]] == ["unsupported-type"]


def test_rdb15_templates_same_on_compiled_and_pure_paths():
    from persistkit import accel

    data = _rdb15_with_templates()
    for case in [data] + list(_mutations(data, random.Random(15), 30)):
        with accel.forced_pure():
            pure = (_verify_doc(case, False), _export_out(case, "jsonl"), _export_out(case, "resp"))
        assert (_verify_doc(case, False), _export_out(case, "jsonl"), _export_out(case, "resp")) == pure
    assert _verify_doc(data, False)["ok"] is True


def _read_array_both(body: bytes):
    """read_array over a whole buffer (the fast path runs) and over a stream read one
    byte at a time (only the reference element reader can run)."""
    out = []
    for src in (ByteSource(body, base=100),
                ByteSource(io.BytesIO(body), base=100, chunk=1, size=100 + len(body))):
        try:
            v, n = ra.read_array(src)
            out.append(("ok", v, n, src.tell()))
        except FormatError as exc:
            out.append(("error", exc.message, exc.offset, exc.expected, exc.found))
    return out


def test_array_fast_path_agrees_with_the_element_reader():
    rnd = random.Random(2814)
    for _ in range(100):
        els = []
        for i in sorted(rnd.sample(range(1 << rnd.choice((6, 14, 33))), rnd.randrange(1, 30))):
            kind = rnd.randrange(5)
            if kind == 0:
                els.append(ra.ArrayElement(i, ra.TAG_INT, rnd.randrange(-(1 << 63), 1 << 63)))
            elif kind == 1:
                els.append(ra.ArrayElement(i, ra.TAG_FLOAT, rnd.uniform(-1e9, 1e9)))
            elif kind == 2:
                els.append(ra.ArrayElement(i, ra.TAG_SMALLSTR, rnd.randbytes(rnd.randrange(8))))
            else:
                els.append(ra.ArrayElement(i, ra.TAG_SDS, rnd.randbytes(rnd.choice((8, 50, 70, 300)))))
        body = ra.encode_array(ra.ArrayValue(els, rnd.choice((None, 5))), compress=rnd.random() < 0.5)
        a, b = _read_array_both(body)
        assert a == b and a[0] == "ok" and a[1].elements == els
        for bad in _mutations(body + b"\xff" * 4, rnd, 4, lo=0):
            a, b = _read_array_both(bad)
            assert a == b


def _read_meta_both(block: bytes):
    out = []
    for src in (ByteSource(block, base=50),
                ByteSource(io.BytesIO(block), base=50, chunk=1, size=50 + len(block))):
        try:
            out.append(("ok", km.read_key_meta(src), src.tell()))
        except FormatError as exc:
            out.append(("error", exc.message, exc.offset, exc.expected, exc.found))
    return out


def test_key_meta_fast_path_agrees_with_the_module_value_walker():
    rnd = random.Random(243)
    for _ in range(150):
        metas = []
        for c in range(rnd.randrange(1, 4)):
            items = []
            for _ in range(rnd.randrange(0, 5)):
                kind = rnd.choice(("string", "uint", "sint", "float", "double"))
                if kind == "string":
                    items.append((kind, rnd.choice((b"", b"12", b"-7", b"x" * 30, rnd.randbytes(rnd.randrange(90))))))
                elif kind in ("uint", "sint"):
                    items.append((kind, rnd.choice((0, 5, 300, 1 << 40))))
                else:
                    items.append((kind, rnd.random()))
            metas.append(km.key_meta_from_items(km.CHARSET[c] * 4, c, c % 8, items))
        block = km.encode_key_meta(metas)[1:]      # after the 243 opcode
        a, b = _read_meta_both(block)
        assert a == b and a[0] == "ok" and a[1] == metas
        for bad in _mutations(block + b"\x00" * 10, rnd, 3, lo=0):
            a, b = _read_meta_both(bad)
            assert a == b
