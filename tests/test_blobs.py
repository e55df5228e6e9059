"""Blob codecs (ziplist, listpack, intset, zipmap) against files real servers wrote.

Oracles: the DUMP payloads and dump.rdb of every real-corpus folder (values from
expected.json), the public corpus' old RDB files (zipmaps, old ziplists and
intsets; the corrupt ones must fail), and Hypothesis round trips. Re-encoding is
checked byte for byte where Redis built the blob from scratch.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from corpus import PUBLIC, bstr, load_expected, real_folders, real_ids
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.intset import (intset_count, intset_decode, intset_encode,
                                          intset_width)
from persistkit.kvencoding.lengths import encode_string, read_length, read_string
from persistkit.kvencoding.listpack import (canonical_int, encode_backlen, listpack_count,
                                            listpack_decode, listpack_encode)
from persistkit.kvencoding.source import ByteSource
from persistkit.kvencoding.ziplist import (ziplist_count, ziplist_decode, ziplist_encode,
                                           ziplist_wide_prevlens)
from persistkit.kvencoding.zipmap import zipmap_count, zipmap_decode, zipmap_encode

ZIPLIST_TYPES = (10, 12, 13)
LISTPACK_TYPES = (16, 17, 20)
SINGLE_BLOB_TYPES = (9, 10, 11, 12, 13, 16, 17, 20)
QUICKLIST_TYPES = (14, 18)
STREAM_TYPES = (15, 19, 21)

DECODERS = {9: zipmap_decode, 10: ziplist_decode, 11: intset_decode, 12: ziplist_decode,
            13: ziplist_decode, 14: ziplist_decode, 16: listpack_decode, 17: listpack_decode,
            18: listpack_decode, 20: listpack_decode}
COUNTERS = {9: zipmap_count, 10: ziplist_count, 11: intset_count, 12: ziplist_count,
            13: ziplist_count, 14: ziplist_count, 16: listpack_count, 17: listpack_count,
            18: listpack_count, 20: listpack_count}


# ---------------------------------------------------------------------------
# helpers: pulling blobs out of real files


class Blob:
    """One blob as stored in a file: its bytes, file offset and whether it was LZF."""

    def __init__(self, rdb_type: int, data: bytes, offset: int, lzf: bool, plain: bool = False):
        self.rdb_type = rdb_type
        self.data = data
        self.offset = offset
        self.lzf = lzf
        self.plain = plain  # a PLAIN quicklist node: the string is the element itself

    def decode(self, deep: bool = True):
        return DECODERS[self.rdb_type](self.data, self.offset, deep=deep, lzf=self.lzf)

    def count(self) -> int:
        return COUNTERS[self.rdb_type](self.data, self.offset, lzf=self.lzf)

    def reencode(self, values) -> bytes:
        t = self.rdb_type
        if t == 9:
            return zipmap_encode(values)
        if t == 11:
            return intset_encode(values, intset_width(self.data))
        if t in (10, 12, 13, 14):
            return ziplist_encode(values)
        return listpack_encode(values)


def rdb_string(src: ByteSource) -> tuple[bytes, int, bool]:
    """(value, file offset, was LZF) of the RDB string at the source's position."""
    offset = src.tell()
    src.need(1)
    lzf = src.buf[src.pos] == 0xC3
    return read_string(src), offset, lzf


def read_value_blobs(src: ByteSource, rdb_type: int) -> list[Blob]:
    """The blobs of one value of a blob type (the source sits just after the key)."""
    if rdb_type in SINGLE_BLOB_TYPES:
        return [Blob(rdb_type, *rdb_string(src))]
    if rdb_type in QUICKLIST_TYPES:
        blobs = []
        for _ in range(read_length(src)):
            container = read_length(src) if rdb_type == 18 else 2
            blobs.append(Blob(rdb_type, *rdb_string(src), plain=container == 1))
        return blobs
    raise AssertionError(rdb_type)


def key_occurrences(rdb: bytes, key: bytes, types) -> list[tuple[int, int]]:
    """(type, position after the key) of every place ``type byte + key`` appears.

    A test-side shortcut to reach a key's value in dump.rdb without a full reader:
    the caller tries each occurrence and keeps the one that decodes to the key's
    expected value.
    """
    forms = {encode_string(key, compress=False), encode_string(key, compress=True)}
    found = []
    for t in types:
        for form in forms:
            needle = bytes((t,)) + form
            at = rdb.find(needle)
            while at >= 0:
                found.append((t, at + len(needle)))
                at = rdb.find(needle, at + 1)
    return found


