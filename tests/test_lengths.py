"""RDB length prefixes and strings (persistkit.kvencoding.lengths)."""

import io

import pytest

from persistkit.kvencoding import lengths as L
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.source import ByteSource


def src(b: bytes, base: int = 0) -> ByteSource:
    return ByteSource(b, base=base)


def stream_src(b: bytes, chunk: int = 3) -> ByteSource:
    """A stream-backed source with a tiny window, to exercise refills mid-item."""
    return ByteSource(io.BytesIO(b), size=len(b), chunk=chunk)


# ---------------------------------------------------------------------------
# length prefixes

LENGTHS = [0, 1, 63, 64, 255, 16383, 16384, 65535, 2**32 - 1, 2**32, 2**64 - 1]


@pytest.mark.parametrize("n", LENGTHS)
def test_length_roundtrip(n):
    enc = L.encode_length(n)
    assert len(enc) == L.length_size(n)
    for s in (src(enc), stream_src(enc, 2)):
        assert L.read_length(s) == n
        assert s.tell() == len(enc)


def test_length_forms_exact_bytes():
    # rdbSaveLen: 6-bit, 14-bit (big-endian across the two bytes), 0x80 + BE u32, 0x81 + BE u64.
    assert L.encode_length(63) == b"\x3f"
    assert L.encode_length(64) == b"\x40\x40"
    assert L.encode_length(0x1234) == b"\x52\x34"
    assert L.encode_length(16384) == b"\x80\x00\x00\x40\x00"
    assert L.encode_length(2**32) == b"\x81\x00\x00\x00\x01\x00\x00\x00\x00"


def test_length_or_encoding():
    for enc in range(64):
        assert L.read_length_or_encoding(src(bytes([0xC0 | enc]))) == (enc, True)
    assert L.read_length_or_encoding(src(b"\x05")) == (5, False)


def test_encoded_prefix_where_length_required_is_error():
    with pytest.raises(FormatError) as ei:
        L.read_length(src(b"\xc3", base=100))
    assert ei.value.offset == 100
    assert not isinstance(ei.value, TruncatedError)


@pytest.mark.parametrize("first", [0x82, 0x90, 0xBF])
def test_unknown_length_prefix(first):
    s = src(b"xx" + bytes([first]) + b"\x00" * 9)
    s.read(2)
    with pytest.raises(FormatError) as ei:
        L.read_length_or_encoding(s)
    assert ei.value.offset == 2
    assert "0x" in ei.value.found


@pytest.mark.parametrize("enc", [b"\x40", b"\x80\x00\x00", b"\x81\x00\x00\x00\x00\x00\x00\x00", b""])
def test_length_truncated(enc):
    for s in (src(enc, base=7), ByteSource(io.BytesIO(enc), size=len(enc), base=7, chunk=1)):
        with pytest.raises(TruncatedError) as ei:
            L.read_length(s)
        assert ei.value.offset == 7


# ---------------------------------------------------------------------------
# strings: reading


def test_read_int_encodings():
    assert L.read_string(src(b"\xc0\x7f")) == b"127"
    assert L.read_string(src(b"\xc0\x80")) == b"-128"
    assert L.read_string(src(b"\xc1\x00\x80")) == b"-32768"
    assert L.read_string(src(b"\xc1\x34\x12")) == b"4660"
    assert L.read_string(src(b"\xc2\xff\xff\xff\x7f")) == b"2147483647"
    assert L.read_string(src(b"\xc2\x00\x00\x00\x80")) == b"-2147483648"
    assert L.read_string_or_int(src(b"\xc2\x00\x00\x00\x80")) == -2**31
    assert L.read_string_or_int(src(b"\x02ab")) == b"ab"


def test_read_raw_and_bogus_length_does_not_allocate():
    assert L.read_string(src(b"\x03abc")) == b"abc"
    # A 2**64-1 byte string claimed in a 9-byte input: TruncatedError at the data start.
    with pytest.raises(TruncatedError) as ei:
        L.read_string(src(b"\x81" + b"\xff" * 8, base=50))
    assert ei.value.offset == 59


def test_unknown_string_encoding():
    with pytest.raises(FormatError) as ei:
        L.read_string(src(b"\xc4", base=3))
    assert ei.value.offset == 3
    for fn in (L.skip_string, L.string_stored_form):
        with pytest.raises(FormatError):
            fn(src(b"\xff"))
    with pytest.raises(FormatError):
        list(L.iter_string_chunks(src(b"\xc5")))


# LZF string of 'a' * 30 written by hand from the format: literal 'a', back-ref len 29 offset 1.
LZF_A30 = b"\xc3\x05\x1e" + b"\x00a\xe0\x14\x00"


def test_read_lzf_string():
    assert L.read_string(src(LZF_A30)) == b"a" * 30
    f = L.string_stored_form(src(LZF_A30, base=10))
    assert f == L.StoredString(L.FORM_LZF, 30, len(LZF_A30), 10, compressed_length=5)
    assert b"".join(L.iter_string_chunks(src(LZF_A30))) == b"a" * 30


