"""Every RDB of corpus/public reads, or fails cleanly, as its SOURCES.md / index.json says.

* redis-check-rdb 7.0.15 said OK: we read it with the same number of keys.
* checker ERROR (corrupt on purpose): a clean FormatError -- except the files with
  empty collections, which the server loads by skipping them: no keys, and the
  empty ones counted in ``reader.empty_keys``.
* v11/v12 and VALKEY080 files the old checker could not handle: they read, except the
  future/foreign versions and unknown types listed as MUST FAIL, which fail cleanly.
"""

from __future__ import annotations

import json

import pytest

from corpus import PUBLIC
from persistkit.kvencoding.errors import FormatError, UnsupportedVersionError
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import RDBReader

INDEX = json.loads((PUBLIC / "index.json").read_text()) if (PUBLIC / "index.json").exists() else {"files": []}
RDBS = [e for e in INDEX["files"] if e["kind"] == "rdb"]

MUST_FAIL_VERSION = {"redis__librdb/future_v19.rdb", "hanxizh9910__valkey/encodings-rdb75-unknown-types.rdb",
                     "hanxizh9910__valkey/encodings-rdb987-unknown-types.rdb",
                     "hanxizh9910__valkey/encodings-rdb987.rdb",}
# Redis-Enterprise-only opcode 107 (librdb's own test for it is disabled); Redis OSS
# rejects the file ("Unknown RDB encoding type"), so do we, cleanly.
MUST_FAIL_OTHER = {"redis__librdb/redis_ent_opcode_ram_lru.rdb",
                   "leonchen83__redis-replicator/module.rdb"}
EMPTY_KEYS = {"redis__redis/corrupt_empty_keys.rdb", "valkey-io__valkey/corrupt_empty_keys.rdb",
              "Snapchat__KeyDB/corrupt_empty_keys.rdb"}


def _read(entry):
    data = (PUBLIC / entry["file"]).read_bytes()
    reader = RDBReader(data, name=entry["file"])
    items = list(reader)
    return reader, items


@pytest.mark.parametrize("entry", RDBS, ids=[e["file"] for e in RDBS])
def test_public_rdb(entry):
    name = entry["file"]
    check = entry["redis_check_rdb_7_0_15"]
    status = check["status"]
    if name in EMPTY_KEYS:
        reader, items = _read(entry)
        assert not [i for i in items if isinstance(i, model.Record)]
        assert len(reader.empty_keys) >= 8
        return
    if name in MUST_FAIL_VERSION:
        with pytest.raises(UnsupportedVersionError) as ei:
            _read(entry)
        assert "newer than this tool knows" in str(ei.value)
        return
    if status == "ERROR" or name in MUST_FAIL_OTHER:
        with pytest.raises(FormatError) as ei:
            _read(entry)
        assert ei.value.offset is not None and ei.value.offset > 0
        return
    reader, items = _read(entry)
    records = [i for i in items if isinstance(i, model.Record)]
    assert isinstance(items[-1], model.EOF)
    if status == "OK":
        assert len(records) == int(check["line"].split()[0])
    assert items[-1].checksum_ok is not False


def test_relaxed_version_reads_future_valkey_file():
    raw = (PUBLIC / "hanxizh9910__valkey/encodings-rdb987.rdb").read_bytes()
    items = list(RDBReader(raw, allow_future=True))
    base = list(RDBReader((PUBLIC / "redis__redis/encodings.rdb").read_bytes()))
    key = lambda rs: sorted((r.key, r.type, repr(sorted(map(repr, r.value)) if isinstance(r.value, list) else r.value))
                            for r in rs if isinstance(r, model.Record))
    assert key(items) == key(base)


def test_valkey_hash2_and_slot_opcodes():
    items = list(RDBReader((PUBLIC / "HDT3213__rdb/valkey_hash2_with_hfe.rdb").read_bytes()))
    recs = [i for i in items if isinstance(i, model.Record)]
    assert recs[0].rdb_type == 22 and recs[0].field_expires
    items = list(RDBReader((PUBLIC / "HDT3213__rdb/valkey_cluster_slot_import.rdb").read_bytes()))
    opaque = [i for i in items if isinstance(i, model.Opaque)]
    assert opaque and opaque[0].name == "SLOT_IMPORT"
    items = list(RDBReader((PUBLIC / "redis__librdb/cluster_slot_info.rdb").read_bytes()))
    assert any(isinstance(i, model.SlotInfo) for i in items)


def test_hash_field_ttl_layouts_agree_with_expected_json():
    # HDT3213/rdb ships expected decodings for its GA (24/25) files.
    for name in ("hash_with_hfe", "hash_as_listpack_with_hfe"):
        items = list(RDBReader((PUBLIC / f"HDT3213__rdb/{name}.rdb").read_bytes()))
        rec = [i for i in items if isinstance(i, model.Record)][0]
        expected = json.loads((PUBLIC / f"HDT3213__rdb/expected/{name}.json").read_text())
        exp = expected[0]
        assert rec.key.decode() == exp["key"]
        assert {f.decode(): v.decode() for f, v in rec.value} == exp["hash"]
        want_ttl = {f: ms for f, ms in exp["expire"].items() if ms}
        assert {f.decode(): ms for f, ms in (rec.field_expires or {}).items()} == want_ttl


def test_module_values_are_skipped_with_their_name():
    items = list(RDBReader((PUBLIC / "redis__librdb/module.rdb").read_bytes()))
    rec = [i for i in items if isinstance(i, model.Record)][0]
    assert rec.type == model.MODULE and isinstance(rec.value, model.ModuleValue)
    assert len(rec.value.name) == 9 and rec.value.raw
    items = list(RDBReader((PUBLIC / "redis__librdb/module_aux.rdb").read_bytes()))
    assert any(isinstance(i, model.ModuleAux) for i in items)
