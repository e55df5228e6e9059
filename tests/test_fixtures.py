"""The bundled fixtures hold what fixtures/expected.json says, by our reader and by real Redis."""

import json
from pathlib import Path

import pytest

from corpus import diff_keyspaces, expected_keyspace, keyspace_from_records
from persistkit.rdbtools.reader import read_rdb
from realredis import load_rdb_into_redis

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def _encodings_v4_keyspace():
    out = {}
    for key, spec in EXPECTED["encodings-v4.rdb"]["values"].items():
        t, v = spec["type"], spec["value"]
        if t == "string":
            value = v.encode()
        elif t == "list":
            value = [x.encode() for x in v]
        elif t == "set":
            value = sorted(x.encode() for x in v)
        elif t == "hash":
            value = sorted((f.encode(), x.encode()) for f, x in v.items())
        else:
            value = sorted(((m.encode(), float(s)) for m, s in v), key=lambda p: (p[1], p[0]))
        out[(0, key.encode())] = {"type": t, "value": value, "expire_ms": None, "field_expires": None}
    return out


def test_encodings_v4_reads_as_redis_test_suite_says():
    got = keyspace_from_records(read_rdb((FIXTURES / "encodings-v4.rdb").read_bytes()))
    assert diff_keyspaces(got, _encodings_v4_keyspace()) == []


@pytest.mark.redis
def test_encodings_v4_loads_into_real_redis_as_expected(tmp_path):
    from realredis import read_keyspace

    with load_rdb_into_redis(FIXTURES / "encodings-v4.rdb", tmp_path) as server:
        assert diff_keyspaces(read_keyspace(server, dbs=[0]), _encodings_v4_keyspace()) == []


def test_real_dump_fixture_is_the_corpus_snapshot():
    got = keyspace_from_records(read_rdb((FIXTURES / "redis-7.0.15-dump.rdb").read_bytes()))
    assert len(got) == EXPECTED["redis-7.0.15-dump.rdb"]["keys"]
    assert diff_keyspaces(got, expected_keyspace("redis-7.0.15", "snapshot")) == []


def test_misc_with_stream_key_count():
    got = keyspace_from_records(read_rdb((FIXTURES / "misc-with-stream-v11.rdb").read_bytes()))
    assert len(got) == EXPECTED["misc-with-stream-v11.rdb"]["keys"]
    assert any(v["type"] == "stream" for v in got.values())
