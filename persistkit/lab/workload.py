"""The lab's fixed, seeded workload.

Every write of the loss runs creates its own key, ``w:<seq>``, so that "which
acknowledged writes survived" is a set comparison: a write is lost when its key is
missing after recovery. Values are seeded pseudo-random bytes (incompressible, so file
sizes are not flattered by LZF) of seeded sizes. The latency and copy-on-write runs use
a preloaded keyspace of ``k:<n>`` keys of one value size, rewritten in place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WRITE_PREFIX = b"w:"
LOAD_PREFIX = b"k:"


def write_key(seq: int) -> bytes:
    return b"w:%09d" % seq


def parse_write_key(key: bytes) -> int | None:
    if key.startswith(WRITE_PREFIX) and key[2:].isdigit():
        return int(key[2:])
    return None


def load_key(n: int) -> bytes:
    return b"k:%08d" % n


@dataclass(frozen=True)
class Workload:
    """``seed`` fixes every value; sizes are uniform in [min_value, max_value]."""

    seed: int = 11
    min_value: int = 32
    max_value: int = 512
    pool_bytes: int = 1 << 20

    def _pool(self) -> bytes:
        # room past the end so that any offset below pool_bytes has max_value bytes after it
        return random.Random(self.seed).randbytes(self.pool_bytes + max(self.max_value, 1 << 16))

    def write_commands(self, start: int, count: int) -> list[bytes]:
        """The encoded ``SET w:<seq> <value>`` commands for seq in [start, start+count):
        the same bytes for the same seq whatever the batching (size and offset come from
        a hash of seq, not from a shared random stream)."""
        pool = self._cached_pool()
        lo, span = self.min_value, self.max_value - self.min_value + 1
        pool_n = self.pool_bytes
        seed = self.seed
        out = []
        append = out.append
        for seq in range(start, start + count):
            h = _mix(seq * 2 + 1 + (seed << 40))
            size = lo + h % span
            off = (h >> 20) % pool_n
            append(b"*3\r\n$3\r\nSET\r\n$11\r\nw:%09d\r\n$%d\r\n%b\r\n"
                   % (seq, size, pool[off:off + size]))
        return out

    def load_commands(self, start: int, count: int, value_size: int, generation: int = 0) -> list[bytes]:
        """``SET k:<n> <value>`` of exactly ``value_size`` bytes (at most the pool size);
        another ``generation`` gives other bytes of the same size (a rewrite in place)."""
        pool = self._cached_pool()
        pool_n = self.pool_bytes
        out = []
        append = out.append
        for n in range(start, start + count):
            off = _mix(n * 2 + 1 + (generation << 32) + (self.seed << 48)) % pool_n
            append(b"*3\r\n$3\r\nSET\r\n$10\r\nk:%08d\r\n$%d\r\n%b\r\n"
                   % (n, value_size, pool[off:off + value_size]))
        return out

    def _cached_pool(self) -> bytes:
        pool = _POOLS.get(self)
        if pool is None:
            pool = _POOLS[self] = self._pool()
        return pool


_POOLS: dict[Workload, bytes] = {}

_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """A cheap, well-spread hash of an integer (Fibonacci hashing plus one xor-shift)."""
    x = (x * 0x9E3779B97F4A7C15) & _M64
    return x ^ (x >> 29)
