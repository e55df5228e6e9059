"""RESP codec: command streams (AOF framing as redis-check-aof reads it) and replies."""

import io

import pytest
from hypothesis import given, settings, strategies as st

from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.resp import (
    Annotation, CommandParser, encode_annotation_ts, encode_command, parse_commands)
from persistkit.kvencoding.source import ByteSource

SET = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"


def test_encode_command_exact_bytes():
    assert encode_command([b"SET", b"k", b"v"]) == SET
    assert encode_command(["SET", "k", 12]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"
    assert encode_command([]) == b"*0\r\n"
    assert encode_annotation_ts(1700000000) == b"#TS:1700000000\r\n"


def test_parse_offsets_end_and_timestamps():
    data = b"#TS:100\r\n" + SET + b"#TS:105\r\n" + encode_command([b"DEL", b"k"])
    p = CommandParser(ByteSource(data))
    got = []
    for off, args in p:
        got.append((off, args, p.end, p.timestamp))
    assert got == [(9, [b"SET", b"k", b"v"], 9 + len(SET), 100),
                   (9 + len(SET) + 9, [b"DEL", b"k"], len(data), 105)]
    items = list(CommandParser(ByteSource(data)).items())
    assert isinstance(items[0][1], Annotation) and items[0][1].timestamp == 100
    assert items[0][1].length == 9


@given(st.lists(st.lists(st.binary(max_size=40), max_size=5), max_size=20))
@settings(max_examples=80, deadline=None)
def test_round_trip_any_binary(commands):
    data = b"".join(encode_command(c) for c in commands)
    assert parse_commands(data) == commands
    # the same through a stream read in tiny windows (refills inside every command)
    src = ByteSource(io.BufferedReader(io.BytesIO(data)), chunk=7)
    assert [a for _, a in CommandParser(src)] == commands


def test_truncated_command_points_at_its_start():
    data = SET + SET
    for cut in range(len(SET) + 1, len(data)):
        with pytest.raises(TruncatedError) as ei:
            parse_commands(data[:cut])
        assert ei.value.offset == len(SET)


@pytest.mark.parametrize("bad,offset", [
    (b"+OK\r\n", 0),                                  # not a command
    (b"*3\n$3\r\nSET\r\n", 2),                        # LF only after *N
    (b"*1\r\n$x\r\nabc\r\n", 5),                      # $x: no number, no CRLF right after '$'
    (b"*1\r\n$3\r\nabcd\r\n", 11),                    # bulk not followed by CRLF
    (b"*1\r\n#3\r\nabc\r\n", 4),                      # wrong prefix for a bulk
    (b"*1\r\n$-1\r\n", 4),                            # negative bulk length
    (b"*2x\r\n", 2),                                  # junk after the count
])
def test_format_errors(bad, offset):
    with pytest.raises(FormatError) as ei:
        parse_commands(bad)
    assert not isinstance(ei.value, TruncatedError)
    assert ei.value.offset == offset


def test_strtol_quirks_match_redis_check_aof():
    # "*\r\n" and "*0" are empty commands for redis-check-aof; a leading blank is allowed
    assert parse_commands(b"*\r\n*0\r\n* 1\r\n$ 1\r\na\r\n") == [[], [], [b"a"]]


def test_huge_bulk_length_fails_before_allocating():
    data = b"*1\r\n$9999999999999\r\nabc"
    with pytest.raises(TruncatedError) as ei:
        parse_commands(data)
    assert ei.value.offset == 0
    stream = io.BufferedReader(io.BytesIO(data))
    with pytest.raises(TruncatedError):
        list(CommandParser(ByteSource(stream, size=len(data))))


def test_annotation_without_newline_at_end():
    data = SET + b"#TS:7"
    p = CommandParser(ByteSource(data))
    assert [a for _, a in p] == [[b"SET", b"k", b"v"]]
    assert p.timestamp == 7 and p.end == len(data)


