"""LZF (persistkit.kvencoding.lzf): strict decompression, byte-exact compression.

Oracles: the LZF strings real servers wrote into the corpus files (every one must
re-compress to the same bytes), Debian's liblzf through ctypes and python-lzf.
"""

import ctypes
import random
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from persistkit.kvencoding import lzf as L
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.lengths import read_length, read_string
from persistkit.kvencoding.source import ByteSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import PUBLIC, REAL  # noqa: E402

try:
    import lzf as python_lzf
except ImportError:  # pragma: no cover
    python_lzf = None

LIBLZF_PATH = "/usr/lib/x86_64-linux-gnu/liblzf.so.1"


@lru_cache(maxsize=None)
def liblzf():
    if not Path(LIBLZF_PATH).exists():
        pytest.skip("Debian liblzf1 not installed")
    lib = ctypes.CDLL(LIBLZF_PATH)
    lib.lzf_compress.restype = ctypes.c_uint
    lib.lzf_compress.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p, ctypes.c_uint]
    lib.lzf_decompress.restype = ctypes.c_uint
    lib.lzf_decompress.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p, ctypes.c_uint]
    return lib


def c_compress(data: bytes, out_len: int):
    out = ctypes.create_string_buffer(out_len + 16)
    n = liblzf().lzf_compress(data, len(data), out, out_len)
    return out.raw[:n] if n else None


def c_decompress(data: bytes, out_len: int):
    out = ctypes.create_string_buffer(out_len + 1)
    n = liblzf().lzf_decompress(data, len(data), out, out_len)
    return out.raw[:n] if n else None


# ---------------------------------------------------------------------------
# finding the LZF strings real servers wrote


def lzf_strings_in(buf: bytes):
    """(offset, compressed, original) for every RDB LZF string in ``buf``.

    Scans for the LZF prefix byte 0xC3 and keeps what has the shape of a string
    Redis would write (original > 20 bytes, compressed <= original - 4, starts with a
    literal run) and decodes strictly to exactly the announced length."""
    found = []
    i = buf.find(b"\xc3")
    while i >= 0:
        try:
            src = ByteSource(buf[i + 1:i + 21])
            clen = read_length(src)
            ulen = read_length(src)
            start = i + 1 + src.pos
            if (20 < ulen and 0 < clen <= ulen - 4 and start + clen <= len(buf)
                    and buf[start] < 32 and ulen <= L.max_decompressed_size(clen)):
                comp = buf[start:start + clen]
                found.append((i, comp, L.decompress(comp, ulen)))
        except FormatError:
            pass
        i = buf.find(b"\xc3", i + 1)
    return found


def real_files():
    if not REAL.is_dir():
        pytest.skip("real-server corpus not available")
    files = sorted(REAL.glob("*/dump.rdb")) + sorted(REAL.glob("*/dumps/*.bin"))
    assert files
    return files


@lru_cache(maxsize=None)
def real_lzf_strings():
    out = []
    for f in real_files():
        for off, comp, raw in lzf_strings_in(f.read_bytes()):
            out.append((f"{f.parent.name if f.name == 'dump.rdb' else f.parent.parent.name + '/' + f.name}@{off}",
                        comp, raw))
    return out


def test_real_corpus_has_lzf_strings_from_every_server():
    strings = real_lzf_strings()
    servers = {name.split("@")[0].split("/")[0] for name, _, _ in strings}
    assert servers == {p.name for p in REAL.iterdir() if (p / "dump.rdb").exists()}
    assert len(strings) > 500


def test_compress_reproduces_every_lzf_string_real_servers_wrote():
    bad = []
    for name, comp, raw in real_lzf_strings():
        # Any output limit that lets it fit gives the same bytes: RDB strings use len-4,
        # quicklist nodes len; len - 4 >= len(comp) holds for everything found.
        if L.compress(raw, len(raw) - 4) != comp:
            bad.append(name)
    assert not bad, f"{len(bad)} mismatches, e.g. {bad[:5]}"


def test_pure_compressor_reproduces_real_servers_too():
    strings = real_lzf_strings()
    # Every distinct original (the same values recur across versions) through the pure code.
    seen = {}
    for name, comp, raw in strings:
        seen.setdefault(raw, (name, comp))
    bad = [name for raw, (name, comp) in seen.items() if L.compress_py(raw, len(raw) - 4) != comp]
    assert not bad, f"{len(bad)} mismatches, e.g. {bad[:5]}"
    assert len(seen) > 50


def test_matches_in_the_last_four_bytes_are_what_servers_write():
    # The reason compress does not have the older `ip + 4 < in_end` test: servers did
    # write such matches. The legacy compressor cannot reproduce those strings.
    differ = next((name for name, comp, raw in real_lzf_strings()
                   if L.compress_py(raw, len(raw), legacy=True) != comp), None)
    assert differ, "expected some real strings that only the modern compressor reproduces"


