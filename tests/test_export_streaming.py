"""export never holds a big collection whole, in every format and on both accelerator
paths: a set far bigger than the reader's window is written while it is read.

The measure is tracemalloc's peak during the export against the peak of decoding the
same value into a list (what a writer that collects the value first would hold).
"""

from __future__ import annotations

import io
import tracemalloc

import pytest

from persistkit import accel
from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.lengths import encode_length, encode_string
from persistkit.rdbtools import exportfast
from persistkit.rdbtools.export import FORMATS, export_rdb
from persistkit.rdbtools.reader import read_rdb

N = 100_000
# The compiled walk renders a value whole from its input window up to 4 MB / 262,144
# elements; lowered here so that this set is one that both paths stream through the
# reader, as they do a 10M-member set.
COMPILED_WINDOW_MAX = 1 << 16
COMPILED_MAX_ITEMS = 1000


class _CountingSink(io.RawIOBase):
    """A binary output that keeps only a byte count (the CSV writer wraps it in text)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def writable(self):
        return True

    def write(self, b):
        self.n += len(b)
        return len(b)

    def close(self):
        pass


def _set_rdb(n: int) -> bytes:
    body = b"REDIS0009\xfe\x00\x02" + encode_string(b"bigset", compress=False) + encode_length(n)
    body += b"".join(encode_string(b"member:%09d" % i, compress=False) for i in range(n))
    body += b"\xff"
    return body + crc64(body).to_bytes(8, "little")


@pytest.fixture(scope="module")
def big_set_rdb(tmp_path_factory) -> tuple:
    data = _set_rdb(N)
    path = tmp_path_factory.mktemp("bigset") / "bigset.rdb"
    path.write_bytes(data)
    tracemalloc.start()
    held = read_rdb(data)
    held_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(held[2].value) == N
    return path, held_peak


@pytest.mark.parametrize("pure", [True, False], ids=["pure", "compiled"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_big_set_is_written_while_read(big_set_rdb, fmt, pure, monkeypatch):
    monkeypatch.setattr(exportfast, "MAX_ITEMS", COMPILED_MAX_ITEMS)
    monkeypatch.setattr(exportfast, "WINDOW_MAX", COMPILED_WINDOW_MAX)
    path, held_peak = big_set_rdb
    sink = _CountingSink()
    with accel.forced_pure(pure):
        export_rdb("warm-up.rdb", fmt, _CountingSink(), data=_set_rdb(10))  # lazy imports, caches
        tracemalloc.start()
        stats = export_rdb(path, fmt, sink)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert stats["keys"] == 1
    assert sink.n > 16 * N  # every member was written
    # Decoding the value holds 100k bytes objects plus the list (~10 MB); streaming holds
    # the input window and one batch.
    assert peak < held_peak / 3, (peak, held_peak)
