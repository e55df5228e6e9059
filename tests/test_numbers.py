"""Numbers as Redis writes them (persistkit.kvencoding.numbers)."""

import io
import math
import socket
import random
import struct
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from persistkit.kvencoding import numbers as N
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.lzf import decompress, max_decompressed_size
from persistkit.kvencoding.lengths import read_length
from persistkit.kvencoding.source import ByteSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import REAL, load_expected, real_folders  # noqa: E402

# ---------------------------------------------------------------------------
# canonical_int (string2ll)


@pytest.mark.parametrize("text,value", [
    (b"0", 0), (b"1", 1), (b"-1", -1), (b"127", 127), (b"-128", -128),
    (b"9223372036854775807", 2**63 - 1), (b"-9223372036854775808", -2**63),
    (b"4294967296", 4294967296),
])
def test_canonical_int_accepts(text, value):
    assert N.canonical_int(text) == value
    assert N.canonical_int(bytearray(text)) == value


@pytest.mark.parametrize("text", [
    b"", b"-", b"+1", b"-0", b"00", b"007", b"01", b" 1", b"1 ", b"1.5", b"1e3", b"0x10",
    b"9223372036854775808", b"-9223372036854775809", b"99999999999999999999",
    b"123456789012345678901", b"1_000", "\u0661".encode(), b"--1", b"-01",
])
def test_canonical_int_rejects(text):
    assert N.canonical_int(text) is None


def test_canonical_int_matches_roundtrip_rule():
    # rdbTryIntegerEncoding's older form: strtoll then ll2string must give the same text.
    rnd = random.Random(1)
    alphabet = b"0123456789-+ "
    for _ in range(20000):
        t = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 21)))
        try:
            v = int(t)
            want = v if str(v).encode() == t and -2**63 <= v < 2**63 else None
        except ValueError:
            want = None
        assert N.canonical_int(t) == want, t


# ---------------------------------------------------------------------------
# double2ll / d2string


def test_double2ll_bounds():
    assert N.double2ll(2.0**62) == 2**62
    assert N.double2ll(-2.0**62) == -2**62
    assert N.double2ll(2.0**62 + 2**10) is None
    assert N.double2ll(1.5) is None
    assert N.double2ll(-0.0) == 0
    assert N.double2ll(math.nan) is None and N.double2ll(math.inf) is None


@pytest.mark.parametrize("value,printf,fpconv", [
    (0.1, b"0.10000000000000001", b"0.1"),
    (1e300, b"1.0000000000000001e+300", b"1e+300"),
    (3.141592653589793, b"3.1415926535897931", b"3.141592653589793"),
    (1.7976931348623157e308, b"1.7976931348623157e+308", b"1.7976931348623157e+308"),
    (-1e-300, b"-1e-300", b"-1e-300"),
    (-3.5, b"-3.5", b"-3.5"),
    (42.0, b"42", b"42"),
    (2.0**53, b"9007199254740992", b"9007199254740992"),     # printf: %.17g, fpconv: double2ll
    (1e17, b"1e+17", b"100000000000000000"),
    (2.0**52 - 1, b"4503599627370495", b"4503599627370495"),
    (-(2.0**52 - 1), b"-4503599627370495", b"-4503599627370495"),
    (1e-7, b"9.9999999999999995e-08", b"1e-7"),
    (1e-6, b"9.9999999999999995e-07", b"0.000001"),
    (5e-324, b"4.9406564584124654e-324", b"5e-324"),
    (1e21, b"1e+21", b"1e+21"),
    (0.0, b"0", b"0"), (-0.0, b"-0", b"-0"),
    (math.inf, b"inf", b"inf"), (-math.inf, b"-inf", b"-inf"), (math.nan, b"nan", b"nan"),
])
def test_d2string_styles(value, printf, fpconv):
    assert N.d2string(value, N.STYLE_PRINTF) == printf
    assert N.d2string(value, N.STYLE_FPCONV) == fpconv


