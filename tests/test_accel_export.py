"""The compiled export renderer (persistkit/_accel/exportscan.pyx, driven by
rdbtools/exportfast.py) against the pure writers of rdbtools/export.py.

Over every RDB of the corpus (real and public, the corrupt ones included) and over
seeded mutations of real files (truncations, bit flips, random bytes), in every
format: the output bytes are identical, and so is the error (class, message, offset)
when there is one. Small input windows and tiny compiled limits drive the refill and
defer paths (records handed to the exact reader in the middle of a file).
"""

from __future__ import annotations

import hashlib
import io
import random

import pytest

from accel_corpus import rdb_inputs
from persistkit import accel
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.lengths import encode_length, encode_string
from persistkit.rdbtools import exportfast
from persistkit.rdbtools.export import FORMATS, export_rdb

pytestmark = pytest.mark.skipif(accel.compiled_available("exportscan") is None,
                                reason="the compiled export renderer is not built")


class _Sink(io.BytesIO):
    """Keeps its bytes when the CSV writer's text wrapper closes it after an error."""

    def close(self):
        pass


def _export(data: bytes, fmt: str, pure: bool, *, stream: bool = False, **kw):
    """(output bytes, (error class, message, offset) or None) of one export."""
    out = _Sink()
    err = None
    with accel.forced_pure(pure):
        try:
            if stream:
                export_rdb("input.rdb", fmt, out, stream=io.BytesIO(data), **kw)
            else:
                export_rdb("input.rdb", fmt, out, data=data, **kw)
        except Exception as exc:  # noqa: BLE001 -- compared, not swallowed
            err = (type(exc).__name__, str(exc), getattr(exc, "offset", None))
    return out.getvalue(), err


def _same(data: bytes, fmt: str, **kw) -> tuple:
    pure = _export(data, fmt, True, **kw)
    fast = _export(data, fmt, False, **kw)
    assert fast[1] == pure[1], f"{fmt}: errors differ"
    if fast[0] != pure[0]:
        i = next(i for i, (a, b) in enumerate(zip(fast[0], pure[0])) if a != b) \
            if any(a != b for a, b in zip(fast[0], pure[0])) else min(len(fast[0]), len(pure[0]))
        raise AssertionError(f"{fmt}: output differs at byte {i}: compiled "
                             f"{fast[0][max(0, i - 60):i + 60]!r} vs pure {pure[0][max(0, i - 60):i + 60]!r}")
    return pure


@pytest.fixture
def tight(monkeypatch):
    """Small windows and limits: refills, flushes and defers in the middle of files."""
    monkeypatch.setattr(exportfast, "SOURCE_CHUNK", 512)
    monkeypatch.setattr(exportfast, "WINDOW_MAX", 4096)
    monkeypatch.setattr(exportfast, "MAX_ITEMS", 40)


def _unique(inputs):
    seen = set()
    for name, data in inputs:
        h = hashlib.sha256(data).digest()
        if h not in seen:
            seen.add(h)
            yield name, data


INPUTS = tuple(_unique(rdb_inputs()))
# Files the pure path needs seconds for: only in the slow sweep.
HEAVY = {"public/leonchen83__redis-replicator/dumpV8.rdb"}
QUICK = tuple((n, d) for n, d in INPUTS if n not in HEAVY)


def test_the_corpus_has_inputs():
    assert len(INPUTS) > 100
    assert sum(1 for n, _ in INPUTS if n.startswith("real/")) >= 9


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_corpus_file_same_output_or_error(fmt):
    rendered = 0
    for name, data in QUICK:
        try:
            out, err = _same(data, fmt)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        rendered += err is None
    assert rendered > 100  # most files export


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_files_same_with_small_windows(fmt, tight):
    for name, data in QUICK:
        if name.startswith("real/") and "/dumps/" not in name:
            try:
                _same(data, fmt, stream=True)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_corpus_file_same_with_small_windows(fmt, tight):
    for name, data in INPUTS:
        try:
            _same(data, fmt, stream=True)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_heavy_corpus_files_same(fmt):
    for name, data in INPUTS:
        if name in HEAVY:
            _same(data, fmt)


def test_the_compiled_path_really_renders_the_corpus(monkeypatch):
    """Not a vacuous comparison: on a real dump the compiled renderer takes most keys."""
    from persistkit._accel import exportscan

    taken = {"n": 0}
    real_run = exportscan.Exporter.run

    class Counting(exportscan.Exporter):
        def run(self, src, db, embed=0):
            st = real_run(self, src, db, embed)
            taken["n"] += self.keys
            return st

    monkeypatch.setattr(exportscan, "Exporter", Counting)
    data = dict(INPUTS)["real/redis-7.0.15/dump.rdb"]
    out, err = _export(data, "jsonl", False)
    assert err is None
    keys = out.count(b'{"kind":"key"')
    assert taken["n"] > keys // 2


