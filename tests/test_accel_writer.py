"""The compiled writer (``_accel/rdbwrite``) against the pure encoders: same bytes.

* each compiled encoder against its pure counterpart on seeded random inputs (integer
  edge texts, compressible and random strings, long runs for LZF);
* ``convert`` of every readable corpus file (real servers and public files) to every
  target version, ``keep`` and ``server`` encodings, on both paths: identical output
  bytes and reports, or the identical error;
* a seeded mutation fuzzer (truncations, bit flips, random bytes) over corpus files:
  both paths end the same way (same bytes, or the same FormatError at the same offset).
"""

from __future__ import annotations

import io
import random

import pytest

from corpus import PUBLIC, real_folders
from persistkit import accel
from persistkit.kvencoding import lzf
from persistkit.kvencoding.lengths import encode_length, encode_string, encode_strings
from persistkit.kvencoding.listpack import listpack_encode
from persistkit.kvencoding.ziplist import ziplist_encode
from persistkit.rdbtools.convert import convert_rdb
from persistkit.rdbtools.encoding_policy import SUPPORTED_VERSIONS
from persistkit.rdbtools.writer import plan_list_nodes

rw = accel.compiled_available("rdbwrite")
pytestmark = pytest.mark.skipif(rw is None, reason="compiled writer not built")

INT_EDGES = [b"0", b"-0", b"01", b"-", b"", b"+1", b" 1", b"1 ", b"12a", b"127", b"128", b"-128",
             b"-129", b"32767", b"32768", b"-32768", b"-32769", b"2147483647", b"2147483648",
             b"-2147483648", b"-2147483649", b"9223372036854775807", b"9223372036854775808",
             b"-9223372036854775808", b"-9223372036854775809", b"4095", b"4096", b"-4096", b"-4097",
             b"8388607", b"8388608", b"-8388608", b"-8388609", b"12", b"13", b"-1"]


def random_item(r: random.Random) -> bytes:
    k = r.random()
    if k < 0.25:
        return str(r.randint(-2**63, 2**63 - 1) if r.random() < 0.3 else r.randint(-300000, 300000)).encode()
    if k < 0.35:
        return r.choice(INT_EDGES)
    if k < 0.65:
        return bytes(r.choice(b"abcab") for _ in range(r.randint(0, 600)))
    if k < 0.9:
        return r.randbytes(r.randint(0, 300))
    return (b"x" * r.randint(1, 50)) * r.randint(1, 400)


def test_strings_and_lzf_match_the_pure_encoders():
    r = random.Random(1)
    for _ in range(6000):
        s = random_item(r)
        assert rw.encode_string(s) == encode_string(s), s
        assert rw.encode_string(s, False) == encode_string(s, compress=False), s
        for max_out in (None, len(s), len(s) - 4, 3, 0):
            assert rw.lzf_compress(s, max_out) == lzf.compress_py(s, max_out), (s, max_out)


def test_lengths_match():
    for n in (0, 1, 63, 64, 255, 16383, 16384, 2**32 - 1, 2**32, 2**64 - 1):
        assert rw.encode_length(n) == encode_length(n)


def test_blobs_and_batches_match_the_pure_encoders():
    r = random.Random(2)
    for _ in range(600):
        items = [random_item(r) for _ in range(r.randint(0, 200))]
        assert rw.listpack(items) == listpack_encode(items)
        assert rw.ziplist(items) == ziplist_encode(items)
        assert rw.encode_strings(items) == b"".join(encode_strings(items))
        assert rw.encode_plain(items) == encode_length(len(items)) + b"".join(encode_strings(items))
        pairs = list(zip(items[::2], items[1::2]))
        flat = [x for p in pairs for x in p]
        assert rw.listpack(pairs, True) == listpack_encode(flat)
        assert rw.ziplist(pairs, True) == ziplist_encode(flat)
        assert rw.listpack_string(items) == encode_string(listpack_encode(items))
        assert rw.ziplist_string(pairs, True) == encode_string(ziplist_encode(flat))


