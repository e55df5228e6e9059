"""Behaviour of the fast paths: same results as the general code, bounded-memory checks
still find what the in-memory checks found. No timing assertions."""

from __future__ import annotations

import io
import struct

import pytest

from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import encode_length, encode_string, read_string, read_strings
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import dedup
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.verify import verify_rdb


def _rdb(records: list[bytes]) -> bytes:
    body = b"REDIS0010" + b"\xfe\x00" + b"".join(records) + b"\xff"
    return body + struct.pack("<Q", crc64(body))


def _set(key: bytes, members: list[bytes]) -> bytes:
    return b"\x02" + encode_string(key) + encode_length(len(members)) + \
        b"".join(encode_string(m, compress=False) for m in members)


def _zset2(key: bytes, members: list[bytes]) -> bytes:
    return b"\x05" + encode_string(key) + encode_length(len(members)) + \
        b"".join(encode_string(m, compress=False) + struct.pack("<d", i) for i, m in enumerate(members))


def _hash(key: bytes, fields: list[bytes]) -> bytes:
    return b"\x04" + encode_string(key) + encode_length(len(fields)) + \
        b"".join(encode_string(f, compress=False) + encode_string(b"v" + f) for f in fields)


def _string(key: bytes, value: bytes) -> bytes:
    return b"\x00" + encode_string(key) + encode_string(value, compress=False)


STRINGS = [b"", b"a", b"x" * 63, b"y" * 64, b"z" * 300, b"12", b"-5", b"300", b"-40000",
           b"2147483647", b"007", b"q" * 17000, b"w" * 40 + b"abc" * 20]


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_read_strings_matches_read_string(chunk):
    items = STRINGS * 5
    data = b"".join(encode_string(s) for s in items)  # includes LZF and int forms
    want = []
    src = ByteSource(io.BufferedReader(io.BytesIO(data)), chunk=chunk)
    for _ in items:
        want.append(read_string(src))
    src = ByteSource(io.BufferedReader(io.BytesIO(data)), chunk=chunk)
    assert read_strings(src, len(items)) == want == items
    assert src.tell() == len(data)


def test_read_strings_truncation_same_error():
    data = b"".join(encode_string(s) for s in STRINGS)[:-3]
    with pytest.raises(FormatError) as a:
        src = ByteSource(data)
        for _ in STRINGS:
            read_string(src, ("hash field", "hash value")[0])
    with pytest.raises(FormatError) as b:
        read_strings(ByteSource(data), len(STRINGS), "hash field")
    assert (a.value.offset, a.value.message) == (b.value.offset, b.value.message)


def _dup_problems(report):
    return sorted((p.code, p.offset, p.message) for p in report.problems)


@pytest.mark.parametrize("make,what", [(_set, "set member"), (_zset2, "zset member"),
                                       (_hash, "hash field")])
def test_big_collection_duplicates_found_in_bounded_mode(tmp_path, monkeypatch, make, what):
    monkeypatch.setattr(dedup, "EXACT_LIMIT", 500)
    members = [b"m:%d" % i for i in range(20000)]
    members[150] = members[100]        # exact phase
    members[15000] = members[9000]     # filter phase: confirmed by the second walk
    members[16000] = members[100]      # a third occurrence
    data = _rdb([_string(b"before", b"v"), make(b"big", members), _string(b"after", b"v")])
    path = tmp_path / "dups.rdb"
    path.write_bytes(data)
    # What the in-memory decoder reports (the reference).
    ref = RDBReader(data, decode=True, recover=True, strict_crc=False)
    list(ref)
    want = sorted(e.message for e in ref.problems)
    assert len(want) == 3 and all(what in m for m in want)
    for rep in (verify_rdb(path), verify_rdb("mem", data=data)):
        got = sorted(p.message for p in rep.problems)
        assert got == want
        assert rep.stats["keys"] == 2  # the broken key is left out, as before


def test_big_collection_without_duplicates_is_ok(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup, "EXACT_LIMIT", 300)
    path = tmp_path / "ok.rdb"
    path.write_bytes(_rdb([_set(b"s", [b"%d" % i for i in range(30000)])]))
    rep = verify_rdb(path)
    assert rep.ok and rep.stats["keys"] == 1, rep.problems


