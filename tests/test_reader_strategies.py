"""The reader as one framing walker plus value strategies; lengths/LZF rules in one place
(kvencoding.lengths), so skipping rejects exactly what decoding rejects."""

from __future__ import annotations

import random

import pytest

from persistkit.kvencoding import lengths as L
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools import strategies as st
from persistkit.rdbtools.reader import RDBReader
from persistkit.rdbtools.verify import verify_rdb
from persistkit.rdbtools.writer import RDBWriter


def _rdb(*records: bytes, version: int = 11) -> bytes:
    body = b"REDIS%04d" % version + b"".join(records) + b"\xff"
    return body + crc64(body).to_bytes(8, "little")


def _s(b: bytes) -> bytes:
    return L.encode_string(b, compress=False)


def _lzf_claim(clen: int, ulen: int) -> bytes:
    """An LZF string whose header claims ``ulen`` bytes from ``clen`` bytes of data."""
    return b"\xc3" + L.encode_length(clen) + L.encode_length(ulen) + b"\x00" * clen


# -- strategies ---------------------------------------------------------------------

@pytest.mark.parametrize("kw,cls", [
    ({}, st.BuildValues), ({"decode": False}, st.SkipValues),
    ({"iterate": True}, st.StreamValues), ({"values": False}, st.ValidateValues),
    ({"strategy": "skip"}, st.SkipValues), ({"strategy": st.ValidateValues}, st.ValidateValues),
])
def test_keywords_map_onto_one_strategy(kw, cls):
    r = RDBReader(_rdb(), **kw)
    assert type(r.strategy) is cls
    assert r.decode == cls.decode and r.iterate == cls.iterate and r.lean == cls.lean


def test_unknown_strategy_name():
    with pytest.raises(ValueError, match="unknown reader strategy"):
        RDBReader(_rdb(), strategy="fast")


def test_strategies_agree_on_framing():
    members = [b"a", b"b", b"123"]
    data = _rdb(b"\x00" + _s(b"k") + L.encode_string(b"x" * 100),
                b"\x02" + _s(b"s") + L.encode_length(3) + b"".join(map(_s, members)))
    seen = {}
    for name in st.STRATEGIES:
        recs = [i for i in RDBReader(data, strategy=name) if i.__class__ is model.Record]
        # (a streamed value's length is final once the reader has drained it)
        seen[name] = [(i.key, i.offset, i.length, i.encoding, i.size_hint) for i in recs]
    assert len({tuple(v) for v in seen.values()}) == 1, seen


# -- the driver contract --------------------------------------------------------------

def test_walker_rereads_pos_and_db_between_items():
    """A driver may move src.pos over whole records and set reader.db between next()."""
    recs = [b"\x00" + _s(b"k%d" % i) + _s(b"v%d" % i) for i in range(4)]
    data = _rdb(b"\xfe\x00", *recs)
    for name in st.STRATEGIES:
        r = RDBReader(data, strategy=name)
        it = iter(r)
        assert next(it).__class__ is model.Header
        assert next(it).__class__ is model.SelectDB
        first = next(it)
        assert first.key == b"k0"
        # skip k1 and k2 by hand, and pretend a SELECTDB 5 was crossed
        r.src.pos += len(recs[1]) + len(recs[2])
        r.db = 5
        nxt = next(it)
        assert (nxt.key, nxt.db, nxt.offset) == (b"k3", 5, 9 + 2 + len(recs[0]) * 3)
        assert next(it).__class__ is model.EOF


# -- skip rejects what decode rejects -------------------------------------------------

def _verdicts(data: bytes):
    """[verify, verify --quick] errors (code, offset); the same on the compiled scan as on
    the reference (pure) reader, and inspect (the skip strategy as well) fails on them."""
    import contextlib

    from persistkit import accel
    from persistkit.rdbtools.inspect import inspect_rdb

    per_path = []
    for pure in (False, True):
        ctx = accel.forced_pure() if pure else contextlib.nullcontext()
        out = []
        with ctx:
            for quick in (False, True):
                rep = verify_rdb("mem.rdb", data=data, quick=quick)
                out.append(sorted((p.code, p.offset) for p in rep.problems
                                  if p.severity == "error"))
            try:
                inspect_rdb("mem.rdb", data=data)
                inspected = None
            except FormatError as exc:
                inspected = exc.offset
        per_path.append((out, inspected))
    assert per_path[0] == per_path[1], f"compiled {per_path[0]} != pure {per_path[1]}"
    (full, quick), inspected = per_path[0]
    if full:
        assert inspected == full[0][1], (inspected, full)
    return full, quick


