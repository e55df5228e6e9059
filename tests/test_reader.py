"""The RDB reader against files real servers wrote (corpus/real): content, encodings,
DUMP payloads, the RDB part of hybrid AOFs, and the decode=False / iterate modes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from corpus import (REAL, bstr, diff_keyspaces, expected_functions, expected_keyspace,
                    keyspace_from_records, load_expected, real_ids)
from persistkit.kvencoding.errors import FormatError, UnsupportedVersionError
from persistkit.kvencoding.fileio import open_input
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools.dump import decode_payload
from persistkit.rdbtools.reader import RDBReader, iter_keys, module_name, read_rdb

IDS = real_ids()


def _wild(folder: str) -> bool:
    # Redis 5.0 does not report consumer seen times (corpus README), the RDB stores them.
    return folder.startswith("redis-5.")


def _functions(items) -> list[bytes]:
    return sorted(i.code for i in items if isinstance(i, model.Function))


@pytest.mark.parametrize("folder", IDS)
def test_dump_rdb_reads_to_snapshot(folder):
    items = read_rdb(REAL / folder / "dump.rdb")
    assert isinstance(items[0], model.Header)
    assert isinstance(items[-1], model.EOF)
    got = keyspace_from_records(items)
    assert diff_keyspaces(got, expected_keyspace(folder), consumer_times_wildcard=_wild(folder)) == []
    assert _functions(items) == (expected_functions(folder) or [])
    data = load_expected(folder)
    assert items[0].version == data["rdb_version"]
    eof = items[-1]
    if data["variant"].get("rdbchecksum") == "no" or folder == "redis-5.0.14":
        assert eof.checksum == 0 and eof.checksum_ok is None
    else:
        assert eof.checksum_ok is True


@pytest.mark.parametrize("folder", IDS)
def test_streamed_from_file_matches_bytes_and_offsets_cover_file(folder):
    path = REAL / folder / "dump.rdb"
    raw = path.read_bytes()
    # A small chunk forces many refills of the window (memory-flat streaming path).
    with open_input(path) as stream:
        src = ByteSource(stream, name=str(path), size=len(raw), chunk=4096, crc=True)
        items = list(RDBReader(src))
    assert keyspace_from_records(items) == keyspace_from_records(read_rdb(raw))
    # Offsets/lengths tile the file from the header to the trailer.
    pos = 0
    for it in items:
        assert it.offset == pos, it
        pos += it.length
    assert pos == len(raw)


@pytest.mark.parametrize("folder", IDS)
def test_encodings_match_server(folder):
    data = load_expected(folder)
    root = REAL / folder
    want = {(k["db"], bstr(k["key"], root)): k["encoding"] for k in data["states"]["snapshot"]["keys"]}
    for decode in (True, False):
        for rec in read_rdb(root / "dump.rdb", decode=decode):
            if not isinstance(rec, model.Record):
                continue
            exp = want[(rec.db, rec.key)]
            if rec.type == model.STRING and exp == "raw" and rec.encoding == "embstr":
                # APPEND/SETRANGE/PFADD leave a live string "raw"; a loading server
                # builds it as embstr again (tryObjectEncoding).
                continue
            assert rec.encoding == exp, (rec.key, rec.rdb_type, decode)


@pytest.mark.parametrize("folder", IDS)
def test_decode_false_walks_same_records(folder):
    path = REAL / folder / "dump.rdb"
    full = [r for r in read_rdb(path) if isinstance(r, model.Record)]
    quick = [r for r in read_rdb(path, decode=False) if isinstance(r, model.Record)]
    assert [(r.db, r.key, r.offset, r.length, r.type, r.expire_ms) for r in full] == \
           [(r.db, r.key, r.offset, r.length, r.type, r.expire_ms) for r in quick]
    assert all(r.value is None for r in quick)
    for f, q in zip(full, quick):
        if q.size_hint is not None and f.type in (model.LIST, model.SET, model.ZSET, model.HASH):
            assert q.size_hint == len(f.value), f.key


@pytest.mark.parametrize("folder", IDS)
def test_iterate_mode_streams_collections(folder):
    path = REAL / folder / "dump.rdb"
    want = keyspace_from_records(read_rdb(path))
    got_records = []
    for rec in iter_keys(path, iterate=True):
        if rec.type in (model.LIST, model.SET, model.ZSET, model.HASH):
            rec.value = list(rec.value)
        got_records.append(rec)
    assert keyspace_from_records(got_records) == want


@pytest.mark.parametrize("folder", IDS)
def test_dump_payloads_decode_to_their_keys(folder):
    data = load_expected(folder)
    root = REAL / folder
    snapshot = expected_keyspace(folder)
    for d in data["dumps"]:
        payload = (root / d["file"]).read_bytes()
        rec, version = decode_payload(payload)
        assert version == d["payload_rdb_version"]
        assert rec.type == d["type"]
        enc = rec.encoding
        if d["encoding"] == "unknown":  # Redis 5.0 names stream encoding "unknown"
            enc = "unknown" if enc == "stream" else enc
        assert enc == d["encoding"], d["file"]
        rec.db, rec.key = d["db"], bstr(d["key"], root)
        want = {(rec.db, rec.key): snapshot[(rec.db, rec.key)]}
        assert diff_keyspaces(keyspace_from_records([rec]), want, ignore=("expire_ms",),
                              consumer_times_wildcard=_wild(folder)) == []


def test_dump_payload_bad_crc_and_version():
    root = REAL / "redis-7.2.6"
    d = load_expected("redis-7.2.6")["dumps"][0]
    payload = bytearray((root / d["file"]).read_bytes())
    payload[1] ^= 0x01
    with pytest.raises(FormatError, match="checksum"):
        decode_payload(bytes(payload))
    payload = bytearray((root / d["file"]).read_bytes())
    payload[-10:-8] = (99).to_bytes(2, "little")
    with pytest.raises(UnsupportedVersionError):
        decode_payload(bytes(payload), check_crc=False)


def _hybrid_rdb(folder: str) -> Path:
    base = REAL / folder / "aof-hybrid"
    single = base / "appendonly.aof"
    if single.exists():
        return single
    return next((base / "appendonlydir").glob("*.base.rdb"))


@pytest.mark.parametrize("folder", IDS)
def test_hybrid_aof_rdb_part_reads_to_snapshot(folder):
    path = _hybrid_rdb(folder)
    with open_input(path) as stream:
        reader = RDBReader(stream)
        items = list(reader)
        tail = reader.src.at_eof()
    assert diff_keyspaces(keyspace_from_records(items), expected_keyspace(folder),
                          consumer_times_wildcard=_wild(folder)) == []
    assert any(isinstance(i, model.Aux) and i.key == b"aof-base" or
               isinstance(i, model.Aux) and i.key == b"aof-preamble" for i in items)
    if path.name == "appendonly.aof":
        assert not tail  # RESP follows the preamble in the single-file layout


def test_header_errors():
    with pytest.raises(FormatError, match="not an RDB"):
        RDBReader(b"hello world")
    with pytest.raises(UnsupportedVersionError, match="newer than this tool knows"):
        RDBReader(b"REDIS0016\xff" + b"\0" * 8)
    with pytest.raises(UnsupportedVersionError):
        RDBReader(b"VALKEY081\xff" + b"\0" * 8)
    r = RDBReader(b"REDIS0016\xff" + b"\0" * 8, allow_future=True)
    assert [type(i) for i in r] == [model.Header, model.EOF]


def test_crc_mismatch_raises_and_can_be_reported():
    raw = bytearray((REAL / "redis-7.2.6" / "dump.rdb").read_bytes())
    raw[-1] ^= 0xFF
    with pytest.raises(FormatError, match="checksum"):
        read_rdb(bytes(raw))
    items = read_rdb(bytes(raw), strict_crc=False)
    assert items[-1].checksum_ok is False


def test_unknown_type_is_error_with_offset():
    raw = b"REDIS0011\xfe\x00\x63\x01k\x01v\xff" + b"\0" * 8
    with pytest.raises(FormatError) as ei:
        read_rdb(raw)
    assert ei.value.offset == 11 and "99" in str(ei.value)


def test_module_name_decoding():
    # 'hellotype' with encver 0: 9 chars of the charset, 6 bits each, above 10 bits.
    cs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    mid = 0
    for ch in "hellotype":
        mid = (mid << 6) | cs.index(ch)
    assert module_name((mid << 10) | 5) == "hellotype"


def test_huge_string_skipped_without_building(tmp_path):
    # A 20 MB string in decode=False mode: skipped in chunks; decode=True builds it.
    big = b"x" * (20 << 20)
    n = len(big)
    raw = b"REDIS0009\xfe\x00\x00\x03big" + b"\x80" + n.to_bytes(4, "big") + big + b"\xff"
    from persistkit.kvencoding.crc64 import crc64

    raw += crc64(raw).to_bytes(8, "little")
    path = tmp_path / "big.rdb"
    path.write_bytes(raw)
    with open(path, "rb") as fh:
        src = ByteSource(io.BufferedReader(fh), size=len(raw), chunk=1 << 16, crc=True)
        recs = [r for r in RDBReader(src, decode=False) if isinstance(r, model.Record)]
        assert len(src.buf) < (1 << 20)  # the window never held the string
    assert recs[0].size_hint == n and recs[0].value is None and recs[0].encoding == "raw"


def test_compressed_inputs_are_read_by_content(tmp_path):
    import gzip

    import lz4.frame

    raw = (REAL / "redis-7.4.1" / "dump.rdb").read_bytes()
    want = keyspace_from_records(read_rdb(raw))
    for name, data in (("a.rdb.lz4", lz4.frame.compress(raw)), ("b.bin", gzip.compress(raw))):
        path = tmp_path / name
        path.write_bytes(data)
        assert keyspace_from_records(read_rdb(path)) == want
