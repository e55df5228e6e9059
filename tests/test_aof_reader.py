"""AOF reader on every AOF set of the real-server corpus and on the public AOFs."""

from __future__ import annotations

from collections import Counter

import pytest

from corpus import PUBLIC, REAL, diff_keyspaces, expected_keyspace, keyspace_from_records, load_expected

from persistkit.aoftools import model
from persistkit.aoftools.manifest import (ManifestError, format_manifest, parse_manifest, split_args)
from persistkit.aoftools.reader import AOFReader, resolve_aof
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.rdbtools import model as rdbmodel


def _real_sets():
    return sorted(REAL.glob("*/aof-*"))


def _set_input(d):
    sub = d / "appendonlydir"
    return sub if sub.is_dir() else d / "appendonly.aof"


@pytest.mark.parametrize("d", _real_sets(), ids=lambda d: f"{d.parent.name}/{d.name}")
def test_real_sets_read(d):
    path = _set_input(d)
    reader = AOFReader(path)
    items = list(reader)
    cmds = [i for i in items if isinstance(i, model.AOFCommand)]
    records = [i for i in items if isinstance(i, rdbmodel.Record)]
    exp = load_expected(d.parent)
    aof_info = next(a for a in exp["files"]["aof"] if a["dir"] == d.name)
    assert reader.aof_set.layout == (model.MULTIPART if aof_info["layout"] == "multipart" else model.SINGLE)
    assert reader.aof_set.hybrid == aof_info["preamble"]
    assert cmds, "every set has commands (the plain base is RESP)"
    # offsets are real: each command's bytes re-parse to the same args
    for c in cmds[:50]:
        part = next(p for p in reader.parts if p.name == c.file)
        with open(part.path, "rb") as fh:
            fh.seek(c.offset)
            raw = fh.read(c.length)
        from persistkit.kvencoding.resp import parse_commands
        assert parse_commands(raw) == [c.args]
    if aof_info["preamble"]:
        # the RDB part of each hybrid set holds exactly states.snapshot
        got = keyspace_from_records(records)
        # (5.0 does not report consumer seen times: null there means "any")
        assert diff_keyspaces(got, expected_keyspace(d.parent, "snapshot"), consumer_times_wildcard=True) == []
    if aof_info.get("timestamps"):
        assert all(c.time is not None for c in cmds if c.file.endswith(".incr.aof"))
    # db tracking: the command log touches dbs 0, 1 and 5
    dbs = Counter(c.db for c in cmds)
    assert set(dbs) <= {0, 1, 5} and dbs[0] > 0


def test_hybrid_tail_commands_match_plain_rewrite_count():
    d = REAL / "redis-7.0.15"
    hybrid = AOFReader(d / "aof-hybrid" / "appendonlydir")
    cmds = list(hybrid.commands())
    multi = [c for c in cmds if c.in_multi]
    assert multi and multi[0].name == b"MULTI" and multi[0].multi_offset == multi[0].offset
    execs = [c for c in multi if c.name == b"EXEC"]
    assert execs and all(c.multi_offset is not None for c in multi)
    # every command of a block points at its own MULTI, which precedes it
    assert all(c.multi_offset <= c.offset for c in multi)


def test_public_aofs_read():
    for p in sorted(PUBLIC.glob("*/*.aof")):
        cmds = list(AOFReader(p).commands())
        if p.stat().st_size:
            assert cmds, p
    ts = list(AOFReader(PUBLIC / "leonchen83__redis-replicator" / "appendonly-with-ts.aof").commands())
    assert ts[0].time is None and ts[-1].time == 1643691449
    pre = list(AOFReader(PUBLIC / "redis__redis" / "rdb-preamble.aof"))
    keys = sorted(r.key for r in pre if isinstance(r, rdbmodel.Record))
    assert keys == [b"k1", b"k2"]
    last = [c for c in pre if isinstance(c, model.AOFCommand)][-1]
    assert last.name == b"SET" and last.args[1] == b"k3"