@pytest.mark.parametrize("name,record", [
    ("string value", b"\x00" + _s(b"k") + _lzf_claim(3, 1000)),
    ("set member", b"\x02" + _s(b"k") + L.encode_length(2) + _s(b"a") + _lzf_claim(2, 500)),
    ("list element", b"\x01" + _s(b"k") + L.encode_length(1) + _lzf_claim(6, 900)),
    ("hash value", b"\x04" + _s(b"k") + L.encode_length(1) + _s(b"f") + _lzf_claim(1, 9)),
    ("zset member", b"\x05" + _s(b"k") + L.encode_length(1) + _lzf_claim(4, 600) + b"\0" * 8),
    ("plain quicklist node", b"\x12" + _s(b"k") + b"\x01\x01" + _lzf_claim(5, 2000)),
    ("module string", b"\x07" + _s(b"k") + L.encode_length(1 << 10) + b"\x05" +
     _lzf_claim(3, 300) + b"\x00"),
])
def test_impossible_lzf_claim_same_verdict_with_quick(name, record):
    data = _rdb(record)
    full, quick = _verdicts(data)
    assert full and full == quick, (name, full, quick)
    with pytest.raises(FormatError, match="LZF uncompressed length"):
        list(RDBReader(data, decode=False))


@pytest.mark.parametrize("record", [
    b"\x00" + _s(b"k") + L.encode_length(1 << 20) + b"abc",
    b"\x02" + _s(b"k") + L.encode_length(2) + _s(b"a") + b"\x80\x00\x10\x00\x00xy",
    b"\x00" + _s(b"k") + b"\xc3" + L.encode_length(1 << 30) + L.encode_length(10) + b"ab",
])
def test_length_past_the_end_same_verdict_with_quick(record):
    data = _rdb(record)[:-9]  # no EOF: the length runs past the end
    full, quick = _verdicts(data)
    assert full and full == quick


# -- one codec: the fast loops against the general functions -------------------------

def _corpus_strings(rng: random.Random) -> list:
    out = []
    for _ in range(60):
        kind = rng.randrange(5)
        if kind == 0:
            out.append(_s(bytes(rng.randrange(256) for _ in range(rng.randrange(70)))))
        elif kind == 1:
            out.append(_s(b"z" * rng.randrange(64, 400)))
        elif kind == 2:
            out.append(L.encode_string(str(rng.randrange(-2**31, 2**31)).encode()))
        elif kind == 3:
            out.append(L.encode_string(b"ab" * rng.randrange(12, 80)))  # LZF
        else:
            out.append(b"\x80" + rng.randrange(0, 300).to_bytes(4, "big") + b"q" * 300)
    return out


def _outcome(fn, data: bytes, chunk: int):
    src = ByteSource(_Chunky(data), size=len(data), chunk=chunk)
    try:
        res = fn(src)
        return ("ok", res, src.tell())
    except FormatError as exc:
        return ("err", type(exc).__name__, exc.offset)