def element_text(x) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()


def normalize(key_type: str, elements: list, root) -> object:
    """Decoded elements of a key (all nodes joined) in expected.json's shape."""
    texts = [element_text(x) for x in elements]
    if key_type == "list":
        return texts
    if key_type == "set":
        return sorted(texts)
    if key_type == "hash":
        return sorted(zip(texts[0::2], texts[1::2]))
    if key_type == "zset":
        return sorted(((m, float(s)) for m, s in zip(texts[0::2], texts[1::2])),
                      key=lambda p: (p[1], p[0]))
    raise AssertionError(key_type)


def expected_value(entry: dict, root) -> object:
    t, v = entry["type"], entry["value"]
    if t == "list":
        return [bstr(x, root) for x in v]
    if t == "set":
        return sorted(bstr(x, root) for x in v)
    if t == "hash":
        return sorted((bstr(f, root), bstr(x, root)) for f, x in v)
    if t == "zset":
        return sorted(((bstr(m, root), float(s)) for m, s in v), key=lambda p: (p[1], p[0]))
    raise AssertionError(t)


def blob_elements(blobs: list[Blob]) -> list:
    out = []
    for b in blobs:
        if b.plain:
            out.append(b.data)
        else:
            out.extend(b.decode())
    return out


def check_reencode(blob: Blob, values, identical: list, different: list) -> None:
    """Byte identity where it holds; decode(encode(x)) == x always."""
    again = blob.reencode(values)
    if again == blob.data:
        identical.append(blob)
    else:
        different.append(blob)
        assert DECODERS[blob.rdb_type](again) == values


def dump_payload_blobs(path: Path) -> tuple[int, list[Blob]]:
    data = path.read_bytes()
    body = data[:-10]  # 2-byte RDB version + 8-byte CRC64 trail the value
    src = ByteSource(body)
    rdb_type = body[0]
    src.pos = 1
    if rdb_type not in SINGLE_BLOB_TYPES + QUICKLIST_TYPES:
        return rdb_type, []
    blobs = read_value_blobs(src, rdb_type)
    assert src.pos == len(body), "value does not end where the payload's trailer starts"
    return rdb_type, blobs


BLOB_ENCODINGS = {"ziplist", "listpack", "intset", "quicklist", "zipmap"}


# ---------------------------------------------------------------------------
# real corpus: DUMP payloads


@pytest.mark.parametrize("folder", real_ids())
def test_dump_payloads_decode_to_expected_and_reencode_identically(folder):
    exp = load_expected(folder)
    root = exp["_root"]
    by_key = {(k["db"], bstr(k["key"], root)): k for k in exp["states"]["snapshot"]["keys"]}
    checked = 0
    for dump in exp["dumps"]:
        if dump["encoding"] not in BLOB_ENCODINGS:
            continue
        rdb_type, blobs = dump_payload_blobs(Path(root) / dump["file"])
        assert blobs, dump["file"]
        entry = by_key[(dump["db"], bstr(dump["key"], root))]
        assert normalize(entry["type"], blob_elements(blobs), root) == expected_value(entry, root)
        identical, different = [], []
        for blob in blobs:
            if blob.plain:
                continue
            values = blob.decode()
            assert blob.count() == len(values)
            check_reencode(blob, values, identical, different)
        # Every blob in these payloads was built by pushes from scratch: identity holds.
        assert not different, [(dump["file"], b.offset) for b in different]
        checked += 1
    assert checked >= 10


# ---------------------------------------------------------------------------
# real corpus: every blob-encoded key of dump.rdb


