#!/usr/bin/env python3
"""Long-running fuzzer for the RDB reader, DUMP decoder and verify.

Mutates corpus files (seeded) and checks that every reading mode ends in a result or a
clean FormatError: any other exception, a case slower than --max-seconds, or a process
RSS above --max-rss-mb is reported with the seed and the case number, and the
offending input is written to --out for replay.

    python3 bench/fuzz_rdb.py --cases 1000000 --seed 1
    python3 bench/fuzz_rdb.py --replay crash-1-4242.rdb
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from persistkit.kvencoding.errors import FormatError  # noqa: E402
from persistkit.rdbtools import model  # noqa: E402
from persistkit.rdbtools.dump import decode_payload  # noqa: E402
from persistkit.rdbtools.reader import RDBReader  # noqa: E402
from persistkit.rdbtools.verify import verify_rdb  # noqa: E402


def corpus_files(limit_bytes: int) -> list[bytes]:
    from corpus import PUBLIC, REAL

    out = []
    for p in sorted(PUBLIC.rglob("*.rdb")) + sorted(REAL.glob("*/dump.rdb")):
        if p.stat().st_size <= limit_bytes:
            out.append(p.read_bytes())
    return out


def payload_files() -> list[bytes]:
    from corpus import REAL

    return [p.read_bytes() for p in sorted(REAL.glob("*/dumps/*.bin"))]


def mutate(data: bytes, rng: random.Random) -> bytes:
    m = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        kind = rng.random()
        i = rng.randrange(len(m)) if m else 0
        if kind < 0.35 and m:
            m[i] = rng.randrange(256)
        elif kind < 0.5 and m:
            m[i] = rng.choice((0x00, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xC0, 0xC1, 0xC2, 0xC3, 0xFE, 0xFF))
        elif kind < 0.6 and m:
            m[i] ^= 1 << rng.randrange(8)
        elif kind < 0.72:
            del m[i:i + rng.randint(1, 16)]
        elif kind < 0.84:
            m[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif m:
            j = rng.randrange(len(m))
            m[i:i + 8] = m[j:j + 8]
    return bytes(m)


def exercise(data: bytes) -> None:
    for kw in ({"decode": True}, {"decode": False}, {"iterate": True}, {"strict_crc": False}):
        try:
            for item in RDBReader(data, **kw):
                if kw.get("iterate") and isinstance(item, model.Record) and \
                        item.type in (model.LIST, model.SET, model.ZSET, model.HASH):
                    for _ in item.value:
                        pass
        except FormatError:
            pass
    verify_rdb("fuzz.rdb", data=data)
    verify_rdb("fuzz.rdb", data=data, quick=True)


def exercise_payload(data: bytes) -> None:
    for check in (True, False):
        try:
            decode_payload(data, check_crc=check)
        except FormatError:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-file", type=int, default=64 << 10, help="largest corpus file to mutate (bytes)")
    ap.add_argument("--max-seconds", type=float, default=5.0)
    ap.add_argument("--max-rss-mb", type=int, default=1024)
    ap.add_argument("--out", default=".", help="where failing inputs are written")
    ap.add_argument("--replay", help="run one saved input and show the traceback")
    args = ap.parse_args()
    if args.replay:
        exercise(Path(args.replay).read_bytes())
        print("no failure")
        return 0
    files = corpus_files(args.max_file)
    payloads = payload_files()
    rng = random.Random(args.seed)
    failures = 0
    t0 = time.monotonic()
    for n in range(args.cases):
        is_payload = payloads and n % 5 == 4
        src = payloads[rng.randrange(len(payloads))] if is_payload else files[rng.randrange(len(files))]
        data = mutate(src, rng)
        start = time.monotonic()
        try:
            (exercise_payload if is_payload else exercise)(data)
        except Exception:
            failures += 1
            name = Path(args.out) / f"crash-{args.seed}-{n}.{'bin' if is_payload else 'rdb'}"
            name.write_bytes(data)
            print(f"case {n}: {name}\n{traceback.format_exc()}", file=sys.stderr)
        took = time.monotonic() - start
        if took > args.max_seconds:
            failures += 1
            name = Path(args.out) / f"slow-{args.seed}-{n}.rdb"
            name.write_bytes(data)
            print(f"case {n}: {took:.1f}s (> {args.max_seconds}s): {name}", file=sys.stderr)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        if rss_mb > args.max_rss_mb:
            print(f"case {n}: RSS {rss_mb} MB over the limit", file=sys.stderr)
            return 1
        if n and n % 10000 == 0:
            print(f"{n} cases, {failures} failures, {n / (time.monotonic() - t0):.0f} cases/s", file=sys.stderr)
    print(f"{args.cases} cases, seed {args.seed}: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
