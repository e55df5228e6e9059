"""The compiled blob primitives (persistkit/_accel/blobs.pxd) against the pure codecs.

For every blob of the corpus and for seeded mutations of them (truncations, bit flips,
byte overwrites, inserted and deleted bytes, with and without the header fixed up so
the damage is met deeper inside): the compiled iterator gives the same elements as the
pure decoder, or rejects exactly the bytes the pure decoder raises a FormatError on.
The same for RDB lengths, RDB strings and LZF.
"""

from __future__ import annotations

import random

import pytest

from accel_corpus import corpus_blobs
from persistkit import accel
from persistkit.kvencoding import lzf as pure_lzf
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.intset import intset_decode
from persistkit.kvencoding.lengths import read_length_or_encoding, read_string
from persistkit.kvencoding.listpack import canonical_int, listpack_decode, listpack_encode
from persistkit.kvencoding.source import ByteSource
from persistkit.kvencoding.streamnode import decode_stream_node
from persistkit.kvencoding.ziplist import ziplist_decode
from persistkit.kvencoding.zipmap import zipmap_decode

blobs = accel.compiled_available("blobs")
pytestmark = pytest.mark.skipif(blobs is None, reason="compiled accelerator not built")

REJECTED = "rejected"
SHORT = "short"


def _text(x):
    return x if type(x) is bytes else str(x).encode()


def pure(kind: str, blob: bytes, master: bytes | None):
    try:
        if kind == "listpack":
            return listpack_decode(blob)
        if kind == "ziplist":
            return ziplist_decode(blob)
        if kind == "intset":
            return intset_decode(blob)
        if kind == "zipmap":
            return zipmap_decode(blob)
        node = decode_stream_node(master, blob)
        return ([_text(f) for f in node.master_fields],
                [(e.id, e.deleted, [(_text(f), _text(v)) for f, v in e.fields])
                 for e in node.entries])
    except FormatError:
        return REJECTED


def compiled(kind: str, blob: bytes, master: bytes | None):
    try:
        if kind == "listpack":
            return blobs.listpack_items(blob)
        if kind == "ziplist":
            return blobs.ziplist_items(blob)
        if kind == "intset":
            return blobs.intset_items(blob)
        if kind == "zipmap":
            return blobs.zipmap_items(blob)
        fields, entries = blobs.stream_node_entries(master, blob)
        return fields, [((ms_seq[0], ms_seq[1]), d, f) for ms_seq, d, f in entries]
    except blobs.BlobRejected:
        return REJECTED


def _fix_header(kind: str, b: bytearray) -> bytearray:
    """Make the outer header agree with the (mutated) size, so the walk goes deeper."""
    if kind in ("listpack", "stream", "ziplist") and len(b) >= 4:
        b[0:4] = len(b).to_bytes(4, "little")
        b[-1] = 0xFF
    elif kind == "zipmap" and b:
        b[-1] = 0xFF
    return b


def mutations(kind: str, blob: bytes, rng: random.Random, n: int):
    for _ in range(n):
        b = bytearray(blob)
        how = rng.randrange(6)
        if how == 0 and len(b) > 1:
            b = b[:rng.randrange(len(b))]
        elif how == 1 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif how == 2 and b:
            i = rng.randrange(len(b))
            b[i] = rng.choice((0, 0x7F, 0x80, 0xBF, 0xC0, 0xE0, 0xF0, 0xF1, 0xF4, 0xFE, 0xFF,
                               rng.randrange(256)))
        elif how == 3:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
        elif how == 4 and len(b) > 2:
            i = rng.randrange(len(b) - 1)
            del b[i:i + rng.randint(1, 3)]
        else:
            b = bytearray(rng.randbytes(rng.randrange(16)))
        if rng.random() < 0.7:
            b = _fix_header(kind, b)
        yield bytes(b)


def test_corpus_has_every_kind_of_blob():
    kinds = {k for k, *_ in corpus_blobs()}
    assert kinds == {"listpack", "ziplist", "intset", "zipmap", "stream"}


def test_every_corpus_blob_decodes_the_same():
    rejected = 0
    for kind, blob, master, name in corpus_blobs():
        want = pure(kind, blob, master)
        got = compiled(kind, blob, master)
        assert got == want, (kind, name, blob[:40])
        rejected += want == REJECTED
    assert rejected >= 1  # corrupt_ziplist.rdb and friends


def _sample():
    """Every listpack/zipmap/stream/intset blob, and a seeded sample of the ziplists."""
    rng = random.Random(7)
    by_kind: dict = {}
    for entry in corpus_blobs():
        by_kind.setdefault(entry[0], []).append(entry)
    out = []
    for kind, entries in sorted(by_kind.items()):
        out += entries if len(entries) <= 400 else rng.sample(entries, 400)
    return out