def test_fpconv_layout():
    assert N.fpconv_dtoa(1e15) == b"1e+15"          # plain integers only up to ndigits + 7
    assert N.fpconv_dtoa(123456789012345680.0) == b"123456789012345680"
    assert N.fpconv_dtoa(0.001) == b"0.001"
    assert N.fpconv_dtoa(1.5e-10) == b"1.5e-10"
    assert N.fpconv_dtoa(1.5e100) == b"1.5e+100"
    assert N.fpconv_dtoa(1.5e105) == b"1.5e+105"
    assert N.fpconv_dtoa(-0.0) == b"-0"
    assert N.fpconv_dtoa(-math.inf) == b"-inf"


def test_fpconv_always_round_trips_and_is_nearly_always_shortest():
    rnd = random.Random(2)
    longer = 0
    n = 0
    for _ in range(20000):
        x = struct.unpack("<d", rnd.randbytes(8))[0]
        if math.isnan(x) or math.isinf(x):
            continue
        n += 1
        text = N.fpconv_dtoa(x)
        assert float(text) == x, (x, text)
        digits = text.lstrip(b"-").split(b"e")[0].replace(b".", b"").strip(b"0")
        shortest = repr(x).lstrip("-").split("e")[0].replace(".", "").strip("0")
        assert len(digits) <= 17
        longer += len(digits) != len(shortest) or digits.decode() != shortest
    assert longer < n // 200  # Grisu2 misses the shortest/closest form rarely


def test_zset_listpack_score():
    assert N.zset_listpack_score(5.0) == 5
    assert N.zset_listpack_score(-0.0) == 0                          # 7.0+: double2ll first
    assert N.zset_listpack_score(-0.0, N.STYLE_PRINTF) == 0
    assert N.zset_listpack_score(-0.0, N.STYLE_PRINTF, int_first=False) == b"-0"
    assert N.zset_listpack_score(1e17) == 100000000000000000
    assert N.zset_listpack_score(1e17, N.STYLE_PRINTF, int_first=False) == b"1e+17"
    assert N.zset_listpack_score(2.0**62 * 1.5, N.STYLE_PRINTF) == b"6.9175290276410819e+18"
    assert N.zset_listpack_score(0.5) == b"0.5"
    with pytest.raises(ValueError):
        N.d2string(0.5, "other")


def test_zset_score_rules():
    assert N.zset_score_rules((5, 0)) == (N.STYLE_PRINTF, False)
    assert N.zset_score_rules((6, 2)) == (N.STYLE_PRINTF, False)
    assert N.zset_score_rules((7, 0)) == (N.STYLE_PRINTF, True)
    assert N.zset_score_rules((7, 2)) == (N.STYLE_FPCONV, True)
    assert N.zset_score_rules((8, 0), valkey=True) == (N.STYLE_FPCONV, True)


def test_reply_double():
    assert N.reply_double(1.0, N.STYLE_PRINTF) == b"1"
    assert N.reply_double(0.1, N.STYLE_PRINTF) == b"0.10000000000000001"
    assert N.reply_double(1e17, N.STYLE_PRINTF) == b"1e+17"
    assert N.reply_double(-math.inf, N.STYLE_PRINTF) == b"-inf"
    assert N.reply_double(0.1) == b"0.1"
    assert N.reply_double(1e17) == b"100000000000000000"


# ---------------------------------------------------------------------------
# RDB doubles


@pytest.mark.parametrize("value,encoded", [
    (math.nan, b"\xfd"), (math.inf, b"\xfe"), (-math.inf, b"\xff"),
    (1.5, b"\x031.5"), (3.0, b"\x013"), (-0.0, b"\x010"),
    (0.1, b"\x130.10000000000000001"), (2.0**53, b"\x109007199254740992"),
    (1.7976931348623157e308, b"\x171.7976931348623157e+308"),
])
def test_text_double_legacy(value, encoded):
    assert N.encode_text_double(value) == encoded
    got = N.read_text_double(ByteSource(encoded))
    assert got == value or (math.isnan(got) and math.isnan(value))