@pytest.mark.parametrize("folder", real_ids())
def test_dump_rdb_blob_keys_decode_to_expected(folder):
    exp = load_expected(folder)
    root = exp["_root"]
    rdb = (Path(root) / "dump.rdb").read_bytes()
    found = missing = 0
    identical, different = [], []
    for entry in exp["states"]["snapshot"]["keys"]:
        if entry["encoding"] not in BLOB_ENCODINGS or entry["type"] == "stream":
            continue
        key = bstr(entry["key"], root)
        want = expected_value(entry, root)
        matched = None
        for rdb_type, pos in key_occurrences(rdb, key, SINGLE_BLOB_TYPES + QUICKLIST_TYPES):
            if rdb_type == 9:
                continue
            src = ByteSource(rdb)
            src.pos = pos
            try:
                blobs = read_value_blobs(src, rdb_type)
                got = normalize(entry["type"], blob_elements(blobs), root)
            except FormatError:
                continue  # a false hit of the key bytes elsewhere in the file
            if got == want:
                matched = blobs
                break
        if matched is None:
            # Only keys whose name LZF may have packed differently can be missed here.
            assert len(key) > 20, f"{folder}: key {key!r} not found or value differs"
            missing += 1
            continue
        found += 1
        for blob in matched:
            if not blob.plain:
                check_reencode(blob, blob.decode(), identical, different)
    assert found >= 15 and missing <= 2
    # Byte identity on what the server built from scratch (see module notes):
    # everything in this corpus was built by pushes, so nothing should differ.
    assert not different, [(b.rdb_type, b.offset) for b in different]
    assert identical


# ---------------------------------------------------------------------------
# public corpus: old RDB files (zipmaps, ziplists, intsets), walked by a minimal reader


def walk_old_rdb(data: bytes) -> tuple[list[Blob], bool]:
    """Blobs of every blob-typed value, walking records of types 0-5, 9-14, 16-18, 20.

    Stops quietly at anything else (streams, modules, newer types): returns the
    blobs found so far and whether the walk reached the EOF opcode.
    """
    blobs, _, stop = walk_old_rdb_until(data)
    return blobs, stop is None


def walk_old_rdb_until(data: bytes) -> tuple[list[Blob], ByteSource, int | None]:
    """Like walk_old_rdb, also giving the source positioned at the opcode the walk
    stopped at (None when it reached EOF)."""
    src = ByteSource(data)
    blobs: list[Blob] = []
    if data[:5] != b"REDIS":
        return blobs, src, -1
    src.need(9)
    src.pos = 9
    while True:
        src.need(1)
        op = src.buf[src.pos]
        if op == 0xFF:
            return blobs, src, None
        src.pos += 1
        if op == 0xFA:
            read_string(src), read_string(src)
        elif op == 0xFE:
            read_length(src)
        elif op == 0xFB:
            read_length(src), read_length(src)
        elif op == 0xFC:
            src.read(8)
        elif op == 0xFD:
            src.read(4)
        elif op == 0xF8:
            read_length(src)
        elif op == 0xF9:
            src.read(1)
        elif op in SINGLE_BLOB_TYPES + QUICKLIST_TYPES:
            read_string(src)
            blobs += read_value_blobs(src, op)
        elif op == 0:
            read_string(src), read_string(src)
        elif op in (1, 2, 4):
            read_string(src)
            for _ in range(read_length(src) * (2 if op == 4 else 1)):
                read_string(src)
        elif op in (3, 5):
            read_string(src)
            for _ in range(read_length(src)):
                read_string(src)
                if op == 5:
                    src.read(8)
                else:
                    n = src.read(1)[0]
                    if n < 253:
                        src.read(n)
        else:
            src.pos -= 1
            return blobs, src, op


def public_rdb_files() -> list[Path]:
    if not PUBLIC.is_dir():
        return []
    return sorted(p for p in PUBLIC.rglob("*.rdb") if p.is_file())


# The two public files whose blobs are corrupt on purpose (SOURCES.md).
MUST_FAIL = {"corrupt_ziplist.rdb", "zipmap_big_len.rdb"}