@pytest.mark.parametrize("kw", [{"db": 0}, {"db": 3}, {"type_": "hash"}, {"type_": "zset"},
                                {"match": "*a*"}, {"match": "[!k]*"}, {"db": 0, "type_": "list"}])
def test_filters_same(kw):
    for name, data in INPUTS:
        if name.startswith("real/") and name.endswith("dump.rdb"):
            for fmt in FORMATS:
                _same(data, fmt, **kw)


def _mutants(data: bytes, rng: random.Random, n: int):
    for _ in range(n):
        kind = rng.randrange(3)
        b = bytearray(data)
        if kind == 0:
            yield bytes(b[:rng.randrange(9, len(b))])
            continue
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(9, len(b))
            if kind == 1:
                b[i] ^= 1 << rng.randrange(8)
            else:
                b[i] = rng.randrange(256)
        yield bytes(b)


def _fix_crc(data: bytes) -> bytes:
    """The same bytes with the CRC64 trailer made right, so a mutation reaches the value
    checks instead of failing on the checksum only."""
    body = data[:-8]
    return body + crc64(body).to_bytes(8, "little")


def _carve(data: bytes, rng: random.Random, size: int = 24000) -> bytes:
    """A small valid RDB cut from a real one: its header and aux fields, then a run of
    about ``size`` bytes of whole records from a random place, EOF and CRC64."""
    from persistkit.rdbtools.reader import RDBReader
    from persistkit.rdbtools import model

    items = [it for it in RDBReader(data, decode=False) if it.__class__ is not model.Header]
    head_end = next(it.offset for it in items if it.__class__ is not model.Aux)
    records = [it for it in items if it.__class__ is model.Record]
    first = rng.randrange(len(records))
    start = records[first].offset
    end = start
    for rec in records[first:]:
        if rec.offset + rec.length - start > size:
            break
        end = rec.offset + rec.length
    body = data[:head_end] + data[start:end] + b"\xff"
    return body + crc64(body).to_bytes(8, "little")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_mutations_same_output_or_error(seed, tight):
    rng = random.Random(seed)
    names = [n for n, _ in INPUTS if n.startswith("real/") and n.endswith("dump.rdb")]
    picked = dict(INPUTS)
    errors = 0
    for name in rng.sample(names, 3):
        carved = _carve(picked[name], rng)
        assert _same(carved, "jsonl")[1] is None
        for m in _mutants(carved, rng, 40):
            for candidate in (m, _fix_crc(m)):
                fmt = rng.choice(FORMATS)
                try:
                    _, err = _same(candidate, fmt, stream=rng.random() < 0.5)
                except AssertionError as exc:
                    raise AssertionError(f"{name} (seed {seed}): {exc}") from None
                errors += err is not None
    assert errors > 10  # the mutations do reach the error paths


def _rdb(records: bytes, version: int = 9) -> bytes:
    body = b"REDIS%04d" % version + b"\xfe\x00" + records + b"\xff"
    return body + crc64(body).to_bytes(8, "little")


def _plain_set(key: bytes, members) -> bytes:
    return b"\x02" + encode_string(key) + encode_length(len(members)) + b"".join(
        encode_string(m) for m in members)


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_and_hex_strings(fmt):
    members = [b"plain", b"tab\tcr\rlf\n", b'quote" back\\slash', "é ü € 𝄞".encode(),
               b"\x00nul", b"\x7fdel", b"\xff\xfe", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
               b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"caf\xc3", b"", b"12345",
               b"-0", b"007", b"9223372036854775808", b"a,b", b"\r\n"]
    data = _rdb(_plain_set(b"k\x01", members) + _plain_set("clé".encode(), members[:5]))
    out, err = _same(data, fmt)
    assert err is None and out


@pytest.mark.parametrize("fmt", FORMATS)
def test_scores_as_repr(fmt):
    import struct

    scores = [0.0, -0.0, 1.5, -971979.253, 1e15, 1e16, 123456789.1234, 68719476735.5, 1e-4,
              1e-5, 0.1, 2.0 ** 36, 1 / 3, float("inf"), float("-inf"), 5e-324, 1.7976931348623157e308,
              4.35, 0.3, 2.675, 1234.5678, 99999.99995]
    rng = random.Random(7)
    scores += [round(rng.uniform(-1e6, 1e6), rng.randrange(6)) for _ in range(300)]
    scores += [rng.uniform(-1e12, 1e12) for _ in range(100)]
    body = b"\x05" + encode_string(b"z") + encode_length(len(scores))
    for i, s in enumerate(scores):
        body += encode_string(b"m%d" % i) + struct.pack("<d", s)
    out, err = _same(_rdb(body), fmt)
    assert err is None
    if fmt == "jsonl":
        for s in scores[:20]:
            assert ('"%s"]' % repr(s)).encode() in out


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 130))
def test_mutations_long_sweep(seed, tight):
    test_mutations_same_output_or_error(seed, None)
