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


def test_atomic_output_gives_ordinary_permissions_and_leaves_nothing_on_error(tmp_path):
    import os

    from persistkit.kvencoding.fileio import atomic_output

    target = tmp_path / "out.rdb"
    with atomic_output(target) as fh:
        fh.write(b"data")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "broken.rdb") as fh:
            fh.write(b"partial")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.rdb"]


def test_atomic_output_lz4_round_trip(tmp_path):
    from persistkit.kvencoding.fileio import atomic_output, open_input

    with atomic_output(tmp_path / "x.rdb.lz4") as fh:
        fh.write(b"REDIS0010" + b"x" * 1000)
    with open_input(tmp_path / "x.rdb.lz4") as stream:
        assert stream.read() == b"REDIS0010" + b"x" * 1000