class _Chunky:
    """A stream that hands out few bytes at a time (window refills mid-loop)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def read(self, n: int) -> bytes:
        piece = self.data[self.at:self.at + min(n, 37)]
        self.at += len(piece)
        return piece


def _mutations(rng: random.Random, data: bytes):
    yield data
    for _ in range(40):
        b = bytearray(data)
        what = rng.randrange(3)
        if what == 0:
            yield bytes(b[:rng.randrange(len(b))])
        elif what == 1:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
            yield bytes(b)
        else:
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
            yield bytes(b)


@pytest.mark.parametrize("seed", range(6))
def test_skip_strings_is_skip_string_n_times(seed):
    rng = random.Random(seed)
    items = _corpus_strings(rng)
    n = len(items)
    base = b"".join(x + b"\x01" * 8 for x in items)

    def fast(src):
        L.skip_strings(src, n, "member", 8, "score")

    def slow(src):
        for _ in range(n):
            L.skip_string(src, "member")
            src.need(8, "score")
            src.pos += 8

    for data in _mutations(rng, base):
        for chunk in (16, 1 << 20):
            assert _outcome(fast, data, chunk) == _outcome(slow, data, chunk)


@pytest.mark.parametrize("seed", range(6))
def test_read_scored_strings_is_read_string_plus_double(seed):
    import struct

    rng = random.Random(100 + seed)
    items = _corpus_strings(rng)
    n = len(items)
    base = b"".join(x + struct.pack("<d", rng.random()) for x in items)

    def fast(src):
        out = []
        while len(out) < n:
            got, nan_at = L.read_scored_strings(src, n - len(out), "m", "s", 1000)
            out += [(m, s if s == s else "nan") for m, s in got]
        return out

    def slow(src):
        out = []
        for _ in range(n):
            m = L.read_string(src, "m")
            src.need(8, "s")
            s = struct.unpack_from("<d", src.buf, src.pos)[0]
            src.pos += 8
            out.append((m, s if s == s else "nan"))
        return out

    for data in _mutations(rng, base):
        for chunk in (16, 1 << 20):
            assert _outcome(fast, data, chunk) == _outcome(slow, data, chunk)


@pytest.mark.parametrize("seed", range(4))
def test_raw_string_copy_checks_what_skip_checks(seed):
    rng = random.Random(200 + seed)
    items = _corpus_strings(rng)
    base = b"".join(items)
    n = len(items)

    def raw(src):
        return b"".join(L.read_string_raw(src, "s") for _ in range(n))

    def skip(src):
        start = src.tell()
        for _ in range(n):
            L.skip_string(src, "s")
        return src.tell() - start

    for data in _mutations(rng, base):
        a = _outcome(raw, data, 1 << 20)
        b = _outcome(skip, data, 1 << 20)
        assert a[0] == b[0], (a, b)
        if a[0] == "ok":
            assert len(a[1]) == b[1] and a[1] == data[:b[1]]
        else:
            assert a[2] == b[2]


def test_writer_and_reader_share_the_lzf_layout():
    import io

    buf = io.BytesIO()
    w = RDBWriter(buf, version=11)
    w.header()
    w.record(model.Record(db=0, key=b"k", type=model.STRING, rdb_type=0, encoding="raw",
                          offset=0, value=b"abc" * 100))
    w.eof()
    recs = [i for i in RDBReader(buf.getvalue(), decode=False) if i.__class__ is model.Record]
    assert recs[0].layout == {"string": "lzf"} and recs[0].size_hint == 300


def _real_rdbs():
    from pathlib import Path

    real = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"
    return sorted(p for p in real.rglob("*") if p.is_file() and p.stat().st_size < (16 << 20)
                  and p.read_bytes()[:5] in (b"REDIS", b"VALKE"))


def test_every_strategy_frames_the_real_corpus_alike():
    """Same records (key, db, offset, length, type, encoding, layout) from every strategy
    over every RDB the real servers wrote."""
    from persistkit import accel

    files = _real_rdbs()
    assert files
    for path in files:
        data = path.read_bytes()
        seen = {}
        with accel.forced_pure():
            for name in st.STRATEGIES:
                recs = []
                for i in RDBReader(data, strategy=name, name=str(path), strict_crc=False,
                                   allow_future=True):
                    if i.__class__ is model.Record:
                        if name == "stream" and hasattr(i.value, "drain"):
                            i.value.drain()
                        recs.append(i)
                seen[name] = [(r.db, r.key, r.offset, r.length, r.type, r.encoding) for r in recs]
        assert seen["build"] == seen["stream"] == seen["validate"] == seen["skip"], path


# -- the compiled scan's string walk against the shared codec ------------------------

def test_compiled_string_skip_is_lengths_skip_string():
    """The compiled scan (blobs.pxd rdb_str_head, used by verify, verify --quick and
    inspect) keeps its own copy of the length / LZF-header rules; it must accept and
    reject exactly what ``lengths.skip_string`` does, on every prefix form and on
    mutations (an impossible LZF claim, a length past the end, bad encodings)."""
    from persistkit import accel

    blobs = accel.compiled_available("blobs")
    if blobs is None:
        pytest.skip("compiled accelerator not built")
    rng = random.Random(77)
    seeds = _corpus_strings(rng) + [
        _lzf_claim(3, 1000), _lzf_claim(3, 264), _lzf_claim(3, 265), _lzf_claim(2, 8),
        _lzf_claim(2, 9), b"\xc3\x00\x00", b"\xc4", b"\xbf\x00", b"\x81" + b"\xff" * 8,
        b"\x80\x00\x00\x01\x00" + b"x" * 255,
    ]

    def pure(data: bytes):
        src = ByteSource(data)
        try:
            n = L.skip_string(src, "s")
        except FormatError as exc:
            return "short" if exc.__class__.__name__ == "TruncatedError" else "rejected"
        return src.pos if data[0] >> 6 == 3 and data[0] & 0x3F < 3 else (n, src.pos)

    def compiled(data: bytes):
        try:
            form, n, pos = blobs.skip_string(data)
        except blobs.BlobShort:
            return "short"
        except blobs.BlobRejected:
            return "rejected"
        return pos if form == "int" else (n, pos)

    outcomes = set()
    checked = 0
    for seed in seeds:
        for m in _mutations(rng, seed):
            if not m:
                continue
            want = pure(m)
            assert compiled(m) == want, m.hex()
            outcomes.add(want if isinstance(want, str) else "ok")
            checked += 1
    assert outcomes == {"ok", "short", "rejected"} and checked > 2000


# -- the inline hot paths against the general codec ----------------------------------

class _Exact:
    """A stream read with a one-byte chunk: the window then holds only the bytes asked
    for, so the walker's and the entries' inline short-string paths (which need the
    whole string in the window) do not fire and strings go through ``kvencoding.lengths``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def read(self, n: int) -> bytes:
        piece = self.data[self.at:self.at + n]
        self.at += len(piece)
        return piece