@pytest.mark.parametrize("compact", [50, 10 ** 6])
def test_duplicate_keys(tmp_path, monkeypatch, compact):
    monkeypatch.setattr(dedup, "COMPACT_KEYS", compact)
    recs = [_string(b"k%d" % i, b"v") for i in range(2000)]
    recs.append(_string(b"k7", b"again"))      # repeat of an exact-phase key
    recs.append(_string(b"k1500", b"again"))   # repeat of a filter-phase key
    data = _rdb(recs)
    offsets = {}
    for item in RDBReader(data, decode=False):
        if isinstance(item, model.Record):
            offsets.setdefault(item.key, []).append(item.offset)
    path = tmp_path / "keys.rdb"
    path.write_bytes(data)
    with open(path, "rb") as f:
        from_stdin = verify_rdb("in", stream=io.BufferedReader(f))
    for rep in (verify_rdb(path), verify_rdb("mem", data=data), from_stdin):
        dups = sorted((p.offset, p.found) for p in rep.problems if p.code == "duplicate-key")
        want = sorted((offsets[k][1], f"same key as the record at offset {offsets[k][0]}")
                      for k in (b"k7", b"k1500"))
        assert dups == want


def test_values_false_does_not_keep_big_strings():
    big = bytes(range(256)) * 4096
    data = _rdb([_string(b"big", big), _set(b"s", [b"a", b"b"])])
    recs = [i for i in RDBReader(data, decode=True, values=False) if isinstance(i, model.Record)]
    assert recs[0].value is None and recs[0].size_hint == len(big)
    assert recs[0].encoding == "raw"
    full = [i for i in RDBReader(data, decode=True) if isinstance(i, model.Record)]
    assert [(r.key, r.encoding, r.size_hint, r.length) for r in recs] == \
        [(r.key, r.encoding, r.size_hint, r.length) for r in full]


def test_reread_gives_the_same_bytes(tmp_path):
    from persistkit.kvencoding.fileio import open_input

    data = bytes(range(256)) * 10000
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    with open_input(p) as s:
        src = ByteSource(s, size=len(data), chunk=4096)
        src.skip(200000)
        assert src.can_reread()
        sub = src.reread(1000, 150000)
        assert sub.tell() == 1000 and sub.read(149000) == data[1000:150000]
        assert src.read(10) == data[200000:200010]
    mem = ByteSource(data)
    mem.skip(5000)
    assert mem.reread(10, 20).read(10) == data[10:20]


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_export_big_strings_in_chunks_same_output(tmp_path, monkeypatch, fmt):
    from persistkit.rdbtools import export

    text = ("h\u00e9llo \u20ac\U0001F600 \"q\" \\ \t\n" * 150000).encode()  # > 1 MB chunks
    values = {b"text": text, b"ctl": text[:-5] + b"\x01abcd", b"del": b"a\x7f" * 700000,
              b"bad": text[:1048575] + b"\xff" + text[:1000], b"small": b"abc"}
    data = _rdb([_string(k, v) for k, v in values.items()])
    path = tmp_path / "big.rdb"
    path.write_bytes(data)

    def run(threshold):
        monkeypatch.setattr(export, "BIG_STRING", threshold)
        out = io.BytesIO()
        export.export_rdb(path, fmt, out)
        return out.getvalue()

    whole = run(1 << 40)
    chunked = run(1000)
    assert chunked == whole
    assert b'"ctl"' in whole and b'{"hex":"' in whole


def _parse_all(data: bytes, heads_only: bool, chunk: int):
    from persistkit.kvencoding.resp import CommandParser

    parser = CommandParser(ByteSource(io.BufferedReader(io.BytesIO(data)), chunk=chunk),
                           heads_only=heads_only)
    got = []
    try:
        for off, item in parser.items():
            got.append((off, item[:1] if isinstance(item, list) else item))
    except FormatError as exc:
        got.append(("error", type(exc).__name__, exc.offset, exc.message))
    return got, parser.start, parser.end


def test_resp_heads_only_same_framing_and_errors():
    from persistkit.kvencoding.resp import encode_command

    cmds = [[b"SET", b"k", b"v" * 300], [b"MULTI"], [b"RPUSH", b"l"] + [b"%d" % i for i in range(50)],
            [b"EXEC"], [b"DEL", b""], [b"SELECT", b"1"]]
    data = b"#TS:1700000000\r\n" + b"".join(encode_command(c) for c in cmds) * 20 + b"*0\r\n"
    variants = [data, data[:-7], data[:1234], data.replace(b"$300\r\n", b"$30x\r\n", 1),
                data.replace(b"$1\r\nk\r\n", b"$1\r\nkX\n", 1), data.replace(b"*2\r\n", b"*+2\r\n", 1),
                data.replace(b"$5\r\n", b"$05\r\n", 3), data[:500] + b"garbage" + data[500:]]
    for v in variants:
        for chunk in (5, 100, 1 << 20):
            assert _parse_all(v, True, chunk) == _parse_all(v, False, chunk)


def _outcome(fn, *a, **kw):
    try:
        r = fn(*a, **kw)
        return ("ok", len(r) if isinstance(r, list) else r)
    except FormatError as exc:
        return ("error", type(exc).__name__, exc.offset, exc.message, exc.expected, exc.found)


