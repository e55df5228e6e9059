import io

import pytest

from persistkit.kvencoding.crc64 import CRC64, crc64
from persistkit.kvencoding.errors import TruncatedError
from persistkit.kvencoding.source import ByteSource


def test_crc64_check_value():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_crc64_is_incremental():
    assert CRC64().update(b"1234").update(memoryview(b"56789")).value == crc64(b"123456789")


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_stream_source_matches_bytes_and_tracks_offsets(chunk):
    data = bytes(range(256)) * 40
    src = ByteSource(io.BufferedReader(io.BytesIO(data)), chunk=chunk, crc=True)
    assert src.read(10) == data[:10]
    src.skip(1000)
    assert src.tell() == 1010
    assert src.read_byte() == data[1010]
    assert src.peek(5) == data[1011:1016]
    assert b"".join(src.iter_chunks(500)) == data[1011:1511]
    rest = src.read(len(data) - 1511)
    assert rest == data[1511:]
    assert src.at_eof()
    assert src.crc() == crc64(data)


def test_length_past_known_size_is_an_error_not_an_allocation():
    src = ByteSource(b"abc")
    with pytest.raises(TruncatedError) as err:
        src.read(1 << 40)
    assert err.value.offset == 0


def test_stream_truncation_reports_offset():
    src = ByteSource(io.BufferedReader(io.BytesIO(b"x" * 100)), chunk=16)
    src.skip(90)
    with pytest.raises(TruncatedError) as err:
        src.read(20)
    assert err.value.offset == 90


def test_readline_returns_lines_and_tail():
    src = ByteSource(io.BufferedReader(io.BytesIO(b"*1\r\n$4\r\nPING\r\npartial")), chunk=2)
    assert src.readline() == b"*1\r\n"
    assert src.readline() == b"$4\r\n"
    assert src.readline() == b"PING\r\n"
    assert src.readline() == b"partial"
    assert src.at_eof()
