"""RDB 13 files from redis/librdb's own test suite: ``test/dumps/stream_v13.rdb`` and
``stream_v13_idmp.rdb`` (written by a Redis 8.6-era server, 49 and 1 streams with IDMP
state) and ``stream_v13.json``, librdb's statement of what ``stream_v13_idmp.rdb`` holds.

They are not part of this repository (the committed proof is tests/data/newformats):
point ``PERSISTKIT_LIBRDB_DUMPS`` at a folder holding those librdb files (they came with
librdb's "Support RDB v13" change); without it these tests skip.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from persistkit.rdbtools import model
from persistkit.rdbtools.convert import LossRefused, convert_rdb
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.verify import verify_rdb
from persistkit.rdbtools.dump import decode_payload
from persistkit.rdbtools.writer import RDBWriter, encode_payload

FILES = ("stream_v13.rdb", "stream_v13_idmp.rdb")


def _dumps() -> Path:
    folder = os.environ.get("PERSISTKIT_LIBRDB_DUMPS")
    if not folder or not all((Path(folder) / f).is_file() for f in FILES + ("stream_v13.json",)):
        pytest.skip("no librdb RDB 13 dumps (PERSISTKIT_LIBRDB_DUMPS)")
    return Path(folder)


def _records(data: bytes, **kw) -> list:
    return [i for i in RDBReader(data, **kw) if isinstance(i, model.Record)]


def test_idmp_stream_is_what_librdb_says():
    folder = _dumps()
    # librdb's expectation files hold the members of one JSON object, without its braces
    want = json.loads("{" + (folder / "stream_v13.json").read_text() + "}")
    recs = _records((folder / "stream_v13_idmp.rdb").read_bytes())
    assert [r.key.decode() for r in recs] == list(want)
    (rec,) = recs
    w = want[rec.key.decode()]
    sv: model.StreamValue = rec.value
    assert rec.rdb_type == 26 and sv.idmp is not None
    assert [(model.format_stream_id(e.id), {f.decode(): v.decode() for f, v in e.fields})
            for e in sv.entries()] == [(e["id"], e["items"]) for e in w["entries"]]
    wi = w["idmp"]
    assert (sv.idmp.duration, sv.idmp.max_entries, len(sv.idmp.producers)) == \
        (wi["duration"], wi["maxEntries"], wi["numProducers"])
    assert [(p.pid.decode(), [(iid.decode(), model.format_stream_id(sid)) for iid, sid in p.entries])
            for p in sv.idmp.producers] == \
        [(p["pid"], [(e["iid"], e["streamId"]) for e in p["entries"]]) for p in wi["producers"]]


@pytest.mark.parametrize("name", FILES)
def test_verified_walked_alike_and_rewritten_byte_for_byte(name):
    data = (_dumps() / name).read_bytes()
    res = verify_rdb(name, data=data)
    assert res.ok and not res.problems
    base = _records(data)
    assert base and all(r.type == model.STREAM and r.rdb_type == 26 for r in base)
    for strategy in ("stream", "validate", "skip"):
        got = _records(data, strategy=strategy)
        assert [(r.key, r.offset, r.length) for r in got] == [(r.key, r.offset, r.length) for r in base]
    reader = RDBReader(data)
    out = io.BytesIO()
    w = RDBWriter(out, version=13, dialect="redis", encodings="keep")
    for item in reader:
        w.write(item)
    assert out.getvalue() == data
    for rec in base:
        payload = encode_payload(rec, 13, "redis", encodings="keep")
        back, version = decode_payload(payload)
        assert version == 13 and back.value == rec.value


def test_convert_down_reports_the_idmp_state():
    data = (_dumps() / "stream_v13.rdb").read_bytes()
    recs = _records(data)
    with pytest.raises(LossRefused) as ei:
        convert_rdb(data, io.BytesIO(), version=12)
    losses = ei.value.result.losses
    assert {x.kind for x in losses} == {"stream-idmp"}
    assert {x.key for x in losses} == {r.key for r in recs if not r.value.idmp.is_default()} != set()
    out = io.BytesIO()
    convert_rdb(data, out, version=12, allow_loss=True)
    down = _records(out.getvalue())
    assert [(r.key, r.rdb_type) for r in down] == [(r.key, 21) for r in recs]
    assert [list(r.value.entries()) for r in down] == [list(r.value.entries()) for r in recs]