def test_listpack_validate_same_as_decode_on_mutations():
    import random

    from persistkit.kvencoding.listpack import listpack_decode, listpack_encode, listpack_validate

    rng = random.Random(7)
    items = [b"a", 5, b"x" * 100, -300, 70000, b"y" * 5000, 2 ** 40, b"", -1, b"z" * 63, b"w" * 4096]
    good = listpack_encode(items)
    assert listpack_validate(good, 100) == len(items)
    blobs = [good, listpack_encode([]), listpack_encode(items[:3])]
    for _ in range(3000):
        b = bytearray(rng.choice(blobs))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if op < 0.6 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op < 0.8 and len(b) > 1:
                del b[rng.randrange(len(b)):][:rng.randint(1, 10)]
            else:
                b[rng.randrange(len(b) + 1):0] = bytes([rng.randrange(256)])
        b = bytes(b)
        for lzf in (False, True):
            assert _outcome(listpack_validate, b, 1000, lzf=lzf) == \
                _outcome(listpack_decode, b, 1000, deep=True, lzf=lzf)


@pytest.mark.parametrize("chunk", [3, 50, 1 << 20])
def test_quick_walk_same_records_as_decode(chunk):
    members = STRINGS * 3 + [b"m%d" % i for i in range(300)]
    data = _rdb([_set(b"s", members[:len(set(members))] if False else list(dict.fromkeys(members))),
                 _zset2(b"z", list(dict.fromkeys(members))), _hash(b"h", list(dict.fromkeys(members))),
                 b"\x01" + encode_string(b"l") + encode_length(len(members)) +
                 b"".join(encode_string(m) for m in members),
                 _string(b"after", b"v" * 100)])

    def walk(decode):
        src = ByteSource(io.BufferedReader(io.BytesIO(data)), size=len(data), chunk=chunk, crc=True)
        return [(i.key, i.offset, i.length, i.size_hint) for i in RDBReader(src, decode)
                if isinstance(i, model.Record)]

    assert walk(False) == walk(True)
    for cut in (40, 400, 1500, len(data) // 2, len(data) - 12):
        with pytest.raises(FormatError):
            list(RDBReader(data[:cut] + b"", False))


def test_streaming_batches_with_huge_elements_same_values(monkeypatch):
    from persistkit.rdbtools import strategies as rd  # the value strategies hold the batch rule

    monkeypatch.setattr(rd, "_BIG_ELEMENT", 100)
    members = [b"s%d" % i for i in range(50)] + [b"B" * 5000, b"C" * 300] + [b"t%d" % i for i in range(2000)]
    data = _rdb([_set(b"s", members), _zset2(b"z", members), _hash(b"h", members),
                 b"\x01" + encode_string(b"l") + encode_length(len(members)) +
                 b"".join(encode_string(m, compress=False) for m in members)])
    full = {r.key: r.value for r in RDBReader(data) if isinstance(r, model.Record)}
    lazy = {}
    for r in RDBReader(data, iterate=True):
        if isinstance(r, model.Record):
            lazy[r.key] = list(r.value)
    assert lazy == full
    assert full[b"s"] == members and [m for m, _ in full[b"z"]] == members
    rep = verify_rdb("mem", data=data)
    assert rep.ok and rep.stats["keys"] == 4


def test_ziplist_check_same_as_decode_on_mutations():
    import random

    from persistkit.kvencoding.ziplist import ziplist_check, ziplist_decode, ziplist_encode

    rng = random.Random(11)
    items = [b"a", 5, b"x" * 100, -300, 70000, b"y" * 5000, 2 ** 40, b"", -1, b"z" * 63, 12, b"w" * 300]
    good = ziplist_encode(items)
    assert ziplist_check(good, 100) == len(items)
    blobs = [good, ziplist_encode([]), ziplist_encode(items[:3])]
    for _ in range(3000):
        b = bytearray(rng.choice(blobs))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if op < 0.6 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op < 0.8 and len(b) > 1:
                del b[rng.randrange(len(b)):][:rng.randint(1, 10)]
            else:
                b[rng.randrange(len(b) + 1):0] = bytes([rng.randrange(256)])
        b = bytes(b)
        for lzf in (False, True):
            assert _outcome(ziplist_check, b, 1000, lzf=lzf) == \
                _outcome(ziplist_decode, b, 1000, deep=True, lzf=lzf)


def _aof_check_reference(data: bytes, chunk: int):
    """verify's RESP check written directly over CommandParser (the exact parser), as it
    was before the fast framing scan: the oracle for test_aof_fast_scan_*."""
    from persistkit.kvencoding.errors import FormatError, TruncatedError
    from persistkit.kvencoding.resp import CommandParser
    from persistkit.kvencoding.source import ByteSource

    src = ByteSource(io.BytesIO(data), size=len(data), chunk=chunk)
    parser = CommandParser(src, heads_only=True)
    pos, multi, multi_at, problem = src.tell(), 0, None, None
    cmds = blocks = notes = 0
    times = []
    try:
        for offset, item in parser.items():
            if not multi:
                pos = offset
            if type(item) is not list:
                notes += 1
                if item.timestamp is not None:
                    times.append(item.timestamp)
                continue
            cmds += 1
            if item and len(item[0]) >= 4 and item[0][:5].lower() in (b"multi", b"exec", b"exec\0"):
                name = item[0].split(b"\0", 1)[0].lower()
                if name == b"multi":
                    if multi:
                        problem = ("unexpected-multi", offset)
                        break
                    multi, multi_at = 1, offset
                elif name == b"exec":
                    if not multi:
                        problem = ("unexpected-exec", offset)
                        break
                    multi = 0
                    blocks += 1
        else:
            if multi:
                problem = ("multi-without-exec", multi_at)
            else:
                pos = parser.end
    except FormatError as exc:
        if not multi:
            pos = parser.start
        problem = ("truncated" if isinstance(exc, TruncatedError) else "format-error", exc.offset,
                   exc.message, exc.expected, exc.found)
    return (problem, pos, cmds, blocks, notes, times[:1] + times[-1:])


def _aof_check_fast(data: bytes, chunk: int):
    from persistkit.aoftools import model as aofmodel
    from persistkit.aoftools.verify import PartResult, _check_resp
    from persistkit.kvencoding.source import ByteSource

    part = aofmodel.AOFPart(path="mem", name="mem", role=aofmodel.ROLE_INCR, size=len(data))
    res = PartResult(part)
    _check_resp(ByteSource(io.BytesIO(data), size=len(data), chunk=chunk), res)
    problem = None
    if res.problem is not None:
        code, _, offset, exc = res.problem
        problem = (code, offset) if exc is None else (code, offset, exc.message, exc.expected,
                                                      exc.found)
    times = [] if res.first_time is None else [res.first_time, res.last_time]
    return (problem, res.ok_up_to, res.commands, res.multi_blocks, res.annotations, times)


def test_aof_fast_scan_same_verdict_as_exact_parser_on_mutations():
    """verify's fast framing (regex runs of small bulks, straight over the window) must
    give the exact parser's verdict, offsets, messages and counts on any bytes: cut,
    flipped, inserted, over window edges (tiny chunks), with MULTI/EXEC, annotations,
    long and oddly written lengths."""
    import random

    from persistkit.kvencoding.resp import encode_command

    rng = random.Random(7)
    cmds = [
        [b"SELECT", b"0"], [b"SET", b"k", b"v" * 201], [b"MULTI"], [b"INCR", b"n"], [b"EXEC"],
        [b"RPUSH", b"l"] + [b"%d" % i for i in range(70)], [b"SET", b"big", b"x" * 1500],
        [b"exec\0junk"], [b"Multi"], [b"EXEC"], [b"DEL", b"", b"a\r\nb"], [b"MULTIX", b"1"],
        [b"HSET", b"h"] + [b"f%d" % i for i in range(9)], [b"PING"],
    ]
    good = b"".join(encode_command(c) for c in cmds[:5]) + b"#TS:1700000000\r\n" + \
        b"".join(encode_command(c) for c in cmds[5:]) + b"*0\r\n#TS:1700000005\r\n" + \
        b"*2\r\n$03\r\nSET\r\n$ 1\r\nk\r\n" + encode_command([b"GET", b"k"])
    variants = [good, good.replace(b"*1\r\n$4\r\nEXEC", b"*1\r\n$4\r\nPING", 1),
                encode_command([b"EXEC"]) + good, good + encode_command([b"MULTI"]),
                good.replace(b"$5\r\nMulti", b"$5\r\nMULTI")]
    for base in variants:
        for chunk in (7, 64, 1 << 20):
            assert _aof_check_fast(base, chunk) == _aof_check_reference(base, chunk)
    for _ in range(1500):
        b = bytearray(rng.choice(variants))
        op = rng.random()
        if op < 0.3:
            del b[rng.randrange(len(b)):]
        elif op < 0.7:
            b[rng.randrange(len(b))] = rng.choice(b"*$#\r\n0123456789x\0 -")
        else:
            b[rng.randrange(len(b) + 1):0] = bytes([rng.choice(b"*$\r\n19")])
        b = bytes(b)
        chunk = rng.choice((5, 33, 4096, 1 << 20))
        assert _aof_check_fast(b, chunk) == _aof_check_reference(b, chunk), (b, chunk)