def test_text_double_fpconv_style():
    assert N.encode_text_double(0.1, N.STYLE_FPCONV) == b"\x030.1"
    assert N.encode_text_double(-0.0, N.STYLE_FPCONV) == b"\x010"
    with pytest.raises(ValueError):
        N.encode_text_double(0.1, "other")


def test_text_double_roundtrip_random():
    rnd = random.Random(3)
    for _ in range(3000):
        x = struct.unpack("<d", rnd.randbytes(8))[0]
        for style in (N.STYLE_PRINTF, N.STYLE_FPCONV):
            enc = N.encode_text_double(x, style)
            got = N.read_text_double(ByteSource(enc))
            assert got == x or (math.isnan(x) and math.isnan(got))


@pytest.mark.parametrize("text", [b"abc", b"1.5x", b"", b"1_0", b"--1", b"0x10"])
def test_text_double_rejects_garbage(text):
    with pytest.raises(FormatError) as ei:
        N.read_text_double(ByteSource(bytes([len(text)]) + text, base=40))
    assert ei.value.offset == 40


def test_text_double_accepts_what_sscanf_reads():
    for text, v in ((b"inf", math.inf), (b"-inf", -math.inf), (b" 2", 2.0), (b"+1e3", 1000.0), (b".5", 0.5)):
        assert N.read_text_double(ByteSource(bytes([len(text)]) + text)) == v


def test_text_double_truncated_at_every_offset():
    enc = N.encode_text_double(0.1)
    for cut in range(len(enc)):
        with pytest.raises(TruncatedError) as ei:
            N.read_text_double(ByteSource(enc[:cut], base=9))
        assert 9 <= ei.value.offset <= 9 + cut


def test_binary_double():
    for v in (0.0, -0.0, 1.5, 1e300, -math.inf, 5e-324):
        enc = N.encode_binary_double(v)
        assert enc == struct.pack("<d", v)
        got = N.read_binary_double(ByteSource(enc))
        assert got == v and math.copysign(1, got) == math.copysign(1, v)
    assert math.isnan(N.read_binary_double(ByteSource(N.encode_binary_double(math.nan))))
    s = ByteSource(io.BytesIO(b"\x00" * 13), chunk=3)
    s.read(5)
    assert N.read_binary_double(s) == 0.0
    for cut in range(8):
        with pytest.raises(TruncatedError) as ei:
            N.read_binary_double(ByteSource(b"\x00" * cut, base=3))
        assert ei.value.offset == 3


# ---------------------------------------------------------------------------
# the real servers' listpack/ziplist zset scores


def _rules_for(folder: str) -> tuple[str, bool]:
    name, _, version = folder.partition("-")
    major, minor = (int(x) for x in version.split("-")[0].split(".")[:2])
    return N.zset_score_rules((major, minor), valkey=name == "valkey")


@lru_cache(maxsize=None)
def _haystack(folder: Path) -> bytes:
    """dump.rdb plus every LZF string in it decompressed (compact zsets are often LZF'd)."""
    buf = (folder / "dump.rdb").read_bytes()
    parts = [buf]
    i = buf.find(b"\xc3")
    while i >= 0:
        try:
            src = ByteSource(buf[i + 1:i + 21])
            clen, ulen = read_length(src), read_length(src)
            start = i + 1 + src.pos
            if 20 < ulen <= max_decompressed_size(clen) and 0 < clen <= ulen - 4 and start + clen <= len(buf):
                parts.append(decompress(buf[start:start + clen], ulen))
        except FormatError:
            pass
        i = buf.find(b"\xc3", i + 1)
    return b"".join(parts)


