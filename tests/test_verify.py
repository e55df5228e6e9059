"""verify on real files: intact ones pass, damaged ones list every problem with its offset."""

from __future__ import annotations

import pytest

from corpus import PUBLIC, REAL, real_ids
from persistkit.kvencoding.crc64 import crc64
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import read_rdb
from persistkit.checks import verify_path
from persistkit.rdbtools.verify import verify_rdb


def _codes(report):
    return [p.code for p in report.problems]


def _with_crc(body: bytes) -> bytes:
    return body + crc64(body).to_bytes(8, "little")


@pytest.mark.parametrize("folder", real_ids())
@pytest.mark.parametrize("quick", [False, True])
def test_real_dumps_are_intact(folder, quick):
    rep = verify_path(REAL / folder / "dump.rdb", quick=quick)
    assert rep.ok, [p.as_dict() for p in rep.problems]
    assert rep.kind == "rdb"
    if folder == "redis-5.0.14":  # rdbchecksum no
        assert _codes(rep) == ["checksum-disabled"]
    else:
        assert _codes(rep) == [] and rep.stats["checksum"] == "ok"
    assert rep.stats["keys"] == sum(1 for r in read_rdb(REAL / folder / "dump.rdb")
                                    if isinstance(r, model.Record))


def test_public_must_fail_files():
    rep = verify_path(PUBLIC / "redis__redis/corrupt_ziplist.rdb")
    assert not rep.ok and "bad-value" in _codes(rep)
    bad = [p for p in rep.problems if p.code == "bad-value"][0]
    assert bad.key == b"key:000000000091" and bad.offset > 0
    rep = verify_path(PUBLIC / "redis__librdb/invalid_chksum_v8.rdb")
    assert not rep.ok and _codes(rep) == ["crc-mismatch"]
    rep = verify_path(PUBLIC / "redis__librdb/future_v19.rdb")
    assert not rep.ok and _codes(rep) == ["unsupported-version"]
    rep = verify_path(PUBLIC / "redis__redis/corrupt_empty_keys.rdb")
    assert rep.ok and _codes(rep).count("empty-key") == 9


def test_every_bad_blob_is_listed_and_walk_continues():
    # Break the terminator of every listpack-encoded hash in a real file: each is
    # reported with its key, and the keys after them are still read and counted.
    raw = bytearray((REAL / "redis-7.2.6" / "dump.rdb").read_bytes())
    targets = [r for r in read_rdb(bytes(raw), decode=False)
               if isinstance(r, model.Record) and r.rdb_type == 16 and not r.layout["compressed"]]
    assert len(targets) >= 3
    for r in targets:
        end = r.offset + r.length
        assert raw[end - 1] == 0xFF
        raw[end - 1] = 0x00
    body = bytes(raw[:-8])
    rep = verify_rdb("x.rdb", data=_with_crc(body))
    bad = [p for p in rep.problems if p.code == "bad-value"]
    assert sorted(p.key for p in bad) == sorted(r.key for r in targets)
    total = sum(1 for r in read_rdb(REAL / "redis-7.2.6" / "dump.rdb") if isinstance(r, model.Record))
    assert rep.stats["keys"] == total - len(targets)
    quick = verify_rdb("x.rdb", data=_with_crc(body), quick=True)
    assert sorted(p.key for p in quick.problems if p.code == "bad-value") == sorted(r.key for r in targets)


def _record_bytes(raw: bytes, key: bytes) -> bytes:
    rec = [r for r in read_rdb(raw, decode=False) if isinstance(r, model.Record) and r.key == key][0]
    return raw[rec.offset:rec.offset + rec.length], rec


def test_duplicate_key_trailing_data_truncation_and_missing_eof():
    raw = (REAL / "redis-7.0.15" / "dump.rdb").read_bytes()
    first = [r for r in read_rdb(raw, decode=False) if isinstance(r, model.Record)][0]
    rec_bytes = raw[first.offset:first.offset + first.length]
    dup = raw[:first.offset + first.length] + rec_bytes + raw[first.offset + first.length:-8]
    rep = verify_rdb("dup.rdb", data=_with_crc(dup))
    assert _codes(rep) == ["duplicate-key"]
    assert rep.problems[0].key == first.key and rep.problems[0].offset == first.offset + first.length

    rep = verify_rdb("tail.rdb", data=raw + b"garbage")
    assert _codes(rep) == ["trailing-data"] and rep.problems[0].offset == len(raw)

    rep = verify_rdb("cut.rdb", data=raw[: len(raw) // 2])
    assert _codes(rep) == ["truncated"] and not rep.ok

    rep = verify_rdb("noeof.rdb", data=raw[: first.offset])
    assert not rep.ok and _codes(rep) == ["truncated"]


def test_hybrid_single_file_goes_to_aof_verify():
    rep = verify_path(REAL / "redis-6.2.16" / "aof-hybrid" / "appendonly.aof")
    assert rep.kind != "rdb"
    assert rep.ok


def test_unknown_type_code():
    body = b"REDIS0011\xfe\x00\x63\x01k\x01v\xff"
    rep = verify_rdb("u.rdb", data=_with_crc(body))
    assert _codes(rep) == ["unknown-type"] and rep.problems[0].offset == 11


def test_bad_node_in_the_middle_of_a_quicklist_keeps_the_framing():
    from persistkit.kvencoding.lengths import encode_length, encode_string
    from persistkit.kvencoding.listpack import listpack_encode

    good = listpack_encode([b"a", b"b", 7])
    bad = bytearray(listpack_encode([b"c", b"d"]))
    bad[-1] = 0x00  # no terminator
    nodes = [good, bytes(bad), good]
    body = b"REDIS0011\xfe\x00\x12" + encode_string(b"list", compress=False) + encode_length(3)
    for n in nodes:
        body += encode_length(2) + encode_string(n, compress=False)
    body += b"\x00" + encode_string(b"after", compress=False) + encode_string(b"ok", compress=False)
    body += b"\xff"
    rep = verify_rdb("ql.rdb", data=_with_crc(body))
    assert [(p.code, p.key) for p in rep.problems] == [("bad-value", b"list")]
    assert rep.stats["keys"] == 1 and rep.stats["checksum"] == "ok"
    quick = verify_rdb("ql.rdb", data=_with_crc(body), quick=True)
    assert [(p.code, p.key) for p in quick.problems] == [("bad-value", b"list")]