def _walk(source, strategy: str):
    from persistkit.kvencoding.errors import FormatError as _FE

    out = []
    try:
        for i in RDBReader(source, strategy=strategy, name="f", strict_crc=False,
                           allow_future=True):
            if i.__class__ is model.Record:
                value = i.value
                if strategy == "stream" and hasattr(value, "drain"):
                    value = list(value)
                out.append((i.db, i.key, i.offset, i.length, i.encoding, i.size_hint,
                            repr(i.layout), repr(value) if strategy == "build" else None))
    except _FE as exc:
        out.append(("error", type(exc).__name__, exc.offset, exc.message))
    return out


def _small_rdbs() -> list:
    from corpus import PUBLIC

    files = [p for p in _real_rdbs() if p.stat().st_size < (16 << 10)]
    if PUBLIC.is_dir():
        files += sorted(p for p in PUBLIC.rglob("*.rdb")
                        if p.is_file() and p.stat().st_size < (48 << 10))
    return files


def test_inline_short_string_paths_are_the_general_codec():
    """Every strategy over the real and public corpus files (and mutations of some) reads
    the same records, values and errors from the whole file in memory (inline paths
    taken) as from a one-byte window (inline paths never taken)."""
    from persistkit import accel

    files = _small_rdbs()
    assert len(files) > 50
    rng = random.Random(5)
    compared = 0
    with accel.forced_pure():
        for path in files:
            data = path.read_bytes()
            cases = [data] + ([m for m in _mutations(rng, data)][1:4] if rng.random() < 0.2 else [])
            for blob in cases:
                for name in st.STRATEGIES:
                    whole = _walk(blob, name)
                    narrow = _walk(ByteSource(_Exact(blob), size=len(blob), chunk=1,
                                              crc=True), name)
                    assert whole == narrow, (path.name, name)
                    compared += 1
    assert compared > 200