def _string_entries(text: bytes) -> list[bytes]:
    """The bytes a short string entry has in a listpack (10xxxxxx) or a ziplist (00xxxxxx)."""
    return [bytes([0x80 | len(text)]) + text, bytes([len(text)]) + text]


def test_real_servers_wrote_zset_scores_as_d2string_says():
    folders = real_folders()
    if not folders:
        pytest.skip("real-server corpus not available")
    checked = 0
    for folder in folders:
        style, int_first = _rules_for(folder.name)
        other = N.STYLE_PRINTF if style == N.STYLE_FPCONV else N.STYLE_FPCONV
        hay = _haystack(folder)
        for key in load_expected(folder)["states"]["snapshot"]["keys"]:
            if key["type"] != "zset" or key["encoding"] not in ("listpack", "ziplist"):
                continue
            for _, score in key["value"]:
                d = float(score)
                stored = N.zset_listpack_score(d, style, int_first=int_first)
                if isinstance(stored, int) or N.canonical_int(stored) is not None:
                    continue
                assert any(e in hay for e in _string_entries(stored)), (folder.name, score, stored)
                checked += 1
                theirs = N.zset_listpack_score(d, other, int_first=int_first)
                if isinstance(theirs, bytes) and theirs != stored and len(theirs) > 6:
                    assert not any(e in hay for e in _string_entries(theirs)), (folder.name, theirs)
    assert checked >= 40


# ---------------------------------------------------------------------------
# a live redis-server (7.0: the printf generation)

LIVE_SCORES = [0.1, 1.5, -3.5, 1e300, -1e-300, 3.141592653589793, 2.0**53, 2.0**53 + 2, 1e17,
               2.0**62, 2.0**62 * 1.5, 2.0**63, 1.5e18,
               1.7976931348623157e308, 123456.789, -0.0, 0.0, 42.0, 2.0**52 - 1, 1e-7, 5e-324,
               math.inf, -math.inf]


@pytest.mark.redis
def test_live_server_reply_and_listpack_score_text(redis_server):
    r = redis_server.client()
    version = r.info("server")["redis_version"]
    major, minor = (int(x) for x in version.split(".")[:2])
    style, int_first = N.zset_score_rules((major, minor))
    # A plain RESP2 socket: the reply's bulk text exactly, no client-side float parsing.
    sock = socket.create_connection(("127.0.0.1", redis_server.port), timeout=10)
    reader = sock.makefile("rb")

    def raw_zscore(key):
        k = key.encode()
        sock.sendall(b"*3\r\n$6\r\nZSCORE\r\n$%d\r\n%s\r\n$1\r\nm\r\n" % (len(k), k))
        head = reader.readline()
        assert head[:1] == b"$", head
        return reader.read(int(head[1:]) + 2)[:-2]

    for i, score in enumerate(LIVE_SCORES):
        key = f"z{i}"
        r.zadd(key, {b"m": score})
        stored = N.zset_listpack_score(score, style, int_first=int_first)
        # A listpack integer entry reads back as that integer (-0.0 comes back as 0).
        back = float(stored) if isinstance(stored, int) else score
        assert raw_zscore(key) == N.reply_double(back, style), score
        # The compact encoding's score entry, seen through DUMP (type byte + RDB value).
        payload = r.dump(key)
        hay = payload
        for off in range(len(payload)):
            if payload[off] == 0xC3:
                try:
                    s = ByteSource(payload[off + 1:off + 21])
                    clen, ulen = read_length(s), read_length(s)
                    st = off + 1 + s.pos
                    hay += decompress(payload[st:st + clen], ulen)
                except FormatError:
                    pass
        if isinstance(stored, bytes) and N.canonical_int(stored) is None:
            assert any(e in hay for e in _string_entries(stored)), (score, stored, payload)
        else:  # an integer entry: the text form must not be there
            text = N.d2string(score, style)
            if len(text) > 3:
                assert not any(e in hay for e in _string_entries(text)), (score, payload)
    sock.close()