def test_public_rdb_blobs_validate_and_round_trip():
    files = public_rdb_files()
    if not files:
        pytest.skip("public corpus not present")
    seen_types: dict[int, int] = {}
    identical, different = [], []
    failed_as_expected = set()
    for path in files:
        data = path.read_bytes()
        try:
            blobs, _ = walk_old_rdb(data)
        except FormatError:
            continue  # damaged framing outside the blobs: not this module's concern
        for blob in blobs:
            if blob.plain:
                continue
            try:
                values = blob.decode()
            except FormatError:
                assert path.name in MUST_FAIL, f"{path}: blob at {blob.offset} rejected"
                failed_as_expected.add(path.name)
                continue
            if path.name in MUST_FAIL:
                continue
            seen_types[blob.rdb_type] = seen_types.get(blob.rdb_type, 0) + 1
            assert blob.count() == len(values)
            check_reencode(blob, values, identical, different)
    assert failed_as_expected == MUST_FAIL
    # The walk reaches zipmaps, ziplists of all three kinds, intsets and quicklists.
    for t in (9, 10, 11, 12, 13, 14):
        assert seen_types.get(t), (t, seen_types)
    # Every blob is byte-identical to its canonical re-encoding except ziplists
    # written by Redis 2.4 and older, which stored small integers as int16 (no
    # immediate/int8/int24 encodings yet): those match the legacy_ints rule.
    assert len(identical) > 100 * len(different)
    for blob in different:
        assert blob.rdb_type in (10, 12, 13, 14), (blob.rdb_type, blob.offset)
        assert ziplist_encode(blob.decode(), legacy_ints=True) == blob.data


def test_public_zipmap_with_known_content():
    path = PUBLIC / "sripathikrishnan__redis-rdb-tools" / "zipmap_that_doesnt_compress.rdb"
    if not path.is_file():
        pytest.skip("public corpus not present")
    blobs, complete = walk_old_rdb(path.read_bytes())
    assert complete and len(blobs) == 1 and blobs[0].rdb_type == 9
    pairs = blobs[0].decode()
    # redis-rdb-tools' own test (test_zipmap_that_doesnt_compress) states this content.
    assert dict(pairs) == {b"MKD1G6": b"2", b"YNNXK": b"F7TI"}


# ---------------------------------------------------------------------------
# canonical encodings: Redis's rules, edge by edge


def test_canonical_int_follows_string2ll():
    good = {b"0": 0, b"-1": -1, b"12": 12, b"9223372036854775807": 2**63 - 1,
            b"-9223372036854775808": -2**63}
    for text, value in good.items():
        assert canonical_int(text) == value
    for text in (b"", b"-", b"-0", b"007", b"+1", b" 1", b"1 ", b"1.5", b"0x10",
                 b"9223372036854775808", b"-9223372036854775809", b"\xd9\xa1", b"1_0"):
        assert canonical_int(text) is None, text


def test_listpack_integer_and_string_widths():
    cases = [(0, 1), (127, 1), (128, 2), (-1, 2), (4095, 2), (-4096, 2), (4096, 3),
             (-4097, 3), (32767, 3), (32768, 4), (-32769, 4), (8388607, 4), (8388608, 5),
             (2**31 - 1, 5), (2**31, 9), (-2**31 - 1, 9), (2**63 - 1, 9), (-2**63, 9)]
    for value, size in cases:
        blob = listpack_encode([value])
        assert len(blob) == 6 + size + 1 + 1, value
        assert listpack_decode(blob) == [value]
        assert listpack_encode([str(value).encode()]) == blob
    for n, header in ((0, 1), (63, 1), (64, 2), (4095, 2), (4096, 5)):
        blob = listpack_encode([b"x" * n])
        assert len(blob) == 6 + header + n + len(encode_backlen(header + n)) + 1
        assert listpack_decode(blob) == [b"x" * n]


def test_listpack_backlen_quirk_at_16383():
    # lpEncodeBacklen uses 2 bytes only below 16383: 16383 itself takes 3.
    assert len(encode_backlen(16382)) == 2 and len(encode_backlen(16383)) == 3
    item = b"y" * (16383 - 5)  # 32-bit-length string: 5 header bytes
    blob = listpack_encode([item])
    assert listpack_decode(blob) == [item]
    assert blob[-4:-1] == encode_backlen(16383)


def test_ziplist_prevlen_width_edge():
    # An entry is prevlen (1) + 14-bit string header (2) + data.
    small = b"a" * 250  # entry of 253 bytes: the next prevlen fits in one byte
    big = b"a" * 251    # entry of 254 bytes: the next prevlen needs five
    zl = ziplist_encode([small, b"z"])
    assert zl[10 + 253] == 253
    zl = ziplist_encode([big, b"z"])
    assert zl[10 + 254] == 0xFE and int.from_bytes(zl[10 + 255:10 + 259], "little") == 254
    assert ziplist_decode(zl) == [big, b"z"]


