#!/usr/bin/env python3
"""Split an RDB into N shard files by key hash, the way a cluster spreads keys, for the
``memory --jobs`` benchmark.

Each key record is copied byte for byte (so every shard holds exactly what the server
wrote for its keys); a shard gets the source's header and AUX fields, a SELECTDB before
its first key of each db, and a fresh EOF + CRC64.

  python3 bench/split_rdb.py bench/data/big-v10.rdb --shards 8    # -> bench/data/shards-v10/shard-N.rdb
"""
from __future__ import annotations

import argparse
import mmap
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from persistkit.kvencoding.crc64 import crc64  # noqa: E402
from persistkit.rdbtools import model  # noqa: E402
from persistkit.rdbtools.reader import RDBReader  # noqa: E402


class Shard:
    def __init__(self, path: Path) -> None:
        self.f = open(path, "wb", buffering=1 << 20)
        self.crc = 0
        self.db = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def write(self, data) -> None:
        self.pending.append(bytes(data))
        self.pending_bytes += len(data)
        if self.pending_bytes >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            blob = b"".join(self.pending)
            self.crc = crc64(blob, self.crc)
            self.f.write(blob)
            self.pending = []
            self.pending_bytes = 0

    def close(self) -> None:
        self.write(b"\xff")
        self.flush()
        self.f.write(self.crc.to_bytes(8, "little"))
        self.f.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rdb")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--out", default=None, help="folder (default bench/data/shards-<suffix>)")
    a = ap.parse_args()
    src = Path(a.rdb)
    suffix = src.stem.split("-")[-1]
    out = Path(a.out) if a.out else src.parent / f"shards-{suffix}"
    out.mkdir(parents=True, exist_ok=True)
    shards = [Shard(out / f"shard-{i}.rdb") for i in range(a.shards)]
    with open(src, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        header = mm[:9]
        for s in shards:
            s.write(header)
        with open(src, "rb") as stream:
            for item in RDBReader(stream, decode=False, strict_crc=False):
                cls = item.__class__
                if cls is model.Aux:
                    raw = mm[item.offset:item.offset + item.length]
                    for s in shards:
                        s.write(raw)
                elif cls is model.Record:
                    s = shards[zlib.crc32(item.key) % a.shards]
                    if s.db != item.db:
                        s.write(b"\xfe" + bytes([item.db]))   # dbs below 64: a 1-byte length
                        s.db = item.db
                    s.write(mm[item.offset:item.offset + item.length])
    for s in shards:
        s.close()
    print(f"{a.shards} shards in {out}")


if __name__ == "__main__":
    main()
