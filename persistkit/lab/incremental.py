"""The incremental-snapshot trade-off: when does tracking changed keys cost more than
writing every key again?

A full snapshot writes every record. An incremental one writes only the keys changed
since the last snapshot, but it must *track* them between snapshots and *order* them
for the merge at load time. The model, per changed key:

* tracking, in memory until the next snapshot: one entry in a set of changed keys that
  points at the keyspace's own key object (no copy of the name): a dict entry of three
  pointers (24 bytes) plus its bucket pointer (8 bytes at load factor 1) = 32 bytes,
  the sizes of Redis's own ``dictEntry`` and table (dict.h);
* ordering, on disk: an 8-byte change sequence number with each delta record, so that
  a chain of deltas can be merged in order;
* the delta record itself is the same bytes as the key's record in a full snapshot.

So a change costs ``m = 40`` bytes of metadata on top of the record, and an unchanged
key saves its record ``r``. With a fraction ``f`` of N keys changed, tracking costs
``f*N*m`` and saves ``(1-f)*N*r``: it costs more than it saves once
``f > r / (r + m)``. The record sizes ``r`` are measured: records of each value size
are written by the engine's RDB writer (the format Redis writes), with incompressible
values, and the file size per key is taken.
"""

from __future__ import annotations

import io
import random

TRACKING_MEMORY_BYTES = 32     # dictEntry (3 pointers) + bucket pointer
ORDERING_DISK_BYTES = 8        # change sequence number per delta record
METADATA_BYTES = TRACKING_MEMORY_BYTES + ORDERING_DISK_BYTES

VALUE_SIZES = (8, 32, 128, 512, 2048, 8192, 32768)
SAMPLE_KEYS = 400


def record_bytes(value_size: int, keys: int = 0, seed: int = 11) -> float:
    """Bytes per key of an RDB holding ``keys`` strings of ``value_size`` random bytes
    under 10-byte names (the lab workload's key names), header and trailer left out.
    The default sample holds about 1 MB (every record of one size has the same length,
    so a few keys measure it exactly)."""
    from ..kvengine.keyspace import Keyspace

    keys = keys or max(16, min(SAMPLE_KEYS, (1 << 20) // max(1, value_size)))
    from ..kvengine.rdbfile import write_rdb

    rng = random.Random(seed + value_size)
    ks = Keyspace()
    for n in range(keys):
        ks.apply([b"SET", b"k:%08d" % n, rng.randbytes(value_size)])
    empty, full = io.BytesIO(), io.BytesIO()
    write_rdb(Keyspace(), empty)
    write_rdb(ks, full)
    return (len(full.getvalue()) - len(empty.getvalue())) / keys


def break_even_fraction(record: float, metadata: float = METADATA_BYTES) -> float:
    """The changed fraction above which tracking costs more than it saves."""
    return record / (record + metadata)


def incremental_bytes(record: float, fraction: float, metadata: float = METADATA_BYTES) -> float:
    """Bytes per key (of the whole keyspace) an incremental snapshot costs: the changed
    records plus their metadata."""
    return fraction * (record + metadata)


def table(value_sizes=VALUE_SIZES, cow_per_key: dict | None = None) -> dict:
    """The trade-off per value size. ``cow_per_key`` (server -> bytes per rewritten key,
    from the copy-on-write runs) is put beside it: what a fork snapshot pays per changed
    key, in whole pages."""
    rows = []
    for vs in value_sizes:
        r = record_bytes(vs)
        rows.append({
            "value_bytes": vs,
            "record_bytes": round(r, 1),
            "metadata_bytes": METADATA_BYTES,
            "metadata_per_record": round(METADATA_BYTES / r, 3),
            "break_even_fraction": round(break_even_fraction(r), 4),
            "incremental_vs_full_at_10pct": round(incremental_bytes(r, 0.10) / r, 4),
            "incremental_vs_full_at_50pct": round(incremental_bytes(r, 0.50) / r, 4),
        })
    return {
        "model": ("per changed key: 32 bytes of tracking in memory (a dict entry of 3 pointers + its bucket "
                  "pointer, pointing at the keyspace's key) + 8 bytes of change sequence number on disk; an "
                  "unchanged key saves its whole record; record sizes measured from RDBs of random values "
                  "under 10-byte key names"),
        "metadata_bytes_per_changed_key": METADATA_BYTES,
        "rows": rows,
        "cow_bytes_per_rewritten_key": cow_per_key or {},
    }