def test_mutated_blobs_decode_the_same():
    rng = random.Random(20261207)
    counts = {REJECTED: 0, "accepted": 0}
    for kind, blob, master, name in _sample():
        for m in mutations(kind, blob, rng, 12):
            want = pure(kind, m, master)
            got = compiled(kind, m, master)
            assert got == want, (kind, name, blob.hex(), m.hex())
            counts[REJECTED if want == REJECTED else "accepted"] += 1
    assert counts[REJECTED] > 1000 and counts["accepted"] > 100, counts


def test_stream_nodes_with_damaged_layout():
    # Valid listpacks whose stream layout is wrong (counts, flags, lp-count): the
    # listpack checks pass, the stream rules must reject them in both.
    rng = random.Random(3)
    streams = [e for e in corpus_blobs() if e[0] == "stream"]
    assert streams
    tried = 0
    for _, blob, master, _ in streams[:60]:
        items = listpack_decode(blob)
        for _ in range(20):
            items2 = list(items)
            i = rng.randrange(len(items2))
            items2[i] = rng.choice((0, 1, 2, 3, -1, 10 ** 6, b"x", b"7", b"-0", str(items2[i]).encode()))
            lp = listpack_encode(items2)
            assert compiled("stream", lp, master) == pure("stream", lp, master)
            tried += 1
    assert tried > 100


# ---------------------------------------------------------------------------
# RDB lengths, strings, LZF


def _pure_length(data: bytes):
    src = ByteSource(data)
    try:
        v, enc = read_length_or_encoding(src)
    except TruncatedError:
        return SHORT
    except FormatError:
        return REJECTED
    return v, enc, src.pos


def _compiled_length(data: bytes):
    try:
        return blobs.read_length(data)
    except blobs.BlobShort:
        return SHORT
    except blobs.BlobRejected:
        return REJECTED


def _pure_string(data: bytes):
    src = ByteSource(data)
    try:
        return read_string(src), src.pos
    except TruncatedError:
        return SHORT
    except FormatError:
        return REJECTED


def _compiled_string(data: bytes):
    try:
        v, _, pos = blobs.read_string(data)
        return v, pos
    except blobs.BlobShort:
        return SHORT
    except blobs.BlobRejected:
        return REJECTED


def test_lengths_and_strings_match_the_pure_codec():
    rng = random.Random(11)
    seeds = [b"\x05hello", b"\x40\x05hello", b"\x80\x00\x00\x00\x03abc",
             b"\x81" + (2).to_bytes(8, "big") + b"ab", b"\xc0\x80", b"\xc1\x00\x80",
             b"\xc2\x00\x00\x00\x80", b"\xc4", b"\xbf", b"\x00"]
    for s in (b"a" * 100, b"abcabcabcabcabcabcabcabcabcabc" * 5, bytes(range(256)) * 3):
        packed = pure_lzf.compress(s)
        seeds.append(b"\xc3" + bytes([len(packed)]) if len(packed) < 64 else b"")
        from persistkit.kvencoding.lengths import encode_length
        seeds.append(b"\xc3" + encode_length(len(packed)) + encode_length(len(s)) + packed)
    n = 0
    for seed in seeds:
        for m in [seed] + [bytes(x) for x in mutations("raw", seed, rng, 200)]:
            assert _compiled_length(m) == _pure_length(m), m.hex()
            assert _compiled_string(m) == _pure_string(m), m.hex()
            n += 1
    assert n > 2000


def test_lzf_matches_the_pure_decoder():
    rng = random.Random(5)
    outcomes = set()
    for _ in range(3000):
        text = rng.choice((b"abc", b"hello world ", bytes(range(40)))) * rng.randint(1, 40)
        packed = bytearray(pure_lzf.compress(text))
        ulen = len(text)
        if rng.random() < 0.8:
            how = rng.randrange(4)
            if how == 0:
                packed = packed[:rng.randrange(len(packed) + 1)]
            elif how == 1:
                packed[rng.randrange(len(packed))] ^= 1 << rng.randrange(8)
            elif how == 2:
                ulen += rng.choice((-2, -1, 1, 2, 10 ** 6))
            else:
                packed[rng.randrange(len(packed))] = rng.randrange(256)
        try:
            want = pure_lzf.decompress_py(bytes(packed), ulen)
        except FormatError:
            want = REJECTED
        try:
            got = blobs.lzf_decompress(bytes(packed), ulen)
        except blobs.BlobRejected:
            got = REJECTED
        assert got == want, (packed.hex(), ulen)
        assert blobs.lzf_valid(bytes(packed), ulen) == (want != REJECTED)
        outcomes.add(want == REJECTED)
    assert outcomes == {True, False}


def test_canonical_int_matches():
    rng = random.Random(9)
    cases = [b"0", b"-0", b"00", b"1", b"-1", b"9223372036854775807", b"9223372036854775808",
             b"-9223372036854775808", b"-9223372036854775809", b"", b"-", b"+1", b" 1", b"1 ",
             b"12a", b"99999999999999999999", b"18446744073709551616"]
    for _ in range(5000):
        cases.append(bytes(rng.choice(b"-0123456789a") for _ in range(rng.randint(0, 21))))
    for c in cases:
        assert blobs.parse_canonical_int(c) == canonical_int(c), c