def test_ziplist_wide_prevlen_is_valid_but_not_canonical():
    # __ziplistCascadeUpdate never shrinks a prevlen: a 5-byte prevlen holding a
    # small value is valid (ziplistValidateIntegrity checks the value, not the width).
    canonical = ziplist_encode([b"a", b"b"])
    first = bytes([0, 0x01]) + b"a"
    second = b"\xfe" + (3).to_bytes(4, "little") + bytes([0x01]) + b"b"
    body = first + second
    wide = ((10 + len(body) + 1).to_bytes(4, "little") + (10 + len(first)).to_bytes(4, "little")
            + (2).to_bytes(2, "little") + body + b"\xff")
    assert ziplist_decode(wide) == [b"a", b"b"]
    assert ziplist_encode(ziplist_decode(wide)) == canonical != wide
    # The layout hint gives the exact bytes back.
    assert ziplist_wide_prevlens(wide) == {1} and ziplist_wide_prevlens(canonical) == set()
    assert ziplist_encode([b"a", b"b"], wide_prevlen={1}) == wide


def test_ziplist_integer_encodings():
    for value, size in ((0, 0), (12, 0), (13, 1), (-1, 1), (127, 1), (-128, 1), (128, 2),
                        (-129, 2), (32767, 2), (32768, 3), (8388607, 3), (8388608, 4),
                        (-8388609, 4), (2**31, 8), (-2**63, 8)):
        zl = ziplist_encode([value])
        assert len(zl) == 10 + 1 + 1 + size + 1, value
        assert ziplist_decode(zl) == [value]


def test_header_count_saturates():
    items = list(range(65536))
    lp = listpack_encode(items)
    assert lp[4:6] == b"\xff\xff" and listpack_count(lp) == 65536
    assert listpack_decode(lp) == items
    zl = ziplist_encode(items[:65535])
    assert zl[8:10] == b"\xff\xff" and ziplist_count(zl) == 65535
    assert listpack_count(listpack_encode(items[:65534])) == 65534


def test_intset_width_rules():
    assert intset_encode([]) == (2).to_bytes(4, "little") + bytes(4)
    assert intset_width(intset_encode([1, -32768, 32767])) == 2
    assert intset_width(intset_encode([32768])) == 4
    assert intset_width(intset_encode([-2**31 - 1])) == 8
    wide = intset_encode([3, 1, 2, 2], width=8)
    assert intset_width(wide) == 8 and intset_decode(wide) == [1, 2, 3]
    with pytest.raises(ValueError):
        intset_encode([2**40], width=4)
    with pytest.raises(FormatError):
        intset_decode(intset_encode([]))  # intsetValidateIntegrity refuses an empty set


def test_zipmap_count_byte_rule():
    pairs = [(str(i).encode(), b"v") for i in range(260)]
    for n, zmlen in ((1, 1), (253, 253), (254, 254), (260, 254)):
        zm = zipmap_encode(pairs[:n])
        assert zm[0] == zmlen
        assert zipmap_count(zm) == n
        assert zipmap_decode(zm) == pairs[:n]
    long = [(b"k" * 300, b"v" * 70000)]
    assert zipmap_decode(zipmap_encode(long)) == long


# ---------------------------------------------------------------------------
# errors: FormatError and nothing else, with offsets into the file


def test_error_offsets_are_absolute_and_lzf_is_named():
    lp = bytearray(listpack_encode([b"abc", 5]))
    lp[6 + 4] = 9  # wrong backlen of the first entry
    with pytest.raises(FormatError) as exc:
        listpack_decode(bytes(lp), base=1000)
    assert exc.value.offset == 1000 + 10 and exc.value.expected == "04"
    with pytest.raises(FormatError) as exc:
        listpack_decode(bytes(lp), base=1000, lzf=True)
    assert exc.value.offset == 1000 and "byte 10 of the LZF-decompressed blob" in exc.value.message
    zl = bytearray(ziplist_encode([b"a", b"b"]))
    zl[8] = 3  # zllen
    with pytest.raises(FormatError) as exc:
        ziplist_decode(bytes(zl), base=50)
    assert exc.value.offset == 58 and (exc.value.expected, exc.value.found) == ("2", "3")
    assert ziplist_decode(bytes(zl), deep=False) == [b"a", b"b"]


