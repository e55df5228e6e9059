"""Stream listpack nodes against real servers.

Oracles: every stream node in the dump.rdb of each real-corpus folder (entries
compared with expected.json), the stream nodes of the public corpus files, and a
live redis-server whose DUMP payloads are compared with XRANGE. Every real node
must re-encode to the exact bytes the server wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from corpus import PUBLIC, bstr, load_expected, real_ids
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import read_length, read_string
from persistkit.kvencoding.listpack import listpack_decode, listpack_encode
from persistkit.kvencoding.source import ByteSource
from persistkit.kvencoding.streamnode import decode_stream_node, encode_stream_node
from persistkit.rdbtools.model import StreamEntry, StreamNode
from test_blobs import STREAM_TYPES, key_occurrences, rdb_string, walk_old_rdb_until

U64 = (1 << 64) - 1


def read_nodes(src: ByteSource) -> list[tuple[bytes, bytes, int, bool]]:
    """(master key, listpack, listpack offset, was LZF) of each node of a stream value."""
    nodes = []
    for _ in range(read_length(src)):
        key = read_string(src)
        lp, offset, lzf = rdb_string(src)
        nodes.append((key, lp, offset, lzf))
    return nodes


def check_node_round_trip(key: bytes, lp: bytes, offset: int, lzf: bool) -> StreamNode:
    node = decode_stream_node(key, lp, offset, lzf=lzf)
    assert encode_stream_node(node) == (key, lp)
    assert decode_stream_node(key, lp, offset, deep=False, lzf=lzf) == node
    return node


def live_entries(nodes: list[StreamNode]) -> list[tuple[str, list]]:
    return [(f"{e.id[0]}-{e.id[1]}", e.fields) for n in nodes for e in n.entries if not e.deleted]


# ---------------------------------------------------------------------------
# real corpus: dump.rdb


@pytest.mark.parametrize("folder", real_ids())
def test_corpus_stream_nodes_match_expected_and_reencode(folder):
    exp = load_expected(folder)
    root = exp["_root"]
    rdb = (Path(root) / "dump.rdb").read_bytes()
    streams = [k for k in exp["states"]["snapshot"]["keys"] if k["type"] == "stream"]
    assert streams
    total_nodes = deleted = 0
    for entry in streams:
        key = bstr(entry["key"], root)
        value = entry["value"]
        want = [(e["id"], [(bstr(f, root), bstr(v, root)) for f, v in e["fields"]])
                for e in value["entries"]]
        matched = None
        for _, pos in key_occurrences(rdb, key, STREAM_TYPES):
            src = ByteSource(rdb)
            src.pos = pos
            try:
                raw = read_nodes(src)
                nodes = [check_node_round_trip(*r) for r in raw]
            except FormatError:
                continue  # a false hit of the key bytes elsewhere in the file
            if live_entries(nodes) == want:
                matched = nodes
                break
        assert matched is not None, f"{folder}: stream {key!r} not found or differs"
        assert sum(1 for n in matched for e in n.entries if not e.deleted) == value["length"]
        total_nodes += len(matched)
        deleted += sum(e.deleted for n in matched for e in n.entries)
    # stream:main spans many nodes and had XDEL/XTRIM: deleted entries are kept.
    assert total_nodes >= 10 and deleted >= 1


# ---------------------------------------------------------------------------
# public corpus: stream nodes of old files


def first_stream_nodes(data: bytes):
    """Nodes of the first stream of an RDB file, if the minimal walk reaches one."""
    _, src, stop = walk_old_rdb_until(data)
    if stop not in STREAM_TYPES:
        return []
    src.pos += 1
    read_string(src)  # the key
    return read_nodes(src)


def test_public_stream_nodes_reencode_identically():
    if not PUBLIC.is_dir():
        pytest.skip("public corpus not present")
    nodes_seen = 0
    for path in sorted(PUBLIC.rglob("*stream*.rdb")):
        try:
            raw = first_stream_nodes(path.read_bytes())
        except FormatError:
            continue
        for r in raw:
            check_node_round_trip(*r)
            nodes_seen += 1
    assert nodes_seen >= 10


# ---------------------------------------------------------------------------
# live server: DUMP payloads vs XRANGE


def _payload_nodes(payload: bytes):
    body = payload[:-10]
    assert body[0] in STREAM_TYPES
    src = ByteSource(body)
    src.pos = 1
    return read_nodes(src)


@pytest.mark.redis
def test_live_server_stream_nodes(redis_server):
    r = redis_server.client()
    r.config_set("stream-node-max-entries", 4)
    # Same fields as the master (SAMEFIELDS), other fields, integer-looking names
    # and values, a repeated field, a large value, deletions incl. the master entry.
    r.xadd("s", {"a": "1", "b": "x"}, id="5-10")
    r.xadd("s", {"a": "2", "b": "y"}, id="6-0")        # ms +1, seq delta -10
    r.xadd("s", {"1": "007", "-5": "-0"}, id="6-1")
    r.execute_command("XADD", "s", "7-3", "f", "v", "f", "w")
    r.xadd("s", {"a": "z" * 5000, "b": ""}, id="8-0")
    for i in range(9, 30):
        r.xadd("s", {"a": str(i * 1000), "b": "n"}, id=f"{i}-{i % 3}")
    r.xdel("s", "5-10", "7-3", "12-0", "13-1", "14-2", "15-0")
    # An ID gap wider than int64: the ms delta wraps around in 64 bits.
    r.xadd("wrap", {"k": "v"}, id="0-1")
    r.xadd("wrap", {"k": "w"}, id=f"{U64 - 1}-{U64}")
    # Exact trimming marks entries deleted inside a node.
    for i in range(1, 8):
        r.xadd("trim", {"n": str(i)}, id=f"{i}-0")
    r.xtrim("trim", maxlen=5, approximate=False)

    for key in ("s", "wrap", "trim"):
        raw = _payload_nodes(r.dump(key))
        nodes = [check_node_round_trip(*x) for x in raw]
        want = [(eid, [(fields[i], fields[i + 1]) for i in range(0, len(fields), 2)])
                for eid, fields in _raw_xrange(r, key)]
        assert live_entries(nodes) == want, key
        if key == "s":
            assert len(nodes) > 2
            # First node: 5-10 (same fields, deleted), 6-0 (same fields), 6-1 and
            # 7-3 (other fields; 7-3 deleted).
            assert _entry_flags(raw[0]) == [3, 2, 0, 1]


def _raw_xrange(r, key):
    """XRANGE without redis-py's dict parsing (repeated fields must stay)."""
    r.set_response_callback("XRANGE", lambda reply, **kw: reply)
    return [(eid.decode(), fields) for eid, fields in r.execute_command("XRANGE", key, "-", "+")]


