"""The RDB type table (rdbtools.rdbtypes): one row per type byte and dialect, read by
opcodes, the reader's strategies, the writer and encoding_policy."""

from __future__ import annotations

import inspect

import pytest

from persistkit.rdbtools import encoding_policy as policy
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools import rdbtypes
from persistkit.rdbtools import writer as writer_mod
from persistkit.rdbtools.strategies import STRATEGIES, ValueStrategy


@pytest.mark.parametrize("dialect", ["redis", "valkey"])
def test_every_row_has_a_reader_entry_on_every_strategy(dialect):
    for row in rdbtypes.table(dialect).values():
        for cls in STRATEGIES.values():
            assert callable(getattr(cls, "v_" + row.reader, None)), (row, cls)


def test_every_writer_name_is_handled_by_the_writer():
    src = inspect.getsource(writer_mod)
    for t in rdbtypes.TABLES.values():
        for row in t.values():
            if row.writer is not None:
                assert f'"{row.writer}"' in src, row


def test_constants_match_rows():
    for t in rdbtypes.TABLES.values():
        for code, row in t.items():
            assert getattr(op, row.const) == code
            assert row.family in (model.STRING, model.LIST, model.SET, model.ZSET, model.HASH,
                                  model.STREAM, model.MODULE, model.ARRAY)


def test_dialects_differ_from_22_on():
    assert rdbtypes.lookup(22, "redis").name == "hash-hashtable-md-pre-ga"
    assert rdbtypes.lookup(22, "valkey").name == "hash-2"
    assert rdbtypes.lookup(24, "valkey") is None
    assert not rdbtypes.same_meaning(22, "redis", "valkey")
    assert rdbtypes.same_meaning(21, "redis", "valkey")
    assert op.type_name(22, "valkey") == "hash-2"
    assert op.type_name(99) == "type-99"


# What available_types answered before it read the table (rdb.h rdbIsObjectType of each
# release, minus the pre-GA forms no server should be sent).
_BASE = {0, 1, 2, 3, 4, 9, 10, 11, 12, 13}


def _old_available(version, dialect):
    t = set(_BASE)
    if version >= 7:
        t.add(14)
    if version >= 8:
        t |= {5, 7}
    if version >= 9:
        t.add(15)
    if version >= 10:
        t |= {16, 17, 18, 19}
    if version >= 11:
        t |= {20, 21}
    if dialect == "valkey" and version >= 80:
        t.add(22)
    elif dialect == "redis" and version >= 12:
        t |= {24, 25}
    if dialect == "redis" and version >= 13:   # Redis 8.6: stream v4; 8.8: v5, array
        t |= {26} if version == 13 else {26, 27, 28}
    return frozenset(t)


@pytest.mark.parametrize("version", policy.SUPPORTED_VERSIONS)
@pytest.mark.parametrize("dialect", ["redis", "valkey"])
def test_available_types_from_the_table(version, dialect):
    assert policy.available_types(version, dialect) == _old_available(version, dialect)


def test_field_ttl_types_and_families():
    assert policy.FIELD_TTL_TYPES["redis"] == {22, 23, 24, 25}
    assert policy.FIELD_TTL_TYPES["valkey"] == {22}
    assert policy.FAMILY[22] == model.HASH and policy.FAMILY[18] == model.LIST


def test_object_encoding_rules():
    assert rdbtypes.lookup(12).object_encoding(9) == "ziplist"
    assert rdbtypes.lookup(12).object_encoding(10) == "listpack"
    assert rdbtypes.lookup(0).object_encoding(11) == rdbtypes.BY_VALUE
    assert rdbtypes.lookup(25).object_encoding(12) == "listpackex"


def test_reader_dispatches_through_the_table(monkeypatch):
    # A row added to the table is read through the entry it names: map type 99 onto the
    # string entry and a record of type 99 is read as a string.
    from persistkit.kvencoding.lengths import encode_string
    from persistkit.rdbtools.reader import RDBReader

    row = rdbtypes.RDBType(99, "T_STRING", "test-string", model.STRING, rdbtypes.BY_VALUE,
                           "string", None, 1)
    monkeypatch.setitem(rdbtypes.REDIS_TABLE, 99, row)
    data = b"REDIS0011" + b"\x63" + encode_string(b"k") + encode_string(b"v") + b"\xff" + b"\0" * 8
    recs = [i for i in RDBReader(data) if i.__class__ is model.Record]
    assert [(r.key, r.value, r.rdb_type, r.type) for r in recs] == [(b"k", b"v", 99, model.STRING)]


def test_value_strategy_entries_cover_the_table():
    names = {n[2:] for n in dir(ValueStrategy) if n.startswith("v_")}
    used = {row.reader for t in rdbtypes.TABLES.values() for row in t.values()}
    assert used <= names