ALL_DECODERS = [listpack_decode, ziplist_decode, intset_decode, zipmap_decode]
ALL_COUNTERS = [listpack_count, ziplist_count, intset_count, zipmap_count]


def _only_format_errors(decoder, data: bytes) -> None:
    for deep in (True, False):
        try:
            decoder(data, 0, deep=deep)
        except FormatError:
            pass


def _sample_blobs() -> list[tuple[int, bytes]]:
    """A few small real blobs of each kind (newest folder holding each type)."""
    picked: dict[int, bytes] = {}
    for folder in reversed(real_folders()):
        exp = load_expected(folder.name)
        for dump in exp["dumps"]:
            if dump["encoding"] not in BLOB_ENCODINGS:
                continue
            _, blobs = dump_payload_blobs(folder / dump["file"])
            for b in blobs:
                if not b.plain and len(b.data) < 400:
                    picked.setdefault(b.rdb_type, b.data)
    picked.setdefault(9, zipmap_encode([(b"name", b"value"), (b"k" * 260, b"12")]))
    return sorted(picked.items())


DECODER_OF = {9: zipmap_decode, 10: ziplist_decode, 11: intset_decode, 12: ziplist_decode,
              13: ziplist_decode, 14: ziplist_decode, 16: listpack_decode,
              17: listpack_decode, 18: listpack_decode, 20: listpack_decode}


def test_truncation_at_every_offset_is_a_format_error():
    samples = _sample_blobs()
    assert {9, 11} <= {t for t, _ in samples} and len(samples) >= 4
    for rdb_type, data in samples:
        decoder = DECODER_OF[rdb_type]
        decoder(data)  # the whole blob is valid
        for cut in range(len(data)):
            with pytest.raises(FormatError):
                decoder(data[:cut], 0, deep=False)
            for count in ALL_COUNTERS:
                try:
                    count(data[:cut])
                except FormatError:
                    pass


def test_every_byte_flip_gives_format_error_or_valid_decode():
    rng = random.Random(7)
    for rdb_type, data in _sample_blobs():
        decoder = DECODER_OF[rdb_type]
        for i in range(len(data)):
            for new in {data[i] ^ 0xFF, data[i] ^ 0x01, data[i] ^ 0x80, rng.randrange(256)}:
                bad = data[:i] + bytes((new,)) + data[i + 1:]
                for other in ALL_DECODERS:
                    _only_format_errors(other, bad)
                for count in ALL_COUNTERS:
                    try:
                        count(bad)
                    except FormatError:
                        pass
                try:
                    values = decoder(bad)
                except FormatError:
                    continue
                # Still valid: then it must mean what it says (decode is stable).
                assert decoder(bad, 0, deep=False) == values


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_crash(data):
    for decoder in ALL_DECODERS:
        _only_format_errors(decoder, data)
    for count in ALL_COUNTERS:
        try:
            count(data)
        except FormatError:
            pass
    # Random bytes behind a valid-looking header too.
    lp = (len(data) + 7).to_bytes(4, "little") + b"\x01\x00" + data + b"\xff"
    _only_format_errors(listpack_decode, lp)
    zl = (len(data) + 11).to_bytes(4, "little") + b"\x0a\x00\x00\x00\x01\x00" + data + b"\xff"
    _only_format_errors(ziplist_decode, zl)
    _only_format_errors(zipmap_decode, b"\x01" + data + b"\xff")


# ---------------------------------------------------------------------------
# Hypothesis round trips

INT_EDGES = [0, 1, 12, 13, 127, 128, -1, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768,
             -32768, -32769, 8388607, 8388608, -8388608, -8388609, 2**31 - 1, 2**31, -2**31,
             -2**31 - 1, 2**63 - 1, -2**63]
LEN_EDGES = [0, 1, 63, 64, 251, 252, 253, 254, 255, 4095, 4096, 16383, 16384]


def _sized_bytes(n: int):
    return st.binary(min_size=n, max_size=n)


ints = st.one_of(st.sampled_from(INT_EDGES), st.integers(-2**63, 2**63 - 1))
strings = st.one_of(st.binary(max_size=80),
                    st.sampled_from(LEN_EDGES).flatmap(_sized_bytes),
                    st.sampled_from([b"-0", b"007", b"+5", b"1.5", b"9223372036854775808"]))
items = st.lists(st.one_of(ints, strings), max_size=30)