def _entry_flags(raw_node) -> list[int]:
    """The flags element of each entry of a node, walking the raw elements."""
    _, lp, _, _ = raw_node
    items = listpack_decode(lp)
    nfields = items[2]
    pos = 3 + nfields + 1
    flags = []
    while pos < len(items):
        f = items[pos]
        flags.append(f)
        # flags, ms, seq, [values] or [n, pairs], lp-count
        pos += (3 + nfields if f & 2 else 4 + 2 * items[pos + 3]) + 1
    return flags


# ---------------------------------------------------------------------------
# validation and robustness


def _node_bytes():
    node = StreamNode((100, 5), [b"a", b"b"], [
        StreamEntry((100, 5), [(b"a", b"1"), (b"b", b"x")]),
        StreamEntry((100, 6), [(b"c", b"2")], deleted=True),
        StreamEntry((101, 0), [(b"a", b"-7"), (b"b", b"y" * 70)]),
    ])
    return node, *encode_stream_node(node)


def test_encode_layout_matches_stream_append_item():
    node, key, lp = _node_bytes()
    assert key == (100).to_bytes(8, "big") + (5).to_bytes(8, "big")
    assert listpack_decode(lp) == [
        2, 1, 2, b"a", b"b", 0,             # master: valid, deleted, fields, names, 0
        2, 0, 0, 1, b"x", 5,                # SAMEFIELDS, deltas, values, lp-count 2+3
        1, 0, 1, 1, b"c", 2, 6,             # DELETED, deltas, 1 field, pair, lp-count 1+1+3+1
        2, 1, -5, -7, b"y" * 70, 5,         # seq delta below the master's: negative
    ]
    assert decode_stream_node(key, lp) == node


def test_node_errors_are_format_errors():
    node, key, lp = _node_bytes()
    items = listpack_decode(lp)
    bad_count = list(items)
    bad_count[0] = 3
    with pytest.raises(FormatError, match="counts"):
        decode_stream_node(key, listpack_encode(bad_count))
    bad_lp_count = list(items)
    bad_lp_count[11] = 9
    bad_lp = listpack_encode(bad_lp_count)
    with pytest.raises(FormatError, match="lp-count") as exc:
        decode_stream_node(key, bad_lp, base=500)
    # The offset is the file offset of the entry's first element (its flags, element
    # 6): right after the six master-entry elements (a listpack of those, minus 0xFF).
    assert exc.value.offset == 500 + len(listpack_encode(items[:6])) - 1
    bad_master = list(items)
    bad_master[5] = 1
    with pytest.raises(FormatError, match="master entry"):
        decode_stream_node(key, listpack_encode(bad_master))
    bad_deleted = list(items)
    bad_deleted[12] = 0  # clear the DELETED flag: counts say 2 valid + 1 deleted
    with pytest.raises(FormatError, match="deleted"):
        decode_stream_node(key, listpack_encode(bad_deleted))
    with pytest.raises(FormatError):
        decode_stream_node(key[:15], lp)
    for cut in range(len(items)):
        try:
            decode_stream_node(key, listpack_encode(items[:cut]))
        except FormatError:
            pass
        else:
            raise AssertionError(f"cut at element {cut} accepted")


def test_node_byte_flips_only_format_errors():
    _, key, lp = _node_bytes()
    for i in range(len(lp)):
        for x in (0x01, 0x80, 0xFF):
            bad = lp[:i] + bytes((lp[i] ^ x,)) + lp[i + 1:]
            for deep in (True, False):
                try:
                    decode_stream_node(key, bad, deep=deep)
                except FormatError:
                    pass


ids = st.tuples(st.integers(0, U64), st.integers(0, U64))
texts = st.one_of(st.binary(max_size=20), st.sampled_from([b"0", b"-1", b"12", b"007", b"-0"]),
                  st.integers(-2**63, 2**63 - 1).map(lambda v: str(v).encode()))


@st.composite
def stream_nodes(draw):
    master_fields = draw(st.lists(texts, min_size=1, max_size=4))
    entries = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            fields = [(f, draw(texts)) for f in master_fields]
        else:
            fields = draw(st.lists(st.tuples(texts, texts), min_size=1, max_size=4))
        entries.append(StreamEntry(draw(ids), fields, draw(st.booleans())))
    return StreamNode(draw(ids), master_fields, entries)


@settings(max_examples=200, deadline=None)
@given(stream_nodes())
def test_stream_node_round_trip(node):
    key, lp = encode_stream_node(node)
    assert decode_stream_node(key, lp) == node
    assert encode_stream_node(decode_stream_node(key, lp)) == (key, lp)