def test_string_dump_payloads_decode_exactly():
    """DUMP payloads of string keys: type 0, one RDB string, then 2 + 8 trailer bytes."""
    lzf_keys = 0
    for f in real_files():
        if f.parent.name != "dumps":
            continue
        payload = f.read_bytes()
        if payload[0] != 0:
            continue
        src = ByteSource(payload[:-10])
        src.read(1)
        first = src.peek(1)[0]
        value = read_string(src)
        assert src.at_eof(), f
        if first == 0xC3:
            lzf_keys += 1
            comp_at = [x for x in lzf_strings_in(payload) if x[0] == 1]
            assert comp_at and comp_at[0][2] == value
            assert L.compress(value, len(value) - 4) == comp_at[0][1]
    assert lzf_keys >= 9  # str:lzf21 in every version folder


def test_public_corpus_lzf_strings_match_modern_or_legacy_compressor():
    if not PUBLIC.is_dir():
        pytest.skip("public corpus not available")
    modern = legacy = 0
    bad = []
    for f in sorted(PUBLIC.rglob("*")):
        if not f.is_file() or f.suffix in (".json", ".md"):
            continue
        buf = f.read_bytes()
        old = buf[:5] == b"REDIS" and buf[5:9] in (b"0003", b"0006")
        for off, comp, raw in lzf_strings_in(buf):
            m = L.compress(raw, len(raw)) == comp
            g = L.compress_py(raw, len(raw), legacy=True) == comp
            modern += m and not g
            legacy += g and not m
            if not (m or g):
                bad.append(f"{f.relative_to(PUBLIC)}@{off}")
            if old and len(raw) > 900:  # Redis 2.x-3.0 files: the legacy compressor
                assert g, f"{f.relative_to(PUBLIC)}@{off}"
    assert not bad, bad[:5]
    assert modern > 10 and legacy > 3


# ---------------------------------------------------------------------------
# compression against liblzf / python-lzf