def test_list_node_planning_matches():
    r = random.Random(3)
    for _ in range(300):
        items = [random_item(r) for _ in range(r.randint(0, 400))]
        if r.random() < 0.2:
            items.append(b"y" * r.randint(8000, 70000))
        for version in (7, 9, 10, 11, 12):
            for fill in (-1, -2, -5, 1, 3, 128):
                want = [(n["count"], n["container"]) for n in plan_list_nodes(items, version, fill)]
                assert rw.plan_list_nodes(items, version, fill, 1 << 30, version >= 12) == want


def test_non_bytes_items_fall_back():
    with pytest.raises(TypeError):
        rw.listpack([b"a", 5])
    with pytest.raises(TypeError):
        rw.encode_pairs([(b"a", bytearray(b"b"))])


# -- whole files, both paths ----------------------------------------------------------

def _corpus_files() -> list:
    files = [f / "dump.rdb" for f in real_folders() if (f / "dump.rdb").is_file()]
    if PUBLIC.is_dir():
        files += sorted(PUBLIC.rglob("*.rdb"))
    return files


FILES = _corpus_files()


def _convert(data: bytes, version: int, encodings: str, pure: bool):
    out = io.BytesIO()
    with accel.forced_pure(pure):
        try:
            res = convert_rdb(data, out, version=version, encodings=encodings, allow_loss=True)
        except Exception as exc:  # the outcome compared is the error itself
            return ("error", type(exc).__name__, str(exc), getattr(exc, "offset", None))
    return ("ok", out.getvalue(), res.as_dict())


def _targets():
    return [v for v in SUPPORTED_VERSIONS if v >= 6]


REAL_FILES = [f for f in FILES if "real" in f.parts]
PUBLIC_FILES = [f for f in FILES if "real" not in f.parts]


def _ids(files):
    return [str(p.relative_to(p.parents[1])) for p in files]


def _same_outcome(data: bytes, version: int, encodings: str) -> None:
    pure = _convert(data, version, encodings, True)
    fast = _convert(data, version, encodings, False)
    assert fast == pure, (version, encodings, pure if pure[0] == "error" else "ok")


@pytest.mark.parametrize("path", REAL_FILES, ids=_ids(REAL_FILES))
def test_real_files_convert_identically_to_every_target(path):
    data = path.read_bytes()
    for version in _targets():
        _same_outcome(data, version, "keep")
    _same_outcome(data, 10, "server")


@pytest.mark.parametrize("path", PUBLIC_FILES, ids=_ids(PUBLIC_FILES))
def test_public_files_convert_identically(path):
    data = path.read_bytes()
    own = data[5:9]
    version = int(own) if own.isdigit() and int(own) in _targets() else 10
    _same_outcome(data, version, "keep")


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stat().st_size > 1_000_000
                                  else p for p in FILES], ids=_ids(FILES))
def test_every_file_every_target_both_encodings(path):
    """Every target and both encodings (files over 1 MB only in the slow sweep; the
    quick tests above convert them too)."""
    data = path.read_bytes()
    for version in _targets():
        for encodings in ("keep", "server"):
            _same_outcome(data, version, encodings)


def _mutations(data: bytes, r: random.Random, n: int):
    for _ in range(n):
        k = r.random()
        b = bytearray(data)
        if k < 0.3:
            yield bytes(b[:r.randint(9, len(b))])
        elif k < 0.7:
            i = r.randrange(9, len(b))
            b[i] ^= 1 << r.randrange(8)
            yield bytes(b)
        else:
            for _ in range(r.randint(1, 4)):
                b[r.randrange(9, len(b))] = r.randrange(256)
            yield bytes(b)


def test_mutated_files_end_the_same_way_on_both_paths():
    r = random.Random(11)
    real = [f for f in FILES if "real" in f.parts]
    for path in real:
        data = path.read_bytes()
        for m in _mutations(data, r, 25):
            version = r.choice((9, 10, 11))
            assert _convert(m, version, "keep", False) == _convert(m, version, "keep", True)


@pytest.mark.slow
def test_mutation_sweep_slow():
    r = random.Random(12)
    for path in FILES:
        data = path.read_bytes()
        if len(data) > 2_000_000:
            continue
        for m in _mutations(data, r, 60):
            version = r.choice(_targets())
            enc = r.choice(("keep", "server"))
            assert _convert(m, version, enc, False) == _convert(m, version, enc, True)