def test_lzf_claims_too_much_is_rejected_before_allocating():
    blob = b"\xc3\x05" + L.encode_length(10**12) + b"\x00a\xe0\x14\x00"
    for fn in (L.read_string, L.skip_string, L.string_stored_form,
               lambda s: list(L.iter_string_chunks(s))):
        with pytest.raises(FormatError) as ei:
            fn(src(blob, base=1000))
        assert ei.value.offset == 1000 + 2  # the uncompressed length field
        assert not isinstance(ei.value, TruncatedError)


def test_lzf_error_names_the_string():
    blob = b"\xc3\x05\x1e" + b"\x00a\xe0\x14\x05"  # back-reference 6 back after 1 byte
    with pytest.raises(FormatError) as ei:
        L.read_string(src(blob, base=200), "hash field")
    assert ei.value.offset == 200 + 3 + 2
    assert "hash field" in ei.value.message and "offset 200" in ei.value.message


def test_lzf_clen_past_end():
    blob = b"\xc3\x40\x40\x1e" + b"\x00a"
    with pytest.raises(TruncatedError):
        L.read_string(src(blob))


def test_stored_form_and_skip():
    data = L.encode_length(5) + b"hello" + b"\xc1\x00\x01" + LZF_A30 + b"!"
    s = src(data)
    assert L.string_stored_form(s) == L.StoredString(L.FORM_RAW, 5, 6, 0)
    assert L.string_stored_form(s) == L.StoredString(L.FORM_INT, 3, 3, 6, int_value=256)
    assert L.skip_string(s) == 30
    assert s.read(1) == b"!"


def test_iter_string_chunks_streams_big_raw_string():
    payload = bytes(range(256)) * 40
    data = L.encode_length(len(payload)) + payload + b"END"
    s = ByteSource(io.BytesIO(data), size=len(data), chunk=1000)
    pieces = list(L.iter_string_chunks(s))
    assert len(pieces) > 5 and max(map(len, pieces)) <= 1000
    assert b"".join(pieces) == payload
    assert s.read(3) == b"END"
    s = ByteSource(io.BytesIO(data), size=len(data), chunk=1000)
    assert L.skip_string(s) == len(payload)
    assert s.read(3) == b"END"


SAMPLES = [
    L.encode_length(5) + b"hello",
    L.encode_length(100) + b"x" * 100,
    b"\xc0\x05",
    b"\xc1\x00\x01",
    b"\xc2\x00\x00\x00\x01",
    LZF_A30,
]


@pytest.mark.parametrize("blob", SAMPLES)
def test_truncation_at_every_offset(blob):
    full = L.read_string(src(blob))
    makers = (lambda p: src(p, base=1000),
              lambda p: ByteSource(io.BytesIO(p), size=len(p), base=1000, chunk=2),
              lambda p: ByteSource(io.BytesIO(p), base=1000, chunk=2))  # size unknown
    readers = (L.read_string, L.skip_string, L.string_stored_form,
               lambda x: b"".join(L.iter_string_chunks(x)))
    for cut in range(len(blob)):
        part = blob[:cut]
        for make in makers:
            for fn in readers:
                with pytest.raises(TruncatedError) as ei:
                    fn(make(part))
                assert 1000 <= ei.value.offset <= 1000 + cut
    assert L.read_string(stream_src(blob, 1)) == full


def test_truncation_offsets_point_at_the_item():
    blob = L.encode_length(100) + b"x" * 100
    with pytest.raises(TruncatedError) as ei:
        L.read_string(src(blob[:50], base=1000))
    assert ei.value.offset == 1002  # where the 100 data bytes should start
    with pytest.raises(TruncatedError) as ei:
        L.read_string(src(b"\x40", base=1000))
    assert ei.value.offset == 1000


# ---------------------------------------------------------------------------
# fixed-width fields


def test_fixed_width():
    s = src(b"\x01" + b"\x02\x01" + b"\x04\x03\x02\x01" + (2**63 + 5).to_bytes(8, "little")
            + (-5).to_bytes(8, "little", signed=True) + (-7).to_bytes(4, "little", signed=True))
    assert L.read_u8(s) == 1
    assert L.read_u16(s) == 0x0102
    assert L.read_u32(s) == 0x01020304
    assert L.read_u64(s) == 2**63 + 5
    assert L.read_ms_time(s) == -5
    assert L.read_s_time(s) == -7
    with pytest.raises(TruncatedError):
        L.read_u8(s)
    assert L.encode_ms_time(-5) == (-5).to_bytes(8, "little", signed=True)
    assert L.encode_s_time(7) == b"\x07\x00\x00\x00"
    assert L.encode_u64(1) == b"\x01" + b"\x00" * 7
    for fn, n in ((L.read_u16, 2), (L.read_u32, 4), (L.read_u64, 8), (L.read_ms_time, 8), (L.read_s_time, 4)):
        for cut in range(n):
            with pytest.raises(TruncatedError) as ei:
                fn(src(b"\x00" * cut, base=9))
            assert ei.value.offset == 9


