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


# -- files written by other tools and old servers (shared/corpus/public) -----------------
# Not all of these can match byte for byte from decoded values, for format reasons the
# values do not carry: ziplists from Redis < 2.6 use integer encodings the current
# encoder never picks (int16 for 1, no 0-12 immediates), LZF output of older liblzf
# builds, 64-bit lengths where 6 bits do, hand-made files with raw "64" aux values,
# 7.4 release-candidate hash types 22/23 (written in their GA forms 24/25), FUNCTION_PRE_GA
# libraries (written as FUNCTION2, all 7.0 GA loads). So they are checked by reading back.

from corpus import PUBLIC, keyspace_from_records  # noqa: E402

WRITABLE = (6, 7, 8, 9, 10, 11, 12, 80)


def _public_files():
    if not PUBLIC.is_dir():
        return []
    out = []
    for p in sorted(PUBLIC.rglob("*.rdb")):
        try:
            items = list(RDBReader(p.read_bytes(), decode=True))
        except Exception:  # corrupt on purpose, or a version we do not read
            continue
        if items and items[0].version in WRITABLE:
            out.append(p)
    return out


PUBLIC_FILES = _public_files()


@pytest.mark.parametrize("path", PUBLIC_FILES, ids=[str(p.relative_to(PUBLIC)) for p in PUBLIC_FILES])
def test_public_file_rewrites_to_the_same_content(path):
    data = path.read_bytes()
    got = rewrite(data)
    before = list(RDBReader(data, decode=True))
    after = list(RDBReader(got, decode=True))
    assert keyspace_from_records(after) == keyspace_from_records(before)
    keys = [(r.db, r.key, r.expire_ms) for r in before if isinstance(r, model.Record)]
    assert [(r.db, r.key, r.expire_ms) for r in after if isinstance(r, model.Record)] == keys
    if before[0].version >= 7:  # AUX arrived with RDB 7; the writer leaves it out before
        assert [(a.key, a.value) for a in after if isinstance(a, model.Aux)] == \
            [(a.key, a.value) for a in before if isinstance(a, model.Aux)]
    assert len([f for f in after if isinstance(f, model.Function)]) == \
        len([f for f in before if isinstance(f, model.Function)])