def _expected_items(values: list) -> list:
    """What the codecs give back: integer-looking strings come back as ints."""
    out = []
    for v in values:
        if isinstance(v, bytes) and canonical_int(v) is not None:
            out.append(canonical_int(v))
        else:
            out.append(v)
    return out


@settings(max_examples=200, deadline=None)
@given(items)
def test_listpack_round_trip(values):
    blob = listpack_encode(values)
    assert listpack_decode(blob) == _expected_items(values)
    assert listpack_count(blob) == len(values)
    assert listpack_encode(listpack_decode(blob)) == blob


@settings(max_examples=200, deadline=None)
@given(items, st.sets(st.integers(0, 29)))
def test_ziplist_round_trip(values, wide):
    blob = ziplist_encode(values)
    assert ziplist_decode(blob) == _expected_items(values)
    assert ziplist_count(blob) == len(values)
    assert ziplist_encode(ziplist_decode(blob)) == blob
    # Wide prevlens (as left by cascade updates) decode the same and are recovered.
    widened = ziplist_encode(values, wide_prevlen=wide)
    assert ziplist_decode(widened) == _expected_items(values)
    hint = ziplist_wide_prevlens(widened)
    assert hint <= wide and ziplist_encode(values, wide_prevlen=hint) == widened


@settings(max_examples=200, deadline=None)
@given(st.lists(ints, min_size=1, max_size=60), st.sampled_from([None, 2, 4, 8]))
def test_intset_round_trip(values, width):
    need = max(8 if not -2**31 <= v < 2**31 else 4 if not -2**15 <= v < 2**15 else 2
               for v in values)
    if width is not None and width < need:
        with pytest.raises(ValueError):
            intset_encode(values, width)
        return
    blob = intset_encode(values, width)
    assert intset_decode(blob) == sorted(set(values))
    assert intset_width(blob) == (width or need)
    assert intset_count(blob) == len(set(values))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(strings, strings, min_size=1, max_size=20))
def test_zipmap_round_trip(mapping):
    pairs = list(mapping.items())
    blob = zipmap_encode(pairs)
    assert zipmap_decode(blob) == pairs
    assert zipmap_count(blob) == len(pairs)


def test_public_zipmap_big_len_is_rejected():
    """The one public zipmap Redis rejects really is rejected (count byte 0xFF)."""
    path = PUBLIC / "HDT3213__rdb" / "zipmap_big_len.rdb"
    if not path.is_file():
        pytest.skip("public corpus not present")
    blobs, _ = walk_old_rdb(path.read_bytes())
    zipmaps = [b for b in blobs if b.rdb_type == 9]
    assert zipmaps
    with pytest.raises(FormatError, match="zmlen"):
        zipmaps[0].decode()
    # The pairs themselves are intact: a quick (non-deep) decode still reads them.
    assert zipmaps[0].decode(deep=False)



def _size_probe_items():
    ints = [0, 12, 13, 127, 128, -1, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768, -32769,
            8388607, 8388608, -8388609, 2**31 - 1, 2**31, -2**31 - 1, 2**63 - 1, -2**63]
    items = [str(v).encode() for v in ints] + [b"007", b"-0", b"+1", b"9223372036854775808", b""]
    # string lengths across every header and backlen boundary (listpack backlen: 127/16383/...)
    for n in (1, 63, 64, 125, 126, 127, 128, 4093, 4094, 4095, 4096, 16379, 16380, 16381, 16382, 16383, 16384):
        items.append(b"x" * n)
    return items


def test_listpack_entry_size_is_what_the_encoder_writes():
    from persistkit.kvencoding.listpack import encode_entry, entry_size

    for item in _size_probe_items():
        assert entry_size(item) == len(encode_entry(item)), item[:30]


def test_ziplist_entry_size_is_what_the_encoder_writes():
    from persistkit.kvencoding.ziplist import entry_size

    items = _size_probe_items()
    for i in range(len(items)):
        run = items[max(0, i - 1):i + 1]          # the entry and the one before it (prevlen width)
        prev = entry_size(run[0], 0) if len(run) == 2 else 0
        expected = len(ziplist_encode(run)) - (len(ziplist_encode(run[:1])) if len(run) == 2 else 11)
        assert entry_size(run[-1], prev) == expected, run[-1][:30]