# ---------------------------------------------------------------------------
# strings: writing, against what real servers wrote

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import bstr, load_expected, real_folders  # noqa: E402


def test_encode_string_exact_forms():
    assert L.encode_string(b"12") == b"\xc0\x0c"
    assert L.encode_string(b"-128") == b"\xc0\x80"
    assert L.encode_string(b"128") == b"\xc1\x80\x00"
    assert L.encode_string(b"-2147483648") == b"\xc2\x00\x00\x00\x80"
    assert L.encode_string(b"2147483648") == b"\x0a2147483648"      # out of INT32: raw
    for s in (b"007", b"+1", b"-0", b" 1", b"1.5", b"", b"9223372036854775808"):
        assert L.encode_string(s) == L.encode_length(len(s)) + s
    assert L.encode_string(b"a" * 20) == b"\x14" + b"a" * 20          # LZF only above 20
    a21 = L.encode_string(b"a" * 21)
    assert a21[0] == 0xC3 and L.read_string(src(a21)) == b"a" * 21
    assert L.encode_string(b"a" * 21, compress=False) == b"\x15" + b"a" * 21
    rnd = bytes(range(100))                                           # incompressible: raw
    assert L.encode_string(rnd) == b"\x40\x64" + rnd
    assert L.encode_integer(5) == b"\xc0\x05"
    assert L.encode_integer(2**40) == b"\x0d" + str(2**40).encode()
    assert L.encode_integer(-2**63) == b"\x14" + str(-2**63).encode()
    assert L.encode_int_value(2**31) is None


def test_encode_string_roundtrip_random():
    import random

    rng = random.Random(4)
    for _ in range(500):
        kind = rng.randrange(3)
        if kind == 0:
            s = str(rng.randint(-2**63, 2**63 - 1) >> rng.randrange(64)).encode()
        elif kind == 1:
            s = bytes(rng.choice(b"ab") for _ in range(rng.randint(0, 200)))
        else:
            s = rng.randbytes(rng.randint(0, 300))
        for compress in (True, False):
            enc = L.encode_string(s, compress=compress)
            st = src(enc)
            assert L.read_string(st) == s and st.at_eof()
            assert L.string_stored_form(src(enc)).stored_size == len(enc)


def _records(folder):
    """(type byte, encoded key + value) of every string key, and the encoded members /
    fields / values of hashtable sets and hashes, as rdbSaveRawString writes them."""
    data = load_expected(folder)
    root = data["_root"]
    for k in data["states"]["snapshot"]["keys"]:
        key = bstr(k["key"], root)
        if k["type"] == "string":
            yield b"\x00" + L.encode_string(key) + L.encode_string(bstr(k["value"], root))
        elif k["type"] == "set" and k["encoding"] == "hashtable":
            for m in k["value"]:
                yield L.encode_string(bstr(m, root))
        elif k["type"] == "hash" and k["encoding"] == "hashtable" and not k.get("field_expire_at_ms"):
            for f, v in k["value"]:
                yield L.encode_string(bstr(f, root)) + L.encode_string(bstr(v, root))


def test_encode_string_reproduces_real_servers():
    folders = real_folders()
    if not folders:
        pytest.skip("real-server corpus not available")
    checked = 0
    for folder in folders:
        dump = (folder / "dump.rdb").read_bytes()
        records = list(_records(folder))
        missing = [r[:40] for r in records if r not in dump]
        assert not missing, (folder.name, len(missing), missing[:3])
        checked += len(records)
    assert checked > 1000


def test_encode_accepts_bytes_like():
    assert L.encode_string(memoryview(b"123")) == L.encode_string(b"123") == b"\xc0\x7b"
    assert L.encode_string(bytearray(b"a" * 30)) == L.encode_string(b"a" * 30)
    assert L.read_string(src(L.encode_string(b"a" * 30, lzf_legacy=True))) == b"a" * 30


@pytest.mark.redis
def test_live_server_dump_of_strings_is_encode_string(redis_server):
    """DUMP = type byte + the value as rdbSaveObject writes it + 2-byte version + CRC64."""
    import random

    r = redis_server.client()
    rng = random.Random(5)
    values = [b"", b"0", b"-0", b"007", b"+1", b"127", b"-129", b"32768", b"2147483647",
              b"2147483648", b"-2147483649", b"9223372036854775807", b"12345678901",
              b"a" * 20, b"a" * 21, b"ab" * 11, b" 1", b"1.5"]
    values += [bytes(rng.choice(b"abc") for _ in range(rng.randint(15, 400))) for _ in range(40)]
    values += [rng.randbytes(rng.randint(1, 300)) for _ in range(20)]
    values += [str(rng.randint(-2**63, 2**63 - 1) >> rng.randrange(64)).encode() for _ in range(40)]
    for i, v in enumerate(values):
        r.set(f"s{i}", v)
        payload = r.dump(f"s{i}")
        assert payload[:-10] == b"\x00" + L.encode_string(v), v
