"""Decode every real server file to plain values and write it again: the bytes must match.

For each folder of shared/corpus/real: ``dump.rdb`` read with the reader (decode=True,
values built, nothing copied raw), written back by RDBWriter with ``encodings="keep"``,
the same version, dialect, aux fields, key order and checksum setting, must equal the
original byte for byte; so must every DUMP payload in ``dumps/``, re-encoded for its
own RDB version. This proves the writer and the canonical encoders reproduce what
the servers write (rdbSaveRawString's int/LZF choice, listpack/ziplist/intset bytes,
quicklist node boundaries and compression, stream node listpacks, zset score text).
"""

from __future__ import annotations

import io

import pytest

from corpus import load_expected, real_folders
from persistkit.rdbtools import model
from persistkit.rdbtools.dump import decode_payload
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.writer import RDBWriter, encode_payload

FOLDERS = real_folders()


def rewrite(data: bytes) -> bytes:
    reader = RDBReader(data, decode=True)
    out = io.BytesIO()
    items = list(reader)
    eof = next(i for i in items if isinstance(i, model.EOF))
    w = RDBWriter(out, version=reader.header.version, dialect=reader.dialect,
                  checksum=eof.checksum != 0, encodings="keep")
    for item in items:
        w.write(item)
    return out.getvalue()


def first_difference(a: bytes, b: bytes) -> str:
    n = min(len(a), len(b))
    i = next((i for i in range(n) if a[i] != b[i]), n)
    return f"first difference at offset {i} (sizes {len(a)} vs {len(b)})"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_dump_rdb_rewrites_byte_for_byte(folder):
    data = (folder / "dump.rdb").read_bytes()
    got = rewrite(data)
    if got != data:
        # Name the keys whose stored bytes we did not reproduce, for a useful failure.
        bad = []
        for item in RDBReader(data, decode=True):
            if isinstance(item, model.Record) and data[item.offset:item.offset + item.length] not in got:
                bad.append((item.key, item.rdb_type))
        pytest.fail(f"{first_difference(got, data)}; keys not reproduced: {bad[:10]}")


def test_rdbchecksum_no_file_keeps_its_zero_trailer():
    folder = next((f for f in FOLDERS if f.name.startswith("redis-5.0")), None)
    if folder is None:
        pytest.skip("no redis-5.0 folder in the corpus")
    data = (folder / "dump.rdb").read_bytes()
    assert data[-8:] == b"\0" * 8
    assert rewrite(data)[-8:] == b"\0" * 8


def _dump_cases():
    for folder in FOLDERS:
        exp = load_expected(folder)
        magic = exp["files"]["rdb"].get("magic", "REDIS")
        for d in exp.get("dumps", []):
            yield pytest.param(folder, d, magic, id=f"{folder.name}:{d['file']}")


@pytest.mark.parametrize("folder,dump,magic", list(_dump_cases()))
def test_dump_payload_reencodes_byte_for_byte(folder, dump, magic):
    payload = (folder / dump["file"]).read_bytes()
    rec, version = decode_payload(payload)
    assert version == dump["payload_rdb_version"]
    dialect = "valkey" if magic == "VALKEY" else "redis"
    got = encode_payload(rec, version, dialect, encodings="keep")
    assert got == payload, first_difference(got, payload)