def _inputs(seed: int, count: int):
    rnd = random.Random(seed)
    words = [bytes(rnd.choice(b"abcdefghij") for _ in range(rnd.randint(1, 8))) for _ in range(50)]
    for _ in range(count):
        kind = rnd.randrange(6)
        n = rnd.choice([1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22, 40, 100, 300, 1000, rnd.randint(1, 3000)])
        if kind == 0:
            d = rnd.randbytes(n)
        elif kind == 1:
            d = bytes(rnd.choice(b"ab") for _ in range(n))
        elif kind == 2:
            d = b" ".join(rnd.choice(words) for _ in range(n // 4 + 1))[:n]
        elif kind == 3:
            d = bytes([rnd.randrange(256)]) * n
        elif kind == 4:
            unit = rnd.randbytes(rnd.randint(1, 40))
            d = (unit * (n // len(unit) + 1))[:n]
        else:  # long-range repeats (offsets near the 8 KiB window)
            block = rnd.randbytes(rnd.randint(100, 9000))
            d = block + rnd.randbytes(rnd.randint(0, 50)) + block
        yield d


def _limits(n: int):
    return sorted({1, 2, 3, 4, 5, max(1, n - 4), max(1, n - 1), n, n + 1, n + 100, max(1, n // 2),
                   max(1, n * 3 // 4)})


def test_compress_matches_liblzf_on_random_and_structured_inputs():
    checked = 0
    for d in _inputs(1, 400):
        for m in _limits(len(d)):
            want = c_compress(d, m)
            assert L.compress(d, m) == want, (d[:40], len(d), m)
            checked += want is not None
    assert checked > 500


def test_pure_compress_matches_liblzf():
    for d in _inputs(2, 250):
        for m in (len(d) - 4, len(d), len(d) + 64):
            if m > 0:
                assert L.compress_py(d, m) == c_compress(d, m), (d[:40], len(d), m)
    assert L.compress_py(b"", 10) is None and L.compress(b"", 10) is None
    assert L.compress(b"x", 0) is None and L.compress_py(b"x", 0) is None


@pytest.mark.skipif(python_lzf is None, reason="python-lzf not installed")
def test_python_lzf_is_used_and_agrees_with_pure():
    assert L._clzf is python_lzf
    for d in _inputs(3, 100):
        assert L.compress(d) == L.compress_py(d) == c_compress(d, L.worst_case_size(len(d)))


def test_no_limit_never_fails():
    for d in _inputs(4, 100):
        c = L.compress(d)
        assert c is not None and L.decompress(c, len(d)) == d
        assert len(c) <= L.worst_case_size(len(d))


def test_quicklist_node_rules():
    assert L.compress_quicklist_node(b"a" * 47) is None  # below MIN_COMPRESS_BYTES
    assert L.compress_quicklist_node(b"a" * 48) == L.compress(b"a" * 48, 48)
    assert L.compress_quicklist_node(random.Random(5).randbytes(500)) is None


# ---------------------------------------------------------------------------
# decompression


def test_decompress_roundtrip_and_liblzf_agreement():
    for d in _inputs(6, 200):
        c = L.compress(d)
        assert L.decompress(c, len(d)) == d
        assert L.decompress_py(c, len(d)) == d
        assert c_decompress(c, len(d)) == d


def test_overlapping_back_reference():
    # literal "ab", then copy 7 bytes from 2 back: "ababababa"
    assert L.decompress_py(b"\x01ab\xa0\x01", 9) == b"ababababa"
    assert L.decompress(b"\x01ab\xa0\x01", 9) == b"ababababa"


def test_max_expansion_is_exact_and_enforced_before_allocating():
    # 1 literal then k maximal back-references (3 bytes -> 264 bytes each).
    k = 10
    data = b"\x00a" + b"\xe0\xff\x00" * k
    out_len = 1 + 264 * k
    assert L.decompress(data, out_len) == b"a" * out_len
    assert out_len <= L.max_decompressed_size(len(data))
    assert L.max_decompressed_size(3) == 264 and L.max_decompressed_size(2) == 8
    assert L.MAX_EXPANSION_RATIO == 88
    with pytest.raises(FormatError) as ei:
        L.decompress(b"\x00a", 10**15, base=500)
    assert ei.value.offset == 500 and "expand" in ei.value.message


BAD_CASES = [
    # data, out_len, error offset (relative), the input ends inside the item?
    (b"\x00a\x20\x05", 4, 2, False),       # back-reference 6 back with 1 byte of output
    (b"\x02ab", 3, 0, True),                # literal run of 3 with 2 bytes left
    (b"\x00a\x20", 4, 2, True),             # back-reference without its offset byte
    (b"\x00a\xe0", 40, 2, True),            # long back-reference without its length byte
    (b"\x00a\xe0\x05", 40, 2, True),        # long back-reference without its offset byte
    (b"\x01ab", 1, 0, False),               # literal run past out_len
    (b"\x00a\x20\x00", 3, 2, False),        # copy of 3 past out_len 3 (1 + 3)
    (b"\x00a\x00b", 1, 2, False),           # leftover input after out_len bytes
    (b"\x00a\x00b", 3, 4, True),            # input ends before out_len bytes
    (b"\x20\x00", 3, 0, False),             # back-reference before any output
]


@pytest.mark.parametrize("data,out_len,rel,truncated", BAD_CASES)
def test_bad_input_errors_with_offsets(data, out_len, rel, truncated):
    for fn in (L.decompress, L.decompress_py):
        with pytest.raises(FormatError) as ei:
            fn(data, out_len, base=1000)
        assert ei.value.offset == 1000 + rel, (fn.__name__, ei.value)
        assert not isinstance(ei.value, TruncatedError)  # corrupt blob, not a cut file
    assert c_decompress(data, out_len) in (None, b"") or len(c_decompress(data, out_len)) != out_len


def test_corrupted_streams_fast_and_pure_agree():
    rnd = random.Random(7)
    outcomes = {"ok": 0, "err": 0}
    for d in _inputs(8, 120):
        c = bytearray(L.compress(d))
        for _ in range(5):
            m = bytearray(c)
            for _ in range(rnd.randint(1, 3)):
                m[rnd.randrange(len(m))] = rnd.randrange(256)
            m = bytes(m)
            results = []
            for fn in (L.decompress, L.decompress_py):
                try:
                    results.append(("ok", fn(m, len(d))))
                except FormatError as e:
                    results.append(("err", e.offset, type(e), e.message))
            assert results[0] == results[1]
            outcomes[results[0][0]] += 1
            # liblzf accepts exactly what we accept (Redis also needs the exact length).
            ref = c_decompress(m, len(d)) if len(d) else b""
            assert (ref is not None and len(ref) == len(d)) == (results[0][0] == "ok")
    assert outcomes["ok"] and outcomes["err"]


def test_truncation_at_every_offset():
    for d in (b"a" * 100, b"hello world hello world hello world!" * 3, bytes(range(256)) * 2):
        c = L.compress(d)
        for cut in range(len(c)):
            for fn in (L.decompress, L.decompress_py):
                with pytest.raises(FormatError) as ei:
                    fn(c[:cut], len(d), base=77)
                assert 77 <= ei.value.offset <= 77 + cut


def test_empty():
    assert L.decompress(b"", 0) == b""
    with pytest.raises(FormatError):
        L.decompress(b"", 1)
    with pytest.raises(FormatError):
        L.decompress(b"\x00a", 0)


def test_bytes_like_inputs():
    c = L.compress(b"abcabcabcabcabcabcabc")
    assert L.decompress(bytearray(c), 21) == L.decompress(memoryview(c), 21) == b"abcabcabcabcabcabcabc"
    assert L.compress(bytearray(b"x" * 50)) == L.compress(b"x" * 50) == L.compress_py(memoryview(b"x" * 50))