def test_lf_only_incr_is_a_format_error_with_file():
    shake = PUBLIC / "tair-opensource__RedisShake" / "aof_test__appendonlydir"
    reader = AOFReader(shake)
    with pytest.raises(FormatError) as ei:
        list(reader.commands())
    assert ei.value.file == "appendonly.aof.2.incr.aof" and ei.value.offset == 2


def test_missing_base_is_reported():
    reader = AOFReader(PUBLIC / "RediSearch__RediSearch" / "appendonlydir")
    assert reader.parts[0].format == model.FMT_MISSING
    with pytest.raises(FormatError):
        list(reader)


def test_truncated_command_raises_with_last_complete(tmp_path):
    data = b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk"
    f = tmp_path / "a.aof"
    f.write_bytes(data)
    reader = AOFReader(f)
    got = []
    with pytest.raises(TruncatedError) as ei:
        for c in reader.commands():
            got.append(c.args)
    assert got == [[b"PING"]] and ei.value.offset == 14 and reader.last_complete == ("a.aof", 14)


# ---------------------------------------------------------------------------
# manifest grammar

def test_manifest_quoting_round_trip():
    text = (b'file "odd name\\x01\\"q\\".aof" seq 1 type b\n'
            b"# a comment\n"
            b"file 'appendonly.aof.1.incr.aof' seq 1 type h\n"
            b"FILE appendonly.aof.2.incr.aof SEQ 2 TYPE i startoffset 10 endoffset 20 future x\n")
    m = parse_manifest(text)
    assert m.base.name == 'odd name\x01"q".aof'
    assert [h.name for h in m.history] == ["appendonly.aof.1.incr.aof"]
    assert m.incrs[0].start_offset == 10 and m.incrs[0].end_offset == 20
    again = parse_manifest(format_manifest(m))
    assert again.base == m.base.__class__(m.base.name, 1, "b", None, None, 1)
    assert format_manifest(again) == format_manifest(m)


@pytest.mark.parametrize("text", [
    b"", b"file a seq 1 type b",                     # empty; no final newline (fgets: "too long")
    b"file a seq 1\n", b"file a seq 0 type b\n",      # too few words; seq 0
    b'file "a seq 1 type b\n', b'file "a"b seq 1 type b\n',  # unbalanced / glued quote
    b"file a/b seq 1 type b\n", b"file .. seq 1 type b\n", b"file /etc/passwd seq 1 type b\n",
    b"file a seq 2 type i\nfile b seq 1 type i\n",   # non-monotonic incr seq
    b"file a seq 1 type b\nfile b seq 2 type b\n",   # two bases
    b"file a seq 1 type b\n   \n",                    # blank line
    b"x" * 2000 + b"\n",
])
def test_manifest_rejects_like_redis(text):
    with pytest.raises(ManifestError):
        parse_manifest(text)


def test_split_args_matches_sdssplitargs():
    assert split_args(b'a "b c" \'d e\' "\\x41\\n"') == [b"a", b"b c", b"d e", b"A\n"]
    assert split_args(b'ab"cd"') == [b"abcd"]
    assert split_args(b'"x"y') is None


def test_resolve_by_manifest_path_and_dir(tmp_path):
    d = REAL / "redis-7.0.15" / "aof-plain" / "appendonlydir"
    a = resolve_aof(d)
    b = resolve_aof(d / "appendonly.aof.manifest")
    assert [p.name for p in a.parts] == [p.name for p in b.parts] == [
        "appendonly.aof.3.base.aof", "appendonly.aof.3.incr.aof"]
    assert [p.format for p in a.parts] == [model.FMT_RESP, model.FMT_EMPTY]


def test_last_complete_outside_multi(tmp_path):
    from persistkit.kvencoding.resp import encode_command as enc
    first = enc([b"SET", b"a", b"1"])
    data = first + enc([b"MULTI"]) + enc([b"SET", b"b", b"2"]) + enc([b"EXEC"])[:-2]
    f = tmp_path / "a.aof"
    f.write_bytes(data)
    reader = AOFReader(f)
    with pytest.raises(TruncatedError):
        list(reader.commands())
    assert reader.last_complete_outside_multi == ("a.aof", len(first))
    assert reader.last_complete == ("a.aof", len(data) - len(enc([b"EXEC"])) + 2)
